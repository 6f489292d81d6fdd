//! `pull`, `push`, `login`, `logout`: the registry client over the store.
//!
//! Blobs stream straight into the content store's layout (`blobs/sha256/<hex>`, partial
//! downloads in `ingest/<hex>` so that a retry after a kill resumes them) and are verified
//! before they become visible; an image is recorded only once its config and every layer
//! check out. Registries listed in berth's config as insecure may be reached over plain
//! HTTP, and docker.io can go through mirrors (`registry-mirrors`), as docker's daemon.json.

use std::path::PathBuf;

use berth_image::digest::Digest;
use berth_image::reference::Reference;
use berth_registry::blob::BlobDir;
use berth_registry::client::{
    Client, ClientConfig, ClientError, Credential, CredentialStore, Event, PushImage,
};
use berth_registry::manifest::Descriptor;
use berth_registry::platform::Platform;
use berth_store::BlobInfo;
use serde::Deserialize;

use crate::cancel::{CancelSink, CancelSource};
use crate::image::LayerSource;
use crate::unpack_stream::UnpackingSink;
use crate::Cancel;
use crate::{Engine, EngineError};

pub mod progress;

/// Whom a pull or push asks the registry as.
#[derive(Debug, Clone, Default)]
pub enum RegistryAuth {
    /// The logins berth keeps: `berth login`'s, docker's config and credential helpers.
    #[default]
    Stored,
    /// One login the caller gives (the Engine API's `X-Registry-Auth`), for the image's
    /// registry only; the stored logins are not read.
    Given(Credential),
}

/// What a push left on the registry: the manifest's digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub digest: Digest,
    pub size: u64,
}

/// berth's own settings for registries (docker's daemon.json keys).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RegistrySettings {
    #[serde(rename = "insecure-registries")]
    pub insecure_registries: Vec<String>,
    #[serde(rename = "registry-mirrors")]
    pub registry_mirrors: Vec<String>,
}

impl RegistrySettings {
    /// Where the settings are read from: `BERTH_CONFIG`, else `/etc/berth/config.json`.
    pub fn path() -> PathBuf {
        std::env::var_os("BERTH_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/berth/config.json"))
    }

    /// Reads [`RegistrySettings::path`]; missing means defaults.
    pub fn load() -> Result<Self, EngineError> {
        let path = Self::path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| EngineError::bad_input(format!("berth config {}", path.display()), e)),
            Err(_) => Ok(Self::default()),
        }
    }
}

fn reg_err(what: &str, e: ClientError) -> EngineError {
    EngineError::registry(what, e)
}

/// A failure of ours around a registry conversation (not the registry's answer).
fn bad(what: &str, reason: impl std::fmt::Display) -> EngineError {
    EngineError::bad_input(what, reason)
}

/// One tag of [`Engine::pull_all_tags`], as its pull starts and as it ends.
#[derive(Debug)]
pub enum TagPull<'a> {
    Start {
        reference: &'a Reference,
    },
    Done {
        reference: &'a Reference,
        /// `NAME@sha256:…`.
        repo_digest: &'a str,
    },
}

/// A registry that could not be reached at all (no route, no DNS, refused): the usual
/// cause is a host without internet, and the usual cure a mirror, so the error names both.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {host}: {reason} ({hint})")]
pub struct RegistryUnreachable {
    /// `host[:port]` that was tried last.
    pub host: String,
    pub reason: String,
    hint: String,
}

