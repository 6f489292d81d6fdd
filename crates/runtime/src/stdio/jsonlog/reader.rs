//! Reading json-file logs back: all rotated files in order, filters, and following.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{decode_entry, rotated_path, LogEntry};

/// How often [`JsonLogReader::follow`] looks for new output.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

/// Highest rotated-file number we look for; far above any sane `max-file`.
const MAX_ROTATED: usize = 1000;

/// Which entries to return (`docker logs --tail/--since/--until`).
///
/// As in Docker, `tail` picks the last lines first and `since`/`until` then filter those;
/// `since` keeps entries at or after it, `until` ends the output at the first entry after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

enum Verdict {
    Keep,
    Skip,
    Stop,
}

impl LogFilter {
    fn judge(&self, entry: &LogEntry) -> Verdict {
        if self.until.is_some_and(|until| entry.time > until) {
            Verdict::Stop
        } else if self.since.is_some_and(|since| entry.time < since) {
            Verdict::Skip
        } else {
            Verdict::Keep
        }
    }
}

/// Reads the log whose current file is `base` (normally [`super::log_path`]).
#[derive(Debug, Clone)]
pub struct JsonLogReader {
    base: PathBuf,
}

/// Identity of an open file, to notice when the path has been rotated away from it.
fn file_id(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Splits `data` at newlines; the complete lines go to `lines`, the unterminated rest is returned.
fn split_lines(data: &[u8], lines: &mut Vec<Vec<u8>>) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let rest = parts.pop().unwrap_or_default().to_vec();
    lines.extend(
        parts
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec),
    );
    rest
}

/// Decodes lines, skipping (and logging) ones that do not parse.
fn decode_lines(lines: impl IntoIterator<Item = Vec<u8>>) -> Vec<LogEntry> {
    lines
        .into_iter()
        .filter_map(|line| match decode_entry(&line) {
            Ok(entry) => Some(entry),
            Err(err) => {
                tracing::warn!(error = %err, "skip unreadable log line");
                None
            }
        })
        .collect()
}

impl JsonLogReader {
    pub fn new(base: &Path) -> Self {
        Self {
            base: base.to_path_buf(),
        }
    }

    /// Entries from all files, oldest first, filtered.
    pub fn read(&self, filter: &LogFilter) -> io::Result<Vec<LogEntry>> {
        let (history, _) = self.read_and_follow(filter)?;
        Ok(history)
    }

    /// Entries so far (filtered), plus a [`LogFollower`] that picks up exactly where they end.
    pub fn read_and_follow(&self, filter: &LogFilter) -> io::Result<(Vec<LogEntry>, LogFollower)> {
        // Open the current file first: whatever is rotated after this point is still read
        // through this handle, so nothing is lost or read twice.
        let mut current = match File::open(&self.base) {
            Ok(file) => Some(file),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        let current_id = match &current {
            Some(f) => Some(file_id(&f.metadata()?)),
            None => None,
        };
        let mut data = Vec::new();
        if let Some(f) = &mut current {
            f.read_to_end(&mut data)?;
        }
        let mut newest = Vec::new();
        let rest = split_lines(&data, &mut newest);
        let mut files: Vec<Vec<Vec<u8>>> = vec![newest];
        let mut have = files[0].len();
        for n in 1..=MAX_ROTATED {
            if filter.tail.is_some_and(|t| have >= t) {
                break;
            }
            let path = rotated_path(&self.base, n);
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(err) if err.kind() == io::ErrorKind::NotFound => break,
                Err(err) => return Err(err),
            };
            if Some(file_id(&file.metadata()?)) == current_id {
                continue; // rotated after we opened it: already read
            }
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            let mut lines = Vec::new();
            let tail = split_lines(&bytes, &mut lines);
            if !tail.is_empty() {
                lines.push(tail); // a rotated file is final; try its last line too
            }
            have += lines.len();
            files.push(lines);
        }
        let mut lines: Vec<Vec<u8>> = files.into_iter().rev().flatten().collect();
        if let Some(t) = filter.tail {
            lines.drain(..lines.len().saturating_sub(t));
        }
        let mut history = Vec::new();
        let mut stopped = false;
        for entry in decode_lines(lines) {
            match filter.judge(&entry) {
                Verdict::Keep => history.push(entry),
                Verdict::Skip => {}
                Verdict::Stop => {
                    stopped = true;
                    break;
                }
            }
        }
        let pos = data.len() as u64;
        let follower = LogFollower {
            base: self.base.clone(),
            file: current.map(|f| (f, current_id.unwrap_or_default(), pos)),
            partial: rest,
            filter: LogFilter {
                tail: None,
                ..filter.clone()
            },
            done: stopped,
        };
        Ok((history, follower))
    }

