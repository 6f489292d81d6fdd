//! The clone and everything the container's init does before it execs the user's process.
//!
//! Only raw syscalls live here. The parent (the monitor, single-threaded) builds the whole
//! [`Plan`] and every pointer array before the clone; the child reads it, makes syscalls on
//! stack buffers, and never allocates, locks or unwinds: a failure is one fixed-size message
//! on the sync pipe and `_exit`.
#![allow(unsafe_code)]

use std::ffi::{c_char, CStr};
use std::os::fd::RawFd;

use super::plan::{MountOp, Plan};

/// The fds the child uses, all open (close-on-exec) in the parent before the clone.
#[derive(Debug, Default)]
pub struct ChildFds {
    /// Write end of the sync pipe: `READY` or a failure.
    pub sync: RawFd,
    /// `O_PATH` of the exec fifo: opened for writing, it blocks until `start`.
    pub fifo: RawFd,
    pub stdin: Option<RawFd>,
    pub stdout: Option<RawFd>,
    pub stderr: Option<RawFd>,
    /// A connected console socket (for a terminal): the pty master goes there.
    pub console: Option<RawFd>,
    /// One `tasks` file per cgroup hierarchy.
    pub tasks: Vec<RawFd>,
}

/// What the child reports on the sync pipe.
pub const READY: u32 = 0;
pub const FAILED: u32 = 1;
pub const NOT_FOUND: u32 = 2;
pub const NOT_EXECUTABLE: u32 = 3;

/// The init's steps, named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    Stdio,
    Session,
    JoinNamespace,
    JoinCgroup,
    CgroupNamespace,
    Sysctl,
    Hostname,
    Propagation,
    BindRoot,
    OpenRoot,
    Mount,
    PivotRoot,
    Devices,
    Console,
    MaskPath,
    ReadonlyPath,
    ReadonlyRoot,
    OomScoreAdj,
    Rlimit,
    Chdir,
    Seccomp,
    Capabilities,
    User,
    NoNewPrivs,
    Ready,
    Lookup,
    WaitStart,
    Exec,
}

const STEPS: [Step; 28] = [
    Step::Stdio,
    Step::Session,
    Step::JoinNamespace,
    Step::JoinCgroup,
    Step::CgroupNamespace,
    Step::Sysctl,
    Step::Hostname,
    Step::Propagation,
    Step::BindRoot,
    Step::OpenRoot,
    Step::Mount,
    Step::PivotRoot,
    Step::Devices,
    Step::Console,
    Step::MaskPath,
    Step::ReadonlyPath,
    Step::ReadonlyRoot,
    Step::OomScoreAdj,
    Step::Rlimit,
    Step::Chdir,
    Step::Seccomp,
    Step::Capabilities,
    Step::User,
    Step::NoNewPrivs,
    Step::Ready,
    Step::Lookup,
    Step::WaitStart,
    Step::Exec,
];

impl Step {
    pub fn from_u32(n: u32) -> Option<Self> {
        STEPS.get(n as usize).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Step::Stdio => "set up stdio",
            Step::Session => "start a session",
            Step::JoinNamespace => "join namespace",
            Step::JoinCgroup => "join cgroup",
            Step::CgroupNamespace => "make a cgroup namespace",
            Step::Sysctl => "set sysctl",
            Step::Hostname => "set hostname",
            Step::Propagation => "set mount propagation",
            Step::BindRoot => "bind the root",
            Step::OpenRoot => "open the root",
            Step::Mount => "mount",
            Step::PivotRoot => "pivot_root",
            Step::Devices => "create devices",
            Step::Console => "set up the console",
            Step::MaskPath => "mask path",
            Step::ReadonlyPath => "make path read-only",
            Step::ReadonlyRoot => "make the root read-only",
            Step::OomScoreAdj => "set oom_score_adj",
            Step::Rlimit => "set rlimit",
            Step::Chdir => "chdir to the working directory",
            Step::Seccomp => "load the seccomp filter",
            Step::Capabilities => "set capabilities",
            Step::User => "set user and groups",
            Step::NoNewPrivs => "set no_new_privs",
            Step::Ready => "report ready",
            Step::Lookup => "look up the executable",
            Step::WaitStart => "wait for start",
            Step::Exec => "exec",
        }
    }
}

