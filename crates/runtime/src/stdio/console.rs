//! The console socket: how a container's pty master reaches the monitor.
//!
//! With `terminal: true`, libcontainer's init opens a pty inside the container (from the
//! container's devpts), connects to the unix `SOCK_STREAM` socket whose path was given to
//! `ContainerBuilder::with_console_socket`, and sends one `sendmsg`: the bytes `/dev/ptmx` as
//! data and the master fd as `SCM_RIGHTS`. The connection happens during `create`, before the
//! monitor has called `accept`; the kernel queues both the connection and the message, so a
//! single-threaded monitor can call [`ConsoleSocket::accept_master`] after `create` returns.
//!
//! libcontainer reaches the socket through a symlink in the container directory, so the path we
//! bind only has to fit in `sun_path` (108 bytes) for our own `bind`.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

/// A listening console socket; the socket file is removed on drop.
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Binds a unix stream socket at `path`. A stale socket file left there by a crashed
    /// monitor is replaced; any other kind of file is an error.
    pub fn bind(path: &Path) -> io::Result<Self> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::FileTypeExt;
            if meta.file_type().is_socket() {
                std::fs::remove_file(path)?;
            }
        }
        let listener = UnixListener::bind(path).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("bind console socket {}: {err}", path.display()),
            )
        })?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// The path to hand to `ContainerBuilder::with_console_socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits up to `timeout` for a connection and the pty master it carries.
    ///
    /// Errors: `TimedOut` when nothing arrives in time, `UnexpectedEof` when the peer closes
    /// without sending a descriptor, `InvalidData` when the descriptor is not a terminal.
    pub fn accept_master(&self, timeout: Duration) -> io::Result<OwnedFd> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            wait_readable(&self.listener, deadline, "connection on console socket")?;
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                // Another waiter took it, or a spurious wakeup: poll again.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(err),
            }
        };
        let master = receive_fd(&stream, deadline)?;
        if !rustix::termios::isatty(&master) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "console socket: received descriptor is not a terminal",
            ));
        }
        Ok(master)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.path) {
            if err.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %err, "remove console socket");
            }
        }
    }
}

/// Blocks until `fd` is readable or `deadline` passes.
fn wait_readable(fd: &impl AsFd, deadline: Instant, what: &str) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out waiting for {what}"),
            ));
        }
        // Round up so a sub-millisecond remainder still waits instead of spinning.
        let ms = i32::try_from(left.as_millis().saturating_add(1)).unwrap_or(i32::MAX);
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, ms) {
            Ok(0) => continue,
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

/// Reads from the connection until a message carries a descriptor (the data, `/dev/ptmx`,
/// is ignored). Extra descriptors, if a peer sent more than one, are closed.
fn receive_fd(stream: &UnixStream, deadline: Instant) -> io::Result<OwnedFd> {
    loop {
        wait_readable(stream, deadline, "pty master on console socket")?;
        let mut data = [0u8; 256];
        let mut space = [0u8; rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = match rustix::net::recvmsg(
            stream,
            &mut [IoSliceMut::new(&mut data)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
        ) {
            Ok(r) => r,
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
            Err(err) => return Err(err.into()),
        };
        let mut fds = Vec::new();
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = msg {
                fds.extend(rights);
            }
        }
        if let Some(first) = fds.into_iter().next() {
            return Ok(first);
        }
        if received.bytes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "console socket closed without sending a pty master",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdio::pty::openpty;
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use std::io::{IoSlice, Read, Write};

    /// Sends `fd` the way libcontainer does: `/dev/ptmx` as data plus one SCM_RIGHTS fd.
    fn send_like_libcontainer(sock: &UnixStream, fd: &OwnedFd) {
        let mut space = [0u8; rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let fds = [fd.as_fd()];
        assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
        rustix::net::sendmsg(
            sock,
            &[IoSlice::new(b"/dev/ptmx")],
            &mut control,
            SendFlags::empty(),
        )
        .expect("sendmsg");
    }

    #[test]
    fn stdio_console_receives_pty_master() {
        let dir = tempfile::tempdir().expect("tempdir");
        let console = ConsoleSocket::bind(&dir.path().join("console.sock")).expect("bind");
        let path = console.path().to_path_buf();
        let (master, slave) = openpty().expect("openpty");
        let sender = std::thread::spawn(move || {
            let sock = UnixStream::connect(&path).expect("connect");
            send_like_libcontainer(&sock, &master);
            // libcontainer closes its copy of the master after sending.
            drop(master);
        });
        let got = console
            .accept_master(Duration::from_secs(5))
            .expect("accept_master");
        sender.join().expect("sender thread");
        assert!(rustix::termios::isatty(&got));
        // It is the same pty: bytes written to the slave come out of the received master.
        std::fs::File::from(slave)
            .write_all(b"hi")
            .expect("write slave");
        let mut buf = [0u8; 2];
        std::fs::File::from(got)
            .read_exact(&mut buf)
            .expect("read master");
        assert_eq!(&buf, b"hi");
    }

    #[test]
    fn stdio_console_message_queued_before_accept_via_symlink() {
        // libcontainer connects through a symlink and sends before we accept.
        let dir = tempfile::tempdir().expect("tempdir");
        let console = ConsoleSocket::bind(&dir.path().join("c.sock")).expect("bind");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(console.path(), &link).expect("symlink");
        let (master, _slave) = openpty().expect("openpty");
        let sock = UnixStream::connect(&link).expect("connect");
        send_like_libcontainer(&sock, &master);
        drop(sock);
        let got = console
            .accept_master(Duration::from_secs(5))
            .expect("accept_master");
        assert!(rustix::termios::isatty(&got));
    }

    #[test]
    fn stdio_console_times_out_without_peer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let console = ConsoleSocket::bind(&dir.path().join("c.sock")).expect("bind");
        let start = Instant::now();
        let err = console
            .accept_master(Duration::from_millis(100))
            .expect_err("should time out");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn stdio_console_peer_closes_without_fd() {
        let dir = tempfile::tempdir().expect("tempdir");
        let console = ConsoleSocket::bind(&dir.path().join("c.sock")).expect("bind");
        let mut sock = UnixStream::connect(console.path()).expect("connect");
        sock.write_all(b"/dev/ptmx").expect("write");
        drop(sock);
        let err = console
            .accept_master(Duration::from_secs(2))
            .expect_err("no fd");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn stdio_console_rejects_non_tty_fd() {
        let dir = tempfile::tempdir().expect("tempdir");
        let console = ConsoleSocket::bind(&dir.path().join("c.sock")).expect("bind");
        let file = OwnedFd::from(tempfile::tempfile().expect("tempfile"));
        let sock = UnixStream::connect(console.path()).expect("connect");
        send_like_libcontainer(&sock, &file);
        let err = console
            .accept_master(Duration::from_secs(2))
            .expect_err("not a tty");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn stdio_console_rebinds_stale_socket_and_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.sock");
        let stale = UnixListener::bind(&path).expect("stale");
        drop(stale); // the file stays behind, like after a crash
        assert!(path.exists());
        let console = ConsoleSocket::bind(&path).expect("rebind");
        drop(console);
        assert!(!path.exists());
        std::fs::write(&path, b"not a socket").expect("write");
        assert!(ConsoleSocket::bind(&path).is_err());
    }
}
