//! Shared helpers for the layer tests: a byte-level tar writer and a jail with a sentinel.

// Helpers unwrap: a panic is how a test reports.
#![allow(clippy::unwrap_used)]
// Each test target uses a different subset.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_image::layer::{unpack, LayerError, Refusal, UnpackOptions, Unpacked};
use tar::{EntryType, Header};

pub const MTIME: u64 = 1_600_000_000;

/// A tar stream written header by header, so names can hold `..`, absolute paths and the like.
#[derive(Default, Clone)]
pub struct Tar(pub Vec<u8>);

impl Tar {
    pub fn raw(self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8], mode: u32) -> Self {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(MTIME);
        h.set_cksum();
        self.push(&h, data)
    }
    pub fn push(mut self, h: &Header, data: &[u8]) -> Self {
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data, 0o644)
    }
    pub fn dir(self, name: &str, mode: u32) -> Self {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"", mode)
    }
    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            EntryType::Symlink,
            target.as_bytes(),
            b"",
            0o777,
        )
    }
    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            EntryType::Link,
            target.as_bytes(),
            b"",
            0o644,
        )
    }
    pub fn device(self, name: &str, kind: EntryType, major: u32, minor: u32) -> Self {
        let mut h = Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o666);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.push(&h, b"")
    }
    /// A PAX extended header (`x`) describing the next entry.
    pub fn pax(self, records: &[(&str, &[u8])]) -> Self {
        let mut body = Vec::new();
        for (key, value) in records {
            let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {key}=").as_bytes());
            body.extend_from_slice(value);
            body.push(b'\n');
        }
        self.raw(b"PaxHeader", EntryType::XHeader, b"", &body, 0o644)
    }
    pub fn end(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }
}

/// `outer/` with `sentinel` and the empty `dest/`, plus a snapshot of `outer` to compare with.
pub struct Jail {
    pub outer: tempfile::TempDir,
    pub dest: PathBuf,
    before: Vec<(String, u32, i64, u64)>,
}

pub fn jail() -> Jail {
    let outer = tempfile::tempdir().unwrap();
    fs::write(outer.path().join("sentinel"), b"sentinel\n").unwrap();
    let dest = outer.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let before = snapshot(outer.path());
    Jail {
        outer,
        dest,
        before,
    }
}

/// Name, mode, mtime and link count of `outer`, of each of its entries, and the sentinel's bytes.
fn snapshot(outer: &Path) -> Vec<(String, u32, i64, u64)> {
    let mut all = vec![stat_row(".".into(), outer)];
    for e in fs::read_dir(outer).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name != "dest" {
            all.push(stat_row(name, &e.path()));
        }
    }
    all.sort();
    all
}

fn stat_row(name: String, path: &Path) -> (String, u32, i64, u64) {
    let m = fs::symlink_metadata(path).unwrap();
    (name, m.mode(), m.mtime(), m.nlink())
}

impl Jail {
    pub fn sentinel(&self) -> PathBuf {
        self.outer.path().join("sentinel")
    }
    pub fn run(&self, tar: &[u8], opts: &UnpackOptions) -> Result<Unpacked, LayerError> {
        let res = unpack(tar, &self.dest, opts);
        assert_eq!(
            snapshot(self.outer.path()),
            self.before,
            "outside dest changed"
        );
        assert_eq!(fs::read(self.sentinel()).unwrap(), b"sentinel\n");
        res
    }
    pub fn unpack(&self, tar: &[u8]) -> Result<Unpacked, LayerError> {
        let opts = UnpackOptions {
            allow_devices: false,
            same_owner: false,
        };
        self.run(tar, &opts)
    }
    pub fn refused(&self, tar: &[u8]) -> Refusal {
        match self.unpack(tar) {
            Err(LayerError::Refused { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    pub fn at(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }
}

pub fn is_root() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

pub fn outer_abs(j: &Jail) -> String {
    j.outer.path().to_str().unwrap().to_owned()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}
