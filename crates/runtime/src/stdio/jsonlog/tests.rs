use super::*;
use chrono::TimeZone;

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 21, 14, 22)
        .single()
        .expect("valid time")
}

/// A clock that ticks one second per entry, starting at t0 + 1s.
pub(super) fn ticking() -> impl FnMut() -> DateTime<Utc> + Send + 'static {
    let mut n = 0;
    move || {
        n += 1;
        t0() + chrono::Duration::seconds(n)
    }
}

pub(super) fn writer(path: &Path, opts: JsonLogOptions) -> JsonLogWriter {
    JsonLogWriter::open(path, opts)
        .expect("open writer")
        .with_clock(ticking())
}

pub(super) fn logs(entries: &[LogEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.log.as_str()).collect()
}

pub(super) fn read_file(path: &Path) -> Vec<LogEntry> {
    let data = std::fs::read(path).expect("read log file");
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| decode_entry(l).expect("decode"))
        .collect()
}

#[test]
fn stdio_jsonlog_time_format_like_go() {
    let cases = [
        (111_792_623, "2026-11-27T21:14:22.111792623Z"),
        (111_792_600, "2026-11-27T21:14:22.1117926Z"),
        (500_000_000, "2026-11-27T21:14:22.5Z"),
        (1, "2026-11-27T21:14:22.000000001Z"),
        (0, "2026-11-27T21:14:22Z"),
    ];
    for (nanos, want) in cases {
        let t = t0() + chrono::Duration::nanoseconds(nanos);
        assert_eq!(format_time(&t), want);
        let back: DateTime<Utc> = DateTime::parse_from_rfc3339(want)
            .expect("parse")
            .with_timezone(&Utc);
        assert_eq!(back, t);
    }
}

#[test]
fn stdio_jsonlog_line_format() {
    let t = t0() + chrono::Duration::nanoseconds(111_792_623);
    let line = encode_entry(LogStream::Stdout, b"hello\n", &t);
    assert_eq!(
        std::str::from_utf8(&line).expect("utf8"),
        "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-27T21:14:22.111792623Z\"}\n"
    );
    let entry = decode_entry(&line[..line.len() - 1]).expect("decode");
    assert_eq!(
        entry,
        LogEntry {
            stream: LogStream::Stdout,
            log: "hello\n".into(),
            time: t
        }
    );
    let line = encode_entry(LogStream::Stderr, b"x", &t0());
    assert!(line.starts_with(b"{\"log\":\"x\",\"stream\":\"stderr\",\"time\":"));
}

