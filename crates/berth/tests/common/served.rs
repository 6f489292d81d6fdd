//! `berth serve` for a test sandbox, and the docker CLI pointed at it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{run_with_timeout, wait_for, Run, Sandbox};

/// A `berth serve` on a socket of the sandbox's own; killed when dropped.
pub struct Served {
    pub child: Child,
    pub socket: PathBuf,
    /// docker's client config (kept apart from the machine's `~/.docker`).
    pub config: tempfile::TempDir,
}

impl Served {
    pub fn start(s: &Sandbox) -> Self {
        let socket = s.root().join("api.sock");
        Self::start_at(s, socket)
    }

    pub fn start_at(s: &Sandbox, socket: PathBuf) -> Self {
        let child = s
            .command()
            .args(["serve", "-H", &format!("unix://{}", socket.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        assert!(
            wait_for(Duration::from_secs(10), || {
                std::os::unix::net::UnixStream::connect(&socket).is_ok()
            }),
            "berth serve never listened on {}",
            socket.display()
        );
        Self {
            child,
            socket,
            config: tempfile::tempdir().unwrap(),
        }
    }

    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(docker_bin().unwrap());
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.config.path())
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        c
    }

    /// Runs the docker CLI, whatever its exit code.
    pub fn docker(&self, args: &[&str]) -> Run {
        run_with_timeout(&mut self.docker_command(args), Duration::from_secs(60))
            .unwrap_or_else(|| panic!("docker {args:?} did not finish"))
    }

    /// Runs the docker CLI and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.docker(args);
        assert_eq!(r.code, 0, "docker {args:?}: {}{}", r.stdout, r.stderr);
        r.stdout
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The docker CLI, or `None` (after a loud SKIPPED line).
pub fn docker_bin() -> Option<PathBuf> {
    let found = ["/usr/bin/docker", "/usr/local/bin/docker"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        let msg = format!(
            "SKIPPED (the docker CLI is not installed; scripts/setup.sh installs docker.io): {}",
            super::test_name()
        );
        eprintln!("{msg}");
        println!("{msg}");
    }
    found
}
