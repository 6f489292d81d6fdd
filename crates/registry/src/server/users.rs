//! The registry's users: an htpasswd file of bcrypt hashes (`user:$2y$…` per line), edited by
//! `berth registry user add|passwd|rm|ls`. Every change replaces the file atomically (a
//! temporary file beside it, fsynced, renamed over it), so a server reading it meanwhile sees the
//! old file or the new one, never half of one — and it re-reads the file when it changes, so
//! who may log in changes without a restart.

use std::io::Write;
use std::path::{Path, PathBuf};

/// bcrypt's cost for new hashes (docker's `htpasswd -B` default is 5; 10 is the library's).
const COST: u32 = 10;

/// Why a user could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("invalid user name {0:?}: lowercase letters, digits and . _ - (a name is also the user's namespace)")]
    InvalidName(String),
    #[error("user {0} exists already (change the password with `registry user passwd`)")]
    Exists(String),
    #[error("no such user: {0}")]
    NotFound(String),
    #[error("an empty password is not allowed")]
    EmptyPassword,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("hash the password: {0}")]
    Hash(#[from] bcrypt::BcryptError),
}

/// The users of an htpasswd file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Htpasswd {
    path: PathBuf,
    entries: Vec<(String, String)>,
}

/// A user name Docker Hub would accept: it names the user's namespace (`alice/app`).
pub fn valid_user(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

impl Htpasswd {
    /// Reads `path`; a missing file is no users.
    pub fn load(path: &Path) -> Result<Self, UserError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(UserError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let entries = text
            .lines()
            .filter_map(|l| l.trim().split_once(':'))
            .map(|(u, h)| (u.to_string(), h.to_string()))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            entries,
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(u, _)| u.as_str())
    }

    fn position(&self, user: &str) -> Option<usize> {
        self.entries.iter().position(|(u, _)| u == user)
    }

    /// Adds `user` with `password`; an existing user is refused.
    pub fn add(&mut self, user: &str, password: &str) -> Result<(), UserError> {
        if !valid_user(user) {
            return Err(UserError::InvalidName(user.to_string()));
        }
        if self.position(user).is_some() {
            return Err(UserError::Exists(user.to_string()));
        }
        let hash = hash(password)?;
        self.entries.push((user.to_string(), hash));
        Ok(())
    }

    /// Gives `user` a new password.
    pub fn set_password(&mut self, user: &str, password: &str) -> Result<(), UserError> {
        let i = self
            .position(user)
            .ok_or_else(|| UserError::NotFound(user.to_string()))?;
        self.entries[i].1 = hash(password)?;
        Ok(())
    }

    /// Removes `user`.
    pub fn remove(&mut self, user: &str) -> Result<(), UserError> {
        let i = self
            .position(user)
            .ok_or_else(|| UserError::NotFound(user.to_string()))?;
        self.entries.remove(i);
        Ok(())
    }

    /// Replaces the file with these users, atomically (mode 0600).
    pub fn save(&self) -> Result<(), UserError> {
        let io = |source| UserError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io)?;
        for (u, h) in &self.entries {
            writeln!(tmp, "{u}:{h}").map_err(io)?;
        }
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

fn hash(password: &str) -> Result<String, UserError> {
    if password.is_empty() {
        return Err(UserError::EmptyPassword);
    }
    Ok(bcrypt::hash(password, COST)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_added_changed_removed_and_the_file_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("htpasswd");
        std::fs::write(
            &path,
            "carol:$2y$05$abcdefghijklmnopqrstuuFQ0ry.fcgMZFOvmfZm1Nt3Zs.yzn1uG\n",
        )
        .unwrap();
        let mut users = Htpasswd::load(&path).unwrap();
        users.add("alice", "s3cret").unwrap();
        assert!(matches!(users.add("alice", "x"), Err(UserError::Exists(_))));
        assert!(matches!(
            users.add("Bob", "x"),
            Err(UserError::InvalidName(_))
        ));
        assert!(matches!(
            users.add("bob", ""),
            Err(UserError::EmptyPassword)
        ));
        users.save().unwrap();
        let again = Htpasswd::load(&path).unwrap();
        assert_eq!(again.names().collect::<Vec<_>>(), ["carol", "alice"]);
        let hash = &again.entries[1].1;
        assert!(bcrypt::verify("s3cret", hash).unwrap());

        let mut users = again;
        users.set_password("alice", "n3w").unwrap();
        users.remove("carol").unwrap();
        assert!(matches!(users.remove("carol"), Err(UserError::NotFound(_))));
        users.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(bcrypt::verify("n3w", text.trim().split_once(':').unwrap().1).unwrap());
        // Nothing but the file itself in the directory: the temporary one was renamed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