/// A failed step: which, for which item (mount index, …), and errno.
#[derive(Debug, Clone, Copy)]
struct Fail {
    kind: u32,
    step: Step,
    index: u32,
    errno: i32,
}

/// The message on the sync pipe: kind, step, index, errno (native endian u32s).
pub fn encode(kind: u32, step: u32, index: u32, errno: i32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..4].copy_from_slice(&kind.to_ne_bytes());
    b[4..8].copy_from_slice(&step.to_ne_bytes());
    b[8..12].copy_from_slice(&index.to_ne_bytes());
    b[12..16].copy_from_slice(&errno.to_ne_bytes());
    b
}

pub fn decode(b: &[u8; 16]) -> (u32, u32, u32, i32) {
    let u = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (u(0), u(4), u(8), u(12) as i32)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

type R<T = ()> = Result<T, Fail>;

/// Fails `step` with the current errno when `ret` is negative.
fn check(ret: i64, step: Step, index: u32) -> R<i64> {
    if ret < 0 {
        return Err(Fail {
            kind: FAILED,
            step,
            index,
            errno: errno(),
        });
    }
    Ok(ret)
}

/// What the cloned child becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A container's init: new namespaces, mounts, pivot; reports ready, waits for start.
    Create,
    /// Another process in a running container: joins its namespaces and cgroups and execs at
    /// once; says nothing on success (the sync pipe closes on exec).
    Exec,
}

/// Clones the child (fork-like: it runs on a copy of this stack) into the plan's new
/// namespaces. Returns its pid; the child never returns.
pub fn spawn(plan: &Plan, fds: &ChildFds, mode: Mode) -> std::io::Result<i32> {
    // Built before the clone: the child must not allocate.
    let mut argv: Vec<*const c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const c_char> = plan.env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let flags = plan.clone_flags as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // The child starts on this CPU, as soon as we wait for it (see `crate::cpu`); the pin is
    // undone in both once the clone is made.
    let pinned = crate::cpu::pin_here();
    // SAFETY: a fork-like clone (no new stack, no CLONE_VM): the child gets a private copy
    // of this single-threaded process's memory, so nothing it reads can change under it and
    // no lock can be held by another thread. The child only runs `child_main`, which makes
    // raw syscalls and ends in execve or _exit.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if ret == 0 {
        if let Some(p) = &pinned {
            p.restore_raw();
        }
        child_main(plan, fds, mode, &argv, &envp);
    }
    drop(pinned);
    Ok(ret as i32)
}

fn send(fd: RawFd, kind: u32, step: Step, index: u32, errno: i32) {
    let msg = encode(kind, step as u32, index, errno);
    // SAFETY: writes 16 bytes from a live stack buffer to an fd we own.
    unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) };
}

fn child_main(
    plan: &Plan,
    fds: &ChildFds,
    mode: Mode,
    argv: &[*const c_char],
    envp: &[*const c_char],
) -> ! {
    let result = match mode {
        Mode::Create => init(plan, fds, argv, envp),
        Mode::Exec => exec(plan, fds, argv, envp),
    };
    let code = match result {
        Ok(never) => match never {},
        Err(f) => {
            // A created init has already said "ready" when it waits or execs, and nobody
            // reads the pipe any more (SIGPIPE is no longer ignored either): exit codes and
            // stderr carry the failure.
            let told_ready = mode == Mode::Create && matches!(f.step, Step::WaitStart | Step::Exec);
            if !told_ready {
                send(fds.sync, f.kind, f.step, f.index, f.errno);
            }
            match f.kind {
                NOT_FOUND => 127,
                NOT_EXECUTABLE => 126,
                _ => 125,
            }
        }
    };
    // SAFETY: ends the child without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(code) }
}

/// An exec'd process: joins the container's cgroups and namespaces (the PID namespace was
/// entered by the parent before the clone), gets its terminal, then what every process gets.
fn exec(
    plan: &Plan,
    fds: &ChildFds,
    argv: &[*const c_char],
    envp: &[*const c_char],
) -> R<std::convert::Infallible> {
    session(fds)?;
    join_cgroups(fds)?;
    join_namespaces(plan)?;
    if plan.terminal {
        console(fds.console, plan.console_size, false)?;
    }
    let exe = process(plan)?;
    Err(exec_user(exe, argv, envp, false))
}

