//! Docker's `json-file` log driver format.
//!
//! Each entry is one line:
//! `{"log":"hello\n","stream":"stdout","time":"2026-11-27T21:14:22.111792623Z"}`.
//! `log` holds one line of output including its `\n`, or a piece of a longer line (no `\n`);
//! `time` is Go's RFC 3339 with nanoseconds (trailing zeros trimmed, as Docker writes it).
//!
//! Files: `<id>-json.log` is written; on rotation it becomes `.1`, `.1` becomes `.2`, and so on
//! up to `max_files - 1`. The encoding (escapes, U+FFFD for bytes that are not UTF-8) matches
//! Docker's byte for byte, so `docker logs`-style tools can read our files and vice versa.

mod reader;
mod writer;

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Timelike, Utc};
use serde::Deserialize;

pub use reader::{JsonLogReader, LogFilter, LogFollower, FOLLOW_INTERVAL};
pub use writer::{JsonLogOptions, JsonLogWriter, MAX_LINE};

/// Which output stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    /// The value of the `stream` field.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }

    /// The stream type used in the attach framing (1 or 2).
    pub fn frame_type(self) -> u8 {
        match self {
            LogStream::Stdout => crate::stdio::frame::STDOUT,
            LogStream::Stderr => crate::stdio::frame::STDERR,
        }
    }

    fn index(self) -> usize {
        match self {
            LogStream::Stdout => 0,
            LogStream::Stderr => 1,
        }
    }
}

/// One decoded log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: LogStream,
    /// The text, including the trailing `\n` when the entry ends a line.
    pub log: String,
    pub time: DateTime<Utc>,
}

/// `<dir>/<id>-json.log`, the file Docker's json-file driver writes.
pub fn log_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}-json.log"))
}

/// `<base>.<n>`, the n-th rotated file (n ≥ 1; larger is older).
pub fn rotated_path(base: &Path, n: usize) -> PathBuf {
    let mut name = base.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Formats `t` like Go's `time.RFC3339Nano` in UTC: nanoseconds with trailing zeros removed.
pub fn format_time(t: &DateTime<Utc>) -> String {
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond().min(999_999_999);
    if nanos != 0 {
        let frac = format!(".{nanos:09}");
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Appends `bytes` to `out` as a JSON string literal the way Docker's encoder does: `"`, `\`,
/// `\n`, `\r` as short escapes; other control bytes and `<`, `>`, `&` as `\u00XX`; U+2028 and
/// U+2029 escaped; every byte that is not part of valid UTF-8 as `\ufffd`.
fn push_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\u{0}'..='\u{1f}' | '<' | '>' | '&' => {
                    let b = c as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                _ => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// Encodes one entry as a complete line, newline included.
fn encode_entry(stream: LogStream, log: &[u8], time: &DateTime<Utc>) -> Vec<u8> {
    let mut out = Vec::with_capacity(log.len() + 64);
    out.extend_from_slice(b"{\"log\":");
    push_json_string(&mut out, log);
    out.extend_from_slice(b",\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(format_time(time).as_bytes());
    out.extend_from_slice(b"\"}\n");
    out
}

#[derive(Deserialize)]
struct RawEntry {
    log: String,
    stream: String,
    time: DateTime<Utc>,
}

/// Decodes one line (without its `\n`).
fn decode_entry(line: &[u8]) -> io::Result<LogEntry> {
    let raw: RawEntry = serde_json::from_slice(line)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, format!("log entry: {err}")))?;
    let stream = match raw.stream.as_str() {
        "stdout" => LogStream::Stdout,
        "stderr" => LogStream::Stderr,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("log entry: unknown stream {other:?}"),
            ))
        }
    };
    Ok(LogEntry {
        stream,
        log: raw.log,
        time: raw.time,
    })
}

#[cfg(test)]
mod follow_tests;
#[cfg(test)]
mod tests;
