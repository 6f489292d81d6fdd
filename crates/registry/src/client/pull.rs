//! `pull`: resolve the reference (tag or digest) to a manifest, choose the platform from an index,
//! fetch the config, then stream the missing layers into the sink in parallel.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;

use berth_image::{Digest, Reference};

use crate::blob::BlobSink;
use crate::client::download::{download, fetch_small};
use crate::client::transport::{read_limited, Body, Endpoint, Session};
use crate::client::{run_parallel, Client, ClientError, Event};
use crate::manifest::{
    is_index, parse_manifest, Descriptor, Manifest, ACCEPT_MANIFESTS, MAX_MANIFEST_SIZE,
};
use crate::platform::{select, Platform};

/// The largest image config accepted.
const MAX_CONFIG_SIZE: u64 = 32 << 20;

/// A manifest exactly as the registry sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    /// The digest of `bytes`.
    pub digest: Digest,
}

/// A manifest's descriptor and the platforms it serves (see [`Client::distribution`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionInfo {
    pub descriptor: Descriptor,
    pub platforms: Vec<Platform>,
}

/// What a pull brought: the platform's manifest and config (the caller stores them; the config
/// is also written to the sink) and the layers, all now in the sink.
#[derive(Debug, Clone)]
pub struct PulledImage {
    pub manifest_bytes: Vec<u8>,
    pub manifest_media_type: String,
    pub manifest_digest: Digest,
    /// The index or manifest list the manifest was chosen from, if the reference named one.
    pub index: Option<FetchedManifest>,
    pub config: Descriptor,
    pub config_bytes: Vec<u8>,
    pub layers: Vec<Descriptor>,
    /// `docker.io/library/python@sha256:…`: the digest the reference resolved to (the index's
    /// for a multi-platform image), as Docker records it in `RepoDigests`.
    pub repo_digest: String,
}