/// A pull's failure: transport failures become [`RegistryUnreachable`] (of kind
/// `Unavailable`, so front ends can tell it from a 404 or a refused login).
/// Mirrors serve docker.io only, so only a docker.io pull is pointed at them.
fn pull_err(what: &str, reference: &Reference, e: ClientError) -> EngineError {
    let ClientError::Transport { url, reason } = &e else {
        return reg_err(what, e);
    };
    if reason == "too many redirects" {
        return reg_err(what, e);
    }
    let config = RegistrySettings::path();
    let mirrors = RegistrySettings::load()
        .map(|s| !s.registry_mirrors.is_empty())
        .unwrap_or(false);
    let hint = if reference.domain() != "docker.io" {
        "no network, or is the registry down?".to_string()
    } else if mirrors {
        format!(
            "no network? the \"registry-mirrors\" of {} were tried first",
            config.display()
        )
    } else {
        format!(
            "no network? set \"registry-mirrors\" in {}",
            config.display()
        )
    };
    let unreachable = RegistryUnreachable {
        host: host_of(url).to_string(),
        reason: reason.clone(),
        hint,
    };
    EngineError::Unreachable {
        what: what.to_string(),
        source: unreachable,
    }
}

/// The registry a search term names and the term to send it (docker's
/// `ParseSearchIndexInfo`): `127.0.0.1:5000/web` searches that registry for `web`; a first
/// part that is no host name (`library/python`) is part of the term, for Docker Hub.
fn search_index(term: &str) -> (&str, &str) {
    match term.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => (host, rest),
        _ => ("docker.io", term),
    }
}

/// `host[:port]` of a URL, or the URL itself when it has no scheme.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

impl Engine {
    fn registry_client(&self) -> Result<Client, EngineError> {
        self.registry_client_as("", &RegistryAuth::Stored)
    }

    /// A client that logs in to `registry` (a reference's domain) as `auth` says.
    fn registry_client_as(
        &self,
        registry: &str,
        auth: &RegistryAuth,
    ) -> Result<Client, EngineError> {
        let s = RegistrySettings::load()?;
        let auth = match auth {
            RegistryAuth::Stored => CredentialStore::from_env(),
            RegistryAuth::Given(cred) => CredentialStore::only(registry, cred.clone()),
        };
        Client::new(ClientConfig {
            insecure_registries: s.insecure_registries,
            mirrors: s.registry_mirrors,
            auth,
            ..Default::default()
        })
        .map_err(|e| reg_err("registry client", e))
    }

    /// `pull NAME[:TAG|@DIGEST]`: returns the image ID and the repo digest. Once `cancel` is
    /// set the transfers stop (what was downloaded is kept for the next pull) and the call
    /// fails with [`EngineError::Cancelled`].
    pub fn pull(
        &self,
        name: &str,
        platform: Option<&str>,
        progress: &(dyn Fn(Event) + Sync),
        cancel: &Cancel,
    ) -> Result<(Digest, String), EngineError> {
        self.pull_as(name, platform, &RegistryAuth::Stored, progress, cancel)
    }

    /// What the registry says `name` is, without pulling it (docker's `GET
    /// /distribution/{name}/json`): the manifest's descriptor and the platforms it serves.
    pub fn distribution(
        &self,
        name: &str,
        auth: &RegistryAuth,
    ) -> Result<berth_registry::client::DistributionInfo, EngineError> {
        let reference = Reference::parse(name)?.with_default_tag();
        let what = format!("inspect {reference} on its registry");
        let client = self.registry_client_as(reference.domain(), auth)?;
        client
            .distribution(&reference)
            .map_err(|e| pull_err(&what, &reference, e))
    }

