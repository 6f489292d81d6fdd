//! berth's own container init: `create` and `start` for the subset of the OCI spec that
//! `crate::spec` emits, on cgroup v1 hosts (a unified host goes to libcontainer).
//!
//! Why not libcontainer for these two: it moves the init into each v1 hierarchy from the
//! parent (an RCU grace period per hierarchy, ~18 ms) and compiles the seccomp profile inside
//! every init (~11 ms). Here the parent makes and limits the cgroups, the init joins them by
//! writing `0` to `tasks`, and the filter is compiled once per profile (`seccomp`), loaded
//! by the init while it still holds CAP_SYS_ADMIN.
//!
//! The container directory under the runtime root gets libcontainer's `state.json` and
//! `youki_config.json`, so that `kill`, `pause`, `resume`, `delete` and `exec` go through
//! libcontainer unchanged; `exec.fifo` marks a container this init created (its `start`
//! opens the fifo the waiting init is blocked on, as runc's does).
//!
//! Must run in a single-threaded process (the monitor): the init is a fork-like clone.
//!
//! ```no_run
//! use berth_runtime::init::InitRuntime;
//! let bundle = std::path::Path::new("/var/lib/berth/containers/abc");
//! let spec = berth_runtime::spec::Spec::load(bundle.join("config.json"))?;
//! let rt = InitRuntime::new("/run/berth/lc", "/run/berth/seccomp");
//! let pid = rt.create("abc", bundle, &spec, Default::default())?;
//! rt.start("abc")?;
//! # let _ = pid;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cgroup;
mod child;
mod plan;
pub mod seccomp;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libcontainer::config::YoukiConfig;
use libcontainer::container::{ContainerStatus, State};
use libcontainer::oci_spec::runtime::Spec;

use crate::oci::Stdio;
use child::{ChildFds, Step};
use plan::{MountOp, Plan};

