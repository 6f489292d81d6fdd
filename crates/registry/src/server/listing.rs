//! `tags/list` and `_catalog`, both paginated with `n` and `last` and a `Link` header.

use std::sync::Arc;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::server::error::ApiError;
use crate::server::routes::{authorize, identify, json_response};
use crate::server::App;

/// `n` and `last` from the query.
fn page_params(parts: &Parts) -> Result<(Option<usize>, Option<String>), ApiError> {
    let mut n = None;
    let mut last = None;
    for (k, v) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "n" => {
                n = Some(v.parse::<usize>().map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "PAGINATION_NUMBER_INVALID",
                        "invalid number of results requested",
                    )
                })?)
            }
            "last" => last = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok((n, last))
}

/// The page of sorted `items` after `last`, at most `n` long, and whether more follow.
pub(crate) fn paginate(
    items: Vec<String>,
    n: Option<usize>,
    last: Option<&str>,
) -> (Vec<String>, bool) {
    let mut rest: Vec<String> = match last {
        Some(l) => items.into_iter().filter(|i| i.as_str() > l).collect(),
        None => items,
    };
    match n {
        Some(n) if rest.len() > n => {
            rest.truncate(n);
            (rest, true)
        }
        _ => (rest, false),
    }
}

fn with_link(
    mut resp: Response<Body>,
    path: &str,
    n: Option<usize>,
    page: &[String],
    more: bool,
) -> Response<Body> {
    if let (true, Some(n), Some(last)) = (more, n, page.last()) {
        let link = format!("<{path}?n={n}&last={last}>; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    resp
}

pub(crate) async fn tags(
    app: &Arc<App>,
    parts: &Parts,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    authorize(app, parts, Some((name, &["pull"]))).await?;
    let (n, last) = page_params(parts)?;
    let (store, name2) = (app.store.clone(), name.to_owned());
    let all = tokio::task::spawn_blocking(move || store.tags(&name2))
        .await
        .map_err(|e| ApiError::internal("storage task", e))?
        .map_err(|e| ApiError::internal("list tags", e))?
        .ok_or_else(|| ApiError::name_unknown(name))?;
    let (page, more) = paginate(all, n, last.as_deref());
    let body = json!({ "name": name, "tags": page }).to_string();
    let resp = json_response(StatusCode::OK, body);
    Ok(with_link(
        resp,
        &format!("/v2/{name}/tags/list"),
        n,
        &page,
        more,
    ))
}

pub(crate) async fn catalog(app: &Arc<App>, parts: &Parts) -> Result<Response<Body>, ApiError> {
    let id = identify(app, &parts.headers, Some("registry:catalog:*")).await?;
    let (n, last) = page_params(parts)?;
    let app2 = app.clone();
    let visible: Vec<String> = tokio::task::spawn_blocking(move || {
        let all = app2.store.repositories()?;
        Ok::<_, std::io::Error>(
            all.into_iter()
                .filter(|r| app2.access.allowed(&app2.store, &id.user, r, "pull"))
                .collect(),
        )
    })
    .await
    .map_err(|e| ApiError::internal("storage task", e))?
    .map_err(|e| ApiError::internal("list repositories", e))?;
    let (page, more) = paginate(visible, n, last.as_deref());
    let resp = json_response(StatusCode::OK, json!({ "repositories": page }).to_string());
    Ok(with_link(resp, "/v2/_catalog", n, &page, more))
}

#[cfg(test)]
mod tests {
    use super::paginate;

    #[test]
    fn pages() {
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            paginate(items.clone(), Some(2), None),
            (vec!["a".into(), "b".into()], true)
        );
        assert_eq!(
            paginate(items.clone(), Some(2), Some("b")),
            (vec!["c".into(), "d".into()], false)
        );
        assert_eq!(
            paginate(items.clone(), None, Some("c")),
            (vec!["d".into()], false)
        );
        assert_eq!(paginate(items, Some(0), None), (vec![], true));
    }
}
