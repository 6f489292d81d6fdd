//! End to end: `berth build` — the tutorial's Dockerfile shape, the layer cache, failures a
//! person can read, multi-stage, .dockerignore, reproducible images.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{wait_for, Sandbox};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
}

fn context(s: &Sandbox, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = s.root().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir, files);
    dir
}

const TUTORIAL: &str = r#"# base image
FROM busybox
# metadata info
LABEL maintainer="Henri Vandersleyen" email="hvandersleyen@gmail.com"
# exposing container port
EXPOSE 8000
# set work directly so that paths can be relative
WORKDIR /usr/src/app
# copy to make usage of caching
COPY requirements.txt ./
#install dependencies
RUN echo "installing $(cat requirements.txt)" && mkdir -p /deps && cp requirements.txt /deps/installed
# copy code itself from local file to image
COPY . .
CMD httpd -f -p $PORT -h /usr/src/app/src
"#;

#[test]
fn the_tutorials_dockerfile_builds_runs_and_reuses_the_install_layer() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let ctx = context(
        &s,
        "site",
        &[
            ("Dockerfile", TUTORIAL),
            ("requirements.txt", "streamlit\n"),
            ("src/index.html", "Hello World!\n"),
        ],
    );
    let out = s.ok(&[
        "build",
        "-t",
        "streamlit:beta-pre-prod",
        ctx.to_str().unwrap(),
    ]);
    assert!(out.contains("Step 1/8 : FROM busybox"), "{out}");
    assert!(out.contains("Step 6/8 : RUN echo"), "{out}");
    assert!(out.contains("installing streamlit"), "{out}");
    assert!(
        out.contains("Successfully tagged streamlit:beta-pre-prod"),
        "{out}"
    );

    // The image runs with the tutorial's fixed command line.
    s.ok(&[
        "run",
        "-d",
        "--name",
        "personal-website",
        "-e",
        "PORT=8000",
        "-p",
        "8000",
        "streamlit:beta-pre-prod",
    ]);
    let port = s
        .ok(&["port", "personal-website", "8000/tcp"])
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let url = format!("http://127.0.0.1:{port}/index.html");
    assert!(
        wait_for(Duration::from_secs(5), || {
            std::process::Command::new("curl")
                .args(["-sf", "-m", "2", &url])
                .output()
                .is_ok_and(|o| o.stdout == b"Hello World!\n")
        }),
        "the site answers at {url}"
    );

    // Touch app code: the install step comes from the cache.
    write(&ctx, &[("src/index.html", "Hello again!\n")]);
    let out = s.ok(&[
        "build",
        "-t",
        "streamlit:beta-pre-prod",
        ctx.to_str().unwrap(),
    ]);
    let after_run = out.split("Step 6/8").nth(1).unwrap();
    let run_part = after_run.split("Step 7/8").next().unwrap();
    assert!(
        run_part.contains("Using cache") && !run_part.contains("Running in"),
        "{out}"
    );
    let copy_part = out.split("Step 7/8").nth(1).unwrap();
    assert!(
        !copy_part.contains("Using cache"),
        "the changed COPY is rebuilt: {out}"
    );

    // The config is what docker would write.
    let cfg = s.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        "streamlit:beta-pre-prod",
    ]);
    let cfg: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(cfg["WorkingDir"], "/usr/src/app");
    assert_eq!(
        cfg["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "httpd -f -p $PORT -h /usr/src/app/src"])
    );
    assert!(cfg["ExposedPorts"].get("8000/tcp").is_some());
    assert_eq!(cfg["Labels"]["maintainer"], "Henri Vandersleyen");
    let hist = s.ok(&["history", "--no-trunc", "streamlit:beta-pre-prod"]);
    assert!(
        hist.contains("WORKDIR /usr/src/app") && hist.contains("installing"),
        "{hist}"
    );
}

