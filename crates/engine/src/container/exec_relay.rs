//! The exec shim's loop: the process's output to the caller as attach frames, the caller's
//! messages to the process, until the process has exited and its output is drained.
//!
//! One caller per shim, so output frames are written to it with blocking writes: a caller
//! that stops reading holds the process up, as a full pipe would. The other direction must
//! not block the loop (a process that does not read its stdin while it fills its stdout
//! would deadlock us both), so stdin is queued and written as the process's side takes it,
//! and the caller is not read while [`MAX_QUEUED_INPUT`] bytes wait.

use std::collections::VecDeque;
use std::io::Write;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use berth_runtime::stdio::frame::{self, ClientMsg, ClientReader};
use berth_runtime::stdio::pty;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use super::exec_shim::wait_exit;
use crate::EngineError;

/// Stdin waiting for the process beyond which the caller is not read.
const MAX_QUEUED_INPUT: usize = 1 << 20;

/// After the process has exited, output is read until it ends or stays quiet this long: a
/// background child that inherited the streams must not keep the exec open forever, while
/// what the process wrote just before it exited (a terminal's output is pushed to the master
/// asynchronously) still arrives.
const QUIET_AFTER_EXIT: Duration = Duration::from_millis(300);

/// Our side of the process's stdio.
#[derive(Default)]
pub(crate) struct Streams {
    /// Where the caller's stdin goes: the process's stdin pipe, or the terminal's master.
    input: Option<OwnedFd>,
    /// Output as (frame stream type, fd): the stdout and stderr pipes, or the master.
    outputs: Vec<(u8, OwnedFd)>,
    /// The terminal's master (for resizes).
    master: Option<OwnedFd>,
}

/// The process's side of the pipes, handed to the runtime.
pub(crate) struct TheirEnds {
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

fn pipe() -> Result<(OwnedFd, OwnedFd), EngineError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| EngineError::io("exec: pipe", e.into()))
}

fn nonblocking(fd: &OwnedFd) -> Result<(), EngineError> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)
        .map_err(|e| EngineError::io("exec: fcntl", e.into()))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags))
        .map(drop)
        .map_err(|e| EngineError::io("exec: fcntl", e.into()))
}

impl Streams {
    /// Pipes for stdout, stderr and (with `stdin`) stdin.
    pub fn pipes(stdin: bool) -> Result<(Self, TheirEnds), EngineError> {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (input, their_in) = if stdin {
            let (r, w) = pipe()?;
            nonblocking(&w)?;
            (Some(w), Some(r))
        } else {
            (None, None)
        };
        nonblocking(&out_r)?;
        nonblocking(&err_r)?;
        let ours = Self {
            input,
            outputs: vec![(frame::STDOUT, out_r), (frame::STDERR, err_r)],
            master: None,
        };
        let theirs = TheirEnds {
            stdin: their_in,
            stdout: out_w,
            stderr: err_w,
        };
        Ok((ours, theirs))
    }

    /// The terminal's master: output, resizes and (with `stdin`) input.
    pub fn terminal(master: OwnedFd, stdin: bool) -> Self {
        if let Err(e) = nonblocking(&master) {
            tracing::warn!(error = %e, "exec: the terminal stays blocking");
        }
        let dup = |what| match master.try_clone() {
            Ok(fd) => Some(fd),
            Err(e) => {
                tracing::warn!(error = %e, "exec: duplicate the terminal for {what}");
                None
            }
        };
        let input = if stdin { dup("stdin") } else { None };
        let output = dup("output");
        Self {
            input,
            outputs: output.map(|o| (frame::STDOUT, o)).into_iter().collect(),
            master: Some(master),
        }
    }
}

/// Relays one exec's streams to its caller.
pub(crate) struct Relay {
    client: Option<UnixStream>,
    reader: Option<ClientReader<UnixStream>>,
    streams: Streams,
    pid: Pid,
    queue: VecDeque<u8>,
    /// The caller's stdin ended: close the process's once the queue is written.
    close_input: bool,
}

impl Relay {
    pub fn new(client: UnixStream, streams: Streams, pid: Pid) -> Self {
        let reader = client.try_clone().ok().map(ClientReader::new);
        Self {
            client: Some(client),
            reader,
            streams,
            pid,
            queue: VecDeque::new(),
            close_input: false,
        }
    }

