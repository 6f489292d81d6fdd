//! The hidden `berth exec-shim ID EXEC_ID`: the single-threaded process that creates one
//! exec'd process, serves its stdio and reports its exit ([`super::exec`] starts it).
//!
//! Why a process of its own, and not the container's monitor: the monitor is one thread that
//! serves the container's output and must never block, while creating a process with
//! libcontainer blocks it for the whole clone/setns/exec handshake (and a terminal's master
//! arrives only after it); every exec would also add pipes, queues and a child to reap to the
//! monitor's loop, and a fault in one exec would take the container's log and attach with it.
//! A shim per exec costs one fork+exec of our binary and fails alone.
//!
//! Protocol with the caller: stdin is a unix socket (`/dev/null` with `--detach`); stdout
//! carries one line, `started` or `error CODE MESSAGE`; then the socket carries the process's
//! output as attach frames and, last, the exit frame, and takes the client messages (stdin,
//! close-stdin, resize, signal) of `berth_runtime::stdio::frame`. When the caller goes away
//! the process keeps running (as docker's do): its stdin is closed, its output discarded, and
//! a terminal is hung up (the kernel sends SIGHUP, as when a terminal window closes).

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use berth_runtime::oci::Stdio;
use berth_runtime::stdio::console::ConsoleSocket;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::Value;

use super::exec_relay::{Relay, Streams};
use crate::events::Action;
use crate::{Engine, EngineError};

/// Flags of `berth exec-shim`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShimOptions {
    /// Feed the process's stdin from the caller (`exec -i`).
    pub stdin: bool,
    /// Nobody is attached: stdio is /dev/null; report, then wait and record the exit.
    pub detach: bool,
}

/// Runs the shim of exec `exec_id` in container `id`; returns the shim's exit code (the
/// process's own travels in the exit frame). `report` gets the one-line report.
pub fn run(
    engine: &Engine,
    id: &str,
    exec_id: &str,
    opts: ShimOptions,
    report: &mut dyn Write,
) -> i32 {
    let client = if opts.detach {
        None
    } else {
        match caller_socket() {
            Ok(s) => Some(s),
            Err(e) => {
                report_line(report, &format!("error 125 {e}"));
                return 1;
            }
        }
    };
    let started = match start(engine, id, exec_id, opts) {
        Ok(s) => s,
        Err((code, message)) => {
            tracing::warn!(container_id = id, exec_id, code, %message, "exec failed");
            report_line(report, &format!("error {code} {message}"));
            return 1;
        }
    };
    report_line(report, "started");
    let Started {
        pid,
        streams,
        cmdline,
    } = started;
    let (code, relay) = match client {
        Some(client) => {
            let mut relay = Relay::new(client, streams, pid);
            (relay.run(), Some(relay))
        }
        None => {
            drop(streams);
            (wait_exit(pid, false).unwrap_or(255), None)
        }
    };
    tracing::debug!(container_id = id, exec_id, code, %cmdline, "exec exited");
    // Recorded before the caller hears of it, so that what it does next sees the event.
    if let Ok(rec) = engine.resolve_container(id) {
        let attrs = [
            ("execID", exec_id.to_string()),
            ("exitCode", code.to_string()),
        ];
        engine.emit_container(&rec, Action::ExecDie, &attrs);
    }
    if let Some(relay) = relay {
        relay.finish(code);
    }
    0
}

fn report_line(report: &mut dyn Write, line: &str) {
    // The caller may be gone (a detached exec's CLI exits at once): nothing to do about it.
    let _ = writeln!(report, "{line}");
    let _ = report.flush();
}

/// Our stdin, which the caller made one end of a socket pair.
fn caller_socket() -> Result<UnixStream, std::io::Error> {
    let fd: OwnedFd = std::io::stdin().as_fd().try_clone_to_owned()?;
    let sock = UnixStream::from(fd);
    // A socket, not a terminal or a file: someone ran the hidden command by hand otherwise.
    sock.local_addr().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("exec-shim: stdin is not the caller's socket: {e}"),
        )
    })?;
    Ok(sock)
}

struct Started {
    pid: Pid,
    streams: Streams,
    cmdline: String,
}

