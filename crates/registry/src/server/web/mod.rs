//! The registry's web pages, Docker Hub in miniature: explore, search, a namespace's
//! repositories, a repository's tags, sign-in, and the owner's changes (visibility, tag
//! delete). Server-rendered HTML, the stylesheet embedded in the binary, no JavaScript.
//!
//! Who sees what is the protocol's policy ([`Access::allowed`](super::access::Access)): a
//! page lists a repository exactly when its visitor may pull it, a repository its visitor
//! may not see is a 404 (as one that does not exist), and changes are for whoever the
//! protocol lets push (visibility) or delete (tags). GETs never change anything; every POST
//! carries a CSRF token bound to the session ([`session`]).
//!
//! Paths: `/`, `/explore`, `/search?q=`, `/u/<namespace>`, `/r/<name>`, POST
//! `/r/<name>/-/visibility` and `/r/<name>/-/delete-tag` (`-` is never a name component),
//! `/login`, POST `/logout`, `/static/style.css`.

mod actions;
mod data;
mod html;
mod pages;
mod session;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};

use self::data::Viewer;
use self::html::{Frame, SignedIn};
use self::session::{Keys, Session};
use crate::server::routes::valid_name;
use crate::server::App;

const STYLE: &str = include_str!("style.css");

/// True for the paths the pages answer (none of them collides with the protocol's).
pub(crate) fn claims(path: &str) -> bool {
    matches!(path, "/" | "/login" | "/logout" | "/explore" | "/search")
        || ["/u/", "/r/", "/static/"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// Answers a page request; every failure is a page too (never the protocol's JSON errors).
pub(crate) async fn handle(app: &Arc<App>, parts: &Parts, body: Body) -> Response<Body> {
    let cx = Cx::new(app, parts).await;
    let path = parts.uri.path();
    let get = parts.method == Method::GET || parts.method == Method::HEAD;
    let post = parts.method == Method::POST;
    let result = if get {
        get_page(&cx, path).await
    } else if post {
        actions::post(&cx, path, body).await
    } else {
        Err(PageError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Not allowed",
            "this page answers GET (and its forms POST) only",
        ))
    };
    result.unwrap_or_else(|e| cx.error_page(e))
}

async fn get_page(cx: &Cx<'_>, path: &str) -> Result<Response<Body>, PageError> {
    match path {
        "/" => Ok(redirect(&match cx.user() {
            "" => "/explore".to_owned(),
            user => actions::home(user),
        })),
        "/explore" => {
            let page = page_param(cx.parts)?;
            let listing = cx
                .read(move |v| {
                    let anonymous = Viewer { user: "", ..v };
                    anonymous.list(|_| true, page)
                })
                .await?;
            Ok(cx.page(StatusCode::OK, "Explore", "", &pages::explore(&listing)))
        }
        "/search" => {
            let page = page_param(cx.parts)?;
            let q = query_param(cx.parts, "q").unwrap_or_default();
            let term = q.trim().to_lowercase();
            let listing = cx
                .read(move |v| v.list(|name| !term.is_empty() && name.contains(&term), page))
                .await?;
            let content = pages::search(q.trim(), &listing);
            Ok(cx.page(StatusCode::OK, "Search", &q, &content))
        }
        "/login" => actions::login_form(cx).await,
        "/static/style.css" => Ok(static_css()),
        _ => {
            if let Some(ns) = path.strip_prefix("/u/") {
                return namespace(cx, ns).await;
            }
            if let Some(name) = path.strip_prefix("/r/") {
                return repository(cx, name).await;
            }
            Err(PageError::not_found())
        }
    }
}

async fn namespace(cx: &Cx<'_>, ns: &str) -> Result<Response<Body>, PageError> {
    if ns.contains('/') || !valid_name(ns) {
        return Err(PageError::not_found());
    }
    let page = page_param(cx.parts)?;
    let owned = ns.to_owned();
    let listing = cx
        .read(move |v| {
            let mine = |name: &str| {
                name.split_once('/')
                    .is_some_and(|(first, _)| first == owned)
            };
            v.list(mine, page)
        })
        .await?;
    let own = cx.user() == ns;
    Ok(cx.page(StatusCode::OK, ns, "", &pages::namespace(ns, &listing, own)))
}

async fn repository(cx: &Cx<'_>, name: &str) -> Result<Response<Body>, PageError> {
    if !valid_name(name) {
        return Err(PageError::not_found());
    }
    let owned = name.to_owned();
    let (detail, delete, visibility) = cx
        .read(move |v| {
            Ok((
                v.detail(&owned)?,
                v.may_delete(&owned),
                v.may_set_visibility(&owned),
            ))
        })
        .await?;
    let detail = detail.ok_or_else(PageError::not_found)?;
    let app = cx.app;
    let mut controls = pages::Controls::default();
    // In read-only mode there are no forms: the frame's banner says why.
    if !app.access.enabled() {
        controls.note = Some(
            "This registry has no users: manage repositories with `berth registry repo`.".into(),
        );
    } else if !app.config.read_only && (delete || visibility) {
        controls.csrf = cx.session.as_ref().map(|s| cx.keys.csrf(s));
        controls.delete_tags = delete;
        controls.set_visibility = visibility;
    }
    let content = pages::repository(&detail, &cx.host(), &controls);
    Ok(cx.page(StatusCode::OK, name, "", &content))
}

fn static_css() -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::from(STYLE))
        .unwrap_or_default()
}

