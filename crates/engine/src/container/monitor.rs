//! The per-container monitor: `berth monitor ID`, one process per running container.
//!
//! It is single-threaded on purpose: libcontainer clones without exec, which is only safe in
//! a process with one thread. It prepares the rootfs, creates and starts the container,
//! copies the container's output into the json log and to attached clients, forwards input,
//! resizes and signals, records the exit, cleans up, and applies the restart policy.
//!
//! It tells the process that spawned it how the start went with one line on its stdout:
//! `ready` (attachable; it starts the container when the first client attaches), `started`,
//! or `error CODE MESSAGE`. A `ready` sent before the creation (`ready_before_create`) leaves
//! a later failure to the attach socket.

use berth_store::ContainerState;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use berth_runtime::oci::{RuntimeError, Stdio};
use berth_runtime::stdio::console::ConsoleSocket;
use berth_runtime::stdio::frame::{self, ClientMsg};
use berth_runtime::stdio::jsonlog::{JsonLogOptions, JsonLogWriter, LogStream};
use berth_runtime::stdio::pty;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::attach_client::Client;
use super::{now_nanos, ContainerConfig};
use crate::{Engine, EngineError};

/// How the monitor was asked to start.
#[derive(Debug, Clone, Copy)]
pub struct MonitorOptions {
    /// Wait for the first attach before starting (a foreground `run`/`start -a`).
    pub wait_attach: bool,
    /// With `wait_attach`: report `ready` before the creation, not after it, to a client that
    /// attaches at once. Its attach then overlaps the runtime's create (~0.3 ms of each
    /// foreground `run`), and a failure to start reaches it on the attach socket
    /// (`frame::START_FAILED`), not on the report pipe.
    pub ready_before_create: bool,
}

/// The result of one run of the container.
struct Exit {
    /// Set when the restart policy starts the container again after this back-off.
    restart: Option<Duration>,
    /// The attached clients, told of the exit: their connections close once the monitor has
    /// cleaned up, which is how a client knows that what it does next sees the end.
    clients: Vec<Client>,
}

/// The monitor's report when the container was removed before it could claim it.
pub(crate) const GONE: &str = "gone";
/// The monitor's report when another monitor holds the container (a concurrent start).
pub(crate) const BUSY: &str = "busy";

/// Runs the monitor for container `id` until it is done; `report` is the pipe to the spawner.
///
/// Takes the monitor's lock first (how other processes recognise it: `monitor_lock`); a
/// container that has a live monitor already gets [`BUSY`].
pub fn run(engine: &Engine, id: &str, opts: MonitorOptions, report: &mut dyn Write) -> i32 {
    let path = super::monitor_lock::path(&engine.run_root, id);
    match super::monitor_lock::MonitorLock::acquire(&path) {
        Ok(lock) => run_locked(engine, id, opts, lock, report),
        Err(e) => {
            let busy = matches!(
                e.raw_os_error(),
                Some(nix::libc::EAGAIN) | Some(nix::libc::EACCES)
            );
            if busy {
                let _ = writeln!(report, "{BUSY}");
            } else {
                tracing::error!(container_id = id, error = %e, "cannot take the monitor lock {}", path.display());
            }
            1
        }
    }
}