#[test]
fn stdio_jsonlog_escaping_table() {
    let cases: Vec<(&[u8], &str, &str)> = vec![
        (b"plain", r#""plain""#, "plain"),
        (b"q\"b\\s", r#""q\"b\\s""#, "q\"b\\s"),
        (b"\n\r\t", r#""\n\r\u0009""#, "\n\r\t"),
        (
            b"\x00\x01\x1b[0m",
            r#""\u0000\u0001\u001b[0m""#,
            "\u{0}\u{1}\u{1b}[0m",
        ),
        (b"<a&b>", r#""\u003ca\u0026b\u003e""#, "<a&b>"),
        (b"\x7f", "\"\x7f\"", "\x7f"),
        ("é€😀".as_bytes(), "\"é€😀\"", "é€😀"),
        (
            "\u{2028}\u{2029}".as_bytes(),
            r#""\u2028\u2029""#,
            "\u{2028}\u{2029}",
        ),
        // Every byte that is not valid UTF-8 becomes one U+FFFD, as Go does.
        (b"\xffa", r#""\ufffda""#, "\u{fffd}a"),
        (
            b"\xf0\x9f\x98x",
            r#""\ufffd\ufffd\ufffdx""#,
            "\u{fffd}\u{fffd}\u{fffd}x",
        ),
        (b"\xc3", r#""\ufffd""#, "\u{fffd}"),
    ];
    for (input, want_json, want_text) in cases {
        let mut out = Vec::new();
        push_json_string(&mut out, input);
        assert_eq!(String::from_utf8_lossy(&out), want_json, "input {input:?}");
        let back: String = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(back, want_text, "input {input:?}");
    }
}

#[test]
fn stdio_jsonlog_splits_lines_and_buffers_partials() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = log_path(dir.path(), "abc");
    assert!(path.ends_with("abc-json.log"));
    let mut w = writer(&path, JsonLogOptions::default());
    w.write(LogStream::Stdout, b"one\ntwo\nthr").expect("write");
    w.write(LogStream::Stderr, b"err-a").expect("write");
    assert_eq!(logs(&read_file(&path)), ["one\n", "two\n"]);
    w.write(LogStream::Stdout, b"ee\n\n").expect("write");
    w.write(LogStream::Stderr, b"\n").expect("write");
    w.write(LogStream::Stdout, b"tail").expect("write");
    w.write(LogStream::Stderr, b"dangling").expect("write");
    w.close().expect("close");
    let entries = read_file(&path);
    assert_eq!(
        logs(&entries),
        ["one\n", "two\n", "three\n", "\n", "err-a\n", "tail", "dangling"]
    );
    let streams: Vec<LogStream> = entries.iter().map(|e| e.stream).collect();
    use LogStream::{Stderr as E, Stdout as O};
    assert_eq!(streams, [O, O, O, O, E, O, E]);
    // One tick per entry, in write order.
    let secs: Vec<i64> = entries
        .iter()
        .map(|e| (e.time - t0()).num_seconds())
        .collect();
    assert_eq!(secs, [1, 2, 3, 4, 5, 6, 7]);
}

#[test]
fn stdio_jsonlog_flush_partial_and_drop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c-json.log");
    let mut w = writer(&path, JsonLogOptions::default());
    w.write(LogStream::Stdout, b"prompt> ").expect("write");
    assert!(read_file(&path).is_empty());
    w.flush_partial().expect("flush");
    assert_eq!(logs(&read_file(&path)), ["prompt> "]);
    w.write(LogStream::Stdout, b"left").expect("write");
    drop(w);
    assert_eq!(logs(&read_file(&path)), ["prompt> ", "left"]);
}

#[test]
fn stdio_jsonlog_long_lines_are_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c-json.log");
    let mut w = writer(&path, JsonLogOptions::default());
    let long = [vec![b'x'; 40_000], b"\n".to_vec()].concat();
    w.write(LogStream::Stdout, &long).expect("write");
    let exact = [vec![b'y'; MAX_LINE - 1], b"\n".to_vec()].concat();
    w.write(LogStream::Stdout, &exact).expect("write");
    let over = [vec![b'z'; MAX_LINE], b"\n".to_vec()].concat();
    w.write(LogStream::Stdout, &over).expect("write");
    // A multi-byte character straddling the cut moves whole to the next piece.
    let utf = [vec![b'u'; MAX_LINE - 1], "é\n".as_bytes().to_vec()].concat();
    for byte in &utf {
        w.write(LogStream::Stdout, std::slice::from_ref(byte))
            .expect("write byte");
    }
    w.close().expect("close");
    let lens: Vec<usize> = read_file(&path).iter().map(|e| e.log.len()).collect();
    assert_eq!(
        lens,
        [
            MAX_LINE,
            MAX_LINE,
            40_001 - 2 * MAX_LINE,
            MAX_LINE,
            MAX_LINE,
            1,
            MAX_LINE - 1,
            3
        ]
    );
    let entries = read_file(&path);
    assert_eq!(entries[7].log, "é\n");
    assert!(!entries[0].log.ends_with('\n'));
}

/// Length of one encoded entry written by `ticking()` for a short log text.
pub(super) fn entry_len(text: &str) -> u64 {
    encode_entry(
        LogStream::Stdout,
        text.as_bytes(),
        &(t0() + chrono::Duration::seconds(1)),
    )
    .len() as u64
}

pub(super) fn write_numbered(w: &mut JsonLogWriter, range: std::ops::RangeInclusive<u32>) {
    for i in range {
        w.write(LogStream::Stdout, format!("{i}\n").as_bytes())
            .expect("write");
    }
}

#[test]
fn stdio_jsonlog_rotation_boundaries() {
    let l = entry_len("1\n");
    // (max_size, entries per file): rotation happens before an entry once size >= max_size.
    for (max_size, per_file) in [(2 * l - 1, 2), (2 * l, 2), (2 * l + 1, 3), (1, 1)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c-json.log");
        let mut w = writer(
            &path,
            JsonLogOptions {
                max_size,
                max_files: 3,
            },
        );
        write_numbered(&mut w, 1..=9);
        w.close().expect("close");
        let current = read_file(&path);
        let one = read_file(&rotated_path(&path, 1));
        let two = read_file(&rotated_path(&path, 2));
        assert!(!rotated_path(&path, 3).exists());
        let in_base = match 9 % per_file {
            0 => per_file,
            n => n,
        };
        assert_eq!(current.len(), in_base, "max_size {max_size}");
        assert_eq!(one.len(), per_file, "max_size {max_size}");
        assert_eq!(two.len(), per_file, "max_size {max_size}");
        let all = JsonLogReader::new(&path)
            .read(&LogFilter::default())
            .expect("read");
        let first = 9 - in_base - 2 * per_file + 1;
        let want: Vec<String> = (first..=9).map(|i| format!("{i}\n")).collect();
        assert_eq!(logs(&all), want, "max_size {max_size}");
        for f in [&path, &rotated_path(&path, 1)] {
            let size = std::fs::metadata(f).expect("stat").len();
            assert!(size < max_size + l, "{} is {size} bytes", f.display());
        }
    }
}

#[test]
fn stdio_jsonlog_single_file_truncates_and_reopen_counts_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c-json.log");
    let l = entry_len("1\n");
    let opts = JsonLogOptions {
        max_size: 2 * l,
        max_files: 1,
    };
    let mut w = writer(&path, opts);
    write_numbered(&mut w, 1..=5);
    w.close().expect("close");
    assert!(!rotated_path(&path, 1).exists());
    assert_eq!(logs(&read_file(&path)), ["5\n"]);

    // Reopening an existing log keeps counting from its size.
    let opts = JsonLogOptions {
        max_size: 2 * l,
        max_files: 2,
    };
    let mut w = writer(&path, opts);
    write_numbered(&mut w, 6..=7);
    w.close().expect("close");
    assert_eq!(logs(&read_file(&path)), ["7\n"]);
    assert_eq!(logs(&read_file(&rotated_path(&path, 1))), ["5\n", "6\n"]);
}

pub(super) fn rotated_log(dir: &Path) -> PathBuf {
    // Entries 1..=9 at t0 + i seconds, two per file, four files kept:
    // .3 = 3,4; .2 = 5,6; .1 = 7,8; current = 9 (1 and 2 rotated away).
    let path = dir.join("c-json.log");
    let l = entry_len("1\n");
    let mut w = writer(
        &path,
        JsonLogOptions {
            max_size: 2 * l,
            max_files: 4,
        },
    );
    write_numbered(&mut w, 1..=9);
    w.close().expect("close");
    path
}

#[test]
fn stdio_jsonlog_tail_since_until_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = rotated_log(dir.path());
    let at = |s: i64| Some(t0() + chrono::Duration::seconds(s));
    let cases: Vec<(LogFilter, Vec<u32>)> = vec![
        (LogFilter::default(), (3..=9).collect()),
        (
            LogFilter {
                tail: Some(0),
                ..Default::default()
            },
            vec![],
        ),
        (
            LogFilter {
                tail: Some(1),
                ..Default::default()
            },
            vec![9],
        ),
        (
            LogFilter {
                tail: Some(2),
                ..Default::default()
            },
            vec![8, 9],
        ),
        (
            LogFilter {
                tail: Some(4),
                ..Default::default()
            },
            vec![6, 7, 8, 9],
        ),
        (
            LogFilter {
                tail: Some(100),
                ..Default::default()
            },
            (3..=9).collect(),
        ),
        (
            LogFilter {
                since: at(5),
                ..Default::default()
            },
            (5..=9).collect(),
        ),
        (
            LogFilter {
                until: at(4),
                ..Default::default()
            },
            vec![3, 4],
        ),
        (
            LogFilter {
                since: at(4),
                until: at(6),
                tail: None,
            },
            vec![4, 5, 6],
        ),
        (
            LogFilter {
                since: at(10),
                ..Default::default()
            },
            vec![],
        ),
        // Docker applies tail first, then since.
        (
            LogFilter {
                tail: Some(3),
                since: at(4),
                until: None,
            },
            vec![7, 8, 9],
        ),
        (
            LogFilter {
                tail: Some(5),
                since: at(7),
                until: None,
            },
            vec![7, 8, 9],
        ),
        (
            LogFilter {
                tail: Some(5),
                since: None,
                until: at(6),
            },
            vec![5, 6],
        ),
    ];
    let reader = JsonLogReader::new(&path);
    for (filter, want) in cases {
        let got = reader.read(&filter).expect("read");
        let want: Vec<String> = want.iter().map(|i| format!("{i}\n")).collect();
        assert_eq!(logs(&got), want, "{filter:?}");
    }
}

#[test]
fn stdio_jsonlog_reader_skips_bad_lines_and_missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c-json.log");
    let reader = JsonLogReader::new(&path);
    assert!(reader
        .read(&LogFilter::default())
        .expect("empty")
        .is_empty());
    let good = |s: &str| String::from_utf8(encode_entry(LogStream::Stderr, s.as_bytes(), &t0()));
    let text = format!(
        "{}not json\n{{\"log\":\"x\",\"stream\":\"stdin\",\"time\":\"2026-11-27T21:14:22Z\"}}\n{}{{\"log\":\"half",
        good("a\n").expect("utf8"),
        good("b\n").expect("utf8"),
    );
    std::fs::write(&path, text).expect("write");
    let got = reader.read(&LogFilter::default()).expect("read");
    assert_eq!(logs(&got), ["a\n", "b\n"]);
    assert!(got.iter().all(|e| e.stream == LogStream::Stderr));
}
