//! Writing json-file logs: line splitting, partial lines and rotation.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{encode_entry, rotated_path, LogStream};

/// Longest `log` value of one entry; longer lines are split into several entries, the way
/// Docker's 16 KiB copy buffer splits them.
pub const MAX_LINE: usize = 16 * 1024;

/// Rotation settings (`--log-opt max-size=… max-file=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLogOptions {
    /// Rotate once the current file has reached this many bytes; 0 never rotates.
    pub max_size: u64,
    /// How many files to keep, the current one included; 1 truncates instead of rotating.
    pub max_files: usize,
}

impl Default for JsonLogOptions {
    fn default() -> Self {
        Self {
            max_size: 10 << 20,
            max_files: 3,
        }
    }
}

type Clock = Box<dyn FnMut() -> DateTime<Utc> + Send>;

/// Turns raw stdout/stderr chunks into json-file entries.
///
/// Bytes up to a `\n` become one entry. A line without its `\n` is held back until the newline
/// arrives, until it reaches [`MAX_LINE`] bytes (then that much is written as a partial entry),
/// or until [`JsonLogWriter::flush_partial`] / [`JsonLogWriter::close`]. Before each entry the
/// current file is rotated if it has reached `max_size`, so a file may end up to one entry over.
pub struct JsonLogWriter {
    path: PathBuf,
    file: File,
    /// Bytes in the current file, counting `out`.
    size: u64,
    /// Encoded entries not yet handed to the file.
    out: Vec<u8>,
    /// Unterminated line per stream (stdout, stderr).
    pending: [Vec<u8>; 2],
    opts: JsonLogOptions,
    clock: Clock,
    closed: bool,
}

impl fmt::Debug for JsonLogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLogWriter")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(|err| io::Error::new(err.kind(), format!("open log {}: {err}", path.display())))
}

/// Where to cut `buf` (at least `MAX_LINE` long) so that a UTF-8 sequence is not split.
fn cut_point(buf: &[u8]) -> usize {
    // Look back over at most three continuation bytes for the lead byte of the sequence that
    // straddles MAX_LINE; cut before it if it does not fit.
    for back in 1..=3 {
        let i = MAX_LINE - back;
        let b = buf[i];
        if b & 0xc0 == 0x80 {
            continue; // continuation byte
        }
        let len = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        return if i + len > MAX_LINE { i } else { MAX_LINE };
    }
    MAX_LINE
}

impl JsonLogWriter {
    /// Opens (appending to) or creates the log at `path`, normally [`super::log_path`].
    pub fn open(path: &Path, opts: JsonLogOptions) -> io::Result<Self> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            out: Vec::new(),
            pending: [Vec::new(), Vec::new()],
            opts,
            clock: Box::new(Utc::now),
            closed: false,
        })
    }

    /// Replaces the timestamp source (tests, or a caller that stamps on receipt).
    pub fn with_clock(mut self, clock: impl FnMut() -> DateTime<Utc> + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The path of the current (newest) file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Logs a chunk of raw output from `stream`.
    pub fn write(&mut self, stream: LogStream, data: &[u8]) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.pending[stream.index()]);
        buf.extend_from_slice(data);
        let mut start = 0;
        let result = loop {
            let rest = &buf[start..];
            let newline = rest.iter().position(|&b| b == b'\n');
            let end = match newline {
                Some(pos) if pos < MAX_LINE => pos + 1,
                _ if rest.len() >= MAX_LINE => cut_point(rest),
                _ => break Ok(()),
            };
            if let Err(err) = self.emit(stream, &rest[..end]) {
                break Err(err);
            }
            start += end;
        };
        buf.drain(..start);
        self.pending[stream.index()] = buf;
        result?;
        self.flush_out()
    }

    /// Writes any held-back partial lines as entries without a trailing `\n`.
    pub fn flush_partial(&mut self) -> io::Result<()> {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let buf = std::mem::take(&mut self.pending[stream.index()]);
            if !buf.is_empty() {
                self.emit(stream, &buf)?;
            }
        }
        self.flush_out()
    }

    /// Flushes partial lines and closes the file.
    pub fn close(mut self) -> io::Result<()> {
        self.closed = true;
        self.flush_partial()
    }

    fn emit(&mut self, stream: LogStream, log: &[u8]) -> io::Result<()> {
        if self.opts.max_size > 0 && self.size >= self.opts.max_size {
            self.rotate()?;
        }
        let time = (self.clock)();
        let line = encode_entry(stream, log, &time);
        self.size += line.len() as u64;
        self.out.extend_from_slice(&line);
        Ok(())
    }

    fn flush_out(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.file.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.flush_out()?;
        let keep = self.opts.max_files;
        if keep <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        // A smaller max_files than last time would otherwise leave this one behind.
        remove_if_present(&rotated_path(&self.path, keep))?;
        for n in (1..keep - 1).rev() {
            rename_if_present(
                &rotated_path(&self.path, n),
                &rotated_path(&self.path, n + 1),
            )?;
        }
        rename_if_present(&self.path, &rotated_path(&self.path, 1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        tracing::debug!(path = %self.path.display(), "rotated log");
        Ok(())
    }
}

impl Drop for JsonLogWriter {
    fn drop(&mut self) {
        if !self.closed {
            if let Err(err) = self.flush_partial() {
                tracing::warn!(path = %self.path.display(), error = %err, "flush log");
            }
        }
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io::Error::new(
            err.kind(),
            format!("rotate {} to {}: {err}", from.display(), to.display()),
        )),
        _ => Ok(()),
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}
