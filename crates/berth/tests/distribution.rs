//! `pull` and `push` end to end against a local `berth registry serve`: docker's live
//! per-layer bars when stdout is a terminal (run under `script`, which gives it a
//! pseudo-terminal), the plain lines when it is not, and a pull killed with SIGKILL while it
//! downloads or while it unpacks: the store stays consistent, the image is not half-recorded,
//! and the retry resumes the partial download and runs.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    kill9, screen, start_registry, start_slow_registry, test_images, under_terminal, Berth,
    Registry, Sandbox,
};

/// Incompressible bytes (xorshift), made as they are read.
struct Noise {
    left: u64,
    x: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for chunk in buf[..n].chunks_mut(8) {
            self.x ^= self.x << 13;
            self.x ^= self.x >> 7;
            self.x ^= self.x << 17;
            chunk.copy_from_slice(&self.x.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The busybox test rootfs plus `/big.bin` of `size` random bytes, as a tarball in `dir`.
fn busybox_with_big_file(dir: &Path, size: u64) -> PathBuf {
    let path = dir.join("rootfs.tar");
    let mut out = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let busybox = std::fs::File::open(test_images().join("busybox-rootfs.tar")).unwrap();
    let mut archive = tar::Archive::new(busybox);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        out.append(&header, &mut entry).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    let noise = Noise {
        left: size,
        x: 0x9E37_79B9_7F4A_7C15 ^ size,
    };
    out.append_data(&mut h, "big.bin", noise).unwrap();
    out.into_inner().unwrap();
    path
}

/// Imports busybox with a `size`-byte file as `127.0.0.1:PORT/NAME:latest` in a berth of its
/// own and pushes it; returns the reference and the image ID.
fn publish(reg: &Registry, name: &str, size: u64) -> (String, String) {
    let publisher = Berth::new();
    let reference = format!("127.0.0.1:{}/{name}:latest", reg.port);
    let tar = busybox_with_big_file(publisher.root(), size);
    let id = publisher.ok(&[
        "import",
        "--change",
        r#"CMD ["sh"]"#,
        tar.to_str().unwrap(),
        &reference,
    ]);
    publisher.ok(&["push", &reference]);
    (reference, id.trim().to_string())
}

/// The short (12-digit) ID of the one layer line of a pull's plain output.
fn layer_of(plain: &str) -> String {
    plain
        .lines()
        .find_map(|l| l.strip_suffix(": Pulling fs layer"))
        .unwrap_or_else(|| panic!("no layer line in:\n{plain}"))
        .to_string()
}

#[test]
fn pull_and_push_draw_live_bars_on_a_terminal_and_plain_lines_elsewhere() {
    let reg = start_registry();
    let (reference, id) = publish(&reg, "live", 24_000_000);

    // Off a terminal: docker's plain lines, nothing rewritten.
    let plain_store = Berth::new();
    let plain = plain_store.ok(&["pull", &reference]);
    let layer = layer_of(&plain);
    let digest = plain
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap();
    assert_eq!(
        plain,
        format!(
            "latest: Pulling from live\n{layer}: Pulling fs layer\n{layer}: Pull complete\n\
             Digest: {digest}\nStatus: Downloaded newer image for {reference}\n{reference}\n"
        )
    );

    // On a terminal: the layer's line is rewritten in place through every state.
    let tty_store = Berth::new();
    let Some(run) = under_terminal(&tty_store, &["pull", &reference]) else {
        return;
    };
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let raw = &run.stdout;
    let at = |needle: &str| {
        raw.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in {raw:?}"))
    };
    let last = |needle: &str| raw.rfind(needle).unwrap();
    assert!(raw.contains("\x1b[1A\r\x1b[2K"), "{raw:?}");
    assert!(at(&format!("{layer}: Pulling fs layer")) < at(&format!("{layer}: Downloading [")));
    assert!(last(&format!("{layer}: Downloading [")) < at(&format!("{layer}: Download complete")));
    assert!(at(&format!("{layer}: Download complete")) < at(&format!("{layer}: Pull complete")));
    // The layer unpacks while it downloads; a bar shows only for a layer unpacked afterwards
    // (a resumed download), between the two.
    if let Some(x) = raw.find(&format!("{layer}: Extracting [")) {
        assert!(at(&format!("{layer}: Download complete")) < x);
        assert!(last(&format!("{layer}: Extracting [")) < at(&format!("{layer}: Pull complete")));
    }
    assert_eq!(
        screen(raw),
        [
            "latest: Pulling from live".to_string(),
            format!("{layer}: Pull complete"),
            format!("Digest: {digest}"),
            format!("Status: Downloaded newer image for {reference}"),
            reference.clone(),
            String::new(),
        ],
        "{raw:?}"
    );
    assert_eq!(
        tty_store
            .ok(&["inspect", "--format", "{{.Id}}", &reference])
            .trim(),
        id
    );

    // Push to another repository of a fresh registry from the terminal: bars, then Pushed.
    let reg2 = start_registry();
    let target = format!("127.0.0.1:{}/again:latest", reg2.port);
    tty_store.ok(&["tag", &reference, &target]);
    let run = under_terminal(&tty_store, &["push", &target]).unwrap();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let raw = &run.stdout;
    assert!(raw.contains(&format!("{layer}: Pushing [")), "{raw:?}");
    let rows = screen(raw);
    assert_eq!(
        rows[0],
        format!(
            "The push refers to repository [{}]",
            target.trim_end_matches(":latest")
        ),
        "{raw:?}"
    );
    assert!(rows.contains(&format!("{layer}: Pushed")), "{rows:#?}");
    // Layers only, as docker: the config blob goes up without a line.
    assert_eq!(
        rows.iter().filter(|r| r.ends_with(": Pushed")).count(),
        1,
        "{rows:#?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("latest: digest: sha256:")),
        "{rows:#?}"
    );
}

/// Bytes of the big layer's file, and the pace at which the tests' registry answers: a whole
/// pull of it takes two seconds, long enough to catch part-way, and each test's copies of it
/// (tarball, publisher's and puller's blobs and layers, the registry's) stay under 200 MB.
const BIG: u64 = 24_000_000;
const PACE: u64 = 12_000_000;

/// The size of the largest file under `dir` whose path ends with `suffix` (any depth).
fn largest(dir: &Path, suffix: &str) -> Option<u64> {
    let mut best = None;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return None;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let size = if m.is_dir() {
            largest(&p, suffix)
        } else if p.to_string_lossy().ends_with(suffix) {
            Some(m.len())
        } else {
            None
        };
        best = best.max(size);
    }
    best
}

/// Starts `berth pull REFERENCE` in `s` and SIGKILLs it once `size()` is part-way through
/// `total` (between an eighth and seven eighths); returns the size seen.
fn pull_and_kill_part_way(
    s: &Sandbox,
    reference: &str,
    total: u64,
    size: impl Fn() -> Option<u64>,
) -> u64 {
    let mut child = s
        .command()
        .args(["pull", reference])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let seen = loop {
        if let Some(n) = size().filter(|n| *n > total / 8 && *n < total / 8 * 7) {
            break n;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            let _ = child.stdout.take().unwrap().read_to_string(&mut out);
            panic!("the pull ended ({status}) before it could be killed part-way:\n{out}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the pull never got part-way"
        );
        std::thread::sleep(Duration::from_micros(500));
    };
    kill9(child.id() as i32);
    eprintln!("killed the pull at {seen} of {total} bytes");
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, yet {status}");
    seen
}

/// After a kill: no problems (leftovers are garbage, which is allowed), no image recorded.
fn assert_consistent_without_image(s: &Sandbox, reference: &str) -> String {
    let check = s.run(&["system", "check"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains("consistent") && !check.stdout.contains("problem:"),
        "{}",
        check.stdout
    );
    let images = s.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(!images.contains("/big"), "{images}");
    assert!(s.run(&["inspect", reference]).code != 0);
    check.stdout
}

/// The pulled image is the pushed one, byte for byte, and runs.
fn assert_pulled_and_runs(s: &Sandbox, reference: &str, id: &str) {
    assert_eq!(s.inspect(reference, "{{.Id}}"), id);
    let size = s.ok(&["run", "--rm", reference, "sh", "-c", "wc -c < /big.bin"]);
    assert_eq!(size.trim(), BIG.to_string());
    let check = s.ok(&["system", "check"]);
    assert!(
        check.contains("consistent") && !check.contains("problem:"),
        "{check}"
    );
}

#[test]
fn a_pull_killed_mid_download_resumes_on_retry() {
    let Some(s) = Sandbox::new() else { return };
    let reg = start_slow_registry(PACE);
    let (reference, id) = publish(&reg, "big", BIG);

    let ingest = s.root().join("ingest");
    let seen = pull_and_kill_part_way(&s, &reference, BIG, || largest(&ingest, ""));
    let partial = largest(&ingest, "").unwrap();
    assert!(partial >= seen && partial < BIG, "{partial} of {BIG}");
    let check = assert_consistent_without_image(&s, &reference);
    assert!(
        check.contains("garbage: "),
        "the partial is garbage: {check}"
    );

    let retry = s.ok(&["pull", &reference]);
    let layer = retry
        .lines()
        .find_map(|l| l.split_once(": Resuming at "))
        .unwrap_or_else(|| panic!("the retry did not resume:\n{retry}"));
    let resumed: u64 = layer.1.strip_suffix(" bytes").unwrap().parse().unwrap();
    assert_eq!(resumed, partial, "{retry}");
    assert!(
        retry.contains(&format!("{}: Pull complete", layer.0))
            && retry.contains(&format!("Status: Downloaded newer image for {reference}")),
        "{retry}"
    );
    assert_eq!(largest(&ingest, ""), None, "the partial was used up");
    assert_pulled_and_runs(&s, &reference, &id);
}

#[test]
fn a_pull_killed_while_unpacking_is_finished_by_the_retry() {
    let Some(s) = Sandbox::new() else { return };
    let reg = start_slow_registry(PACE);
    let (reference, id) = publish(&reg, "big", BIG);

    // The layer unpacks into layers/tmp/unpack-*/diff while it downloads.
    let tmp = s.root().join("layers/tmp");
    let ingest = s.root().join("ingest");
    pull_and_kill_part_way(&s, &reference, BIG, || largest(&tmp, "/big.bin"));
    let partial = largest(&ingest, "").unwrap_or(BIG);
    assert!(
        partial < BIG,
        "unpacking runs beside the download: the blob was not complete ({partial} of {BIG})"
    );
    let check = assert_consistent_without_image(&s, &reference);
    assert!(check.contains("garbage: "), "{check}");

    // The retry resumes the blob, so its layer unpacks from the stored blob afterwards.
    let retry = s.ok(&["pull", &reference]);
    assert!(
        retry.contains(": Resuming at ")
            && retry.contains(&format!("Status: Downloaded newer image for {reference}")),
        "{retry}"
    );
    assert_pulled_and_runs(&s, &reference, &id);

    // What the kill left is garbage that prune reclaims.
    s.ok(&["image", "prune", "-f"]);
    let check = s.ok(&["system", "check"]);
    assert!(
        check.contains("consistent") && !check.contains("garbage:"),
        "{check}"
    );
}

#[test]
fn all_tags_push_and_pull_every_tag_of_a_repository() {
    let Some(s) = Sandbox::with_busybox() else {
        return;
    };
    let reg = start_registry();
    let repo = format!("127.0.0.1:{}/team/app", reg.port);
    for tag in ["1", "2", "stable"] {
        s.ok(&["tag", "busybox", &format!("{repo}:{tag}")]);
    }
    let out = s.ok(&["push", "--all-tags", &repo]);
    for tag in ["1", "2", "stable"] {
        assert!(out.contains(&format!("\n{tag}: digest: sha256:")), "{out}");
    }

    let fresh = Berth::new();
    let out = fresh.ok(&["pull", "-a", &repo]);
    for tag in ["1", "2", "stable"] {
        assert!(
            out.contains(&format!("{tag}: Pulling from team/app\n")),
            "{out}"
        );
    }
    assert!(
        out.ends_with(&format!(
            "Status: Downloaded newer image for {repo}\n{repo}\n"
        )),
        "{out}"
    );
    let id = s.ok(&["images", "-q", "--no-trunc", "busybox"]);
    let listed = fresh.ok(&["images", "--format", "{{.Tag}} {{.ID}}", &repo]);
    let mut tags: Vec<&str> = listed
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["1", "2", "stable"], "{listed}");
    assert_eq!(
        fresh
            .ok(&["inspect", "-f", "{{.Id}}", &format!("{repo}:2")])
            .trim(),
        id.trim()
    );

    // A tag with --all-tags is refused, as docker refuses it.
    for args in [["push", "-a"], ["pull", "-a"]] {
        let r = s.run(&[args[0], args[1], &format!("{repo}:1")]);
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.contains("tag can't be used with --all-tags/-a"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_cancelled_pull_stops_part_way_and_the_next_pull_resumes() {
    use berth_engine::{Cancel, Engine, EngineConfig, EngineError};
    use berth_registry::client::Event;
    let Some(s) = Sandbox::new() else { return };
    let reg = start_slow_registry(PACE);
    let (reference, id) = publish(&reg, "big", BIG);

    let mut config = EngineConfig::new(s.root());
    config.run_root = s.run_root();
    config.exe = env!("CARGO_BIN_EXE_berth").into();
    let engine = Engine::open(config).unwrap();
    let cancel = Cancel::new();
    // Cancelled from the progress callback, as a server does when its client hangs up.
    let progress = |e: Event| {
        if let Event::BlobProgress { done, .. } = e {
            if done > BIG / 8 {
                cancel.cancel();
            }
        }
    };
    let t = Instant::now();
    let r = engine.pull(&reference, None, &progress, &cancel);
    assert!(
        matches!(r, Err(EngineError::Cancelled(_))),
        "cancelled, not {r:?}"
    );
    eprintln!("the pull ended {:?} after its cancel", t.elapsed());
    let partial = largest(&s.root().join("ingest"), "").expect("the partial download is kept");
    assert!(partial < BIG, "{partial} of {BIG}: it stopped part-way");
    assert_consistent_without_image(&s, &reference);

    let retry = s.ok(&["pull", &reference]);
    assert!(retry.contains(": Resuming at "), "{retry}");
    assert_pulled_and_runs(&s, &reference, &id);
}
