//! End to end: `berth serve` driven by docker's own CLI (Debian's docker.io, installed by the
//! setup script) through `DOCKER_HOST=unix://…`: the tutorial's commands, the CLI and the API
//! seeing the same containers, and containers outliving a killed server.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::served::{docker_bin, Served};
use common::{kill9, process_alive, run_with_timeout, wait_for, Sandbox};

/// One HTTP GET to 127.0.0.1:`port`; the status line.
fn http_status(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.lines().next().map(str::to_string)
}

#[test]
fn the_docker_cli_runs_the_tutorials_commands_through_berth_serve() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    if docker_bin().is_none() {
        return;
    }
    let api = Served::start(&s);
    let version = api.ok(&[
        "version",
        "--format",
        "{{.Server.Platform.Name}} {{.Server.APIVersion}}",
    ]);
    assert_eq!(version.trim(), "berth 1.44");

    // Foreground run: attached before the start, so no output is lost; the exit code comes
    // back through wait.
    assert_eq!(
        api.ok(&["run", "--rm", "busybox", "echo", "hello"]),
        "hello\n"
    );
    let r = api.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    assert_eq!(api.ok(&["ps", "-aq"]), "", "--rm removed them");

    // The website: published on a random host port, reachable on localhost.
    let site = s.root().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "hi\n").unwrap();
    let id = api.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::8000",
        "-v",
        &format!("{}:/www:ro", site.display()),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "8000",
        "-h",
        "/www",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    let port = api.ok(&["port", "web", "8000"]);
    let port: u16 = port.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || http_status(port)
            .is_some_and(|l| l.contains("200"))),
        "the site answers on 127.0.0.1:{port}"
    );
    let ps = api.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("web Up "), "{ps}");

    // exec, cp both ways, logs.
    assert_eq!(api.ok(&["exec", "web", "cat", "/www/index.html"]), "hi\n");
    assert_eq!(api.docker(&["exec", "web", "sh", "-c", "exit 4"]).code, 4);
    let local = s.root().join("note.txt");
    std::fs::write(&local, "from the host\n").unwrap();
    api.ok(&["cp", local.to_str().unwrap(), "web:/tmp/note.txt"]);
    assert_eq!(
        api.ok(&["exec", "web", "cat", "/tmp/note.txt"]),
        "from the host\n"
    );
    let back = s.root().join("back");
    api.ok(&["cp", "web:/tmp/note.txt", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "from the host\n");
    api.ok(&["exec", "web", "sh", "-c", "echo logged"]);

    // A terminal through a pty: docker run -it.
    let tty = Command::new("script")
        .args([
            "-qec",
            "stty rows 33 cols 77; docker run -it --rm busybox sh -c 'tty; stty size'",
            "/dev/null",
        ])
        .env("DOCKER_HOST", format!("unix://{}", api.socket.display()))
        .env("DOCKER_CONFIG", api.config.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&tty.stdout);
    assert!(out.contains("/dev/pts/0"), "a tty: {out}");
    // Of the client's size (HostConfig.ConsoleSize) from the start.
    assert!(out.contains("33 77"), "the terminal's size: {out}");
    // exec -it: the process's terminal has the client's size from its first instruction
    // (the init sets the exec's consoleSize on the pty before the process runs).
    let exec_tty = Command::new("script")
        .args([
            "-qec",
            "stty rows 33 cols 77; docker exec -it web stty size",
            "/dev/null",
        ])
        .env("DOCKER_HOST", format!("unix://{}", api.socket.display()))
        .env("DOCKER_CONFIG", api.config.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&exec_tty.stdout);
    assert!(out.contains("33 77"), "the terminal's size: {out}");

    api.ok(&["stop", "-t", "1", "web"]);
    let state = api.ok(&["inspect", "-f", "{{.State.Status}}", "web"]);
    assert_eq!(state.trim(), "exited");
    api.ok(&["rm", "web"]);
    let r = api.docker(&["rm", "web"]);
    assert!(
        r.code != 0 && r.stderr.contains("No such container"),
        "{}",
        r.stderr
    );
    assert_eq!(api.ok(&["ps", "-aq"]), "");

    // The events of all that, in order (until a moment from now: `0s` would cut off at
    // the current whole second, as docker does).
    let until = (chrono::Utc::now().timestamp() + 2).to_string();
    let events = api.ok(&[
        "events",
        "--since",
        "5m",
        "--until",
        &until,
        "--filter",
        "container=web",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = events.lines().collect();
    let pos = |a: &str| actions.iter().position(|x| *x == a);
    assert!(
        pos("create") < pos("start") && pos("start") < pos("die") && pos("die") < pos("destroy"),
        "{actions:?}"
    );
}

#[test]
fn the_cli_and_the_api_share_containers_which_outlive_a_killed_server() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    if docker_bin().is_none() {
        return;
    }
    let mut api = Served::start(&s);
    s.ok(&[
        "run", "-d", "--name", "from-cli", "busybox", "sleep", "1000",
    ]);
    api.ok(&[
        "run", "-d", "--name", "from-api", "busybox", "sleep", "1000",
    ]);
    let names = |out: String| {
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(
        names(api.ok(&["ps", "--format", "{{.Names}}"])),
        ["from-api", "from-cli"]
    );
    assert_eq!(
        names(s.ok(&["ps", "--format", "{{.Names}}"])),
        ["from-api", "from-cli"]
    );
    assert_eq!(api.ok(&["exec", "from-cli", "echo", "ok"]), "ok\n");
    assert_eq!(s.ok(&["exec", "from-api", "echo", "ok"]), "ok\n");

    // kill -9 of the server: its containers live under their monitors.
    let pid = api.child.id() as i32;
    kill9(pid);
    let _ = api.child.wait();
    assert!(!process_alive(pid));
    let running = s.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert!(
        running.contains("from-api running") && running.contains("from-cli running"),
        "{running}"
    );
    // A new server on the same (stale) socket serves them.
    let socket = api.socket.clone();
    drop(api);
    let api = Served::start_at(&s, socket);
    assert_eq!(
        names(api.ok(&["ps", "--format", "{{.Names}}"])),
        ["from-api", "from-cli"]
    );
    api.ok(&["rm", "-f", "from-api"]);
    s.ok(&["rm", "-f", "from-cli"]);
    assert_eq!(api.ok(&["ps", "-aq"]), "");
}

#[test]
fn a_second_server_does_not_take_a_socket_in_use() {
    let Some(s) = Sandbox::new() else { return };
    let api = Served::start(&s);
    let r = s
        .command()
        .args(["serve", "-H", &format!("unix://{}", api.socket.display())])
        .output()
        .unwrap();
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("already listening"), "{err}");
    assert!(
        std::os::unix::net::UnixStream::connect(&api.socket).is_ok(),
        "the first one still serves"
    );
    let mode = std::fs::metadata(&api.socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o660
    );
    let r = s
        .command()
        .args(["serve", "-H", "tcp://0.0.0.0:2375"])
        .output()
        .unwrap();
    assert!(!r.status.success(), "plain TCP is refused");
}

#[test]
fn socket_activation_serves_the_socket_systemd_passes_and_leaves_it_in_place() {
    let Some(s) = Sandbox::new() else { return };
    let Some(activate) = [
        "/usr/bin/systemd-socket-activate",
        "/bin/systemd-socket-activate",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists()) else {
        let msg = format!(
            "SKIPPED (systemd-socket-activate is not installed): {}",
            common::test_name()
        );
        eprintln!("{msg}");
        println!("{msg}");
        return;
    };
    let socket = s.root().join("activated.sock");
    let mut cmd = Command::new(activate);
    cmd.arg("-l")
        .arg(&socket)
        .arg(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "-H", "fd://"]);
    for (k, v) in s.command().get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || socket.exists()));
    let inode =
        |p: &std::path::Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let before = inode(&socket);
    // The first connection makes systemd-socket-activate start berth on the socket.
    let ping = || {
        let mut c = std::os::unix::net::UnixStream::connect(&socket).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        c.write_all(b"GET /_ping HTTP/1.0\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut reply = String::new();
        let _ = c.read_to_string(&mut reply);
        Some(reply)
    };
    let reply = ping().unwrap_or_default();
    assert!(
        reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
        "{reply}"
    );
    assert!(
        reply.to_ascii_lowercase().contains("api-version: 1.44"),
        "{reply}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let _ = child.wait();
    assert!(socket.exists(), "systemd's socket is not berth's to remove");
    assert_eq!(
        inode(&socket),
        before,
        "the same socket, so bind mounts of it keep working"
    );
}

/// `openssl` with `args` in `dir`; panics with its output when it fails.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, in docker's file
/// names (`ca.pem`, `cert.pem`/`key.pem` for the client, `server-*.pem`).
fn make_certs(dir: &std::path::Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=berth-test-ca",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (who, subj) in [("server", "/CN=127.0.0.1"), ("client", "/CN=client")] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                subj,
                "-keyout",
                &format!("{who}-key.pem"),
                "-out",
                &format!("{who}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{who}.ext"),
                "-out",
                &format!("{who}-cert.pem"),
            ],
        );
    }
    std::fs::copy(dir.join("client-cert.pem"), dir.join("cert.pem")).unwrap();
    std::fs::copy(dir.join("client-key.pem"), dir.join("key.pem")).unwrap();
}

