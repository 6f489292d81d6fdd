//! A real S3 server for the object-store tests: moto's `moto_server` (installed by
//! `scripts/setup.sh` into /opt/berth/pyvenv), started on a free port and killed on drop.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_registry::server::S3Config;

pub const MOTO: &str = "/opt/berth/pyvenv/bin/moto_server";

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto, or says why not: loudly (a panic) under CI, where it must be installed.
pub fn moto() -> Option<Moto> {
    if !Path::new(MOTO).exists() {
        let msg = format!("{MOTO} is missing (scripts/setup.sh installs moto[server])");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new(MOTO)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(moto)
}

impl Moto {
    /// Creates `bucket` (moto takes any credentials).
    pub fn bucket(&self, bucket: &str) {
        ureq::put(&format!("{}/{bucket}", self.endpoint))
            .call()
            .expect("create bucket");
    }

    pub fn config(&self, bucket: &str, prefix: &str) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            prefix: prefix.into(),
            endpoint: Some(self.endpoint.clone()),
            region: "us-east-1".into(),
            access_key: "testing".into(),
            secret_key: "testing".into(),
            session_token: None,
            path_style: true,
        }
    }

    /// Every key in the bucket under `prefix`.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let body = ureq::get(&format!(
            "{}/{bucket}?list-type=2&prefix={prefix}",
            self.endpoint
        ))
        .call()
        .expect("list bucket")
        .into_string()
        .unwrap_or_default();
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
}
