//! The tutorial, end to end, in its order, with `berth` in place of `docker` and a local
//! `berth registry serve` playing Docker Hub (as the docker.io mirror, and as the place the
//! site is pushed to). The page is checked in headless Chromium: Streamlit's JavaScript must
//! render the "Hello World!" header; the screenshot is kept in target/test-artifacts/.
//!
//! Needs: root, network to PyPI (pip install streamlit inside the build), Debian's chromium
//! and node (scripts/setup.sh installs them), and the base images of
//! scripts/make-base-images.sh (made on first use, cached in target/base-images).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{base_images, wait_for, workspace, Berth, Sandbox};

/// `node check-page.js`, installing playwright-core (npm registry) on first use.
fn check_in_chromium(url: &str, text: &str, shot: &std::path::Path) -> String {
    let dir = workspace().join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let st = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm (node) is needed for the browser check");
        assert!(st.success(), "npm install in tests/browser failed");
    }
    let out = Command::new("node")
        .arg(dir.join("check-page.js"))
        .args([url, text])
        .arg(shot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the page did not render {text:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_tutorial_end_to_end() {
    let Some(s) = Sandbox::new() else { return };
    if std::env::var_os("BERTH_SKIP_TUTORIAL").is_some() {
        eprintln!("SKIPPED: the tutorial test (BERTH_SKIP_TUTORIAL is set)");
        return;
    }
    // Docker Hub in miniature: a registry with a user, the docker.io mirror.
    let htpasswd = s.root().join("htpasswd");
    // Users: the tutorial's author, and `library`, who owns the official images.
    let mut users = String::new();
    for (user, pass) in [("vandercycle", "walkthrough"), ("library", "official")] {
        let line = Command::new("htpasswd")
            .args(["-nbB", user, pass])
            .output()
            .expect("htpasswd (apache2-utils) makes the registry's bcrypt users");
        users.push_str(String::from_utf8_lossy(&line.stdout).trim());
        users.push('\n');
    }
    std::fs::write(&htpasswd, users).unwrap();
    let reg = common::start_registry_with(Some(&htpasswd));
    let host = format!("127.0.0.1:{}", reg.port);
    let config_dir = s.root().join("berth-config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"registry-mirrors": ["http://{host}"], "insecure-registries": ["{host}"]}}"#),
    )
    .unwrap();
    let docker_config = s.root().join("docker-config");
    let berth = |args: &[&str]| -> common::Run {
        let out = s
            .command()
            .env("BERTH_CONFIG", config_dir.join("config.json"))
            .env("DOCKER_CONFIG", &docker_config)
            .args(args)
            .output()
            .unwrap();
        common::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let ok = |args: &[&str]| -> String {
        let r = berth(args);
        assert_eq!(r.code, 0, "berth {args:?}: {}{}", r.stdout, r.stderr);
        r.stdout
    };

    // Publish hello-world and the python base to the mirror from another store.
    {
        let publisher = Berth::new();
        publisher.hello("hello-world:latest");
        publisher.ok(&["load", "-i", base_images().to_str().unwrap()]);
        let login = publisher
            .command()
            .env("DOCKER_CONFIG", s.root().join("publisher-config"))
            .args(["login", "-u", "library", "--password-stdin", &host])
            .stdin(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(b"official\n")?;
                c.wait()
            })
            .unwrap();
        assert!(login.success());
        for (src, dst) in [
            ("hello-world:latest", "library/hello-world:latest"),
            ("python:3.11-slim", "library/python:3.11-slim"),
        ] {
            let target = format!("{host}/{dst}");
            publisher.ok(&["tag", src, &target]);
            let r = publisher
                .command()
                .env("DOCKER_CONFIG", s.root().join("publisher-config"))
                .args(["push", &target])
                .output()
                .unwrap();
            assert!(
                r.status.success(),
                "push {target}: {}",
                String::from_utf8_lossy(&r.stderr)
            );
        }
        // library/* belongs to nobody's namespace: make the official images public.
        std::fs::write(
            reg.root().join("access.json"),
            r#"{"public": ["library/*"]}"#,
        )
        .unwrap();
    }

    // docker ps
    assert_eq!(
        ok(&["ps"]),
        "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
    );
    // docker pull hello-world; docker images
    let pull = ok(&["pull", "hello-world"]);
    assert!(
        pull.contains("Status: Downloaded newer image for hello-world:latest"),
        "{pull}"
    );
    let images = ok(&["images"]);
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("hello-world   latest")),
        "{images}"
    );
    // The same listing (CREATED is relative: two calls may straddle a second).
    let listing = "{{.Repository}} {{.Tag}} {{.ID}} {{.Size}}";
    assert_eq!(
        ok(&["image", "ls", "--format", listing]),
        ok(&["images", "--format", listing])
    );
    // docker run --name test hello-world; docker logs test
    assert!(ok(&["run", "--name", "test", "hello-world"]).contains("Hello from berth!"));
    assert!(ok(&["logs", "test"]).contains("Hello from berth!"));

    // docker build -t streamlit:beta-pre-prod .   (FROM python:3.11-slim comes from the mirror)
    let site = s.root().join("streamlitWebsite");
    std::fs::create_dir_all(site.join("src")).unwrap();
    for f in [
        "Dockerfile",
        "requirements.txt",
        "src/app.py",
        ".dockerignore",
    ] {
        std::fs::copy(workspace().join("examples/website").join(f), site.join(f)).unwrap();
    }
    let build = ok(&[
        "build",
        "-t",
        "streamlit:beta-pre-prod",
        site.to_str().unwrap(),
    ]);
    assert!(
        build.contains("Successfully tagged streamlit:beta-pre-prod"),
        "{build}"
    );
    // ... and with its output redirected to a file, as the tutorial does to read errors.
    let log = std::fs::File::create(s.root().join("log.txt")).unwrap();
    let st = s
        .command()
        .env("BERTH_CONFIG", config_dir.join("config.json"))
        .args([
            "build",
            "-t",
            "streamlit:beta-pre-prod",
            site.to_str().unwrap(),
        ])
        .stdout(log)
        .status()
        .unwrap();
    assert!(st.success());
    let logged = std::fs::read_to_string(s.root().join("log.txt")).unwrap();
    assert!(
        logged.contains("Step 1/9 : FROM python:3.11-slim") && logged.contains("Using cache"),
        "{logged}"
    );

    // The tutorial's ports, unless something on this host holds them (the website that
    // scripts/main.sh serves, another test run): published host ports are held now, so
    // taking them would fail, and must not disturb what holds them.
    let (first, site) = (tutorial_port(3000), tutorial_port(5000));
    let (first_map, site_map) = (format!("{first}:8051"), format!("{site}:8000"));
    // The tutorial's first run: -p 3000:8051 while Streamlit listens elsewhere → the hint.
    let r = berth(&[
        "run",
        "--name",
        "personal-website",
        "-d",
        "-p",
        &first_map,
        "-e",
        "PORT=8501",
        "streamlit:beta-pre-prod",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("nothing listens on 8051/tcp inside the container; it listens on 8501/tcp — publish it with -p {first}:8501")),
        "{}",
        r.stderr
    );
    ok(&["rm", "-f", "personal-website"]);

    // The fixed command: docker run --name personal-website -d -p 5000:8000 -e PORT=8000
    let fixed_run = [
        "run",
        "--name",
        "personal-website",
        "-d",
        "-p",
        &site_map,
        "-e",
        "PORT=8000",
        "streamlit:beta-pre-prod",
    ];
    let r = berth(&fixed_run);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stderr.contains("warning"),
        "no hint for the right port: {}",
        r.stderr
    );
    let ps = ok(&["ps"]);
    assert!(
        ps.contains(&format!("0.0.0.0:{site}->8000/tcp"))
            && ps.contains("\"/bin/sh -c 'streaml…\""),
        "{ps}"
    );
    assert!(
        wait_for(Duration::from_secs(60), || {
            Command::new("curl")
                .args([
                    "-sf",
                    "-m",
                    "2",
                    &format!("http://127.0.0.1:{site}/_stcore/health"),
                ])
                .output()
                .is_ok_and(|o| o.status.success())
        }),
        "the site answers at localhost:{site}: {}",
        ok(&["logs", "personal-website"])
    );
    let artifacts = workspace().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("tutorial-website.png");
    let rendered = check_in_chromium(&format!("http://127.0.0.1:{site}/"), "Hello World!", &shot);
    assert!(rendered.contains("Hello World!"), "{rendered}");
    assert!(shot.exists());
    // docker logs shows Streamlit's URLs.
    assert!(ok(&["logs", "personal-website"]).contains("You can now view your Streamlit app"));

    // docker exec -it personal-website sh  (a real terminal through script(1))
    let exec = Command::new("script")
        .args([
            "-qfec",
            &format!(
                "{} exec -it personal-website sh",
                env!("CARGO_BIN_EXE_berth")
            ),
            "/dev/null",
        ])
        .env("BERTH_ROOT", s.root())
        .env("BERTH_RUNROOT", s.run_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            let mut stdin = c.stdin.take().unwrap();
            std::thread::sleep(Duration::from_millis(500));
            stdin.write_all(b"echo port=$PORT; exit\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(String::from_utf8_lossy(&exec.stdout).contains("port=8000"));

    // Where readers go next (issue 15): the running site as Kubernetes YAML, schema-checked,
    // then back from that YAML on the same host port, then gone with --down.
    kube_round_trip(&s, site, &ok);
    // (the tutorial goes on with its container)
    ok(&fixed_run);

    // docker rm -f $(docker ps -aq); docker rmi -f $(docker images -f "dangling=true" -q)
    let ids = ok(&["ps", "-aq"]);
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.split_whitespace());
    ok(&rm);
    assert_eq!(ok(&["ps", "-aq"]), "");
    let dangling = ok(&["images", "-f", "dangling=true", "-q"]);
    if !dangling.trim().is_empty() {
        let mut rmi = vec!["rmi", "-f"];
        rmi.extend(dangling.split_whitespace());
        ok(&rmi);
    }
    assert_eq!(ok(&["images", "-f", "dangling=true", "-q"]), "");

    // docker tag …; docker login; docker push USER/website-walkthrough:latest
    let remote = format!("{host}/vandercycle/website-walkthrough:latest");
    ok(&["tag", "streamlit:beta-pre-prod", &remote]);
    let images = ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let id_of = |name: &str| {
        images
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
    };
    assert_eq!(
        id_of(&format!("{host}/vandercycle/website-walkthrough:latest")),
        id_of("streamlit:beta-pre-prod")
    );
    let denied = berth(&["push", &remote]);
    assert_ne!(denied.code, 0, "pushing without login is refused");
    let r = s
        .command()
        .env("BERTH_CONFIG", config_dir.join("config.json"))
        .env("DOCKER_CONFIG", &docker_config)
        .args(["login", "-u", "vandercycle", "--password-stdin", &host])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"walkthrough\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(r.status.success() && String::from_utf8_lossy(&r.stdout).contains("Login Succeeded"));
    assert!(ok(&["push", &remote]).contains("digest: sha256:"));

    // Pulling it back on a clean store, and running it.
    let Some(fresh) = Sandbox::new() else { return };
    let pull = fresh
        .command()
        .env("BERTH_CONFIG", config_dir.join("config.json"))
        .env("DOCKER_CONFIG", &docker_config)
        .args(["pull", &remote])
        .output()
        .unwrap();
    assert!(
        pull.status.success(),
        "{}",
        String::from_utf8_lossy(&pull.stderr)
    );
    fresh.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "-e",
        "PORT=8000",
        "-p",
        "8000",
        &remote,
    ]);
    let port = fresh
        .ok(&["port", "again", "8000/tcp"])
        .trim()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert!(wait_for(Duration::from_secs(60), || {
        Command::new("curl")
            .args([
                "-sf",
                "-m",
                "2",
                &format!("http://127.0.0.1:{port}/_stcore/health"),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    }));
    drop(reg);
}

/// `port` when the host can bind it on every address, else a free port the kernel picks.
/// `kube generate -s personal-website` → kubernetes-validate → `rm -f` → `kube play` → the site
/// answers on `site` again → `kube play --down` leaves no container, pod or volume of it.
fn kube_round_trip(s: &Sandbox, site: u16, ok: &dyn Fn(&[&str]) -> String) {
    let yaml = s.root().join("personal-website.yaml");
    let yaml_path = yaml.to_str().unwrap();
    ok(&[
        "kube",
        "generate",
        "-s",
        "-f",
        yaml_path,
        "personal-website",
    ]);
    let text = std::fs::read_to_string(&yaml).unwrap();
    assert!(
        text.contains(&format!("hostPort: {site}")) && text.contains("kind: Service"),
        "{text}"
    );
    let validator = "/opt/berth/pyvenv/bin/kubernetes-validate";
    if std::path::Path::new(validator).exists() {
        let out = Command::new(validator)
            .args(["--strict", yaml_path])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubernetes-validate: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        eprintln!("SKIP the schema check: {validator} is missing; run scripts/setup.sh");
    }
    ok(&["rm", "-f", "personal-website"]);
    let (containers_before, volumes_before) = (ok(&["ps", "-aq"]), ok(&["volume", "ls", "-q"]));
    ok(&["kube", "play", yaml_path]);
    let health = format!("http://127.0.0.1:{site}/_stcore/health");
    assert!(
        wait_for(Duration::from_secs(60), || Command::new("curl")
            .args(["-sf", "-m", "2", &health])
            .output()
            .is_ok_and(|o| o.status.success())),
        "the played site does not answer at {health}: {}",
        ok(&["pod", "logs", "personal-website-pod"])
    );
    ok(&["kube", "play", "--down", yaml_path]);
    assert_eq!(ok(&["ps", "-aq"]), containers_before);
    assert_eq!(ok(&["pod", "ls", "-q"]), "");
    assert_eq!(ok(&["volume", "ls", "-q"]), volumes_before);
}

fn tutorial_port(port: u16) -> u16 {
    if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
        return port;
    }
    let free = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
    let other = free.local_addr().unwrap().port();
    eprintln!("port {port} is taken on this host; the tutorial test uses {other} instead");
    other
}
