//! Reading a password from the terminal without echoing it (`login`'s prompt).
//!
//! Echo and signals are off while the user types, so Ctrl-C arrives as a byte and is
//! handled here, after the terminal is put back: a guard restores the saved modes on every
//! way out (Enter, Ctrl-C, Ctrl-D, a read error, a panic).

use std::io::{Read, Write};
use std::os::fd::BorrowedFd;

use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

/// Why no password was read.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cancelled")]
    Interrupted,
    #[error("no password given (end of input)")]
    Eof,
    #[error("terminal: {0}")]
    Terminal(#[from] rustix::io::Errno),
    #[error("read the password: {0}")]
    Io(#[from] std::io::Error),
}

/// Puts the saved terminal modes back when dropped.
struct Restore<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, OptionalActions::Now, &self.saved);
    }
}

/// Writes `prompt` to stderr and reads one line from the terminal on stdin, unechoed.
pub fn prompt(prompt: &str) -> Result<String, PromptError> {
    let stdin = std::io::stdin();
    let fd = std::os::fd::AsFd::as_fd(&stdin);
    let saved = termios::tcgetattr(fd)?;
    let mut quiet = saved.clone();
    // Non-canonical, so that each key arrives as typed; no ISIG, so that Ctrl-C is a byte
    // we see (and can restore the terminal after) rather than a signal that kills us with
    // echo still off.
    quiet
        .local_modes
        .remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG);
    quiet.special_codes[SpecialCodeIndex::VMIN] = 1;
    quiet.special_codes[SpecialCodeIndex::VTIME] = 0;
    let erase = saved.special_codes[SpecialCodeIndex::VERASE];
    let kill = saved.special_codes[SpecialCodeIndex::VKILL];
    let mut err = std::io::stderr();
    let read = {
        let _restore = Restore { fd, saved };
        termios::tcsetattr(fd, OptionalActions::Now, &quiet)?;
        // Only now: what is typed after the prompt shows must not be echoed.
        write!(err, "{prompt}")?;
        err.flush()?;
        read_line(&mut stdin.lock(), erase, kill)
    };
    // The user's Enter was not echoed: end the prompt's line ourselves.
    writeln!(err)?;
    read
}

/// Reads bytes up to Enter, applying the erase and kill keys; Ctrl-C cancels, Ctrl-D on an
/// empty line is the end of input.
fn read_line(input: &mut impl Read, erase: u8, kill: u8) -> Result<String, PromptError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if input.read(&mut byte)? == 0 {
            if line.is_empty() {
                return Err(PromptError::Eof);
            }
            break;
        }
        match byte[0] {
            b'\r' | b'\n' => break,
            0x03 => return Err(PromptError::Interrupted),
            0x04 if line.is_empty() => return Err(PromptError::Eof),
            0x04 => break,
            b if b == erase || b == 0x7f || b == 0x08 => {
                // Drop a whole UTF-8 character, not one of its bytes.
                while let Some(last) = line.pop() {
                    if last & 0xC0 != 0x80 {
                        break;
                    }
                }
            }
            b if b == kill || b == 0x15 => line.clear(),
            b => line.push(b),
        }
    }
    String::from_utf8(line)
        .map_err(|e| PromptError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<String, PromptError> {
        read_line(&mut &bytes[..], 0x7f, 0x15)
    }

    #[test]
    fn keys_edit_the_line_as_a_terminal_would() {
        assert_eq!(read(b"secret\r").ok().as_deref(), Some("secret"));
        assert_eq!(read(b"secrex\x7ft\n").ok().as_deref(), Some("secret"));
        assert_eq!(read(b"oops\x15secret\r").ok().as_deref(), Some("secret"));
        assert_eq!(read("pä\x7fa\r".as_bytes()).ok().as_deref(), Some("pa"));
        assert_eq!(read(b"tail").ok().as_deref(), Some("tail"));
    }

    #[test]
    fn ctrl_c_cancels_and_ctrl_d_ends() {
        assert!(matches!(
            read(b"sec\x03ret\r"),
            Err(PromptError::Interrupted)
        ));
        assert!(matches!(read(b"\x04"), Err(PromptError::Eof)));
        assert!(matches!(read(b""), Err(PromptError::Eof)));
    }
}
