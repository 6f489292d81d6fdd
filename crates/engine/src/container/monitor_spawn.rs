//! Starting a container's monitor: a fork of the caller when the caller has one thread (the
//! CLI), else an exec of `berth monitor ID` (the API server, or any caller with threads).
//!
//! The exec costs what every berth process costs before its first line of its own work —
//! the kernel's exec, the dynamic loader relocating a 20 MB binary, the command line parsed,
//! the engine opened: ~4 ms of each `run`. A fork of the single-threaded CLI costs ~0.3 ms
//! and the monitor opens its own engine.
//!
//! Forking is only sound with one thread (another thread could hold a lock, the allocator's
//! among them, that the child would never see released) and without SQLite connections
//! carried across (SQLite keeps per-process lock bookkeeping that the child would inherit
//! wrongly): the caller's idle connections are closed first and the child opens its own.
//! The forked monitor keeps the CLI's command line in `ps`; it is named `berth-monitor`
//! (its `comm`), and recognised by its lock, never by its command line (`monitor_lock`).

// fork, and the raw descriptor calls of the child that follow it.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::process::Stdio;

use super::monitor::{self, MonitorOptions};

use crate::{Engine, EngineConfig, EngineError};

/// A monitor process being started, and the pipe it reports on.
pub(super) struct Spawned {
    pub pid: u32,
    pub report: Option<File>,
    /// The exec'd monitor (a forked one is reaped by pid).
    child: Option<std::process::Child>,
}

impl Spawned {
    /// Reaps the monitor once it has exited.
    pub fn wait(&mut self) {
        match &mut self.child {
            Some(child) => {
                let _ = child.wait();
            }
            None => {
                let pid = nix::unistd::Pid::from_raw(self.pid as i32);
                let _ = nix::sys::wait::waitpid(pid, None);
            }
        }
    }
}

/// Whether this process has one thread (`/proc/self/stat`'s 20th field).
pub(super) fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            // Fields from the third (the state) on: the thread count is the 20th.
            rest.split_whitespace().nth(17)?.parse::<u32>().ok()
        })
        .is_some_and(|n| n == 1)
}

impl Engine {
    /// Starts `berth monitor ID` with the report pipe on its stdout and `log` as its stderr.
    pub(super) fn exec_monitor(
        &self,
        id: &str,
        opts: MonitorOptions,
        log: File,
    ) -> Result<Spawned, EngineError> {
        let mut cmd = self.own_command();
        cmd.arg("monitor").arg(id);
        if opts.wait_attach {
            cmd.arg("--wait-attach");
        }
        if opts.ready_before_create {
            cmd.arg("--ready-before-create");
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
        let mut child = cmd
            .spawn()
            .map_err(|e| EngineError::io(format!("start monitor {}", self.exe.display()), e))?;
        Ok(Spawned {
            pid: child.id(),
            report: child.stdout.take().map(|p| File::from(OwnedFd::from(p))),
            child: Some(child),
        })
    }

    /// Forks this (single-threaded) process into container `id`'s monitor.
    pub(super) fn fork_monitor(
        &self,
        id: &str,
        opts: MonitorOptions,
        log: File,
    ) -> Result<Spawned, EngineError> {
        let what = |e: nix::Error| EngineError::io(format!("start the monitor of {id}"), e.into());
        let (report_r, report_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(what)?;
        let null = File::open("/dev/null").map_err(|e| EngineError::io("open /dev/null", e))?;
        let config = self.monitor_config();
        self.store.meta.close_idle();
        // The monitor starts on this CPU while the CLI waits (see `berth_runtime::cpu`).
        let pinned = berth_runtime::cpu::pin_here();
        // SAFETY: the process has one thread (the caller checked) and no SQLite connection is
        // open; the child never returns from `forked_monitor`.
        match unsafe { nix::unistd::fork() }.map_err(what)? {
            nix::unistd::ForkResult::Child => {
                if let Some(p) = &pinned {
                    p.restore_raw();
                }
                forked_monitor(config, id, opts, [null.into(), report_w, log.into()])
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(pinned);
                drop(report_w);
                Ok(Spawned {
                    pid: child.as_raw() as u32,
                    report: Some(File::from(report_r)),
                    child: None,
                })
            }
        }
    }
}

/// The child side of [`Engine::fork_monitor`]: standard streams are /dev/null, the report
/// pipe and the log, nothing else of the CLI stays open; it opens its own engine and runs
/// the monitor. Never returns.
fn forked_monitor(config: EngineConfig, id: &str, opts: MonitorOptions, stdio: [OwnedFd; 3]) -> ! {
    use nix::libc;
    // SAFETY: plain descriptor syscalls on descriptors this process owns. Each is first
    // copied above 2, so that placing one on 0, 1 or 2 cannot overwrite another not yet
    // placed (a CLI started with a closed stdin gets a pipe on 0).
    unsafe {
        let high = stdio.map(|fd| libc::fcntl(fd.into_raw_fd(), libc::F_DUPFD_CLOEXEC, 3));
        for (target, fd) in high.into_iter().enumerate() {
            libc::dup2(fd, target as i32);
        }
        // Everything else the CLI had open (its terminal, the database, the image store)
        // goes; the Rust objects that owned them are never dropped: this never returns.
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
    // Its own process group, as the exec'd monitor: a ^C meant for the CLI is not for it.
    let _ = nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0));
    let _ = nix::sys::prctl::set_name(c"berth-monitor");
    // SAFETY: fd 1 is the report pipe placed above, owned from here on.
    let mut report = unsafe { File::from_raw_fd(1) };
    let code = match Engine::open(config) {
        Ok(engine) => {
            let code = monitor::run(&engine, id, opts, &mut report);
            drop(engine);
            code
        }
        Err(e) => {
            use std::io::Write;
            tracing::error!(container_id = id, error = %e, "the monitor cannot open the engine");
            let _ = writeln!(report, "error 125 the monitor cannot open the engine: {e}");
            1
        }
    };
    // `_exit`: the CLI's exit handlers and unflushed buffers are not the monitor's to run.
    // SAFETY: ends the process.
    unsafe { libc::_exit(code) }
}
