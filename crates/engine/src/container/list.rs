//! `ps`: containers with docker's columns and filters.

use berth_store::ContainerRecord;
use berth_store::ContainerState;

use super::health::{Health, HealthStatus};
use super::ContainerConfig;
use crate::{Engine, EngineError};

/// `ps -f` filters, parsed at the edge.
#[derive(Debug, Clone, Default)]
pub struct ContainerFilter {
    pub status: Vec<ContainerState>,
    pub name: Vec<String>,
    pub id: Vec<String>,
    pub label: Vec<String>,
    pub ancestor: Vec<String>,
    pub exited: Vec<i64>,
    /// `health=starting|healthy|unhealthy|none`.
    pub health: Vec<String>,
}

impl ContainerFilter {
    pub fn parse(filters: &[String]) -> Result<Self, EngineError> {
        let mut f = Self::default();
        for raw in filters {
            let (k, v) = crate::filter::split(raw)?;
            match k {
                "status" => {
                    let state = v.parse::<ContainerState>().map_err(|_| {
                        let all: Vec<&str> =
                            ContainerState::ALL.iter().map(|s| s.as_str()).collect();
                        EngineError::InvalidArgument(format!(
                            "invalid filter 'status={v}': use one of {}",
                            all.join(", ")
                        ))
                    })?;
                    f.status.push(state);
                }
                "name" => f.name.push(v.to_string()),
                "id" => f.id.push(v.to_string()),
                "label" => f.label.push(v.to_string()),
                "ancestor" => f.ancestor.push(v.to_string()),
                "health" => {
                    const STATES: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];
                    if !STATES.contains(&v) {
                        return Err(EngineError::InvalidArgument(format!(
                            "invalid filter 'health={v}': use one of {}",
                            STATES.join(", ")
                        )));
                    }
                    f.health.push(v.to_string());
                }
                "exited" => f.exited.push(v.parse().map_err(|_| {
                    EngineError::InvalidArgument(format!(
                        "invalid filter 'exited={v}': not a number"
                    ))
                })?),
                _ => {
                    return Err(EngineError::InvalidArgument(format!(
                    "invalid filter '{k}': ps accepts status, name, id, label, ancestor, exited and health"
                )))
                }
            }
        }
        Ok(f)
    }
}

/// One row of `ps`.
#[derive(Debug, Clone)]
pub struct ContainerSummary {
    pub record: ContainerRecord,
    pub config: ContainerConfig,
}

impl ContainerSummary {
    /// docker's `Status`: "Up 5 minutes (healthy)", "Exited (0) 2 hours ago", "Created".
    pub fn status(&self) -> String {
        let r = &self.record;
        match r.state {
            ContainerState::Running => {
                format!("Up {}{}", human_duration(ago(r.started_at)), health(r))
            }
            ContainerState::Paused => format!("Up {} (Paused)", human_duration(ago(r.started_at))),
            ContainerState::Restarting => format!(
                "Restarting ({}) {} ago",
                r.exit_code,
                human_duration(ago(r.finished_at))
            ),
            ContainerState::Exited if r.finished_at > 0 => format!(
                "Exited ({}) {} ago",
                r.exit_code,
                human_duration(ago(r.finished_at))
            ),
            ContainerState::Created | ContainerState::Exited => "Created".into(),
            ContainerState::Dead => "Dead".into(),
            ContainerState::Removing => "Removal In Progress".into(),
        }
    }
}

fn ago(nanos: i64) -> i64 {
    (chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() - nanos) / 1_000_000_000
}

/// The healthcheck's part of a running container's STATUS, as docker writes it.
fn health(r: &berth_store::ContainerRecord) -> &'static str {
    match Health::from_json(&r.health).map(|h| h.status) {
        Some(HealthStatus::Starting) => " (health: starting)",
        Some(HealthStatus::Healthy) => " (healthy)",
        Some(HealthStatus::Unhealthy) => " (unhealthy)",
        None => "",
    }
}

/// `units.HumanDuration`: "Less than a second", "About a minute", "11 months", …
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let minutes = s / 60;
    // go-units rounds hours to the nearest.
    let hours = (s + 1800) / 3600;
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", s / 3600 / 24 / 365),
    }
}

impl Engine {
    /// Containers, newest first; only running ones unless `all`.
    pub fn containers(
        &self,
        all: bool,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let records = self.reconcile_all()?;
        let mut ancestors = Vec::new();
        for a in &filter.ancestor {
            ancestors.push(self.resolve_image(a)?.to_string());
        }
        let mut out = Vec::new();
        for rec in records {
            let running = rec.state.is_active();
            let filtered = !filter.status.is_empty() || !filter.exited.is_empty();
            if !all && !running && !filtered {
                continue;
            }
            if !filter.status.is_empty() && !filter.status.contains(&rec.state) {
                continue;
            }
            if !filter.exited.is_empty()
                && (rec.state != ContainerState::Exited || !filter.exited.contains(&rec.exit_code))
            {
                continue;
            }
            if !filter.name.is_empty()
                && !filter
                    .name
                    .iter()
                    .any(|n| rec.name.contains(n.trim_start_matches('/')))
            {
                continue;
            }
            if !filter.id.is_empty() && !filter.id.iter().any(|p| rec.id.starts_with(p.as_str())) {
                continue;
            }
            if !ancestors.is_empty() && !ancestors.contains(&rec.image_id) {
                continue;
            }
            if !filter.health.is_empty() {
                let health = super::health::Health::from_json(&rec.health)
                    .map_or("none", |h| h.status.as_str());
                if !filter.health.iter().any(|h| h == health) {
                    continue;
                }
            }
            let config = ContainerConfig::from_record(&rec)?;
            let labels = &config.spec.labels;
            let label_ok = filter
                .label
                .iter()
                .all(|l| crate::filter::label_matches(|k| labels.get(k).map(String::as_str), l));
            if !label_ok {
                continue;
            }
            out.push(ContainerSummary {
                record: rec,
                config,
            });
        }
        Ok(out)
    }
}
