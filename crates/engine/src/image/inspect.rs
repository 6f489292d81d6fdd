//! `image inspect` in docker's JSON shape, and `history`.

use berth_image::digest::Digest;
use berth_image::reference::Reference;
use serde_json::{json, Map, Value};

use crate::{Engine, EngineError};

/// One row of `history`, newest first.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// The image ID for the top row, `None` (docker's `<missing>`) below it.
    pub id: Option<Digest>,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub empty_layer: bool,
}

/// The keys docker always shows in `Config`, in docker's order, with their empty values.
/// A config key and how docker shows it when absent.
type ConfigKey = (&'static str, fn() -> Value);

const CONFIG_KEYS: &[ConfigKey] = &[
    ("Hostname", || json!("")),
    ("Domainname", || json!("")),
    ("User", || json!("")),
    ("AttachStdin", || json!(false)),
    ("AttachStdout", || json!(false)),
    ("AttachStderr", || json!(false)),
    ("Tty", || json!(false)),
    ("OpenStdin", || json!(false)),
    ("StdinOnce", || json!(false)),
    ("Env", || Value::Null),
    ("Cmd", || Value::Null),
    ("Image", || json!("")),
    ("Volumes", || Value::Null),
    ("WorkingDir", || json!("")),
    ("Entrypoint", || Value::Null),
    ("OnBuild", || Value::Null),
    ("Labels", || Value::Null),
];

/// An image config's `config` section with docker's keys filled in.
fn docker_config(c: Option<&Value>) -> Value {
    let src = c.and_then(Value::as_object).cloned().unwrap_or_default();
    let mut out = Map::new();
    for (k, empty) in CONFIG_KEYS {
        out.insert(k.to_string(), src.get(*k).cloned().unwrap_or_else(empty));
    }
    for (k, v) in src {
        out.entry(k).or_insert(v);
    }
    Value::Object(out)
}

fn familiar(full: &str) -> String {
    Reference::parse(full).map_or_else(|_| full.to_string(), |r| r.familiar())
}

impl Engine {
    /// `docker image inspect` for one image.
    pub fn inspect_image(&self, name: &str) -> Result<Value, EngineError> {
        let id = self.resolve_image(name)?;
        let (img, tags, digests) = self.store.meta.read(|tx| {
            let img = tx.image(&id)?;
            Ok((img, tx.tags_of(&id)?, tx.repo_digests(&id)?))
        })?;
        let img = img.ok_or_else(|| EngineError::ImageNotFound(name.to_string()))?;
        let config = self.image_config(&id)?;
        let str_of = |k: &str| {
            config
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let diff_ids: Vec<Value> = config
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let layers = &self.store.layers;
        let mut lowers: Vec<String> = img
            .layers
            .iter()
            .map(|c| layers.diff_path(c).display().to_string())
            .collect();
        lowers.reverse();
        let upper = lowers.first().cloned().unwrap_or_default();
        let last_tag = tags.iter().map(|t| t.tagged_at).max();
        Ok(json!({
            "Id": id.to_string(),
            "RepoTags": tags.iter().map(|t| familiar(&t.name)).collect::<Vec<_>>(),
            "RepoDigests": digests.iter().map(|d| familiar(d)).collect::<Vec<_>>(),
            "Parent": str_of("parent"),
            "Comment": config.pointer("/history").and_then(Value::as_array)
                .and_then(|h| h.last()).and_then(|h| h.get("comment")).and_then(Value::as_str).unwrap_or(""),
            "Created": str_of("created"),
            "Container": str_of("container"),
            "ContainerConfig": docker_config(config.get("container_config")),
            "DockerVersion": str_of("docker_version"),
            "Author": str_of("author"),
            "Config": docker_config(config.get("config")),
            "Architecture": str_of("architecture"),
            "Variant": config.get("variant").cloned().unwrap_or(Value::Null),
            "Os": str_of("os"),
            "Size": img.size,
            "VirtualSize": img.size,
            "GraphDriver": {
                "Data": {
                    "LowerDir": lowers.iter().skip(1).cloned().collect::<Vec<_>>().join(":"),
                    "UpperDir": upper,
                },
                "Name": "overlay2",
            },
            "RootFS": {"Type": "layers", "Layers": diff_ids},
            "Metadata": {
                "LastTagTime": last_tag
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                    .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            },
        })
        .as_object()
        .map(|o| {
            let mut o = o.clone();
            if o.get("Variant") == Some(&Value::Null) {
                o.remove("Variant");
            }
            Value::Object(o)
        })
        .unwrap_or(Value::Null))
    }

    /// `docker history`: the config's history, newest first, with each layer's size.
    pub fn image_history(&self, name: &str) -> Result<Vec<HistoryEntry>, EngineError> {
        let id = self.resolve_image(name)?;
        let img = self
            .store
            .meta
            .read(|tx| tx.image(&id))?
            .ok_or_else(|| EngineError::ImageNotFound(name.to_string()))?;
        let sizes: Vec<u64> = self.store.meta.read(|tx| {
            img.layers
                .iter()
                .map(|c| Ok(tx.layer(c)?.map_or(0, |l| l.size)))
                .collect()
        })?;
        let config = self.image_config(&id)?;
        let history = config
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut sizes = sizes.into_iter();
        let mut rows: Vec<HistoryEntry> = history
            .iter()
            .map(|h| {
                let empty = h
                    .get("empty_layer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let text = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                HistoryEntry {
                    id: None,
                    created: h.get("created").and_then(Value::as_str).map(str::to_string),
                    created_by: text("created_by"),
                    size: if empty { 0 } else { sizes.next().unwrap_or(0) },
                    comment: text("comment"),
                    empty_layer: empty,
                }
            })
            .collect();
        if rows.is_empty() {
            // No history in the config: one row per layer, as docker shows.
            rows = img
                .layers
                .iter()
                .zip(sizes.by_ref().chain(std::iter::repeat(0)))
                .map(|(_, size)| HistoryEntry {
                    id: None,
                    created: img.created.clone(),
                    created_by: String::new(),
                    size,
                    comment: String::new(),
                    empty_layer: false,
                })
                .collect();
        }
        rows.reverse();
        // The IDs, as docker fills them in: the image for the newest entry, then up its build
        // parents (a build stores an image per step), as long as each parent's history is the
        // rest of this one's.
        let mut at = 0;
        let mut next = Some(id);
        while let (Some(image), true) = (next.take(), at < rows.len()) {
            let len = self
                .image_config(&image)
                .ok()
                .and_then(|c| c.get("history").and_then(Value::as_array).map(Vec::len))
                .unwrap_or(0);
            if at > 0 && len != rows.len() - at {
                break;
            }
            rows[at].id = Some(image.clone());
            at += 1;
            next = self.store.meta.read(|tx| tx.image_parent(&image))?;
        }
        Ok(rows)
    }
}
