//! The everyday commands a docker user reaches for first: `run` pulling a missing image,
//! pull errors that say the registry could not be reached, `version`, `info`, `completion`,
//! `login`'s password prompt, the message for a user who is not root, and `system prune`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{is_root, start_registry, test_images, test_name, Berth, Registry, Sandbox};

/// Pushes the busybox test image to `reg` as `REPO:latest` (from a berth of its own).
fn publish_busybox(reg: &Registry, repo: &str) -> String {
    let publisher = Berth::new();
    let reference = format!("127.0.0.1:{}/{repo}:latest", reg.port);
    let tar = test_images().join("busybox-rootfs.tar");
    publisher.ok(&[
        "import",
        "--change",
        r#"CMD ["sh"]"#,
        tar.to_str().unwrap(),
        &reference,
    ]);
    publisher.ok(&["push", &reference]);
    reference
}

/// A berth config making `reg` docker.io's mirror, as `/etc/berth/config.json` would.
fn mirror_config(dir: &Path, reg: &Registry) -> std::path::PathBuf {
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"registry-mirrors": ["http://127.0.0.1:{}"]}}"#,
            reg.port
        ),
    )
    .unwrap();
    path
}

fn run_with(s: &Berth, config: &Path, args: &[&str]) -> common::Run {
    let out = s
        .command()
        .env("BERTH_CONFIG", config)
        .args(args)
        .output()
        .unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn run_pulls_a_missing_image_unless_told_never() {
    let Some(s) = Sandbox::new() else { return };
    let reg = start_registry();
    publish_busybox(&reg, "library/busybox");
    let config = mirror_config(s.root(), &reg);

    // --pull never: docker's "No such image", exit 125, nothing fetched.
    let r = run_with(
        &s,
        &config,
        &["run", "--pull", "never", "--rm", "busybox", "true"],
    );
    assert_eq!(r.code, 125, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("No such image: busybox:latest"),
        "{}",
        r.stderr
    );
    assert_eq!(s.ok(&["images", "-q"]), "");

    // The default (missing): say so, pull with pull's report on stderr, then run. Stdout is
    // the container's alone.
    let r = run_with(&s, &config, &["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout, "hi\n");
    let unable = r
        .stderr
        .find("Unable to find image 'busybox:latest' locally\n")
        .unwrap_or_else(|| panic!("{}", r.stderr));
    let pulling = r
        .stderr
        .find("latest: Pulling from library/busybox\n")
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(unable < pulling, "{}", r.stderr);
    assert!(r.stderr.contains(": Pull complete\n"), "{}", r.stderr);
    assert!(r.stderr.contains("\nDigest: sha256:"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Status: Downloaded newer image for busybox:latest\n"),
        "{}",
        r.stderr
    );

    // Present now: no pull at all.
    let r = run_with(&s, &config, &["run", "--rm", "busybox", "true"]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));

    // --pull always: asks the registry even so, and says nothing changed.
    let r = run_with(
        &s,
        &config,
        &["run", "--pull", "always", "--rm", "busybox", "true"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("Unable to find"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Status: Image is up to date for busybox:latest\n"),
        "{}",
        r.stderr
    );

    // create pulls too; a tag the registry lacks is docker's 125, and no container is made.
    // (Not docker.io's: a mirror's 404 sends docker.io pulls on to the Hub itself.)
    let missing = format!("127.0.0.1:{}/library/busybox:nope", reg.port);
    let r = run_with(&s, &config, &["create", &missing]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(r.stderr.contains("manifest unknown"), "{}", r.stderr);
    assert!(!r.stderr.contains("cannot reach"), "{}", r.stderr);
    assert_eq!(s.ok(&["ps", "-aq"]), "");
}

#[test]
fn pulling_from_an_unreachable_registry_names_it() {
    let b = Berth::new();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let reference = format!("127.0.0.1:{port}/app:1");
    let r = b.run(&["pull", &reference]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "pull 127.0.0.1:{port}/app:1: cannot reach 127.0.0.1:{port}: connection failed"
        )),
        "{}",
        r.stderr
    );
    // Mirrors only serve docker.io: a private registry is not pointed at them.
    assert!(!r.stderr.contains("registry-mirrors"), "{}", r.stderr);

    // A registry that answers "no such tag" is reachable: its answer is the error.
    let reg = start_registry();
    let r = b.run(&["pull", &format!("127.0.0.1:{}/app:1", reg.port)]);
    assert_eq!(r.code, 1);
    assert!(!r.stderr.contains("cannot reach"), "{}", r.stderr);
}

#[test]
fn version_prints_client_and_server_and_takes_a_format() {
    let b = Berth::new();
    let out = b.ok(&["version"]);
    let want = env!("CARGO_PKG_VERSION");
    assert!(
        out.starts_with(&format!(
            "Client: berth\n Version:           {want}\n API version:       1.44\n"
        )),
        "{out}"
    );
    assert!(
        out.contains("\nServer: berth\n Engine:\n  Version:          "),
        "{out}"
    );
    assert!(
        out.contains("  API version:      1.44 (minimum version 1.24)\n"),
        "{out}"
    );
    assert!(out.contains("  OS/Arch:          linux/"), "{out}");
    assert_eq!(
        b.ok(&[
            "version",
            "--format",
            "{{.Client.Version}} {{.Server.Version}}"
        ]),
        format!("{want} {want}\n")
    );
    // Scripts' favourite: Go's field name, as docker's templates see it.
    assert_eq!(
        b.ok(&[
            "version",
            "-f",
            "{{.Client.APIVersion}} {{.Server.APIVersion}}"
        ]),
        "1.44 1.44\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&b.ok(&["version", "--format", "{{json .}}"])).unwrap();
    assert!(
        json["Server"].get("APIVersion").is_none(),
        "JSON keeps docker's keys"
    );
    assert_eq!(json["Server"]["MinAPIVersion"], "1.24");
    assert_eq!(json["Server"]["Components"][0]["Name"], "Engine");
    assert_eq!(json["Client"]["ApiVersion"], "1.44");
    // The compiler where docker shows Go's, when the build knew it.
    if let Some(rustc) = json["Client"]["GoVersion"].as_str() {
        assert!(rustc.starts_with("rustc "), "{rustc}");
        assert!(
            out.contains(&format!(" Go version:        {rustc}\n")),
            "{out}"
        );
    }
}

#[test]
fn info_reports_the_store_and_the_host() {
    let b = Berth::new();
    b.busybox("busybox:latest");
    let config = b.root().join("config.json");
    std::fs::write(
        &config,
        r#"{"registry-mirrors": ["https://m1.example", "https://m2.example"]}"#,
    )
    .unwrap();
    let info = |format: &str| -> String {
        let r = run_with(&b, &config, &["info", "--format", format]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout.trim_end().to_string()
    };
    assert_eq!(
        info("{{.Containers}} {{.ContainersRunning}} {{.Images}}"),
        "0 0 1"
    );
    assert_eq!(info("{{.Driver}}"), "overlay2");
    assert_eq!(info("{{.DockerRootDir}}"), b.root().display().to_string());
    assert_eq!(
        info("{{.NCPU}}"),
        std::thread::available_parallelism().unwrap().to_string()
    );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(info("{{.KernelVersion}}"), kernel.trim());
    assert_eq!(
        info("{{.RegistryConfig.Mirrors}}"),
        "[https://m1.example https://m2.example]"
    );
    assert_eq!(
        info("{{.CgroupDriver}} {{.DefaultRuntime}}"),
        "cgroupfs libcontainer"
    );
    let json: serde_json::Value = serde_json::from_str(&info("{{json .}}")).unwrap();
    assert_eq!(json["ServerVersion"], env!("CARGO_PKG_VERSION"));
    assert!(json["MemTotal"].as_u64().unwrap() > 0);
    assert_eq!(json["ClientInfo"]["Context"], "default");

    // The default layout, and `system info` as its other name.
    let r = run_with(&b, &config, &["system", "info"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for line in [
        "Server:\n Containers: 0\n  Running: 0\n  Paused: 0\n  Stopped: 0\n Images: 1\n",
        " Storage Driver: overlay2\n",
        &format!(" Docker Root Dir: {}\n", b.root().display()),
        " Registry Mirrors:\n  https://m1.example\n  https://m2.example\n",
    ] {
        assert!(r.stdout.contains(line), "{line:?} in\n{}", r.stdout);
    }
}

#[test]
fn info_counts_running_and_stopped_containers() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    s.ok(&["run", "-d", "--name", "up", "busybox", "sleep", "60"]);
    s.ok(&["create", "--name", "made", "busybox", "true"]);
    assert_eq!(
        s.ok(&[
            "info",
            "--format",
            "{{.Containers}} {{.ContainersRunning}} {{.ContainersStopped}}"
        ]),
        "2 1 1\n"
    );
}

#[test]
fn completion_scripts_load_in_their_shells() {
    let b = Berth::new();
    let bash = b.ok(&["completion", "bash"]);
    assert!(bash.contains("complete -F _berth"), "{bash}");
    // The script parses and registers itself.
    let script = b.root().join("berth.bash");
    std::fs::write(&script, &bash).unwrap();
    let out = Command::new("bash")
        .args([
            "-c",
            &format!("source {} && complete -p berth", script.display()),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("_berth"));
    // Subcommands and their flags are in it.
    for word in ["system", "prune", "--pull", "completion"] {
        assert!(bash.contains(word), "{word}");
    }
    assert!(b.ok(&["completion", "zsh"]).starts_with("#compdef berth"));
    assert!(b.ok(&["completion", "fish"]).contains("complete -c berth"));
    let r = b.run(&["completion", "tcsh"]);
    assert_eq!(r.code, 125, "{}", r.stderr);
}

/// A copy of the berth binary that any user may run (the build tree may not be reachable).
fn world_runnable_berth(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let exe = dir.join("berth");
    std::fs::copy(env!("CARGO_BIN_EXE_berth"), &exe).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    exe
}

#[test]
fn a_user_who_is_not_root_is_told_so_before_anything_is_touched() {
    if !is_root() {
        eprintln!("SKIPPED (needs root, to become nobody): {}", test_name());
        return;
    }
    let bin = tempfile::tempdir().unwrap();
    let exe = world_runnable_berth(bin.path());
    // root's own 0700 directory, as /var/lib/berth is.
    let private = tempfile::tempdir().unwrap();
    let root = private.path().join("root");
    let as_nobody = |args: &[&str]| -> common::Run {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe)
            .args(args)
            .env("BERTH_ROOT", &root)
            .env("BERTH_RUNROOT", private.path().join("run"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        common::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let message = format!(
        "Error: permission denied while trying to open {}: berth needs root (run it with sudo, or as root)\n",
        root.display()
    );
    for (args, code) in [
        (&["ps"][..], 1),
        (&["images"][..], 1),
        (&["system", "prune", "-f"][..], 1),
        (&["run", "--rm", "busybox"][..], 125),
    ] {
        let r = as_nobody(args);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (code, message.as_str()),
            "{args:?}"
        );
    }
    // What needs no store works for anyone; version shows its client part, then why not more.
    assert_eq!(as_nobody(&["--help"]).code, 0);
    assert_eq!(as_nobody(&["completion", "bash"]).code, 0);
    let r = as_nobody(&["version"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.starts_with("Client: berth\n"), "{}", r.stdout);
    assert!(!r.stdout.contains("Server:"), "{}", r.stdout);
    assert_eq!(r.stderr, message);
    // info too, as docker's without a daemon.
    let r = as_nobody(&["info"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.starts_with("Client:\n Version:    "),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Server:"), "{}", r.stdout);
    assert_eq!(r.stderr, message);
    assert!(!root.exists(), "nothing may be created");
}

#[test]
fn system_prune_removes_what_nothing_uses() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let stopped = s.ok(&["create", "busybox", "true"]).trim().to_string();
    s.ok(&["run", "-d", "--name", "keep", "busybox", "sleep", "60"]);
    s.ok(&["network", "create", "unused"]);
    s.ok(&["tag", "busybox", "spare:1"]);
    let volume = s.ok(&["volume", "create", "named"]).trim().to_string();

    // Without -f it asks, and "n" leaves everything.
    let r = s.run_stdin(&["system", "prune"], b"n\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - all dangling build cache\n\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(r.stdout, "");
    assert!(s.ok(&["ps", "-aq", "--no-trunc"]).contains(&stopped));

    let r = s.run_stdin(&["system", "prune"], b"y\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(&format!(
            "Deleted Containers:\n{stopped}\n\nDeleted Networks:\nunused\n\n"
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Total reclaimed space: "), "{}", r.stdout);
    assert_eq!(
        s.ok(&["ps", "-aq"]).lines().count(),
        1,
        "the running one stays"
    );
    assert!(!s.ok(&["network", "ls"]).contains("unused"));
    assert!(
        s.ok(&["volume", "ls", "-q"]).contains(&volume),
        "no --volumes"
    );

    // -a takes every image no container uses; --volumes the anonymous volumes.
    s.ok(&["rm", "-f", "keep"]);
    s.ok(&["create", "-v", "/data", "busybox", "true"]);
    let anonymous: Vec<String> = s
        .ok(&["volume", "ls", "-q"])
        .lines()
        .filter(|v| *v != volume)
        .map(str::to_string)
        .collect();
    assert_eq!(anonymous.len(), 1, "{anonymous:?}");
    let r = s.run(&["system", "prune", "-a", "-f", "--volumes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("Deleted Volumes:\n{}\n\n", anonymous[0])),
        "{}",
        r.stdout
    );
    assert_eq!(
        s.ok(&["volume", "ls", "-q"]),
        format!("{volume}\n"),
        "a named one stays"
    );
    assert!(r.stdout.contains("Deleted Images:\n"), "{}", r.stdout);
    assert!(r.stdout.contains("untagged: spare:1\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\ndeleted: sha256:"), "{}", r.stdout);
    assert_eq!(s.ok(&["images", "-q"]), "");
    let check = s.ok(&["system", "check"]);
    assert!(check.contains("consistent"), "{check}");
}

/// `cmd` on a fresh pseudo-terminal; returns the child, the master to type into and
/// read from, and the terminal's own end (kept open to read its modes afterwards).
fn on_a_terminal(mut cmd: Command) -> (std::process::Child, std::fs::File, std::fs::File) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let path = std::path::PathBuf::from(name.to_str().unwrap());
    let tty = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap()
    };
    let child = cmd
        .stdin(tty())
        .stdout(tty())
        .stderr(tty())
        .spawn()
        .unwrap();
    (child, std::fs::File::from(master), tty())
}

/// Everything the terminal showed, read until `done` says enough or 30 seconds pass.
fn read_until(
    master: &std::fs::File,
    seen: &mut String,
    mut done: impl FnMut(&str) -> bool,
) -> bool {
    use std::io::Read;
    use std::os::fd::AsFd;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done(seen) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        let fd = master.as_fd();
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        if rustix::event::poll(&mut fds, 200).unwrap_or(0) == 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        match (&*master).read(&mut buf) {
            Ok(0) | Err(_) => return done(seen),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    true
}

fn registry_with_user(dir: &Path, user: &str, password: &str) -> Registry {
    let htpasswd = dir.join("htpasswd");
    let line = Command::new("htpasswd")
        .args(["-nbB", user, password])
        .output()
        .expect("htpasswd (apache2-utils) makes the registry's bcrypt users");
    std::fs::write(&htpasswd, &line.stdout).unwrap();
    common::start_registry_with(Some(&htpasswd))
}

#[test]
fn login_asks_for_the_password_without_echo_on_a_terminal() {
    use std::io::Write;
    let b = Berth::new();
    let reg = registry_with_user(b.root(), "ann", "s3cret-pw");
    let server = format!("127.0.0.1:{}", reg.port);
    let login = || {
        let mut cmd = b.command();
        cmd.env("DOCKER_CONFIG", b.root().join("docker-config"))
            .args(["login", "-u", "ann", &server]);
        cmd
    };

    let (mut child, master, tty) = on_a_terminal(login());
    let mut seen = String::new();
    assert!(
        read_until(&master, &mut seen, |s| s.contains("Password: ")),
        "{seen:?}"
    );
    (&master).write_all(b"s3cret-pw\r").unwrap();
    assert!(
        read_until(&master, &mut seen, |s| s.contains("Login Succeeded")),
        "{seen:?}"
    );
    assert!(child.wait().unwrap().success(), "{seen:?}");
    assert!(
        !seen.contains("s3cret"),
        "the password was echoed: {seen:?}"
    );
    let config = std::fs::read_to_string(b.root().join("docker-config/config.json")).unwrap();
    assert!(config.contains(&server), "{config}");

    // Ctrl-C: exit 130, and the terminal echoes again.
    let (mut child, master, tty2) = on_a_terminal(login());
    let mut seen = String::new();
    assert!(
        read_until(&master, &mut seen, |s| s.contains("Password: ")),
        "{seen:?}"
    );
    (&master).write_all(b"half\x03").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130), "{seen:?}");
    let modes = rustix::termios::tcgetattr(&tty2).unwrap().local_modes;
    use rustix::termios::LocalModes;
    assert!(
        modes.contains(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG),
        "{modes:?}"
    );
    drop(tty);

    // Not a terminal and no password: the clear error, as before.
    let r = b.run(&["login", "-u", "ann", &server]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--password-stdin"), "{}", r.stderr);
}
