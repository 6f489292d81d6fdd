//! `import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image, with
//! `--change` applying Dockerfile instructions to its config.

use std::io::{self, Read};

use berth_image::digest::Hasher;
use berth_image::layer::{detect_compression, Compression};
use berth_image::reference::Reference;
use serde_json::{json, Map, Value};

use super::add::LayerSource;
use crate::{Engine, EngineError};

const WHAT: &str = "import";

/// Options of `import`.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `REPOSITORY[:TAG]` to tag the image with.
    pub reference: Option<String>,
    /// `--change` instructions: `CMD ["sh"]`, `ENV A=b`, `WORKDIR /x` …
    pub changes: Vec<String>,
    /// `--message`: the history comment (default `Imported from -`).
    pub message: Option<String>,
}

/// The Go name of this machine's architecture, as image configs spell it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

impl Engine {
    /// Imports a tarball; returns the new image's ID.
    pub fn import(
        &self,
        input: impl Read,
        opts: &ImportOptions,
    ) -> Result<berth_image::Digest, EngineError> {
        // Parse everything the user typed before touching the store.
        let reference = opts
            .reference
            .as_deref()
            .map(|r| Reference::parse(r).map(Reference::with_default_tag))
            .transpose()?;
        let mut config = Map::new();
        for change in &opts.changes {
            apply_change(&mut config, change)?;
        }
        let _lock = self.store.lock_shared()?;
        let blob = self.store.content.ingest(input, None)?;
        let result = (|| {
            let diff_id = self.diff_id_of(&blob.digest)?;
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let image_config = json!({
                "architecture": go_arch(),
                "config": config,
                "created": now,
                "history": [{
                    "created": now,
                    "comment": opts.message.clone().unwrap_or_else(|| "Imported from -".into()),
                }],
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
            });
            let bytes =
                serde_json::to_vec(&image_config).map_err(|e| EngineError::bad_input(WHAT, e))?;
            let layer = LayerSource {
                blob: blob.clone(),
                media_type: None,
            };
            self.add_image(&bytes, &[layer], WHAT)
        })();
        let image = match result {
            Ok(i) => i,
            Err(e) => {
                let referenced = self.store.meta.read(|tx| tx.referenced_blobs())?;
                if !referenced.contains(&blob.digest) {
                    self.store.content.remove(&blob.digest)?;
                }
                return Err(e);
            }
        };
        if let Some(r) = reference {
            self.set_tags(&[r], &image.id)?;
        }
        let id = image.id.to_string();
        self.emit_image(crate::events::Action::Import, &id, &id);
        Ok(image.id)
    }

    /// The digest of a layer blob's uncompressed bytes.
    fn diff_id_of(&self, blob: &berth_image::Digest) -> Result<berth_image::Digest, EngineError> {
        let mut file = self.store.content.open_blob(blob)?;
        let mut head = [0u8; 8];
        let n = file.read(&mut head).map_err(|e| EngineError::io(WHAT, e))?;
        let compression = detect_compression(&head[..n]);
        if compression == Compression::None {
            return Ok(blob.clone());
        }
        let file = self.store.content.open_blob(blob)?;
        let mut reader: Box<dyn Read> = match compression {
            Compression::Gzip => {
                Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(file)))
            }
            _ => Box::new(
                zstd::stream::read::Decoder::new(file).map_err(|e| EngineError::io(WHAT, e))?,
            ),
        };
        let mut hasher = Hasher::new(io::sink());
        io::copy(&mut reader, &mut hasher).map_err(|e| {
            EngineError::bad_input(WHAT, format!("corrupt compressed tarball: {e}"))
        })?;
        Ok(hasher.finish().0)
    }
}

