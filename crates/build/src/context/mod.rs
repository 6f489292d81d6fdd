//! The build context: walking it under `.dockerignore`, resolving COPY/ADD sources, and a
//! content hash of what those sources would put in the image.
//!
//! What the hash covers, for every selected path in a deterministic order (sources in the
//! order given, matches of a glob sorted, directory contents sorted by name at every level):
//! - the source string as written and each match's path relative to the context root;
//! - each entry's path relative to its match, its type, and its permission bits
//!   (`mode & 0o7777`, setuid/setgid/sticky included);
//! - file bytes (as a SHA-256) and length; symlink targets.
//!
//! Not covered, on purpose: mtime/atime/ctime (a `touch` must not bust the cache), and the
//! owner uid/gid — COPY and ADD write files as 0:0 unless `--chown` is given, and `--chown`
//! is part of the instruction text, which is in the cache key already. URL sources (ADD) are
//! hashed by their text only: the executor adds the digest of what it downloaded.
//!
//! Symlinks given as sources are followed (inside the context only); symlinks found below a
//! source directory are recorded as links, as COPY copies them.

mod hash;
mod par;
mod walk;

use std::fs;
use std::path::{Path, PathBuf};

use berth_image::digest::Digest;

use crate::error::{BuildError, Result};
use crate::ignore::{clean, Matcher};
use walk::{fill, glob, has_wildcards, visible, Walker};

/// What kind of file an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// Sockets, FIFOs, devices: Docker skips copying them; they are listed for completeness.
    Other,
}

/// One file system entry of the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Slash-separated path: relative to the context root from [`walk`], relative to the
    /// match for [`Matched::children`].
    pub rel: String,
    /// Where to read it.
    pub path: PathBuf,
    pub kind: EntryKind,
    /// Permission bits, `mode & 0o7777`.
    pub mode: u32,
    /// Length of a regular file, 0 otherwise.
    pub size: u64,
    /// Target of a symlink.
    pub link: Option<PathBuf>,
}

/// One path a COPY/ADD source selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The match relative to the context root (`.` for the root itself).
    pub rel: String,
    /// The match itself, symlinks followed.
    pub entry: Entry,
    /// For a directory: everything below it that `.dockerignore` keeps, in walk order.
    pub children: Vec<Entry>,
}

/// What one source string selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// An ADD URL: fetched by the executor, not read from the context.
    Url(String),
    Paths(Vec<Matched>),
}

/// A source string and what it selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub src: String,
    pub selection: Selection,
}

/// Every entry of the context that `.dockerignore` keeps, sorted as a walk visits them
/// (the root itself not included).
pub fn walk(root: &Path, matcher: &Matcher) -> Result<Vec<Entry>> {
    let mut w = Walker {
        matcher,
        out: Vec::new(),
    };
    w.dir(root, "", "")?;
    fill(&mut w.out)?;
    Ok(w.out)
}

/// Resolves COPY/ADD sources (`"."`, `"requirements.txt"`, `"*.py"`, `"src/"`, URLs) against
/// the context, with what each selects.
pub fn select(root: &Path, srcs: &[String], matcher: &Matcher) -> Result<Vec<Selected>> {
    let canon_root = root.canonicalize().map_err(|e| BuildError::io(root, e))?;
    srcs.iter()
        .map(|src| {
            let selection = if is_url(src) {
                Selection::Url(src.clone())
            } else {
                Selection::Paths(select_paths(&canon_root, src, matcher)?)
            };
            Ok(Selected {
                src: src.clone(),
                selection,
            })
        })
        .collect()
}

/// The content hash of COPY/ADD sources (see the module documentation for what it covers).
pub fn hash_sources(context_root: &Path, srcs: &[String], matcher: &Matcher) -> Result<Digest> {
    hash_selection(&select(context_root, srcs, matcher)?)
}

/// The content hash of sources already resolved with [`select`].
pub fn hash_selection(selection: &[Selected]) -> Result<Digest> {
    hash::digest(selection)
}

fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

fn select_paths(root: &Path, src: &str, matcher: &Matcher) -> Result<Vec<Matched>> {
    let cleaned = clean(src);
    let rel = match cleaned.trim_start_matches('/') {
        "." => "",
        r => r,
    };
    if rel == ".." || rel.starts_with("../") {
        return Err(BuildError::OutsideContext { src: src.into() });
    }
    let not_found = || BuildError::SourceNotFound { src: src.into() };
    let rels = if has_wildcards(rel) {
        let found = glob(root, rel, matcher)?;
        if found.is_empty() {
            return Err(BuildError::NoSourceFiles { src: src.into() });
        }
        found
    } else if rel.is_empty() {
        vec![String::new()]
    } else {
        if fs::symlink_metadata(root.join(rel)).is_err() || !visible(root, rel, matcher) {
            return Err(not_found());
        }
        vec![rel.to_owned()]
    };
    let mut out = Vec::with_capacity(rels.len());
    for rel in rels {
        let m = matched(root, src, &rel, matcher)?;
        let hidden = m.entry.kind == EntryKind::Dir
            && !rel.is_empty()
            && m.children.is_empty()
            && matcher.excluded(&rel, true);
        if hidden {
            return Err(not_found());
        }
        out.push(m);
    }
    Ok(out)
}

/// The entry at `rel` (symlinks followed, inside the context only) and what lies below it.
fn matched(root: &Path, src: &str, rel: &str, matcher: &Matcher) -> Result<Matched> {
    // Symlinks resolve inside the root, as BuildKit scopes them: `/bin/sh -> /bin/busybox`
    // in a stage's files is that stage's busybox, never the host's.
    let real = berth_image::rootpath::resolve_in_root(root, rel, true)
        .ok()
        .filter(|p| p.exists())
        .ok_or_else(|| BuildError::SourceNotFound { src: src.into() })?;
    let Ok(real_rel) = real.strip_prefix(root) else {
        return Err(BuildError::OutsideContext { src: src.into() });
    };
    let real_rel = real_rel.to_string_lossy().into_owned();
    // A link to an excluded file does not bring it in: docker never sends it to the builder.
    if real_rel != rel && !real_rel.is_empty() && !visible(root, &real_rel, matcher) {
        return Err(BuildError::SourceNotFound { src: src.into() });
    }
    let meta = fs::metadata(&real).map_err(|e| BuildError::io(&real, e))?;
    let shown = if rel.is_empty() { "." } else { rel };
    let entry = Entry::from_meta(shown.to_owned(), real.clone(), &meta)?;
    let mut w = Walker {
        matcher,
        out: Vec::new(),
    };
    if meta.is_dir() {
        w.dir(&real, &real_rel, "")?;
        fill(&mut w.out)?;
    }
    Ok(Matched {
        rel: shown.to_owned(),
        entry,
        children: w.out,
    })
}

#[cfg(test)]
mod tests;
