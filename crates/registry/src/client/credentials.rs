//! Logins shared with docker: `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`), its
//! `auths` entries with a base64 `auth`, and the credential helpers named by `credsStore` and
//! `credHelpers` (`docker-credential-<name> get|store|erase`, server URL on stdin, JSON out).

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{Map, Value};

/// The key Docker Hub's login is stored under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A username and password, or an identity (refresh) token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
    /// An OAuth2 refresh token given at login, used instead of the password when present.
    pub identity_token: Option<String>,
}

impl Credential {
    pub fn new(username: &str, password: &str) -> Credential {
        Credential {
            username: username.to_owned(),
            password: password.to_owned(),
            identity_token: None,
        }
    }

    /// The value of a `Basic` Authorization header.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Why credentials could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: invalid docker config: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("credential helper docker-credential-{helper} {action} for {server}: {reason}")]
    Helper {
        helper: String,
        action: &'static str,
        server: String,
        reason: String,
    },
}

/// The key a registry's login is stored under: Docker Hub's URL, else `host[:port]`.
pub fn server_key(registry: &str) -> String {
    let host = host_of(registry);
    if matches!(
        host.as_str(),
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        DOCKER_HUB_KEY.to_owned()
    } else {
        host
    }
}

/// `https://host:5000/v1/` → `host:5000`.
fn host_of(s: &str) -> String {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    s.split('/').next().unwrap_or("").to_ascii_lowercase()
}

/// A config file's path and its content.
type Loaded = (PathBuf, Map<String, Value>);

/// Where logins are read from and written to.
#[derive(Clone, Debug)]
pub struct CredentialStore {
    dir: Option<PathBuf>,
    /// One login given by the caller (the Engine API's `X-Registry-Auth`) for the registry
    /// keyed here: it answers for that registry alone and nothing is read or written.
    given: Option<(String, Credential)>,
}

impl CredentialStore {
    /// `$DOCKER_CONFIG`, else `$HOME/.docker`; anonymous when neither is set.
    pub fn from_env() -> CredentialStore {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")));
        CredentialStore { dir, given: None }
    }

    /// The docker config directory `dir` (holding `config.json`).
    pub fn in_dir(dir: impl Into<PathBuf>) -> CredentialStore {
        CredentialStore {
            dir: Some(dir.into()),
            given: None,
        }
    }

    /// No logins: every request is anonymous and nothing is written.
    pub fn anonymous() -> CredentialStore {
        CredentialStore {
            dir: None,
            given: None,
        }
    }

    /// Just `cred`, for `registry` only: another registry (a mirror, a token realm's host)
    /// is asked anonymously, so a login is never sent where it was not meant to go. Nothing
    /// is read from or written to a docker config.
    pub fn only(registry: &str, cred: Credential) -> CredentialStore {
        CredentialStore {
            dir: None,
            given: Some((server_key(registry), cred)),
        }
    }

