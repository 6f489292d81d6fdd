//! End to end: `ADD <url>` (downloads, names, modes, checksums, errors, the cache) and what
//! `rmi` of a built image takes with it (its untagged intermediate images, as docker's).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::Sandbox;

/// What the test server sends for `Last-Modified`, and the same instant in unix seconds.
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const LAST_MODIFIED_UNIX: &str = "1445412480";

/// A tiny HTTP/1.1 server on 127.0.0.1: GET `/files/NAME` serves what [`Server::put`] stored
/// (404 otherwise), `/redirect/NAME` answers 302 to `/files/NAME`. It counts GETs per path.
struct Server {
    port: u16,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (f, h) = (files.clone(), hits.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (f, h) = (f.clone(), h.clone());
                std::thread::spawn(move || serve(conn, &f, &h));
            }
        });
        Self { port, files, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn put(&self, name: &str, body: &[u8]) {
        self.files
            .lock()
            .unwrap()
            .insert(format!("/files/{name}"), body.to_vec());
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn serve(
    mut conn: TcpStream,
    files: &Mutex<HashMap<String, Vec<u8>>>,
    hits: &Mutex<HashMap<String, usize>>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request.split(' ').nth(1).unwrap_or("/").to_string();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let body = files.lock().unwrap().get(&path).cloned();
    let head = if let Some(name) = path.strip_prefix("/redirect/") {
        format!("HTTP/1.1 302 Found\r\nLocation: /files/{name}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    } else if let Some(b) = &body {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: {LAST_MODIFIED}\r\nConnection: close\r\n\r\n",
            b.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
    };
    let _ = conn.write_all(head.as_bytes());
    if let Some(b) = body {
        let _ = conn.write_all(&b);
    }
}

fn context(s: &Sandbox, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = s.root().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (p, c) in files {
        std::fs::write(dir.join(p), c).unwrap();
    }
    dir
}

/// The sha256 of `bytes` in hex (by coreutils' sha256sum).
fn sha256(bytes: &[u8]) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// `images -a -q --no-trunc`, sorted.
fn all_images(s: &Sandbox) -> Vec<String> {
    let mut v: Vec<String> = s
        .ok(&["images", "-a", "-q", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The part of a build's output under step `n` (up to the next step).
fn step_output(out: &str, n: usize) -> &str {
    let start = out
        .find(&format!("Step {n}/"))
        .unwrap_or_else(|| panic!("no step {n} in {out}"));
    let rest = &out[start..];
    let end = rest[1..].find("Step ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

fn build(s: &Sandbox, tag: &str, ctx: &Path) -> String {
    s.ok(&["build", "-t", tag, ctx.to_str().unwrap()])
}

#[test]
fn add_downloads_urls_with_docker_names_and_modes() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let srv = Server::start();
    srv.put("hello.txt", b"hello from the web\n");
    srv.put("data.bin", b"\x00\x01binary");
    // A gzip'd tarball: ADD extracts local archives, never downloaded ones.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&common::tarball(&[("inside.txt", b"x")]))
        .unwrap();
    srv.put("archive.tar.gz", &gz.finish().unwrap());
    let sum = sha256(b"hello from the web\n");
    let df = format!(
        "FROM busybox\n\
         ADD {hello} /dl/\n\
         ADD {hello} /named.txt\n\
         ADD --chmod=644 {data} /modes/\n\
         ADD --checksum=sha256:{sum} {hello} /sum/\n\
         ADD {archive} /kept/\n\
         ADD {redirect} /redirected.txt\n\
         WORKDIR /app\n\
         ADD --chown=1:2 {hello} .\n",
        hello = srv.url("/files/hello.txt"),
        data = srv.url("/files/data.bin"),
        archive = srv.url("/files/archive.tar.gz"),
        redirect = srv.url("/redirect/hello.txt"),
    );
    let ctx = context(&s, "web", &[("Dockerfile", &df)]);
    build(&s, "web:1", &ctx);
    let stat = s.ok(&[
        "run",
        "--rm",
        "web:1",
        "stat",
        "-c",
        "%n %a %u:%g %Y",
        "/dl/hello.txt",
        "/named.txt",
        "/modes/data.bin",
        "/sum/hello.txt",
        "/kept/archive.tar.gz",
        "/redirected.txt",
        "/app/hello.txt",
    ]);
    let t = LAST_MODIFIED_UNIX;
    assert_eq!(
        stat,
        format!(
            "/dl/hello.txt 600 0:0 {t}\n\
             /named.txt 600 0:0 {t}\n\
             /modes/data.bin 644 0:0 {t}\n\
             /sum/hello.txt 600 0:0 {t}\n\
             /kept/archive.tar.gz 600 0:0 {t}\n\
             /redirected.txt 600 0:0 {t}\n\
             /app/hello.txt 600 1:2 {t}\n"
        )
    );
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "web:1",
            "cat",
            "/named.txt",
            "/app/hello.txt"
        ]),
        "hello from the web\nhello from the web\n"
    );
    let r = s.run(&["run", "--rm", "web:1", "ls", "/kept/inside.txt"]);
    assert_ne!(r.code, 0, "a downloaded archive is not extracted");
}

#[test]
fn add_url_failures_name_the_line_and_store_nothing() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let srv = Server::start();
    srv.put("f.txt", b"real content\n");
    let actual = sha256(b"real content\n");
    let wrong = "0".repeat(64);
    // A port nothing listens on.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let before = all_images(&s);
    let cases = [
        (
            // (Steps before the failing one are kept as cache images, as docker keeps them.)
            format!("FROM busybox\n\nADD {} /f\n", srv.url("/files/missing")),
            format!("Dockerfile:3: ADD {}: 404 Not Found", srv.url("/files/missing")),
        ),
        (
            format!(
                "FROM busybox\nADD --checksum=sha256:{wrong} {} /f\n",
                srv.url("/files/f.txt")
            ),
            format!(
                "Dockerfile:2: ADD {}: checksum mismatch: expected sha256:{wrong}, got sha256:{actual}",
                srv.url("/files/f.txt")
            ),
        ),
        (
            format!("FROM busybox\n\n\nADD http://127.0.0.1:{closed}/f /f\n"),
            format!("Dockerfile:4: ADD http://127.0.0.1:{closed}/f: connection failed"),
        ),
        (
            format!("FROM busybox\nADD {} /dir/\n", srv.url("/")),
            format!(
                "Dockerfile:2: ADD {}: cannot determine filename from url",
                srv.url("/")
            ),
        ),
        (
            format!("FROM busybox\nCOPY {} /f\n", srv.url("/files/f.txt")),
            "source can't be a URL for COPY".to_string(),
        ),
        (
            format!(
                "FROM busybox\nADD --checksum=sha256:{actual} local.txt /f\n"
            ),
            "checksum can't be specified for non-HTTP(S) sources".to_string(),
        ),
    ];
    for (df, want) in cases {
        let ctx = context(&s, "bad", &[("Dockerfile", &df), ("local.txt", "x")]);
        let r = s.run(&["build", "-t", "bad:1", ctx.to_str().unwrap()]);
        assert_ne!(r.code, 0, "{df}");
        assert!(r.stderr.contains(&want), "{df}\nwant {want}\n{}", r.stderr);
        assert_eq!(all_images(&s), before, "a failed ADD stores no image: {df}");
    }
    assert_ne!(s.run(&["inspect", "bad:1"]).code, 0, "no tag");
    let tmp = std::fs::read_dir(s.root().join("layers/tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "no download is left behind");
}

#[test]
fn add_url_cache_follows_the_remote_content() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let srv = Server::start();
    srv.put("v.txt", b"one\n");
    let df = format!(
        "FROM busybox\nADD {} /v.txt\nRUN cat /v.txt > /copy\n",
        srv.url("/files/v.txt")
    );
    let ctx = context(&s, "cache", &[("Dockerfile", &df)]);
    let first = build(&s, "c:1", &ctx);
    assert!(!first.contains("Using cache"), "{first}");
    let id1 = s.inspect("c:1", "{{.Id}}");

    // Unchanged: downloaded again (docker's classic builder does), then every step cached.
    let again = build(&s, "c:1", &ctx);
    assert_eq!(srv.hits("/files/v.txt"), 2);
    assert!(step_output(&again, 2).contains("Using cache"), "{again}");
    assert!(step_output(&again, 3).contains("Using cache"), "{again}");
    assert_eq!(s.inspect("c:1", "{{.Id}}"), id1);

    // Changed: the ADD and everything after it run again.
    srv.put("v.txt", b"two\n");
    let changed = build(&s, "c:1", &ctx);
    assert!(
        !step_output(&changed, 2).contains("Using cache"),
        "{changed}"
    );
    let run = step_output(&changed, 3);
    assert!(
        run.contains("Running in") && !run.contains("Using cache"),
        "{changed}"
    );
    assert_eq!(s.ok(&["run", "--rm", "c:1", "cat", "/copy"]), "two\n");
}

/// The `Deleted:` lines of `rmi` output.
fn deleted(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("Deleted: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn rmi_of_a_built_image_deletes_its_intermediate_images() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let base = all_images(&s);
    let df = "FROM busybox\nENV A=1\nRUN echo a > /a\nCOPY f.txt /f\nRUN echo b > /b\nCMD [\"cat\", \"/f\"]\n";
    let ctx = context(&s, "app", &[("Dockerfile", df), ("f.txt", "file\n")]);
    build(&s, "app:latest", &ctx);
    let id = s.inspect("app", "{{.Id}}");
    let built: Vec<String> = all_images(&s)
        .into_iter()
        .filter(|i| !base.contains(i))
        .collect();
    // ENV+RUN's base, RUN, COPY, RUN, CMD: five images, four of them intermediate.
    assert_eq!(built.len(), 5, "{built:?}");
    assert_eq!(
        s.ok(&["images", "-q"]).lines().count(),
        2,
        "-a shows the rest"
    );

    let out = s.ok(&["rmi", "app"]);
    assert!(out.starts_with("Untagged: app:latest\n"), "{out}");
    let gone = deleted(&out);
    assert_eq!(gone[0], id, "the image first: {out}");
    for i in &built {
        assert!(gone.contains(i), "{i} is deleted: {out}");
    }
    assert_eq!(all_images(&s), base, "only the base is left");
    assert!(s.ok(&["system", "check"]).contains("consistent"));
    assert_eq!(s.ok(&["run", "--rm", "busybox", "echo", "ok"]), "ok\n");

    // The cache forgot them: a rebuild runs every step again.
    let again = build(&s, "app:latest", &ctx);
    assert!(!again.contains("Using cache"), "{again}");

    // --no-prune deletes the image only (the CMD step added no layer).
    let id = s.inspect("app", "{{.Id}}");
    let out = s.ok(&["rmi", "--no-prune", "app"]);
    assert_eq!(out, format!("Untagged: app:latest\nDeleted: {id}\n"));
    assert_eq!(all_images(&s).len(), base.len() + 4, "{out}");
}

#[test]
fn rmi_keeps_what_other_images_and_containers_still_use() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let base = all_images(&s);
    let a = context(
        &s,
        "a",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo a > /a\nRUN echo shared > /s\nCMD [\"echo\", \"a\"]\n",
        )],
    );
    let b = context(
        &s,
        "b",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo a > /a\nRUN echo shared > /s\nRUN echo b > /b\nCMD [\"echo\", \"b\"]\n",
        )],
    );
    build(&s, "a:latest", &a);
    let a_id = s.inspect("a", "{{.Id}}");
    let with_a = all_images(&s);
    let out = build(&s, "b:latest", &b);
    assert!(step_output(&out, 3).contains("Using cache"), "{out}");
    let b_id = s.inspect("b", "{{.Id}}");

    // a's own image goes; the two RUN images b shares stay.
    let out = s.ok(&["rmi", "a"]);
    assert_eq!(deleted(&out).first(), Some(&a_id), "{out}");
    let shared: Vec<String> = with_a
        .iter()
        .filter(|i| !base.contains(i) && **i != a_id)
        .cloned()
        .collect();
    assert_eq!(shared.len(), 2, "{shared:?}");
    let left = all_images(&s);
    for i in &shared {
        assert!(left.contains(i), "shared {i} stays: {out}");
        assert!(!deleted(&out).contains(i), "{out}");
    }
    let again = build(&s, "b:latest", &b);
    assert!(step_output(&again, 4).contains("Using cache"), "{again}");
    assert_eq!(s.inspect("b", "{{.Id}}"), b_id);

    // An image another build started FROM is only untagged; it goes with its last child.
    let c = context(&s, "c", &[("Dockerfile", "FROM b\nRUN echo c > /c\n")]);
    build(&s, "c:latest", &c);
    assert_eq!(s.ok(&["rmi", "b"]), "Untagged: b:latest\n");
    assert!(all_images(&s).contains(&b_id));
    let r = s.run(&["rmi", &b_id[7..19]]);
    assert!(
        r.stderr.contains("image has dependent child images"),
        "{}",
        r.stderr
    );
    assert_eq!(
        s.ok(&["run", "--rm", "c", "cat", "/c", "/s"]),
        "c\nshared\n"
    );

    // A container holds the image it was created from: the chain stops there.
    let layers = |i: &str| {
        s.inspect(i, "{{json .RootFS.Layers}}")
            .matches("sha256")
            .count()
    };
    let first_run = shared
        .iter()
        .find(|i| layers(i) == layers("busybox") + 1)
        .unwrap()
        .clone();
    s.ok(&["create", "--name", "holder", &first_run]);
    let out = s.ok(&["rmi", "c"]);
    assert!(
        deleted(&out).contains(&b_id),
        "the untagged b goes with c: {out}"
    );
    let left = all_images(&s);
    assert!(
        left.contains(&first_run),
        "the container's image stays: {out}"
    );
    let mut want = base.clone();
    want.push(first_run.clone());
    want.sort();
    assert_eq!(left, want, "{out}");
    s.ok(&["rm", "holder"]);
    assert!(s.ok(&["system", "check"]).contains("consistent"));
}

#[test]
fn a_tag_that_looks_like_an_id_prefix_is_a_tag() {
    let b = common::Berth::new();
    let id = b.busybox("busybox:latest");
    // `rmi b` must untag b:latest, even when the image's ID starts with "b".
    let short = &id[7..9];
    b.ok(&["tag", "busybox", short]);
    assert_eq!(b.ok(&["rmi", short]), format!("Untagged: {short}:latest\n"));
    assert_eq!(b.ok(&["images", "-q", "--no-trunc"]).trim(), id);
}

#[test]
fn pull_flag_and_copy_from_an_image_fetch_from_the_registry() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let reg = common::start_registry();
    let base = format!("127.0.0.1:{}/tools/base:1", reg.port);
    let other = format!("127.0.0.1:{}/tools/other:1", reg.port);
    // The registry has plain busybox as `base`, and busybox with /etc/marker as `other`.
    s.ok(&["tag", "busybox", &base]);
    s.ok(&["push", &base]);
    let ctx = context(
        &s,
        "other",
        &[("Dockerfile", "FROM busybox\nRUN echo other > /etc/marker\n")],
    );
    s.ok(&["build", "-t", &other, ctx.to_str().unwrap()]);
    s.ok(&["push", &other]);
    s.ok(&["rmi", &other]);
    // Locally, `base` is now a stale image that has /stale.
    let ctx = context(
        &s,
        "stale",
        &[("Dockerfile", "FROM busybox\nRUN touch /stale\n")],
    );
    s.ok(&["build", "-t", &base, ctx.to_str().unwrap()]);

    let df =
        format!("FROM {base}\nRUN test ! -e /stale\nCOPY --from={other} /etc/marker /marker\n");
    let ctx = context(&s, "uses", &[("Dockerfile", &df)]);
    let dir = ctx.to_str().unwrap();
    // Without --pull the local (stale) base is used: its RUN fails. The image COPY --from
    // names is not here: it is pulled.
    let r = s.run(&["build", "-t", "uses:1", dir]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("Pulling {other}")),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains(&format!("Pulling {base}")),
        "{}",
        r.stdout
    );
    // With --pull, the registry's base replaces the stale one.
    let out = s.ok(&["build", "--pull", "-t", "uses:1", dir]);
    assert!(out.contains(&format!("Pulling {base}")), "{out}");
    assert_eq!(
        s.ok(&["run", "--rm", "uses:1", "cat", "/marker"]),
        "other\n"
    );

    // --pull with the registry gone fails the build, naming the image and the line.
    drop(reg);
    let r = s.run(&["build", "--pull", dir]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!(
            "Dockerfile:1: base image {base}: --pull could not fetch it"
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn builder_prune_takes_the_images_a_no_cache_rebuild_left_and_image_prune_leaves_them() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let base = all_images(&s);
    let ctx = context(
        &s,
        "again",
        &[(
            "Dockerfile",
            "FROM busybox\nENV A=1\nRUN echo x > /x\nCMD [\"cat\", \"/x\"]\n",
        )],
    );
    let dir = ctx.to_str().unwrap();
    s.ok(&["build", "-t", "again:1", dir]);
    // The rebuild's images replace the first build's in the cache; the first build's images
    // stay the builder's.
    s.ok(&["build", "--no-cache", "-t", "again:1", dir]);
    let built = all_images(&s);
    let cache_row = || {
        s.ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"])
            .lines()
            .find_map(|l| l.strip_prefix("Build Cache=").map(str::to_string))
            .unwrap()
    };
    // Everything but the base and the tagged image is the builder's, and counted as such.
    assert_eq!(cache_row(), (built.len() - base.len() - 1).to_string());
    s.ok(&["image", "prune", "-f"]);
    assert_eq!(all_images(&s), built, "image prune leaves a build's images");
    s.ok(&["builder", "prune", "-f"]);
    let left = all_images(&s);
    let tagged = s.ok(&["images", "-q", "--no-trunc", "again:1"]);
    let mut want = base.clone();
    want.push(tagged.trim().to_string());
    want.sort();
    assert_eq!(left, want, "only the base and the tagged image stay");
    assert_eq!(cache_row(), "0");
    let check = s.ok(&["system", "check"]);
    assert!(!check.contains("problem"), "{check}");
    assert_eq!(s.ok(&["run", "--rm", "again:1"]), "x\n");
}

/// `COPY --chown=NAME` looks NAME up in the image's `/etc/passwd`. When that is a symlink to an
/// absolute path, the lookup stays inside the image: the host's file of that name is never
/// read.
#[test]
fn chown_names_never_come_from_a_host_file_an_image_links_to() {
    let Some(s) = Sandbox::new() else {
        return;
    };
    let host = tempfile::tempdir().unwrap();
    let host_passwd = host.path().join("passwd");
    std::fs::write(&host_passwd, "hostonly:x:4242:4242::/:/bin/sh\n").unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    b.append_data(&mut h, "etc", std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    b.append_link(&mut h, "etc/passwd", &host_passwd).unwrap();
    let tar = s.root().join("linked.tar");
    std::fs::write(&tar, b.into_inner().unwrap()).unwrap();
    s.ok(&["import", tar.to_str().unwrap(), "linked:1"]);
    let ctx = context(
        &s,
        "chown",
        &[
            ("Dockerfile", "FROM linked:1\nCOPY --chown=hostonly f /f\n"),
            ("f", "x"),
        ],
    );
    let r = s.run(&["build", "-t", "chown:1", ctx.to_str().unwrap()]);
    assert_ne!(
        r.code, 0,
        "the build found a user only the host's file has:\n{}{}",
        r.stdout, r.stderr
    );
    assert!(r.stderr.contains("hostonly"), "{}", r.stderr);
}
