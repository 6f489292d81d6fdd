//! Reconciling the recorded state with reality after a crash (`kill -9` of any berth process,
//! a reboot): containers that are gone lose their attachments exactly as `detach` would remove
//! them, half-made endpoints are undone, and namespaces and veths nobody records are removed.

use std::collections::HashSet;

use crate::{link, sys, NetError, Network};

impl Network {
    /// Drops everything of containers for which `live(id)` is false (detach semantics), undoes
    /// endpoints a crash left half-made, removes unrecorded namespace files of dead containers
    /// and unrecorded `vb*` ports of berth's bridges, then makes the nft table match the state.
    /// Returns the IDs whose attachments were removed.
    pub fn reconcile(&mut self, live: &dyn Fn(&str) -> bool) -> Result<Vec<String>, Vec<NetError>> {
        let lock = self.store().lock().map_err(|e| vec![e])?;
        let mut errs = Vec::new();
        let mut cleaned = Vec::new();
        let containers = self.store().containers().map_err(|e| vec![e])?;
        let mut recorded = HashSet::new();
        for c in &containers {
            recorded.insert(c.container_id.clone());
            if !live(&c.container_id) {
                errs.extend(self.detach_locked(
                    &lock,
                    &c.container_id,
                    crate::attach::Links::Delete,
                ));
                cleaned.push(c.container_id.clone());
                continue;
            }
            let (pending, ready): (Vec<_>, Vec<_>) =
                c.endpoints.iter().cloned().partition(|e| !e.ready);
            if pending.is_empty() {
                continue;
            }
            let mut rec = c.clone();
            rec.endpoints = ready;
            for ep in pending {
                let e = self.teardown_endpoint(&ep);
                if !e.is_empty() {
                    errs.extend(e);
                    rec.endpoints.push(ep);
                }
            }
            if let Err(e) = self.store().save_container(&lock, &rec) {
                errs.push(e);
            }
        }
        let netns_dir = self.store().root().join("netns");
        match std::fs::read_dir(&netns_dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !recorded.contains(&name) && !live(&name) {
                        if let Err(e) = sys::remove_netns(&entry.path()) {
                            errs.push(e);
                        }
                    }
                }
            }
            Err(e) => errs.push(NetError::io(format!("list {}", netns_dir.display()), e)),
        }
        let known: HashSet<String> = self
            .store()
            .containers()
            .unwrap_or_default()
            .into_iter()
            .flat_map(|c| c.endpoints.into_iter().map(|e| e.veth_host))
            .collect();
        for n in self.store().networks().unwrap_or_default() {
            if !sys::link_exists(&n.bridge) {
                continue;
            }
            match link::bridge_ports(&n.bridge) {
                Ok(ports) => {
                    for p in ports {
                        if p.starts_with("vb") && !known.contains(&p) {
                            tracing::info!(veth = %p, bridge = %n.bridge, "removing orphan veth");
                            if let Err(e) = link::delete_link(&p) {
                                errs.push(e);
                            }
                        }
                    }
                }
                Err(e) => errs.push(e),
            }
        }
        if let Err(e) = self.sync_firewall() {
            errs.push(e);
        }
        if errs.is_empty() {
            Ok(cleaned)
        } else {
            Err(errs)
        }
    }
}
