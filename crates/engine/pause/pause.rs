//! `/pause`, the one file of berth's pause image: the process of a pod's infra container,
//! which holds the pod's namespaces while its containers come and go. It does nothing until
//! told to stop (SIGTERM, SIGINT: exit 0) and reaps any child handed to it (it is PID 1 of
//! its PID namespace).
//!
//! Built by the engine's build script as a static executable (`rustc -C
//! target-feature=+crt-static`), without the workspace's crates: the image has no libraries.
//! Only libc's own functions are used, declared here.

use std::os::raw::c_int;

const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;
const SIGCHLD: c_int = 17;
const WNOHANG: c_int = 1;

extern "C" {
    fn signal(sig: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn pause() -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn _exit(code: c_int) -> !;
}

extern "C" fn stop(_: c_int) {
    // SAFETY: _exit is async-signal-safe and ends the process.
    unsafe { _exit(0) }
}

extern "C" fn reap(_: c_int) {
    // SAFETY: waitpid is async-signal-safe; a null status pointer is allowed.
    while unsafe { waitpid(-1, std::ptr::null_mut(), WNOHANG) } > 0 {}
}

fn main() {
    // SAFETY: the handlers only call async-signal-safe functions.
    unsafe {
        signal(SIGTERM, stop);
        signal(SIGINT, stop);
        signal(SIGCHLD, reap);
    }
    loop {
        // SAFETY: pause has no arguments; it returns after each handled signal.
        unsafe { pause() };
    }
}
