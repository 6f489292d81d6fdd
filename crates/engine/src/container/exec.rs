//! `exec`: another process in a running container, created out of process and reached
//! through streams.
//!
//! libcontainer clones without exec, which is unsafe in a multi-threaded process
//! (youki#3011), and the engine is called from threaded front ends (the API server runs many
//! execs at once). So [`Engine::exec`] only prepares the process's spec; a fork+exec of our
//! own binary, `berth exec-shim ID EXEC_ID` ([`super::exec_shim`]), single-threaded, creates
//! the process, relays its stdio, reaps it and reports its exit code. The caller talks to the
//! shim over a socket pair (the shim's stdin) with the attach framing of
//! `berth_runtime::stdio::frame`. Nothing of the calling process is touched — its stdio,
//! terminal, signal mask or other children — so any number of threads may exec at once
//! through one shared engine. Raw mode, resizes and signal forwarding are the front end's: it
//! hands in readers, writers and a [`ProcessControl`](super::ProcessControl) channel.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_engine::EngineError> {
//! use berth_engine::container::{ExecOptions, ProcessIo};
//! let engine = berth_engine::Engine::open(berth_engine::EngineConfig::new("/tmp/root"))?;
//! let opts = ExecOptions { cmd: vec!["id".into(), "-u".into()], ..Default::default() };
//! let io = ProcessIo::new(Box::new(std::io::stdout()), Box::new(std::io::stderr()));
//! let code = engine.exec("web", &opts, io)?;
//! # let _ = code; Ok(()) }
//! ```

use berth_store::ContainerState;
use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};

use berth_runtime::spec::resolve_user;
use berth_store::ContainerRecord;
use rand::RngCore;
use serde_json::Value;

use super::streams::ProcessIo;
use crate::{Engine, EngineError};

/// Options of `exec`, parsed at the edge.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    /// `KEY=VALUE` entries added to (or replacing those of) the container's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// `user`, `uid`, `user:group` or `uid:gid`, resolved in the container's `/etc/passwd`.
    pub user: Option<String>,
    /// Give the process a terminal (`-t`).
    pub tty: bool,
    /// Keep the process's stdin open and feed it from [`ProcessIo::stdin`] (`-i`).
    pub interactive: bool,
    /// Return once the process runs; the shim keeps it and reaps it (`-d`).
    pub detach: bool,
    /// The terminal's size (rows, columns) from the start, with `tty` (docker's
    /// `ConsoleSize`): later changes come as resizes.
    pub console_size: Option<(u16, u16)>,
}

/// The files of one exec under the run root, shared by the caller and the shim. Short names:
/// a socket path must fit in sun_path (108 bytes).
pub(crate) struct ExecFiles {
    /// The OCI process the shim runs (written by the caller, removed by the shim).
    pub process: PathBuf,
    /// Where the runtime sends the pty master.
    pub console: PathBuf,
}

impl Engine {
    pub(crate) fn exec_files(&self, id: &str, exec_id: &str) -> ExecFiles {
        let dir = self.run_root.join("s");
        let short = id.get(..12).unwrap_or(id);
        ExecFiles {
            process: dir.join(format!("{short}-exec-{exec_id}.json")),
            console: dir.join(format!("{short}-exec-{exec_id}.tty")),
        }
    }

