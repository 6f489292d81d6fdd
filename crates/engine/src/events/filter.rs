//! `events --filter`, matched as dockerd's events filter matches: values of one key are
//! alternatives (OR), keys must all match (AND), and `label` values must all match.

use std::collections::BTreeMap;

use berth_image::reference::Reference;

use super::{Event, EventType};
use crate::EngineError;

/// The keys dockerd accepts for events. The swarm and plugin ones match nothing berth writes
/// but are accepted, so scripts written for docker keep working.
const KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "pod",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Keys that match an actor by ID or name prefix.
const NAMED: &[&str] = &[
    "container",
    "network",
    "volume",
    "pod",
    "daemon",
    "plugin",
    "node",
    "service",
    "secret",
    "config",
];

/// Actions docker writes with a detail (`exec_start: sh`): a filter naming them without one
/// matches every detail.
const DETAILED_ACTIONS: &[&str] = &["health_status", "exec_create", "exec_start"];

/// Parsed `--filter key=value` arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    fields: BTreeMap<String, Vec<String>>,
}

impl EventFilter {
    /// Parses `key=value` strings (the CLI's repeated `--filter`).
    pub fn parse(raw: &[String]) -> Result<Self, EngineError> {
        let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in raw {
            let (key, value) = crate::filter::split(r)?;
            fields
                .entry(key.to_string())
                .or_default()
                .push(value.to_string());
        }
        Self::from_fields(fields)
    }

    /// From key → values, as the Engine API's `filters` parameter carries them.
    pub fn from_fields(fields: BTreeMap<String, Vec<String>>) -> Result<Self, EngineError> {
        if let Some(bad) = fields.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(EngineError::InvalidArgument(format!(
                "invalid filter '{bad}'"
            )));
        }
        Ok(Self { fields })
    }

    /// Whether `event` passes every key of the filter.
    pub fn matches(&self, event: &Event) -> bool {
        self.match_action(event)
            && self.exact("type", event.kind.as_str())
            && self.exact("scope", &event.scope)
            && self.match_image(event)
            && self.match_labels(event)
            && NAMED.iter().all(|key| self.match_name(key, event))
    }

    fn values(&self, key: &str) -> &[String] {
        self.fields.get(key).map_or(&[], Vec::as_slice)
    }

    /// True when `key` is not filtered on, or one of its values is `source`.
    fn exact(&self, key: &str, source: &str) -> bool {
        let values = self.values(key);
        values.is_empty() || values.iter().any(|v| v == source)
    }

    /// [`EventFilter::exact`], or a value is a prefix of `source`.
    fn fuzzy(&self, key: &str, source: &str) -> bool {
        self.exact(key, source) || self.values(key).iter().any(|v| source.starts_with(v))
    }

    fn match_action(&self, event: &Event) -> bool {
        if self
            .values("event")
            .iter()
            .any(|v| DETAILED_ACTIONS.contains(&v.as_str()))
        {
            self.fuzzy("event", &event.action)
        } else {
            self.exact("event", &event.action)
        }
    }

    /// `container=`, `network=`, `volume=` …: a prefix of the actor's ID or its name.
    fn match_name(&self, key: &str, event: &Event) -> bool {
        let name = event
            .actor
            .attributes
            .get("name")
            .map_or("", String::as_str);
        self.fuzzy(key, &event.actor.id) || self.fuzzy(key, name)
    }

    /// `image=`: an image event's ID or name, or a container event's image, with or without
    /// its tag.
    fn match_image(&self, event: &Event) -> bool {
        if self.values("image").is_empty() {
            return true;
        }
        let attr = if event.kind == EventType::Image {
            "name"
        } else {
            "image"
        };
        let id = event.actor.id.as_str();
        let name = event.actor.attributes.get(attr).map_or("", String::as_str);
        [id, name]
            .into_iter()
            .flat_map(|s| [s.to_string(), strip_tag(s)])
            .any(|s| self.values("image").contains(&s))
    }

    /// Every `label=KEY` must be an attribute, every `label=KEY=VALUE` an equal one.
    fn match_labels(&self, event: &Event) -> bool {
        self.values("label").iter().all(|l| {
            crate::filter::label_matches(|k| event.actor.attributes.get(k).map(String::as_str), l)
        })
    }
}

