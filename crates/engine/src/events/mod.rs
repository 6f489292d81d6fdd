//! The events journal: what `berth events` (and the Engine API's `/events`) report.
//!
//! berth has no daemon, so there is no process that could watch every change and broadcast
//! it. Instead each process that changes something — a CLI command, a container's monitor,
//! later the API server — appends an [`Event`] to a journal in the root, right after the change
//! succeeded, and readers follow that journal. Writing an event never fails the operation
//! that made it: a journal that cannot be written is logged and skipped.
//!
//! ```text
//! ROOT/events/events.jsonl     the current journal: one docker-shaped JSON event per line
//! ROOT/events/events.1.jsonl   the previous one (rotated at 8 MiB; older ones are dropped)
//! ROOT/events/lock             flock(2): writers share it, the rotating writer holds it alone
//! ```
//!
//! ```no_run
//! # fn main() -> Result<(), berth_engine::EngineError> {
//! use berth_engine::events::{Cancel, EventFilter, EventQuery};
//! let engine = berth_engine::Engine::open(berth_engine::EngineConfig::new("/tmp/berth-root"))?;
//! let query = EventQuery {
//!     since: Some(0),
//!     until: Some(berth_engine::events::now_nanos()),
//!     filter: EventFilter::parse(&["type=container".to_string()])?,
//! };
//! for event in engine.events(&query, &Cancel::new())? {
//!     println!("{}", serde_json::to_string(&event?).unwrap_or_default());
//! }
//! # Ok(()) }
//! ```

mod emit;
mod filter;
mod journal;
mod timestamp;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use filter::EventFilter;
pub use journal::{Cancel, EventStream, Journal, ROTATE_AT};
pub(crate) use timestamp::go_duration;
pub use timestamp::parse_timestamp;

use crate::{Engine, EngineError};

/// The kind of object an event is about (docker's `Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Container,
    Image,
    Network,
    Volume,
    /// A pod (`berth pod …`, `kube play`): podman's event type.
    Pod,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Image => "image",
            Self::Network => "network",
            Self::Volume => "volume",
            Self::Pod => "pod",
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened (docker's `Action`). Most are one word; a few carry a detail after a colon,
/// as docker writes them (`health_status: healthy`, `exec_start: sh -c date`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    Start,
    Die,
    Stop,
    Kill,
    Destroy,
    /// A pod removed (podman's word; containers are `destroy`ed).
    Remove,
    Rename,
    /// `container update`: new resources or restart policy.
    Update,
    Pause,
    Unpause,
    Restart,
    Attach,
    Commit,
    /// The command line of the exec'd process.
    ExecCreate(String),
    ExecStart(String),
    ExecDie,
    /// `true` when healthy.
    HealthStatus(bool),
    Pull,
    Push,
    Tag,
    Untag,
    Delete,
    Import,
    Load,
    Save,
    Connect,
    Disconnect,
    Mount,
    Unmount,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = match self {
            Self::Create => "create",
            Self::Start => "start",
            Self::Die => "die",
            Self::Stop => "stop",
            Self::Kill => "kill",
            Self::Destroy => "destroy",
            Self::Remove => "remove",
            Self::Rename => "rename",
            Self::Update => "update",
            Self::Pause => "pause",
            Self::Unpause => "unpause",
            Self::Restart => "restart",
            Self::Attach => "attach",
            Self::Commit => "commit",
            Self::ExecCreate(cmd) => return write!(f, "exec_create: {cmd}"),
            Self::ExecStart(cmd) => return write!(f, "exec_start: {cmd}"),
            Self::ExecDie => "exec_die",
            Self::HealthStatus(true) => "health_status: healthy",
            Self::HealthStatus(false) => "health_status: unhealthy",
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Tag => "tag",
            Self::Untag => "untag",
            Self::Delete => "delete",
            Self::Import => "import",
            Self::Load => "load",
            Self::Save => "save",
            Self::Connect => "connect",
            Self::Disconnect => "disconnect",
            Self::Mount => "mount",
            Self::Unmount => "unmount",
        };
        f.write_str(word)
    }
}

