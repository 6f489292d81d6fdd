//! Paths inside a root filesystem, resolved the way a process chrooted into it would see
//! them: symlinks are followed, an absolute target restarts from the root and `..` never
//! climbs above it. For trees that nothing changes while we walk them (a container's root
//! before it starts, COPY sources in a build context), whose symlinks must never lead out of
//! their tree. Each step is a separate lookup by path: a running container could swap a
//! directory for a symlink between two of them, so its root is reached with
//! [`crate::rootfd::Root`] instead.

use std::path::Path;

/// Where `path` (as the container sees it) is inside `root`, following symlinks the way the
/// container would, never out of `root`: an absolute target restarts from `root`, and `..`
/// never climbs above it. The last component is followed only when `follow_last` (`cp` copies
/// a symlink itself, but copies into what a symlinked directory points at).
pub fn resolve_in_root(
    root: &Path,
    path: &str,
    follow_last: bool,
) -> std::io::Result<std::path::PathBuf> {
    walk_in_root(root, path, follow_last, false)
}

/// Creates `path` (as the container sees it) inside `root`, resolving symlinks as
/// [`resolve_in_root`] does.
pub fn mkdir_in_root(root: &Path, path: &str) -> std::io::Result<()> {
    walk_in_root(root, path, true, true).map(|_| ())
}

fn walk_in_root(
    root: &Path,
    path: &str,
    follow_last: bool,
    create: bool,
) -> std::io::Result<std::path::PathBuf> {
    use std::collections::VecDeque;
    use std::io::{Error, ErrorKind};
    let split = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_string)
            .collect()
    };
    let mut todo: VecDeque<String> = split(path).into();
    let mut current = std::path::PathBuf::new();
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            current.pop();
            continue;
        }
        let candidate = current.join(&c);
        let full = root.join(&candidate);
        let last = todo.is_empty();
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() && (!last || follow_last) => {
                hops += 1;
                if hops > 40 {
                    return Err(Error::other("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&full)?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    current = std::path::PathBuf::new();
                }
                for part in split(&target).into_iter().rev() {
                    todo.push_front(part);
                }
            }
            Ok(m) if create && !m.is_dir() => {
                return Err(Error::other(format!(
                    "/{} exists and is not a directory",
                    candidate.display()
                )))
            }
            Err(e) if create && e.kind() == ErrorKind::NotFound => {
                std::fs::create_dir(&full)?;
                current = candidate;
            }
            Err(e) if create => return Err(e),
            _ => current = candidate,
        }
    }
    Ok(root.join(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkdir_in_root_stays_inside_through_symlinks() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("root");
        std::fs::create_dir_all(root.join("var")).unwrap();
        std::os::unix::fs::symlink("/run", root.join("var/run")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("up")).unwrap();
        mkdir_in_root(&root, "/new/dir").unwrap();
        assert!(root.join("new/dir").is_dir());
        mkdir_in_root(&root, "/var/run/app").unwrap();
        assert!(
            root.join("run/app").is_dir(),
            "absolute link resolved inside the root"
        );
        mkdir_in_root(&root, "/escape/x").unwrap();
        assert!(root.join("etc/x").is_dir() && !std::path::Path::new("/etc/x").exists());
        mkdir_in_root(&root, "/up/y").unwrap();
        assert!(
            root.join("y").is_dir() && !base.path().join("y").exists(),
            ".. stops at the root"
        );
        std::fs::write(root.join("file"), "").unwrap();
        assert!(mkdir_in_root(&root, "/file/z").is_err());
    }
}
