//! Terminal and stream plumbing shared by the container monitor and the CLI.
//!
//! - [`console`]: receive the pty master that libcontainer sends over the console socket.
//! - [`pty`]: open ptys, get/set window sizes, and put a terminal in raw mode.
//! - [`frame`]: the attach protocol between CLI and monitor (Docker's multiplexed output framing
//!   plus our own control messages).
//! - [`jsonlog`]: Docker's `json-file` log format — writing with rotation, reading back with
//!   tail/since/until, and following a growing log.
//!
//! Nothing here starts containers or knows about the store; these are byte and fd utilities.
//!
//! ```
//! use berth_runtime::stdio::frame::{write_frame, FrameReader, STDOUT};
//! let mut wire = Vec::new();
//! write_frame(&mut wire, STDOUT, b"hello\n")?;
//! let mut reader = FrameReader::new(&wire[..]);
//! assert_eq!(reader.next()?, Some((STDOUT, b"hello\n".to_vec())));
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod console;
pub mod frame;
pub mod jsonlog;
pub mod pty;

pub use console::ConsoleSocket;
pub use frame::{ClientMsg, ClientReader, FrameReader};
pub use jsonlog::{JsonLogReader, JsonLogWriter, LogEntry, LogStream};
pub use pty::RawMode;
