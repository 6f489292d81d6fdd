//! `start` and attach: spawning a container's monitor, and the client end of its attach
//! socket (used by a foreground `run`, `start -a` and `attach`).

use berth_store::ContainerState;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;

use berth_runtime::stdio::frame::{self, ClientMsg, FrameReader};
use berth_runtime::stdio::pty;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::{Engine, EngineError};

/// How `start_container` hands the container over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// Start now and return (`run -d`, `start`).
    Detached,
    /// Start once a client attaches (`run` in the foreground, `start -a`).
    WaitAttach,
}

/// What an attached client forwards.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// Forward our stdin (`-i`).
    pub stdin: bool,
    /// The container has a terminal (`-t`): raw mode and resizes.
    pub tty: bool,
    /// Forward SIGINT/SIGTERM to the container (docker's `--sig-proxy`, on by default).
    pub sig_proxy: bool,
}

impl Engine {
    /// Starts a container's monitor and waits until it reports: started, ready for an
    /// attach, or failed (the error carries docker's exit code: 125, 126 or 127).
    pub fn start_container(&self, name: &str, mode: StartMode) -> Result<String, EngineError> {
        let rec = self.reconciled(name)?;
        if matches!(
            rec.state,
            ContainerState::Running | ContainerState::Restarting
        ) {
            return Ok(rec.id);
        }
        // The previous run's monitor records the exit before it cleans up: let it finish,
        // or it would unmount and disconnect what this start sets up.
        if rec.monitor_pid > 0 && super::reconcile::is_monitor_of(rec.monitor_pid, &rec.id) {
            super::stop::wait_gone(rec.monitor_pid, std::time::Duration::from_secs(15));
        }
        let paths = self.container_paths(&rec.id);
        // A fresh start resets what the previous run left.
        self.store.meta.write(|tx| {
            if let Some(mut r) = tx.container(&rec.id)? {
                r.stop_requested = false;
                r.error.clear();
                tx.update_container(&r)?;
            }
            Ok::<_, EngineError>(())
        })?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&paths.monitor_log)
            .map_err(|e| EngineError::io(format!("container {}: monitor log", &rec.id[..12]), e))?;
        let mut cmd = self.own_command();
        cmd.arg("monitor").arg(&rec.id);
        if mode == StartMode::WaitAttach {
            cmd.arg("--wait-attach");
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
        self.mark(&rec.id, "cli.spawn");
        let mut child = cmd
            .spawn()
            .map_err(|e| EngineError::io(format!("start monitor {}", self.exe.display()), e))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        self.mark(&rec.id, "cli.reported");
        let line = line.trim();
        if line == "started" || line == "ready" {
            return Ok(rec.id);
        }
        if let Some(rest) = line.strip_prefix("error ") {
            let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
            let _ = child.wait();
            return Err(EngineError::StartFailed {
                id: rec.id.clone(),
                code: code.parse().unwrap_or(125),
                message: message.to_string(),
            });
        }
        let _ = child.wait();
        let tail = std::fs::read_to_string(&paths.monitor_log).unwrap_or_default();
        Err(EngineError::StartFailed {
            id: rec.id.clone(),
            code: 125,
            message: format!(
                "the monitor exited before starting the container: {}",
                tail.lines().last().unwrap_or("see its log")
            ),
        })
    }

    /// Attaches our stdio to a container's monitor until the container exits; returns its
    /// exit code.
    pub fn attach(&self, name: &str, opts: Attach) -> Result<i32, EngineError> {
        self.attach_with(name, opts, None)
    }

