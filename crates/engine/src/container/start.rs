//! `start` and attach: spawning a container's monitor, and the client end of its attach
//! socket (used by a foreground `run`, `start -a` and `attach`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use berth_runtime::stdio::frame;
use berth_store::ContainerState;

use super::monitor;
use super::monitor_spawn::single_threaded;
use super::streams::{Ending, ProcessControl, ProcessIo};
use crate::{Engine, EngineError};

/// How `start_container` hands the container over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// Start now and return (`run -d`, `start`).
    Detached,
    /// Start once a client attaches (the Engine API's attach-then-start, a build's step).
    WaitAttach,
    /// [`StartMode::WaitAttach`] for a caller that attaches at once (`run` in the
    /// foreground, `start -a`): the start returns before the container is created, so that
    /// the attach overlaps the creation, and a failure to start is [`Engine::attach`]'s
    /// [`EngineError::StartFailed`], once the container's monitor has cleaned up.
    AttachNow,
}

impl Engine {
    /// Starts a container's monitor and waits until it reports: started, ready for an
    /// attach, or failed (the error carries docker's exit code: 125, 126 or 127).
    pub fn start_container(&self, name: &str, mode: StartMode) -> Result<String, EngineError> {
        self.start_container_warning(name, mode, &mut |w| {
            tracing::warn!(container = name, "{w}");
        })
    }

