//! Walking a context directory in a deterministic order, honouring `.dockerignore`, and
//! expanding COPY/ADD source globs.

use std::fs::{self, Metadata};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{Entry, EntryKind};
use crate::error::{BuildError, Result};
use crate::ignore::pattern::Pattern;
use crate::ignore::Matcher;

impl Entry {
    pub(super) fn from_meta(rel: String, path: PathBuf, meta: &Metadata) -> Result<Entry> {
        let ft = meta.file_type();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        };
        let link = match kind {
            EntryKind::Symlink => Some(fs::read_link(&path).map_err(|e| BuildError::io(&path, e))?),
            _ => None,
        };
        Ok(Entry {
            rel,
            path,
            kind,
            mode: meta.permissions().mode() & 0o7777,
            size: if kind == EntryKind::File {
                meta.len()
            } else {
                0
            },
            link,
        })
    }
}

/// Reads type, mode, size and link target of every entry that is not a directory, using a
/// few threads: on a large context, these `lstat`s are most of the walk.
pub(super) fn fill(entries: &mut [Entry]) -> Result<()> {
    super::par::for_each(entries, |e, _| {
        if e.kind == EntryKind::Dir {
            return Ok(());
        }
        let meta = fs::symlink_metadata(&e.path).map_err(|err| BuildError::io(&e.path, err))?;
        let rel = std::mem::take(&mut e.rel);
        let path = std::mem::take(&mut e.path);
        *e = Entry::from_meta(rel, path, &meta)?;
        Ok(())
    })
}

/// Collects the entries below a directory, sorted by name at every level. Entries other than
/// directories come out with placeholder metadata: call [`fill`] afterwards.
pub(super) struct Walker<'a> {
    pub matcher: &'a Matcher,
    pub out: Vec<Entry>,
}

impl Walker<'_> {
    /// Walks `abs`, whose path relative to the context root is `real_rel` (what patterns are
    /// matched against) and relative to the copied source is `sub_rel` (what is recorded).
    /// An excluded directory is entered only if an exception could match inside it, and then
    /// recorded only if something inside it was kept.
    pub(super) fn dir(&mut self, abs: &Path, real_rel: &str, sub_rel: &str) -> Result<()> {
        let mut children: Vec<(std::ffi::OsString, fs::DirEntry)> = fs::read_dir(abs)
            .map_err(|e| BuildError::io(abs, e))?
            .map(|c| c.map(|c| (c.file_name(), c)))
            .collect::<std::io::Result<_>>()
            .map_err(|e| BuildError::io(abs, e))?;
        children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (name, child) in children {
            let name = name.to_string_lossy();
            let join = |base: &str| {
                if base.is_empty() {
                    name.to_string()
                } else {
                    format!("{base}/{name}")
                }
            };
            let child_real = join(real_rel);
            let is_dir = child
                .file_type()
                .map_err(|e| BuildError::io(child.path(), e))?
                .is_dir();
            let excluded = self.matcher.excluded(&child_real, is_dir);
            if excluded && !(is_dir && self.matcher.must_descend(&child_real)) {
                continue;
            }
            let child_sub = join(sub_rel);
            if !is_dir {
                // Metadata of files is read later, in parallel (see `fill`).
                self.out.push(Entry {
                    rel: child_sub,
                    path: child.path(),
                    kind: EntryKind::Other,
                    mode: 0,
                    size: 0,
                    link: None,
                });
                continue;
            }
            let meta = child
                .metadata()
                .map_err(|e| BuildError::io(child.path(), e))?;
            let entry = Entry::from_meta(child_sub.clone(), child.path(), &meta)?;
            let at = self.out.len();
            if !excluded {
                self.out.push(entry.clone());
            }
            self.dir(&entry.path, &child_real, &child_sub)?;
            if excluded && self.out.len() > at {
                self.out.insert(at, entry);
            }
        }
        Ok(())
    }
}

/// Whether a source uses wildcards (Go `filepath.Match` syntax).
pub(super) fn has_wildcards(src: &str) -> bool {
    src.contains(['*', '?', '['])
}

/// Expands a cleaned, relative source glob against the context, component by component:
/// returns the matching paths relative to the root, sorted, without excluded ones.
pub(super) fn glob(root: &Path, rel: &str, matcher: &Matcher) -> Result<Vec<String>> {
    let mut found: Vec<String> = vec![String::new()];
    for component in rel.split('/') {
        let mut next = Vec::new();
        for base in &found {
            let dir = root.join(base);
            let join = |name: &str| {
                if base.is_empty() {
                    name.to_owned()
                } else {
                    format!("{base}/{name}")
                }
            };
            if !has_wildcards(component) {
                if fs::symlink_metadata(dir.join(component)).is_ok() {
                    next.push(join(component));
                }
                continue;
            }
            let pattern =
                Pattern::new(component, false).map_err(|message| BuildError::InvalidSource {
                    src: rel.to_owned(),
                    message,
                })?;
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| pattern.matches(n))
                .collect();
            names.sort();
            next.extend(names.iter().map(|n| join(n)));
        }
        found = next;
    }
    found.retain(|rel| visible(root, rel, matcher));
    Ok(found)
}

/// Whether a path of the context survives `.dockerignore` (for a directory: itself or
/// something inside it).
pub(super) fn visible(root: &Path, rel: &str, matcher: &Matcher) -> bool {
    let is_dir = fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.is_dir());
    !matcher.excluded(rel, is_dir) || (is_dir && matcher.must_descend(rel))
}