    /// `docker logs --follow`: sends the filtered history, then new entries as they are written,
    /// to `sink`, checking every [`FOLLOW_INTERVAL`]. Once `exited()` returns true, output
    /// written up to then is still read and sent, and the call returns. It also returns when an
    /// entry is past `until`, or with the first error from `sink`.
    pub fn follow(
        &self,
        filter: &LogFilter,
        mut exited: impl FnMut() -> bool,
        mut sink: impl FnMut(LogEntry) -> io::Result<()>,
    ) -> io::Result<()> {
        let (history, mut follower) = self.read_and_follow(filter)?;
        for entry in history {
            sink(entry)?;
        }
        while !follower.is_done() {
            let last_round = exited();
            for entry in follower.poll()? {
                sink(entry)?;
            }
            if last_round {
                break;
            }
            std::thread::sleep(FOLLOW_INTERVAL);
        }
        Ok(())
    }
}

/// Reads entries appended to a log after a [`JsonLogReader::read_and_follow`] snapshot,
/// across rotations and truncation. Call [`LogFollower::poll`] whenever you like.
#[derive(Debug)]
pub struct LogFollower {
    base: PathBuf,
    /// The file being read, its identity and how far into it we are.
    file: Option<(File, (u64, u64), u64)>,
    /// Bytes of an entry whose newline has not been written yet.
    partial: Vec<u8>,
    filter: LogFilter,
    done: bool,
}

impl LogFollower {
    /// True once an entry past the filter's `until` has been seen; later polls return nothing.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Entries written since the last call (filtered by `since`/`until`).
    pub fn poll(&mut self) -> io::Result<Vec<LogEntry>> {
        if self.done {
            return Ok(Vec::new());
        }
        let mut lines = Vec::new();
        self.drain_current(&mut lines)?;
        let on_disk = match std::fs::metadata(&self.base) {
            Ok(meta) => Some((file_id(&meta), meta.len())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        let same_file = match (&self.file, on_disk) {
            (Some((_, id, _)), Some((disk_id, _))) => *id == disk_id,
            _ => false,
        };
        if same_file {
            let truncated = match (&mut self.file, on_disk) {
                (Some((file, _, pos)), Some((_, len))) if len < *pos => {
                    file.seek(SeekFrom::Start(0))?;
                    *pos = 0;
                    true
                }
                _ => false,
            };
            if truncated {
                // Truncated in place (max_files = 1): start over from the top.
                self.partial.clear();
                self.drain_current(&mut lines)?;
            }
        } else if on_disk.is_some() {
            // Rotated (or created): finish the old file, then any files rotated after it, then
            // read the new one from the start.
            if let Some((_, id, _)) = &self.file {
                let id = *id;
                self.drain_current(&mut lines)?;
                let rest = std::mem::take(&mut self.partial);
                if !rest.is_empty() {
                    lines.push(rest);
                }
                for path in self.rotated_newer_than(id)? {
                    let data = match std::fs::read(&path) {
                        Ok(data) => data,
                        Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                        Err(err) => return Err(err),
                    };
                    let rest = split_lines(&data, &mut lines);
                    if !rest.is_empty() {
                        lines.push(rest);
                    }
                }
            }
            self.file = match File::open(&self.base) {
                Ok(f) => {
                    let id = file_id(&f.metadata()?);
                    Some((f, id, 0))
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => None,
                Err(err) => return Err(err),
            };
            self.drain_current(&mut lines)?;
        }
        let mut out = Vec::new();
        for entry in decode_lines(lines) {
            match self.filter.judge(&entry) {
                Verdict::Keep => out.push(entry),
                Verdict::Skip => {}
                Verdict::Stop => {
                    self.done = true;
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Rotated files written after the file `id`, oldest first. If `id` has already been
    /// rotated out of existence, that is all of them.
    fn rotated_newer_than(&self, id: (u64, u64)) -> io::Result<Vec<PathBuf>> {
        let mut newer = Vec::new();
        for n in 1..=MAX_ROTATED {
            let path = rotated_path(&self.base, n);
            match std::fs::metadata(&path) {
                Ok(meta) if file_id(&meta) == id => break,
                Ok(_) => newer.push(path),
                Err(err) if err.kind() == io::ErrorKind::NotFound => break,
                Err(err) => return Err(err),
            }
        }
        newer.reverse();
        Ok(newer)
    }

    /// Reads the open file to its current end, moving complete lines into `lines`.
    fn drain_current(&mut self, lines: &mut Vec<Vec<u8>>) -> io::Result<()> {
        let Some((file, _, pos)) = &mut self.file else {
            return Ok(());
        };
        let mut data = std::mem::take(&mut self.partial);
        let before = data.len();
        file.read_to_end(&mut data)?;
        *pos += (data.len() - before) as u64;
        self.partial = split_lines(&data, lines);
        Ok(())
    }
}