    /// [`Engine::pull`] logged in as `auth` says.
    pub fn pull_as(
        &self,
        name: &str,
        platform: Option<&str>,
        auth: &RegistryAuth,
        progress: &(dyn Fn(Event) + Sync),
        cancel: &Cancel,
    ) -> Result<(Digest, String), EngineError> {
        let reference = Reference::parse(name)?.with_default_tag();
        let what = format!("pull {}", reference);
        let platform = match platform {
            Some(p) => Platform::parse(p).map_err(|e| bad(&what, format!("platform {e:?}")))?,
            None => Platform::host(),
        };
        let client = self.registry_client_as(reference.domain(), auth)?;
        let _lock = self.store.lock_shared()?;
        let dir = BlobDir::open(self.store.root()).map_err(|e| EngineError::io(&what, e))?;
        // Layers unpack while they download; they are published only once verified, below.
        let sink = UnpackingSink::new(dir, self.store.layers.clone());
        let pulled = client.pull(
            &reference,
            &platform,
            &CancelSink {
                inner: &sink,
                cancel,
            },
            progress,
        );
        let mut prepared = sink.finish();
        cancel.check(&what)?;
        let pulled = pulled.map_err(|e| pull_err(&what, &reference, e))?;
        let manifest = self.store.content.put(&pulled.manifest_bytes)?;
        if manifest.digest != pulled.manifest_digest {
            return Err(EngineError::Conflict(format!(
                "{what}: the manifest changed while it was stored"
            )));
        }
        if let Some(index) = &pulled.index {
            self.store.content.put(&index.bytes)?;
        }
        let layers: Vec<LayerSource> = pulled
            .layers
            .iter()
            .map(|d: &Descriptor| LayerSource {
                blob: BlobInfo {
                    digest: d.digest.clone(),
                    size: d.size,
                },
                media_type: Some(d.media_type.clone()),
            })
            .collect();
        let image = self.add_image_with_manifest(
            &pulled.config_bytes,
            &layers,
            Some((manifest, pulled.manifest_media_type.clone())),
            &what,
            progress,
            &mut prepared,
        )?;
        let now = crate::now_unix();
        let repo_digest = pulled.repo_digest.clone();
        self.store.meta.write(|tx| {
            if reference.tag().is_some() && reference.digest().is_none() {
                tx.set_tag(&reference.to_string(), &image.id, now)?;
            }
            tx.add_repo_digest(&repo_digest, &image.id)?;
            Ok::<_, EngineError>(())
        })?;
        self.sync_layout_index()?;
        self.emit_image_ref(crate::events::Action::Pull, &reference);
        Ok((image.id, repo_digest))
    }

    /// `push NAME[:TAG]`: returns the manifest digest the registry has.
    /// Once `cancel` is set the uploads stop and the call fails with
    /// [`EngineError::Cancelled`].
    pub fn push(
        &self,
        name: &str,
        progress: &(dyn Fn(Event) + Sync),
        cancel: &Cancel,
    ) -> Result<Digest, EngineError> {
        self.push_as(name, &RegistryAuth::Stored, progress, cancel)
            .map(|p| p.digest)
    }

    /// [`Engine::push`] logged in as `auth` says; also the manifest's size (docker's
    /// `latest: digest: sha256:… size: N`).
    pub fn push_as(
        &self,
        name: &str,
        auth: &RegistryAuth,
        progress: &(dyn Fn(Event) + Sync),
        cancel: &Cancel,
    ) -> Result<Pushed, EngineError> {
        let reference = Reference::parse(name)?.with_default_tag();
        let what = format!("push {}", reference.familiar());
        if reference.digest().is_some() {
            return Err(bad(&what, "push a tag, not a digest"));
        }
        // docker pushes only what the tag names.
        let id = self
            .store
            .meta
            .read(|tx| tx.tag(&reference.to_string()))?
            .ok_or_else(|| {
                EngineError::ImageNotFound(format!(
                    "{} (tag an image with `berth tag IMAGE {}` first)",
                    reference.familiar(),
                    reference.familiar()
                ))
            })?;
        let img = self
            .store
            .meta
            .read(|tx| tx.image(&id))?
            .ok_or_else(|| EngineError::ImageNotFound(name.to_string()))?;
        let manifest_bytes = self.store.content.read(&img.manifest)?;
        let manifest: berth_registry::manifest::ImageManifest =
            serde_json::from_slice(&manifest_bytes)
                .map_err(|e| bad(&what, format!("stored manifest: {e}")))?;
        let client = self.registry_client_as(reference.domain(), auth)?;
        let _lock = self.store.lock_shared()?;
        let source = BlobDir::open(self.store.root()).map_err(|e| EngineError::io(&what, e))?;
        // The config goes up like a layer but is not one: docker reports layers only.
        let config = manifest.config.digest.clone();
        let layers_only = |e: Event| {
            let about_config = match &e {
                Event::BlobQueued { digest, .. }
                | Event::BlobExists { digest, .. }
                | Event::BlobStarted { digest, .. }
                | Event::BlobProgress { digest, .. }
                | Event::BlobRetry { digest, .. }
                | Event::BlobMounted { digest, .. }
                | Event::BlobDone { digest, .. } => *digest == config,
                _ => false,
            };
            if !about_config {
                progress(e);
            }
        };
        let pushed = client.push(
            &reference,
            &PushImage {
                manifest_bytes: &manifest_bytes,
                media_type: &img.manifest_media_type,
                config: &manifest.config,
                layers: &manifest.layers,
                mount_from: &[],
            },
            &CancelSource {
                inner: &source,
                cancel,
            },
            &layers_only,
        );
        cancel.check(&what)?;
        let digest = pushed.map_err(|e| reg_err(&what, e))?;
        let repo_digest = format!("{}@{}", reference.name(), digest);
        self.store
            .meta
            .write(|tx| tx.add_repo_digest(&repo_digest, &id))?;
        self.emit_image_ref(crate::events::Action::Push, &reference);
        Ok(Pushed {
            digest,
            size: manifest_bytes.len() as u64,
        })
    }