/// [`run`] with the monitor's lock held (kept until the monitor returns).
///
/// First the record names this monitor, in the transaction that finds the container still
/// there (and resets what the previous run left): a `rm -f` racing the start either removed
/// the container before (the monitor reports [`GONE`] and leaves, having touched nothing) or
/// finds a live monitor to stop (see `remove_container`), never files under a starting
/// container.
pub(crate) fn run_locked(
    engine: &Engine,
    id: &str,
    opts: MonitorOptions,
    _lock: super::monitor_lock::MonitorLock,
    report: &mut dyn Write,
) -> i32 {
    let _ = engine.monitoring.set(id.to_string());
    match claim(engine, id) {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(
                container_id = id,
                "removed before its monitor started: nothing to do"
            );
            let _ = writeln!(report, "{GONE}");
            return 0;
        }
        Err(e) => {
            let _ = writeln!(report, "error 125 {e}");
            return 1;
        }
    }
    let mut report = Some(report);
    let mut first = true;
    let mut told: Vec<Client> = Vec::new();
    loop {
        // A client told of a failure on the attach socket is let go after the cleanup, as
        // one told of an exit is.
        let mut failed_clients = Vec::new();
        let outcome = run_once(engine, id, opts, first, &mut report, &mut failed_clients);
        first = false;
        let exit = match outcome {
            Ok(exit) => exit,
            Err(failure) => {
                failed_to_start(engine, id, opts, failure, report.take());
                drop(failed_clients);
                return 1;
            }
        };
        let t = Instant::now();
        cleanup(engine, id);
        tracing::debug!(
            container_id = id,
            ms = t.elapsed().as_secs_f64() * 1000.0,
            "cleaned up"
        );
        match exit.restart {
            Some(delay) => {
                drop(exit.clients);
                // The record says "restarting" through the back-off, as docker shows it; a
                // stop meanwhile cancels the restart.
                std::thread::sleep(delay);
                if stop_was_requested(engine, id) {
                    let _ = set_state(engine, id, ContainerState::Exited);
                    break;
                }
                if let Err(e) = count_restart(engine, id) {
                    tracing::error!(container_id = id, error = %e, "cannot restart");
                    break;
                }
            }
            None => {
                told = exit.clients;
                break;
            }
        }
    }
    let trash = finish(engine, id);
    last_mark(engine, id, opts);
    drop(told);
    if let Some(t) = trash {
        t.empty();
    }
    engine.refill_netns_pool();
    0
}

/// A run that could not start: the spawner (if it still waits) gets `error CODE MESSAGE`, the
/// record the failure; what was set up goes.
fn failed_to_start(
    engine: &Engine,
    id: &str,
    opts: MonitorOptions,
    (code, message): Failure,
    report: Option<&mut dyn Write>,
) {
    tracing::error!(container_id = id, %message, "container failed to start");
    if let Some(r) = report {
        let _ = writeln!(r, "error {code} {message}");
    }
    let _ = record_exit(
        engine,
        id,
        i64::from(code),
        false,
        &message,
        ContainerState::Exited,
    );
    cleanup(engine, id);
    if let Some(t) = finish(engine, id) {
        t.empty();
    }
    last_mark(engine, id, opts);
}

/// Names this process as container `id`'s monitor in its record, resetting what the previous
/// run left; `false` when the container is gone.
fn claim(engine: &Engine, id: &str) -> Result<bool, EngineError> {
    engine.store.meta.write(|tx| {
        let Some(mut r) = tx.container(id)? else {
            return Ok(false);
        };
        r.stop_requested = false;
        r.error.clear();
        r.monitor_pid = i64::from(std::process::id());
        tx.update_container(&r)?;
        Ok(true)
    })
}

/// The monitor's last timings mark. A foreground run's CLI reads and removes the marks when it
/// has seen this one; nobody waits for a detached container's, so the monitor removes them.
fn last_mark(engine: &Engine, id: &str, opts: MonitorOptions) {
    engine.mark(id, "mon.finished");
    if !opts.wait_attach {
        engine.remove_timing_marks(id);
    }
}

/// After the last run: `--rm` removes the container; otherwise the monitor only forgets it.
///
/// Returns what is left to do once the clients have been let go: an --rm container's
/// directory, moved to the trash, to empty.
fn finish(engine: &Engine, id: &str) -> Option<super::stop::Trash> {
    let rec = engine.resolve_container(id).ok()?;
    let config = ContainerConfig::from_record(&rec).ok();
    if let Some(config) = config.as_ref().filter(|c| c.auto_remove) {
        // `cleanup` took the runtime state, network and rootfs down: the record and the
        // files go, with no monitor to clear first.
        let trash = engine.remove_cleaned_container(&rec);
        // Like docker's --rm, the container's anonymous volumes go with it.
        engine.remove_anonymous_volumes(config);
        return match trash {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(container_id = id, error = %e, "--rm: cannot remove the container");
                None
            }
        };
    }
    let _ = engine.store.meta.write(|tx| {
        if let Some(mut r) = tx.container(id)? {
            r.monitor_pid = 0;
            tx.update_container(&r)?;
        }
        Ok::<_, EngineError>(())
    });
    None
}

/// Marks container `id` for removal when its monitor finishes, as `--rm` does (a tied
/// container whose client went).
fn remove_when_done(engine: &Engine, id: &str) {
    if let Err(e) = engine.change_config_of(id, |c| {
        c.auto_remove = true;
        Ok(())
    }) {
        tracing::warn!(container_id = id, error = %e, "cannot mark the container for removal");
    }
}