/// Standard streams in place, then a session of its own (a terminal's controlling process).
fn session(fds: &ChildFds) -> R {
    stdio(fds)?;
    // SAFETY: setsid takes no arguments; the child is not a group leader.
    check(unsafe { libc::setsid() } as i64, Step::Session, 0).map(drop)
}

fn join_cgroups(fds: &ChildFds) -> R {
    for (i, fd) in fds.tasks.iter().enumerate() {
        // SAFETY: writes "0" (this task) to an open cgroup `tasks` file.
        check(
            unsafe { libc::write(*fd, c"0".as_ptr().cast(), 1) } as i64,
            Step::JoinCgroup,
            i as u32,
        )?;
    }
    Ok(())
}

fn join_namespaces(plan: &Plan) -> R {
    for (i, (fd, flag)) in plan.join.iter().enumerate() {
        use std::os::fd::AsRawFd;
        // SAFETY: joins the namespace of an open namespace file.
        check(
            unsafe { libc::setns(fd.as_raw_fd(), *flag) } as i64,
            Step::JoinNamespace,
            i as u32,
        )?;
    }
    Ok(())
}

fn init(
    plan: &Plan,
    fds: &ChildFds,
    argv: &[*const c_char],
    envp: &[*const c_char],
) -> R<std::convert::Infallible> {
    session(fds)?;
    join_namespaces(plan)?;
    join_cgroups(fds)?;
    if plan.unshare_cgroupns {
        // SAFETY: no pointers.
        check(
            unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } as i64,
            Step::CgroupNamespace,
            0,
        )?;
    }
    for (i, (path, value)) in plan.sysctls.iter().enumerate() {
        write_file(path, value.to_bytes(), Step::Sysctl, i as u32)?;
    }
    if let Some(h) = &plan.hostname {
        // SAFETY: pointer and length of a live C string.
        check(
            unsafe { libc::sethostname(h.as_ptr(), h.to_bytes().len()) } as i64,
            Step::Hostname,
            0,
        )?;
    }
    if let Some(d) = &plan.domainname {
        // SAFETY: as above.
        check(
            unsafe { libc::setdomainname(d.as_ptr(), d.to_bytes().len()) } as i64,
            Step::Hostname,
            1,
        )?;
    }
    let root = mounts(plan)?;
    pivot(root)?;
    // SAFETY: umask has no failure mode; device nodes get exactly their modes.
    unsafe { libc::umask(0) };
    if plan.make_devices {
        devices()?;
    }
    extra_devices(plan)?;
    if plan.terminal {
        console(fds.console, plan.console_size, true)?;
    }
    masks(plan)?;
    if plan.root_readonly {
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        mount(None, c"/", None, flags, None, Step::ReadonlyRoot, 0)?;
    }
    // SAFETY: as above; the process gets the default umask.
    unsafe { libc::umask(0o022) };
    let exe = process(plan)?;
    send(fds.sync, READY, Step::Ready, 0, 0);
    wait_start(fds.fifo)?;
    Err(exec_user(exe, argv, envp, true))
}

/// What every process gets, created or exec'd: limits, working directory, seccomp,
/// credentials. Returns the executable to run.
fn process(plan: &Plan) -> R<&CStr> {
    if let Some(adj) = &plan.oom_score_adj {
        write_file(
            c"/proc/self/oom_score_adj",
            adj.to_bytes(),
            Step::OomScoreAdj,
            0,
        )?;
    }
    for (i, (res, lim)) in plan.rlimits.iter().enumerate() {
        // SAFETY: a valid rlimit struct by reference.
        check(
            unsafe { libc::setrlimit(*res, lim) } as i64,
            Step::Rlimit,
            i as u32,
        )?;
    }
    let exe = resolve(plan)?;
    // SAFETY: a live C string.
    check(
        unsafe { libc::chdir(plan.cwd.as_ptr()) } as i64,
        Step::Chdir,
        0,
    )?;
    if !plan.no_new_privs {
        // Before the capabilities go: loading a filter without no_new_privs needs
        // CAP_SYS_ADMIN (runc's order).
        seccomp(plan)?;
    }
    credentials(plan)?;
    if plan.no_new_privs {
        // SAFETY: no pointers.
        check(
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } as i64,
            Step::NoNewPrivs,
            0,
        )?;
        seccomp(plan)?;
    }
    Ok(exe)
}

