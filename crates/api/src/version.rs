//! API versions: berth speaks 1.44 and accepts requests for 1.24 and later. A path may start
//! with `/v1.NN` (docker clients always send one); without it the request is for the latest.
//! A client asking for a later version than ours is answered as ours, as docker does.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::error::ApiError;

pub use berth_engine::system::{API_VERSION, MIN_API_VERSION};

/// The version a request asked for in its path, `None` without a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requested(pub Option<(u32, u32)>);

/// `v1.44` → (1, 44).
fn parse(segment: &str) -> Option<(u32, u32)> {
    let (major, minor) = segment.strip_prefix('v')?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn ours(v: &str) -> (u32, u32) {
    parse(&format!("v{v}")).unwrap_or((1, 24))
}

/// Takes `/vX.Y` off the path (keeping the query) and notes it in the request's extensions.
fn strip(mut req: Request) -> Request {
    let path = req.uri().path();
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let requested = parse(first);
    if requested.is_some() {
        let new_path = format!("/{tail}");
        let pq = match req.uri().query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req.extensions_mut().insert(Requested(requested));
    req
}

/// Refuses versions older than ours supports, in docker's words.
async fn check(req: Request, next: Next) -> Response {
    if let Some(Requested(Some(v))) = req.extensions().get::<Requested>().copied() {
        let min = ours(MIN_API_VERSION);
        if v < min {
            return ApiError::bad_request(format!(
                "client version {}.{} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version",
                v.0, v.1
            ))
            .into_response();
        }
    }
    next.run(req).await
}

/// `routes` reachable with and without a version prefix.
pub fn versioned(routes: Router) -> Router {
    let inner = routes.layer(axum::middleware::from_fn(check));
    let svc = tower::ServiceBuilder::new()
        .map_request(strip)
        .service(inner);
    Router::new().fallback_service(svc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_segments_parse() {
        assert_eq!(parse("v1.44"), Some((1, 44)));
        assert_eq!(parse("v1.24"), Some((1, 24)));
        assert_eq!(parse("containers"), None);
        assert_eq!(parse("v1"), None);
        assert!(ours(MIN_API_VERSION) < ours(API_VERSION));
    }
}
