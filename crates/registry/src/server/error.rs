//! Errors as the distribution spec words them: a status code and
//! `{"errors":[{"code":"BLOB_UNKNOWN","message":…,"detail":…}]}`.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_image::Digest;
use serde_json::{json, Value};

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS {path}: {reason}")]
    Tls {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("registry server: {0}")]
    Runtime(#[source] std::io::Error),
}

/// One failed request (boxed: it travels through many `Result`s).
#[derive(Debug)]
pub(crate) struct ApiError(Box<ApiErrorInner>);

#[derive(Debug)]
pub(crate) struct ApiErrorInner {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Value,
    headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError(Box::new(ApiErrorInner {
            status,
            code,
            message: message.into(),
            detail: Value::Null,
            headers: Vec::new(),
        }))
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.0.detail = detail;
        self
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.0.headers.push((name, value.into()));
        self
    }

    pub fn blob_unknown(d: &Digest) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .detail(json!({ "digest": d.to_string() }))
    }

    pub fn manifest_unknown(reference: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
        )
        .detail(json!({ "reference": reference }))
    }

    pub fn name_unknown(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        )
        .detail(json!({ "name": name }))
    }

    pub fn name_invalid(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            "invalid repository name",
        )
        .detail(json!({ "name": name }))
    }

    pub fn digest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
    }

    pub fn manifest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", message)
    }

    pub fn upload_unknown() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        )
    }

    pub fn upload_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", message)
    }

    pub fn unsupported() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "the operation is unsupported",
        )
    }

    pub fn denied(name: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "DENIED",
            "requested access to the resource is denied",
        )
        .detail(json!({ "name": name }))
    }

    pub fn unauthorized(challenge: String) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        )
        .header(axum::http::header::WWW_AUTHENTICATE, challenge)
    }

    /// A storage failure: a full disk (or quota) is the operator's to fix and says so; anything
    /// else is internal.
    pub fn storage(context: &str, e: std::io::Error) -> Self {
        if !is_storage_full(&e) {
            return Self::internal(context, e);
        }
        tracing::error!(error = %e, "{context}: storage full");
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "UNKNOWN",
            format!(
                "{context}: the registry's storage is full ({e}); nothing was kept — free space \
                 on the registry (or raise its quota) and push again"
            ),
        )
    }

    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN",
            format!("{context}: {e}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let inner = *self.0;
        let mut entry = json!({ "code": inner.code, "message": inner.message });
        if !inner.detail.is_null() {
            entry["detail"] = inner.detail;
        }
        let body = json!({ "errors": [entry] }).to_string();
        let mut resp = (inner.status, body).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in inner.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        resp
    }
}

/// Runs storage work off the async threads (a store may be remote); a task that panicked is
/// an internal error.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal("storage task", e))?
}

/// ENOSPC or EDQUOT.
pub(crate) fn is_storage_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}