#[test]
fn tcp_is_served_only_with_tls_and_client_certificates() {
    let Some(s) = Sandbox::new() else { return };
    if docker_bin().is_none() {
        return;
    }
    let r = s
        .command()
        .args(["serve", "-H", "tcp://127.0.0.1:2375"])
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("--tlsverify"),
        "the fix is named"
    );

    let certs = s.root().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&certs);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = |f: &str| certs.join(f).to_str().unwrap().to_string();
    let mut server = s
        .command()
        .args([
            "serve",
            "-H",
            &format!("tcp://127.0.0.1:{port}"),
            "--tlsverify",
            "--tlscacert",
            &p("ca.pem"),
            "--tlscert",
            &p("server-cert.pem"),
            "--tlskey",
            &p("server-key.pem"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    assert!(wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    let docker = |cert_path: &std::path::Path| {
        let mut c = Command::new(docker_bin().unwrap());
        c.args(["version", "--format", "{{.Server.Platform.Name}}"])
            .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", cert_path)
            .env("DOCKER_CONFIG", cert_path)
            .env_remove("DOCKER_CONTEXT");
        run_with_timeout(&mut c, Duration::from_secs(30)).unwrap()
    };
    let ok = docker(&certs);
    assert_eq!((ok.code, ok.stdout.trim()), (0, "berth"), "{}", ok.stderr);
    // A client with a certificate of another CA is turned away in the handshake.
    let stranger = s.root().join("stranger");
    std::fs::create_dir_all(&stranger).unwrap();
    make_certs(&stranger);
    std::fs::copy(certs.join("ca.pem"), stranger.join("ca.pem")).unwrap();
    let refused = docker(&stranger);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    let _ = server.kill();
    let _ = server.wait();
}

/// The Python of the venv scripts/setup.sh makes with docker-py and testcontainers, or `None`
/// (after a loud SKIPPED line).
fn client_python() -> Option<PathBuf> {
    let py = PathBuf::from("/opt/berth/pyvenv/bin/python");
    if py.exists() {
        return Some(py);
    }
    let msg = format!(
        "SKIPPED (no /opt/berth/pyvenv with docker-py; run scripts/setup.sh): {}",
        common::test_name()
    );
    eprintln!("{msg}");
    println!("{msg}");
    None
}

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

#[test]
fn docker_py_runs_containers_builds_pushes_pulls_and_uses_networks_and_volumes() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let Some(python) = client_python() else {
        return;
    };
    let api = Served::start(&s);
    let registry = common::start_registry();
    let mut cmd = Command::new(python);
    cmd.arg(clients_dir().join("docker_py.py"))
        .arg(format!("127.0.0.1:{}", registry.port))
        .env("DOCKER_HOST", format!("unix://{}", api.socket.display()))
        .env("DOCKER_CONFIG", api.config.path());
    let r = run_with_timeout(&mut cmd, Duration::from_secs(300)).expect("docker-py finished");
    assert!(
        r.code == 0 && r.stdout.trim_end().ends_with("all ok"),
        "docker-py: {}{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(api.ok(&["ps", "-aq"]), "", "nothing left behind");
}

const COMPOSE: &str = r#"version: "3.8"
services:
  web:
    image: compose-web
    command: ["httpd", "-f", "-p", "8000", "-h", "/www"]
    ports: ["127.0.0.1::8000"]
    networks: [backend]
  kv:
    image: compose-kv
    command: ["httpd", "-f", "-p", "80", "-h", "/data"]
    volumes: ["kvdata:/data"]
    networks: [backend]
  worker:
    image: compose-worker
    command: ["sh", "-c", "while :; do date +%s > /data/beat; echo beat; sleep 1; done"]
    volumes: ["kvdata:/data"]
    networks: [backend]
networks:
  backend: {}
volumes:
  kvdata: {}
"#;

#[test]
fn docker_compose_runs_a_three_service_project_and_down_leaves_nothing() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let Some(compose) = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        let msg = format!(
            "SKIPPED (docker-compose is not installed; scripts/setup.sh installs it): {}",
            common::test_name()
        );
        eprintln!("{msg}");
        println!("{msg}");
        return;
    };
    // The project's own images.
    for (name, extra) in [
        (
            "compose-web",
            "RUN mkdir /www && echo web-page > /www/index.html",
        ),
        ("compose-kv", "RUN mkdir /data"),
        ("compose-worker", "LABEL role=worker"),
    ] {
        let ctx = s.root().join(name);
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("Dockerfile"), format!("FROM busybox\n{extra}\n")).unwrap();
        s.ok(&["build", "-q", "-t", name, ctx.to_str().unwrap()]);
    }
    let api = Served::start(&s);
    let project = s.root().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("docker-compose.yml"), COMPOSE).unwrap();
    let run = |args: &[&str]| {
        let mut c = Command::new(&compose);
        c.args(["-p", "proj"])
            .args(args)
            .current_dir(&project)
            .env("DOCKER_HOST", format!("unix://{}", api.socket.display()))
            .env("DOCKER_CONFIG", api.config.path())
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .stdin(Stdio::null());
        let r = run_with_timeout(&mut c, Duration::from_secs(120)).expect("compose finished");
        assert_eq!(
            r.code, 0,
            "docker-compose {args:?}: {}{}",
            r.stdout, r.stderr
        );
        r.stdout
    };
    run(&["up", "-d"]);
    let ps = run(&["ps"]);
    for svc in ["proj_web_1", "proj_kv_1", "proj_worker_1"] {
        assert!(
            ps.lines().any(|l| l.starts_with(svc) && l.contains("Up")),
            "{svc}: {ps}"
        );
    }
    // The published port answers; the services find each other by name on the network, and
    // share the named volume.
    let port = api.ok(&["port", "proj_web_1", "8000"]);
    let port: u16 = port.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(wait_for(Duration::from_secs(10), || http_status(port)
        .is_some_and(|l| l.contains("200"))));
    assert!(
        wait_for(Duration::from_secs(10), || {
            let mut c = Command::new(&compose);
            c.args([
                "-p",
                "proj",
                "exec",
                "-T",
                "web",
                "wget",
                "-q",
                "-O-",
                "http://kv/beat",
            ])
            .current_dir(&project)
            .env("DOCKER_HOST", format!("unix://{}", api.socket.display()))
            .env("DOCKER_CONFIG", api.config.path())
            .stdin(Stdio::null());
            run_with_timeout(&mut c, Duration::from_secs(30))
                .is_some_and(|r| r.code == 0 && r.stdout.trim().parse::<i64>().is_ok())
        }),
        "web reads the worker's beat from kv"
    );
    assert!(run(&["logs", "worker"]).contains("beat"));
    run(&["restart", "worker"]);
    assert!(run(&["ps"])
        .lines()
        .any(|l| l.starts_with("proj_worker_1") && l.contains("Up")));
    run(&["down", "-v"]);
    assert_eq!(api.ok(&["ps", "-aq"]), "", "no container left");
    let nets = api.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains("proj_"), "no network left: {nets}");
    let vols = api.ok(&["volume", "ls", "-q"]);
    assert!(!vols.contains("proj_"), "no volume left: {vols}");
}