fn should_restart(engine: &Engine, id: &str, code: i64) -> Option<Duration> {
    let rec = engine.resolve_container(id).ok()?;
    let config = ContainerConfig::from_record(&rec).ok()?;
    if !config
        .restart
        .should_restart(code, rec.restart_count, rec.stop_requested)
    {
        return None;
    }
    // Docker doubles the delay from 100ms; keep it short and bounded.
    let shift = rec.restart_count.clamp(0, 6) as u32;
    Some(Duration::from_millis(100u64 << shift))
}

fn count_restart(engine: &Engine, id: &str) -> Result<(), EngineError> {
    engine.store.meta.write(|tx| {
        let mut r = tx
            .container(id)?
            .ok_or_else(|| EngineError::ContainerNotFound(id.to_string()))?;
        r.restart_count += 1;
        tx.update_container(&r)?;
        Ok(())
    })
}

fn stop_was_requested(engine: &Engine, id: &str) -> bool {
    engine
        .resolve_container(id)
        .map(|r| r.stop_requested)
        .unwrap_or(true)
}

fn set_state(engine: &Engine, id: &str, state: ContainerState) -> Result<(), EngineError> {
    engine.store.meta.write(|tx| {
        if let Some(mut r) = tx.container(id)? {
            r.state = state;
            tx.update_container(&r)?;
        }
        Ok(())
    })
}

fn record_exit(
    engine: &Engine,
    id: &str,
    code: i64,
    oom: bool,
    error: &str,
    state: ContainerState,
) -> Result<(), EngineError> {
    engine.store.meta.write(|tx| {
        if let Some(mut r) = tx.container(id)? {
            r.state = state;
            r.exit_code = code;
            r.pid = 0;
            r.finished_at = now_nanos();
            r.oom_killed = oom;
            r.error = error.to_string();
            tx.update_container(&r)?;
        }
        Ok(())
    })
}

/// Undoes what a run set up; every step is tried.
fn cleanup(engine: &Engine, id: &str) {
    if let Err(e) = engine.oci_runtime().delete(id) {
        tracing::warn!(container_id = id, error = %e, "runtime delete");
    }
    engine.mark(id, "mon.rt-deleted");
    if let Ok(rec) = engine.resolve_container(id) {
        let config = ContainerConfig::from_record(&rec);
        if let Ok(config) = &config {
            engine.network_down(id, config);
        }
        // An --rm container's record goes next: nothing to write.
        let removed_next = config.as_ref().is_ok_and(|c| c.auto_remove);
        if !rec.net.is_empty() && !removed_next {
            let _ = engine.store.meta.write(|tx| {
                if let Some(mut r) = tx.container(id)? {
                    r.net.clear();
                    tx.update_container(&r)?;
                }
                Ok::<_, EngineError>(())
            });
        }
    }
    engine.mark(id, "mon.net-down");
    let paths = engine.container_paths(id);
    engine.unmount_rootfs(&paths.rootfs);
    engine.mark(id, "mon.unmounted");
    let _ = std::fs::remove_file(&paths.attach_socket);
    let _ = std::fs::remove_file(&paths.console_socket);
}

type Failure = (i32, String);

/// A `rm -f` (or a stop) came while the container was being started.
fn stopped_while_starting(id: &str) -> Failure {
    (
        125,
        format!(
            "container {} was stopped or removed while it was starting",
            &id[..12.min(id.len())]
        ),
    )
}

fn fail(e: impl std::fmt::Display) -> Failure {
    (125, e.to_string())
}

