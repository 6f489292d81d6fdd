//! The streams a front end hands to `attach` and `exec`, and the client end of the attach
//! framing (`berth_runtime::stdio::frame`) that carries them to a container's monitor or an
//! exec's shim.
//!
//! The engine never touches the calling process's stdio, terminal or signals: the CLI puts its
//! terminal in raw mode and turns SIGWINCH and ^C into [`ProcessControl`] messages; the API
//! server hands in the halves of a hijacked connection. Output is copied on the calling
//! thread; stdin and control each get a thread of their own for the call's length.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_runtime::stdio::frame::{self, ClientMsg, FrameReader};

/// What the front end sends to a running process besides its stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessControl {
    /// The terminal changed size (only meaningful with a tty).
    Resize { rows: u16, cols: u16 },
    /// Deliver this signal to the process (docker's sig-proxy).
    Signal(i32),
}

/// The streams of one attach or exec.
pub struct ProcessIo {
    /// The process's stdin (`-i`). It is read on a thread of its own until it ends, then the
    /// process's stdin is closed; a reader that never ends keeps that thread (not the call).
    pub stdin: Option<Box<dyn Read + Send>>,
    /// The process's stdout (everything, with a tty). Flushed after each write.
    pub stdout: Box<dyn Write + Send>,
    pub stderr: Box<dyn Write + Send>,
    /// Resizes and signals while the process runs; dropping the sender is fine.
    pub control: Option<Receiver<ProcessControl>>,
}

impl std::fmt::Debug for ProcessIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessIo")
            .field("stdin", &self.stdin.is_some())
            .field("control", &self.control.is_some())
            .finish_non_exhaustive()
    }
}

impl ProcessIo {
    /// Output to `stdout` and `stderr`, no stdin, no control.
    pub fn new(stdout: Box<dyn Write + Send>, stderr: Box<dyn Write + Send>) -> Self {
        Self {
            stdin: None,
            stdout,
            stderr,
            control: None,
        }
    }
}

/// Writes client messages to the socket; one writer at a time, so that messages from the
/// stdin and control threads never interleave. `MSG_NOSIGNAL`: a peer that is gone is an
/// error, not a SIGPIPE for the caller's process.
struct SocketWriter(UnixStream);

impl Write for SocketWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use nix::sys::socket::{send, MsgFlags};
        send(self.0.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL).map_err(std::io::Error::from)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type SharedWriter = Arc<Mutex<SocketWriter>>;

fn send_msg(w: &SharedWriter, msg: &ClientMsg) -> std::io::Result<()> {
    let mut w = w
        .lock()
        .map_err(|_| std::io::Error::other("stream writer poisoned"))?;
    frame::write_client(&mut *w, msg)
}

/// How an attached stream ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The process exited with this code.
    Exit(i32),
    /// The container could not be started (code, message): an attach made before its
    /// creation (`StartMode::AttachNow`) learns of the failure this way.
    StartFailed(i32, String),
}

impl Ending {
    fn code(self) -> i32 {
        match self {
            Ending::Exit(c) | Ending::StartFailed(c, _) => c,
        }
    }
}

/// Relays `io` over `sock` until the exit frame; `None` when the stream ends without one (the
/// monitor or shim died).
pub(crate) fn relay(sock: UnixStream, io: ProcessIo) -> std::io::Result<Option<i32>> {
    let ProcessIo {
        stdin,
        mut stdout,
        mut stderr,
        control,
    } = io;
    let ending = relay_with(sock, stdin, control, &mut |kind, data| {
        let w = if kind == frame::STDERR {
            &mut stderr
        } else {
            &mut stdout
        };
        w.write_all(data)?;
        w.flush()
    })?;
    Ok(ending.map(Ending::code))
}

/// [`relay`] with the output handed to `sink` (stream type, bytes), and how the stream ended.
pub(crate) fn relay_with(
    sock: UnixStream,
    stdin: Option<Box<dyn Read + Send>>,
    control: Option<Receiver<ProcessControl>>,
    sink: &mut dyn FnMut(u8, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<Option<Ending>> {
    let writer: SharedWriter = Arc::new(Mutex::new(SocketWriter(sock.try_clone()?)));
    let done = Arc::new(AtomicBool::new(false));
    if let Some(rx) = control {
        let (w, done) = (writer.clone(), done.clone());
        std::thread::Builder::new()
            .name("io-control".into())
            .spawn(move || pump_control(&rx, &w, &done))?;
    }
    if let Some(stdin) = stdin {
        let w = writer.clone();
        std::thread::Builder::new()
            .name("io-stdin".into())
            .spawn(move || pump_stdin(stdin, &w))?;
    }
    let result = copy_output(&sock, sink);
    done.store(true, Ordering::Relaxed);
    // Ends the stdin thread's next write; the peer already has the exit.
    let _ = sock.shutdown(Shutdown::Write);
    if let Ok(Some(_)) = result {
        // The monitor closes the connection once it has cleaned up after the exit (an
        // --rm container removed): what the caller does next sees the end.
        let _ = sock.set_read_timeout(Some(CLEANUP_WAIT));
        let mut rest = [0u8; 64];
        while matches!((&sock).read(&mut rest), Ok(n) if n > 0) {}
    }
    let _ = sock.shutdown(Shutdown::Both);
    result
}

/// How long an attached client waits for the monitor's cleanup after the exit.
const CLEANUP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn copy_output(
    sock: &UnixStream,
    sink: &mut dyn FnMut(u8, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<Option<Ending>> {
    let mut reader = FrameReader::new(sock);
    loop {
        match reader.next()? {
            None => return Ok(None),
            Some((frame::EXIT, payload)) => {
                return frame::exit_code(&payload).map(|c| Some(Ending::Exit(c)))
            }
            Some((frame::START_FAILED, payload)) => {
                let (code, message) = frame::start_failure(&payload)?;
                return Ok(Some(Ending::StartFailed(code, message)));
            }
            Some((kind, data)) => sink(kind, &data)?,
        }
    }
}

/// Copies the caller's stdin to the peer until it ends (then closes the process's stdin) or
/// the peer is gone.
fn pump_stdin(mut stdin: Box<dyn Read + Send>, w: &SharedWriter) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if send_msg(w, &ClientMsg::Stdin(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = send_msg(w, &ClientMsg::CloseStdin);
}

/// Forwards resizes and signals until the process ends or the sender is dropped. It wakes
/// now and then to notice the end: a sender that lives on must not keep this thread.
fn pump_control(rx: &Receiver<ProcessControl>, w: &SharedWriter, done: &AtomicBool) {
    while !done.load(Ordering::Relaxed) {
        let msg = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(ProcessControl::Resize { rows, cols }) => ClientMsg::Resize { rows, cols },
            Ok(ProcessControl::Signal(sig)) => ClientMsg::Signal(sig),
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if send_msg(w, &msg).is_err() {
            return;
        }
    }
}