#[test]
fn a_failing_step_is_reported_and_no_tag_moves() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let ok = context(
        &s,
        "ok",
        &[("Dockerfile", "FROM busybox\nRUN echo v1 > /v\n")],
    );
    let first = s
        .ok(&["build", "-q", "-t", "app:latest", ok.to_str().unwrap()])
        .trim()
        .to_string();
    let bad = context(
        &s,
        "bad",
        &[("Dockerfile", "FROM busybox\nRUN echo v2 > /v\nRUN for i in $(seq 1 30); do echo line $i; done; exit 7\n")],
    );
    let r = s.run(&["build", "-t", "app:latest", bad.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("Step 3/3 : RUN for i in") && r.stderr.contains("(Dockerfile:3)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("exit code 7"), "{}", r.stderr);
    assert!(
        r.stderr.contains("line 30") && !r.stderr.contains("line 10\n"),
        "the last 20 lines: {}",
        r.stderr
    );
    let log = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("the full log: "))
        .unwrap();
    let full = std::fs::read_to_string(log).unwrap();
    assert!(
        full.contains("line 1\n") && full.contains("line 30"),
        "the log has everything"
    );
    assert_eq!(
        s.ok(&["images", "-q", "--no-trunc", "app:latest"]).trim(),
        first,
        "the tag did not move"
    );
    assert_eq!(s.ok(&["ps", "-aq"]), "", "no build container left");
}

/// `berth build -t TAG DIR` running, once its RUN step printed the line `started` (its own
/// output, not the step's header, which says it too). The output stays open with the child.
fn build_until_its_run_prints(
    s: &Sandbox,
    dir: &Path,
    tag: &str,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    let mut child = s
        .command()
        .args([
            "build",
            "--progress",
            "plain",
            "-t",
            tag,
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.lines().any(|l| l.trim() == "started") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut out, &mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(
        seen.lines().any(|l| l.trim() == "started"),
        "the RUN step runs: {seen}"
    );
    (child, out)
}

#[test]
fn ctrl_c_stops_a_build_at_once_and_leaves_no_run_container() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let dir = context(
        &s,
        "slow",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo started; sleep 60\nRUN echo never\n",
        )],
    );
    let (mut child, _out) = build_until_its_run_prints(&s, &dir, "slow");
    let t = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "the sleep was killed, not waited for: {:?}",
        t.elapsed()
    );
    assert_eq!(s.ok(&["ps", "-aq"]), "", "no build container left");
    assert_eq!(s.ok(&["images", "-q", "slow"]), "", "no image tagged");
}

#[test]
fn a_build_killed_with_sigkill_takes_its_run_container_with_it() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let dir = context(
        &s,
        "killed",
        &[("Dockerfile", "FROM busybox\nRUN echo started; sleep 61\n")],
    );
    let (mut child, _out) = build_until_its_run_prints(&s, &dir, "killed");
    // No handler can run: the client is simply gone, and its attach connection with it.
    common::kill9(child.id() as i32);
    let _ = child.wait();
    let monitor_log = || {
        let id = s.ok(&["ps", "-aq", "--no-trunc"]);
        std::fs::read_to_string(
            s.root()
                .join("containers")
                .join(id.trim())
                .join("monitor.log"),
        )
        .unwrap_or_default()
    };
    assert!(
        wait_for(Duration::from_secs(20), || s.ok(&["ps", "-aq"]).is_empty()),
        "the step's container outlived its build: {}\nits monitor's log:\n{}",
        s.ok(&["ps", "-a"]),
        monitor_log()
    );
}

#[test]
fn bad_dockerfiles_get_one_line_errors_with_line_numbers() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    for (df, needle) in [
        (
            "FROM busybox\nRUNN x\n",
            "Dockerfile:2: unknown instruction: RUNN",
        ),
        (
            "FROM busybox\nCOPY missing.txt /\n",
            "Dockerfile:2: COPY failed: missing.txt",
        ),
        (
            "FROM busybox\nENV A=${B\n",
            "Dockerfile:2: failed to process",
        ),
        (
            "FROM nosuchbase:1\n",
            "Dockerfile:1: base image nosuchbase:1 not found",
        ),
        (
            "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /x /x\n",
            "circular dependency",
        ),
    ] {
        let ctx = context(&s, "err", &[("Dockerfile", df)]);
        let before = s.ok(&["images", "-aq"]);
        let r = s.run(&["build", ctx.to_str().unwrap()]);
        assert_ne!(r.code, 0, "{df}");
        let err_lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(err_lines.len(), 1, "{df}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{df}: {}", r.stderr);
        assert_eq!(s.ok(&["images", "-aq"]), before, "{df}: nothing stored");
    }
}

