//! Request routing: `/v2/<name>/…` paths (names contain slashes, so they are split by hand),
//! authentication, and the dispatch to the handlers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;

use crate::server::access::Claims;
use crate::server::error::{blocking, ApiError};
use crate::server::{blobs, listing, manifests, token, uploads, App};

/// What a `/v2/` path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    Uploads(String),
    Upload(String, String),
    Referrers(String, String),
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/…)*`, at most 255 characters.
pub(crate) fn valid_name(name: &str) -> bool {
    name.len() <= 255 && !name.is_empty() && name.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`
pub(crate) fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || b"._-".contains(x))
}

/// Splits the path after `/v2/`.
pub(crate) fn parse_route(rest: &str) -> Option<Route> {
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name.to_owned()));
    }
    if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
        return Some(if id.is_empty() {
            Route::Uploads(name.to_owned())
        } else {
            Route::Upload(name.to_owned(), id.to_owned())
        });
    }
    if let Some(name) = rest.strip_suffix("/blobs/uploads") {
        return Some(Route::Uploads(name.to_owned()));
    }
    for (sep, make) in [
        (
            "/manifests/",
            Route::Manifest as fn(String, String) -> Route,
        ),
        ("/blobs/", Route::Blob),
        ("/referrers/", Route::Referrers),
    ] {
        if let Some((name, last)) = rest.rsplit_once(sep) {
            if !last.is_empty() && !last.contains('/') {
                return Some(make(name.to_owned(), last.to_owned()));
            }
        }
    }
    None
}

impl Route {
    fn name(&self) -> Option<&str> {
        match self {
            Route::Base | Route::Catalog => None,
            Route::Tags(n)
            | Route::Manifest(n, _)
            | Route::Blob(n, _)
            | Route::Uploads(n)
            | Route::Upload(n, _)
            | Route::Referrers(n, _) => Some(n),
        }
    }
}

/// The one handler: every request comes here.
pub(crate) async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let mut resp = match route(&app, &parts, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

async fn route(app: &Arc<App>, parts: &Parts, body: Body) -> Result<Response<Body>, ApiError> {
    let path = parts.uri.path();
    if path == "/token" {
        return token::handle(app, parts, body).await;
    }
    if path == "/v1/search" && parts.method == Method::GET {
        return super::search::handle(app, parts).await;
    }
    if super::web::claims(path) {
        return Ok(super::web::handle(app, parts, body).await);
    }
    let Some(rest) = path.strip_prefix("/v2/").or((path == "/v2").then_some("")) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "not found",
        ));
    };
    let route = parse_route(rest)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "not found"))?;
    let writes = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    if app.config.read_only && writes.contains(&parts.method) {
        // distribution's answer in read-only mode.
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "the registry is in read-only mode (maintenance): pulls only",
        ));
    }
    if let Some(name) = route.name() {
        if !valid_name(name) {
            return Err(ApiError::name_invalid(name));
        }
    }
    let m = &parts.method;
    match route {
        Route::Base if m == Method::GET || m == Method::HEAD => {
            authorize(app, parts, None).await?;
            Ok(json_response(StatusCode::OK, "{}".into()))
        }
        Route::Catalog if m == Method::GET => listing::catalog(app, parts).await,
        Route::Tags(name) if m == Method::GET => listing::tags(app, parts, &name).await,
        Route::Referrers(name, d) if m == Method::GET => {
            manifests::referrers(app, parts, &name, &d).await
        }
        Route::Manifest(name, r) => manifests::handle(app, parts, body, &name, &r).await,
        Route::Blob(name, d) => blobs::handle(app, parts, &name, &d).await,
        Route::Uploads(name) if m == Method::POST => uploads::start(app, parts, body, &name).await,
        Route::Upload(name, id) => uploads::handle(app, parts, body, &name, &id).await,
        _ => Err(ApiError::unsupported()),
    }
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Who is asking: the user (empty when anonymous), the token's claims, and whether any
/// credentials were presented at all.
pub(crate) struct Identity {
    pub user: String,
    pub claims: Option<Claims>,
    pub presented: bool,
}

pub(crate) fn challenge(
    app: &App,
    headers: &HeaderMap,
    scope: Option<&str>,
    error: Option<&str>,
) -> String {
    let realm = app.config.realm.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let scheme = if app.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{host}/token")
    });
    let mut out = format!(
        "Bearer realm=\"{realm}\",service=\"{}\"",
        app.access.service
    );
    if let Some(s) = scope {
        out.push_str(&format!(",scope=\"{s}\""));
    }
    if let Some(e) = error {
        out.push_str(&format!(",error=\"{e}\""));
    }
    out
}

