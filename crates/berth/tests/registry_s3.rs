//! Issue 16's acceptance through the CLI: two `berth registry serve --storage s3://…` processes
//! over one bucket of a real S3 server (moto, started here). `berth push` through one, `berth
//! pull` and `berth run` through the other; `berth registry repo` and `registry gc` work on the
//! bucket with the same flags; a missing bucket stops `serve` with a message naming it.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Sandbox};

const MOTO: &str = "/opt/berth/pyvenv/bin/moto_server";
const KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

/// A child process killed (and reaped) on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// moto on a free port, or why not: loudly (a panic) under CI.
fn moto() -> Option<(Killed, String)> {
    if !Path::new(MOTO).exists() {
        let msg = format!("{MOTO} is missing (scripts/setup.sh installs moto[server])");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    let port = free_port();
    let child = Command::new(MOTO)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moto = Killed(child);
    wait_port(port);
    Some((moto, format!("http://127.0.0.1:{port}")))
}

/// `berth registry ARGS --storage s3://… --s3-endpoint …` (the S3 flags appended).
fn registry_cmd(args: &[&str], root: &Path, endpoint: &str, bucket: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("registry")
        .args(args)
        .arg("--root")
        .arg(root)
        .args(["--storage", &format!("s3://{bucket}/reg")])
        .args(["--s3-endpoint", endpoint])
        .envs(KEYS);
    cmd
}

fn serve(root: &Path, endpoint: &str) -> (Killed, u16) {
    let port = free_port();
    let child = registry_cmd(&["serve"], root, endpoint, "shared")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    wait_port(port);
    (child, port)
}

fn admin(args: &[&str], root: &Path, endpoint: &str) -> String {
    let out = registry_cmd(args, root, endpoint, "shared")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "berth registry {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn two_instances_over_one_bucket_serve_one_registry() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let Some((_moto, endpoint)) = moto() else {
        return;
    };
    let made = Command::new("curl")
        .args(["-sf", "-X", "PUT", &format!("{endpoint}/shared")])
        .status()
        .unwrap();
    assert!(made.success(), "create the bucket");
    let (_a, port_a) = serve(&s.root().join("reg-a"), &endpoint);
    let (_b, port_b) = serve(&s.root().join("reg-b"), &endpoint);

    let through_a = format!("127.0.0.1:{port_a}/alice/bb:1");
    let through_b = format!("127.0.0.1:{port_b}/alice/bb:1");
    s.ok(&["tag", "busybox", &through_a]);
    s.ok(&["push", &through_a]);
    s.ok(&["rmi", &through_a]);
    s.ok(&["pull", &through_b]);
    let out = s.ok(&["run", "--rm", &through_b, "echo", "served by b"]);
    assert_eq!(out.trim(), "served by b");

    // The admin commands over the same bucket.
    let admin_root = s.root().join("reg-admin");
    let ls = admin(&["repo", "ls"], &admin_root, &endpoint);
    assert!(ls.contains("alice/bb"), "{ls}");
    admin(&["repo", "private", "alice/bb"], &admin_root, &endpoint);
    let inspect = admin(&["repo", "inspect", "alice/bb"], &admin_root, &endpoint);
    assert!(inspect.contains("\"private\""), "{inspect}");
    let gc = admin(&["gc", "--dry-run"], &admin_root, &endpoint);
    assert!(gc.contains("0 blobs removed"), "{gc}");

    // A bucket that is not there: serve stops at once and says which.
    let out = registry_cmd(&["serve"], &s.root().join("reg-c"), &endpoint, "absent")
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("absent") && err.contains("NoSuchBucket"),
        "{err}"
    );
}