fn run_once(
    engine: &Engine,
    id: &str,
    opts: MonitorOptions,
    first: bool,
    report: &mut Option<&mut dyn Write>,
    failed_clients: &mut Vec<Client>,
) -> Result<Exit, Failure> {
    let t0 = Instant::now();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    engine.mark(id, "mon.begin");
    let rec = engine.resolve_container(id).map_err(fail)?;
    if rec.stop_requested {
        return Err(stopped_while_starting(id));
    }
    let config = ContainerConfig::from_record(&rec).map_err(fail)?;
    let paths = engine.container_paths(id);
    let args0 = config.path.clone();
    let super::bundle::Bundle {
        attachments,
        spec,
        netns,
    } = engine.prepare_bundle(&rec, &config).map_err(fail)?;
    // A subnet the host routes elsewhere (another bridge on the same range) leaves the
    // container unreachable without an error anywhere: say so to whoever started it.
    if let (true, super::NetworkMode::Bridge(name), Some(r)) =
        (first, &config.network, report.as_mut())
    {
        for clash in engine.subnet_clashes(Some(name)) {
            let _ = writeln!(r, "warning {clash}");
        }
    }
    let net_json = serde_json::to_string(&attachments).unwrap_or_default();
    tracing::debug!(container_id = id, ms = ms(t0), "bundle prepared");
    engine.mark(id, "mon.bundle");

    let sockets = paths
        .attach_socket
        .parent()
        .map(std::path::Path::to_path_buf);
    if let Some(dir) = &sockets {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let _ = std::fs::remove_file(&paths.attach_socket);
    let listener = UnixListener::bind(&paths.attach_socket).map_err(|e| {
        fail(format!(
            "attach socket {}: {e}",
            paths.attach_socket.display()
        ))
    })?;
    let ready_early = first && opts.wait_attach && opts.ready_before_create;
    if ready_early {
        tell(report, "ready");
    }
    let mut clients = Vec::new();
    let created = create_and_run(
        engine,
        id,
        opts,
        first,
        report,
        &mut clients,
        Prepared {
            config: &config,
            paths: &paths,
            spec,
            netns,
            listener: &listener,
            args0,
            net_json,
            t0,
        },
    );
    if let (Err((code, message)), true) = (&created, ready_early) {
        // The client was told to attach: it learns of the failure there (it may not have
        // been accepted yet).
        if clients.is_empty() {
            clients.extend(accept_first(&listener, &config));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for mut c in clients {
            if c.send_start_failed(*code, message) {
                c.drain(deadline);
                failed_clients.push(c);
            }
        }
    }
    created
}

/// What `run_once` prepared for the runtime.
struct Prepared<'a> {
    config: &'a ContainerConfig,
    paths: &'a super::ContainerPaths,
    spec: berth_runtime::spec::Spec,
    netns: Option<berth_net::Netns>,
    listener: &'a UnixListener,
    args0: String,
    net_json: String,
    t0: Instant,
}

/// The runtime's create and start, the container's run and its exit.
fn create_and_run(
    engine: &Engine,
    id: &str,
    opts: MonitorOptions,
    first: bool,
    report: &mut Option<&mut dyn Write>,
    clients: &mut Vec<Client>,
    prepared: Prepared<'_>,
) -> Result<Exit, Failure> {
    let Prepared {
        config,
        paths,
        spec,
        netns,
        listener,
        args0,
        net_json,
        t0,
    } = prepared;
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let tty = config.spec.tty;

    // Standard streams: pipes, or a pty the runtime makes and hands back over a socket.
    let mut stdio = Stdio::default();
    let console = if tty {
        let c = ConsoleSocket::bind(&paths.console_socket).map_err(fail)?;
        stdio.console_socket = Some(c.path().to_path_buf());
        Some(c)
    } else {
        None
    };
    let mut stdin_w: Option<OwnedFd> = None;
    let mut out_r: Option<OwnedFd> = None;
    let mut err_r: Option<OwnedFd> = None;
    if !tty {
        let (r, w) = nix::unistd::pipe().map_err(fail)?;
        out_r = Some(r);
        stdio.stdout = Some(w);
        let (r, w) = nix::unistd::pipe().map_err(fail)?;
        err_r = Some(r);
        stdio.stderr = Some(w);
        if config.spec.open_stdin {
            let (r, w) = nix::unistd::pipe().map_err(fail)?;
            stdio.stdin = Some(r);
            stdin_w = Some(w);
        } else {
            let null = std::fs::File::open("/dev/null").map_err(fail)?;
            stdio.stdin = Some(null.into());
        }
    }

    // `--runtime`, else BERTH_RUNTIME, else the default.
    let kind = berth_runtime::oci::RuntimeKind::select(config.spec.runtime.as_deref())
        .map_err(|e| (e.exit_code(), e.to_string()))?;
    let runtime = engine.oci_runtime().with_kind(kind);
    let _ = runtime.delete(id);
    // The container's processes are cloned here and keep what we ignore or block: they get
    // docker's default signal state.
    let pid = berth_runtime::signals::with_default_signals(|| {
        runtime.create(id, &paths.dir, &spec, &args0, stdio)
    })
    .map_err(|e: RuntimeError| (e.exit_code(), e.to_string()))?;
    // The container's processes hold its network namespace now.
    drop(netns);
    // SIGCHLD through a signalfd, so the loop below learns of the exit at once. Blocked only
    // now, after the clone; the process runs only from `start` on, so no exit is missed.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block().map_err(fail)?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(fail)?;
    tracing::debug!(container_id = id, ms = ms(t0), "created");
    engine.mark(id, "mon.created");
    let master = match &console {
        Some(c) => Some(c.accept_master(Duration::from_secs(10)).map_err(fail)?),
        None => None,
    };
    drop(console);
    if let Some(m) = &master {
        // berth's init set the created size already; libcontainer leaves the pty at 0×0.
        let (rows, cols) = config.spec.console_size.unwrap_or((24, 80));
        let _ = pty::set_winsize(m.as_fd(), rows, cols);
    }

    if first && opts.wait_attach {
        tell(report, "ready");
        match accept_first(listener, config) {
            Some(c) => clients.push(c),
            None if config.tied_to_client => {
                remove_when_done(engine, id);
                return Err((125, "its client went away before attaching".into()));
            }
            None => tracing::warn!(
                container_id = id,
                "nobody attached within 30s: starting anyway"
            ),
        }
    }
    // The log exists before the container can print and before anyone is told it started:
    // a `logs -f` (docker-py's `run` starts one, and removes the container before reading
    // it) opens it then, and reads what was written even after the file is gone.
    let defaults = JsonLogOptions::default();
    let log_options = JsonLogOptions {
        max_size: config.log.max_size.unwrap_or(defaults.max_size),
        max_files: config
            .log
            .max_file
            .map_or(defaults.max_files, |n| n as usize),
    };
    let mut log = JsonLogWriter::open(&paths.log, log_options).map_err(fail)?;
    engine.mark(id, "mon.go");
    runtime
        .start(id, &args0)
        .map_err(|e| (e.exit_code(), e.to_string()))?;
    engine.mark(id, "mon.started");
    engine
        .store
        .meta
        .write(|tx| {
            if let Some(mut r) = tx.container(id)? {
                r.state = ContainerState::Running;
                r.exit_code = 0;
                r.pid = i64::from(pid);
                r.monitor_pid = i64::from(std::process::id());
                r.started_at = now_nanos();
                r.error.clear();
                r.net = net_json.clone();
                tx.update_container(&r)?;
            }
            Ok::<_, EngineError>(())
        })
        .map_err(fail)?;
    engine.emit_container_id(id, crate::events::Action::Start, &[]);
    let mut health = super::health_probe::Prober::start(engine, id, config);
    engine.mark(id, "mon.recorded");
    if tell(report, "started") {
        // A detached start's client has its answer: make the next start's namespace now.
        engine.refill_netns_pool();
    }
    tracing::debug!(container_id = id, ms = ms(t0), "started");

    let bridged = matches!(config.network, super::NetworkMode::Bridge(_));
    let mut tick = || {
        if bridged {
            if let Ok(net) = engine.network() {
                if let Err(e) = net.ensure_neighbours() {
                    tracing::warn!(container_id = id, error = %e, "firewall neighbours");
                }
            }
        }
    };
    // A tied container whose client went is removed once it exits, as --rm does.
    let mut abandon = || remove_when_done(engine, id);
    let status = event_loop(
        pid,
        listener,
        &sigfd,
        clients,
        Streams {
            out: out_r.or_else(|| master.as_ref().and_then(|m| m.try_clone().ok())),
            err: err_r,
            stdin: stdin_w,
            master,
        },
        &mut log,
        Chores {
            tick: &mut tick,
            health: health.as_mut(),
            abandoned: if config.tied_to_client {
                Some(&mut abandon)
            } else {
                None
            },
        },
    );
    let _ = log.close();
    if let Some(h) = health {
        h.stop();
    }
    let code = match status {
        WaitStatus::Exited(_, c) => i64::from(c),
        WaitStatus::Signaled(_, s, _) => 128 + s as i64,
        _ => 255,
    };
    tracing::debug!(container_id = id, ms = ms(t0), code, "exited");
    engine.mark(id, "mon.exited");
    let oom_killed = code == 137 && engine.oom_killed(id);
    // Recorded before the clients hear of it, so that what they do next sees the exit.
    let restart = should_restart(engine, id, code);
    let state = if restart.is_some() {
        ContainerState::Restarting
    } else {
        ContainerState::Exited
    };
    if let Err(e) = record_exit(engine, id, code, oom_killed, "", state) {
        tracing::error!(container_id = id, error = %e, "cannot record the exit");
    }
    engine.emit_exit(id, code);
    // A client that reads gets the rest of its output and the exit; one that does not is
    // given a few seconds, not the monitor.
    let deadline = Instant::now() + Duration::from_secs(5);
    for c in clients.iter_mut() {
        if c.send_exit(code as i32) {
            c.drain(deadline);
        }
    }
    engine.mark(id, "mon.exit-sent");
    Ok(Exit {
        restart,
        clients: std::mem::take(clients),
    })
}

struct Streams {
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    master: Option<OwnedFd>,
}

/// Gives the spawner its answer, `line` (`ready`, `started`), if it still waits for one:
/// whether it did.
fn tell(report: &mut Option<&mut dyn Write>, line: &str) -> bool {
    let Some(r) = report.take() else {
        return false;
    };
    let _ = writeln!(r, "{line}");
    let _ = r.flush();
    true
}

/// The first client of a run that waits for one: `None` when none came in time. A build's
/// step is attached by its client at once: one that does not come died before it could (a
/// killed build), and the step must not run for nobody.
fn accept_first(listener: &UnixListener, config: &ContainerConfig) -> Option<Client> {
    let wait = Duration::from_secs(if config.tied_to_client { 10 } else { 30 });
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
    match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
        Ok(n) if n > 0 => listener.accept().ok().and_then(|(s, _)| client(s)),
        _ => None,
    }
}

