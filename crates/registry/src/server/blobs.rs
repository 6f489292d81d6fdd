//! Blob GET (with `Range` → 206), HEAD and DELETE.

use std::io::{Read, SeekFrom};
use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, Method, Response, StatusCode};
use berth_image::Digest;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::server::error::ApiError;
use crate::server::routes::authorize;
use crate::server::App;

pub(crate) fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse::<Digest>()
        .map_err(|e| ApiError::digest_invalid(e.to_string()))
}

/// A digest that names something to look up (GET, HEAD, DELETE). A well-formed digest of an
/// algorithm this registry does not store (`sha512:…`) names nothing here: `unknown` (a 404,
/// as distribution answers); a malformed one is a 400.
pub(crate) fn lookup_digest(
    s: &str,
    unknown: impl FnOnce() -> ApiError,
) -> Result<Digest, ApiError> {
    match s.parse::<Digest>() {
        Ok(d) => Ok(d),
        Err(berth_image::digest::DigestError::Algorithm(_)) if well_formed(s) => Err(unknown()),
        Err(e) => Err(ApiError::digest_invalid(e.to_string())),
    }
}

/// The OCI digest grammar: `algorithm ":" encoded`, algorithm = components of `[a-z0-9]+`
/// joined by one of `+._-`, encoded = `[a-zA-Z0-9=_-]+`.
fn well_formed(s: &str) -> bool {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    let component = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    algorithm.split(['+', '.', '_', '-']).all(component)
        && !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

/// `BLOB_UNKNOWN` for a digest this registry cannot hold.
fn foreign_blob(s: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "BLOB_UNKNOWN",
        "blob unknown to registry",
    )
    .detail(serde_json::json!({ "digest": s }))
}

pub(crate) async fn handle(
    app: &Arc<App>,
    parts: &Parts,
    name: &str,
    digest: &str,
) -> Result<Response<Body>, ApiError> {
    let m = &parts.method;
    if m == Method::DELETE {
        authorize(app, parts, Some((name, &["delete"]))).await?;
        let d = lookup_digest(digest, || foreign_blob(digest))?;
        let (store, name2, d2) = (app.store.clone(), name.to_owned(), d.clone());
        let removed = tokio::task::spawn_blocking(move || store.unlink_blob(&name2, &d2))
            .await
            .map_err(|e| ApiError::internal("storage task", e))?
            .map_err(|e| ApiError::internal("delete blob", e))?;
        if !removed {
            return Err(ApiError::blob_unknown(&d));
        }
        return Ok(Response::builder()
            .status(StatusCode::ACCEPTED)
            .header(header::CONTENT_LENGTH, 0)
            .body(Body::empty())
            .unwrap_or_default());
    }
    if m != Method::GET && m != Method::HEAD {
        return Err(ApiError::unsupported());
    }
    authorize(app, parts, Some((name, &["pull"]))).await?;
    let d = lookup_digest(digest, || foreign_blob(digest))?;
    let (store, name2, d2) = (app.store.clone(), name.to_owned(), d.clone());
    let found = tokio::task::spawn_blocking(move || {
        if !store.blob_in_repo(&name2, &d2) {
            return None;
        }
        Some((store.blob_local_path(&d2), store.blob_size(&d2)?))
    })
    .await
    .map_err(|e| ApiError::internal("storage task", e))?;
    let Some((local, size)) = found else {
        return Err(ApiError::blob_unknown(&d));
    };
    let range = match parts
        .headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    {
        Some(r) => Some(parse_range(r, size).ok_or_else(|| {
            ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UNKNOWN",
                "requested range not satisfiable",
            )
            .header(header::CONTENT_RANGE, format!("bytes */{size}"))
        })?),
        None => None,
    };
    let (status, start, len) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, size),
    };
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, len)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"{d}\""))
        .header("Docker-Content-Digest", d.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    if m == Method::HEAD {
        // A pusher HEADs a blob it is about to reference: restart its GC grace period.
        let store = app.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.touch_blob(&d)).await;
        return Ok(builder.body(Body::empty()).unwrap_or_default());
    }
    let body = match local {
        Some(path) => {
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|_| ApiError::blob_unknown(&d))?;
            if start > 0 {
                file.seek(SeekFrom::Start(start))
                    .await
                    .map_err(|e| ApiError::internal("seek blob", e))?;
            }
            Body::from_stream(ReaderStream::with_capacity(file.take(len), 256 << 10))
        }
        None => remote_body(app, d, start, len).await?,
    };
    Ok(builder.body(body).unwrap_or_default())
}

/// Streams `len` bytes of a blob from a blocking reader (an object store's response) through
/// a small channel: at most a few chunks are in memory, whatever the blob's size.
async fn remote_body(app: &Arc<App>, d: Digest, start: u64, len: u64) -> Result<Body, ApiError> {
    let (store, d2) = (app.store.clone(), d.clone());
    let reader = tokio::task::spawn_blocking(move || store.blob_reader(&d2, start, Some(len)))
        .await
        .map_err(|e| ApiError::internal("storage task", e))?
        .map_err(|e| ApiError::internal("read blob", e))?
        .ok_or_else(|| ApiError::internal("read blob", "the blob vanished"))?;
    // A bounded in-memory pipe: the blocking side waits while the client is slow.
    let (mut pipe, out) = tokio::io::duplex(256 << 10);
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut buf = vec![0u8; 256 << 10];
        let mut left = len;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match reader.read(&mut buf[..want]) {
                Ok(0) => 0,
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(digest = %d, error = %e, "reading a blob from the store failed");
                    0
                }
            };
            // A short body: the client sees fewer bytes than Content-Length and retries.
            if n == 0 {
                return;
            }
            // The client went away: stop reading.
            if rt.block_on(pipe.write_all(&buf[..n])).is_err() {
                return;
            }
            left -= n as u64;
        }
    });
    Ok(Body::from_stream(ReaderStream::with_capacity(
        out,
        256 << 10,
    )))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` against `size` → inclusive (start, end).
pub(crate) fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size - 1)
        }
        (a, "") => (a.parse().ok()?, size - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
