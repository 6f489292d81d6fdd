//! Hashing selected sources: file contents in parallel, then one canonical record.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_image::digest::Digest;
use sha2::{Digest as _, Sha256};

use super::{Entry, EntryKind, Selected, Selection};
use crate::error::{BuildError, Result};

/// Read buffer per thread.
const BUF: usize = 64 * 1024;

type FileSum = (u64, [u8; 32]);

pub(super) fn digest(selection: &[Selected]) -> Result<Digest> {
    let mut files: Vec<&Path> = Vec::new();
    for sel in selection {
        if let Selection::Paths(matches) = &sel.selection {
            for m in matches {
                let entries = std::iter::once(&m.entry).chain(&m.children);
                files.extend(
                    entries
                        .filter(|e| e.kind == EntryKind::File)
                        .map(|e| e.path.as_path()),
                );
            }
        }
    }
    let sums = hash_files(&files)?;
    let mut sums = sums.iter();
    let mut rec = Record(Vec::with_capacity(64 + files.len() * 96));
    rec.bytes(b"berth-build-sources-v1");
    for sel in selection {
        rec.tag(b'S');
        rec.bytes(sel.src.as_bytes());
        match &sel.selection {
            Selection::Url(u) => {
                rec.tag(b'U');
                rec.bytes(u.as_bytes());
            }
            Selection::Paths(matches) => {
                rec.num(matches.len() as u64);
                for m in matches {
                    rec.tag(b'M');
                    rec.bytes(m.rel.as_bytes());
                    rec.entry(&m.entry, &mut sums)?;
                    rec.num(m.children.len() as u64);
                    for c in &m.children {
                        rec.bytes(c.rel.as_bytes());
                        rec.entry(c, &mut sums)?;
                    }
                }
            }
        }
    }
    Ok(Digest::of(&rec.0))
}

/// A length-prefixed, unambiguous byte record.
struct Record(Vec<u8>);

impl Record {
    fn tag(&mut self, t: u8) {
        self.0.push(t);
    }

    fn num(&mut self, n: u64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.num(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn entry<'a>(&mut self, e: &Entry, sums: &mut impl Iterator<Item = &'a FileSum>) -> Result<()> {
        let kind = match e.kind {
            EntryKind::File => b'f',
            EntryKind::Dir => b'd',
            EntryKind::Symlink => b'l',
            EntryKind::Other => b'o',
        };
        self.tag(kind);
        self.0.extend_from_slice(&e.mode.to_le_bytes());
        match e.kind {
            EntryKind::File => {
                let Some((size, sum)) = sums.next() else {
                    return Err(BuildError::io(
                        &e.path,
                        io::Error::other("file hash missing"),
                    ));
                };
                self.num(*size);
                self.0.extend_from_slice(sum);
            }
            EntryKind::Symlink => {
                let target = e.link.as_deref().map(|l| l.as_os_str().as_bytes());
                self.bytes(target.unwrap_or_default());
            }
            EntryKind::Dir | EntryKind::Other => {}
        }
        Ok(())
    }
}

/// Length and SHA-256 of every file, in order, on a few threads.
fn hash_files(paths: &[&Path]) -> Result<Vec<FileSum>> {
    let mut work: Vec<(&Path, FileSum)> = paths.iter().map(|p| (*p, (0, [0; 32]))).collect();
    super::par::for_each(&mut work, |(path, sum), buf| {
        if buf.is_empty() {
            buf.resize(BUF, 0);
        }
        *sum = hash_file(path, buf)?;
        Ok(())
    })?;
    Ok(work.into_iter().map(|(_, sum)| sum).collect())
}

fn hash_file(path: &Path, buf: &mut [u8]) -> Result<FileSum> {
    let mut f = File::open(path).map_err(|e| BuildError::io(path, e))?;
    let mut h = Sha256::new();
    let mut total = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BuildError::io(path, e)),
        };
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, h.finalize().into()))
}
