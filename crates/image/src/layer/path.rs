//! Tar entry names → normalised paths inside the layer root (pure, no I/O).

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;

use super::Refusal;

/// Longest path we accept, as the kernel's `PATH_MAX`.
const PATH_MAX: usize = 4096;
/// Longest single component, as the kernel's `NAME_MAX`.
const NAME_MAX: usize = 255;

/// A path relative to the layer root: only normal components, possibly none (the root itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RelPath(Vec<Vec<u8>>);

impl RelPath {
    /// Normalises a tar name the way Docker does: a leading `/` is dropped, `.` and empty parts
    /// are skipped and `..` removes the previous part. A `..` that would climb above the root, a
    /// NUL byte or an over-long name is refused.
    pub(crate) fn parse(raw: &[u8]) -> Result<Self, Refusal> {
        if raw.contains(&0) {
            return Err(Refusal::Nul);
        }
        if raw.len() > PATH_MAX {
            return Err(Refusal::TooLong);
        }
        let mut parts: Vec<Vec<u8>> = Vec::new();
        for part in raw.split(|b| *b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    if parts.pop().is_none() {
                        return Err(Refusal::EscapesRoot);
                    }
                }
                _ if part.len() > NAME_MAX => return Err(Refusal::TooLong),
                _ => parts.push(part.to_vec()),
            }
        }
        Ok(Self(parts))
    }

    pub(crate) fn depth(&self) -> usize {
        self.0.len()
    }

    /// The components leading to the last one, and the last one; `None` for the root.
    pub(crate) fn split_last(&self) -> Option<(&[Vec<u8>], &OsStr)> {
        let (last, parents) = self.0.split_last()?;
        Some((parents, OsStr::from_bytes(last)))
    }

    pub(crate) fn components(&self) -> &[Vec<u8>] {
        &self.0
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined = self.0.join(&b'/');
        f.write_str(&String::from_utf8_lossy(&joined))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        RelPath::parse(raw.as_bytes()).unwrap().to_string()
    }

    #[test]
    fn names_normalise_inside_the_root() {
        for (raw, want) in [
            ("etc/passwd", "etc/passwd"),
            ("./etc//passwd", "etc/passwd"),
            ("/etc/passwd", "etc/passwd"),
            ("//etc/./x/../passwd/", "etc/passwd"),
            ("a/../b", "b"),
            ("./", ""),
            ("/", ""),
            ("a/..", ""),
            ("...", "..."),
            (".wh...", ".wh..."),
        ] {
            assert_eq!(ok(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn escapes_nul_and_long_names_are_refused() {
        for (raw, why) in [
            ("..", Refusal::EscapesRoot),
            ("../x", Refusal::EscapesRoot),
            ("/../x", Refusal::EscapesRoot),
            ("a/../../x", Refusal::EscapesRoot),
            ("./a/./../..", Refusal::EscapesRoot),
            ("a\0b", Refusal::Nul),
        ] {
            assert_eq!(RelPath::parse(raw.as_bytes()), Err(why), "{raw:?}");
        }
        let long_part = "x".repeat(256);
        assert_eq!(RelPath::parse(long_part.as_bytes()), Err(Refusal::TooLong));
        let long_path = "ab/".repeat(1400);
        assert_eq!(RelPath::parse(long_path.as_bytes()), Err(Refusal::TooLong));
        assert!(RelPath::parse("x".repeat(255).as_bytes()).is_ok());
    }

    #[test]
    fn split_last_gives_parents_and_name() {
        let p = RelPath::parse(b"a/b/c").unwrap();
        let (parents, name) = p.split_last().unwrap();
        assert_eq!(parents, &[b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(name, "c");
        assert!(RelPath::parse(b"/").unwrap().split_last().is_none());
    }
}