#[test]
fn multi_stage_target_dockerignore_and_stdin_context() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let ctx = context(
        &s,
        "ms",
        &[
            (
                "Dockerfile",
                "FROM busybox AS builder\nRUN mkdir /out && echo built > /out/artifact\n\
                 FROM busybox AS final\nCOPY --from=builder /out/artifact /app/artifact\nCOPY . /ctx/\n\
                 FROM busybox AS other\nRUN exit 1\n",
            ),
            (".dockerignore", "secret*\n!secret-ok.txt\n"),
            ("secret.key", "no"),
            ("secret-ok.txt", "yes"),
            ("keep.txt", "k"),
        ],
    );
    let out = s.ok(&[
        "build",
        "--target",
        "final",
        "-t",
        "ms:final",
        ctx.to_str().unwrap(),
    ]);
    assert!(
        !out.contains("RUN exit 1"),
        "the unneeded stage is skipped: {out}"
    );
    assert_eq!(
        s.ok(&["run", "--rm", "ms:final", "cat", "/app/artifact"]),
        "built\n"
    );
    let ls = s.ok(&["run", "--rm", "ms:final", "ls", "/ctx"]);
    assert!(
        ls.contains("keep.txt") && ls.contains("secret-ok.txt") && !ls.contains("secret.key"),
        "{ls}"
    );

    // A context as a tar on standard input.
    let mut b = tar::Builder::new(Vec::new());
    for (p, c) in [
        ("Dockerfile", "FROM busybox\nCOPY hello.txt /\n"),
        ("hello.txt", "from stdin\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(c.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, p, c.as_bytes()).unwrap();
    }
    let r = s.run_stdin(&["build", "-t", "stdin:ctx", "-"], &b.into_inner().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        s.ok(&["run", "--rm", "stdin:ctx", "cat", "/hello.txt"]),
        "from stdin\n"
    );
}

