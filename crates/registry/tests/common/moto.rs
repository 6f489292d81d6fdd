//! A real S3 server for the object-store tests: moto's `moto_server` (installed by
//! `scripts/setup.sh` into /opt/berth/pyvenv), started on a free port and stopped on drop — or,
//! for a shared one, when the test process exits.
//!
//! `BERTH_TEST_STORAGE=s3` runs every server the tests start with [`start_server`] over a bucket
//! (`scripts/test.sh` runs the conformance tests so).
//!
//! [`start_server`]: super::start_server

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use berth_registry::server::S3Config;

pub const MOTO: &str = "/opt/berth/pyvenv/bin/moto_server";

pub struct Moto {
    child: Child,
    /// Closing it stops moto (see [`moto`]).
    stdin: Option<ChildStdin>,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Starts moto, or says why not: loudly (a panic) under CI, where it must be installed.
pub fn moto() -> Option<Moto> {
    moto_with(&[])
}

/// Moto that checks signatures and IAM policies (after the first `free` requests, which set
/// up a user): returns it with the user's access key and secret, and `bucket` created.
pub fn moto_with_auth(bucket: &str) -> Option<(Moto, String, String)> {
    let m = moto_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")])?;
    // Unchecked while the free requests last; the credential scope routes them to IAM.
    let fake = |service: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20200101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
        )
    };
    let iam = |form: &[(&str, &str)]| {
        ureq::post(&format!("{}/", m.endpoint))
            .set("Authorization", &fake("iam"))
            .send_form(form)
            .expect("IAM request")
            .into_string()
            .unwrap_or_default()
    };
    let v = ("Version", "2010-05-08");
    iam(&[("Action", "CreateUser"), ("UserName", "registry"), v]);
    let keys = iam(&[("Action", "CreateAccessKey"), ("UserName", "registry"), v]);
    let field = |tag: &str| {
        keys.split(&format!("<{tag}>"))
            .nth(1)
            .and_then(|s| s.split(&format!("</{tag}>")).next())
            .expect("access key in the answer")
            .to_owned()
    };
    let policy =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    iam(&[
        ("Action", "PutUserPolicy"),
        ("UserName", "registry"),
        ("PolicyName", "all"),
        ("PolicyDocument", policy),
        v,
    ]);
    ureq::put(&format!("{}/{bucket}", m.endpoint))
        .set("Authorization", &fake("s3"))
        .call()
        .expect("create bucket");
    let (id, secret) = (field("AccessKeyId"), field("SecretAccessKey"));
    Some((m, id, secret))
}

fn moto_with(env: &[(&str, &str)]) -> Option<Moto> {
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
    // Through a shell that stops moto when its stdin closes: on drop, and also when the test
    // process exits without dropping it (a shared server in a static).
    let mut child = Command::new("sh")
        .args([
            "-c",
            "\"$0\" -H 127.0.0.1 -p \"$1\" >/dev/null 2>&1 & m=$!; read _; kill $m; wait $m",
            MOTO,
            &port.to_string(),
        ])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto {
        stdin: child.stdin.take(),
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

/// With `BERTH_TEST_STORAGE=s3`, the bucket for a test server over `root`: one moto per test
/// process, one bucket per root, so that a server started again over the same root finds its
/// registry.
pub fn storage_under_test(root: &Path) -> Option<S3Config> {
    if std::env::var("BERTH_TEST_STORAGE").as_deref() != Ok("s3") {
        return None;
    }
    static SHARED: OnceLock<Option<Moto>> = OnceLock::new();
    let m = SHARED.get_or_init(moto).as_ref()?;
    let name = root.to_string_lossy();
    let bucket = format!(
        "t-{}",
        &berth_registry::Digest::of(name.as_bytes()).hex()[..24]
    );
    m.bucket(&bucket);
    Some(m.config(&bucket, "registry"))
}

impl Moto {
    /// Creates `bucket` (moto takes any credentials); there already is fine.
    pub fn bucket(&self, bucket: &str) {
        match ureq::put(&format!("{}/{bucket}", self.endpoint)).call() {
            Ok(_) | Err(ureq::Error::Status(409, _)) => {}
            Err(e) => panic!("create bucket {bucket}: {e}"),
        }
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
