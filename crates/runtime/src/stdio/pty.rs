//! Pseudo-terminals: open a pair, read and change the window size, and raw mode.
//!
//! All calls go through `rustix`, so there is no `unsafe` here.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::{self, OptionalActions, Termios, Winsize};

/// Opens a new pseudo-terminal pair and returns `(master, slave)`.
///
/// Both ends are close-on-exec, and opening the slave does not make it the caller's controlling
/// terminal.
pub fn openpty() -> io::Result<(OwnedFd, OwnedFd)> {
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = rustix::pty::openpt(flags)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok((master, slave))
}

/// Sets the window size of the terminal behind `fd` (`TIOCSWINSZ`).
///
/// On a pty master this also delivers `SIGWINCH` to the foreground process group of the slave.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let size = Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    termios::tcsetwinsize(fd, size)?;
    Ok(())
}

/// Returns the window size `(rows, cols)` of the terminal behind `fd` (`TIOCGWINSZ`).
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    let size = termios::tcgetwinsize(fd)?;
    Ok((size.ws_row, size.ws_col))
}

/// Whether `fd` refers to a terminal.
pub fn is_tty(fd: BorrowedFd<'_>) -> bool {
    termios::isatty(fd)
}

/// Puts a terminal in raw mode (as `cfmakeraw` does) and restores the saved settings on drop.
///
/// The guard holds its own duplicate of the descriptor, so it does not borrow the caller's.
#[derive(Debug)]
pub struct RawMode {
    fd: OwnedFd,
    saved: Termios,
    restored: bool,
}

impl RawMode {
    /// Saves the current settings of `fd` and switches it to raw mode.
    pub fn enter(fd: BorrowedFd<'_>) -> io::Result<Self> {
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(fd, OptionalActions::Now, &raw)?;
        Ok(Self {
            fd: fd.try_clone_to_owned()?,
            saved,
            restored: false,
        })
    }

    /// Restores the saved settings now and reports whether that worked.
    pub fn restore(mut self) -> io::Result<()> {
        self.restored = true;
        termios::tcsetattr(self.fd.as_fd(), OptionalActions::Now, &self.saved)?;
        Ok(())
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if !self.restored {
            if let Err(err) = termios::tcsetattr(self.fd.as_fd(), OptionalActions::Now, &self.saved)
            {
                tracing::warn!(error = %err, "restore terminal settings");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::termios::LocalModes;
    use std::io::{Read, Write};

    #[test]
    fn stdio_openpty_gives_a_connected_pair() {
        let (master, slave) = openpty().expect("openpty");
        assert!(is_tty(master.as_fd()));
        assert!(is_tty(slave.as_fd()));
        // Raw mode on the slave so bytes pass straight through.
        let _raw = RawMode::enter(slave.as_fd()).expect("raw");
        let mut m = std::fs::File::from(master);
        let mut s = std::fs::File::from(slave);
        m.write_all(b"ping").expect("write master");
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).expect("read slave");
        assert_eq!(&buf, b"ping");
    }

    #[test]
    fn stdio_winsize_round_trip() {
        let (master, slave) = openpty().expect("openpty");
        set_winsize(master.as_fd(), 40, 132).expect("set");
        assert_eq!(get_winsize(slave.as_fd()).expect("get"), (40, 132));
        set_winsize(slave.as_fd(), 24, 80).expect("set");
        assert_eq!(get_winsize(master.as_fd()).expect("get"), (24, 80));
    }

    #[test]
    fn stdio_winsize_on_non_tty_fails() {
        let file = tempfile::tempfile().expect("tempfile");
        assert!(get_winsize(file.as_fd()).is_err());
        assert!(set_winsize(file.as_fd(), 1, 1).is_err());
        assert!(RawMode::enter(file.as_fd()).is_err());
        assert!(!is_tty(file.as_fd()));
    }

    #[test]
    fn stdio_raw_mode_is_restored_on_drop_and_restore() {
        let (_master, slave) = openpty().expect("openpty");
        let canon = |fd: BorrowedFd<'_>| {
            termios::tcgetattr(fd)
                .expect("tcgetattr")
                .local_modes
                .contains(LocalModes::ICANON | LocalModes::ECHO)
        };
        assert!(canon(slave.as_fd()));
        {
            let _guard = RawMode::enter(slave.as_fd()).expect("raw");
            let attrs = termios::tcgetattr(slave.as_fd()).expect("tcgetattr");
            assert!(!attrs.local_modes.contains(LocalModes::ICANON));
            assert!(!attrs.local_modes.contains(LocalModes::ECHO));
        }
        assert!(canon(slave.as_fd()));
        let guard = RawMode::enter(slave.as_fd()).expect("raw");
        assert!(!canon(slave.as_fd()));
        guard.restore().expect("restore");
        assert!(canon(slave.as_fd()));
    }
}