#[test]
fn source_date_epoch_makes_builds_reproducible_across_stores() {
    let Some(a) = Sandbox::with_busybox() else {
        return;
    };
    let Some(b) = Sandbox::new() else { return };
    // The same base image in both stores.
    let archive = a.root().join("busybox.tar");
    a.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    b.ok(&["load", "-i", archive.to_str().unwrap()]);
    let df = "FROM busybox\nENV A=1\nWORKDIR /app\nCOPY f.txt .\nRUN echo made > /app/made\nCMD [\"cat\", \"/app/made\"]\n";
    let mut ids = Vec::new();
    for s in [&a, &b] {
        let ctx = context(s, "repro", &[("Dockerfile", df), ("f.txt", "same\n")]);
        let r = s
            .command()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["build", "-q", ctx.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        ids.push(String::from_utf8_lossy(&r.stdout).trim().to_string());
    }
    assert_eq!(
        ids[0], ids[1],
        "the same image digest from two clean stores"
    );
}

#[test]
fn independent_stages_build_at_the_same_time() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    // The two stages meet over the host's loopback: the server stage's RUN waits for the
    // client stage's RUN to connect. Built one after the other, the server gives up after 30 s
    // and the build fails; built together, both steps finish at once.
    // busybox nc ends at end of input on *either* side: with the step's stdin (/dev/null) it
    // could end right after accepting, before the client's line arrived, and the client's
    // echo then met a closed pipe. Its stdin is a FIFO held open (read-write, so the open does
    // not wait for a writer) that never ends; it ends when the client hangs up.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let df = format!(
        "FROM busybox AS server\n\
         RUN mkfifo /in && exec 3<>/in && timeout 30 nc -l -p {port} <&3 > /got && grep -q hello /got\n\
         FROM busybox AS client\n\
         RUN for i in $(seq 1 300); do echo hello | timeout 5 nc 127.0.0.1 {port} && exit 0; sleep 0.1; done; exit 1\n\
         RUN echo sent > /sent\n\
         FROM busybox\n\
         COPY --from=server /got /got\n\
         COPY --from=client /sent /sent\n"
    );
    let ctx = context(&s, "par", &[("Dockerfile", &df)]);
    let out = s.ok(&[
        "build",
        "--network",
        "host",
        "-t",
        "par:1",
        ctx.to_str().unwrap(),
    ]);
    // While they run together, each stage's lines carry its name.
    assert!(out.contains("[server] Step 2/8 : RUN mkfifo /in"), "{out}");
    assert!(out.contains("[client] Step 5/8 : RUN echo sent"), "{out}");
    assert!(out.contains("Step 7/8 : COPY --from=server"), "{out}");
    assert!(
        !out.contains("] Step 7/8"),
        "the last stage runs alone: {out}"
    );
    assert_eq!(
        s.ok(&["run", "--rm", "par:1", "cat", "/got", "/sent"]),
        "hello\nsent\n"
    );
    // Rebuilt, every step comes from the cache and the image is the same.
    let again = s.ok(&["build", "--network", "host", "-q", ctx.to_str().unwrap()]);
    let id = s.ok(&["image", "inspect", "-f", "{{.Id}}", "par:1"]);
    assert_eq!(again.trim(), id.trim());

    // A failing stage fails the build at once: the sibling's running step (a minute of
    // sleep) is killed and its next step never starts; no tag is made, no container is left.
    let df = "FROM busybox AS ok\nRUN sleep 60 && echo fine > /f\nRUN echo after > /after\n\
              FROM busybox AS bad\nRUN sleep 1; echo broken && exit 3\n\
              FROM busybox\nCOPY --from=ok /f /f\nCOPY --from=bad /f /g\n";
    let ctx = context(&s, "parfail", &[("Dockerfile", df)]);
    let r = s
        .run_timeout(
            &["build", "-t", "parfail:1", ctx.to_str().unwrap()],
            Duration::from_secs(40),
        )
        .expect("the failure does not wait for the sibling's minute-long step");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("RUN sleep 1; echo broken && exit 3 (Dockerfile:5) failed with exit code 3"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("[ok] Step 2/8"), "{}", r.stdout);
    assert!(!r.stdout.contains("Step 3/8"), "{}", r.stdout);
    assert_eq!(s.ok(&["ps", "-aq"]), "", "no RUN container is left");
    assert_eq!(s.run(&["image", "inspect", "parfail:1"]).code, 1);
}

#[test]
fn progress_tty_shows_running_steps_live_and_keeps_one_line_per_finished_step() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let df = "FROM busybox AS a\nRUN for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.1; done\n\
              FROM busybox AS b\nRUN echo from-b > /b\n\
              FROM busybox\nCOPY --from=a /etc/passwd /a\nCOPY --from=b /b /b\nENV X=1\n";
    let ctx = context(&s, "tty", &[("Dockerfile", df)]);
    let dir = ctx.to_str().unwrap();
    let Some(run) = common::under_terminal(&s, &["build", "--progress", "tty", "-t", "tty:1", dir])
    else {
        return;
    };
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // While it ran: the running step with its clock and its output under it.
    assert!(run.stdout.contains("    | tick "), "{}", run.stdout);
    assert!(run.stdout.contains("[+] Building"), "{}", run.stdout);
    // What stays on the screen: one line per finished step, then the total.
    let screen = common::screen(&run.stdout);
    let rows: Vec<&str> = screen
        .iter()
        .map(|r| r.trim_end())
        .filter(|r| !r.is_empty())
        .collect();
    let step = |n: usize| {
        rows.iter()
            .filter(|r| r.contains(&format!("Step {n}/8 ")))
            .count()
    };
    for n in 1..=8 {
        assert_eq!(step(n), 1, "step {n} once:\n{}", rows.join("\n"));
    }
    assert!(
        rows.iter()
            .any(|r| r.starts_with(" => [a] Step 2/8 : RUN for i")),
        "{}",
        rows.join("\n")
    );
    assert!(
        rows.iter().all(|r| !r.starts_with("    | ")),
        "output lines go: {}",
        rows.join("\n")
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("[+] Built in ") && r.ends_with("(8/8 steps)")),
        "{}",
        rows.join("\n")
    );
    assert!(
        rows.contains(&"Successfully tagged tty:1"),
        "{}",
        rows.join("\n")
    );

    // A failing step: the region goes, the error and the step's last lines stay.
    let ctx = context(
        &s,
        "ttyfail",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN for i in $(seq 1 25); do echo line $i; done; exit 4\n",
        )],
    );
    let run =
        common::under_terminal(&s, &["build", "--progress", "tty", ctx.to_str().unwrap()]).unwrap();
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let screen = common::screen(&run.stdout);
    let rows: Vec<&str> = screen.iter().map(|r| r.trim_end()).collect();
    let failed = rows
        .iter()
        .position(|r| r.starts_with("[+] Failed after "))
        .unwrap_or_else(|| panic!("{}", rows.join("\n")));
    assert!(
        rows[..failed].iter().all(|r| !r.starts_with("    | ")),
        "the running step's lines are gone: {}",
        rows.join("\n")
    );
    assert!(
        rows[failed + 1..].iter().any(|r| r.contains("line 25")),
        "{}",
        rows.join("\n")
    );
    assert!(
        rows[failed + 1..]
            .iter()
            .any(|r| r.contains("failed with exit code 4")),
        "{}",
        rows.join("\n")
    );

    // Rebuilt: every step that makes a layer says CACHED.
    let run =
        common::under_terminal(&s, &["build", "--progress", "tty", "-t", "tty:1", dir]).unwrap();
    let screen = common::screen(&run.stdout);
    for n in [2, 4, 6, 7] {
        assert!(
            screen
                .iter()
                .any(|r| r.contains("=> CACHED") && r.contains(&format!("Step {n}/8 "))),
            "step {n} cached:\n{}",
            screen.join("\n")
        );
    }
}

