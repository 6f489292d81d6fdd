//! `exec`: another process in a running container, run by libcontainer from this
//! (single-threaded) process, with our stdio or a pty.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use berth_runtime::oci::Stdio;
use berth_runtime::spec::resolve_user;
use berth_runtime::stdio::console::ConsoleSocket;
use berth_runtime::stdio::pty;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use rand::RngCore;
use serde_json::Value;

use crate::events::Action;
use crate::{Engine, EngineError};

/// Options of `exec`, parsed at the edge.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
}

fn dup(fd: impl AsFd) -> Result<OwnedFd, EngineError> {
    fd.as_fd()
        .try_clone_to_owned()
        .map_err(|e| EngineError::io("exec: duplicate stdio", e))
}

fn null() -> Result<OwnedFd, EngineError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| EngineError::io("exec: open /dev/null", e))
}

impl Engine {
    /// Runs a process in a running container; returns its exit code (0 with `detach`).
    pub fn exec(&mut self, name: &str, opts: &ExecOptions) -> Result<i32, EngineError> {
        let rec = self.reconciled(name)?;
        if rec.state != "running" {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                &rec.id[..12]
            )));
        }
        if opts.cmd.is_empty() {
            return Err(EngineError::InvalidArgument(
                "exec: no command specified".into(),
            ));
        }
        let paths = self.container_paths(&rec.id);
        let spec_path = paths.dir.join("config.json");
        let spec: Value = std::fs::read(&spec_path)
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
        process["terminal"] = Value::Bool(opts.tty);
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
        // A capability set the kernel cannot grant would fail the exec: keep the container's.
        let mut tag = [0u8; 6];
        rand::thread_rng().fill_bytes(&mut tag);
        let tag = hex::encode(tag);
        let dir = paths
            .attach_socket
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::io("exec: runtime dir", e))?;
        let process_path = dir.join(format!("{}-exec-{tag}.json", rec.id));
        std::fs::write(
            &process_path,
            serde_json::to_vec(&process).unwrap_or_default(),
        )
        .map_err(|e| EngineError::io("exec: write process.json", e))?;
        let _cleanup = RemoveOnDrop(vec![process_path.clone()]);

        let mut stdio = Stdio::default();
        let console = if opts.tty && !opts.detach {
            let path = dir.join(format!("{}-exec-{tag}.tty", &rec.id[..12]));
            let c = ConsoleSocket::bind(&path)
                .map_err(|e| EngineError::io("exec: console socket", e))?;
            stdio.console_socket = Some(path);
            Some(c)
        } else {
            None
        };
        if console.is_none() {
            if opts.detach {
                stdio.stdin = Some(null()?);
                stdio.stdout = Some(null()?);
                stdio.stderr = Some(null()?);
            } else {
                stdio.stdin = Some(if opts.interactive {
                    dup(std::io::stdin())?
                } else {
                    null()?
                });
                stdio.stdout = Some(dup(std::io::stdout())?);
                stdio.stderr = Some(dup(std::io::stderr())?);
            }
        }
        if opts.tty && opts.detach {
            // A detached terminal has nobody to read it; run without one.
            let mut p = process.clone();
            p["terminal"] = Value::Bool(false);
            std::fs::write(&process_path, serde_json::to_vec(&p).unwrap_or_default())
                .map_err(|e| EngineError::io("exec: write process.json", e))?;
        }
        let seccomp = spec
            .pointer("/linux/seccomp")
            .filter(|v| !v.is_null())
            .map(|v| serde_json::from_value(v.clone()))
            .transpose()
            .map_err(|e| {
                EngineError::bad_input(
                    format!("container {}", &rec.id[..12]),
                    format!("seccomp profile: {e}"),
                )
            })?;
        let pid = self
            .oci_runtime()
            .exec(&rec.id, &process_path, &opts.cmd[0], stdio, seccomp)
            .map_err(|e| EngineError::StartFailed {
                id: rec.id.clone(),
                code: e.exit_code(),
                message: e.to_string(),
            })?;
        // dockerd's exec IDs name the exec for the API; ours is the tag of its files.
        let exec_id = [("execID", tag.clone())];
        let cmdline = opts.cmd.join(" ");
        self.emit_container(&rec, Action::ExecCreate(cmdline.clone()), &exec_id);
        self.emit_container(&rec, Action::ExecStart(cmdline), &exec_id);
        if opts.detach {
            return Ok(0);
        }
        if let Some(c) = console {
            let master = c
                .accept_master(Duration::from_secs(10))
                .map_err(|e| EngineError::io("exec: receive the terminal", e))?;
            proxy_tty(&master, opts.interactive)
                .map_err(|e| EngineError::io("exec: terminal", e))?;
        }
        let code = loop {
            match waitpid(nix::unistd::Pid::from_raw(pid), None) {
                Ok(WaitStatus::Exited(_, c)) => break c,
                Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(EngineError::io("exec: wait", e.into())),
            }
        };
        let exit = [exec_id[0].clone(), ("exitCode", code.to_string())];
        self.emit_container(&rec, Action::ExecDie, &exit);
        Ok(code)
    }
}

struct RemoveOnDrop(Vec<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Copies between our terminal and the pty master until the process closes it.
fn proxy_tty(master: &OwnedFd, interactive: bool) -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let _raw = if interactive && pty::is_tty(stdin.as_fd()) {
        Some(pty::RawMode::enter(stdin.as_fd())?)
    } else {
        None
    };
    if let Ok((rows, cols)) = pty::get_winsize(stdout.as_fd()) {
        let _ = pty::set_winsize(master.as_fd(), rows, cols);
    }
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGWINCH);
    mask.thread_block().map_err(std::io::Error::from)?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
    let mut out = stdout.lock();
    let mut m = std::fs::File::from(master.try_clone()?);
    let mut buf = vec![0u8; 32 * 1024];
    let mut stdin_open = interactive;
    loop {
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if let Err(e) = nix::poll::poll(&mut fds, PollTimeout::NONE) {
            if e == nix::errno::Errno::EINTR {
                continue;
            }
            return Err(e.into());
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            match m.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                }
                Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if ready[1] {
            while let Ok(Some(_)) = sigfd.read_signal() {}
            if let Ok((rows, cols)) = pty::get_winsize(std::io::stdout().as_fd()) {
                let _ = pty::set_winsize(master.as_fd(), rows, cols);
            }
        }
        if stdin_open && ready.get(2).copied().unwrap_or(false) {
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    stdin_open = false;
                    // ^D on the terminal: the line discipline turns it into EOF.
                    m.write_all(&[4])?;
                }
                Ok(n) => m.write_all(&buf[..n])?,
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
    }
}