/// Applies one `--change` instruction to an image config's `config` section.
pub fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<(), EngineError> {
    let change = change.trim();
    let (inst, rest) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let rest = rest.trim();
    let invalid =
        |why: &str| EngineError::InvalidArgument(format!("invalid --change {change:?}: {why}"));
    if rest.is_empty() {
        return Err(invalid("the instruction needs an argument"));
    }
    let json_or_shell = |shell: bool| -> Result<Value, EngineError> {
        if rest.starts_with('[') {
            let v: Vec<String> =
                serde_json::from_str(rest).map_err(|_| invalid("not a JSON array of strings"))?;
            Ok(json!(v))
        } else if shell {
            Ok(json!(["/bin/sh", "-c", rest]))
        } else {
            Ok(json!(rest.split_whitespace().collect::<Vec<_>>()))
        }
    };
    match inst.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".into(), json_or_shell(true)?);
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), json_or_shell(true)?);
        }
        "ENV" => {
            let env = config.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().ok_or_else(|| invalid("Env is not a list"))?;
            let pairs: Vec<(String, String)> = if let Some((k, v)) = rest.split_once('=') {
                if k.contains(char::is_whitespace) {
                    return Err(invalid("ENV name contains a space"));
                }
                vec![(k.to_string(), v.trim_matches('"').to_string())]
            } else {
                let (k, v) = rest.split_once(char::is_whitespace).ok_or_else(|| invalid("ENV needs NAME=VALUE"))?;
                vec![(k.to_string(), v.trim().to_string())]
            };
            for (k, v) in pairs {
                list.retain(|e| e.as_str().and_then(|s| s.split_once('=')).map(|(ek, _)| ek) != Some(k.as_str()));
                list.push(json!(format!("{k}={v}")));
            }
        }
        "EXPOSE" => {
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            for p in rest.split_whitespace() {
                let p = if p.contains('/') { p.to_string() } else { format!("{p}/tcp") };
                let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                if num.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(invalid("EXPOSE takes PORT[/tcp|udp|sctp]"));
                }
                ports[p.as_str()] = json!({});
            }
        }
        "LABEL" => {
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            let (k, v) = rest.split_once('=').ok_or_else(|| invalid("LABEL needs KEY=VALUE"))?;
            labels[k.trim()] = json!(v.trim().trim_matches('"'));
        }
        "USER" => {
            config.insert("User".into(), json!(rest));
        }
        "WORKDIR" => {
            config.insert("WorkingDir".into(), json!(rest));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(rest));
        }
        "VOLUME" => {
            let vols = config.entry("Volumes").or_insert_with(|| json!({}));
            let list: Vec<String> = if rest.starts_with('[') {
                serde_json::from_str(rest).map_err(|_| invalid("not a JSON array of strings"))?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            for v in list {
                vols[v.as_str()] = json!({});
            }
        }
        "ONBUILD" => {
            let list = config.entry("OnBuild").or_insert_with(|| json!([]));
            if let Some(l) = list.as_array_mut() {
                l.push(json!(rest));
            }
        }
        other => {
            return Err(EngineError::InvalidArgument(format!(
                "invalid --change {change:?}: {other} is not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR"
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_follow_dockerfile_forms() {
        let mut c = Map::new();
        for ch in [
            r#"CMD ["sh"]"#,
            "ENTRYPOINT /bin/app --x",
            "ENV A=1",
            "ENV B two words",
            "ENV A=3",
            "EXPOSE 8000 53/udp",
            "LABEL k=v",
            "WORKDIR /srv",
            "USER nobody",
        ] {
            apply_change(&mut c, ch).unwrap();
        }
        assert_eq!(c["Cmd"], json!(["sh"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/bin/app --x"]));
        assert_eq!(c["Env"], json!(["B=two words", "A=3"]));
        assert_eq!(c["ExposedPorts"], json!({"8000/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"k": "v"}));
        assert_eq!(c["WorkingDir"], json!("/srv"));
        assert_eq!(c["User"], json!("nobody"));
    }

    #[test]
    fn bad_changes_are_refused() {
        for bad in [
            "RUN echo",
            "CMD",
            "EXPOSE http",
            r#"CMD ["sh""#,
            "LABEL novalue",
        ] {
            assert!(apply_change(&mut Map::new(), bad).is_err(), "{bad}");
        }
    }
}
