//! `commit`: a container's writable layer becomes the top layer of a new image; also the
//! builder's way of turning a RUN step into a layer.

use berth_image::layer::{pack, PackOptions};
use berth_image::reference::Reference;
use berth_runtime::spec::MountKind;
use serde_json::{json, Value};

use super::ContainerConfig;
use crate::image::LayerSource;
use crate::{Engine, EngineError};

/// Options of `commit`.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub reference: Option<String>,
    /// `--change` Dockerfile instructions.
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub author: Option<String>,
    /// The history entry's `created_by` (docker puts the container's command there).
    pub created_by: Option<String>,
    /// Clamp file times and use this as `created` (`SOURCE_DATE_EPOCH`).
    pub source_date_epoch: Option<i64>,
    /// Replace the image's `config` section instead of merging the container's into it (the
    /// builder computes the whole config itself).
    pub config: Option<Value>,
    /// Record the history entry with `empty_layer` when the layer holds nothing.
    pub omit_empty_layer: bool,
    /// Name the container in the config (`docker commit` does; a build does not, so that
    /// its images are reproducible).
    pub record_container: bool,
}

/// Adds `KEY=VALUE` entries to an env list, replacing an entry with the same key.
fn merge_env(base: &mut Vec<Value>, extra: &[String]) {
    for e in extra {
        let key = e.split('=').next().unwrap_or(e);
        base.retain(|v| v.as_str().and_then(|s| s.split('=').next()) != Some(key));
        base.push(json!(e));
    }
}

impl Engine {
    /// Commits a container's changes as a new image; returns its ID.
    pub fn commit_container(
        &self,
        name: &str,
        opts: &CommitOptions,
    ) -> Result<berth_image::Digest, EngineError> {
        let reference = opts
            .reference
            .as_deref()
            .map(|r| Reference::parse(r).map(Reference::with_default_tag))
            .transpose()?;
        let rec = self.reconciled(name)?;
        let config = ContainerConfig::from_record(&rec)?;
        let base_id: berth_image::Digest = rec
            .image_id
            .parse()
            .map_err(|e| EngineError::bad_input("image id", e))?;
        let mut image = self.image_config(&base_id)?;
        let paths = self.container_paths(&rec.id);
        let _lock = self.store.lock_shared()?;

        // The writable layer, packed straight into the content store.
        let mut pending = self.store.content.begin()?;
        let packed = pack(
            &paths.upper,
            &mut pending,
            &PackOptions {
                mtime_clamp: opts.source_date_epoch.and_then(|t| u64::try_from(t).ok()),
                skip: self.mount_placeholders(&rec.id, &base_id)?,
            },
        )
        .map_err(|e| {
            EngineError::io(
                format!("commit container {}: pack its layer", &rec.id[..12]),
                e,
            )
        })?;
        let blob = pending.commit(None)?;

        let mut section = match &opts.config {
            Some(c) => c.clone(),
            None => {
                let mut c = image.get("config").cloned().unwrap_or_else(|| json!({}));
                let s = &config.spec;
                let mut env = c
                    .get("Env")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                merge_env(&mut env, &s.env);
                c["Env"] = json!(env);
                if !s.cmd.is_empty() {
                    c["Cmd"] = json!(s.cmd);
                }
                if let Some(e) = &s.entrypoint {
                    c["Entrypoint"] = json!(e);
                }
                if let Some(w) = &s.workdir {
                    c["WorkingDir"] = json!(w);
                }
                if let Some(u) = &s.user {
                    c["User"] = json!(u);
                }
                for (k, v) in &s.labels {
                    c["Labels"][k] = json!(v);
                }
                for m in s.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
                    c["Volumes"][&m.destination] = json!({});
                }
                c
            }
        };
        if let Some(obj) = section.as_object_mut() {
            for change in &opts.changes {
                crate::image::apply_change(obj, change)?;
            }
        }
        let created = match opts.source_date_epoch {
            Some(t) => chrono::DateTime::from_timestamp(t, 0).unwrap_or_default(),
            None => chrono::Utc::now(),
        }
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let empty = opts.omit_empty_layer && packed.size == 0 && is_empty_dir(&paths.upper);
        image["config"] = section;
        image["created"] = json!(created);
        if opts.record_container {
            image["container"] = json!(rec.id);
        } else if let Some(o) = image.as_object_mut() {
            o.remove("container");
        }
        if let Some(a) = &opts.author {
            image["author"] = json!(a);
        }
        let mut history = image
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut entry = json!({
            "created": created,
            "created_by": opts.created_by.clone().unwrap_or_else(|| config.command_line()),
        });
        if let Some(m) = &opts.message {
            entry["comment"] = json!(m);
        }
        if let Some(a) = &opts.author {
            entry["author"] = json!(a);
        }
        if empty {
            entry["empty_layer"] = json!(true);
        }
        history.push(entry);
        image["history"] = json!(history);

