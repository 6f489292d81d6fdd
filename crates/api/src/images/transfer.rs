//! `POST /images/create` (pull, or import with `fromSrc`) and `POST /images/{name}/push`:
//! docker's JSON progress lines, streamed while the engine works, with the client's
//! `X-Registry-Auth` login.

use std::io::Write;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use berth_engine::distribution::progress::{self, Unextracted, Verb};
use berth_engine::distribution::RegistryAuth;
use berth_engine::image::ImportOptions;
use berth_engine::{Engine, EngineError};
use berth_image::Reference;
use berth_registry::client::{Credential, Event};
use serde::Deserialize;
use serde_json::{json, Value};

use super::body_reader;
use crate::error::ApiError;
use crate::stream::ChannelWriter;
use crate::Api;

/// The JSON docker's clients put, base64-encoded, in `X-Registry-Auth`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthConfig {
    username: String,
    password: String,
    /// `base64(user:password)`, as in a docker config file.
    auth: String,
    identitytoken: String,
}

/// docker's `X-Registry-Auth`: base64 JSON in either alphabet, padded or not. Absent or
/// empty (`e30=`, `{}`) means the engine's own logins.
pub fn registry_auth(headers: &HeaderMap) -> Result<RegistryAuth, ApiError> {
    let Some(raw) = headers.get("x-registry-auth") else {
        return Ok(RegistryAuth::Stored);
    };
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid X-Registry-Auth header: not ASCII"))?
        .trim();
    if raw.is_empty() {
        return Ok(RegistryAuth::Stored);
    }
    let config: AuthConfig = serde_json::from_slice(&decode_base64(raw)?).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid X-Registry-Auth header: not auth JSON: {e}"
        ))
    })?;
    let (mut username, mut password) = (config.username, config.password);
    if username.is_empty() && !config.auth.is_empty() {
        let pair = String::from_utf8(decode_base64(&config.auth)?).map_err(|_| {
            ApiError::bad_request("invalid X-Registry-Auth header: auth is not UTF-8")
        })?;
        let (u, p) = pair.split_once(':').ok_or_else(|| {
            ApiError::bad_request("invalid X-Registry-Auth header: auth is not user:password")
        })?;
        (username, password) = (u.to_string(), p.to_string());
    }
    let identity_token = Some(config.identitytoken).filter(|t| !t.is_empty());
    if username.is_empty() && identity_token.is_none() {
        return Ok(RegistryAuth::Stored);
    }
    Ok(RegistryAuth::Given(Credential {
        username,
        password,
        identity_token,
    }))
}

/// Base64 as docker's clients send it: URL-safe (Go's `URLEncoding`) or standard, with or
/// without padding.
fn decode_base64(raw: &str) -> Result<Vec<u8>, ApiError> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&alphabet::URL_SAFE, config)
        .decode(raw)
        .or_else(|_| GeneralPurpose::new(&alphabet::STANDARD, config).decode(raw))
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))
}

/// One progress message on its own line. A write that fails means the client is gone; the
/// hang-up flag stops the engine, so the error has nowhere to go.
fn send(out: &ChannelWriter, message: &Value) {
    let mut line = message.to_string().into_bytes();
    line.push(b'\n');
    let _ = out.clone().write_all(&line);
}

fn status_line(out: &ChannelWriter, text: &str) {
    send(out, &json!({ "status": text }));
}

/// docker's last line of a stream that failed after it started.
fn error_line(out: &ChannelWriter, e: EngineError) {
    let message = ApiError::from(e).message;
    send(
        out,
        &json!({"errorDetail": {"message": message}, "error": message}),
    );
}

/// Sends what a registry event says, in docker's words.
fn send_event(out: &ChannelWriter, verb: Verb, e: &Event) {
    let Some(s) = progress::status(verb, e) else {
        return;
    };
    send(out, &status_json(&s));
}

fn status_json(s: &progress::Status) -> Value {
    let detail = match s.progress {
        Some((current, total)) => json!({ "current": current, "total": total }),
        None => json!({}),
    };
    let mut v = json!({ "status": s.status, "progressDetail": detail });
    if let Some(id) = &s.id {
        v["id"] = json!(id);
    }
    v
}