/// Execs the user's process with default signal dispositions and only fds 0–2 open; returns
/// why it could not. `to_stderr`: also say so on the process's stderr (when the caller was
/// already told "ready" and will not read the sync pipe).
fn exec_user(exe: &CStr, argv: &[*const c_char], envp: &[*const c_char], to_stderr: bool) -> Fail {
    reset_signals();
    // Every fd but the standard three closes on exec, whatever the monitor inherited.
    // SAFETY: no pointers; failure (old kernel) only leaves fds as they are.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    // SAFETY: NUL-terminated arrays of pointers into C strings that outlive the call.
    unsafe { libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let e = errno();
    if to_stderr {
        let msg: &[u8] = match e {
            libc::ENOENT => b"exec: executable file not found\n",
            libc::EACCES | libc::ENOEXEC => b"exec: permission denied\n",
            libc::E2BIG => b"exec: argument list too long (the command and environment exceed the kernel's limits)\n",
            _ => b"exec failed\n",
        };
        // SAFETY: a static buffer to fd 2.
        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    }
    let kind = match e {
        libc::ENOENT => NOT_FOUND,
        libc::EACCES | libc::ENOEXEC => NOT_EXECUTABLE,
        _ => FAILED,
    };
    Fail {
        kind,
        step: Step::Exec,
        index: 0,
        errno: e,
    }
}

fn stdio(fds: &ChildFds) -> R {
    for (target, src) in [(0, fds.stdin), (1, fds.stdout), (2, fds.stderr)] {
        if let Some(src) = src {
            // SAFETY: both fds are ours; the sources are >= 3 (dup'ed so by the parent).
            check(
                unsafe { libc::dup2(src, target) } as i64,
                Step::Stdio,
                target as u32,
            )?;
        }
    }
    Ok(())
}

fn write_file(path: &CStr, value: &[u8], step: Step, index: u32) -> R {
    // SAFETY: a live C string; the fd is closed below.
    let fd = check(
        unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) } as i64,
        step,
        index,
    )? as RawFd;
    // SAFETY: a live buffer and its length.
    let n = unsafe { libc::write(fd, value.as_ptr().cast(), value.len()) };
    let e = errno();
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    if n < 0 {
        return Err(Fail {
            kind: FAILED,
            step,
            index,
            errno: e,
        });
    }
    Ok(())
}

fn mount(
    src: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
    step: Step,
    index: u32,
) -> R {
    let p = |c: Option<&CStr>| c.map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: each pointer is null or a live C string.
    let ret = unsafe { libc::mount(p(src), target.as_ptr(), p(fstype), flags, p(data).cast()) };
    check(ret as i64, step, index).map(drop)
}

/// `/proc/self/fd/N` in a stack buffer: a path to what fd N is open on.
struct FdPath([u8; 32]);

impl FdPath {
    fn new(fd: RawFd) -> Self {
        let mut b = [0u8; 32];
        let prefix = b"/proc/self/fd/";
        b[..prefix.len()].copy_from_slice(prefix);
        let mut digits = [0u8; 12];
        let mut n = fd.unsigned_abs();
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            b[prefix.len() + i] = digits[len - 1 - i];
        }
        Self(b)
    }

    fn as_cstr(&self) -> &CStr {
        // The buffer is zeroed past the digits, so there is always a NUL.
        CStr::from_bytes_until_nul(&self.0).unwrap_or(c"/")
    }
}

fn close(fd: RawFd) {
    // SAFETY: closes an fd this code opened.
    unsafe { libc::close(fd) };
}

/// `struct open_how` of openat2(2) (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(root, path, O_PATH, RESOLVE_IN_ROOT)`: symlinks resolve inside the root.
fn open_in_root(root: RawFd, path: &CStr) -> Result<RawFd, i32> {
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT,
    };
    // SAFETY: a live C string and open_how struct with its size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd as RawFd)
    }
}

