//! `ps`: containers with docker's columns and filters.

use berth_store::ContainerRecord;
use berth_store::ContainerState;

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