/// Basic `user:password` from an Authorization header value.
pub(crate) fn basic_credentials(value: &str) -> Option<(String, String)> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case("basic ") {
        return None;
    }
    let encoded = &value[6..];
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// Reads the Authorization header; bad credentials are a 401.
pub(crate) async fn identify(
    app: &Arc<App>,
    headers: &HeaderMap,
    scope: Option<&str>,
) -> Result<Identity, ApiError> {
    let anonymous = Identity {
        user: String::new(),
        claims: None,
        presented: false,
    };
    if !app.access.enabled() {
        return Ok(anonymous);
    }
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(anonymous);
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        let claims = app.access.verify(token.trim()).ok_or_else(|| {
            ApiError::unauthorized(challenge(app, headers, scope, Some("invalid_token")))
        })?;
        return Ok(Identity {
            user: claims.sub.clone(),
            claims: Some(claims),
            presented: true,
        });
    }
    let bad = || ApiError::unauthorized(challenge(app, headers, scope, None));
    let (user, password) = basic_credentials(value).ok_or_else(bad)?;
    let checker = app.clone();
    let u = user.clone();
    let ok = tokio::task::spawn_blocking(move || checker.access.check_password(&u, &password))
        .await
        .unwrap_or(false);
    if !ok {
        return Err(bad());
    }
    Ok(Identity {
        user,
        claims: None,
        presented: true,
    })
}

/// Checks that the requester may do `actions` on `repo` (or just reach `/v2/` when `None`);
/// returns the user. Anonymous requesters get a 401 challenge, users a 403.
pub(crate) async fn authorize(
    app: &Arc<App>,
    parts: &Parts,
    target: Option<(&str, &[&str])>,
) -> Result<String, ApiError> {
    let scope = target.map(|(repo, actions)| format!("repository:{repo}:{}", actions.join(",")));
    let id = identify(app, &parts.headers, scope.as_deref()).await?;
    if !app.access.enabled() {
        return Ok(id.user);
    }
    let Some((repo, actions)) = target else {
        return if id.presented {
            Ok(id.user)
        } else {
            Err(ApiError::unauthorized(challenge(
                app,
                &parts.headers,
                None,
                None,
            )))
        };
    };
    // The policy reads the repository's settings from the store, which may be a remote
    // bucket: not on the async threads.
    let (checker, repo_owned) = (app.clone(), repo.to_owned());
    let wanted: Vec<String> = actions.iter().map(|a| (*a).to_owned()).collect();
    let (id, allowed) = blocking(move || {
        let actions: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let allowed = may(&checker, &id, &repo_owned, &actions);
        Ok((id, allowed))
    })
    .await?;
    if allowed {
        return Ok(id.user);
    }
    if !id.user.is_empty() {
        return Err(ApiError::denied(repo));
    }
    let error = id.presented.then_some("insufficient_scope");
    Err(ApiError::unauthorized(challenge(
        app,
        &parts.headers,
        scope.as_deref(),
        error,
    )))
}

/// The policy, narrowed by the token's grants when a token was used.
pub(crate) fn may(app: &App, id: &Identity, repo: &str, actions: &[&str]) -> bool {
    actions.iter().all(|action| {
        let granted = id.claims.as_ref().is_none_or(|c| {
            c.access.iter().any(|g| {
                g.kind == "repository"
                    && g.name == repo
                    && g.actions.iter().any(|a| a == action || a == "*")
            })
        });
        granted && app.access.allowed(&app.store, &id.user, repo, action)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_split_names_with_slashes() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(parse_route(""), Some(Route::Base));
        assert_eq!(parse_route("_catalog"), Some(Route::Catalog));
        assert_eq!(
            parse_route("a/b/c/tags/list"),
            Some(Route::Tags("a/b/c".into()))
        );
        assert_eq!(
            parse_route("alice/app/manifests/latest"),
            Some(Route::Manifest("alice/app".into(), "latest".into()))
        );
        assert_eq!(
            parse_route(&format!("x/blobs/{d}")),
            Some(Route::Blob("x".into(), d.into()))
        );
        assert_eq!(
            parse_route("x/y/blobs/uploads/"),
            Some(Route::Uploads("x/y".into()))
        );
        assert_eq!(
            parse_route("x/blobs/uploads/abc"),
            Some(Route::Upload("x".into(), "abc".into()))
        );
        assert_eq!(
            parse_route(&format!("x/referrers/{d}")),
            Some(Route::Referrers("x".into(), d.into()))
        );
        assert_eq!(parse_route("x/unknown"), None);
    }

    #[test]
    fn names_and_tags_follow_the_spec() {
        for good in ["a", "alice/app", "a.b/c_d/e__f/g-h", "a--b", "x9/0y"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "a/../b", "_a", "a._b", "a___b", "..",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_tag("v1.0_rc-1") && valid_tag("_x") && !valid_tag(".x") && !valid_tag(""));
        assert!(!valid_tag(&"x".repeat(129)));
    }
}