/// Opens (making what is missing, inside the root) the mount point of `m`.
fn mount_point(root: RawFd, m: &MountOp, index: u32) -> R<RawFd> {
    let fail = |errno| Fail {
        kind: FAILED,
        step: Step::Mount,
        index,
        errno,
    };
    let last = m.prefixes.len() - 1;
    let mut parent = root;
    for (i, prefix) in m.prefixes.iter().enumerate() {
        let fd = match open_in_root(root, prefix) {
            Ok(fd) => fd,
            Err(libc::ENOENT) => {
                let name = m.components[i].as_ptr();
                let ret = if i == last && m.is_file {
                    // SAFETY: a live C string; the new fd is closed at once.
                    let f = unsafe {
                        libc::openat(
                            parent,
                            name,
                            libc::O_CREAT
                                | libc::O_EXCL
                                | libc::O_WRONLY
                                | libc::O_NOFOLLOW
                                | libc::O_CLOEXEC,
                            0o644,
                        )
                    };
                    if f >= 0 {
                        close(f);
                    }
                    f
                } else {
                    // SAFETY: a live C string.
                    unsafe { libc::mkdirat(parent, name, 0o755) }
                };
                if ret < 0 && errno() != libc::EEXIST {
                    let e = errno();
                    if parent != root {
                        close(parent);
                    }
                    return Err(fail(e));
                }
                match open_in_root(root, prefix) {
                    Ok(fd) => fd,
                    Err(e) => {
                        if parent != root {
                            close(parent);
                        }
                        return Err(fail(e));
                    }
                }
            }
            Err(e) => {
                if parent != root {
                    close(parent);
                }
                return Err(fail(e));
            }
        };
        if parent != root {
            close(parent);
        }
        parent = fd;
    }
    Ok(parent)
}

fn mount_one(root: RawFd, m: &MountOp, index: u32) -> R {
    let fd = mount_point(root, m, index)?;
    let target = FdPath::new(fd);
    let first = mount(
        m.source.as_deref(),
        target.as_cstr(),
        m.fstype.as_deref(),
        m.flags,
        m.data.as_deref(),
        Step::Mount,
        index,
    );
    close(fd);
    first?;
    if m.remount.is_none() && m.propagation == 0 {
        return Ok(());
    }
    // The fd was the directory under the new mount; reopen to reach the mount itself.
    let fd =
        open_in_root(root, m.prefixes[m.prefixes.len() - 1].as_c_str()).map_err(|errno| Fail {
            kind: FAILED,
            step: Step::Mount,
            index,
            errno,
        })?;
    let target = FdPath::new(fd);
    let mut result = Ok(());
    if let Some(flags) = m.remount {
        result = mount(
            None,
            target.as_cstr(),
            None,
            flags,
            None,
            Step::Mount,
            index,
        );
    }
    if result.is_ok() && m.propagation != 0 {
        result = mount(
            None,
            target.as_cstr(),
            None,
            m.propagation,
            None,
            Step::Mount,
            index,
        );
    }
    close(fd);
    result
}

/// Propagation, the root bind, every spec mount. Returns the root's fd.
fn mounts(plan: &Plan) -> R<RawFd> {
    mount(
        None,
        c"/",
        None,
        plan.root_propagation,
        None,
        Step::Propagation,
        0,
    )?;
    if plan.root_propagation & libc::MS_SHARED != 0 {
        // pivot_root refuses shared parents: the root's mount and the rootfs's stay private.
        mount(
            None,
            c"/",
            None,
            libc::MS_PRIVATE,
            None,
            Step::Propagation,
            1,
        )?;
        mount(
            None,
            &plan.rootfs,
            None,
            libc::MS_PRIVATE,
            None,
            Step::Propagation,
            2,
        )?;
    }
    // pivot_root needs the new root to be a mount point of this namespace.
    let rec = libc::MS_BIND | libc::MS_REC;
    mount(
        Some(&plan.rootfs),
        &plan.rootfs,
        None,
        rec,
        None,
        Step::BindRoot,
        0,
    )?;
    // SAFETY: a live C string.
    let root = check(
        unsafe {
            libc::open(
                plan.rootfs.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        } as i64,
        Step::OpenRoot,
        0,
    )? as RawFd;
    for (i, m) in plan.mounts.iter().enumerate() {
        mount_one(root, m, i as u32)?;
    }
    Ok(root)
}

/// Makes the root `/` and detaches the old one (runc's `pivot_root(".", ".")`).
fn pivot(root: RawFd) -> R {
    // SAFETY: an fd of ours.
    check(unsafe { libc::fchdir(root) } as i64, Step::PivotRoot, 0)?;
    close(root);
    // SAFETY: two live C strings.
    check(
        unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) },
        Step::PivotRoot,
        1,
    )?;
    // The old root is stacked on "."; make sure its unmount does not propagate to the host.
    mount(
        None,
        c".",
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
        Step::PivotRoot,
        2,
    )?;
    // SAFETY: a live C string.
    check(
        unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) } as i64,
        Step::PivotRoot,
        3,
    )?;
    // SAFETY: a live C string.
    check(
        unsafe { libc::chdir(c"/".as_ptr()) } as i64,
        Step::PivotRoot,
        4,
    )
    .map(drop)
}

