//! berth's pause image: one static file, `/pause` (`crates/engine/pause/pause.rs`, built by
//! the engine's build script and embedded in the binary), imported into the store on first
//! use as `localhost/berth-pause:<12 hex of its digest>` — no registry, and a new berth with
//! a changed pause binary imports its own tag beside the old one.

use crate::image::ImportOptions;
use crate::{Engine, EngineError};

/// The pause binary, built for this target.
const PAUSE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pause"));

impl Engine {
    /// The reference of berth's pause image, importing it when the store lacks it.
    pub(crate) fn pause_image(&self) -> Result<String, EngineError> {
        let digest = berth_image::Digest::of(PAUSE);
        let reference = format!("localhost/berth-pause:{}", &digest.hex()[..12]);
        if self.resolve_image(&reference).is_ok() {
            return Ok(reference);
        }
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(PAUSE.len() as u64);
        header.set_mode(0o755);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, "pause", PAUSE)
            .and_then(|()| tar.finish())
            .map_err(|e| EngineError::io("build the pause image", e))?;
        let bytes = tar
            .into_inner()
            .map_err(|e| EngineError::io("build the pause image", e))?;
        self.import(
            bytes.as_slice(),
            &ImportOptions {
                reference: Some(reference.clone()),
                changes: vec![r#"CMD ["/pause"]"#.to_string()],
                message: Some("berth's pause image: holds a pod's namespaces".to_string()),
            },
        )?;
        Ok(reference)
    }
}
