//! What the forms do: sign in and out, make a repository private or public, delete a tag.
//! Each POST is checked in one order: read-only mode, users configured, a session, its CSRF
//! token, then the protocol's policy for the repository — and only then changes anything.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};

use super::session::{self, Session};
use super::{pages, redirect, Cx, PageError};
use crate::server::body::read_limited;
use crate::server::routes::{valid_name, valid_tag};

/// A form is a few short fields.
const MAX_FORM: usize = 16 << 10;

struct Form(Vec<(String, String)>);

impl Form {
    async fn read(body: Body) -> Result<Form, PageError> {
        let bytes = read_limited(body, MAX_FORM).await.map_err(|e| {
            PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Bad form",
                format!("the form could not be read: {e}"),
            )
        })?;
        Ok(Form(
            url::form_urlencoded::parse(&bytes).into_owned().collect(),
        ))
    }

    fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

pub(super) async fn post(cx: &Cx<'_>, path: &str, body: Body) -> Result<Response<Body>, PageError> {
    match path {
        "/login" => return login(cx, Form::read(body).await?).await,
        "/logout" => return logout(cx, &Form::read(body).await?),
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/r/") else {
        return Err(PageError::not_found());
    };
    let (name, action) = rest.rsplit_once("/-/").ok_or_else(PageError::not_found)?;
    if !valid_name(name) || !matches!(action, "visibility" | "delete-tag") {
        return Err(PageError::not_found());
    }
    let form = Form::read(body).await?;
    let user = may_change(cx, &form)?.to_owned();
    if action == "visibility" {
        set_visibility(cx, name, &user, form.get("visibility")).await
    } else {
        delete_tag(cx, name, form.get("tag")).await
    }
}

/// Refuses a change the server or the session does not allow; returns the signed-in user.
fn may_change<'c>(cx: &'c Cx<'_>, form: &Form) -> Result<&'c str, PageError> {
    let forbidden = |m: &str| PageError::new(StatusCode::FORBIDDEN, "Forbidden", m);
    if cx.app.config.read_only {
        return Err(PageError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Read-only",
            "the registry is in read-only mode (maintenance): nothing can be changed",
        ));
    }
    if !cx.app.access.enabled() {
        return Err(forbidden(
            "this registry has no users; manage repositories with `berth registry repo`",
        ));
    }
    let Some(s) = cx.session.as_ref().filter(|s| s.signed_in().is_some()) else {
        return Err(forbidden("sign in first"));
    };
    if !cx.keys.check_csrf(s, form.get("csrf")) {
        return Err(csrf_refused());
    }
    Ok(&s.user)
}

fn csrf_refused() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "the form's security token is missing or wrong (it expired, or the form did not come \
         from this site): reload the page and try again",
    )
}

async fn set_visibility(
    cx: &Cx<'_>,
    name: &str,
    user: &str,
    to: &str,
) -> Result<Response<Body>, PageError> {
    let private = match to {
        "private" => true,
        "public" => false,
        _ => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "Bad form",
                "visibility must be private or public",
            ))
        }
    };
    let repo = name.to_owned();
    let outcome = cx
        .read(move |v| {
            if !v.sees(&repo) || !v.store.repo_exists(&repo) {
                return Ok(Err(PageError::not_found()));
            }
            if !v.may_set_visibility(&repo) {
                return Ok(Err(owner_only(&repo)));
            }
            v.store.set_private(&repo, private)?;
            Ok(Ok(v.private(&repo)))
        })
        .await??;
    tracing::info!(repo = name, user, private, "web: visibility changed");
    if outcome != private {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            "Overridden",
            format!(
                "{name} is listed in the registry's access.json, which decides its visibility: \
                 it stays {}",
                if outcome { "private" } else { "public" }
            ),
        ));
    }
    Ok(redirect(&format!("/r/{name}")))
}

fn owner_only(repo: &str) -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!("only the owner of {repo} may change it"),
    )
}