    /// [`Engine::start_container`], handing what the start found worth a warning (a subnet
    /// clash that makes the container unreachable) to `warn`, for a front end to show.
    pub fn start_container_warning(
        &self,
        name: &str,
        mode: StartMode,
        warn: &mut dyn FnMut(&str),
    ) -> Result<String, EngineError> {
        let rec = self.reconciled(name)?;
        if matches!(
            rec.state,
            ContainerState::Running | ContainerState::Restarting
        ) {
            return Ok(rec.id);
        }
        // A pod's member runs in its infra's namespaces: those must exist first.
        if rec.config.contains("\"pod\"") {
            let config = super::ContainerConfig::from_record(&rec)?;
            if let (Some(pod), false) = (&config.pod, config.infra) {
                self.ensure_pod_infra(pod)?;
            }
        }
        // The previous run's monitor records the exit before it cleans up: let it finish,
        // or it would unmount and disconnect what this start sets up.
        if rec.monitor_pid > 0 && self.is_monitor_of(rec.monitor_pid, &rec.id) {
            super::stop::wait_gone(rec.monitor_pid, std::time::Duration::from_secs(15));
        }
        let paths = self.container_paths(&rec.id);
        let log = self.open_monitor_log(&rec.id)?;
        self.mark(&rec.id, "cli.spawn");
        let opts = monitor::MonitorOptions {
            wait_attach: mode != StartMode::Detached,
            ready_before_create: mode == StartMode::AttachNow,
        };
        let mut spawned = if single_threaded() {
            self.fork_monitor(&rec.id, opts, log)?
        } else {
            self.exec_monitor(&rec.id, opts, log)?
        };
        let mut line = String::new();
        if let Some(out) = spawned.report.take() {
            let mut out = BufReader::new(out);
            loop {
                line.clear();
                let _ = out.read_line(&mut line);
                match line.strip_prefix("warning ") {
                    Some(w) => warn(w.trim_end()),
                    None => break,
                }
            }
        }
        self.mark(&rec.id, "cli.reported");
        let line = line.trim();
        // `busy`: another monitor holds the container (a concurrent start won).
        if line == "started" || line == "ready" || line == monitor::BUSY {
            return Ok(rec.id);
        }
        if line == monitor::GONE {
            spawned.wait();
            return Err(EngineError::ContainerNotFound(rec.id.clone()));
        }
        if let Some(rest) = line.strip_prefix("error ") {
            let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
            spawned.wait();
            return Err(EngineError::StartFailed {
                id: rec.id.clone(),
                code: code.parse().unwrap_or(125),
                message: message.to_string(),
            });
        }
        spawned.wait();
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

    /// Attaches `io` to a running container (or one started with
    /// [`StartMode::WaitAttach`]) until it exits; returns its exit code. Stdin is forwarded
    /// when `io.stdin` is given, and the container's stdin is closed when it ends. Returns once
    /// the container's monitor has cleaned up, so what the caller does next sees the end.
    /// A container started with [`StartMode::AttachNow`] that could not be started is
    /// [`EngineError::StartFailed`] here.
    pub fn attach(&self, name: &str, io: ProcessIo) -> Result<i32, EngineError> {
        let ProcessIo {
            stdin,
            mut stdout,
            mut stderr,
            control,
        } = io;
        self.attach_with(name, stdin, control, &mut |kind, data| {
            let w = if kind == frame::STDERR {
                &mut stderr
            } else {
                &mut stdout
            };
            w.write_all(data)?;
            w.flush()
        })
    }

    /// Resizes the terminal of a running container with a tty (the Engine API's `resize`;
    /// an attached front end sends its resizes through its own [`ProcessIo::control`]).
    pub fn resize_container(&self, name: &str, rows: u16, cols: u16) -> Result<(), EngineError> {
        let rec = self.reconciled(name)?;
        if rec.state != ContainerState::Running {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                &rec.id[..12]
            )));
        }
        let what = || format!("resize the terminal of container {}", &rec.id[..12]);
        let mut stream = UnixStream::connect(self.container_paths(&rec.id).attach_socket)
            .map_err(|e| EngineError::io(what(), e))?;
        frame::write_client(&mut stream, &frame::ClientMsg::Resize { rows, cols })
            .map_err(|e| EngineError::io(what(), e))
    }

    /// [`Engine::attach`] output only, handed to `sink` (stream type, bytes): a build's RUN.
    pub(crate) fn attach_output(
        &self,
        name: &str,
        sink: &mut dyn FnMut(u8, &[u8]) -> std::io::Result<()>,
    ) -> Result<i32, EngineError> {
        self.attach_with(name, None, None, sink)
    }

    fn attach_with(
        &self,
        name: &str,
        stdin: Option<Box<dyn std::io::Read + Send>>,
        control: Option<std::sync::mpsc::Receiver<ProcessControl>>,
        sink: &mut dyn FnMut(u8, &[u8]) -> std::io::Result<()>,
    ) -> Result<i32, EngineError> {
        // A full ID (a `run` attaching to what it started) needs no lookup, unless its socket
        // is not there: then the lookup says why (no such container).
        let full_id = berth_image::reference::is_hex_identifier(name);
        let id = if full_id {
            name.to_string()
        } else {
            self.resolve_container(name)?.id
        };
        let paths = self.container_paths(&id);
        let stream = match UnixStream::connect(&paths.attach_socket) {
            Ok(s) => s,
            Err(e) => {
                if full_id {
                    self.resolve_container(name)?;
                }
                return Err(EngineError::io(
                    format!("attach to container {}", &id[..12]),
                    e,
                ));
            }
        };
        self.mark(&id, "cli.attached");
        let code = super::streams::relay_with(stream, stdin, control, sink)
            .map_err(|e| EngineError::io(format!("attach to container {}", &id[..12]), e))?;
        self.mark(&id, "cli.exit");
        let code = match code {
            // The relay returns once the monitor has cleaned up (and removed an --rm
            // container) after the exit it reported.
            Some(Ending::Exit(c)) => return Ok(c),
            Some(Ending::StartFailed(code, message)) => {
                return Err(EngineError::StartFailed { id, code, message })
            }
            // The monitor went away without an exit frame: the record says what happened.
            None => self
                .reconciled(&id)
                .map(|r| r.exit_code as i32)
                .unwrap_or(255),
        };
        // Whatever monitor is left cleans up: wait for it, so that what the caller does next
        // sees the container as it ends.
        if let Ok(now) = self.resolve_container(&id) {
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
