//! What the pages show, read from the store (blocking: call inside `spawn_blocking`).
//!
//! Only the store's public reads are used (whatever its backend, directory or S3).

use std::collections::BTreeSet;
use std::io;
use std::time::SystemTime;

use berth_image::Digest;
use serde::Deserialize;

use crate::manifest::{parse_manifest, Descriptor, Manifest};
use crate::server::access::Access;
use crate::server::storage::Storage;

/// Configs are small; a bigger "config" is not read for the pages.
const MAX_CONFIG_SIZE: u64 = 1 << 20;

/// One line of a repository list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoRow {
    pub name: String,
    /// Only its owner (or whoever `access.json` names) pulls it.
    pub private: bool,
    pub tags: usize,
    /// When a tag was last pushed.
    pub last_push: Option<SystemTime>,
    /// The size of the most recently pushed tag (all its platforms).
    pub size: Option<u64>,
}

/// Repositories a list page shows at most.
pub(crate) const PAGE_SIZE: usize = 50;

/// One page of a repository list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listing {
    pub rows: Vec<RepoRow>,
    /// From 0.
    pub page: usize,
    /// Repositories on all pages.
    pub total: usize,
}

/// One image of a tag: the tag's manifest, or one platform of its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRow {
    /// `linux/amd64`, from the index entry or the image config.
    pub platform: Option<String>,
    /// Config and layers, as the manifest gives them (what a pull transfers).
    pub size: u64,
    /// The config's `created`, as written.
    pub created: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagRow {
    pub tag: String,
    pub digest: Digest,
    pub pushed: Option<SystemTime>,
    pub images: Vec<ImageRow>,
}

impl TagRow {
    pub fn size(&self) -> u64 {
        self.images.iter().map(|i| i.size).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoDetail {
    pub row: RepoRow,
    pub tags: Vec<TagRow>,
}

/// Who looks: decides what is listed and what may be changed, with the protocol's policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Viewer<'a> {
    pub access: &'a Access,
    pub store: &'a Storage,
    /// Empty when anonymous.
    pub user: &'a str,
}

impl Viewer<'_> {
    /// May this visitor see the repository: exactly when they may pull it.
    pub fn sees(&self, repo: &str) -> bool {
        self.access.allowed(self.store, self.user, repo, "pull")
    }

    /// Private: an anonymous client may not pull it (an open registry has nothing private).
    pub fn private(&self, repo: &str) -> bool {
        !self.access.allowed(self.store, "", repo, "pull")
    }

    /// May this visitor delete tags of the repository: as the protocol's DELETE decides. Only
    /// a signed-in user: an open registry has no users, and its pages change nothing.
    pub fn may_delete(&self, repo: &str) -> bool {
        self.may_manage() && self.access.allowed(self.store, self.user, repo, "delete")
    }

    /// May this visitor make the repository private or public: whoever may push to it.
    pub fn may_set_visibility(&self, repo: &str) -> bool {
        self.may_manage() && self.access.allowed(self.store, self.user, repo, "push")
    }

    fn may_manage(&self) -> bool {
        self.access.enabled() && !self.user.is_empty()
    }

    /// Page `page` (from 0) of the repositories this visitor sees whose name passes `filter`,
    /// sorted by name. Only the page's repositories are read beyond their names.
    pub fn list(&self, filter: impl Fn(&str) -> bool, page: usize) -> io::Result<Listing> {
        let names: Vec<String> = self
            .store
            .repositories()?
            .into_iter()
            .filter(|n| filter(n) && self.sees(n))
            .collect();
        let rows = names
            .iter()
            .skip(page.saturating_mul(PAGE_SIZE))
            .take(PAGE_SIZE)
            .map(|n| self.row(n))
            .collect::<io::Result<_>>()?;
        Ok(Listing {
            rows,
            page,
            total: names.len(),
        })
    }

    fn row(&self, name: &str) -> io::Result<RepoRow> {
        let tags = self.store.tags(name)?.unwrap_or_default();
        let latest = tags
            .iter()
            .filter_map(|t| Some((self.store.tag_pushed_at(name, t)?, t)))
            .max();
        let size = latest.and_then(|(_, t)| {
            let d = self.store.resolve_tag(name, t)?;
            let images = images(self.store, name, &d, false).ok()?;
            Some(images.iter().map(|i| i.size).sum())
        });
        Ok(RepoRow {
            name: name.to_owned(),
            private: self.private(name),
            tags: tags.len(),
            last_push: latest.map(|(when, _)| when),
            size,
        })
    }

