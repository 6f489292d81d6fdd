//! `berth registry user …` and `berth registry repo …` against a running `registry serve`:
//! users added, re-passworded and removed change who can log in without a restart; a
//! repository made private or public, inspected and removed; Docker Hub's search API finds
//! what the caller may pull.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::{run_input, start_registry_with, Sandbox};

/// `berth ARGS` with `input` on stdin and its own docker config; (code, stdout, stderr).
fn berth_in(s: &Sandbox, args: &[&str], input: &str) -> (i32, String, String) {
    let mut cmd = s.command();
    cmd.env("DOCKER_CONFIG", s.root().join("docker-config"))
        .args(args);
    let r = run_input(&mut cmd, input.as_bytes());
    (r.code, r.stdout, r.stderr)
}

fn curl(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-m", "5", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn users_and_repositories_are_managed_while_the_registry_serves() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let htpasswd = s.root().join("users.htpasswd");
    let f = htpasswd.to_str().unwrap();
    let admin = |args: &[&str], input: &str| {
        let mut all = vec!["registry", "user"];
        all.extend(args);
        all.extend(["--htpasswd", f]);
        berth_in(&s, &all, input)
    };
    // The file exists before the server starts (it reads it on each change).
    assert_eq!(
        admin(&["add", "alice", "--password-stdin"], "s3cret\n").0,
        0
    );
    let reg = start_registry_with(Some(&htpasswd));
    let host = format!("127.0.0.1:{}", reg.port);
    let login = |user: &str, password: &str| {
        berth_in(
            &s,
            &["login", "-u", user, "--password-stdin", &host],
            &format!("{password}\n"),
        )
        .0
    };
    assert_eq!(login("alice", "s3cret"), 0);
    // A user added while it serves can log in at once; a second add is refused.
    assert_eq!(admin(&["add", "bob", "--password-stdin"], "b0b\n").0, 0);
    assert_eq!(login("bob", "b0b"), 0);
    let (code, _, err) = admin(&["add", "bob", "--password-stdin"], "x\n");
    assert_ne!(code, 0);
    assert!(err.contains("exists already"), "{err}");
    let (code, _, err) = admin(&["add", "Bad", "--password-stdin"], "x\n");
    assert_ne!(code, 0);
    assert!(err.contains("invalid user name"), "{err}");
    assert_eq!(admin(&["ls"], "").1, "alice\nbob\n");
    // A new password: the old one stops working, without a restart.
    assert_eq!(admin(&["passwd", "bob", "--password-stdin"], "n3w\n").0, 0);
    assert_ne!(login("bob", "b0b"), 0);
    assert_eq!(login("bob", "n3w"), 0);
    assert_eq!(admin(&["rm", "bob"], "").0, 0);
    assert_ne!(login("bob", "n3w"), 0);
    assert_eq!(admin(&["ls"], "").1, "alice\n");

    // alice pushes two repositories (logged in last as alice).
    assert_eq!(login("alice", "s3cret"), 0);
    for name in ["alice/web", "alice/tools"] {
        let image = format!("{host}/{name}:v1");
        s.ok(&["tag", "busybox", &image]);
        let (code, _, err) = berth_in(&s, &["push", &image], "");
        assert_eq!(code, 0, "{err}");
    }
    let root = reg.root().to_str().unwrap().to_string();
    let repo = |args: &[&str]| {
        let mut all = vec!["registry", "repo"];
        all.extend(args);
        all.extend(["--root", &root]);
        s.run(&all)
    };
    let ls = repo(&["ls"]).stdout;
    assert!(ls.starts_with("REPOSITORY"), "{ls}");
    assert!(
        ls.contains("alice/tools") && ls.contains("alice/web"),
        "{ls}"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&repo(&["inspect", "alice/web"]).stdout).unwrap();
    assert_eq!(inspect["Owner"], "alice");
    assert_eq!(inspect["Tags"][0]["Tag"], "v1");

    // Search: anonymous finds the public ones; private ones only their owner.
    let search = |q: &str| curl(&format!("http://{host}/v1/search?q={q}"));
    assert!(
        search("alice").contains("\"alice/web\""),
        "{}",
        search("alice")
    );
    assert_eq!(repo(&["private", "alice/web"]).code, 0);
    let found: serde_json::Value = serde_json::from_str(&search("alice")).unwrap();
    let names: Vec<&str> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["alice/tools"], "{found}");
    let own = Command::new("curl")
        .args(["-s", "-u", "alice:s3cret"])
        .arg(format!("http://{host}/v1/search?q=web"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&own.stdout).contains("\"alice/web\""));
    // berth search speaks the same API.
    let out = s.ok(&["search", &format!("{host}/tools")]);
    assert!(out.contains("alice/tools"), "{out}");
    // Anonymous pull of the private one is denied; public again, it is allowed.
    let anon = |image: &str| {
        let mut c = s.command();
        c.env("DOCKER_CONFIG", s.root().join("anon-config"))
            .args(["pull", image]);
        c.output().unwrap().status.success()
    };
    s.ok(&["rmi", &format!("{host}/alice/web:v1")]);
    assert!(!anon(&format!("{host}/alice/web:v1")));
    assert_eq!(repo(&["public", "alice/web"]).code, 0);
    assert!(anon(&format!("{host}/alice/web:v1")));

    // Removed: gone from the listing, the API and search.
    assert_eq!(repo(&["rm", "alice/tools"]).code, 0);
    assert!(!repo(&["ls"]).stdout.contains("alice/tools"));
    assert!(curl(&format!("http://{host}/v2/alice/tools/tags/list")).contains("NAME_UNKNOWN"));
    let r = repo(&["rm", "alice/tools"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no such repository"), "{}", r.stderr);
}