impl Client {
    /// Pulls `reference` for `platform` into `sink`. For `docker.io`, configured mirrors are
    /// tried first and Docker Hub itself last.
    pub fn pull(
        &self,
        reference: &Reference,
        platform: &Platform,
        sink: &dyn BlobSink,
        progress: &(dyn Fn(Event) + Sync),
    ) -> Result<PulledImage, ClientError> {
        for ep in self.mirror_endpoints(reference)? {
            match self.pull_from(&ep, reference, platform, sink, progress) {
                Ok(image) => return Ok(image),
                Err(e) if e.is_endpoint_failure() => {
                    tracing::warn!(mirror = %ep.registry, error = %e, "mirror failed, trying the next source");
                    progress(Event::MirrorFailed {
                        mirror: ep.registry.clone(),
                        error: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        let ep = self.inner.endpoint(reference.domain());
        self.pull_from(&ep, reference, platform, sink, progress)
    }

    /// The manifest `reference` names, exactly as sent (an index stays an index).
    pub fn fetch_manifest(&self, reference: &Reference) -> Result<FetchedManifest, ClientError> {
        let ep = self.inner.endpoint(reference.domain());
        let s = self.pull_session(&ep, reference)?;
        Ok(get_manifest(&s, reference)?.0)
    }

    /// What docker's `GET /distribution/{name}/json` answers: the descriptor of the manifest
    /// `reference` names (an index stays an index) and the platforms it serves — an index's
    /// entries, or for a single image the platform its config declares.
    pub fn distribution(&self, reference: &Reference) -> Result<DistributionInfo, ClientError> {
        let ep = self.inner.endpoint(reference.domain());
        let s = self.pull_session(&ep, reference)?;
        let (top, parsed) = get_manifest(&s, reference)?;
        let platforms = match parsed {
            Manifest::Index(idx) => idx
                .manifests
                .iter()
                .filter_map(|d| d.platform.clone())
                .collect(),
            Manifest::Image(m) => {
                let config = fetch_small(&s, &m.config, MAX_CONFIG_SIZE)?;
                // An artifact's config is no image config: it has no platform to tell.
                serde_json::from_slice::<Platform>(&config)
                    .ok()
                    .filter(|p| !p.os.is_empty() && !p.architecture.is_empty())
                    .into_iter()
                    .collect()
            }
        };
        Ok(DistributionInfo {
            descriptor: Descriptor::of(&top.media_type, &top.bytes),
            platforms,
        })
    }

    /// What `reference` points at, by a HEAD request (Docker Hub does not count these against
    /// the pull rate limit): media type, digest and size. Lets a caller skip a pull it has.
    pub fn head_manifest(&self, reference: &Reference) -> Result<Descriptor, ClientError> {
        let ep = self.inner.endpoint(reference.domain());
        let s = self.pull_session(&ep, reference)?;
        let target = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => berth_image::reference::DEFAULT_TAG.to_owned(),
        };
        let what = format!("manifest {reference}");
        let url = s.url(&format!("manifests/{target}"))?;
        let accept = [("Accept", ACCEPT_MANIFESTS.to_owned())];
        let resp = s.send("HEAD", &url, &accept, Body::Empty)?;
        match resp.status() {
            200 => {}
            404 => {
                return Err(ClientError::ManifestUnknown {
                    reference: reference.to_string(),
                })
            }
            _ => return Err(s.status_error(resp, what)),
        }
        let digest = match (resp.header("docker-content-digest"), reference.digest()) {
            (Some(d), _) => d.parse::<Digest>().map_err(|e| ClientError::Status {
                what: what.clone(),
                status: 200,
                code: None,
                message: format!("bad Docker-Content-Digest: {e}"),
            })?,
            (None, Some(d)) => d.clone(),
            // No digest header: only a GET tells.
            (None, None) => {
                let m = self.fetch_manifest(reference)?;
                return Ok(Descriptor::of(&m.media_type, &m.bytes));
            }
        };
        let size = resp
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let media_type =
            crate::manifest::bare_media_type(resp.header("content-type").unwrap_or(""));
        Ok(Descriptor::new(media_type, digest, size))
    }

    /// The tags of `reference`'s repository (`GET /v2/<name>/tags/list`), every page of them
    /// (the registry's `Link: <…>; rel="next"`), in the registry's order.
    pub fn tags(&self, reference: &Reference) -> Result<Vec<String>, ClientError> {
        #[derive(serde::Deserialize)]
        struct List {
            tags: Option<Vec<String>>,
        }
        let ep = self.inner.endpoint(reference.domain());
        let s = self.pull_session(&ep, reference)?;
        let what = format!("tags of {}", reference.name());
        let mut url = s.url("tags/list")?;
        let mut tags = Vec::new();
        // A registry that links a page to itself must not keep us here.
        for _ in 0..10_000 {
            let resp = s.send("GET", &url, &[], Body::Empty)?;
            match resp.status() {
                200 => {}
                404 => {
                    return Err(ClientError::ManifestUnknown {
                        reference: reference.name(),
                    })
                }
                _ => return Err(s.status_error(resp, what)),
            }
            let next = resp.header("link").and_then(next_link).map(str::to_owned);
            let body = read_limited(resp, 16 << 20).map_err(|e| ClientError::Io {
                what: what.clone(),
                source: e,
            })?;
            let list: List = serde_json::from_slice(&body).map_err(|e| ClientError::Status {
                what: what.clone(),
                status: 200,
                code: None,
                message: format!("the tag list is not JSON: {e}"),
            })?;
            tags.extend(list.tags.unwrap_or_default());
            match next {
                Some(n) => url = s.join(&url, &n)?,
                None => return Ok(tags),
            }
        }
        Ok(tags)
    }

    fn mirror_endpoints(&self, reference: &Reference) -> Result<Vec<Endpoint>, ClientError> {
        if reference.domain() != berth_image::reference::DEFAULT_DOMAIN {
            return Ok(Vec::new());
        }
        let mirrors = &self.inner.config.mirrors;
        mirrors
            .iter()
            .map(|m| self.inner.mirror_endpoint(m))
            .collect()
    }

    fn pull_session(
        &self,
        ep: &Endpoint,
        reference: &Reference,
    ) -> Result<Session<'_>, ClientError> {
        let repo = reference.repository_for_registry();
        self.inner
            .session(ep, repo, vec![format!("repository:{repo}:pull")])
    }

    fn pull_from(
        &self,
        ep: &Endpoint,
        reference: &Reference,
        platform: &Platform,
        sink: &dyn BlobSink,
        progress: &(dyn Fn(Event) + Sync),
    ) -> Result<PulledImage, ClientError> {
        let s = self.pull_session(ep, reference)?;
        let (top, parsed) = get_manifest(&s, reference)?;
        progress(Event::Resolved {
            reference: reference.to_string(),
            digest: top.digest.clone(),
        });
        let repo_digest = format!("{}@{}", reference.name(), top.digest);
        let (index, fetched, manifest) = match parsed {
            Manifest::Index(idx) => {
                let chosen = select(&idx.manifests, platform).ok_or_else(|| {
                    ClientError::NoMatchingPlatform {
                        reference: reference.to_string(),
                        platform: platform.to_string(),
                        available: idx
                            .manifests
                            .iter()
                            .filter_map(|d| d.platform.as_ref())
                            .filter(|p| !p.is_unknown())
                            .map(ToString::to_string)
                            .collect(),
                    }
                })?;
                let child = reference_by_digest(reference, &chosen.digest);
                let (fetched, parsed) = get_manifest(&s, &child)?;
                if fetched.bytes.len() as u64 != chosen.size {
                    return Err(ClientError::SizeMismatch {
                        what: format!("manifest {child}"),
                        expected: chosen.size,
                        actual: fetched.bytes.len() as u64,
                    });
                }
                (Some(top), fetched, parsed)
            }
            image => (None, top, image),
        };
        let Manifest::Image(manifest) = manifest else {
            return Err(ClientError::NotAnImage {
                reference: reference.to_string(),
                media_type: fetched.media_type,
            });
        };
        let config_bytes = fetch_small(&s, &manifest.config, MAX_CONFIG_SIZE)?;
        if !sink.has_blob(&manifest.config.digest) {
            let mut pending = sink.begin_blob(&manifest.config)?;
            pending.reset()?;
            std::io::Write::write_all(&mut pending, &config_bytes)
                .map_err(|e| crate::blob::BlobError::io(&manifest.config.digest, e))?;
            pending.commit()?;
        }
        self.fetch_layers(&s, &manifest.layers, sink, progress)?;
        Ok(PulledImage {
            manifest_bytes: fetched.bytes,
            manifest_media_type: fetched.media_type,
            manifest_digest: fetched.digest,
            index,
            config: manifest.config,
            config_bytes,
            layers: manifest.layers,
            repo_digest,
        })
    }

    fn fetch_layers(
        &self,
        s: &Session<'_>,
        layers: &[Descriptor],
        sink: &dyn BlobSink,
        progress: &(dyn Fn(Event) + Sync),
    ) -> Result<(), ClientError> {
        let mut seen = HashSet::new();
        let mut missing = Vec::new();
        for layer in layers {
            if !seen.insert(layer.digest.clone()) {
                continue;
            }
            if sink.has_blob(&layer.digest) {
                progress(Event::BlobExists {
                    digest: layer.digest.clone(),
                    size: layer.size,
                });
            } else {
                missing.push(layer);
            }
        }
        for layer in &missing {
            progress(Event::BlobQueued {
                digest: layer.digest.clone(),
                size: layer.size,
            });
        }
        let retries = self.inner.config.retries;
        run_parallel(
            &missing,
            self.inner.config.parallel,
            |layer, cancel: &AtomicBool| download(s, layer, sink, retries, progress, cancel),
        )
    }
}

/// The target of a `Link` header's `rel="next"` entry (`</v2/x/tags/list?n=2&last=b>;
/// rel="next"`).
pub(crate) fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().trim_start_matches("rel=").trim_matches('"') == "next");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then_some(target)
    })
}

