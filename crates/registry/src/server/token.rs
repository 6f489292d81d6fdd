//! The token endpoint, as Docker Hub's: `GET /token?service=…&scope=…` with optional Basic
//! auth, and the OAuth2 `POST /token` password grant. Tokens carry only the access the policy
//! allows: asking for more is not an error, the registry refuses later.

use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, Method, Response, StatusCode};
use serde_json::json;

use crate::server::body::read_limited;
use crate::server::error::ApiError;
use crate::server::routes::{basic_credentials, json_response};
use crate::server::App;

pub(crate) async fn handle(
    app: &Arc<App>,
    parts: &Parts,
    body: Body,
) -> Result<Response<Body>, ApiError> {
    let (user, password, scopes) = if parts.method == Method::GET {
        let q: Vec<(String, String)> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let scopes: Vec<String> = q
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').map(str::to_owned))
            .collect();
        // Credentials that cannot be read are refused, never taken as "anonymous": a client
        // that meant to log in must not silently get an anonymous token.
        let basic = match parts.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(v) => {
                let text = v.to_str().unwrap_or("");
                let is_basic = text
                    .split_whitespace()
                    .next()
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic"));
                if is_basic || text.trim().is_empty() {
                    Some(basic_credentials(text).ok_or_else(|| {
                        ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "UNAUTHORIZED",
                            "malformed Basic authorization header",
                        )
                    })?)
                } else {
                    None
                }
            }
        };
        match basic {
            Some((u, p)) => (Some(u), p, scopes),
            None => (None, String::new(), scopes),
        }
    } else if parts.method == Method::POST {
        let bytes = read_limited(body, 64 << 10).await.map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "UNSUPPORTED", format!("form: {e}"))
        })?;
        let form: Vec<(String, String)> =
            url::form_urlencoded::parse(&bytes).into_owned().collect();
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        if get("grant_type").as_deref() != Some("password") {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                "only the password grant is supported",
            ));
        }
        let scopes = get("scope")
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        (get("username"), get("password").unwrap_or_default(), scopes)
    } else {
        return Err(ApiError::unsupported());
    };
    let user = match user {
        Some(u) => {
            let checker = app.clone();
            let u2 = u.clone();
            let ok =
                tokio::task::spawn_blocking(move || checker.access.check_password(&u2, &password))
                    .await
                    .unwrap_or(false);
            if !ok && app.access.enabled() {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "incorrect username or password",
                ));
            }
            u
        }
        None => String::new(),
    };
    let grants = scopes
        .iter()
        .filter_map(|s| app.access.grant(&app.store, &user, s))
        .collect();
    let token = app.access.issue(&user, grants);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = json!({
        "token": token,
        "access_token": token,
        "expires_in": app.access.ttl.as_secs(),
        "issued_at": now,
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}