    /// The tags the registry has for the repository `name` (`pull --all-tags`).
    pub fn remote_tags(&self, name: &str) -> Result<Vec<String>, EngineError> {
        let reference = repository_only(name, "pull")?;
        self.registry_client()?.tags(&reference).map_err(|e| {
            let what = format!("list the tags of {}", reference.familiar());
            pull_err(&what, &reference, e)
        })
    }

    /// `pull --all-tags REPO`: every tag the registry has, one after the other. `on_tag` hears
    /// of each tag as its pull starts and as it ends (with the repo digest); `progress` gets
    /// the layers' events of every pull. Stops at the first failure.
    pub fn pull_all_tags(
        &self,
        name: &str,
        platform: Option<&str>,
        on_tag: &mut dyn FnMut(TagPull<'_>) -> Result<(), EngineError>,
        progress: &(dyn Fn(Event) + Sync),
        cancel: &Cancel,
    ) -> Result<Vec<(Digest, String)>, EngineError> {
        let repo = repository_only(name, "pull")?;
        let tags = self.remote_tags(name)?;
        if tags.is_empty() {
            return Err(EngineError::ImageNotFound(format!(
                "{} (the repository has no tags)",
                repo.familiar()
            )));
        }
        let mut pulled = Vec::with_capacity(tags.len());
        for tag in &tags {
            let reference = repo.with_tag(tag)?;
            on_tag(TagPull::Start {
                reference: &reference,
            })?;
            let (id, repo_digest) =
                self.pull(&reference.to_string(), platform, progress, cancel)?;
            on_tag(TagPull::Done {
                reference: &reference,
                repo_digest: &repo_digest,
            })?;
            pulled.push((id, repo_digest));
        }
        Ok(pulled)
    }

    /// The tags of the repository `name` in this store, sorted (`push --all-tags`).
    pub fn local_tags(&self, name: &str) -> Result<Vec<String>, EngineError> {
        let reference = repository_only(name, "push")?;
        let repo = format!("{}:", reference.name());
        let mut tags: Vec<String> = self.store.meta.read(|tx| {
            Ok(tx
                .tags()?
                .into_iter()
                .filter_map(|t| t.name.strip_prefix(&repo).map(str::to_string))
                .filter(|t| !t.contains('@'))
                .collect())
        })?;
        tags.sort();
        if tags.is_empty() {
            return Err(EngineError::ImageNotFound(format!(
                "{} (no tag of this repository here)",
                reference.familiar()
            )));
        }
        Ok(tags)
    }

    /// `search [REGISTRY/]TERM`: Docker Hub's search, or another registry's (its search API,
    /// else its catalog). `limit` is docker's 1–100 (default 25).
    pub fn search(
        &self,
        term: &str,
        limit: Option<usize>,
        filter: &berth_registry::client::SearchFilter,
    ) -> Result<Vec<berth_registry::client::SearchResult>, EngineError> {
        let limit = limit.unwrap_or(25);
        if !(1..=100).contains(&limit) {
            return Err(EngineError::InvalidArgument(format!(
                "limit {limit} is outside the range of [1, 100]"
            )));
        }
        let (registry, what) = search_index(term);
        self.registry_client()?
            .search(registry, what, limit, filter)
            .map_err(|e| reg_err(&format!("search {term}"), e))
    }

    /// `login`: checks the credentials with the registry, then stores them where docker does.
    pub fn login(&self, registry: &str, user: &str, password: &str) -> Result<(), EngineError> {
        self.registry_client()?
            .login(registry, user, password)
            .map_err(|e| reg_err(&format!("login to {registry}"), e))
    }

    /// Checks credentials with `registry` without storing them (the Engine API's `/auth`).
    pub fn check_login(
        &self,
        registry: &str,
        user: &str,
        password: &str,
    ) -> Result<(), EngineError> {
        self.registry_client()?
            .check_login(registry, user, password)
            .map_err(|e| reg_err(&format!("login to {registry}"), e))
    }

    /// `logout`: returns whether there was something to remove.
    pub fn logout(&self, registry: &str) -> Result<bool, EngineError> {
        self.registry_client()?
            .logout(registry)
            .map_err(|e| reg_err(&format!("logout from {registry}"), e))
    }
}

/// `NAME` for `--all-tags`: a repository, without a tag or digest (docker's rule).
fn repository_only(name: &str, verb: &str) -> Result<Reference, EngineError> {
    let reference = Reference::parse(name)?;
    if reference.tag().is_some() || reference.digest().is_some() {
        return Err(EngineError::InvalidArgument(format!(
            "{verb} --all-tags {name}: tag can't be used with --all-tags/-a"
        )));
    }
    Ok(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(url: &str) -> ClientError {
        ClientError::Transport {
            url: url.into(),
            reason: "connection failed: Connection refused (os error 111)".into(),
        }
    }

    #[test]
    fn unreachable_registries_are_named_with_the_cure() {
        let r = Reference::parse("python:3.11-slim").map(Reference::with_default_tag);
        let r = r.unwrap_or_else(|e| panic!("{e}"));
        let e = pull_err(
            "pull docker.io/library/python:3.11-slim",
            &r,
            transport("https://registry-1.docker.io/v2/"),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("pull docker.io/library/python:3.11-slim: cannot reach registry-1.docker.io: connection failed"),
            "{text}"
        );
        assert!(text.contains("set \"registry-mirrors\" in "), "{text}");
        assert_eq!(e.kind(), crate::ErrorKind::Unavailable);
    }

    #[test]
    fn search_terms_name_their_registry() {
        assert_eq!(search_index("python"), ("docker.io", "python"));
        assert_eq!(
            search_index("library/python"),
            ("docker.io", "library/python")
        );
        assert_eq!(
            search_index("127.0.0.1:5000/web"),
            ("127.0.0.1:5000", "web")
        );
        assert_eq!(search_index("localhost/a/b"), ("localhost", "a/b"));
        assert_eq!(search_index("quay.io/x"), ("quay.io", "x"));
    }

    #[test]
    fn a_private_registry_is_not_sent_to_mirrors() {
        let r = Reference::parse("127.0.0.1:5000/app").unwrap_or_else(|e| panic!("{e}"));
        let text = pull_err("pull", &r, transport("http://127.0.0.1:5000/v2/")).to_string();
        assert!(text.contains("cannot reach 127.0.0.1:5000: "), "{text}");
        assert!(!text.contains("registry-mirrors"), "{text}");
    }

    #[test]
    fn other_failures_keep_their_own_words() {
        let r = Reference::parse("busybox").unwrap_or_else(|e| panic!("{e}"));
        let e = ClientError::ManifestUnknown {
            reference: "busybox:nope".into(),
        };
        let text = pull_err("pull docker.io/library/busybox:nope", &r, e).to_string();
        assert_eq!(
            text,
            "pull docker.io/library/busybox:nope: busybox:nope: manifest unknown"
        );
    }
}
