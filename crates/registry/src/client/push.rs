//! `push`: every blob HEADed first, mounted from a sibling repository when the caller names one,
//! else uploaded (in parallel); the manifest last.

use std::collections::HashSet;

use berth_image::{Digest, Reference};

use crate::blob::BlobSource;
use crate::client::transport::Body;
use crate::client::upload::push_blob;
use crate::client::{run_parallel, Client, ClientError, Event};
use crate::manifest::{is_manifest_type, Descriptor};

/// An image to push: its manifest exactly as it will be stored, and the blobs it references.
#[derive(Debug, Clone, Copy)]
pub struct PushImage<'a> {
    pub manifest_bytes: &'a [u8],
    pub media_type: &'a str,
    pub config: &'a Descriptor,
    pub layers: &'a [Descriptor],
    /// Repositories on the same registry that may already hold the blobs (`library/python`);
    /// they are mounted from there instead of uploaded.
    pub mount_from: &'a [String],
}

impl Client {
    /// Pushes `image` to `reference` (its tag, else its digest) and returns the manifest digest.
    pub fn push(
        &self,
        reference: &Reference,
        image: &PushImage<'_>,
        source: &dyn BlobSource,
        progress: &(dyn Fn(Event) + Sync),
    ) -> Result<Digest, ClientError> {
        let repo = reference.repository_for_registry();
        let ep = self.inner.endpoint(reference.domain());
        let mounts: Vec<String> = image
            .mount_from
            .iter()
            .filter(|r| r.as_str() != repo)
            .cloned()
            .collect();
        let mut scopes = vec![format!("repository:{repo}:pull,push")];
        scopes.extend(mounts.iter().map(|m| format!("repository:{m}:pull")));
        let s = self.inner.session(&ep, repo, scopes)?;
        s.authenticate()?;
        let mut seen = HashSet::new();
        let blobs: Vec<&Descriptor> = image
            .layers
            .iter()
            .chain(std::iter::once(image.config))
            .filter(|d| seen.insert(d.digest.clone()))
            .collect();
        let cfg = &self.inner.config;
        for desc in &blobs {
            progress(Event::BlobQueued {
                digest: desc.digest.clone(),
                size: desc.size,
            });
        }
        run_parallel(&blobs, cfg.parallel, |desc, cancel| {
            push_blob(&s, desc, source, &mounts, cfg, progress, cancel)
        })?;
        self.put_manifest(
            &s,
            reference,
            image.manifest_bytes,
            image.media_type,
            progress,
        )
    }

    /// Pushes a manifest alone (an index whose manifests are already there, for instance).
    pub fn push_manifest(
        &self,
        reference: &Reference,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, ClientError> {
        let repo = reference.repository_for_registry();
        let ep = self.inner.endpoint(reference.domain());
        let s = self
            .inner
            .session(&ep, repo, vec![format!("repository:{repo}:pull,push")])?;
        self.put_manifest(&s, reference, bytes, media_type, &|_| {})
    }

    fn put_manifest(
        &self,
        s: &crate::client::transport::Session<'_>,
        reference: &Reference,
        bytes: &[u8],
        media_type: &str,
        progress: &(dyn Fn(Event) + Sync),
    ) -> Result<Digest, ClientError> {
        let what = format!("manifest {reference}");
        if !is_manifest_type(media_type) {
            return Err(ClientError::NotAnImage {
                reference: reference.to_string(),
                media_type: media_type.to_owned(),
            });
        }
        let digest = Digest::of(bytes);
        if let Some(want) = reference.digest() {
            if *want != digest {
                return Err(ClientError::DigestMismatch {
                    what,
                    expected: want.clone(),
                    actual: digest,
                });
            }
        }
        let target = reference
            .tag()
            .map(str::to_owned)
            .unwrap_or_else(|| digest.to_string());
        let url = s.url(&format!("manifests/{target}"))?;
        let headers = [("Content-Type", media_type.to_owned())];
        let resp = s.send("PUT", &url, &headers, Body::Bytes(bytes))?;
        if !matches!(resp.status(), 200 | 201 | 202 | 204) {
            return Err(s.status_error(resp, what));
        }
        if let Some(theirs) = resp.header("docker-content-digest") {
            if theirs.parse::<Digest>().ok().as_ref() != Some(&digest) {
                return Err(ClientError::Status {
                    what,
                    status: resp.status(),
                    code: None,
                    message: format!("registry computed digest {theirs}, expected {digest}"),
                });
            }
        }
        progress(Event::ManifestPushed {
            digest: digest.clone(),
            tag: reference.tag().map(str::to_owned),
        });
        Ok(digest)
    }
}
