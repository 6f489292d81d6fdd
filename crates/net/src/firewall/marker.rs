//! The record of the last full firewall sync, so that `Network::open` (every `berth run`)
//! rewrites the nft table only when it may be stale: on the first open, after a reboot
//! (nftables rules live in the kernel and die with it), or when the table name changed.
//! Between those, every change is made incrementally by the operation that causes it, and the
//! check costs one small file read.
//!
//! The marker lives in the state directory and is written under its lock, after the sync's
//! transaction committed; deleting the table (uninstall) or an element operation that finds
//! the table gone removes it, so the next open syncs again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state;
use crate::NetError;

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Synced {
    boot_id: String,
    table: String,
    /// The table layout synced ([`LAYOUT`]): a berth with new fixed rules syncs once more.
    #[serde(default)]
    layout: u32,
}

/// The version of the table's fixed sets, chains and rules (`nft.rs`); bump it with them.
/// 2: the `localnet` chain.
const LAYOUT: u32 = 2;

#[derive(Debug)]
pub(crate) struct SyncMarker {
    path: PathBuf,
    table: String,
}

fn boot_id() -> Option<String> {
    std::fs::read_to_string(BOOT_ID)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl SyncMarker {
    pub(crate) fn new(state_dir: &Path, table: &str) -> Self {
        SyncMarker {
            path: state_dir.join("firewall-synced.json"),
            table: table.to_string(),
        }
    }

    /// Whether the table was fully synced since this boot, under this name. Any doubt (no
    /// boot id, unreadable marker) says no: a needless sync is only slower.
    pub(crate) fn is_current(&self) -> bool {
        let Some(boot_id) = boot_id() else {
            return false;
        };
        let Ok(bytes) = std::fs::read(&self.path) else {
            return false;
        };
        serde_json::from_slice::<Synced>(&bytes).is_ok_and(|s| {
            s == Synced {
                boot_id,
                table: self.table.clone(),
                layout: LAYOUT,
            }
        })
    }

    /// Records a successful sync (atomically). Without a boot id nothing is recorded.
    pub(crate) fn record(&self) -> Result<(), NetError> {
        let Some(boot_id) = boot_id() else {
            return Ok(());
        };
        let rec = Synced {
            boot_id,
            table: self.table.clone(),
            layout: LAYOUT,
        };
        state::write_json(&self.path, &rec, state::Durability::Durable)
    }

    /// Forgets the sync, so the next open syncs again.
    pub(crate) fn clear(&self) -> Result<(), NetError> {
        state::remove_file(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn current_only_for_this_boot_and_table() {
        let dir = tempfile::tempdir().unwrap();
        let m = SyncMarker::new(dir.path(), "berth");
        assert!(!m.is_current(), "no marker yet");
        m.record().unwrap();
        assert!(m.is_current());
        assert!(
            !SyncMarker::new(dir.path(), "other").is_current(),
            "another table name needs a sync"
        );
        let stale = Synced {
            boot_id: "00000000-0000-0000-0000-000000000000".into(),
            table: "berth".into(),
            layout: LAYOUT,
        };
        state::write_json(&m.path, &stale, state::Durability::Durable).unwrap();
        assert!(!m.is_current(), "a marker from another boot is stale");
        std::fs::write(&m.path, b"garbage").unwrap();
        assert!(!m.is_current());
        m.record().unwrap();
        m.clear().unwrap();
        assert!(!m.is_current());
        m.clear().unwrap();
    }
}