fn reference_by_digest(reference: &Reference, digest: &Digest) -> Reference {
    let text = format!("{}@{digest}", reference.name());
    Reference::parse(&text).unwrap_or_else(|_| reference.clone())
}

/// GETs the manifest `reference` names (by digest when it has one, else by tag), verifies its
/// digest against the reference's and parses it.
fn get_manifest(
    s: &Session<'_>,
    reference: &Reference,
) -> Result<(FetchedManifest, Manifest), ClientError> {
    let target = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_owned(),
        (None, None) => berth_image::reference::DEFAULT_TAG.to_owned(),
    };
    let what = format!("manifest {reference}");
    let url = s.url(&format!("manifests/{target}"))?;
    let resp = s.send(
        "GET",
        &url,
        &[("Accept", ACCEPT_MANIFESTS.to_owned())],
        Body::Empty,
    )?;
    match resp.status() {
        200 => {}
        404 => {
            return Err(ClientError::ManifestUnknown {
                reference: reference.to_string(),
            })
        }
        _ => return Err(s.status_error(resp, what)),
    }
    let content_type = resp.header("content-type").unwrap_or("").to_owned();
    let declared = resp
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_MANIFEST_SIZE) {
        return Err(ClientError::TooLarge {
            what,
            limit: MAX_MANIFEST_SIZE,
        });
    }
    let bytes = read_limited(resp, MAX_MANIFEST_SIZE).map_err(|e| ClientError::Io {
        what: what.clone(),
        source: e,
    })?;
    let digest = Digest::of(&bytes);
    if let Some(want) = reference.digest() {
        if *want != digest {
            return Err(ClientError::DigestMismatch {
                what,
                expected: want.clone(),
                actual: digest,
            });
        }
    }
    let (manifest, media_type) =
        parse_manifest(&bytes, Some(&content_type)).map_err(|source| ClientError::Manifest {
            reference: reference.to_string(),
            source,
        })?;
    if is_index(&media_type) && !matches!(manifest, Manifest::Index(_)) {
        return Err(ClientError::NotAnImage {
            reference: reference.to_string(),
            media_type,
        });
    }
    Ok((
        FetchedManifest {
            bytes,
            media_type,
            digest,
        },
        manifest,
    ))
}

#[cfg(test)]
mod link_tests {
    use super::next_link;

    #[test]
    fn next_links_are_found_among_others() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link(r#"<https://r/x?p=1>; rel="prev", <https://r/x?p=3>; rel="next""#),
            Some("https://r/x?p=3")
        );
        assert_eq!(next_link(r#"</v2/a/tags/list>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
