//! `GET /containers/{id}/logs`: the json log as docker's multiplexed frames (raw with a tty),
//! following while the container runs.

use std::io::Write;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_engine::container::{ContainerConfig, LogOptions};
use berth_runtime::stdio::jsonlog::LogStream;
use serde::Deserialize;

use crate::error::ApiError;
use crate::query::flag;
use crate::stream::Mux;
use crate::Api;

#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    #[serde(default, deserialize_with = "flag")]
    follow: bool,
    #[serde(default, deserialize_with = "flag")]
    stdout: bool,
    #[serde(default, deserialize_with = "flag")]
    stderr: bool,
    #[serde(default, deserialize_with = "flag")]
    timestamps: bool,
    since: Option<String>,
    until: Option<String>,
    tail: Option<String>,
}

/// docker's `since`/`until`: unix seconds, possibly with a fraction; 0 means unset.
fn time(v: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_empty() && *v != "0") else {
        return Ok(None);
    };
    let secs: f64 = v
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid time {v:?}: a unix timestamp")))?;
    let nanos = (secs * 1e9) as i64;
    Ok(Some(chrono::DateTime::from_timestamp_nanos(nanos)))
}

pub async fn logs(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    if !q.stdout && !q.stderr {
        return Err(ApiError::bad_request("you must choose at least one stream"));
    }
    let tail = match q.tail.as_deref() {
        None | Some("" | "all") => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("invalid tail {n:?}: a number or \"all\""))
        })?),
    };
    let rec = {
        let id = id.clone();
        api.run(move |e| e.reconciled(&id)).await?
    };
    let tty = ContainerConfig::from_json(&rec.config)?.spec.tty;
    let (body, out, hangup) = crate::stream::body();
    let opts = LogOptions {
        follow: q.follow,
        tail,
        since: time(q.since.as_deref())?,
        until: time(q.until.as_deref())?,
        cancel: hangup,
    };
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || {
        let mut stdout = Mux {
            stream: 1,
            inner: out.clone(),
        };
        let mut stderr = Mux {
            stream: 2,
            inner: out,
        };
        let result = engine.logs(&rec.id, &opts, |entry| {
            let (wanted, w) = match entry.stream {
                LogStream::Stdout => (q.stdout, &mut stdout),
                LogStream::Stderr => (q.stderr, &mut stderr),
            };
            if !wanted {
                return Ok(());
            }
            let mut line = String::new();
            if q.timestamps {
                line.push_str(
                    &entry
                        .time
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                );
                line.push(' ');
            }
            line.push_str(&entry.log);
            if tty {
                w.inner.write_all(line.as_bytes())
            } else {
                w.write_all(line.as_bytes())
            }
        });
        if let Err(e) = result {
            tracing::debug!(error = %e, "logs stream ended");
        }
    });
    let content_type = crate::stream::content_type(tty);
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}