/// The device nodes and links runc puts in a container's `/dev`.
fn devices() -> R {
    let nodes: [(&CStr, u32, u32); 6] = [
        (c"/dev/null", 1, 3),
        (c"/dev/zero", 1, 5),
        (c"/dev/full", 1, 7),
        (c"/dev/random", 1, 8),
        (c"/dev/urandom", 1, 9),
        (c"/dev/tty", 5, 0),
    ];
    for (i, (path, major, minor)) in nodes.iter().enumerate() {
        let dev = libc::makedev(*major, *minor);
        // SAFETY: a live C string.
        let ret = unsafe { libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o666, dev) };
        if ret < 0 && errno() != libc::EEXIST {
            check(-1, Step::Devices, i as u32)?;
        }
    }
    let links: [(&CStr, &CStr); 6] = [
        (c"/proc/self/fd", c"/dev/fd"),
        (c"/proc/self/fd/0", c"/dev/stdin"),
        (c"/proc/self/fd/1", c"/dev/stdout"),
        (c"/proc/self/fd/2", c"/dev/stderr"),
        (c"pts/ptmx", c"/dev/ptmx"),
        (c"/proc/kcore", c"/dev/core"),
    ];
    for (i, (to, at)) in links.iter().enumerate() {
        // SAFETY: two live C strings.
        let ret = unsafe { libc::symlink(to.as_ptr(), at.as_ptr()) };
        if ret < 0 && errno() != libc::EEXIST {
            check(-1, Step::Devices, 10 + i as u32)?;
        }
    }
    Ok(())
}

/// The `--device` nodes, with their directories (umask is 0 here: modes are exact).
fn extra_devices(plan: &Plan) -> R {
    for (i, d) in plan.devices.iter().enumerate() {
        let i = 100 + i as u32;
        for dir in &d.parents {
            // SAFETY: a live C string.
            let ret = unsafe { libc::mkdir(dir.as_ptr(), 0o755) };
            if ret < 0 && errno() != libc::EEXIST {
                check(-1, Step::Devices, i)?;
            }
        }
        // SAFETY: a live C string; mode and number from the plan.
        let ret = unsafe { libc::mknod(d.path.as_ptr(), d.mode, d.rdev) };
        if ret < 0 && errno() != libc::EEXIST {
            check(-1, Step::Devices, i)?;
        }
        // SAFETY: a live C string.
        check(
            unsafe { libc::chown(d.path.as_ptr(), d.uid, d.gid) } as i64,
            Step::Devices,
            i,
        )?;
    }
    Ok(())
}

/// Sends `fd` over the console socket as libcontainer does (data `/dev/ptmx`).
fn send_fd(sock: RawFd, fd: RawFd) -> R {
    let data = b"/dev/ptmx";
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // CMSG_SPACE(sizeof(int)) is 24 on 64-bit; u64s keep the buffer aligned for cmsghdr.
    let mut space = [0u64; 4];
    // SAFETY: an all-zero msghdr is valid; the fields are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a size.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    // SAFETY: msg_control points at `space` (32 bytes, aligned), large enough for one
    // header and one int, so the first header and its data lie inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    // SAFETY: msg and everything it points to live across the call.
    check(
        unsafe { libc::sendmsg(sock, &msg, 0) } as i64,
        Step::Console,
        3,
    )
    .map(drop)
}