#[test]
fn the_docker_cli_builds_tags_logs_in_pushes_removes_and_pulls_through_berth_serve() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    if docker_bin().is_none() {
        return;
    }
    let api = Served::start(&s);
    let htpasswd = s.root().join("htpasswd");
    let line = Command::new("htpasswd")
        .args(["-nbB", "alice", "secret"])
        .output()
        .expect("htpasswd (apache2-utils) makes the registry's users");
    std::fs::write(&htpasswd, &line.stdout).unwrap();
    let registry = common::start_registry_with(Some(&htpasswd));
    let reg = format!("127.0.0.1:{}", registry.port);

    // The tutorial's shape of Dockerfile, with the classic builder docker's CLI still has.
    let ctx = s.root().join("site");
    std::fs::create_dir_all(ctx.join("src")).unwrap();
    std::fs::write(ctx.join("requirements.txt"), "flask\n").unwrap();
    std::fs::write(ctx.join("src/index.html"), "tutorial site\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nWORKDIR /usr/src/app\nCOPY requirements.txt ./\n\
         RUN echo installing $(cat requirements.txt)\nCOPY . .\n\
         CMD [\"cat\", \"/usr/src/app/src/index.html\"]\n",
    )
    .unwrap();
    let mut build = api.docker_command(&["build", "-t", "site:v1", ctx.to_str().unwrap()]);
    build.env("DOCKER_BUILDKIT", "0");
    let b = run_with_timeout(&mut build, Duration::from_secs(120)).unwrap();
    assert_eq!(b.code, 0, "{}{}", b.stdout, b.stderr);
    assert!(
        b.stdout.contains("Step 4/6 : RUN echo installing")
            && b.stdout.contains("installing flask"),
        "{}",
        b.stdout
    );
    assert!(
        b.stdout.contains("Successfully tagged site:v1"),
        "{}",
        b.stdout
    );
    assert_eq!(api.ok(&["run", "--rm", "site:v1"]), "tutorial site\n");

    let remote = format!("{reg}/alice/site:v1");
    api.ok(&["tag", "site:v1", &remote]);
    let denied = api.docker(&["push", &remote]);
    assert_ne!(denied.code, 0, "a push without a login is refused");
    let bad = api.docker(&["login", "-u", "alice", "-p", "wrong", &reg]);
    assert_ne!(bad.code, 0, "{}", bad.stdout);
    api.ok(&["login", "-u", "alice", "-p", "secret", &reg]);
    let pushed = api.ok(&["push", &remote]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");
    let id = api.ok(&["inspect", "-f", "{{.Id}}", "site:v1"]);
    api.ok(&["rmi", &remote, "site:v1"]);
    assert!(api.docker(&["inspect", "site:v1"]).code != 0);
    let pulled = api.ok(&["pull", &remote]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    assert_eq!(api.ok(&["inspect", "-f", "{{.Id}}", &remote]), id);
    assert_eq!(api.ok(&["run", "--rm", &remote]), "tutorial site\n");
    let images = api.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains(&format!("{reg}/alice/site:v1")), "{images}");
}
