//! `logs`: the json log of a container, docker's filters, `-f` until the container stops.

use berth_runtime::stdio::jsonlog::{JsonLogReader, LogEntry, LogFilter};

use crate::{Engine, EngineError};

/// Options of `logs`, parsed at the edge.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Ends a follow (the reader hung up while the container printed nothing).
    pub cancel: crate::Cancel,
}

impl Engine {
    /// Sends the container's log entries to `sink`, oldest first.
    pub fn logs(
        &self,
        name: &str,
        opts: &LogOptions,
        mut sink: impl FnMut(LogEntry) -> std::io::Result<()>,
    ) -> Result<(), EngineError> {
        let rec = self.reconciled(name)?;
        let paths = self.container_paths(&rec.id);
        let reader = JsonLogReader::new(&paths.log);
        let filter = LogFilter {
            tail: opts.tail,
            since: opts.since,
            until: opts.until,
        };
        let what = format!("logs of container {}", &rec.id[..12]);
        if !opts.follow {
            for e in reader
                .read(&filter)
                .map_err(|e| EngineError::io(&what, e))?
            {
                sink(e).map_err(|e| EngineError::io(&what, e))?;
            }
            return Ok(());
        }
        let id = rec.id.clone();
        // A follow ends when the container stops, or when `sink` fails (the reader hung up).
        reader
            .follow(
                &filter,
                || {
                    opts.cancel.is_cancelled()
                        || self
                            .reconciled(&id)
                            .map(|r| !r.state.is_active())
                            .unwrap_or(true)
                },
                &mut sink,
            )
            .map_err(|e| EngineError::io(&what, e))?;
        Ok(())
    }
}
