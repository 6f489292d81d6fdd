//! Following a growing log: `LogFollower::poll` and `JsonLogReader::follow`.

use super::tests::{entry_len, logs, rotated_log, t0, write_numbered, writer};
use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[test]
fn stdio_jsonlog_follower_polls_across_rotation_and_partial_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c-json.log");
    let l = entry_len("1\n");
    let opts = JsonLogOptions {
        max_size: 2 * l,
        max_files: 3,
    };
    let mut w = writer(&path, opts);
    write_numbered(&mut w, 1..=3);
    let reader = JsonLogReader::new(&path);
    let (history, mut follower) = reader.read_and_follow(&LogFilter::default()).expect("read");
    assert_eq!(logs(&history), ["1\n", "2\n", "3\n"]);
    assert!(follower.poll().expect("poll").is_empty());
    write_numbered(&mut w, 4..=8); // rotates twice
    let got = follower.poll().expect("poll");
    assert_eq!(logs(&got), ["4\n", "5\n", "6\n", "7\n", "8\n"]);
    assert!(follower.poll().expect("poll").is_empty());

    // An entry written in two pieces only shows up once it is complete.
    let line = encode_entry(LogStream::Stdout, b"raw\n", &t0());
    let (a, b) = line.split_at(10);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    std::io::Write::write_all(&mut f, a).expect("write");
    assert!(follower.poll().expect("poll").is_empty());
    std::io::Write::write_all(&mut f, b).expect("write");
    assert_eq!(logs(&follower.poll().expect("poll")), ["raw\n"]);
}

#[test]
fn stdio_jsonlog_follower_sees_file_created_later_and_truncation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c-json.log");
    let reader = JsonLogReader::new(&path);
    let (history, mut follower) = reader.read_and_follow(&LogFilter::default()).expect("read");
    assert!(history.is_empty());
    assert!(follower.poll().expect("poll").is_empty());
    let l = entry_len("1\n");
    let opts = JsonLogOptions {
        max_size: 3 * l,
        max_files: 1,
    };
    let mut w = writer(&path, opts);
    write_numbered(&mut w, 1..=3);
    assert_eq!(logs(&follower.poll().expect("poll")), ["1\n", "2\n", "3\n"]);
    write_numbered(&mut w, 4..=4); // truncates, then writes 4
    assert_eq!(logs(&follower.poll().expect("poll")), ["4\n"]);
}

#[test]
fn stdio_jsonlog_follow_until_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c-json.log");
    let l = entry_len("10\n");
    let opts = JsonLogOptions {
        max_size: 3 * l,
        max_files: 6,
    };
    let mut w = writer(&path, opts);
    write_numbered(&mut w, 1..=2);
    let exited = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&exited);
    let producer = std::thread::spawn(move || {
        for i in 3..=12u32 {
            w.write(LogStream::Stdout, format!("{i}\n").as_bytes())
                .expect("write");
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        w.write(LogStream::Stdout, b"last words").expect("write");
        w.close().expect("close");
        flag.store(true, Ordering::SeqCst);
    });
    let mut got = Vec::new();
    JsonLogReader::new(&path)
        .follow(
            &LogFilter::default(),
            || exited.load(Ordering::SeqCst),
            |e| {
                got.push(e.log);
                Ok(())
            },
        )
        .expect("follow");
    producer.join().expect("producer");
    let mut want: Vec<String> = (1..=12).map(|i| format!("{i}\n")).collect();
    want.push("last words".into());
    assert_eq!(got, want);
}

#[test]
fn stdio_jsonlog_follow_stops_past_until_and_on_sink_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = rotated_log(dir.path());
    let reader = JsonLogReader::new(&path);
    let filter = LogFilter {
        until: Some(t0() + chrono::Duration::seconds(5)),
        ..Default::default()
    };
    let mut got = Vec::new();
    // exited() never turns true: the until bound alone must end the follow.
    reader
        .follow(
            &filter,
            || false,
            |e| {
                got.push(e.log);
                Ok(())
            },
        )
        .expect("follow");
    assert_eq!(got, ["3\n", "4\n", "5\n"]);
    let err = reader
        .follow(
            &LogFilter::default(),
            || false,
            |_| Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone")),
        )
        .expect_err("sink error");
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
}