/// Creates the process: the spec the caller wrote, the container's seccomp profile
/// re-applied, stdio as pipes or a terminal. `Err((docker's exit code, message))`.
fn start(
    engine: &Engine,
    id: &str,
    exec_id: &str,
    opts: ShimOptions,
) -> Result<Started, (i32, String)> {
    let fail = |e: EngineError| (125, e.to_string());
    let files = engine.exec_files(id, exec_id);
    // The spec is only needed until the runtime has read it, whatever happens.
    let _remove = RemoveOnDrop(files.process.clone());
    let rec = engine.resolve_container(id).map_err(fail)?;
    let process: Value = read_json(&files.process, "the exec's process spec").map_err(fail)?;
    let paths = engine.container_paths(id);
    let spec: Value = read_json(&paths.dir.join("config.json"), "config.json").map_err(fail)?;
    let seccomp = spec
        .pointer("/linux/seccomp")
        .filter(|v| !v.is_null())
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| {
            fail(EngineError::bad_input(
                format!("container {}", &id[..12.min(id.len())]),
                format!("seccomp profile: {e}"),
            ))
        })?;
    let args: Vec<String> = process
        .get("args")
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .unwrap_or_default();
    let args0 = args.first().cloned().unwrap_or_default();
    let tty = process.get("terminal").and_then(Value::as_bool) == Some(true);

    let mut stdio = Stdio::default();
    let (console, mut streams) = if tty {
        let c = ConsoleSocket::bind(&files.console)
            .map_err(|e| fail(EngineError::io("exec: console socket", e)))?;
        stdio.console_socket = Some(files.console.clone());
        (Some(c), Streams::default())
    } else if opts.detach {
        for slot in [&mut stdio.stdin, &mut stdio.stdout, &mut stdio.stderr] {
            *slot = Some(null().map_err(fail)?);
        }
        (None, Streams::default())
    } else {
        let (s, theirs) = Streams::pipes(opts.stdin).map_err(fail)?;
        stdio.stdin = Some(match theirs.stdin {
            Some(fd) => fd,
            None => null().map_err(fail)?,
        });
        stdio.stdout = Some(theirs.stdout);
        stdio.stderr = Some(theirs.stderr);
        (None, s)
    };
    let pid = berth_runtime::signals::with_default_signals(|| {
        engine
            .oci_runtime()
            .exec(id, &files.process, &args0, stdio, seccomp)
    })
    .map_err(|e| (e.exit_code(), e.to_string()))?;
    let pid = Pid::from_raw(pid);
    let cmdline = args.join(" ");
    let exec_attr = [("execID", exec_id.to_string())];
    engine.emit_container(&rec, Action::ExecCreate(cmdline.clone()), &exec_attr);
    engine.emit_container(&rec, Action::ExecStart(cmdline.clone()), &exec_attr);
    if let Some(c) = console {
        match c.accept_master(Duration::from_secs(10)) {
            Ok(master) => {
                if let Some((rows, cols)) = console_size(&process) {
                    let _ = berth_runtime::stdio::pty::set_winsize(master.as_fd(), rows, cols);
                }
                streams = Streams::terminal(master, opts.stdin)
            }
            Err(e) => {
                // Nobody could ever talk to it: do not leave it behind.
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = wait_exit(pid, false);
                return Err(fail(EngineError::io("exec: receive the terminal", e)));
            }
        }
    }
    Ok(Started {
        pid,
        streams,
        cmdline,
    })
}

/// The process's `consoleSize` (rows, columns), when it has one.
fn console_size(process: &Value) -> Option<(u16, u16)> {
    let size = process.get("consoleSize")?;
    let dim = |k: &str| size.get(k)?.as_u64().and_then(|v| u16::try_from(v).ok());
    Some((dim("height")?, dim("width")?))
}

fn read_json(path: &std::path::Path, what: &str) -> Result<Value, EngineError> {
    let bytes = std::fs::read(path).map_err(|e| EngineError::io(format!("read {what}"), e))?;
    serde_json::from_slice(&bytes).map_err(|e| EngineError::bad_input(what, e))
}

fn null() -> Result<OwnedFd, EngineError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| EngineError::io("exec: open /dev/null", e))
}

/// The process's exit code as a shell reports it (128 + signal), waiting for it unless
/// `nohang`; `None` while it runs (with `nohang`) or when it is not our child.
pub(crate) fn wait_exit(pid: Pid, nohang: bool) -> Option<i32> {
    let flags = nohang.then_some(WaitPidFlag::WNOHANG);
    loop {
        match waitpid(pid, flags) {
            Ok(WaitStatus::Exited(_, c)) => return Some(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Some(128 + s as i32),
            Ok(WaitStatus::StillAlive) => return None,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                tracing::warn!(%pid, error = %e, "wait for the exec'd process");
                return None;
            }
        }
    }
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
