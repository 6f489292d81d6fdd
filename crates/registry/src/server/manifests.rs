//! Manifests by tag or digest (GET, HEAD, PUT, DELETE) and the referrers API.

use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, Method, Response, StatusCode};
use berth_image::Digest;
use serde_json::json;

use crate::manifest::{parse_manifest, Descriptor, Manifest, MAX_MANIFEST_SIZE, OCI_INDEX};
use crate::server::blobs::{lookup_digest, parse_digest};
use crate::server::body::{read_limited, BodyError};
use crate::server::error::{blocking, ApiError};
use crate::server::routes::{authorize, valid_tag};
use crate::server::App;

/// A manifest reference: a digest or a tag.
enum Target {
    Digest(Digest),
    Tag(String),
}

/// The target of a GET, HEAD or DELETE: what cannot name a manifest here (a tag that is not
/// a valid tag, a digest of an algorithm this registry does not store) names none — 404
/// `MANIFEST_UNKNOWN`, as distribution answers; only a malformed digest is a 400.
fn lookup_target(reference: &str) -> Result<Target, ApiError> {
    if reference.contains(':') {
        return lookup_digest(reference, || ApiError::manifest_unknown(reference))
            .map(Target::Digest);
    }
    if !valid_tag(reference) {
        return Err(ApiError::manifest_unknown(reference));
    }
    Ok(Target::Tag(reference.to_owned()))
}

fn target(reference: &str) -> Result<Target, ApiError> {
    if reference.contains(':') {
        return Ok(Target::Digest(parse_digest(reference)?));
    }
    if !valid_tag(reference) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
            "manifest tag did not match URI",
        )
        .detail(json!({ "tag": reference })));
    }
    Ok(Target::Tag(reference.to_owned()))
}

pub(crate) async fn handle(
    app: &Arc<App>,
    parts: &Parts,
    body: Body,
    name: &str,
    reference: &str,
) -> Result<Response<Body>, ApiError> {
    let m = &parts.method;
    if m == Method::GET || m == Method::HEAD {
        authorize(app, parts, Some((name, &["pull"]))).await?;
        let (app2, name2, reference2) = (app.clone(), name.to_owned(), reference.to_owned());
        let head = m == Method::HEAD;
        return blocking(move || get(&app2, head, &name2, &reference2)).await;
    }
    if m == Method::PUT {
        authorize(app, parts, Some((name, &["pull", "push"]))).await?;
        return put(app, parts, body, name, reference).await;
    }
    if m == Method::DELETE {
        authorize(app, parts, Some((name, &["delete"]))).await?;
        let target = lookup_target(reference)?;
        let (store, name2) = (app.store.clone(), name.to_owned());
        let removed = blocking(move || {
            match target {
                Target::Digest(d) => store.delete_manifest(&name2, &d),
                Target::Tag(t) => store.delete_tag(&name2, &t),
            }
            .map_err(|e| ApiError::internal("delete manifest", e))
        })
        .await?;
        if !removed {
            return Err(ApiError::manifest_unknown(reference));
        }
        return Ok(Response::builder()
            .status(StatusCode::ACCEPTED)
            .header(header::CONTENT_LENGTH, 0)
            .body(Body::empty())
            .unwrap_or_default());
    }
    Err(ApiError::unsupported())
}

fn get(app: &App, head: bool, name: &str, reference: &str) -> Result<Response<Body>, ApiError> {
    let d = match lookup_target(reference)? {
        Target::Digest(d) => d,
        Target::Tag(t) => app
            .store
            .resolve_tag(name, &t)
            .ok_or_else(|| ApiError::manifest_unknown(reference))?,
    };
    let (bytes, media_type) = app
        .store
        .read_manifest(name, &d)
        .map_err(|e| ApiError::internal("read manifest", e))?
        .ok_or_else(|| ApiError::manifest_unknown(reference))?;
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, media_type)
        .header(header::CONTENT_LENGTH, bytes.len())
        .header(header::ETAG, format!("\"{d}\""))
        .header("Docker-Content-Digest", d.to_string());
    let body = if head {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    Ok(builder.body(body).unwrap_or_default())
}

