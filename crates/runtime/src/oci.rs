//! The seam to the OCI runtime: youki's `libcontainer`, driven in-process, or berth's own
//! init (`crate::init`) for `create` and `start`.
//!
//! Which one creates a container is its [`RuntimeKind`]; everything after `create` follows
//! from the container's directory under the root: berth's init leaves libcontainer's state
//! files there too (so `kill`, `pause`, `resume`, `delete`, `exec` are libcontainer's for
//! both), plus the `exec.fifo` its `start` opens.
//!
//! Every call here that creates a process (`create`, `exec`) clones without exec and so must
//! run in a single-threaded process (youki#3011: a lock held by another thread at clone time
//! is never released in the child). The monitor and the CLI are single-threaded; `berth serve`
//! must go through a monitor.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::oci_spec::runtime::{LinuxSeccomp, Spec};
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

/// Why the runtime failed. `NotFound` and `NotExecutable` map to exit codes 127 and 126.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    #[error("container {id}: {op}: {reason}")]
    Failed {
        id: String,
        op: &'static str,
        reason: String,
    },
}

impl RuntimeError {
    /// The exit code docker uses for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::NotFound(_) => 127,
            Self::NotExecutable(_) => 126,
            Self::Failed { .. } => 125,
        }
    }
}

/// Where the process's standard streams go. `None` leaves the stream as the runtime gives it
/// (the caller's own).
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// For a terminal: the socket on which the runtime sends the pty master.
    pub console_socket: Option<PathBuf>,
}

/// Which runtime creates and starts a container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RuntimeKind {
    /// youki's libcontainer (the reference, and what a cgroup v2 host uses).
    Libcontainer,
    /// berth's own init (`crate::init`); libcontainer on a cgroup v2 host.
    #[default]
    Berth,
}

impl std::str::FromStr for RuntimeKind {
    type Err = RuntimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "libcontainer" | "youki" => Ok(Self::Libcontainer),
            "berth" => Ok(Self::Berth),
            other => Err(RuntimeError::Failed {
                id: String::new(),
                op: "select runtime",
                reason: format!("unknown runtime {other:?}: use berth or libcontainer"),
            }),
        }
    }
}

impl std::fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Libcontainer => "libcontainer",
            Self::Berth => "berth",
        })
    }
}

impl RuntimeKind {
    /// The environment variable that picks the runtime of containers that did not ask for
    /// one (so that a whole test suite can run on either).
    pub const ENV: &'static str = "BERTH_RUNTIME";

    /// `requested` (a container's `--runtime`), else `$BERTH_RUNTIME`, else the default.
    pub fn select(requested: Option<&str>) -> Result<Self, RuntimeError> {
        if let Some(r) = requested.filter(|r| !r.is_empty()) {
            return r.parse();
        }
        match std::env::var(Self::ENV) {
            Ok(v) if !v.is_empty() => v.parse(),
            _ => Ok(Self::default()),
        }
    }
}

/// The runtime with its state kept below `root` (one directory per container).
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    kind: RuntimeKind,
}

fn classify(id: &str, op: &'static str, args0: &str, e: impl std::fmt::Display) -> RuntimeError {
    // libcontainer reports a failed exec only as text; its executor's wording is stable.
    let reason = e.to_string();
    if reason.contains("not found in $PATH") {
        return RuntimeError::NotFound(args0.to_string());
    }
    if reason.contains("does not have correct permissions") {
        return RuntimeError::NotExecutable(args0.to_string());
    }
    RuntimeError::Failed {
        id: id.to_string(),
        op,
        reason,
    }
}

