//! The check that comes before anything opens the store: berth has no daemon to hand work
//! to, so a user who may not write berth's root gets a message that says so and names the
//! path, instead of the first `Permission denied (os error 13)` from deep inside.

use std::path::Path;

use rustix::fs::{Access, AtFlags, CWD};

use crate::cli::{Command, ContainerCommand, SystemCommand};

/// Whether the command opens the store (the others work for any user; `version` and `info`
/// check for themselves, to print their client part first).
pub fn needs_root(command: &Command) -> bool {
    !matches!(
        command,
        Command::Version(_)
            | Command::Info(_)
            | Command::System(SystemCommand::Info(_))
            | Command::Completion(_)
            | Command::Init(_)
            | Command::Registry(_)
    )
}

/// docker's exit code for a command that cannot reach its engine: 125 for `run` and
/// `create` (their own failures), 1 for the rest.
pub fn exit_code(command: &Command) -> u8 {
    match command {
        Command::Run(_)
        | Command::Create(_)
        | Command::Container(ContainerCommand::Run(_) | ContainerCommand::Create(_)) => 125,
        _ => 1,
    }
}

/// Fails, before anything is touched, when the effective user may not write berth's root
/// and run root (or, where they do not exist yet, the directory that would hold them).
/// Root may always go on: its failures are real ones, and say so themselves.
pub fn check(root: &Path, run_root: &Path) -> anyhow::Result<()> {
    if rustix::process::geteuid().is_root() {
        return Ok(());
    }
    for dir in [root, run_root] {
        if !writable(dir) {
            anyhow::bail!(
                "permission denied while trying to open {}: berth needs root (run it with sudo, or as root)",
                dir.display()
            );
        }
    }
    Ok(())
}

/// `dir`, or its nearest existing ancestor, is writable and searchable by the effective
/// user (`faccessat` with `AT_EACCESS`: the IDs the store would be opened with).
fn writable(dir: &Path) -> bool {
    let mut probe = dir;
    loop {
        match rustix::fs::accessat(
            CWD,
            probe,
            Access::WRITE_OK | Access::EXEC_OK,
            AtFlags::EACCESS,
        ) {
            Ok(()) => return true,
            Err(rustix::io::Errno::NOENT) => match probe.parent() {
                Some(p) if !p.as_os_str().is_empty() => probe = p,
                _ => return true,
            },
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_dir_is_judged_by_its_parent() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(writable(&tmp.path().join("not/yet/here")));
    }

    #[test]
    fn commands_that_need_no_store_are_known() {
        use crate::cli::Cli;
        use clap::Parser;
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|c| c.command);
        for (args, root) in [
            (&["berth", "version"][..], false),
            (&["berth", "completion", "bash"][..], false),
            (&["berth", "ps"][..], true),
            (&["berth", "info"][..], false),
            (&["berth", "system", "df"][..], true),
            (&["berth", "run", "busybox"][..], true),
        ] {
            let cmd = parse(args).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(needs_root(&cmd), root, "{args:?}");
        }
        let run =
            parse(&["berth", "container", "create", "busybox"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(exit_code(&run), 125);
    }
}