    /// Serves until the process has exited and its output is drained; returns its exit code.
    pub fn run(&mut self) -> i32 {
        // SIGCHLD is blocked only now: the exec'd process must not inherit a blocked signal.
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        let sigfd = mask
            .thread_block()
            .and_then(|()| {
                SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            })
            .map_err(|e| tracing::warn!(error = %e, "exec: signalfd; polling for the exit"))
            .ok();
        // An exit before the block sent its SIGCHLD to nobody.
        let mut code = wait_exit(self.pid, true);
        let mut last_output = Instant::now();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let quiet = last_output.elapsed();
            if code.is_some() && (self.streams.outputs.is_empty() || quiet >= QUIET_AFTER_EXIT) {
                break;
            }
            // The signalfd is the prompt way; the timeout a safety net should SIGCHLD be
            // taken by another thread (the shim has none, but nothing enforces that).
            let timeout = match (code, &sigfd) {
                (Some(_), _) => QUIET_AFTER_EXIT - quiet,
                (None, Some(_)) => Duration::from_secs(1),
                (None, None) => Duration::from_millis(100),
            };
            let ready = self.poll(sigfd.as_ref(), timeout);
            if ready.signal {
                if let Some(fd) = &sigfd {
                    while let Ok(Some(_)) = fd.read_signal() {}
                }
            }
            if code.is_none() {
                code = wait_exit(self.pid, true);
            }
            for i in ready.outputs.into_iter().rev() {
                if self.read_output(i, &mut buf) {
                    last_output = Instant::now();
                }
            }
            if ready.client {
                self.read_client();
            }
            if ready.input {
                self.write_input();
            }
            if self.close_input && self.queue.is_empty() {
                self.streams.input = None;
            }
        }
        code.unwrap_or(255)
    }

    /// Sends the exit frame and ends the stream.
    pub fn finish(mut self, code: i32) {
        if let Some(mut c) = self.client.take() {
            let _ = frame::write_exit(&mut Sender(&c), code);
            let _ = c.flush();
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn poll(&self, sigfd: Option<&SignalFd>, timeout: Duration) -> Ready {
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(5);
        let mut idx = Ready::default();
        if let Some(s) = sigfd {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        let first_output = fds.len();
        for (_, fd) in &self.streams.outputs {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        let client_at = match (&self.client, self.queue.len() < MAX_QUEUED_INPUT) {
            (Some(c), true) => {
                fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        // Only while something waits: a closed pipe reports POLLERR whatever is asked.
        let input_at = match &self.streams.input {
            Some(fd) if !self.queue.is_empty() => {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        let ms = timeout.as_millis().min(u128::from(u16::MAX));
        let t = PollTimeout::from(u16::try_from(ms).unwrap_or(u16::MAX));
        match nix::poll::poll(&mut fds, t) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                tracing::warn!(error = %e, "exec: poll");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let hit = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        idx.signal = sigfd.is_some() && hit(0);
        idx.outputs = (0..self.streams.outputs.len())
            .filter(|i| hit(first_output + i))
            .collect();
        idx.client = client_at.is_some_and(hit);
        idx.input = input_at.is_some_and(hit);
        idx
    }

    /// Reads what output `i` has and sends it on; drops the output at its end. Whether
    /// anything was read.
    fn read_output(&mut self, i: usize, buf: &mut [u8]) -> bool {
        let (kind, fd) = &self.streams.outputs[i];
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(0) => {}
            Ok(n) => {
                let kind = *kind;
                self.send(kind, &buf[..n]);
                return true;
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => return false,
            // EIO: every holder of the terminal's other side closed it.
            Err(_) => {}
        }
        self.streams.outputs.remove(i);
        false
    }

    fn send(&mut self, kind: u8, data: &[u8]) {
        let Some(c) = &self.client else {
            return;
        };
        if frame::write_frame(&mut Sender(c), kind, data).is_err() {
            self.client_gone();
        }
    }

    fn read_client(&mut self) {
        let Some(reader) = self.reader.as_mut() else {
            return;
        };
        let msg = match reader.next() {
            Ok(Some(m)) => m,
            Ok(None) => return self.client_gone(),
            Err(e) => {
                tracing::warn!(error = %e, "exec: a bad message from the caller");
                return self.client_gone();
            }
        };
        match msg {
            ClientMsg::Stdin(data) => {
                if self.streams.input.is_some() && !self.close_input {
                    self.queue.extend(data);
                }
            }
            ClientMsg::CloseStdin if self.streams.master.is_some() => {
                // A terminal has no end of input: its line discipline makes ^D one.
                if self.streams.input.is_some() && !self.close_input {
                    self.queue.push_back(4);
                }
                // The master stays open for output: only stop taking stdin.
                self.close_input = true;
            }
            ClientMsg::CloseStdin => self.close_input = true,
            ClientMsg::Resize { rows, cols } => {
                if let Some(m) = &self.streams.master {
                    let _ = pty::set_winsize(m.as_fd(), rows, cols);
                }
            }
            ClientMsg::Signal(sig) => match Signal::try_from(sig) {
                Ok(s) => {
                    let _ = nix::sys::signal::kill(self.pid, s);
                }
                Err(_) => tracing::warn!(sig, "exec: an unknown signal from the caller"),
            },
        }
    }

    fn write_input(&mut self) {
        let Some(fd) = &self.streams.input else {
            return;
        };
        let (head, _) = self.queue.as_slices();
        match nix::unistd::write(fd, head) {
            Ok(n) => {
                self.queue.drain(..n);
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
            // The process closed its stdin, or the terminal hung up.
            Err(_) => {
                self.queue.clear();
                self.streams.input = None;
            }
        }
    }

    /// The caller went away: the process runs on without it, as docker's do. Its stdin ends;
    /// a terminal is hung up (the kernel sends SIGHUP, as when a terminal window closes).
    fn client_gone(&mut self) {
        self.client = None;
        self.reader = None;
        self.close_input = true;
        if self.streams.master.take().is_some() {
            self.streams.input = None;
            self.streams.outputs.clear();
            self.queue.clear();
        }
    }
}

#[derive(Default)]
struct Ready {
    signal: bool,
    outputs: Vec<usize>,
    client: bool,
    input: bool,
}

/// Writes to the caller's socket without SIGPIPE (a caller that is gone is an error).
struct Sender<'a>(&'a UnixStream);

impl Write for Sender<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use nix::sys::socket::{send, MsgFlags};
        send(self.0.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL).map_err(std::io::Error::from)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_runtime::stdio::frame::FrameReader;
    use std::process::{Command, Stdio};

    /// A process that fills its stdout before it reads its stdin, fed more stdin than a pipe
    /// holds: the relay must queue the stdin instead of blocking on it, and deliver
    /// everything, in order, then the exit.
    #[test]
    fn stdin_the_process_does_not_read_yet_does_not_deadlock_its_output() {
        let (streams, theirs) = Streams::pipes(true).unwrap();
        // Reaped by the relay's waitpid, as the shim reaps the exec'd process.
        #[allow(clippy::zombie_processes)]
        let child = Command::new("sh")
            .args([
                "-c",
                "head -c 300000 /dev/zero; wc -c; echo done >&2; exit 3",
            ])
            .stdin(Stdio::from(theirs.stdin.unwrap()))
            .stdout(Stdio::from(theirs.stdout))
            .stderr(Stdio::from(theirs.stderr))
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
        let (ours, caller) = UnixStream::pair().unwrap();
        let mut writer = caller.try_clone().unwrap();
        let feeder = std::thread::spawn(move || {
            for _ in 0..10 {
                frame::write_client(&mut writer, &ClientMsg::Stdin(vec![b'x'; 40_000])).unwrap();
            }
            frame::write_client(&mut writer, &ClientMsg::CloseStdin).unwrap();
        });
        let reader = std::thread::spawn(move || {
            let mut frames = FrameReader::new(caller);
            let (mut out, mut err) = (Vec::new(), Vec::new());
            loop {
                match frames.next().unwrap() {
                    Some((frame::EXIT, p)) => return (out, err, frame::exit_code(&p).unwrap()),
                    Some((frame::STDERR, d)) => err.extend(d),
                    Some((_, d)) => out.extend(d),
                    None => panic!("no exit frame"),
                }
            }
        });
        let mut relay = Relay::new(ours, streams, pid);
        let code = relay.run();
        relay.finish(code);
        feeder.join().unwrap();
        let (out, err, exit) = reader.join().unwrap();
        assert_eq!(exit, 3);
        assert_eq!(out.len(), 300_000 + "400000\n".len());
        assert!(out[..300_000].iter().all(|b| *b == 0));
        assert_eq!(&out[300_000..], b"400000\n");
        assert_eq!(err, b"done\n");
    }
}