    /// [`Engine::attach`] with the output handed to `sink` (stream type, bytes).
    pub(crate) fn attach_with(
        &self,
        name: &str,
        opts: Attach,
        sink: OutputSink<'_>,
    ) -> Result<i32, EngineError> {
        let rec = self.resolve_container(name)?;
        let paths = self.container_paths(&rec.id);
        let stream = UnixStream::connect(&paths.attach_socket)
            .map_err(|e| EngineError::io(format!("attach to container {}", &rec.id[..12]), e))?;
        self.mark(&rec.id, "cli.attached");
        let code = attach_loop(stream, opts, sink)
            .map_err(|e| EngineError::io(format!("attach to container {}", &rec.id[..12]), e))?;
        self.mark(&rec.id, "cli.exit");
        let code = match code {
            Some(c) => c,
            // The monitor went away without an exit frame: the record says what happened.
            None => self
                .reconciled(&rec.id)
                .map(|r| r.exit_code as i32)
                .unwrap_or(255),
        };
        // The monitor cleans up (and removes an --rm container) after the exit it reported:
        // wait for it, so that what the caller does next sees the container as it ends.
        if let Ok(now) = self.resolve_container(&rec.id) {
            if now.monitor_pid > 0
                && !matches!(
                    now.state,
                    ContainerState::Running | ContainerState::Restarting
                )
            {
                super::stop::wait_gone(now.monitor_pid, std::time::Duration::from_secs(10));
            }
        }
        Ok(code)
    }
}

/// Where attached output goes: our stdout/stderr, or a callback (the builder's log).
pub(crate) type OutputSink<'a> = Option<&'a mut dyn FnMut(u8, &[u8]) -> std::io::Result<()>>;

fn attach_loop(
    stream: UnixStream,
    opts: Attach,
    mut sink: OutputSink<'_>,
) -> std::io::Result<Option<i32>> {
    let stdin = std::io::stdin();
    let stdout_fd = std::io::stdout();
    let _raw = if opts.tty && pty::is_tty(stdin.as_fd()) {
        Some(pty::RawMode::enter(stdin.as_fd())?)
    } else {
        None
    };
    let mut writer = stream.try_clone()?;
    if opts.tty {
        if let Ok((rows, cols)) = pty::get_winsize(stdout_fd.as_fd()) {
            frame::write_client(&mut writer, &ClientMsg::Resize { rows, cols })?;
        }
    }
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGWINCH);
    if opts.sig_proxy && !opts.tty {
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGTERM);
        mask.add(Signal::SIGHUP);
        mask.add(Signal::SIGQUIT);
    }
    mask.thread_block().map_err(std::io::Error::from)?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;

    let mut reader = FrameReader::new(stream.try_clone()?);
    let raw = stream;
    let mut stdin_open = opts.stdin;
    // stdout and stderr are locked per write, never across the loop: a build attaches to
    // several RUN containers at once and prints through the same stdout.
    let (out, err) = (std::io::stdout(), std::io::stderr());
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![
            PollFd::new(raw.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        nix::poll::poll(&mut fds, PollTimeout::NONE).or_else(|e| {
            if e == nix::errno::Errno::EINTR {
                Ok(0)
            } else {
                Err(std::io::Error::from(e))
            }
        })?;
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            match reader.next()? {
                None => return Ok(None),
                Some((frame::EXIT, payload)) => return frame::exit_code(&payload).map(Some),
                Some((kind, data)) if sink.is_some() => {
                    if let Some(f) = sink.as_mut() {
                        f(kind, &data)?;
                    }
                }
                Some((frame::STDERR, data)) => {
                    let mut err = err.lock();
                    err.write_all(&data)?;
                    err.flush()?;
                }
                Some((_, data)) => {
                    let mut out = out.lock();
                    out.write_all(&data)?;
                    out.flush()?;
                }
            }
        }
        if ready[1] {
            while let Ok(Some(info)) = sigfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == Signal::SIGWINCH as i32 {
                    if let Ok((rows, cols)) = pty::get_winsize(stdout_fd.as_fd()) {
                        frame::write_client(&mut writer, &ClientMsg::Resize { rows, cols })?;
                    }
                } else {
                    frame::write_client(&mut writer, &ClientMsg::Signal(sig))?;
                }
            }
        }
        if stdin_open && ready.get(2).copied().unwrap_or(false) {
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    stdin_open = false;
                    frame::write_client(&mut writer, &ClientMsg::CloseStdin)?;
                }
                Ok(n) => frame::write_client(&mut writer, &ClientMsg::Stdin(buf[..n].to_vec()))?,
                Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(_) => {
                    stdin_open = false;
                    frame::write_client(&mut writer, &ClientMsg::CloseStdin)?;
                }
            }
        }
    }
}
