//! `WWW-Authenticate` challenges and the token flow of Docker's token spec: anonymous or
//! credentialed `GET realm?service=…&scope=…` (Basic auth), with the OAuth2 `POST` form as the
//! fallback and for identity tokens.

use std::time::Duration;

use serde::Deserialize;

use crate::client::credentials::Credential;
use crate::client::error::ClientError;

/// How a registry asked to be authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// No authentication asked for.
    None,
    Basic {
        realm: String,
    },
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses one `WWW-Authenticate` value: `Bearer realm="…",service="…",scope="…"` or
/// `Basic realm="…"`. Unknown schemes give `None`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic {
            realm: get("realm").unwrap_or_default(),
        }),
        "bearer" => Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        }),
        _ => None,
    }
}

/// `a="x, y",b=z` → `[(a, "x, y"), (b, z)]`, honouring quotes and backslash escapes.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A bearer token and how long it stays valid.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub value: String,
    pub lifetime: Duration,
}

const MIN_TOKEN_LIFETIME: u64 = 60;

/// Fetches a token from `realm` for `scopes`, with `cred` when given.
pub(crate) fn fetch_token(
    agent: &ureq::Agent,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    cred: Option<&Credential>,
) -> Result<Token, ClientError> {
    let fail = |reason: String| ClientError::Token {
        realm: realm.to_owned(),
        reason,
    };
    let url = url::Url::parse(realm).map_err(|e| fail(format!("invalid realm: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(fail("realm is not an http(s) URL".into()));
    }
    let identity = cred.and_then(|c| c.identity_token.as_deref());
    let response = if let Some(refresh) = identity {
        post_oauth(
            agent,
            &url,
            service,
            scopes,
            ("refresh_token", refresh),
            None,
        )
    } else {
        let mut req = agent.request_url("GET", &url);
        if let Some(s) = service {
            req = req.query("service", s);
        }
        for scope in scopes {
            req = req.query("scope", scope);
        }
        if let Some(c) = cred {
            req = req
                .query("account", &c.username)
                .set("Authorization", &c.basic());
        }
        match req.call() {
            Err(ureq::Error::Status(404 | 405, _)) if cred.is_some() => {
                let c = cred.map(|c| (c.username.as_str(), c.password.as_str()));
                post_oauth(agent, &url, service, scopes, ("password", ""), c)
            }
            other => other,
        }
    };
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(401 | 403, _)) => {
            return Err(fail(if cred.is_some() {
                "unauthorized: incorrect username or password".into()
            } else {
                "unauthorized".into()
            }))
        }
        Err(ureq::Error::Status(429, _)) => {
            return Err(fail("toomanyrequests: rate limited".into()))
        }
        Err(ureq::Error::Status(code, _)) => return Err(fail(format!("status {code}"))),
        Err(ureq::Error::Transport(t)) => return Err(fail(super::transport_cause(&t))),
    };
    let mut body = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(response.into_reader(), 1 << 20),
        &mut body,
    )
    .map_err(|e| fail(e.to_string()))?;
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| fail(format!("invalid token response: {e}")))?;
    let value = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| fail("token response has no token".into()))?;
    let secs = parsed.expires_in.unwrap_or(0).max(MIN_TOKEN_LIFETIME);
    Ok(Token {
        value,
        lifetime: Duration::from_secs(secs),
    })
}

// ureq 2's own error type is large; it is returned once per token fetch.
#[allow(clippy::result_large_err)]
fn post_oauth(
    agent: &ureq::Agent,
    url: &url::Url,
    service: Option<&str>,
    scopes: &[String],
    grant: (&str, &str),
    password: Option<(&str, &str)>,
) -> Result<ureq::Response, ureq::Error> {
    let scope = scopes.join(" ");
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", grant.0),
        ("service", service.unwrap_or("")),
        ("client_id", "berth"),
        ("scope", &scope),
    ];
    match password {
        Some((user, pass)) => form.extend([("username", user), ("password", pass)]),
        None => form.push(("refresh_token", grant.1)),
    }
    agent.request_url("POST", url).send_form(&form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_and_basic_challenges() {
        let hub = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull""#;
        assert_eq!(
            parse_challenge(hub),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/ubuntu:pull".into()),
            })
        );
        let multi = r#"Bearer realm="http://h/token",scope="repository:a:pull,push",error="insufficient_scope""#;
        match parse_challenge(multi) {
            Some(Challenge::Bearer { scope, service, .. }) => {
                assert_eq!(scope.as_deref(), Some("repository:a:pull,push"));
                assert_eq!(service, None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic {
                realm: "Registry Realm".into()
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None, "no realm");
    }
}