/// Why berth's init could not create or start a container.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("unsupported spec: {0}")]
    Spec(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    #[error("container init: {step}: {source}")]
    Child {
        step: String,
        source: std::io::Error,
    },
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    #[error("runtime state: {0}")]
    State(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> InitError {
    let what = what.into();
    move |source| InitError::Io { what, source }
}

/// berth's init, with per-container state below `root` (libcontainer's layout) and compiled
/// seccomp programs cached in `seccomp_cache`.
#[derive(Debug, Clone)]
pub struct InitRuntime {
    root: PathBuf,
    seccomp_cache: PathBuf,
}

const FIFO: &str = "exec.fifo";
/// The container's cgroup directories, one per line: written at create, it also marks a
/// container this init created (for `delete`).
const CGROUPS: &str = "berth-cgroups";

impl InitRuntime {
    pub fn new(root: impl Into<PathBuf>, seccomp_cache: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            seccomp_cache: seccomp_cache.into(),
        }
    }

    /// Whether berth's init created container `id` and has yet to start it.
    pub fn owns(&self, id: &str) -> bool {
        self.root.join(id).join(FIFO).exists()
    }

    /// Whether berth's init created container `id` (and so deletes it).
    pub fn created(&self, id: &str) -> bool {
        self.root.join(id).join(CGROUPS).exists()
    }

    /// Removes what create made for container `id`: kills the processes left in its
    /// cgroups (none, after its init exited: they die with its PID namespace), removes the
    /// cgroup directories and the state directory. Gone already is done.
    ///
    /// libcontainer's delete does the same in ~3 ms (it loads the whole saved spec); the
    /// rmdirs themselves take ~0.4 ms for the eleven hierarchies of this host.
    pub fn delete(&self, id: &str) -> Result<(), InitError> {
        let dir = self.root.join(id);
        let listed = match std::fs::read_to_string(dir.join(CGROUPS)) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(format!("read {}", dir.join(CGROUPS).display()))(e)),
        };
        let dirs: Vec<PathBuf> = listed.lines().map(PathBuf::from).collect();
        cgroup::kill_and_remove(&dirs)?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(format!("remove {}", dir.display()))(e)),
        }
    }

    /// Creates the container of `bundle` (`config.json` + rootfs; `spec` is what
    /// `config.json` holds): returns the pid of its init, a child of the caller, waiting in
    /// its namespaces and cgroups for `start`.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        spec: &Spec,
        stdio: Stdio,
    ) -> Result<i32, InitError> {
        let dir = self.root.join(id);
        std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| InitError::Spec("no linux section".into()))?;
        let cg_path = linux
            .cgroups_path()
            .clone()
            .ok_or_else(|| InitError::Spec("no cgroupsPath".into()))?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(io("read /proc/self/mountinfo"))?;
        let hierarchies = cgroup::hierarchies(&mountinfo);
        let cgroups = cgroup::setup(&hierarchies, &cg_path, linux.resources().as_ref())?;
        let listed: String = cgroups
            .dirs
            .iter()
            .map(|(_, d)| format!("{}\n", d.display()))
            .collect();
        let result = std::fs::write(dir.join(CGROUPS), listed)
            .map_err(io(format!("write {}", dir.join(CGROUPS).display())))
            .and_then(|()| self.spawn(id, bundle, spec, &dir, &cgroups, stdio));
        if result.is_err() {
            cgroup::remove(&cgroups);
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    fn spawn(
        &self,
        id: &str,
        bundle: &Path,
        spec: &Spec,
        dir: &Path,
        cgroups: &cgroup::Cgroups,
        stdio: Stdio,
    ) -> Result<i32, InitError> {
        let linux = spec.linux().as_ref();
        let prog = linux
            .and_then(|l| l.seccomp().as_ref())
            .map(|s| seccomp::program(s, &self.seccomp_cache))
            .transpose()?;
        let mut plan = plan::build(spec, false, last_cap(), prog)?;
        expand_cgroup_mount(&mut plan, cgroups)?;
        let fifo = make_fifo(&dir.join(FIFO))?;
        let child_io = ChildIo::new(stdio)?;
        let fds = child_io.fds(fifo.as_raw_fd(), &cgroups.tasks);
        let pid = child::spawn(&plan, &fds, child::Mode::Create)
            .map_err(io("clone the container's init"))?;
        drop(fifo);
        let sync_r = child_io.into_sync_reader();
        if let Err(e) = wait_ready(sync_r, &plan.args0, &plan.mounts) {
            reap(pid);
            return Err(e);
        }
        let mut state = State::new(
            id,
            ContainerStatus::Created,
            Some(pid),
            bundle.to_path_buf(),
        );
        state.created = Some(chrono::Utc::now());
        state.creator = Some(0);
        let saved = state
            .save(dir)
            .map_err(|e| InitError::State(e.to_string()))
            .and_then(|()| {
                YoukiConfig::from_spec(spec, id)
                    .and_then(|c| c.save(dir))
                    .map_err(|e| InitError::State(e.to_string()))
            });
        if let Err(e) = saved {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            reap(pid);
            return Err(e);
        }
        Ok(pid)
    }

    /// Lets the created container's init exec its process.
    pub fn start(&self, id: &str) -> Result<(), InitError> {
        let dir = self.root.join(id);
        let mut state = State::load(&dir).map_err(|e| InitError::State(e.to_string()))?;
        let pid = state
            .pid
            .ok_or_else(|| InitError::State(format!("container {id}: no init pid")))?;
        let fifo_path = dir.join(FIFO);
        let fifo = rustix::fs::open(
            &fifo_path,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| InitError::Io {
            what: format!("open {}", fifo_path.display()),
            source: e.into(),
        })?;
        wait_fifo(&fifo, pid)?;
        let _ = std::fs::remove_file(&fifo_path);
        state.status = ContainerStatus::Running;
        state
            .save(&dir)
            .map_err(|e| InitError::State(e.to_string()))
    }
}

