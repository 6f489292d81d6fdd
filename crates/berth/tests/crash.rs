//! kill -9 in the middle of `load` leaves a store that `system check` finds consistent, and
//! the retried load succeeds.

mod common;

use std::time::{Duration, Instant};

use common::Berth;

/// A rootfs tarball with `mib` MiB of incompressible bytes, so that load takes a while.
#[allow(clippy::unwrap_used)]
fn big_tarball(mib: usize) -> Vec<u8> {
    let mut data = vec![0u8; mib << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    common::tarball(&[("big.bin", &data), ("etc/hostname", b"x\n")])
}

fn dir_has_entries(p: &std::path::Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

#[test]
fn kill_9_during_load_leaves_a_consistent_store() {
    let src = Berth::new();
    let tar = src.root().join("big.tar");
    std::fs::write(&tar, big_tarball(96)).unwrap();
    let id = src.ok(&["import", tar.to_str().unwrap(), "big:latest"]);
    let archive = src.root().join("big-image.tar");
    src.ok(&["save", "-o", archive.to_str().unwrap(), "big"]);

    // Kill at different moments: while the blob streams in, while the layer unpacks, and
    // at fixed delays in between.
    let b = Berth::new();
    type Ready = Box<dyn Fn(&Berth) -> bool>;
    let stages: [(&str, Ready); 4] = [
        (
            "ingest",
            Box::new(|b: &Berth| dir_has_entries(&b.root().join("ingest"))),
        ),
        (
            "unpack",
            Box::new(|b: &Berth| dir_has_entries(&b.root().join("layers/tmp"))),
        ),
        ("50ms", Box::new(|_: &Berth| false)),
        ("150ms", Box::new(|_: &Berth| false)),
    ];
    let mut killed_mid_way = 0;
    for (name, ready) in &stages {
        let mut child = b
            .command()
            .args(["load", "-i", archive.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let deadline = match *name {
            "50ms" => Duration::from_millis(50),
            "150ms" => Duration::from_millis(150),
            _ => Duration::from_secs(10),
        };
        while start.elapsed() < deadline && !ready(&b) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        if !status.success() {
            killed_mid_way += 1;
        }
        let check = b.run(&["system", "check"]);
        assert_eq!(
            check.code, 0,
            "after kill at {name}: {}{}",
            check.stdout, check.stderr
        );
        // Whatever was killed must not show up half-made.
        let images = b.ok(&["images", "-q", "--no-trunc"]);
        assert!(images.is_empty() || images.trim() == id.trim(), "{images}");
        if !images.is_empty() {
            b.ok(&["rmi", "big"]);
        }
    }
    assert!(
        killed_mid_way >= 2,
        "the load finished before every kill: make the image bigger"
    );

    // The retry succeeds, and prune then reclaims what the kills left behind.
    assert_eq!(
        b.ok(&["load", "-i", archive.to_str().unwrap()]),
        "Loaded image: big:latest\n"
    );
    assert_eq!(b.ok(&["images", "-q", "--no-trunc"]).trim(), id.trim());
    b.ok(&["image", "prune", "-f"]);
    let check = b.ok(&["system", "check"]);
    assert!(
        check.contains("consistent") && !check.contains("garbage:"),
        "{check}"
    );
}
