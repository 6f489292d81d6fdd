//! docker's words for a pull's or a push's progress: what each registry [`Event`] says about
//! its layer (`Pulling fs layer`, `Downloading` with bytes, `Pull complete`, `Pushed` …).
//!
//! One mapping for both front ends: the CLI draws it as lines and bars, and the Engine API
//! sends it as docker's JSON progress messages, so `berth pull` and `docker pull` against
//! `berth serve` say the same things.

use std::collections::BTreeSet;
use std::sync::Mutex;

use berth_registry::client::Event;

/// Which transfer the events come from: the same event reads differently in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Pull,
    Push,
}

impl Verb {
    /// The word for a pull, or for a push.
    fn says(self, pull: &'static str, push: &'static str) -> &'static str {
        match self {
            Verb::Pull => pull,
            Verb::Push => push,
        }
    }
}

/// One progress message: a layer's state, or a note about the whole transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The layer's short ID (12 hex digits), or `None` for a note (a failed mirror).
    pub id: Option<String>,
    pub status: String,
    /// Bytes done of the total while bytes move (`Downloading`, `Extracting`, `Pushing`).
    pub progress: Option<(u64, u64)>,
}

impl Status {
    fn layer(digest: &berth_image::Digest, status: impl Into<String>) -> Self {
        Status {
            id: Some(digest.short().to_string()),
            status: status.into(),
            progress: None,
        }
    }

    fn bytes(digest: &berth_image::Digest, status: &str, done: u64, total: u64) -> Self {
        Status {
            progress: Some((done, total)),
            ..Status::layer(digest, status)
        }
    }
}

/// What `e` says in docker's words, or `None` for events docker does not show (the resolved
/// manifest, the pushed manifest: the front end words those itself).
pub fn status(verb: Verb, e: &Event) -> Option<Status> {
    Some(match e {
        Event::BlobExists { digest, .. } => {
            Status::layer(digest, verb.says("Already exists", "Layer already exists"))
        }
        Event::BlobStarted { digest, offset, .. } if *offset > 0 => {
            Status::layer(digest, format!("Resuming at {offset} bytes"))
        }
        // Every layer is announced at once, in the manifest's order, as docker does.
        Event::BlobQueued { digest, .. } | Event::BlobStarted { digest, .. } => {
            Status::layer(digest, verb.says("Pulling fs layer", "Preparing"))
        }
        Event::BlobProgress {
            digest,
            done,
            total,
        } => Status::bytes(digest, verb.says("Downloading", "Pushing"), *done, *total),
        Event::BlobRetry { digest, error, .. } => {
            Status::layer(digest, format!("Retrying ({error})"))
        }
        Event::BlobMounted { digest, from } => {
            Status::layer(digest, format!("Mounted from {from}"))
        }
        Event::BlobDone { digest, .. } => {
            Status::layer(digest, verb.says("Download complete", "Pushed"))
        }
        Event::LayerExtracting {
            digest,
            done,
            total,
        } => Status::bytes(digest, "Extracting", *done, *total),
        Event::LayerExtracted { digest } => Status::layer(digest, "Pull complete"),
        Event::MirrorFailed { mirror, error } => Status {
            id: None,
            status: format!("mirror {mirror} failed ({error}); trying the next source"),
            progress: None,
        },
        Event::Resolved { .. } | Event::ManifestPushed { .. } => return None,
    })
}

/// Pulled layers downloaded and not yet unpacked. A layer whose content was already here is
/// not unpacked again, so no `Pull complete` comes for it: once the pull succeeds,
/// [`Unextracted::finish`] says it for them.
#[derive(Debug, Default)]
pub struct Unextracted(Mutex<BTreeSet<String>>);

impl Unextracted {
    /// Follows one event of a pull.
    pub fn see(&self, e: &Event) {
        let mut left = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::BlobDone { digest, .. } => {
                left.insert(digest.short().to_string());
            }
            Event::LayerExtracted { digest } => {
                left.remove(digest.short());
            }
            _ => {}
        }
    }

    /// `Pull complete` for every layer still waiting for it, in ID order.
    pub fn finish(&self) -> Vec<Status> {
        let mut left = self.0.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *left)
            .into_iter()
            .map(|id| Status {
                id: Some(id),
                status: "Pull complete".into(),
                progress: None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::Digest;

    fn digest() -> Digest {
        Digest::of(b"layer")
    }

    #[test]
    fn a_pull_and_a_push_read_the_same_events_in_their_own_words() {
        let d = digest();
        let short = d.short().to_string();
        let queued = Event::BlobQueued {
            digest: d.clone(),
            size: 9,
        };
        let s = status(Verb::Pull, &queued).unwrap();
        assert_eq!(
            (s.id.as_deref(), s.status.as_str()),
            (Some(short.as_str()), "Pulling fs layer")
        );
        assert_eq!(status(Verb::Push, &queued).unwrap().status, "Preparing");
        let moving = Event::BlobProgress {
            digest: d.clone(),
            done: 3,
            total: 9,
        };
        let s = status(Verb::Pull, &moving).unwrap();
        assert_eq!(
            (s.status.as_str(), s.progress),
            ("Downloading", Some((3, 9)))
        );
        assert_eq!(status(Verb::Push, &moving).unwrap().status, "Pushing");
        let exists = Event::BlobExists {
            digest: d.clone(),
            size: 9,
        };
        assert_eq!(
            status(Verb::Push, &exists).unwrap().status,
            "Layer already exists"
        );
        let resumed = Event::BlobStarted {
            digest: d.clone(),
            size: 9,
            offset: 4,
        };
        assert_eq!(
            status(Verb::Pull, &resumed).unwrap().status,
            "Resuming at 4 bytes"
        );
        let resolved = Event::Resolved {
            reference: "x".into(),
            digest: d,
        };
        assert_eq!(status(Verb::Pull, &resolved), None);
    }

    #[test]
    fn layers_never_unpacked_are_complete_at_the_end() {
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let left = Unextracted::default();
        for d in [&a, &b] {
            left.see(&Event::BlobDone {
                digest: d.clone(),
                size: 1,
            });
        }
        left.see(&Event::LayerExtracted { digest: a.clone() });
        let done = left.finish();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].id.as_deref(), Some(b.short()));
        assert_eq!(done[0].status, "Pull complete");
        assert!(left.finish().is_empty());
    }
}
