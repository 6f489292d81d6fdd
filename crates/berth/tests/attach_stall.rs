//! A client attached to a container that stops reading must not stall the container: the
//! monitor queues output per client, drops a client that falls too far behind, and keeps the
//! json log whole.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{wait_for, Sandbox};

#[test]
fn a_stalled_attach_client_does_not_stall_a_container_printing_100_mb() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    // ~104 MB on stdout once /go exists, then a last line.
    s.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "while [ ! -e /go ]; do sleep 0.05; done; seq -s , 1 14000000; echo END",
    ]);
    // A client that never reads its stdout: once the pipe to it fills, `berth attach` stops
    // reading from the monitor.
    let mut stalled = s
        .command()
        .args(["attach", "big"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    s.ok(&["exec", "big", "touch", "/go"]);
    let exited = wait_for(Duration::from_secs(120), || {
        s.inspect("big", "{{.State.Status}}") == "exited"
    });
    let took = t.elapsed();
    let _ = stalled.kill();
    let _ = stalled.wait();
    assert!(
        exited,
        "the container is still {} after {took:?}: the stalled client stalls it",
        s.inspect("big", "{{.State.Status}}")
    );
    assert_eq!(s.inspect("big", "{{.State.ExitCode}}"), "0");
    // The log holds the end of the output, in order (rotation keeps the newest files).
    let logs = s.ok(&["logs", "big"]);
    let tail = &logs[logs.len().saturating_sub(40)..];
    assert!(
        tail.ends_with(",13999998,13999999,14000000\nEND\n"),
        "the log lost the end of the output: …{tail:?}"
    );
}
