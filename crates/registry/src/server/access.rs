//! Who may do what, Docker Hub style: users from an htpasswd file (bcrypt), bearer tokens the
//! server signs itself (HMAC-SHA256 over a JSON claim set), namespace ownership (`alice` owns
//! `alice/*`) and public or private repositories.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::server::storage::Storage;

/// One grant in a token: `repository` `alice/app` `["pull", "push"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Grant {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub iss: String,
    /// The user; empty for an anonymous token.
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub access: Vec<Grant>,
}

#[derive(Debug, Default)]
struct Users {
    modified: Option<SystemTime>,
    hashes: HashMap<String, String>,
    /// (user, sha256 of password) already checked against the current file.
    verified: HashMap<(String, [u8; 32]), bool>,
}

/// Repositories listed in `<root>/access.json`, overriding each repository's own flag.
#[derive(Debug, Default, Clone, Deserialize)]
struct Overrides {
    #[serde(default)]
    private: Vec<String>,
    #[serde(default)]
    public: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Access {
    htpasswd: Option<PathBuf>,
    users: Mutex<Users>,
    key: [u8; 32],
    pub service: String,
    pub ttl: Duration,
    pub private_by_default: bool,
    overrides_path: PathBuf,
    /// `access.json` as last read, with its mtime: a page lists many repositories, and each
    /// asks whether it is private.
    overrides: Mutex<(Option<SystemTime>, std::sync::Arc<Overrides>)>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn matches_pattern(pattern: &str, repo: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(prefix) => repo.starts_with(prefix) && repo[prefix.len()..].starts_with('/'),
        None => pattern == repo,
    }
}

impl Access {
    /// Loads (or creates) the token signing key in `root/token.key` (tests that have no
    /// `Storage`; the server uses [`open`](Self::open)).
    #[cfg(test)]
    pub fn new(
        root: &std::path::Path,
        htpasswd: Option<PathBuf>,
        service: String,
        ttl: Duration,
        private_by_default: bool,
    ) -> std::io::Result<Access> {
        let key_path = root.join("token.key");
        let key = match fs::read(&key_path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut k = [0u8; 32];
                k.copy_from_slice(&bytes);
                k
            }
            _ => {
                let k: [u8; 32] = rand::random();
                let mut tmp = tempfile::NamedTempFile::new_in(root)?;
                std::io::Write::write_all(&mut tmp, &k)?;
                tmp.as_file().sync_all()?;
                tmp.persist(&key_path).map_err(|e| e.error)?;
                k
            }
        };
        Ok(Access {
            htpasswd,
            users: Mutex::new(Users::default()),
            key,
            service,
            ttl,
            private_by_default,
            overrides_path: root.join("access.json"),
            overrides: Mutex::default(),
        })
    }

    /// Like [`new`](Self::new), with the signing key kept in the store (`token.key`, the same
    /// file in a directory store): every instance over one S3 bucket signs and verifies with
    /// the same key, so a token issued by one is accepted by the others. `access.json` stays
    /// in the local root.
    pub fn open(
        store: &Storage,
        htpasswd: Option<PathBuf>,
        service: String,
        ttl: Duration,
        private_by_default: bool,
    ) -> std::io::Result<Access> {
        Ok(Access {
            htpasswd,
            users: Mutex::new(Users::default()),
            key: store.token_key()?,
            service,
            ttl,
            private_by_default,
            overrides_path: store.root().join("access.json"),
            overrides: Mutex::default(),
        })
    }

    /// True when users and tokens are enforced (an htpasswd file is configured).
    pub fn enabled(&self) -> bool {
        self.htpasswd.is_some()
    }