/// A pty from the container's devpts: master to the monitor, slave as stdio and controlling
/// terminal, and — for a container's init — `/dev/console`. `size` (rows, columns) is set
/// before anyone can read it, so the process starts with its terminal's real size.
fn console(sock: Option<RawFd>, size: Option<(u16, u16)>, bind_console: bool) -> R {
    let Some(sock) = sock else {
        return check(-1, Step::Console, 0).map(drop);
    };
    // SAFETY: a live C string.
    let master = check(
        unsafe {
            libc::open(
                c"/dev/pts/ptmx".as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            )
        } as i64,
        Step::Console,
        1,
    )? as RawFd;
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int we own.
    check(
        unsafe { libc::ioctl(master, libc::TIOCSPTLCK, &unlock) } as i64,
        Step::Console,
        2,
    )?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize we own.
        check(
            unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) } as i64,
            Step::Console,
            8,
        )?;
    }
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd.
    let slave = check(
        unsafe { libc::ioctl(master, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY) } as i64,
        Step::Console,
        4,
    )? as RawFd;
    send_fd(sock, master)?;
    close(master);
    close(sock);
    if bind_console {
        bind_dev_console(slave)?;
    }
    for target in 0..3 {
        // SAFETY: fds of ours.
        check(
            unsafe { libc::dup2(slave, target) } as i64,
            Step::Console,
            6,
        )?;
    }
    close(slave);
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal).
    check(
        unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } as i64,
        Step::Console,
        7,
    )
    .map(drop)
}

/// `/dev/console` of a container's init: its terminal's slave, bound over a file we create.
fn bind_dev_console(slave: RawFd) -> R {
    // SAFETY: a live C string; the fd is closed at once.
    let f = unsafe {
        libc::open(
            c"/dev/console".as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        )
    };
    if f >= 0 {
        close(f);
    }
    let src = FdPath::new(slave);
    mount(
        Some(src.as_cstr()),
        c"/dev/console",
        None,
        libc::MS_BIND,
        None,
        Step::Console,
        5,
    )
}

fn exists(path: &CStr) -> Option<libc::stat> {
    // SAFETY: an all-zero stat is valid; stat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a live C string and stat buffer.
    let ret = unsafe { libc::stat(path.as_ptr(), &mut st) };
    (ret == 0).then_some(st)
}

/// Masked paths: an empty read-only tmpfs over a directory, /dev/null over a file.
/// Read-only paths: bind-mounted read-only onto themselves.
fn masks(plan: &Plan) -> R {
    for (i, p) in plan.masked.iter().enumerate() {
        let Some(st) = exists(p) else { continue };
        let i = i as u32;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            mount(
                Some(c"tmpfs"),
                p,
                Some(c"tmpfs"),
                libc::MS_RDONLY,
                None,
                Step::MaskPath,
                i,
            )?;
        } else {
            mount(
                Some(c"/dev/null"),
                p,
                None,
                libc::MS_BIND,
                None,
                Step::MaskPath,
                i,
            )?;
        }
    }
    for (i, p) in plan.readonly.iter().enumerate() {
        if exists(p).is_none() {
            continue;
        }
        let i = i as u32;
        let rec = libc::MS_BIND | libc::MS_REC;
        mount(Some(p), p, None, rec, None, Step::ReadonlyPath, i)?;
        // Keep what the mount had (proc's nosuid, nodev, noexec): a remount sets all flags.
        // SAFETY: an all-zero statvfs is valid; statvfs fills it.
        let mut fs: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a live C string and buffer. (glibc's statvfs is statfs(2) plus a flag
        // conversion on any kernel since 2.6.36.)
        check(
            unsafe { libc::statvfs(p.as_ptr(), &mut fs) } as i64,
            Step::ReadonlyPath,
            i,
        )?;
        let had = fs.f_flag;
        let mut flags = libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT | libc::MS_RDONLY;
        for (st, ms) in [
            (libc::ST_NOSUID, libc::MS_NOSUID),
            (libc::ST_NODEV, libc::MS_NODEV),
            (libc::ST_NOEXEC, libc::MS_NOEXEC),
        ] {
            if had & st != 0 {
                flags |= ms;
            }
        }
        mount(None, p, None, flags, None, Step::ReadonlyPath, i)?;
    }
    Ok(())
}

/// The first candidate that is a regular file with an execute bit.
fn resolve(plan: &Plan) -> R<&CStr> {
    let named_path = plan.args0.contains('/');
    for c in &plan.exec_candidates {
        let Some(st) = exists(c) else { continue };
        let regular = st.st_mode & libc::S_IFMT == libc::S_IFREG;
        if regular && st.st_mode & 0o111 != 0 {
            return Ok(c);
        }
        if named_path {
            return Err(Fail {
                kind: NOT_EXECUTABLE,
                step: Step::Lookup,
                index: 0,
                errno: libc::EACCES,
            });
        }
    }
    Err(Fail {
        kind: NOT_FOUND,
        step: Step::Lookup,
        index: 0,
        errno: libc::ENOENT,
    })
}

