//! The upload state machine: POST (session, single-POST with `?digest=`, or cross-repository
//! mount), PATCH (append; a `Content-Range` that does not follow is a 416), PUT `?digest=`
//! (complete, verify, publish), GET (status) and DELETE (cancel).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, Method, Response, StatusCode};
use berth_image::Digest;
use http_body_util::BodyExt;
use sha2::{Digest as _, Sha256};

use crate::server::blobs::parse_digest;
use crate::server::error::{blocking, ApiError};
use crate::server::routes::{authorize, challenge, identify, valid_name};
use crate::server::App;

/// An upload's running hash, kept between requests while the upload is idle. Only a cache:
/// without it the final PUT re-reads the upload from the store.
pub(crate) enum Slot {
    Busy,
    Idle {
        offset: u64,
        hash: Sha256,
        since: std::time::Instant,
    },
}

/// Idle hashes older than this are dropped once the cache holds more than
/// [`CACHE_PRUNE_ABOVE`]: uploads abandoned, or finished by another instance behind the same
/// load balancer, would otherwise stay forever.
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
const CACHE_PRUNE_ABOVE: usize = 256;

fn query(parts: &Parts) -> HashMap<String, String> {
    url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn progress_response(status: StatusCode, name: &str, id: &str, offset: u64) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::LOCATION, location(name, id))
        .header(header::RANGE, format!("0-{}", offset.saturating_sub(1)))
        .header(header::CONTENT_LENGTH, 0)
        .header("Docker-Upload-UUID", id)
        .body(Body::empty())
        .unwrap_or_default()
}

fn created(name: &str, d: &Digest) -> Response<Body> {
    Response::builder()
        .status(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/blobs/{d}"))
        .header(header::CONTENT_LENGTH, 0)
        .header("Docker-Content-Digest", d.to_string())
        .body(Body::empty())
        .unwrap_or_default()
}

/// `POST /v2/<name>/blobs/uploads/`
pub(crate) async fn start(
    app: &Arc<App>,
    parts: &Parts,
    body: Body,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    let user = authorize(app, parts, Some((name, &["pull", "push"]))).await?;
    let q = query(parts);
    {
        let (app2, name2) = (app.clone(), name.to_owned());
        let private = app.access.private_by_default;
        blocking(move || {
            app2.store
                .ensure_repo_meta(&name2, &user, private)
                .map_err(|e| ApiError::internal("repository metadata", e))
        })
        .await?;
    }
    if let (Some(mount), Some(from)) = (q.get("mount"), q.get("from")) {
        let d = parse_digest(mount)?;
        let mountable = valid_name(from) && in_repo(app, from, &d).await?;
        if mountable {
            mount_challenge(app, parts, name, from).await?;
        }
        if mountable && authorize(app, parts, Some((from, &["pull"]))).await.is_ok() {
            let (app2, name2, d2) = (app.clone(), name.to_owned(), d.clone());
            blocking(move || {
                app2.store
                    .link_blob(&name2, &d2)
                    .map_err(|e| ApiError::internal("mount blob", e))
            })
            .await?;
            return Ok(created(name, &d));
        }
    }
    let digest = q.get("digest").map(|d| parse_digest(d)).transpose()?;
    let (store, name2) = (app.store.clone(), name.to_owned());
    let id = blocking(move || {
        store
            .create_upload(&name2)
            .map_err(|e| ApiError::internal("create upload", e))
    })
    .await?;
    let Some(d) = digest else {
        return Ok(progress_response(StatusCode::ACCEPTED, name, &id, 0));
    };
    let mut slot = SlotGuard::take(app, &id, 0)?;
    append(app, &id, &mut slot, body).await?;
    finish(app, name, &id, slot, d).await
}

/// Whether blob `d` may be read through `repo` (asked of the store off the async threads).
async fn in_repo(app: &Arc<App>, repo: &str, d: &Digest) -> Result<bool, ApiError> {
    let (store, repo, d) = (app.store.clone(), repo.to_owned(), d.clone());
    blocking(move || Ok(store.blob_in_repo(&repo, &d))).await
}

/// A mount the caller's user may make but its token does not allow (it was asked for the
/// target's scope only): a 401 whose challenge names both scopes, as distribution answers, so
/// the client fetches a token for both and mounts — instead of uploading the blob again.
async fn mount_challenge(
    app: &Arc<App>,
    parts: &Parts,
    name: &str,
    from: &str,
) -> Result<(), ApiError> {
    let id = identify(app, &parts.headers, None).await?;
    let Some(claims) = &id.claims else {
        return Ok(());
    };
    let token_pulls = claims.access.iter().any(|g| {
        g.kind == "repository"
            && g.name == from
            && g.actions.iter().any(|a| a == "pull" || a == "*")
    });
    if token_pulls {
        return Ok(());
    }
    // The policy reads the repository's settings from the store: off the async threads.
    let (app2, user, from2) = (app.clone(), id.user.clone(), from.to_owned());
    if !blocking(move || Ok(app2.access.allowed(&app2.store, &user, &from2, "pull"))).await? {
        return Ok(());
    }
    let scope = format!("repository:{name}:pull,push repository:{from}:pull");
    Err(ApiError::unauthorized(challenge(
        app,
        &parts.headers,
        Some(&scope),
        Some("insufficient_scope"),
    )))
}

/// PATCH, PUT, GET and DELETE on `/v2/<name>/blobs/uploads/<id>`.
pub(crate) async fn handle(
    app: &Arc<App>,
    parts: &Parts,
    body: Body,
    name: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    authorize(app, parts, Some((name, &["pull", "push"]))).await?;
    let (store, id2) = (app.store.clone(), id.to_owned());
    let (repo, offset) =
        blocking(move || store.upload_info(&id2).ok_or_else(ApiError::upload_unknown)).await?;
    if repo != name {
        return Err(ApiError::upload_unknown());
    }
    let m = &parts.method;
    if m == Method::GET {
        return Ok(progress_response(StatusCode::NO_CONTENT, name, id, offset));
    }
    if m == Method::DELETE {
        let (store, id2) = (app.store.clone(), id.to_owned());
        blocking(move || {
            store.remove_upload(&id2);
            Ok(())
        })
        .await?;
        app.uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        return Ok(Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Body::empty())
            .unwrap_or_default());
    }
    if m != Method::PATCH && m != Method::PUT {
        return Err(ApiError::unsupported());
    }
    let digest = if m == Method::PUT {
        let q = query(parts);
        let raw = q
            .get("digest")
            .ok_or_else(|| ApiError::digest_invalid("digest parameter missing"))?;
        Some(parse_digest(raw)?)
    } else {
        None
    };
    let range = content_range(parts)?;
    if let Some((start, _)) = range {
        if start != offset {
            return Err(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UPLOAD_INVALID",
                format!("content range starts at {start}, the upload holds {offset} bytes"),
            )
            .header(header::LOCATION, location(name, id))
            .header(header::RANGE, format!("0-{}", offset.saturating_sub(1)))
            .header(header::HeaderName::from_static("docker-upload-uuid"), id));
        }
    }
    let mut slot = SlotGuard::take(app, id, offset)?;
    let written = append(app, id, &mut slot, body).await?;
    if let Some((start, end)) = range {
        if written != end - start + 1 {
            return Err(ApiError::upload_invalid(format!(
                "content range {start}-{end} announced {} bytes, received {written}",
                end - start + 1
            )));
        }
    }
    match digest {
        Some(d) => finish(app, name, id, slot, d).await,
        None => Ok(progress_response(
            StatusCode::ACCEPTED,
            name,
            id,
            slot.offset,
        )),
    }
}