/// The object an event is about: its ID and docker's attributes (for containers: `name`,
/// `image` and every label; for networks: `name`, `type`; for images: `name`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    /// Sorted by key, as Go marshals a map and as `docker events` prints them.
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, serialized exactly as docker's `events.Message`: the deprecated `status`, `id`
/// and `from` (filled for containers and images, as dockerd still does), then `Type`,
/// `Action`, `Actor`, `scope`, `time` (seconds) and `timeNano`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: EventType,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(default)]
    pub time: i64,
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
}

impl Event {
    /// An event happening now, with docker's legacy fields filled as dockerd fills them.
    pub fn new(
        kind: EventType,
        action: &Action,
        id: impl Into<String>,
        attributes: BTreeMap<String, String>,
    ) -> Self {
        Self::at(now_nanos(), kind, action, id, attributes)
    }

    /// [`Event::new`] at a given time (unix nanoseconds).
    pub fn at(
        time_nano: i64,
        kind: EventType,
        action: &Action,
        id: impl Into<String>,
        attributes: BTreeMap<String, String>,
    ) -> Self {
        let actor = Actor {
            id: id.into(),
            attributes,
        };
        let action = action.to_string();
        let (status, id, from) = match kind {
            EventType::Container => (
                action.clone(),
                actor.id.clone(),
                actor.attributes.get("image").cloned().unwrap_or_default(),
            ),
            EventType::Image => (action.clone(), actor.id.clone(), String::new()),
            EventType::Network | EventType::Volume | EventType::Pod => Default::default(),
        };
        Self {
            status,
            id,
            from,
            kind,
            action,
            actor,
            scope: "local".into(),
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
        }
    }
}

/// Unix nanoseconds now.
pub fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
}

/// What to read from the journal. Times are unix nanoseconds, both ends inclusive.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Past events from this time on; without it only events from now on are given.
    pub since: Option<i64>,
    /// The stream ends after this time (at once when it is past); without it, it follows
    /// until cancelled.
    pub until: Option<i64>,
    pub filter: EventFilter,
}

impl Engine {
    /// The journal of this engine's root.
    pub fn journal(&self) -> Journal {
        Journal::new(self.store.root())
    }

    /// The events `query` selects, oldest first: the past ones it asks for, then (unless its
    /// `until` has passed) new ones as they are written, until `cancel` is cancelled or
    /// `until` passes.
    pub fn events(&self, query: &EventQuery, cancel: &Cancel) -> Result<EventStream, EngineError> {
        self.journal().stream(query.clone(), cancel.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_docker() {
        let attrs = BTreeMap::from([
            ("name".to_string(), "web".to_string()),
            ("image".to_string(), "busybox".to_string()),
        ]);
        let ev = Event::at(
            1_700_000_000_123_456_789,
            EventType::Container,
            &Action::Start,
            "3f2a",
            attrs,
        );
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"status":"start","id":"3f2a","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"3f2a","Attributes":{"image":"busybox","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}"#
        );
        let net = Event::at(
            2_000_000_000,
            EventType::Network,
            &Action::Connect,
            "n1",
            BTreeMap::new(),
        );
        assert_eq!(
            serde_json::to_string(&net).unwrap(),
            r#"{"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{}},"scope":"local","time":2,"timeNano":2000000000}"#
        );
        let back: Event = serde_json::from_str(&serde_json::to_string(&ev).unwrap()).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn actions_with_details_read_as_docker_writes_them() {
        assert_eq!(
            Action::HealthStatus(false).to_string(),
            "health_status: unhealthy"
        );
        assert_eq!(
            Action::ExecStart("sh -c date".into()).to_string(),
            "exec_start: sh -c date"
        );
        assert_eq!(Action::Untag.to_string(), "untag");
    }
}