fn seccomp(plan: &Plan) -> R {
    let Some(prog) = &plan.seccomp else {
        return Ok(());
    };
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: a program that outlives the call; the kernel copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0u32,
            &fprog as *const libc::sock_fprog,
        )
    };
    check(ret, Step::Seccomp, 0).map(drop)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

/// Bounding set, then user and groups (keeping capabilities), then the final sets; the
/// inheritable and ambient sets end empty.
fn credentials(plan: &Plan) -> R {
    let c = plan.caps;
    for cap in 0..=plan.last_cap {
        if c.bounding & (1u64 << cap) == 0 {
            // SAFETY: no pointers.
            check(
                unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } as i64,
                Step::Capabilities,
                cap,
            )?;
        }
    }
    // SAFETY: no pointers.
    check(
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } as i64,
        Step::User,
        0,
    )?;
    // Raw syscalls: glibc's wrappers would signal other threads (there are none).
    // SAFETY: a live array and its length.
    check(
        unsafe { libc::syscall(libc::SYS_setgroups, plan.groups.len(), plan.groups.as_ptr()) },
        Step::User,
        1,
    )?;
    let (u, g) = (plan.uid, plan.gid);
    // SAFETY: no pointers.
    check(
        unsafe { libc::syscall(libc::SYS_setresgid, g, g, g) },
        Step::User,
        2,
    )?;
    // SAFETY: no pointers.
    check(
        unsafe { libc::syscall(libc::SYS_setresuid, u, u, u) },
        Step::User,
        3,
    )?;
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: c.effective as u32,
            permitted: c.permitted as u32,
            inheritable: 0,
        },
        CapData {
            effective: (c.effective >> 32) as u32,
            permitted: (c.permitted >> 32) as u32,
            inheritable: 0,
        },
    ];
    // SAFETY: a v3 header and its two data structs, live across the call.
    check(
        unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) },
        Step::Capabilities,
        100,
    )?;
    // SAFETY: no pointers.
    check(
        unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        } as i64,
        Step::Capabilities,
        101,
    )?;
    // SAFETY: no pointers.
    check(
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) } as i64,
        Step::User,
        4,
    )
    .map(drop)
}

/// Blocks until `start` opens the fifo for reading, then tells it we are going.
fn wait_start(fifo: RawFd) -> R {
    let path = FdPath::new(fifo);
    // Opening a fifo for writing blocks until it has a reader: `start`.
    // SAFETY: a live C string.
    let fd = check(
        unsafe { libc::open(path.as_cstr().as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) } as i64,
        Step::WaitStart,
        0,
    )? as RawFd;
    // SAFETY: one byte from a static buffer.
    let n = unsafe { libc::write(fd, c"0".as_ptr().cast(), 1) };
    let e = errno();
    close(fd);
    close(fifo);
    if n != 1 {
        return Err(Fail {
            kind: FAILED,
            step: Step::WaitStart,
            index: 1,
            errno: e,
        });
    }
    Ok(())
}

/// Default dispositions and an empty mask, as a freshly exec'd process expects: the Rust
/// runtime ignores SIGPIPE (ignored signals survive exec), the monitor blocks SIGCHLD, and
/// glibc's posix_spawn left its internal signals 32 and 33 ignored (see `crate::signals`).
fn reset_signals() {
    use crate::signals::{raw_sigaction, DEFAULT_ACTION};
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            raw_sigaction(sig, Some(&DEFAULT_ACTION), None);
        }
    }
    // SAFETY: an all-zero sigset, emptied, passed by reference.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_are_formatted_without_allocating() {
        assert_eq!(FdPath::new(0).as_cstr(), c"/proc/self/fd/0");
        assert_eq!(FdPath::new(7).as_cstr(), c"/proc/self/fd/7");
        assert_eq!(FdPath::new(1234).as_cstr(), c"/proc/self/fd/1234");
    }

    #[test]
    fn messages_round_trip() {
        let b = encode(FAILED, Step::Mount as u32, 3, libc::ENOENT);
        assert_eq!(decode(&b), (FAILED, Step::Mount as u32, 3, libc::ENOENT));
        assert_eq!(Step::from_u32(Step::Exec as u32), Some(Step::Exec));
        assert_eq!(Step::from_u32(99), None);
    }
}