        let mut layers = self.image_layer_sources(&base_id)?;
        if !empty {
            let mut diff_ids = image
                .pointer("/rootfs/diff_ids")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            diff_ids.push(json!(packed.diff_id.to_string()));
            image["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
            layers.push(LayerSource {
                blob,
                media_type: Some("application/vnd.oci.image.layer.v1.tar".into()),
            });
        }
        let bytes = serde_json::to_vec(&image).map_err(|e| EngineError::bad_input("commit", e))?;
        let record = self.add_image(&bytes, &layers, "commit")?;
        if let Some(r) = reference {
            self.set_tags(&[r], &record.id)?;
        }
        Ok(record.id)
    }

    /// The unpacked layer directories of an image, bottom first (none for an unknown image).
    pub(crate) fn image_layer_dirs(
        &self,
        id: &berth_image::Digest,
    ) -> Result<Vec<std::path::PathBuf>, EngineError> {
        Ok(self
            .store
            .meta
            .read(|tx| tx.image(id))?
            .map(|i| {
                i.layers
                    .iter()
                    .map(|l| self.store.layers.diff_path(l))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The layer blobs of an image, bottom first, as `add_image` takes them.
    pub(crate) fn image_layer_sources(
        &self,
        id: &berth_image::Digest,
    ) -> Result<Vec<LayerSource>, EngineError> {
        let img = self
            .store
            .meta
            .read(|tx| tx.image(id))?
            .ok_or_else(|| EngineError::ImageNotFound(id.to_string()))?;
        self.store.meta.read_as(|tx| {
            img.layers
                .iter()
                .map(|c| {
                    let l = tx.layer(c)?.ok_or_else(|| {
                        EngineError::bad_input(
                            format!("image {}", id.short()),
                            format!("layer {c} is not recorded"),
                        )
                    })?;
                    Ok(LayerSource {
                        blob: berth_store::BlobInfo {
                            digest: l.blob,
                            size: l.blob_size,
                        },
                        media_type: Some(l.media_type),
                    })
                })
                .collect()
        })
    }
}

impl Engine {
    /// The empty files the runtime made in a container's writable layer as mount points for
    /// /etc/hostname, /etc/hosts and /etc/resolv.conf: not the container's changes, so
    /// `diff` and `commit` leave them out (docker keeps them in a separate init layer).
    pub(crate) fn mount_placeholders(
        &self,
        id: &str,
        image_id: &berth_image::Digest,
    ) -> Result<Vec<String>, EngineError> {
        let upper = self.container_paths(id).upper;
        let lowers = self.image_layer_dirs(image_id)?;
        Ok(super::bundle::MOUNT_POINT_FILES
            .into_iter()
            .filter(|p| {
                // Never through a symlink: a running container may have made /etc one.
                let empty_file = |st: rustix::fs::Stat| {
                    rustix::fs::FileType::from_raw_mode(st.st_mode)
                        == rustix::fs::FileType::RegularFile
                        && st.st_size == 0
                };
                // An image's dangling /etc/hosts symlink still leaves a placeholder.
                let not_symlink = |st: rustix::fs::Stat| {
                    rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Symlink
                };
                super::files::lstat_beneath(&upper, p).is_some_and(empty_file)
                    && !lowers
                        .iter()
                        .any(|l| super::files::lstat_beneath(l, p).is_some_and(not_symlink))
            })
            .map(str::to_string)
            .collect())
    }
}

fn is_empty_dir(p: &std::path::Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}