impl InitRuntime {
    /// Starts `process` (an OCI process, as `runc exec --process` takes) in running container
    /// `id`, which this init created: returns its pid, a child of the caller, once it has
    /// exec'd. A failure before the exec (no such executable, a limit, a namespace) is an
    /// error here, with docker's exit codes for not-found and not-executable.
    ///
    /// It joins the container's namespaces (through its init's `/proc/PID/ns`), its cgroups
    /// (by writing `0` to each `tasks`, as the init did), gets the container's seccomp filter
    /// from the cache while it still holds CAP_SYS_ADMIN (so `no_new_privs` only when the
    /// container has it, unlike libcontainer's tenant path), and a terminal of the given size.
    ///
    /// The caller is made non-dumpable for the clone: until the exec the child is a copy of
    /// the caller (a host binary) inside the container's PID namespace, and a dumpable process
    /// there could be ptraced or have its `/proc/PID/exe` opened by the container
    /// (CVE-2019-5736's shape). Its own PID namespace for children is restored after.
    pub fn exec(
        &self,
        id: &str,
        process: &libcontainer::oci_spec::runtime::Process,
        stdio: Stdio,
    ) -> Result<i32, InitError> {
        let dir = self.root.join(id);
        let state = State::load(&dir).map_err(|e| InitError::State(e.to_string()))?;
        let not_running = || InitError::State(format!("container {id} is not running"));
        let init_pid = state.pid.filter(|p| alive(*p)).ok_or_else(not_running)?;
        // A pidfd holds on to this process: should the init exit (and its pid be reused by
        // another process) before its namespace files are open, the pidfd says so.
        let pidfd = rustix::process::Pid::from_raw(init_pid)
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok())
            .ok_or_else(not_running)?;
        let spec = Spec::load(state.bundle.join("config.json"))
            .map_err(|e| InitError::Spec(format!("{}: {e}", state.bundle.display())))?;
        let prog = spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .map(|s| seccomp::program(s, &self.seccomp_cache))
            .transpose()?;
        let (plan, pid_ns) = plan::build_exec(&spec, process, init_pid, last_cap(), prog)?;
        // The namespace files are the init's only if it was still there once they were open.
        if exited(&pidfd) {
            return Err(not_running());
        }
        let listed = std::fs::read_to_string(dir.join(CGROUPS))
            .map_err(io(format!("read {}", dir.join(CGROUPS).display())))?;
        let tasks = listed
            .lines()
            .map(|d| {
                let path = Path::new(d).join("tasks");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(OwnedFd::from)
                    .map_err(io(format!("open {}", path.display())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let child_io = ChildIo::new(stdio)?;
        let fds = child_io.fds(-1, &tasks);
        let pid = in_pid_namespace(pid_ns.as_ref(), || {
            child::spawn(&plan, &fds, child::Mode::Exec)
        })?
        .map_err(io("clone the exec'd process"))?;
        drop(tasks);
        let sync_r = child_io.into_sync_reader();
        match exec_result(sync_r, &plan.args0) {
            Ok(()) => Ok(pid),
            Err(e) => {
                reap(pid);
                Err(e)
            }
        }
    }
}

/// The parent's ends of what a cloned child uses: the sync pipe and the stdio the child
/// takes over (numbered 3 or more), the console socket connected.
struct ChildIo {
    sync_r: OwnedFd,
    sync_w: OwnedFd,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    console: Option<UnixStream>,
}

impl ChildIo {
    fn new(stdio: Stdio) -> Result<Self, InitError> {
        let (sync_r, sync_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| InitError::Io {
                what: "sync pipe".into(),
                source: e.into(),
            })?;
        let high = |fd: Option<OwnedFd>| fd.map(|f| dup_high(&f)).transpose();
        let console = stdio
            .console_socket
            .as_ref()
            .map(|p| UnixStream::connect(p).map_err(io(format!("console socket {}", p.display()))))
            .transpose()?;
        Ok(Self {
            sync_r,
            sync_w,
            stdin: high(stdio.stdin)?,
            stdout: high(stdio.stdout)?,
            stderr: high(stdio.stderr)?,
            console,
        })
    }

    /// The numbers the child uses (`fifo` -1 for none).
    fn fds(&self, fifo: std::os::fd::RawFd, tasks: &[OwnedFd]) -> ChildFds {
        let raw = |f: &Option<OwnedFd>| f.as_ref().map(|f| f.as_raw_fd());
        ChildFds {
            sync: self.sync_w.as_raw_fd(),
            fifo,
            stdin: raw(&self.stdin),
            stdout: raw(&self.stdout),
            stderr: raw(&self.stderr),
            console: self.console.as_ref().map(|c| c.as_raw_fd()),
            tasks: tasks.iter().map(|f| f.as_raw_fd()).collect(),
        }
    }

    /// After the clone: closes our copies of what the child took (so its exit or exec is
    /// seen as the pipe's end) and keeps the read end.
    fn into_sync_reader(self) -> OwnedFd {
        self.sync_r
    }
}

/// Runs `f` (a clone) with the caller non-dumpable and its children's PID namespace `ns`;
/// both are put back after, best effort: once `f` has cloned, its result (a pid to reap) is
/// what the caller needs, whatever the restoring does.
fn in_pid_namespace<T>(ns: Option<&OwnedFd>, f: impl FnOnce() -> T) -> Result<T, InitError> {
    let fail = |what: &str| {
        let what = what.to_string();
        move |e: nix::errno::Errno| InitError::Io {
            what,
            source: e.into(),
        }
    };
    let dumpable = nix::sys::prctl::get_dumpable().map_err(fail("read the dumpable flag"))?;
    nix::sys::prctl::set_dumpable(false).map_err(fail("clear the dumpable flag"))?;
    let restore_dumpable = || {
        if let Err(e) = nix::sys::prctl::set_dumpable(dumpable) {
            tracing::warn!(error = %e, "restore the dumpable flag");
        }
    };
    let own = match ns {
        Some(ns) => {
            let entered = std::fs::File::open("/proc/self/ns/pid")
                .map_err(io("open our own PID namespace"))
                .and_then(|own| {
                    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWPID)
                        .map_err(fail("enter the container's PID namespace"))
                        .map(|()| own)
                });
            match entered {
                Ok(own) => Some(own),
                Err(e) => {
                    restore_dumpable();
                    return Err(e);
                }
            }
        }
        None => None,
    };
    let out = f();
    if let Some(own) = own {
        if let Err(e) = nix::sched::setns(&own, nix::sched::CloneFlags::CLONE_NEWPID) {
            tracing::warn!(error = %e, "return to our own PID namespace");
        }
    }
    restore_dumpable();
    Ok(out)
}

/// Reads the exec'd child's sync pipe to its end: nothing means it exec'd (the pipe closes
/// on exec), a message says why it could not.
fn exec_result(sync: OwnedFd, args0: &str) -> Result<(), InitError> {
    let (buf, got) = read_message(sync, "read the exec'd process's sync pipe")?;
    match got {
        0 => Ok(()),
        16 => decode_failure(&buf, args0, &[]),
        _ => Err(InitError::Child {
            step: "exec".into(),
            source: std::io::Error::other("a short message on the sync pipe"),
        }),
    }
}

/// The highest capability number this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The fifo `start` opens; writable by the container's user (runc's mode), open `O_PATH`.
fn make_fifo(path: &Path) -> Result<OwnedFd, InitError> {
    let _ = std::fs::remove_file(path);
    let what = || format!("exec fifo {}", path.display());
    let mode = rustix::fs::Mode::from_raw_mode(0o622);
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, mode, 0)
        .and_then(|()| rustix::fs::chmod(path, mode))
        .map_err(|e| InitError::Io {
            what: what(),
            source: e.into(),
        })?;
    rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| InitError::Io {
        what: what(),
        source: e.into(),
    })
}

