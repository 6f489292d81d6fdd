//! Taking ownership of the listening sockets systemd passes as fds 3.. (`sd_listen_fds`).
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// Claims fd `fd` as a unix listener, after checking that it is one.
pub fn claim_listener(fd: i32) -> std::io::Result<UnixListener> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat only writes into `st`; on a closed fd it fails with EBADF.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(std::io::Error::other(format!(
            "fd {fd} from systemd is not a socket"
        )));
    }
    // SAFETY: systemd's socket-activation protocol hands this process the fds 3..3+LISTEN_FDS,
    // open and owned by nobody else; the caller claims each once and clears LISTEN_* so no
    // other code claims them again.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(UnixListener::from(owned))
}