    /// The repository with its tags (newest push first), or `None` when this visitor may not
    /// see it or it does not exist — the same answer, so that a page does not tell them apart.
    pub fn detail(&self, name: &str) -> io::Result<Option<RepoDetail>> {
        if !self.sees(name) {
            return Ok(None);
        }
        let Some(names) = self.store.tags(name)? else {
            return Ok(None);
        };
        let mut tags = Vec::new();
        for tag in names {
            // A tag deleted meanwhile is simply not listed.
            let Some(digest) = self.store.resolve_tag(name, &tag) else {
                continue;
            };
            tags.push(TagRow {
                images: images(self.store, name, &digest, true)?,
                pushed: self.store.tag_pushed_at(name, &tag),
                tag,
                digest,
            });
        }
        tags.sort_by(|a, b| b.pushed.cmp(&a.pushed).then(a.tag.cmp(&b.tag)));
        Ok(Some(RepoDetail {
            row: self.row(name)?,
            tags,
        }))
    }
}

/// The images of manifest `d`: itself, or the platforms of an index (attestations left out).
/// With `configs`, platform and date are read from each image config too.
fn images(store: &Storage, repo: &str, d: &Digest, configs: bool) -> io::Result<Vec<ImageRow>> {
    let Some(top) = manifest(store, repo, d)? else {
        return Ok(Vec::new());
    };
    match top {
        Manifest::Image(m) => Ok(vec![image(store, &m.config, &m.layers, None, configs)]),
        Manifest::Index(index) => {
            let mut out = Vec::new();
            for entry in index.manifests.iter().filter(|e| !is_attestation(e)) {
                if let Some(Manifest::Image(m)) = manifest(store, repo, &entry.digest)? {
                    let platform = entry.platform.as_ref().map(|p| p.to_string());
                    out.push(image(store, &m.config, &m.layers, platform, configs));
                }
            }
            Ok(out)
        }
    }
}

fn manifest(store: &Storage, repo: &str, d: &Digest) -> io::Result<Option<Manifest>> {
    let Some((bytes, media_type)) = store.read_manifest(repo, d)? else {
        return Ok(None);
    };
    // It was verified when pushed; one that does not parse now is shown without details.
    Ok(parse_manifest(&bytes, Some(&media_type))
        .ok()
        .map(|(m, _)| m))
}

fn image(
    store: &Storage,
    config: &Descriptor,
    layers: &[Descriptor],
    platform: Option<String>,
    configs: bool,
) -> ImageRow {
    let size = config.size + layers.iter().map(|l| l.size).sum::<u64>();
    let cfg = configs
        .then(|| read_config(store, &config.digest))
        .flatten();
    let from_config = cfg.as_ref().and_then(|c| {
        let (os, arch) = (c.os.as_deref()?, c.architecture.as_deref()?);
        Some(match c.variant.as_deref() {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        })
    });
    ImageRow {
        platform: platform.or(from_config),
        size,
        created: cfg.and_then(|c| c.created),
    }
}

/// Docker's build attestations sit in the index as `unknown/unknown` entries.
fn is_attestation(d: &Descriptor) -> bool {
    d.annotations
        .get("vnd.docker.reference.type")
        .is_some_and(|t| t == "attestation-manifest")
}

#[derive(Debug, Deserialize)]
struct ConfigView {
    created: Option<String>,
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
}

/// The image config's fields the pages show ("created", and the platform of a
/// single-platform image); a config too big or unreadable is shown without them.
fn read_config(store: &Storage, d: &Digest) -> Option<ConfigView> {
    if store.blob_size(d)? > MAX_CONFIG_SIZE {
        return None;
    }
    let bytes = store.read_blob(d).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// The distinct platforms of a tag, for a one-line summary.
pub(crate) fn platforms(tag: &TagRow) -> Vec<String> {
    let set: BTreeSet<&str> = tag
        .images
        .iter()
        .filter_map(|i| i.platform.as_deref())
        .collect();
    set.into_iter().map(str::to_owned).collect()
}