/// A streaming JSON answer whose body `work` writes on a blocking thread.
fn streamed(
    api: &Api,
    work: impl FnOnce(&Engine, &ChannelWriter, &berth_engine::Cancel) + Send + 'static,
) -> Response {
    let (body, out, hangup) = crate::stream::body();
    let engine = api.engine.clone();
    tokio::task::spawn_blocking(move || work(&engine, &out, &hangup));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `/images/create`'s query. `changes` repeats, which a struct cannot take from a query
/// string: it is read from the pairs.
#[derive(Debug, Default)]
pub struct CreateQuery {
    from_image: Option<String>,
    from_src: Option<String>,
    repo: Option<String>,
    tag: Option<String>,
    platform: Option<String>,
    message: Option<String>,
    changes: Vec<String>,
}

impl CreateQuery {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut q = Self::default();
        for (k, v) in pairs {
            match k.as_str() {
                "fromImage" => q.from_image = Some(v),
                "fromSrc" => q.from_src = Some(v),
                "repo" => q.repo = Some(v),
                "tag" => q.tag = Some(v),
                "platform" => q.platform = Some(v),
                "message" => q.message = Some(v),
                "changes" => q.changes.push(v),
                _ => {}
            }
        }
        q
    }
}

/// `POST /images/create`: a pull (`fromImage`), or an import of the request's body
/// (`fromSrc=-`).
pub async fn create(
    api: Api,
    headers: HeaderMap,
    q: CreateQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let tag = q.tag.as_deref().unwrap_or("").trim().to_string();
    if let Some(src) = q.from_src.as_deref().filter(|s| !s.is_empty()) {
        if src != "-" {
            return Err(ApiError::bad_request(format!(
                "import from {src:?}: only the request body (fromSrc=-) can be imported"
            )));
        }
        return import(api, q.repo, tag, q.message, q.changes, body).await;
    }
    let Some(image) = q.from_image.filter(|s| !s.is_empty()) else {
        return Err(ApiError::bad_request("fromImage or fromSrc is required"));
    };
    let name = with_tag(&image, &tag);
    // A bad name is a 400 before any byte is sent.
    let reference = Reference::parse(&name)
        .map_err(|e| ApiError::from(EngineError::from(e)))?
        .with_default_tag();
    let auth = registry_auth(&headers)?;
    let platform = q.platform.filter(|p| !p.is_empty());
    Ok(streamed(&api, move |engine, out, hangup| {
        pull(engine, out, hangup, &reference, platform.as_deref(), &auth)
    }))
}

/// `fromImage` and `tag` as one name: `busybox` + `1.36`, or `busybox` + `sha256:…`.
fn with_tag(image: &str, tag: &str) -> String {
    if tag.is_empty() {
        image.to_string()
    } else if tag.contains(':') {
        format!("{image}@{tag}")
    } else {
        format!("{image}:{tag}")
    }
}

fn pull(
    engine: &Engine,
    out: &ChannelWriter,
    hangup: &berth_engine::Cancel,
    reference: &Reference,
    platform: Option<&str>,
    auth: &RegistryAuth,
) {
    let id = reference
        .digest()
        .map(ToString::to_string)
        .or_else(|| reference.tag().map(str::to_string))
        .unwrap_or_else(|| "latest".into());
    send(
        out,
        &json!({"status": format!("Pulling from {}", reference.path()), "id": id}),
    );
    // docker says whether the tag moved: compare what it named before and after.
    let before = engine.resolve_image(&reference.to_string()).ok();
    let unextracted = Unextracted::default();
    let on_event = |e: Event| {
        unextracted.see(&e);
        send_event(out, Verb::Pull, &e);
    };
    match engine.pull_as(&reference.to_string(), platform, auth, &on_event, hangup) {
        Ok((id, repo_digest)) => {
            for s in unextracted.finish() {
                send(out, &status_json(&s));
            }
            let digest = repo_digest.rsplit('@').next().unwrap_or_default();
            status_line(out, &format!("Digest: {digest}"));
            let status = if before.as_ref() == Some(&id) {
                "Image is up to date for"
            } else {
                "Downloaded newer image for"
            };
            status_line(out, &format!("Status: {status} {}", reference.familiar()));
        }
        Err(e) => error_line(out, e),
    }
}

/// `fromSrc=-`: the body is a root filesystem tarball; docker answers with the new ID.
async fn import(
    api: Api,
    repo: Option<String>,
    tag: String,
    message: Option<String>,
    changes: Vec<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let reference = repo.filter(|r| !r.is_empty()).map(|r| with_tag(&r, &tag));
    let opts = ImportOptions {
        reference,
        changes,
        message: message.filter(|m| !m.is_empty()),
    };
    let input = body_reader(body);
    let id = api.run(move |e| e.import(input, &opts)).await?;
    let line = format!("{}\n", json!({ "status": id.to_string() }));
    Ok(([(header::CONTENT_TYPE, "application/json")], line).into_response())
}