    pub fn config_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("config.json"))
    }

    fn load(&self) -> Result<Option<Loaded>, CredentialError> {
        let Some(path) = self.config_path() else {
            return Ok(None);
        };
        let map = match fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| CredentialError::Invalid {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Map::new(),
            Err(source) => return Err(CredentialError::Io { path, source }),
        };
        Ok(Some((path, map)))
    }

    /// The login for `registry` (a domain such as `docker.io` or `localhost:5000`).
    pub fn get(&self, registry: &str) -> Result<Option<Credential>, CredentialError> {
        if let Some((key, cred)) = &self.given {
            return Ok((server_key(registry) == *key).then(|| cred.clone()));
        }
        let Some((path, config)) = self.load()? else {
            return Ok(None);
        };
        let key = server_key(registry);
        if let Some(helper) = helper_for(&config, &key) {
            if let Some(cred) = helper_get(&helper, &key)? {
                return Ok(Some(cred));
            }
        }
        let Some(entry) = find_auth(&config, &key) else {
            return Ok(None);
        };
        decode_entry(&path, entry)
    }

    /// Records a login, through the credential helper when one is configured.
    pub fn store(&self, registry: &str, cred: &Credential) -> Result<(), CredentialError> {
        let Some((path, mut config)) = self.load()? else {
            return Ok(());
        };
        let key = server_key(registry);
        let mut entry = Map::new();
        if let Some(helper) = helper_for(&config, &key) {
            helper_store(&helper, &key, cred)?;
        } else if let Some(token) = &cred.identity_token {
            entry.insert("identitytoken".into(), token.clone().into());
        } else {
            let raw = format!("{}:{}", cred.username, cred.password);
            let auth = base64::engine::general_purpose::STANDARD.encode(raw);
            entry.insert("auth".into(), auth.into());
        }
        let auths = config
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(auths) = auths.as_object_mut() else {
            return Err(CredentialError::Invalid {
                path,
                reason: "\"auths\" is not an object".into(),
            });
        };
        auths.retain(|k, _| server_key(k) != key);
        auths.insert(key, Value::Object(entry));
        write_config(&path, &config)
    }

    /// Forgets the login for `registry`; true when there was one.
    pub fn erase(&self, registry: &str) -> Result<bool, CredentialError> {
        let Some((path, mut config)) = self.load()? else {
            return Ok(false);
        };
        let key = server_key(registry);
        let mut removed = false;
        if let Some(helper) = helper_for(&config, &key) {
            removed |= helper_erase(&helper, &key)?;
        }
        if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
            let before = auths.len();
            auths.retain(|k, _| server_key(k) != key);
            if auths.len() != before {
                removed = true;
                write_config(&path, &config)?;
            }
        }
        Ok(removed)
    }
}

fn find_auth<'a>(config: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let auths = config.get("auths")?.as_object()?;
    auths.get(key).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| server_key(k) == key)
            .map(|e| e.1)
    })
}

fn decode_entry(path: &Path, entry: &Value) -> Result<Option<Credential>, CredentialError> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or("");
    let invalid = |reason: String| CredentialError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let (mut username, mut password) = (field("username").to_owned(), field("password").to_owned());
    if !field("auth").is_empty() {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(field("auth").trim())
            .map_err(|e| invalid(format!("auth is not base64: {e}")))?;
        let raw = String::from_utf8(raw).map_err(|_| invalid("auth is not UTF-8".into()))?;
        let (u, p) = raw
            .split_once(':')
            .ok_or_else(|| invalid("auth is not user:password".into()))?;
        (username, password) = (u.to_owned(), p.to_owned());
    }
    let identity_token = Some(field("identitytoken").to_owned()).filter(|t| !t.is_empty());
    if username.is_empty() && identity_token.is_none() {
        return Ok(None);
    }
    Ok(Some(Credential {
        username,
        password,
        identity_token,
    }))
}

fn write_config(path: &Path, config: &Map<String, Value>) -> Result<(), CredentialError> {
    let io_err = |source| CredentialError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err)?;
    let mut bytes = serde_json::to_vec_pretty(config).map_err(|e| io_err(e.into()))?;
    bytes.push(b'\n');
    tmp.write_all(&bytes).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    Ok(())
}

fn helper_for(config: &Map<String, Value>, key: &str) -> Option<String> {
    let specific = config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|m| {
            m.get(key)
                .or_else(|| m.iter().find(|(k, _)| server_key(k) == key).map(|e| e.1))
        });
    specific
        .or_else(|| config.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .map(str::to_owned)
}

fn run_helper(
    helper: &str,
    action: &'static str,
    server: &str,
    input: &[u8],
) -> Result<Result<Vec<u8>, String>, CredentialError> {
    let fail = |reason: String| CredentialError::Helper {
        helper: helper.to_owned(),
        action,
        server: server.to_owned(),
        reason,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(Ok(out.stdout))
    } else {
        let text = String::from_utf8_lossy(if out.stdout.is_empty() {
            &out.stderr
        } else {
            &out.stdout
        });
        Ok(Err(text.trim().to_owned()))
    }
}

