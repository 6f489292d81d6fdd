//! `berth events [--since T] [--until T] [--filter K=V]… [--format F]`: the journal's events,
//! printed as docker prints them, following new ones until interrupted or until `--until`.

use std::io::Write;

use anyhow::Context;
use berth_engine::events::{parse_timestamp, Cancel, Event, EventFilter, EventQuery};
use berth_engine::Engine;
use berth_format::Template;
use serde_json::{json, Value};

use crate::cli::EventsArgs;

pub fn run(engine: &Engine, a: EventsArgs) -> anyhow::Result<()> {
    let now = chrono::Local::now().fixed_offset();
    let time = |flag: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| parse_timestamp(s, now))
            .transpose()
            .with_context(|| format!("--{flag}"))
    };
    let query = EventQuery {
        since: time("since", &a.since)?,
        until: time("until", &a.until)?,
        filter: EventFilter::parse(&a.filter)?,
    };
    let render = Render::new(a.format.as_deref())?;
    let stdout = std::io::stdout();
    for event in engine.events(&query, &Cancel::new())? {
        let line = render.line(&event?)?;
        let mut out = stdout.lock();
        match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`| head`): that ends the stream, as it does docker's.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).context("write events"),
        }
    }
    Ok(())
}

/// How each event is printed.
enum Render {
    /// docker's line: `TIME TYPE ACTION ID (k=v, …)`.
    Default,
    /// `{{json .}}`: the event exactly as the API sends it.
    Json,
    Template(Template),
}

impl Render {
    fn new(format: Option<&str>) -> anyhow::Result<Self> {
        Ok(match format.map(str::trim) {
            None | Some("") => Self::Default,
            // The JSON names (`status`, `timeNano`) differ from the Go field names a template
            // sees (`Status`, `TimeNano`): `{{json .}}` must print the former.
            Some("json" | "{{json .}}") => Self::Json,
            Some(f) => Self::Template(Template::parse(f, &[]).context("--format")?),
        })
    }

    fn line(&self, event: &Event) -> anyhow::Result<String> {
        let mut line = match self {
            Self::Default => default_line(event),
            Self::Json => serde_json::to_string(event)?,
            Self::Template(t) => t.render_one(&go_fields(event))?,
        };
        line.push('\n');
        Ok(line)
    }
}

/// docker's default line; the time in the local zone, attributes sorted by key.
fn default_line(event: &Event) -> String {
    let nanos = if event.time_nano != 0 {
        event.time_nano
    } else {
        event.time.saturating_mul(1_000_000_000)
    };
    let time = chrono::DateTime::from_timestamp_nanos(nanos)
        .with_timezone(&chrono::Local)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut line = format!("{time} {} {} {}", event.kind, event.action, event.actor.id);
    if !event.actor.attributes.is_empty() {
        let attrs: Vec<String> = event
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}

/// The event as a Go template sees docker's `events.Message`: by its Go field names.
fn go_fields(event: &Event) -> Value {
    json!({
        "Status": event.status,
        "ID": event.id,
        "From": event.from,
        "Type": event.kind.as_str(),
        "Action": event.action,
        "Actor": {"ID": event.actor.id, "Attributes": event.actor.attributes},
        "Scope": event.scope,
        "Time": event.time,
        "TimeNano": event.time_nano,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use berth_engine::events::{Action, EventType};

    use super::*;

    fn event() -> Event {
        let attrs = BTreeMap::from([
            ("name".to_string(), "web".to_string()),
            ("image".to_string(), "busybox".to_string()),
            ("app".to_string(), "shop".to_string()),
        ]);
        Event::at(
            1_796_416_265_123_456_789,
            EventType::Container,
            &Action::Start,
            "3f2a",
            attrs,
        )
    }

    #[test]
    fn default_line_sorts_attributes() {
        let line = default_line(&event());
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(
            rest,
            "container start 3f2a (app=shop, image=busybox, name=web)"
        );
        let parsed = chrono::DateTime::parse_from_rfc3339(time).unwrap();
        assert_eq!(
            parsed.timestamp_nanos_opt().unwrap(),
            1_796_416_265_123_456_789
        );
        assert!(time.contains(".123456789"), "{time}");
    }

    #[test]
    fn templates_see_go_names_and_json_sees_json_names() {
        let e = event();
        let t = Render::new(Some(
            "{{.Type}} {{.Status}} {{.Actor.Attributes.name}} {{.TimeNano}}",
        ))
        .unwrap();
        assert_eq!(
            t.line(&e).unwrap(),
            "container start web 1796416265123456789\n"
        );
        for json in ["json", "{{json .}}"] {
            let line = Render::new(Some(json)).unwrap().line(&e).unwrap();
            assert_eq!(line, format!("{}\n", serde_json::to_string(&e).unwrap()));
        }
    }
}