#[derive(Debug)]
pub struct PushQuery {
    pub tag: Option<String>,
}

/// `POST /images/{name}/push?tag=`: the tag given, or every local tag of the repository.
pub async fn push(
    api: Api,
    headers: HeaderMap,
    name: String,
    q: PushQuery,
) -> Result<Response, ApiError> {
    let auth = registry_auth(&headers)?;
    let repo = Reference::parse(&name).map_err(|e| ApiError::from(EngineError::from(e)))?;
    let names: Vec<String> = match q.tag.filter(|t| !t.is_empty()) {
        Some(tag) => vec![with_tag(&name, &tag)],
        None if repo.tag().is_some() => vec![name.clone()],
        None => {
            let tags = {
                let name = name.clone();
                api.run(move |e| e.local_tags(&name)).await?
            };
            tags.iter()
                .map(|t| repo.with_tag(t).map(|r| r.to_string()))
                .collect::<Result<_, _>>()
                .map_err(|e| ApiError::from(EngineError::from(e)))?
        }
    };
    Ok(streamed(&api, move |engine, out, hangup| {
        status_line(
            out,
            &format!("The push refers to repository [{}]", repo.name()),
        );
        for name in &names {
            if !push_one(engine, out, hangup, name, &auth) {
                return;
            }
        }
    }))
}

/// Pushes one tag; false once it failed (the error line is sent).
fn push_one(
    engine: &Engine,
    out: &ChannelWriter,
    hangup: &berth_engine::Cancel,
    name: &str,
    auth: &RegistryAuth,
) -> bool {
    let on_event = |e: Event| send_event(out, Verb::Push, &e);
    let pushed = engine.push_as(name, auth, &on_event, hangup);
    match pushed {
        Ok(p) => {
            let tag = Reference::parse(name)
                .ok()
                .and_then(|r| r.with_default_tag().tag().map(str::to_string))
                .unwrap_or_else(|| "latest".into());
            status_line(
                out,
                &format!("{tag}: digest: {} size: {}", p.digest, p.size),
            );
            send(
                out,
                &json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": p.digest.to_string(), "Size": p.size}}),
            );
            true
        }
        Err(e) => {
            error_line(out, e);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-registry-auth", v.parse().unwrap());
        h
    }

    fn given(h: &HeaderMap) -> Credential {
        match registry_auth(h).unwrap() {
            RegistryAuth::Given(c) => c,
            RegistryAuth::Stored => panic!("no credential read"),
        }
    }

    #[test]
    fn registry_auth_reads_every_encoding_docker_clients_send() {
        let json = r#"{"username":"alice","password":"p?>s","serveraddress":"127.0.0.1:5000"}"#;
        let url = base64::engine::general_purpose::URL_SAFE.encode(json);
        let std_nopad = base64::engine::general_purpose::STANDARD_NO_PAD.encode(json);
        for raw in [
            url.clone(),
            url.trim_end_matches('=').to_string(),
            std_nopad,
        ] {
            let c = given(&headers(&raw));
            assert_eq!(
                (c.username.as_str(), c.password.as_str()),
                ("alice", "p?>s")
            );
        }
        let token = base64::engine::general_purpose::STANDARD.encode(r#"{"identitytoken":"tok"}"#);
        assert_eq!(
            given(&headers(&token)).identity_token.as_deref(),
            Some("tok")
        );
        let pair = base64::engine::general_purpose::STANDARD.encode("bob:pw");
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!(r#"{{"auth":"{pair}"}}"#));
        assert_eq!(given(&headers(&auth)).username, "bob");
        // docker's CLI sends `{}` when it has no login.
        assert!(matches!(
            registry_auth(&headers("e30=")).unwrap(),
            RegistryAuth::Stored
        ));
        assert!(matches!(
            registry_auth(&HeaderMap::new()).unwrap(),
            RegistryAuth::Stored
        ));
        assert!(registry_auth(&headers("!!!")).is_err());
        let not_json = base64::engine::general_purpose::STANDARD.encode("nope");
        assert!(registry_auth(&headers(&not_json)).is_err());
    }

    #[test]
    fn a_tag_query_may_be_a_digest() {
        assert_eq!(with_tag("busybox", ""), "busybox");
        assert_eq!(with_tag("busybox", "1.36"), "busybox:1.36");
        assert_eq!(with_tag("a/b", "sha256:00"), "a/b@sha256:00");
    }
}
