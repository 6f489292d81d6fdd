//! The pages of `berth registry serve` in headless Chromium (issue 16): alice signs in, sees
//! her repositories and makes one private; an anonymous visitor and bob no longer see it and
//! `berth pull` of it is denied to both; alice deletes a tag (gone from the page and from
//! `/v2/…/tags/list`); the explore page and the search list the public repositories. Each
//! step's screenshot is kept in target/test-artifacts/registry-web/. Then, with curl:
//! malformed session cookies are an anonymous visitor (200), and a POST without the form's
//! CSRF token is a 403 that changes nothing.
//!
//! Needs: root (the test pushes images), /opt/berth/pyvenv with selenium, Debian's chromium
//! and chromedriver (scripts/setup.sh installs them). Without them the test says SKIPPED, or
//! fails under CI=true.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{run_input, run_with_timeout, start_registry_with, workspace, Sandbox};

const PYTHON: &str = "/opt/berth/pyvenv/bin/python";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// True when the browser tools are there; otherwise a loud SKIPPED, or a panic under CI.
fn browser_tools() -> bool {
    let mut missing = Vec::new();
    for p in [CHROMIUM, CHROMEDRIVER, PYTHON] {
        if !Path::new(p).exists() {
            missing.push(p.to_string());
        }
    }
    if missing.is_empty() {
        let ok = Command::new(PYTHON)
            .args(["-c", "import selenium"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            missing.push("selenium in /opt/berth/pyvenv".into());
        }
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "registry_web needs {} (scripts/setup.sh installs them)",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    println!("SKIPPED: {msg}");
    false
}

/// `berth ARGS` with `input` on stdin and the docker config `config`; (code, stdout+stderr).
fn berth_as(s: &Sandbox, config: &str, args: &[&str], input: &str) -> (i32, String) {
    let mut cmd = s.command();
    cmd.env("DOCKER_CONFIG", s.root().join(config)).args(args);
    let r = run_input(&mut cmd, input.as_bytes());
    (r.code, r.stdout + &r.stderr)
}

/// One phase of the browser script.
fn browser(phase: &str, base: &str, shots: &Path) {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/registry_web.py"))
        .args([phase, base])
        .arg(shots)
        .env("CHROMIUM", CHROMIUM)
        .env("CHROMEDRIVER", CHROMEDRIVER);
    let r = run_with_timeout(&mut cmd, Duration::from_secs(180)).expect("the browser finished");
    assert!(
        r.code == 0 && r.stdout.trim_end().ends_with("all ok"),
        "browser phase {phase}: {}{}",
        r.stdout,
        r.stderr
    );
}

/// curl: (status, headers + body). `args` go before the URL.
fn curl(args: &[&str], url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-i", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The CSRF token in a form of `html`.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned()
}

#[test]
fn registry_pages_sign_in_visibility_tag_delete_explore_and_search() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    if !browser_tools() {
        return;
    }
    let htpasswd = s.root().join("users.htpasswd");
    let f = htpasswd.to_str().unwrap();
    for (user, password) in [("alice", "a-pass"), ("bob", "b-pass")] {
        let (code, out) = berth_as(
            &s,
            "admin",
            &[
                "registry",
                "user",
                "add",
                user,
                "--password-stdin",
                "--htpasswd",
                f,
            ],
            &format!("{password}\n"),
        );
        assert_eq!(code, 0, "{out}");
    }
    let reg = start_registry_with(Some(&htpasswd));
    let host = format!("127.0.0.1:{}", reg.port);
    let base = format!("http://{host}");
    let login = |config: &str, user: &str, password: &str| {
        let args = ["login", "-u", user, "--password-stdin", &host];
        berth_as(&s, config, &args, &format!("{password}\n"))
    };
    assert_eq!(login("alice-config", "alice", "a-pass").0, 0);
    for image in ["alice/web:v1", "alice/tools:v1", "alice/tools:v2"] {
        let image = format!("{host}/{image}");
        s.ok(&["tag", "busybox", &image]);
        let (code, out) = berth_as(&s, "alice-config", &["push", &image], "");
        assert_eq!(code, 0, "{out}");
        // Pulls below must ask the registry, not find the image here.
        s.ok(&["rmi", &image]);
    }
    let shots = workspace().join("target/test-artifacts/registry-web");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    browser("alice-private", &base, &shots);
    // Anonymous: the public one pulls, the private one is denied.
    let pull = |config: &str, image: &str| {
        let (code, out) = berth_as(&s, config, &["pull", &format!("{host}/{image}")], "");
        if code == 0 {
            s.ok(&["rmi", &format!("{host}/{image}")]);
        }
        (code, out)
    };
    assert_eq!(pull("anon-config", "alice/tools:v1").0, 0);
    let (code, out) = pull("anon-config", "alice/web:v1");
    assert_ne!(code, 0, "anonymous pull of a private repository: {out}");
    browser("anonymous", &base, &shots);
    assert_eq!(curl(&[], &format!("{base}/r/alice/web")).0, 404);

    assert_eq!(login("bob-config", "bob", "b-pass").0, 0);
    browser("bob", &base, &shots);
    let (code, out) = pull("bob-config", "alice/web:v1");
    assert_ne!(code, 0, "bob's pull of alice's private repository: {out}");
    assert_eq!(
        pull("alice-config", "alice/web:v1").0,
        0,
        "alice pulls her own"
    );

    browser("alice-delete", &base, &shots);
    let (code, list) = curl(&[], &format!("{base}/v2/alice/tools/tags/list"));
    assert_eq!(code, 200, "{list}");
    assert!(
        list.contains("\"v1\"") && !list.contains("\"v2\""),
        "{list}"
    );
    browser("explore-search", &base, &shots);

    cookies_and_csrf(&base);
    let shots_taken = std::fs::read_dir(&shots).unwrap().count();
    assert!(shots_taken >= 15, "{shots_taken} screenshots");
}

/// Bad cookies are an anonymous visit; a POST without the form's token changes nothing.
fn cookies_and_csrf(base: &str) {
    let real = {
        // A real cookie, to truncate and tamper with.
        let (_, page) = curl(&[], &format!("{base}/login"));
        let line = page
            .lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with("set-cookie: berth_session=")
            })
            .unwrap()
            .to_owned();
        let value = line.split_once('=').unwrap().1.split(';').next().unwrap();
        value.to_owned()
    };
    let (payload, sig) = real.split_once('.').unwrap();
    let bad = [
        "berth_session=".to_owned(),
        "berth_session=garbage".into(),
        "berth_session=...".into(),
        format!("berth_session={payload}"),
        format!("berth_session={payload}.{}", &sig[..sig.len() / 2]),
        format!("berth_session=eyJ1IjoiYWxpY2UiLCJzIjoieCIsImUiOjk5OTk5OTk5OTk5fQ.{sig}"),
        format!("berth_session={}", "A".repeat(5000)),
        "berth_session=%00%ff; berth_session=\"x\"".into(),
    ];
    for cookie in &bad {
        for page in ["/u/alice", "/explore", "/r/alice/tools"] {
            let (code, html) = curl(
                &["-H", &format!("Cookie: {cookie}")],
                &format!("{base}{page}"),
            );
            assert_eq!(code, 200, "{cookie} {page}: {html}");
            assert!(html.contains("id=\"sign-in\""), "{cookie}: anonymous");
            assert!(
                !html.contains("alice/web"),
                "{cookie}: the private one is hidden"
            );
        }
    }

    // alice signs in with curl: the login page's cookie and token, then the form.
    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().to_str().unwrap();
    let (_, form) = curl(&["-c", jar], &format!("{base}/login"));
    let token = csrf_of(&form);
    let body = format!("username=alice&password=a-pass&csrf={token}");
    let (code, _) = curl(
        &["-b", jar, "-c", jar, "-d", &body],
        &format!("{base}/login"),
    );
    assert_eq!(code, 303);
    let (code, page) = curl(&["-b", jar], &format!("{base}/r/alice/web"));
    assert_eq!(code, 200, "{page}");
    let token = csrf_of(&page);
    // Without the token, or with a wrong one: 403, still private, v1 still there.
    for body in [
        "visibility=public".to_owned(),
        "visibility=public&csrf=".into(),
        format!("visibility=public&csrf={}x", &token[..token.len() - 1]),
    ] {
        let (code, html) = curl(
            &["-b", jar, "-d", &body],
            &format!("{base}/r/alice/web/-/visibility"),
        );
        assert_eq!(code, 403, "{body}: {html}");
        assert!(html.contains("security token"), "{html}");
    }
    let (code, html) = curl(
        &["-b", jar, "-d", "tag=v1"],
        &format!("{base}/r/alice/tools/-/delete-tag"),
    );
    assert_eq!(code, 403, "{html}");
    assert_eq!(
        curl(&[], &format!("{base}/r/alice/web")).0,
        404,
        "still private"
    );
    let (_, list) = curl(&[], &format!("{base}/v2/alice/tools/tags/list"));
    assert!(list.contains("\"v1\""), "{list}");
    // GETs change nothing, whatever they carry.
    let (code, _) = curl(
        &["-b", jar],
        &format!("{base}/r/alice/web/-/visibility?visibility=public&csrf={token}"),
    );
    assert_ne!(code, 303);
    assert_eq!(
        curl(&[], &format!("{base}/r/alice/web")).0,
        404,
        "still private"
    );
}
