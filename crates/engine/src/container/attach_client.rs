//! One client attached to a container's monitor, with a bounded queue of output for it.
//!
//! The monitor is one thread serving the container's output to the json log and to every
//! attached client. A blocking write to a client that stops reading would stop that thread,
//! then the container itself once its pipe fills. So output is queued per client and sent
//! with non-blocking sends as the client's socket drains; a client that falls more than
//! [`MAX_QUEUED`] bytes behind is dropped (it sees its stream end without an exit frame). The
//! json log is written before any client is served, so it stays whole either way.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use berth_runtime::stdio::frame::{self, ClientReader};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{send, MsgFlags};

/// How far one client may fall behind the container's output before it is dropped.
pub(crate) const MAX_QUEUED: usize = 16 << 20;

pub(crate) struct Client {
    pub stream: UnixStream,
    pub reader: ClientReader<UnixStream>,
    queued: VecDeque<u8>,
}

impl Client {
    pub fn new(stream: UnixStream) -> Option<Self> {
        let reader = ClientReader::new(stream.try_clone().ok()?);
        Some(Self {
            stream,
            reader,
            queued: VecDeque::new(),
        })
    }

    /// Whether output waits to be sent (poll for `POLLOUT` then).
    pub fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    /// Queues one output frame and sends what the socket takes now. `false`: the client is
    /// gone or too far behind, and should be dropped.
    pub fn send_frame(&mut self, kind: u8, data: &[u8]) -> bool {
        let mut bytes = Vec::with_capacity(data.len() + 8);
        if frame::write_frame(&mut bytes, kind, data).is_err() {
            return false;
        }
        self.queue(&bytes)
    }

    /// Queues the exit frame.
    pub fn send_exit(&mut self, code: i32) -> bool {
        let mut bytes = Vec::with_capacity(12);
        if frame::write_exit(&mut bytes, code).is_err() {
            return false;
        }
        self.queue(&bytes)
    }

    /// Queues the final frame of a container that could not be started (see
    /// `frame::write_start_failed`); `false`: the client is gone.
    pub fn send_start_failed(&mut self, code: i32, message: &str) -> bool {
        let mut bytes = Vec::with_capacity(8 + 4 + message.len());
        if frame::write_start_failed(&mut bytes, code, message).is_err() {
            return false;
        }
        self.queue(&bytes)
    }

    fn queue(&mut self, bytes: &[u8]) -> bool {
        if self.queued.len() + bytes.len() > MAX_QUEUED {
            tracing::warn!(
                queued = self.queued.len(),
                "an attached client stopped reading; dropping it"
            );
            return false;
        }
        self.queued.extend(bytes);
        self.flush()
    }

    /// Sends as much of the queue as the socket takes without blocking. `false`: the client
    /// is gone.
    pub fn flush(&mut self) -> bool {
        while !self.queued.is_empty() {
            let (head, _) = self.queued.as_slices();
            match send(
                self.stream.as_raw_fd(),
                head,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(0) => return false,
                Ok(n) => {
                    self.queued.drain(..n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return true,
                Err(_) => return false,
            }
        }
        true
    }

    /// Sends the rest of the queue, waiting for the socket at most until `deadline`.
    pub fn drain(&mut self, deadline: Instant) -> bool {
        loop {
            if !self.flush() {
                return false;
            }
            if self.queued.is_empty() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let ms = u16::try_from(left.min(Duration::from_secs(1)).as_millis()).unwrap_or(1000);
            let mut fds = [PollFd::new(self.stream.as_fd(), PollFlags::POLLOUT)];
            if nix::poll::poll(&mut fds, PollTimeout::from(ms)).is_err() {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_client_that_stops_reading_is_dropped_without_blocking() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let mut c = Client::new(ours).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let t = Instant::now();
        let mut sent = 0usize;
        while c.send_frame(frame::STDOUT, &chunk) {
            sent += chunk.len();
            assert!(sent <= MAX_QUEUED + (4 << 20), "never dropped");
        }
        assert!(t.elapsed() < Duration::from_secs(5), "blocked");
        assert!(sent >= MAX_QUEUED / 2, "dropped too early: {sent}");
        // What was sent before the drop is readable, in order.
        let mut first = [0u8; 9];
        theirs.read_exact(&mut first).unwrap();
        assert_eq!(first[0], frame::STDOUT);
        assert_eq!(first[8], b'x');
    }

    #[test]
    fn a_reading_client_gets_everything_and_the_exit() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut c = Client::new(ours).unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut theirs = theirs;
            theirs.read_to_end(&mut all).unwrap();
            all
        });
        for _ in 0..256 {
            assert!(c.send_frame(frame::STDOUT, &[b'y'; 16 * 1024]));
        }
        assert!(c.send_exit(3));
        assert!(c.drain(Instant::now() + Duration::from_secs(10)));
        drop(c);
        let all = reader.join().unwrap();
        // 256 frames of 8 + 16 KiB, then the 12-byte exit frame.
        assert_eq!(all.len(), 256 * (8 + 16 * 1024) + 12);
        assert_eq!(&all[all.len() - 4..], &3i32.to_be_bytes());
    }
}
