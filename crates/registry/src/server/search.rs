//! Docker Hub's search API, `GET /v1/search?q=TERM&n=N&page=P`: what `docker search
//! REGISTRY/TERM` and `berth search REGISTRY/TERM` ask. The repositories whose name contains
//! the term (any case), of those the caller may pull: the public ones, and a signed-in user's
//! own private ones.

use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{Response, StatusCode};
use serde_json::json;

use crate::server::error::ApiError;
use crate::server::routes::{identify, json_response};
use crate::server::App;

/// Docker Hub's page size bounds.
const DEFAULT_N: usize = 25;
const MAX_N: usize = 100;

pub(crate) async fn handle(app: &Arc<App>, parts: &Parts) -> Result<Response<Body>, ApiError> {
    let bad = |why: &str| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", why);
    let mut query = String::new();
    let mut n = DEFAULT_N;
    let mut page = 1usize;
    for (k, v) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "q" => query = v.into_owned(),
            "n" => {
                n = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_N).contains(n))
                    .ok_or_else(|| bad("n must be a number from 1 to 100"))?
            }
            "page" => {
                page = v
                    .parse::<usize>()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| bad("page must be a number from 1"))?
            }
            _ => {}
        }
    }
    // A token's grants are for repositories it names; searching is the user's own right.
    let user = identify(app, &parts.headers, None).await?.user;
    let term = query.to_lowercase();
    let store = app.clone();
    let hits = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<String>> {
        Ok(store
            .store
            .repositories()?
            .into_iter()
            .filter(|r| r.contains(&term))
            .filter(|r| store.access.allowed(&store.store, &user, r, "pull"))
            .collect())
    })
    .await
    .map_err(|e| ApiError::internal("search", e))?
    .map_err(|e| ApiError::internal("search", e))?;
    let total = hits.len();
    let results: Vec<_> = hits
        .iter()
        .skip((page - 1).saturating_mul(n))
        .take(n)
        .map(|name| {
            json!({
                "name": name,
                "description": "",
                "star_count": 0,
                "is_official": false,
                "is_automated": false,
            })
        })
        .collect();
    let body = json!({
        "query": query,
        "num_results": total,
        "num_pages": total.div_ceil(n).max(1),
        "page": page,
        "page_size": n,
        "results": results,
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}