/// `Content-Range: a-b` (also `bytes a-b/*` and `bytes=a-b`), inclusive.
fn content_range(parts: &Parts) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(v) = parts.headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || ApiError::upload_invalid("malformed Content-Range");
    let s = v.to_str().map_err(|_| bad())?.trim();
    let s = s
        .strip_prefix("bytes=")
        .or_else(|| s.strip_prefix("bytes "))
        .unwrap_or(s);
    let s = s.split('/').next().unwrap_or("");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (u64, u64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

/// Holds an upload's hash while one request works on it; puts it back when dropped.
pub(crate) struct SlotGuard {
    app: Arc<App>,
    id: String,
    pub offset: u64,
    hash: Option<Sha256>,
}

impl SlotGuard {
    fn take(app: &Arc<App>, id: &str, offset: u64) -> Result<SlotGuard, ApiError> {
        let mut slots = app.uploads.lock().unwrap_or_else(|e| e.into_inner());
        let hash = match slots.insert(id.to_owned(), Slot::Busy) {
            Some(Slot::Busy) => {
                return Err(ApiError::upload_invalid(
                    "another request is writing this upload",
                ))
            }
            Some(Slot::Idle {
                offset: o, hash, ..
            }) if o == offset => Some(hash),
            None if offset == 0 => Some(Sha256::new()),
            _ => None,
        };
        Ok(SlotGuard {
            app: app.clone(),
            id: id.to_owned(),
            offset,
            hash,
        })
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut slots = self.app.uploads.lock().unwrap_or_else(|e| e.into_inner());
        // Still marked busy: nobody cancelled the upload meanwhile (a DELETE drops the entry).
        let busy = matches!(slots.get(&self.id), Some(Slot::Busy));
        match self.hash.take() {
            Some(hash) if busy => {
                if slots.len() > CACHE_PRUNE_ABOVE {
                    slots.retain(|_, s| match s {
                        Slot::Idle { since, .. } => since.elapsed() < CACHE_TTL,
                        Slot::Busy => true,
                    });
                }
                slots.insert(
                    self.id.clone(),
                    Slot::Idle {
                        offset: self.offset,
                        hash,
                        since: std::time::Instant::now(),
                    },
                );
            }
            _ => {
                slots.remove(&self.id);
            }
        }
    }
}

/// Streams the request body into the upload from a blocking thread, hashing as it goes;
/// returns the bytes appended. A chunk counts only when whole: after a failure the offset is
/// what the store holds and the running hash is dropped (the final PUT re-reads the upload).
async fn append(
    app: &Arc<App>,
    id: &str,
    slot: &mut SlotGuard,
    mut body: Body,
) -> Result<u64, ApiError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(32);
    let mut hash = slot.hash.take();
    let (store, id2, offset) = (app.store.clone(), id.to_owned(), slot.offset);
    let writer = tokio::task::spawn_blocking(move || {
        let result = (|| {
            let mut w = store.upload_writer(&id2, offset)?;
            let mut written = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                w.write_all(&chunk)?;
                if let Some(h) = hash.as_mut() {
                    h.update(&chunk);
                }
                written += chunk.len() as u64;
            }
            Ok::<_, std::io::Error>((w, written))
        })();
        (result, hash)
    });
    let mut body_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    if tx.send(data).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                body_error = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let (result, hash) = writer
        .await
        .map_err(|e| ApiError::internal("upload writer", e))?;
    let failure = match (result, body_error) {
        (Ok((w, written)), None) => {
            let (store, id2) = (app.store.clone(), id.to_owned());
            match blocking(move || {
                w.commit()
                    .map_err(|e| commit_error(&store, &id2, offset, e))
            })
            .await
            {
                Ok(()) => {
                    slot.offset += written;
                    slot.hash = hash;
                    return Ok(written);
                }
                Err(e) => e,
            }
        }
        // Dropping the writer abandons the chunk where the backend can.
        (Ok(_), Some(e)) => ApiError::upload_invalid(format!("request body: {e}")),
        (Err(e), _) => ApiError::storage(&format!("blob upload {id}"), e),
    };
    if failure.status() == StatusCode::INSUFFICIENT_STORAGE {
        // Keeping a session the store has no room for would hold the space that a retry
        // needs; the client starts again. The slot goes with it (its hash is gone).
        let (store, id2) = (app.store.clone(), id.to_owned());
        blocking(move || {
            store.remove_upload(&id2);
            Ok(())
        })
        .await?;
        return Err(failure);
    }
    let (store, id2) = (app.store.clone(), id.to_owned());
    slot.offset = blocking(move || Ok(store.upload_info(&id2).map_or(0, |i| i.1))).await?;
    Err(failure)
}

