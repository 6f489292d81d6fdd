//! Routes of the Engine API (filled in by their own change).

use axum::Router;

use crate::Api;

pub fn routes() -> Router<Api> {
    Router::new()
}