fn query_param(parts: &Parts, key: &str) -> Option<String> {
    url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `?page=N` (from 1; absent = 1), as an index from 0.
fn page_param(parts: &Parts) -> Result<usize, PageError> {
    match query_param(parts, "page") {
        None => Ok(0),
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|p| (1..=1_000_000).contains(p))
            .map(|p| p - 1)
            .ok_or_else(|| {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                    "page must be a number from 1",
                )
            }),
    }
}

/// `user`'s password stamp in the htpasswd file now; `None` when there is no such user. A
/// session whose stamp differs ends: `berth registry user rm` or `passwd` signs the user out
/// of the pages at once, not when the cookie expires. (An unreadable file is no user: fail
/// closed.)
pub(crate) async fn password_stamp(app: &Arc<App>, user: &str) -> Option<String> {
    let (app, user) = (app.clone(), user.to_owned());
    tokio::task::spawn_blocking(move || app.access.password_stamp(&user))
        .await
        .ok()
        .flatten()
}

/// A failed page request: its status and what the visitor is told.
#[derive(Debug)]
pub(crate) struct PageError {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl PageError {
    fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> PageError {
        PageError {
            status,
            title,
            message: message.into(),
        }
    }

    /// Also the answer for what exists but may not be seen: the two are not told apart.
    fn not_found() -> PageError {
        PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "there is no such page or repository, or you may not see it",
        )
    }

    fn internal(context: &str, e: impl std::fmt::Display) -> PageError {
        tracing::error!(error = %e, "web: {context}");
        PageError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server error",
            format!("{context}: {e}"),
        )
    }
}

/// One request's context: the app, the visitor's session and the keys.
pub(crate) struct Cx<'a> {
    app: &'a Arc<App>,
    parts: &'a Parts,
    keys: Keys,
    /// A valid session cookie (signed in, or a login form's); ignored without users.
    session: Option<Session>,
    now: u64,
}

impl<'a> Cx<'a> {
    async fn new(app: &'a Arc<App>, parts: &'a Parts) -> Cx<'a> {
        let keys = Keys::new(app.access.derive_key("web session"));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut session = app
            .access
            .enabled()
            .then(|| keys.find_in(&parts.headers, now))
            .flatten();
        if let Some(s) = session.as_ref().filter(|s| s.signed_in().is_some()) {
            if password_stamp(app, &s.user).await.as_deref() != Some(s.stamp.as_str()) {
                session = None;
            }
        }
        Cx {
            app,
            parts,
            keys,
            session,
            now,
        }
    }

    /// The signed-in user; empty when anonymous.
    fn user(&self) -> &str {
        self.session
            .as_ref()
            .and_then(Session::signed_in)
            .unwrap_or("")
    }

    fn signed_in(&self) -> Option<SignedIn> {
        let s = self.session.as_ref().filter(|s| s.signed_in().is_some())?;
        Some(SignedIn {
            user: s.user.clone(),
            csrf: self.keys.csrf(s),
        })
    }

    fn secure(&self) -> bool {
        self.app.config.tls.is_some()
    }

    /// The registry's address as clients name it (for the pull commands).
    fn host(&self) -> String {
        let host = self
            .parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let sane = !host.is_empty()
            && host.len() <= 255
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b));
        if sane {
            host.to_owned()
        } else {
            "REGISTRY".to_owned()
        }
    }

    /// Runs a store read on a blocking thread, as this visitor.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(Viewer<'_>) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, PageError> {
        let app = self.app.clone();
        let user = self.user().to_owned();
        tokio::task::spawn_blocking(move || {
            f(Viewer {
                access: &app.access,
                store: &app.store,
                user: &user,
            })
        })
        .await
        .map_err(|e| PageError::internal("read the registry", e))?
        .map_err(|e| PageError::internal("read the registry", e))
    }

    fn page(&self, status: StatusCode, title: &str, query: &str, content: &str) -> Response<Body> {
        let signed_in = self.signed_in();
        let frame = Frame {
            title,
            signed_in: signed_in.as_ref(),
            users: self.app.access.enabled(),
            read_only: self.app.config.read_only,
            query,
        };
        html_response(status, frame.render(content))
    }

    fn error_page(&self, e: PageError) -> Response<Body> {
        self.page(e.status, e.title, "", &pages::error(e.title, &e.message))
    }
}

/// A page with the headers every page carries: no caching (pages depend on the session), no
/// framing, no script, styles from this server only.
fn html_response(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from(body))
        .unwrap_or_default();
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// 303 See Other: after a POST, the browser GETs the result.
fn redirect(to: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::empty())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