fn client(stream: UnixStream) -> Option<Client> {
    Client::new(stream)
}

/// How often the loop's housekeeping (`tick`) runs while the container runs.
const TICK: Duration = Duration::from_secs(10);

/// What the loop does besides moving bytes: housekeeping every [`TICK`], and the
/// healthcheck's probes when the container has one.
struct Chores<'a> {
    tick: &'a mut dyn FnMut(),
    health: Option<&'a mut super::health_probe::Prober>,
    /// Called once when the last attached client goes (see `ContainerConfig::tied_to_client`).
    abandoned: Option<&'a mut dyn FnMut()>,
}

/// Copies output until the container's init exits and its streams drain; returns how it
/// exited.
fn event_loop(
    pid: i32,
    listener: &UnixListener,
    sigfd: &SignalFd,
    clients: &mut Vec<Client>,
    mut streams: Streams,
    log: &mut JsonLogWriter,
    chores: Chores<'_>,
) -> WaitStatus {
    let Chores {
        tick,
        mut health,
        mut abandoned,
    } = chores;
    let init = Pid::from_raw(pid);
    let mut next_tick = Instant::now() + TICK;
    let mut exited: Option<WaitStatus> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(status) = exited {
            let drained = streams.out.is_none() && streams.err.is_none();
            if drained || drain_deadline.is_some_and(|d| Instant::now() >= d) {
                return status;
            }
        }
        // Order: out, err, signalfd, listener, clients.
        let mut fds: Vec<PollFd> = Vec::new();
        let out_idx = streams.out.as_ref().map(|f| {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let err_idx = streams.err.as_ref().map(|f| {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        fds.push(PollFd::new(sigfd.as_fd(), PollFlags::POLLIN));
        let sig_idx = fds.len() - 1;
        fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        let listen_idx = fds.len() - 1;
        let first_client = fds.len();
        for c in clients.iter() {
            let mut events = PollFlags::POLLIN;
            if c.has_queued() {
                events |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(c.stream.as_fd(), events));
        }
        // While the container runs, wake for housekeeping (`tick`, every 10 s) and for the
        // healthcheck's timers.
        let timeout = if exited.is_some() {
            PollTimeout::from(50u16)
        } else {
            let mut wait = next_tick.saturating_duration_since(Instant::now());
            if let Some(h) = &health {
                wait = wait.min(h.wake_in());
            }
            // Rounded up: a timer is never polled a millisecond early, in a busy loop.
            let ms = wait.as_micros().div_ceil(1000);
            PollTimeout::from(u16::try_from(ms).unwrap_or(u16::MAX))
        };
        let polled = nix::poll::poll(&mut fds, timeout);
        if exited.is_none() {
            if Instant::now() >= next_tick {
                tick();
                next_tick = Instant::now() + TICK;
            }
            if let Some(h) = health.as_deref_mut() {
                h.poll();
            }
        }
        match polled {
            Ok(0) if exited.is_none() => continue,
            Err(_) => continue,
            _ => {}
        }
        let ready = |i: usize, fds: &[PollFd]| fds[i].revents().is_some_and(|r| !r.is_empty());
        let out_ready = out_idx.is_some_and(|i| ready(i, &fds));
        let err_ready = err_idx.is_some_and(|i| ready(i, &fds));
        let sig_ready = ready(sig_idx, &fds);
        let listen_ready = ready(listen_idx, &fds);
        let client_ready: Vec<PollFlags> = (0..clients.len())
            .map(|i| {
                fds[first_client + i]
                    .revents()
                    .unwrap_or(PollFlags::empty())
            })
            .collect();
        drop(fds);

        if out_ready {
            pump(&mut streams.out, frame::STDOUT, &mut buf, clients, log);
        }
        if err_ready {
            pump(&mut streams.err, frame::STDERR, &mut buf, clients, log);
        }
        if sig_ready {
            while let Ok(Some(_)) = sigfd.read_signal() {}
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(s) => {
                        if let Some(h) = health.as_deref_mut() {
                            if h.reaped(s) {
                                continue;
                            }
                        }
                        if s.pid() == Some(init) {
                            exited = Some(s);
                            // Output still in the pipes is read for a little while more.
                            drain_deadline = Some(Instant::now() + Duration::from_millis(500));
                        }
                    }
                }
            }
        }
        if listen_ready {
            if let Ok((s, _)) = listener.accept() {
                if let Some(c) = client(s) {
                    clients.push(c);
                }
            }
        }
        let mut gone = Vec::new();
        for (i, revents) in client_ready.into_iter().enumerate() {
            if revents.contains(PollFlags::POLLOUT) && !clients[i].flush() {
                gone.push(i);
                continue;
            }
            if !revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                continue;
            }
            match clients[i].reader.next() {
                Ok(Some(msg)) => handle_client(msg, init, &mut streams),
                Ok(None) | Err(_) => gone.push(i),
            }
        }
        let lost = !gone.is_empty();
        for i in gone.into_iter().rev() {
            clients.remove(i);
        }
        if lost && clients.is_empty() && exited.is_none() {
            if let Some(f) = abandoned.take() {
                tracing::warn!(pid, "the client went away: killing its step's container");
                f();
                let _ = nix::sys::signal::kill(init, Signal::SIGKILL);
            }
        }
    }
}