    /// Runs a process in a running container with `io` as its streams; returns its exit code
    /// (0 at once with `detach`). A command that cannot be found or run fails with
    /// [`EngineError::StartFailed`] carrying 127 or 126; a container that is not running
    /// with a conflict.
    pub fn exec(&self, name: &str, opts: &ExecOptions, io: ProcessIo) -> Result<i32, EngineError> {
        let rec = self.reconciled(name)?;
        let short = rec.id.get(..12).unwrap_or(&rec.id).to_string();
        match rec.state {
            ContainerState::Running => {}
            ContainerState::Paused => {
                return Err(EngineError::Conflict(format!(
                    "container {short} is paused, unpause the container before exec"
                )))
            }
            _ => {
                return Err(EngineError::Conflict(format!(
                    "container {short} is not running"
                )))
            }
        }
        if opts.cmd.is_empty() {
            return Err(EngineError::InvalidArgument(
                "exec: no command specified".into(),
            ));
        }
        let (exec_id, files) = self.write_exec_process(&rec, opts)?;
        let (ours, theirs) = if opts.detach {
            (None, None)
        } else {
            let (a, b) = UnixStream::pair()
                .map_err(|e| EngineError::io("exec: socket pair for the shim", e))?;
            (Some(a), Some(b))
        };
        let mut child = match self.spawn_shim(&rec.id, &exec_id, opts, theirs) {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&files.process);
                return Err(e);
            }
        };
        self.shim_report(&rec.id, &mut child)?;
        let Some(sock) = ours else {
            // The shim keeps the process and reaps it; someone must reap the shim, and a
            // threaded caller (the API server) lives on.
            let _ = std::thread::Builder::new()
                .name("exec-reaper".into())
                .spawn(move || child.wait());
            return Ok(0);
        };
        let mut io = io;
        if !opts.interactive {
            io.stdin = None;
        }
        let relayed = super::streams::relay(sock, io);
        let status = child.wait();
        let what = || format!("exec in container {short}");
        match relayed.map_err(|e| EngineError::io(what(), e))? {
            Some(code) => Ok(code),
            None => Err(EngineError::io(
                what(),
                std::io::Error::other(format!(
                    "the exec shim ended ({}) before the process's exit was known; see {}",
                    status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                    self.container_paths(&rec.id).monitor_log.display()
                )),
            )),
        }
    }

    /// Writes the exec's process for the shim under a fresh exec ID (dockerd's exec IDs name
    /// an exec for the API; ours also name its files).
    fn write_exec_process(
        &self,
        rec: &ContainerRecord,
        opts: &ExecOptions,
    ) -> Result<(String, ExecFiles), EngineError> {
        let process = self.exec_process(rec, opts)?;
        let mut tag = [0u8; 6];
        rand::thread_rng().fill_bytes(&mut tag);
        let exec_id = hex::encode(tag);
        let files = self.exec_files(&rec.id, &exec_id);
        if let Some(dir) = files.process.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| EngineError::io(format!("exec: create {}", dir.display()), e))?;
        }
        let bytes = serde_json::to_vec(&process)
            .map_err(|e| EngineError::bad_input("exec: the process spec", e))?;
        std::fs::write(&files.process, bytes)
            .map_err(|e| EngineError::io(format!("exec: write {}", files.process.display()), e))?;
        Ok((exec_id, files))
    }

    /// The OCI process of the exec: the container's, with the command, tty, workdir,
    /// environment and user of `opts`. Its capabilities stay the container's (a set the kernel
    /// cannot grant would fail the exec).
    fn exec_process(
        &self,
        rec: &ContainerRecord,
        opts: &ExecOptions,
    ) -> Result<Value, EngineError> {
        let paths = self.container_paths(&rec.id);
        let spec: Value = std::fs::read(paths.dir.join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                EngineError::bad_input(
                    format!("container {}", &rec.id[..12]),
                    "its config.json is unreadable",
                )
            })?;
        let mut process = spec.get("process").cloned().unwrap_or(Value::Null);
        process["args"] = serde_json::json!(opts.cmd);
        // A detached terminal has nobody to read it; the process runs without one.
        process["terminal"] = Value::Bool(opts.tty && !opts.detach);
        if let (true, Some((rows, cols))) = (opts.tty, opts.console_size) {
            // The OCI field; the shim applies it to the terminal as soon as it has it.
            process["consoleSize"] = serde_json::json!({"height": rows, "width": cols});
        }
        if let Some(w) = &opts.workdir {
            process["cwd"] = Value::String(w.clone());
        }
        if !opts.env.is_empty() {
            let mut env: Vec<String> = process
                .get("env")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            for e in &opts.env {
                let key = e.split('=').next().unwrap_or(e);
                env.retain(|x| x.split('=').next() != Some(key));
                env.push(e.clone());
            }
            process["env"] = serde_json::json!(env);
        }
        if let Some(u) = &opts.user {
            let (passwd, group) = super::files::passwd_and_group(&paths.rootfs)?;
            let user = resolve_user(Some(u), passwd.as_deref(), group.as_deref())
                .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
            process["user"] = serde_json::json!({
                "uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids,
            });
        }
        Ok(process)
    }

    /// Starts `berth exec-shim ID EXEC_ID`: its stdin is `sock` (or /dev/null, detached), its
    /// stdout the one-line report, its stderr the container's monitor log.
    fn spawn_shim(
        &self,
        id: &str,
        exec_id: &str,
        opts: &ExecOptions,
        sock: Option<UnixStream>,
    ) -> Result<Child, EngineError> {
        let log = self.open_monitor_log(id)?;
        // Its own process group (own_command) also lets the shim outlive a detached exec's
        // caller.
        let mut cmd = self.own_command();
        cmd.arg("exec-shim").arg(id).arg(exec_id);
        if opts.interactive {
            cmd.arg("--stdin");
        }
        if opts.detach {
            cmd.arg("--detach");
        }
        cmd.stdin(sock.map_or_else(Stdio::null, |s| Stdio::from(OwnedFd::from(s))))
            .stdout(Stdio::piped())
            .stderr(log);
        cmd.spawn()
            .map_err(|e| EngineError::io(format!("exec: start {}", self.exe.display()), e))
    }

    /// Waits for the shim's report: `started`, or `error CODE MESSAGE` (docker's 126 or 127
    /// for a command that cannot be run or found, 125 for anything else).
    fn shim_report(&self, id: &str, child: &mut Child) -> Result<(), EngineError> {
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let line = line.trim();
        if line == "started" {
            return Ok(());
        }
        let _ = child.wait();
        let (code, message) = match line.strip_prefix("error ") {
            Some(rest) => {
                let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
                (code.parse().unwrap_or(125), message.to_string())
            }
            None => {
                let log = self.container_paths(id).monitor_log;
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let last = tail.lines().last().unwrap_or("").to_string();
                (
                    125,
                    format!(
                        "the exec shim exited before starting the process: {}",
                        if last.is_empty() {
                            "see its log"
                        } else {
                            &last
                        }
                    ),
                )
            }
        };
        Err(EngineError::StartFailed {
            id: id.to_string(),
            code,
            message,
        })
    }
}