/// `busybox:latest` → `busybox`; what does not parse as a reference stays as it is.
fn strip_tag(image: &str) -> String {
    Reference::parse(image)
        .map(|r| r.familiar_name())
        .unwrap_or_else(|_| image.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::Action;
    use super::*;

    fn filter(raw: &[&str]) -> EventFilter {
        EventFilter::parse(&raw.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn container(action: Action, id: &str, name: &str, labels: &[(&str, &str)]) -> Event {
        let mut attrs: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        attrs.insert("name".into(), name.into());
        attrs.insert("image".into(), "busybox:1.36".into());
        Event::at(1, EventType::Container, &action, id, attrs)
    }

    #[test]
    fn same_key_is_or_different_keys_are_and() {
        let start = container(Action::Start, "aaaa1111", "web", &[]);
        let die = container(Action::Die, "bbbb2222", "db", &[]);
        let f = filter(&["event=start", "event=die"]);
        assert!(f.matches(&start) && f.matches(&die));
        let f = filter(&["event=start", "container=db"]);
        assert!(!f.matches(&start) && !f.matches(&die));
        let f = filter(&["event=die", "container=db", "type=container"]);
        assert!(f.matches(&die));
        assert!(!filter(&["type=image"]).matches(&die));
        assert!(filter(&["scope=local"]).matches(&die));
        assert!(!filter(&["scope=swarm"]).matches(&die));
    }

    #[test]
    fn names_and_ids_match_by_prefix() {
        let ev = container(Action::Start, "aaaa1111", "web-1", &[]);
        for hit in [
            "container=aaaa",
            "container=aaaa1111",
            "container=web",
            "container=web-1",
        ] {
            assert!(filter(&[hit]).matches(&ev), "{hit}");
        }
        // As in dockerd, `network=` and `volume=` look at any actor's ID and name.
        assert!(filter(&["network=web"]).matches(&ev));
        for miss in ["container=bbbb", "container=db", "network=db"] {
            assert!(!filter(&[miss]).matches(&ev), "{miss}");
        }
    }

    #[test]
    fn images_match_with_or_without_tag() {
        let ev = container(Action::Create, "c1", "web", &[]);
        for hit in ["image=busybox", "image=busybox:1.36"] {
            assert!(filter(&[hit]).matches(&ev), "{hit}");
        }
        assert!(!filter(&["image=busybox:latest"]).matches(&ev));
        assert!(!filter(&["image=alpine"]).matches(&ev));
        let attrs = BTreeMap::from([("name".to_string(), "alpine:3".to_string())]);
        let tag = Event::at(1, EventType::Image, &Action::Tag, "sha256:abc", attrs);
        assert!(filter(&["image=alpine"]).matches(&tag));
        assert!(filter(&["image=sha256:abc"]).matches(&tag));
        assert!(!filter(&["image=busybox"]).matches(&tag));
    }

    #[test]
    fn labels_must_all_match() {
        let ev = container(Action::Start, "c1", "web", &[("app", "shop"), ("tier", "")]);
        assert!(filter(&["label=app"]).matches(&ev));
        assert!(filter(&["label=app=shop"]).matches(&ev));
        assert!(filter(&["label=app=shop", "label=tier"]).matches(&ev));
        assert!(!filter(&["label=app=shop", "label=missing"]).matches(&ev));
        assert!(!filter(&["label=app=other"]).matches(&ev));
    }

    #[test]
    fn detailed_actions_match_without_their_detail() {
        let exec = container(Action::ExecStart("sh -c date".into()), "c1", "web", &[]);
        assert!(filter(&["event=exec_start"]).matches(&exec));
        assert!(filter(&["event=exec_start: sh -c date"]).matches(&exec));
        assert!(!filter(&["event=exec"]).matches(&exec));
        let health = container(Action::HealthStatus(true), "c1", "web", &[]);
        assert!(filter(&["event=health_status"]).matches(&health));
    }

    #[test]
    fn bad_filters_are_refused() {
        let err = EventFilter::parse(&["colour=red".to_string()]).unwrap_err();
        assert_eq!(err.to_string(), "invalid filter 'colour'");
        assert!(EventFilter::parse(&["type".to_string()]).is_err());
    }
}