    /// Checks a password against the htpasswd file (re-read when it changes). Slow (bcrypt) the
    /// first time for each password: call it off the async threads.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        let Some(mut users) = self.users() else {
            return false;
        };
        let key = (user.to_owned(), Sha256::digest(password.as_bytes()).into());
        if let Some(ok) = users.verified.get(&key) {
            return *ok;
        }
        let ok = users
            .hashes
            .get(user)
            .is_some_and(|h| bcrypt::verify(password, h).unwrap_or(false));
        users.verified.insert(key, ok);
        ok
    }

    /// The users of the htpasswd file, re-read when it changed; `None` without one.
    fn users(&self) -> Option<std::sync::MutexGuard<'_, Users>> {
        let path = self.htpasswd.as_ref()?;
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let modified = fs::metadata(path).and_then(|m| m.modified()).ok();
        if users.modified != modified || modified.is_none() {
            let text = fs::read_to_string(path).unwrap_or_default();
            users.hashes = text
                .lines()
                .filter_map(|l| l.trim().split_once(':'))
                .map(|(u, h)| (u.to_owned(), h.to_owned()))
                .collect();
            users.verified.clear();
            users.modified = modified;
        }
        Some(users)
    }

    /// A short fingerprint of `user`'s password hash: it changes when the password does (a
    /// new bcrypt salt even for the same password), so a page session can carry it and end
    /// with the password. `None` when there is no such user (or no users at all).
    pub fn password_stamp(&self, user: &str) -> Option<String> {
        let users = self.users()?;
        let hash = users.hashes.get(user)?;
        Some(hex::encode(&Sha256::digest(hash.as_bytes())[..8]))
    }

    /// `access.json`, re-read when it changed (empty when there is none).
    fn overrides(&self) -> std::sync::Arc<Overrides> {
        let mut cached = self.overrides.lock().unwrap_or_else(|e| e.into_inner());
        let modified = fs::metadata(&self.overrides_path)
            .and_then(|m| m.modified())
            .ok();
        // (No file: nothing to read, as when the cache was made.)
        if cached.0 != modified {
            let parsed = fs::read(&self.overrides_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            *cached = (modified, std::sync::Arc::new(parsed));
        }
        cached.1.clone()
    }

    /// Signs a token for `sub` with `access`.
    pub fn issue(&self, sub: &str, access: Vec<Grant>) -> String {
        let now = now_secs();
        let claims = Claims {
            iss: self.service.clone(),
            sub: sub.to_owned(),
            iat: now,
            exp: now + self.ttl.as_secs(),
            access,
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        format!(
            "{payload}.{}",
            URL_SAFE_NO_PAD.encode(self.sign(payload.as_bytes()))
        )
    }

    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return Vec::new();
        };
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// A key for another purpose (the web pages' session cookies), derived from the token key:
    /// a value signed for one purpose never verifies for another (a bearer token is not a
    /// session cookie), and the token key itself never leaves this module.
    pub(crate) fn derive_key(&self, purpose: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(self.key)
            .chain_update(b"\0berth derived key\0")
            .chain_update(purpose.as_bytes())
            .finalize()
            .into()
    }

    /// The claims of a token this server signed and that has not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let (payload, sig) = token.split_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (claims.exp > now_secs()).then_some(claims)
    }

    /// True when `repo` is private: `access.json` first, then the repository's own flag, then
    /// the server's default.
    pub fn is_private(&self, store: &Storage, repo: &str) -> bool {
        let o = self.overrides();
        if o.private.iter().any(|p| matches_pattern(p, repo)) {
            return true;
        }
        if o.public.iter().any(|p| matches_pattern(p, repo)) {
            return false;
        }
        store
            .repo_meta(repo)
            .map(|m| m.private)
            .unwrap_or(self.private_by_default)
    }

    /// The policy: anyone pulls public repositories; only the owner (first path component)
    /// pulls private ones, pushes and deletes.
    pub fn allowed(&self, store: &Storage, user: &str, repo: &str, action: &str) -> bool {
        if !self.enabled() {
            return true;
        }
        let owner = repo.split('/').next().unwrap_or("");
        let is_owner = !user.is_empty() && user == owner;
        match action {
            "pull" => is_owner || !self.is_private(store, repo),
            "push" | "delete" | "*" => is_owner,
            _ => false,
        }
    }

    /// The part of `scope` (`repository:alice/app:pull,push`) that `user` may have.
    pub fn grant(&self, store: &Storage, user: &str, scope: &str) -> Option<Grant> {
        let mut parts = scope.rsplitn(2, ':');
        let actions = parts.next()?;
        let (kind, name) = parts.next()?.split_once(':')?;
        let granted: Vec<String> = match kind {
            "repository" => actions
                .split(',')
                .filter(|a| self.allowed(store, user, name, a))
                .map(str::to_owned)
                .collect(),
            "registry" if name == "catalog" => vec!["*".to_owned()],
            _ => Vec::new(),
        };
        Some(Grant {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions: granted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let access = Access::new(
            dir.path(),
            None,
            "svc".into(),
            Duration::from_secs(60),
            false,
        )
        .unwrap();
        let grant = Grant {
            kind: "repository".into(),
            name: "alice/app".into(),
            actions: vec!["pull".into()],
        };
        let token = access.issue("alice", vec![grant.clone()]);
        let claims = access.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.access), ("alice", vec![grant]));
        let (payload, sig) = token.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD
            .encode(br#"{"iss":"svc","sub":"bob","exp":99999999999,"iat":0,"access":[]}"#);
        assert!(access.verify(&format!("{forged}.{sig}")).is_none());
        assert!(access.verify(payload).is_none());
        let again = Access::new(
            dir.path(),
            None,
            "svc".into(),
            Duration::from_secs(60),
            false,
        )
        .unwrap();
        assert!(
            again.verify(&token).is_some(),
            "key persists across restarts"
        );
    }

    #[test]
    fn namespace_patterns() {
        assert!(matches_pattern("alice/*", "alice/app"));
        assert!(!matches_pattern("alice/*", "alicex/app"));
        assert!(matches_pattern("alice/app", "alice/app"));
    }
}