async fn put(
    app: &Arc<App>,
    parts: &Parts,
    body: Body,
    name: &str,
    reference: &str,
) -> Result<Response<Body>, ApiError> {
    let target = target(reference)?;
    let bytes = read_limited(body, MAX_MANIFEST_SIZE as usize)
        .await
        .map_err(|e| {
            let message = match e {
                BodyError::TooLarge(_) => format!(
                    "manifest is larger than the registry's limit of {} MiB",
                    MAX_MANIFEST_SIZE >> 20
                ),
                BodyError::Read(e) => format!("manifest body: {e}"),
            };
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", message)
        })?
        .to_vec();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (manifest, media_type) = parse_manifest(&bytes, content_type.as_deref())
        .map_err(|e| ApiError::manifest_invalid(e.to_string()))?;
    let digest = Digest::of(&bytes);
    if let Target::Digest(want) = &target {
        if *want != digest {
            return Err(ApiError::digest_invalid(format!(
                "manifest digest {digest} does not match {want} in the URL"
            )));
        }
    }
    let tag = match &target {
        Target::Tag(t) => Some(t.clone()),
        Target::Digest(_) => None,
    };
    let subject = manifest.subject().map(|s| s.digest.clone());
    let referrer = subject.as_ref().map(|_| {
        let mut desc = Descriptor::new(&media_type, digest.clone(), bytes.len() as u64);
        desc.artifact_type = manifest.artifact_type().map(str::to_owned);
        desc.annotations = manifest.annotations().clone();
        desc
    });
    let user = crate::server::routes::identify(app, &parts.headers, None)
        .await?
        .user;
    let (app2, name2, media2) = (app.clone(), name.to_owned(), media_type.clone());
    let private = app.access.private_by_default;
    let manifest2 = manifest.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let store = &app2.store;
        let internal = |e| ApiError::storage("store manifest", e);
        // Checked and published under one guard: gc cannot remove a blob in between.
        let _guard = store.publish_guard();
        check_references(&app2, &name2, &manifest2)?;
        store
            .ensure_repo_meta(&name2, &user, private)
            .map_err(internal)?;
        let link = subject.as_ref().zip(referrer.as_ref());
        store
            .put_manifest_locked(&name2, &bytes, &media2, tag.as_deref(), link)
            .map_err(internal)
    })
    .await
    .map_err(|e| ApiError::internal("store manifest", e))??;
    let mut builder = Response::builder()
        .status(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/manifests/{stored}"))
        .header(header::CONTENT_LENGTH, 0)
        .header("Docker-Content-Digest", stored.to_string());
    if let Some(s) = manifest.subject() {
        builder = builder.header("OCI-Subject", s.digest.to_string());
    }
    Ok(builder.body(Body::empty()).unwrap_or_default())
}

/// Everything a manifest references must already be in the repository (the subject excepted).
fn check_references(app: &App, name: &str, manifest: &Manifest) -> Result<(), ApiError> {
    let missing = |d: &Digest| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .detail(json!({ "digest": d.to_string() }))
    };
    match manifest {
        Manifest::Image(m) => {
            for d in std::iter::once(&m.config).chain(&m.layers) {
                if !d.urls.is_empty() {
                    continue;
                }
                if !app.store.blob_in_repo(name, &d.digest) {
                    return Err(missing(&d.digest));
                }
                // A descriptor whose size lies would make clients fail (or over-read) later.
                if let Some(actual) = app.store.blob_size(&d.digest) {
                    if actual != d.size {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "MANIFEST_INVALID",
                            "a descriptor's size does not match its blob",
                        )
                        .detail(json!({
                            "digest": d.digest.to_string(),
                            "size": d.size,
                            "actual": actual,
                        })));
                    }
                }
            }
        }
        Manifest::Index(i) => {
            for d in &i.manifests {
                if app.store.manifest_type(name, &d.digest).is_none() {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "MANIFEST_BLOB_UNKNOWN",
                        "manifest unknown to registry",
                    )
                    .detail(json!({ "digest": d.digest.to_string() })));
                }
            }
        }
    }
    Ok(())
}

/// `GET /v2/<name>/referrers/<digest>[?artifactType=…]`: an OCI index of the manifests whose
/// subject is `digest`.
pub(crate) async fn referrers(
    app: &Arc<App>,
    parts: &Parts,
    name: &str,
    digest: &str,
) -> Result<Response<Body>, ApiError> {
    authorize(app, parts, Some((name, &["pull"]))).await?;
    let d = parse_digest(digest)?;
    let filter = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "artifactType")
        .map(|(_, v)| v.into_owned());
    let (store, name2) = (app.store.clone(), name.to_owned());
    let mut manifests = blocking(move || {
        store
            .referrers(&name2, &d)
            .map_err(|e| ApiError::internal("list referrers", e))
    })
    .await?;
    if let Some(t) = &filter {
        manifests.retain(|m| m.artifact_type.as_deref() == Some(t.as_str()));
    }
    let index = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, OCI_INDEX);
    if filter.is_some() {
        builder = builder.header("OCI-Filters-Applied", "artifactType");
    }
    Ok(builder
        .body(Body::from(index.to_string()))
        .unwrap_or_default())
}