/// A copy of `fd` numbered 3 or more, so that the init's dup2 onto 0–2 never clobbers a
/// source it has yet to use.
fn dup_high(fd: &OwnedFd) -> Result<OwnedFd, InitError> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| InitError::Io {
        what: "duplicate a stdio fd".into(),
        source: e.into(),
    })
}

/// A privileged container on cgroup v1 sees its own cgroups: a tmpfs at the cgroup mount
/// with each hierarchy's directory of the container bound below it (what runc does;
/// mounting cgroupfs itself would show the host's whole tree).
fn expand_cgroup_mount(plan: &mut Plan, cgroups: &cgroup::Cgroups) -> Result<(), InitError> {
    let Some(i) = plan
        .mounts
        .iter()
        .position(|m| m.fstype.as_deref() == Some(c"cgroup"))
    else {
        return Ok(());
    };
    let base = plan.mounts[i].destination.clone();
    let keep = plan.mounts[i].flags
        & (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC);
    let tmpfs = libcontainer::oci_spec::runtime::MountBuilder::default()
        .destination(PathBuf::from(&base))
        .typ("tmpfs")
        .source("tmpfs")
        .options(vec![
            "nosuid".into(),
            "nodev".into(),
            "noexec".into(),
            "mode=755".into(),
        ])
        .build()
        .map_err(|e| InitError::Spec(e.to_string()))?;
    let mut ops = vec![plan::mount_op(&tmpfs, false)?];
    for (h, dir) in &cgroups.dirs {
        let bind = libcontainer::oci_spec::runtime::MountBuilder::default()
            .destination(Path::new(&base).join(h.name()))
            .typ("bind")
            .source(dir.clone())
            .options(vec![
                "rbind".into(),
                "nosuid".into(),
                "nodev".into(),
                "noexec".into(),
            ])
            .build()
            .map_err(|e| InitError::Spec(e.to_string()))?;
        let mut op = plan::mount_op(&bind, false)?;
        if keep & libc::MS_RDONLY != 0 {
            op.remount = op.remount.map(|f| f | libc::MS_RDONLY);
        }
        ops.push(op);
    }
    plan.mounts.splice(i..=i, ops);
    Ok(())
}