#[test]
fn copy_from_a_stage_follows_its_symlinks_inside_it() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    // busybox's /bin/sh is a link to /bin/busybox: an absolute target, which must resolve in
    // the stage's files, not on the host.
    let df = "FROM busybox AS tools\nRUN ln -s /bin/busybox /usr/bin/bb && echo mine > /etc/motd\n\
              FROM busybox\nCOPY --from=tools /usr/bin/bb /opt/cat\nCOPY --from=tools /etc/motd /motd\n";
    let ctx = context(&s, "links", &[("Dockerfile", df)]);
    s.ok(&["build", "-t", "links:1", ctx.to_str().unwrap()]);
    assert_eq!(
        s.ok(&["run", "--rm", "links:1", "/opt/cat", "/motd"]),
        "mine\n"
    );

    let df = "FROM busybox AS tools\nRUN true\nFROM busybox\nCOPY --from=tools /nope /x\n";
    let ctx = context(&s, "missing", &[("Dockerfile", df)]);
    let r = s.run(&["build", ctx.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("Dockerfile:4: COPY failed: /nope: not found in stage tools"),
        "{}",
        r.stderr
    );
}

#[test]
fn iidfile_holds_the_built_id_and_a_failed_build_leaves_none() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let ctx = context(&s, "iid", &[("Dockerfile", "FROM busybox\nENV A=1\n")]);
    let iid = s.root().join("iid.txt");
    let (dir, file) = (ctx.to_str().unwrap(), iid.to_str().unwrap());
    s.ok(&["build", "--iidfile", file, "-t", "iid:1", dir]);
    let id = s.ok(&["image", "inspect", "-f", "{{.Id}}", "iid:1"]);
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id.trim());
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN exit 1\n").unwrap();
    assert_eq!(s.run(&["build", "--iidfile", file, dir]).code, 1);
    assert!(!iid.exists(), "a failed build leaves no ID");
}

#[test]
fn run_output_is_passed_on_by_whole_lines_and_the_last_one_is_not_lost() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    // Output in pieces that split lines, and a last line with no newline.
    let df = "FROM busybox\n\
              RUN printf 'one '; sleep 0.2; printf 'line\\n'; printf 'last words'; exit 2\n";
    let ctx = context(&s, "pieces", &[("Dockerfile", df)]);
    let r = s.run(&["build", ctx.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("\none line\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\nlast words\n"), "{}", r.stdout);
    assert!(
        r.stderr.contains("    one line\n    last words\n"),
        "{}",
        r.stderr
    );
}
