//! `berth logs [-f] [-t] [--tail N] [--since T] [--until T] CONTAINER`.

use std::io::Write;

use berth_engine::container::LogOptions;
use berth_engine::Engine;
use berth_runtime::stdio::jsonlog::{LogEntry, LogStream};

use crate::cli::LogsArgs;
use crate::parse;

pub fn run(engine: &Engine, args: LogsArgs) -> anyhow::Result<()> {
    let tail = parse::tail(args.tail.as_deref())?;
    let opts = LogOptions {
        follow: args.follow,
        tail,
        since: args.since.as_deref().map(parse::time_or_ago).transpose()?,
        until: args.until.as_deref().map(parse::time_or_ago).transpose()?,
        ..Default::default()
    };
    engine.logs(&args.container, &opts, |entry| {
        write_entry(&entry, "", args.timestamps)
    })?;
    Ok(())
}

/// One log entry on our stdout or stderr (the stream it came from), after `prefix` and, with
/// `timestamps`, its time; each flushed, so that a follow shows it at once.
pub(crate) fn write_entry(entry: &LogEntry, prefix: &str, timestamps: bool) -> std::io::Result<()> {
    let stamp = if timestamps {
        format!(
            "{} ",
            entry
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        )
    } else {
        String::new()
    };
    let line = format!("{prefix}{stamp}{}", entry.log);
    match entry.stream {
        LogStream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(line.as_bytes())?;
            out.flush()
        }
        LogStream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(line.as_bytes())?;
            err.flush()
        }
    }
}