/// Reads the child's one fixed-size message from the sync pipe, up to the pipe's end; returns
/// it and how many bytes came (fewer when the child exec'd or died first).
fn read_message(sync: OwnedFd, what: &str) -> Result<([u8; 16], usize), InitError> {
    let mut f = std::fs::File::from(sync);
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(what)(e)),
        }
    }
    Ok((buf, got))
}

/// Reads the init's one message: ready, or why it failed.
fn wait_ready(sync: OwnedFd, args0: &str, mounts: &[MountOp]) -> Result<(), InitError> {
    let (buf, got) = read_message(sync, "read the init's sync pipe")?;
    if got < buf.len() {
        return Err(InitError::Child {
            step: "start".into(),
            source: std::io::Error::other("the init exited without a word"),
        });
    }
    decode_failure(&buf, args0, mounts)
}

/// What the child's message says: `Ok` for ready, else the failure it names.
fn decode_failure(buf: &[u8; 16], args0: &str, mounts: &[MountOp]) -> Result<(), InitError> {
    let (kind, step, index, errno) = child::decode(buf);
    match kind {
        child::READY => Ok(()),
        child::NOT_FOUND => Err(InitError::NotFound(args0.to_string())),
        child::NOT_EXECUTABLE => Err(InitError::NotExecutable(args0.to_string())),
        _ => {
            let step = Step::from_u32(step);
            let mut name = step.map_or("an unknown step", Step::name).to_string();
            if step == Some(Step::Mount) {
                if let Some(m) = mounts.get(index as usize) {
                    name = format!("{name} {}", m.destination);
                }
            }
            Err(InitError::Child {
                step: name,
                source: std::io::Error::from_raw_os_error(errno),
            })
        }
    }
}

/// Waits until the init has the fifo open for writing and has written its byte.
fn wait_fifo(fifo: &OwnedFd, pid: i32) -> Result<(), InitError> {
    use rustix::event::{poll, PollFd, PollFlags};
    loop {
        let mut fds = [PollFd::new(fifo, PollFlags::IN)];
        match poll(&mut fds, 100) {
            Ok(0) | Err(rustix::io::Errno::INTR) => {}
            Ok(_) => {
                let mut b = [0u8; 1];
                match rustix::io::read(fifo, &mut b) {
                    Ok(1) => return Ok(()),
                    Ok(_) | Err(rustix::io::Errno::AGAIN) => {}
                    Err(e) => return Err(io("read the exec fifo")(e.into())),
                }
            }
            Err(e) => return Err(io("poll the exec fifo")(e.into())),
        }
        if !alive(pid) {
            return Err(InitError::Child {
                step: "wait for start".into(),
                source: std::io::Error::other("the init exited before start"),
            });
        }
        // A writer that came and went without a byte would leave POLLHUP set: do not spin.
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether the process of `pidfd` has exited (a pidfd turns readable then).
fn exited(pidfd: &OwnedFd) -> bool {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    !matches!(poll(&mut fds, 0), Ok(0))
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "PID (COMM) STATE ...": COMM may contain spaces and parentheses.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|s| s != "Z" && s != "X")
}

fn reap(pid: i32) {
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
}