fn helper_get(helper: &str, server: &str) -> Result<Option<Credential>, CredentialError> {
    match run_helper(helper, "get", server, server.as_bytes())? {
        Ok(out) => {
            let v: Value = serde_json::from_slice(&out).map_err(|e| CredentialError::Helper {
                helper: helper.to_owned(),
                action: "get",
                server: server.to_owned(),
                reason: format!("invalid JSON: {e}"),
            })?;
            let field = |n: &str| v.get(n).and_then(Value::as_str).unwrap_or("").to_owned();
            let (user, secret) = (field("Username"), field("Secret"));
            if user == "<token>" {
                return Ok(Some(Credential {
                    username: String::new(),
                    password: String::new(),
                    identity_token: Some(secret),
                }));
            }
            Ok(Some(Credential::new(&user, &secret)).filter(|c| !c.username.is_empty()))
        }
        Err(msg) if msg.contains("credentials not found") => Ok(None),
        Err(reason) => Err(CredentialError::Helper {
            helper: helper.to_owned(),
            action: "get",
            server: server.to_owned(),
            reason,
        }),
    }
}

fn helper_store(helper: &str, server: &str, cred: &Credential) -> Result<(), CredentialError> {
    let (user, secret) = match &cred.identity_token {
        Some(t) => ("<token>", t.as_str()),
        None => (cred.username.as_str(), cred.password.as_str()),
    };
    let input = serde_json::json!({"ServerURL": server, "Username": user, "Secret": secret});
    match run_helper(helper, "store", server, input.to_string().as_bytes())? {
        Ok(_) => Ok(()),
        Err(reason) => Err(CredentialError::Helper {
            helper: helper.to_owned(),
            action: "store",
            server: server.to_owned(),
            reason,
        }),
    }
}

fn helper_erase(helper: &str, server: &str) -> Result<bool, CredentialError> {
    match run_helper(helper, "erase", server, server.as_bytes())? {
        Ok(_) => Ok(true),
        Err(msg) if msg.contains("credentials not found") => Ok(false),
        Err(reason) => Err(CredentialError::Helper {
            helper: helper.to_owned(),
            action: "erase",
            server: server.to_owned(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_docker() {
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(server_key("https://index.docker.io/v1/"), DOCKER_HUB_KEY);
        assert_eq!(server_key("localhost:5000"), "localhost:5000");
        assert_eq!(server_key("https://Quay.io"), "quay.io");
    }

    #[test]
    fn a_given_login_answers_for_its_registry_alone() {
        let store = CredentialStore::only("127.0.0.1:5000", Credential::new("alice", "pw"));
        assert_eq!(
            store.get("http://127.0.0.1:5000/v2/").unwrap(),
            Some(Credential::new("alice", "pw"))
        );
        assert_eq!(store.get("127.0.0.1:5001").unwrap(), None);
        assert_eq!(store.get("docker.io").unwrap(), None);
        let hub = CredentialStore::only("docker.io", Credential::new("bob", "pw"));
        assert!(hub.get("index.docker.io").unwrap().is_some());
        assert!(hub.config_path().is_none());
        // Nothing to write to: a store of one given login keeps no file.
        hub.store("docker.io", &Credential::new("eve", "x"))
            .unwrap();
        assert_eq!(
            hub.get("docker.io").unwrap(),
            Some(Credential::new("bob", "pw"))
        );
    }

    #[test]
    fn store_get_erase_round_trip_keeps_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"}},"psFormat":"x"}"#,
        )
        .unwrap();
        let store = CredentialStore::in_dir(dir.path());
        assert_eq!(
            store.get("docker.io").unwrap(),
            Some(Credential::new("u", "p"))
        );
        store
            .store("127.0.0.1:5000", &Credential::new("alice", "s:e"))
            .unwrap();
        let got = store.get("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            (got.username.as_str(), got.password.as_str()),
            ("alice", "s:e")
        );
        assert!(store.erase("127.0.0.1:5000").unwrap());
        assert!(!store.erase("127.0.0.1:5000").unwrap());
        assert_eq!(store.get("127.0.0.1:5000").unwrap(), None);
        let text = fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(text.contains("psFormat"), "{text}");
        assert!(CredentialStore::anonymous()
            .get("docker.io")
            .unwrap()
            .is_none());
    }
}