fn handle_client(msg: ClientMsg, init: Pid, streams: &mut Streams) {
    match msg {
        ClientMsg::Stdin(data) => {
            if let Some(fd) = streams.stdin.as_ref().or(streams.master.as_ref()) {
                write_all_fd(fd, &data);
            }
        }
        ClientMsg::CloseStdin => {
            streams.stdin = None;
        }
        ClientMsg::Resize { rows, cols } => {
            if let Some(m) = &streams.master {
                let _ = pty::set_winsize(m.as_fd(), rows, cols);
                let _ = nix::sys::signal::kill(init, Signal::SIGWINCH);
            }
        }
        ClientMsg::Signal(sig) => {
            if let Ok(s) = Signal::try_from(sig) {
                let _ = nix::sys::signal::kill(init, s);
            }
        }
    }
}

fn write_all_fd(fd: &OwnedFd, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return,
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// Reads what is there from one stream into the log and every client; EOF (or EIO, a
/// closed pty) closes the stream.
fn pump(
    stream: &mut Option<OwnedFd>,
    kind: u8,
    buf: &mut [u8],
    clients: &mut Vec<Client>,
    log: &mut JsonLogWriter,
) {
    let Some(fd) = stream.as_ref() else { return };
    match nix::unistd::read(fd.as_raw_fd(), buf) {
        Ok(0) | Err(nix::errno::Errno::EIO) => *stream = None,
        Ok(n) => {
            let data = &buf[..n];
            let which = if kind == frame::STDERR {
                LogStream::Stderr
            } else {
                LogStream::Stdout
            };
            if let Err(e) = log.write(which, data) {
                tracing::warn!(error = %e, "json log write");
            }
            // The attach stream is always framed (a tty's output as stdout), so that the
            // exit frame can follow it. Queued, never blocking: see `attach_client`.
            clients.retain_mut(|c| c.send_frame(kind, data));
        }
        Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {}
        Err(_) => *stream = None,
    }
}
