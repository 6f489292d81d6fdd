//! Privileged: the pool of network namespaces made ahead of time — what a start takes is a
//! namespace of its own with `lo` up, racing takers never share one, and a drained pool stays
//! empty until a start asks again.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_net::{Netns, NetnsPool};
use common::*;

/// The inode of the namespace `ns` (what `readlink /proc/PID/ns/net` shows).
fn inode(ns: &Netns) -> u64 {
    std::fs::metadata(format!("/proc/self/fd/{}", ns.as_fd().as_raw_fd()))
        .unwrap()
        .ino()
}

fn pooled(dir: &Path) -> Vec<String> {
    mounts_under(dir)
}

/// A pool in a scratch directory, emptied when the test ends, failed or not.
struct Scratch(NetnsPool, tempfile::TempDir);

impl Scratch {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        Scratch(NetnsPool::new(tmp.path().join("pool")), tmp)
    }
}

impl std::ops::Deref for Scratch {
    type Target = NetnsPool;
    fn deref(&self) -> &NetnsPool {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = self.0.drain();
    }
}

#[test]
fn a_taken_namespace_is_a_new_one_with_lo_up_and_leaves_the_pool() {
    if !privileged("a_taken_namespace_is_a_new_one_with_lo_up_and_leaves_the_pool") {
        return;
    }
    let pool = Scratch::new();
    // No directory yet: nothing to take, and a fill does nothing until a start asked.
    assert!(pool.take().is_none());
    assert!(pool.dir().is_dir(), "a start creates the pool's directory");
    assert_eq!(pool.fill(3).unwrap(), 3);
    assert_eq!(pool.fill(3).unwrap(), 0, "full already");
    assert_eq!(pooled(pool.dir()).len(), 3);

    let ns = pool.take().unwrap();
    assert_eq!(pooled(pool.dir()).len(), 2, "the taken one left the pool");
    let mine = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    assert_ne!(inode(&ns), mine, "not the host's namespace");
    // (nsenter runs as a child, to which /proc/self/fd/N would not point: name our fd.)
    let path = format!("/proc/{}/fd/{}", std::process::id(), ns.as_fd().as_raw_fd());
    let lo = sh(&[
        "nsenter",
        &format!("--net={path}"),
        "ip",
        "-o",
        "link",
        "show",
    ]);
    assert_eq!(lo.lines().count(), 1, "only lo: {lo}");
    assert!(
        lo.contains(": lo: <LOOPBACK,UP,LOWER_UP>"),
        "lo is up: {lo}"
    );

    // With the pool empty, a start makes its own.
    let rest: Vec<Netns> = (0..2).map(|_| pool.take().unwrap()).collect();
    assert!(pool.take().is_none());
    let fresh = pool.take_or_make().unwrap();
    let mut all: Vec<u64> = rest.iter().chain([&ns, &fresh]).map(inode).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4, "every start has a namespace of its own");
}

#[test]
fn starts_racing_for_the_pool_never_share_a_namespace() {
    if !privileged("starts_racing_for_the_pool_never_share_a_namespace") {
        return;
    }
    let pool = Scratch::new();
    assert!(pool.take().is_none());
    for _ in 0..20 {
        pool.fill(4).unwrap();
        let got: Vec<Option<Netns>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6).map(|_| s.spawn(|| pool.take())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut taken: Vec<u64> = got.iter().flatten().map(inode).collect();
        assert_eq!(taken.len(), 4, "each pooled namespace taken once");
        taken.sort();
        taken.dedup();
        assert_eq!(taken.len(), 4, "two takers got the same namespace");
        assert!(pooled(pool.dir()).is_empty());
    }
}

#[test]
fn a_drained_pool_is_not_filled_again_until_a_start_asks() {
    if !privileged("a_drained_pool_is_not_filled_again_until_a_start_asks") {
        return;
    }
    let pool = Scratch::new();
    assert!(pool.take().is_none());
    pool.fill(2).unwrap();
    pool.drain().unwrap();
    assert!(!pool.dir().exists(), "drained: the directory is gone");
    assert!(mounts_under(pool.1.path()).is_empty());
    // A monitor that finishes late (its fill after the drain) leaves nothing.
    assert_eq!(pool.fill(2).unwrap(), 0);
    assert!(!pool.dir().exists());
    // The next start turns the pool on again.
    assert!(pool.take().is_none());
    assert_eq!(pool.fill(2).unwrap(), 2);
    // A crash part-way through a fill leaves a plain file: the next fill clears it.
    std::fs::write(pool.dir().join("ns-0000000000000000"), "").unwrap();
    assert_eq!(pool.fill(3).unwrap(), 1);
    assert!(!pool.dir().join("ns-0000000000000000").exists());
    pool.drain().unwrap();
    assert!(mounts_under(pool.1.path()).is_empty());
}