/// A chunk that could not be stored: another request (on another instance) wrote at the same
/// offset first, or the store failed.
fn commit_error(
    store: &crate::server::Storage,
    id: &str,
    offset: u64,
    e: std::io::Error,
) -> ApiError {
    if e.kind() != std::io::ErrorKind::AlreadyExists {
        return ApiError::storage(&format!("blob upload {id}"), e);
    }
    let now = store.upload_info(id).map_or(offset, |i| i.1);
    ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "BLOB_UPLOAD_INVALID",
        format!("another request wrote at offset {offset} of this upload first"),
    )
    .header(header::RANGE, format!("0-{}", now.saturating_sub(1)))
    .header(header::HeaderName::from_static("docker-upload-uuid"), id)
}

/// Verifies the upload against `d` and publishes it.
async fn finish(
    app: &Arc<App>,
    name: &str,
    id: &str,
    mut slot: SlotGuard,
    d: Digest,
) -> Result<Response<Body>, ApiError> {
    let hash = slot.hash.take();
    let (app2, id2, name2, d2) = (app.clone(), id.to_owned(), name.to_owned(), d.clone());
    blocking(move || {
        let mismatch = app2
            .store
            .commit_upload(&id2, &name2, &d2, hash)
            .map_err(|e| ApiError::internal("commit upload", e))?;
        match mismatch {
            None => Ok(()),
            Some(actual) => Err(ApiError::digest_invalid(format!(
                "provided digest {d2} does not match uploaded content sha256:{actual}"
            ))
            .detail(serde_json::json!({ "digest": d2.to_string() }))),
        }
    })
    .await?;
    drop(slot);
    Ok(created(name, &d))
}
