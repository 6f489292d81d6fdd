//! `GET /containers/{id}/stats` (streamed every second, or one answer) and
//! `POST /containers/{id}/update`.

use std::io::Write;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::container::{StatsSample, UpdateOptions};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::Api;

#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    stream: Option<String>,
    #[serde(rename = "one-shot")]
    one_shot: Option<String>,
}

fn on(v: &Option<String>, default: bool) -> bool {
    match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => default,
        Some(v) => matches!(v, "1" | "true"),
    }
}

fn cpu(s: Option<&StatsSample>) -> Value {
    match s {
        Some(s) => json!({
            "cpu_usage": {"total_usage": s.cpu_total_ns, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "system_cpu_usage": s.system_cpu_ns,
            "online_cpus": s.online_cpus,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        }),
        None => json!({"cpu_usage": {"total_usage": 0}, "throttling_data": {}}),
    }
}

/// docker's stats JSON for `now`, with `before` as the previous sample.
fn stats_json(now: &StatsSample, before: Option<&StatsSample>) -> Value {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    json!({
        "read": time,
        "preread": if before.is_some() { time.clone() } else { "0001-01-01T00:00:00Z".into() },
        "id": now.id,
        "name": format!("/{}", now.name),
        "num_procs": 0,
        "pids_stats": {"current": now.pids},
        "cpu_stats": cpu(Some(now)),
        "precpu_stats": cpu(before),
        "memory_stats": {"usage": now.mem_usage, "limit": now.mem_limit, "stats": {}},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": now.block_read},
            {"major": 0, "minor": 0, "op": "write", "value": now.block_write},
        ]},
        "networks": {"eth0": {"rx_bytes": now.net_rx, "tx_bytes": now.net_tx,
            "rx_packets": 0, "tx_packets": 0, "rx_errors": 0, "tx_errors": 0,
            "rx_dropped": 0, "tx_dropped": 0}},
        "storage_stats": {},
    })
}

pub async fn stats(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<Response, ApiError> {
    let stream = on(&q.stream, true);
    let one_shot = on(&q.one_shot, false);
    let first = {
        let id = id.clone();
        api.run(move |e| e.stats_sample(&id)).await?
    };
    if !stream {
        let before = if one_shot {
            None
        } else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some(first)
        };
        let now = api.run(move |e| e.stats_sample(&id)).await?;
        return Ok(Json(stats_json(&now, before.as_ref())).into_response());
    }
    let (body, mut out, hangup) = crate::stream::body();
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        let mut before: Option<StatsSample> = None;
        let mut now = first;
        loop {
            let line = format!("{}\n", stats_json(&now, before.as_ref()));
            if out.write_all(line.as_bytes()).is_err() || hangup.is_cancelled() || !now.live {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
            match engine.stats_sample(&id) {
                Ok(next) => before = Some(std::mem::replace(&mut now, next)),
                Err(_) => return,
            }
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateBody {
    memory: i64,
    memory_swap: i64,
    nano_cpus: i64,
    cpu_shares: i64,
    pids_limit: Option<i64>,
    restart_policy: Option<super::create::ApiRestartPolicy>,
}

pub async fn update(
    State(api): State<Api>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: UpdateBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid update: {e}")))?;
    let restart = b
        .restart_policy
        .as_ref()
        .map(super::create::ApiRestartPolicy::policy)
        .transpose()?;
    let opts = UpdateOptions {
        memory: Some(b.memory).filter(|m| *m > 0),
        memory_swap: Some(b.memory_swap).filter(|m| *m != 0),
        cpus: Some(b.nano_cpus).filter(|n| *n > 0).map(|n| n as f64 / 1e9),
        cpu_shares: u64::try_from(b.cpu_shares).ok().filter(|s| *s > 0),
        pids_limit: b.pids_limit.filter(|p| *p != 0),
        restart,
    };
    api.run(move |e| e.update_container(&id, &opts)).await?;
    Ok(Json(json!({"Warnings": []})).into_response())
}
