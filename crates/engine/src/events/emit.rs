//! The engine's hooks: one call next to each state change, building the event's actor the
//! way dockerd does. None of them can fail the operation that calls them.

use std::collections::BTreeMap;

use berth_image::reference::Reference;
use berth_store::ContainerRecord;

use super::{Action, Event, EventType};
use crate::container::ContainerConfig;
use crate::Engine;

impl Engine {
    /// Appends `event` to the journal (a failure is logged).
    pub(crate) fn emit(&self, event: Event) {
        self.journal().log(&event);
    }

    /// A container event: `name`, `image` (as the user named it) and every label of the
    /// container, plus `extra` (`exitCode`, `signal`, `oldName` …).
    pub(crate) fn emit_container(
        &self,
        rec: &ContainerRecord,
        action: Action,
        extra: &[(&str, String)],
    ) {
        let mut attrs: BTreeMap<String, String> = ContainerConfig::from_record(rec)
            .map(|c| c.spec.labels)
            .unwrap_or_default();
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("image".into(), rec.image_name.clone());
        if action == Action::Die && rec.started_at > 0 && rec.finished_at >= rec.started_at {
            let secs = (rec.finished_at - rec.started_at) / 1_000_000_000;
            attrs.insert("execDuration".into(), secs.to_string());
        }
        attrs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        self.emit(Event::new(EventType::Container, &action, &rec.id, attrs));
    }

    /// [`Engine::emit_container`] for a container known by ID, read as it is now (after the
    /// change). A container that is gone meanwhile gets no event.
    pub(crate) fn emit_container_id(&self, id: &str, action: Action, extra: &[(&str, String)]) {
        match self.resolve_container(id) {
            Ok(rec) => self.emit_container(&rec, action, extra),
            Err(e) => {
                tracing::debug!(container_id = id, error = %e, %action, "no event: container gone")
            }
        }
    }

    /// A container's `die`, with its exit code.
    pub(crate) fn emit_exit(&self, id: &str, code: i64) {
        self.emit_container_id(id, Action::Die, &[("exitCode", code.to_string())]);
    }

    /// A `pull` or `push`: dockerd names both the actor and its `name` by the reference.
    pub(crate) fn emit_image_ref(&self, action: Action, reference: &Reference) {
        let name = reference.familiar();
        self.emit_image(action, &name, &name);
    }

    /// An image event: `id` is the image ID (or the reference, for pull and push, as dockerd
    /// writes them), `name` the reference or ID it was named by; the image's labels are
    /// added while its config can be read.
    pub(crate) fn emit_image(&self, action: Action, id: &str, name: &str) {
        let mut attrs = BTreeMap::new();
        if let Ok(digest) = self.resolve_image(id) {
            if let Ok(config) = self.image_config(&digest) {
                if let Some(labels) = config.pointer("/config/Labels").and_then(|l| l.as_object()) {
                    for (k, v) in labels {
                        attrs.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
        attrs.insert("name".into(), name.to_string());
        self.emit(Event::new(EventType::Image, &action, id, attrs));
    }

    /// One `load` per image an archive brought in (named by ID, as dockerd does).
    pub(crate) fn emit_loaded(&self, loaded: &[crate::image::LoadEvent]) {
        let mut ids = std::collections::BTreeSet::new();
        for l in loaded {
            let id = match l {
                crate::image::LoadEvent::Image(name) => match self.resolve_image(name) {
                    Ok(d) => d,
                    Err(_) => continue,
                },
                crate::image::LoadEvent::ImageId(d) => d.clone(),
            };
            if ids.insert(id.to_string()) {
                self.emit_image(Action::Load, &id.to_string(), &id.to_string());
            }
        }
    }

    /// A network event for the network named `network` (its ID looked up); `container` for
    /// connect and disconnect.
    pub(crate) fn emit_network(&self, action: Action, network: &str, container: Option<&str>) {
        let id = match self.network().map(|n| n.network(network)) {
            Ok(Ok(info)) => info.id,
            _ => network.to_string(),
        };
        self.emit_network_id(action, &id, network, container);
    }

    /// [`Engine::emit_network`] when the ID is known (the network may be gone).
    pub(crate) fn emit_network_id(
        &self,
        action: Action,
        id: &str,
        name: &str,
        container: Option<&str>,
    ) {
        let mut attrs = BTreeMap::from([
            ("name".to_string(), name.to_string()),
            ("type".to_string(), "bridge".to_string()),
        ]);
        if let Some(c) = container {
            attrs.insert("container".into(), c.to_string());
        }
        self.emit(Event::new(EventType::Network, &action, id, attrs));
    }

    /// The networks container `id` is attached to now (read before a teardown, so that its
    /// disconnects can be reported after).
    pub(crate) fn attached_networks(&self, id: &str) -> Vec<(String, String)> {
        let Ok(net) = self.network() else {
            return Vec::new();
        };
        let names: Vec<String> = net
            .container_attachments(id)
            .into_iter()
            .map(|a| a.network)
            .collect();
        names
            .into_iter()
            .map(|n| {
                let nid = net.network(&n).map(|i| i.id).unwrap_or_else(|_| n.clone());
                (nid, n)
            })
            .collect()
    }

    /// Reports a disconnect from each of `networks` (from [`Engine::attached_networks`]).
    pub(crate) fn emit_disconnects(&self, container: &str, networks: &[(String, String)]) {
        for (id, name) in networks {
            self.emit_network_id(Action::Disconnect, id, name, Some(container));
        }
    }

    /// A pod event (podman's: the pod's ID, its name as `name`).
    pub(crate) fn emit_pod(&self, action: Action, id: &str, name: &str) {
        let attrs = BTreeMap::from([("name".to_string(), name.to_string())]);
        self.emit(Event::new(EventType::Pod, &action, id, attrs));
    }

    /// A volume event; volumes are named by their name, and all use the `local` driver.
    pub(crate) fn emit_volume(&self, action: Action, name: &str) {
        let attrs = BTreeMap::from([("driver".to_string(), "local".to_string())]);
        self.emit(Event::new(EventType::Volume, &action, name, attrs));
    }
}