fn from_init(id: &str, op: &'static str, e: crate::init::InitError) -> RuntimeError {
    use crate::init::InitError;
    match e {
        InitError::NotFound(a) => RuntimeError::NotFound(a),
        InitError::NotExecutable(a) => RuntimeError::NotExecutable(a),
        other => RuntimeError::Failed {
            id: id.to_string(),
            op,
            reason: other.to_string(),
        },
    }
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            kind: RuntimeKind::default(),
        }
    }

    /// The same root, creating containers with `kind`.
    pub fn with_kind(mut self, kind: RuntimeKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn kind(&self) -> RuntimeKind {
        self.kind
    }

    /// berth's init, sharing this root; compiled seccomp programs go next to it.
    fn init(&self) -> crate::init::InitRuntime {
        let cache = match self.root.parent() {
            Some(p) => p.join("seccomp"),
            None => self.root.join(".seccomp"),
        };
        crate::init::InitRuntime::new(&self.root, cache)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn builder(&self, id: &str, stdio: Stdio) -> Result<ContainerBuilder, RuntimeError> {
        let mut b = ContainerBuilder::new(id.to_string(), SyscallType::Linux)
            .with_executor(DefaultExecutor {})
            .with_root_path(&self.root)
            .map_err(|e| classify(id, "create", "", e))?
            .with_console_socket(stdio.console_socket);
        if let Some(fd) = stdio.stdin {
            b = b.with_stdin(fd);
        }
        if let Some(fd) = stdio.stdout {
            b = b.with_stdout(fd);
        }
        if let Some(fd) = stdio.stderr {
            b = b.with_stderr(fd);
        }
        Ok(b)
    }

    /// Creates the container from the bundle (`config.json` + rootfs): its init process
    /// waits, namespaces and cgroup ready, until `start`. Returns the init's pid, which is a
    /// child of the calling process. `spec` is what `config.json` holds: berth's init takes
    /// it as it is (parsing the file back cost ~0.4 ms of each start); libcontainer reads the
    /// file.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        spec: &Spec,
        args0: &str,
        stdio: Stdio,
    ) -> Result<i32, RuntimeError> {
        // berth's init handles cgroup v1 only; a unified host keeps libcontainer.
        let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        if self.kind == RuntimeKind::Berth && !unified {
            return self
                .init()
                .create(id, bundle, spec, stdio)
                .map_err(|e| from_init(id, "create", e));
        }
        let container = self
            .builder(id, stdio)?
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| classify(id, "create", args0, e))?;
        container
            .pid()
            .map(|p| p.as_raw())
            .ok_or_else(|| RuntimeError::Failed {
                id: id.to_string(),
                op: "create",
                reason: "the runtime reported no init pid".into(),
            })
    }

    fn load(&self, id: &str, op: &'static str) -> Result<Container, RuntimeError> {
        Container::load(self.root.join(id)).map_err(|e| classify(id, op, "", e))
    }

    /// Lets the created container's init exec the user's process.
    pub fn start(&self, id: &str, args0: &str) -> Result<(), RuntimeError> {
        let init = self.init();
        if init.owns(id) {
            return init.start(id).map_err(|e| from_init(id, "start", e));
        }
        self.load(id, "start")?
            .start()
            .map_err(|e| classify(id, "start", args0, e))
    }

    /// Sends `signal` (a name like `SIGTERM`/`TERM` or a number) to the container's init.
    pub fn kill(&self, id: &str, signal: &str) -> Result<(), RuntimeError> {
        let sig = Signal::try_from(signal).map_err(|e| RuntimeError::Failed {
            id: id.to_string(),
            op: "kill",
            reason: format!("invalid signal {signal:?}: {e}"),
        })?;
        self.load(id, "kill")?
            .kill(sig, true)
            .map_err(|e| classify(id, "kill", "", e))
    }

    /// Freezes every process of the container (cgroup freezer).
    pub fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id, "pause")?
            .pause()
            .map_err(|e| classify(id, "pause", "", e))
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.load(id, "resume")?
            .resume()
            .map_err(|e| classify(id, "resume", "", e))
    }

    /// Removes the runtime's state and cgroup of a container (killing what is left).
    pub fn delete(&self, id: &str) -> Result<(), RuntimeError> {
        let gone = || !self.root.join(id).exists();
        if gone() {
            return Ok(());
        }
        let init = self.init();
        if init.created(id) {
            return init.delete(id).map_err(|e| from_init(id, "delete", e));
        }
        // Another process (the monitor, or rm) may delete it meanwhile: gone is done.
        let result = self
            .load(id, "delete")
            .and_then(|mut c| c.delete(true).map_err(|e| classify(id, "delete", "", e)));
        match result {
            Err(_) if gone() => Ok(()),
            other => other,
        }
    }

    /// Starts another process in a running container, described by an OCI process JSON file.
    /// Returns its pid (a child of the caller), once it has exec'd.
    ///
    /// A container berth's init created gets its exec from the init too
    /// ([`crate::init::InitRuntime::exec`]). For one libcontainer created: libcontainer 0.7
    /// builds the exec'd process's spec without the container's seccomp profile; `seccomp`
    /// is the container's, re-applied by our executor just before exec. Loading a filter
    /// without CAP_SYS_ADMIN needs no_new_privs, so such a process under seccomp runs with
    /// no_new_privs (setuid binaries do not gain privileges in it).
    pub fn exec(
        &self,
        id: &str,
        process_json: &Path,
        args0: &str,
        stdio: Stdio,
        seccomp: Option<LinuxSeccomp>,
    ) -> Result<i32, RuntimeError> {
        let init = self.init();
        if init.created(id) {
            let process = read_process(process_json).map_err(|reason| RuntimeError::Failed {
                id: id.to_string(),
                op: "exec",
                reason,
            })?;
            return init
                .exec(id, &process, stdio)
                .map_err(|e| from_init(id, "exec", e));
        }
        // Non-dumpable across libcontainer's clones, as berth's init does it: until its exec
        // the process in the container is a copy of our binary, and a dumpable one could be
        // ptraced or have its /proc/PID/exe opened by the container (CVE-2019-5736's shape).
        // The flag belongs to the memory map, so the clones inherit it; exec resets it.
        let dumpable = nix::sys::prctl::get_dumpable().unwrap_or(true);
        let _ = nix::sys::prctl::set_dumpable(false);
        let built = self.builder(id, stdio).and_then(|b| {
            b.with_executor(SeccompExecutor { seccomp })
                .as_tenant()
                .with_process(Some(process_json))
                .with_detach(true)
                .build()
                .map_err(|e| classify(id, "exec", args0, e))
        });
        let _ = nix::sys::prctl::set_dumpable(dumpable);
        Ok(built?.as_raw())
    }
}

/// The OCI process in `path`.
fn read_process(path: &Path) -> Result<libcontainer::oci_spec::runtime::Process, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs the workload as libcontainer's default executor does, after loading a seccomp
/// filter when one is given (see [`Runtime::exec`]).
#[derive(Clone)]
struct SeccompExecutor {
    seccomp: Option<LinuxSeccomp>,
}

impl Executor for SeccompExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(profile) = &self.seccomp {
            nix::sys::prctl::set_no_new_privs()
                .map_err(|e| ExecutorError::Other(format!("set no_new_privs: {e}")))?;
            libcontainer::seccomp::initialize_seccomp(profile)
                .map_err(|e| ExecutorError::Other(format!("load the seccomp profile: {e}")))?;
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}