async fn delete_tag(cx: &Cx<'_>, name: &str, tag: &str) -> Result<Response<Body>, PageError> {
    if !valid_tag(tag) {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "Bad form",
            "that is not a valid tag",
        ));
    }
    let (repo, t) = (name.to_owned(), tag.to_owned());
    cx.read(move |v| {
        if !v.sees(&repo) || !v.store.repo_exists(&repo) {
            return Ok(Err(PageError::not_found()));
        }
        if !v.may_delete(&repo) {
            return Ok(Err(owner_only(&repo)));
        }
        Ok(if v.store.delete_tag(&repo, &t)? {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::NOT_FOUND,
                "Not found",
                format!("{repo} has no tag {t}"),
            ))
        })
    })
    .await??;
    tracing::info!(repo = name, tag, user = cx.user(), "web: tag deleted");
    Ok(redirect(&format!("/r/{name}")))
}

/// GET /login: the form, bound to a fresh (or the current) pre-sign-in session.
pub(super) async fn login_form(cx: &Cx<'_>) -> Result<Response<Body>, PageError> {
    if !cx.app.access.enabled() {
        return Ok(cx.page(StatusCode::OK, "Sign in", "", &pages::login(None, "", None)));
    }
    if !cx.user().is_empty() {
        return Ok(redirect(&home(cx.user())));
    }
    let (s, fresh) = match &cx.session {
        Some(s) => (s.clone(), false),
        None => (Session::new("", cx.now, session::LOGIN_FORM_TTL), true),
    };
    let content = pages::login(Some(&cx.keys.csrf(&s)), "", None);
    let mut resp = cx.page(StatusCode::OK, "Sign in", "", &content);
    if fresh {
        set_cookie(
            &mut resp,
            &cx.keys.seal(&s),
            session::LOGIN_FORM_TTL,
            cx.secure(),
        );
    }
    Ok(resp)
}

/// POST /login: the password checked exactly as the token endpoint checks it.
async fn login(cx: &Cx<'_>, form: Form) -> Result<Response<Body>, PageError> {
    if !cx.app.access.enabled() {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "this registry has no users to sign in as",
        ));
    }
    let Some(pre) = &cx.session else {
        return Err(csrf_refused());
    };
    if !cx.keys.check_csrf(pre, form.get("csrf")) {
        return Err(csrf_refused());
    }
    let user = form.get("username").trim().to_owned();
    let password = form.get("password").to_owned();
    let app = cx.app.clone();
    let u = user.clone();
    let ok = !user.is_empty()
        && user.len() <= 255
        && tokio::task::spawn_blocking(move || app.access.check_password(&u, &password))
            .await
            .unwrap_or(false);
    if !ok {
        tracing::info!(user, "web: sign-in refused");
        let content = pages::login(
            Some(&cx.keys.csrf(pre)),
            &user,
            Some("incorrect username or password"),
        );
        return Ok(cx.page(StatusCode::UNAUTHORIZED, "Sign in", "", &content));
    }
    // A new session id: whatever id the visitor had before signing in is worth nothing after.
    let mut s = Session::new(&user, cx.now, session::SIGNED_IN_TTL);
    s.stamp = super::password_stamp(cx.app, &user)
        .await
        .unwrap_or_default();
    let mut resp = redirect(&home(&user));
    set_cookie(
        &mut resp,
        &cx.keys.seal(&s),
        session::SIGNED_IN_TTL,
        cx.secure(),
    );
    Ok(resp)
}

/// POST /logout: clears the cookie (a signed-in session's form must carry its token, so that
/// another site cannot sign the visitor out).
fn logout(cx: &Cx<'_>, form: &Form) -> Result<Response<Body>, PageError> {
    if let Some(s) = cx.session.as_ref().filter(|s| s.signed_in().is_some()) {
        if !cx.keys.check_csrf(s, form.get("csrf")) {
            return Err(csrf_refused());
        }
    }
    let mut resp = redirect("/explore");
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(cx.secure())) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

fn set_cookie(resp: &mut Response<Body>, value: &str, max_age: u64, secure: bool) {
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(value, max_age, secure)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Where a user lands after signing in: their namespace (when the name can be one).
pub(super) fn home(user: &str) -> String {
    if valid_name(user) && !user.contains('/') {
        format!("/u/{user}")
    } else {
        "/explore".to_owned()
    }
}
