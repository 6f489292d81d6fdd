//! Endpoints, the `/v2/` ping, authenticated requests with one retry after a challenge, and
//! redirects followed by hand so that the Authorization header never leaves its host.

use std::io::Read;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

use crate::client::auth::{fetch_token, parse_challenge, Challenge};
use crate::client::credentials::Credential;
use crate::client::error::ErrorBody;
use crate::client::{ClientError, Inner};

/// A registry as the client contacts it.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The registry as the user named it (`docker.io`, a mirror URL), for messages.
    pub registry: String,
    /// `host[:port]` contacted.
    pub host: String,
    /// A scheme given explicitly (mirrors); otherwise https, then http when insecure.
    pub scheme: Option<String>,
    pub insecure: bool,
    /// What credentials are looked up by.
    pub cred_key: String,
}

#[derive(Debug, Clone)]
pub(crate) struct HostInfo {
    base: Url,
    challenge: Challenge,
}

/// True for `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub(crate) fn is_local(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_port(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// A request's body: replayable ones can be sent again after a 401.
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream(Box<dyn Read + Send + 'a>, u64),
}

impl Inner {
    pub(crate) fn is_insecure(&self, host: &str) -> bool {
        is_local(host)
            || self.config.insecure_registries.iter().any(|r| {
                let r = r
                    .trim_start_matches("https://")
                    .trim_start_matches("http://");
                r.trim_end_matches('/') == host
            })
    }

    /// The endpoint of a registry domain as references name it.
    pub(crate) fn endpoint(&self, domain: &str) -> Endpoint {
        let host = if domain == "docker.io" || domain == "index.docker.io" {
            "registry-1.docker.io"
        } else {
            domain
        };
        Endpoint {
            registry: domain.to_owned(),
            host: host.to_owned(),
            scheme: None,
            insecure: self.is_insecure(host),
            cred_key: domain.to_owned(),
        }
    }

    /// The endpoint of a mirror given as `https://host[:port]` or `host[:port]`.
    pub(crate) fn mirror_endpoint(&self, mirror: &str) -> Result<Endpoint, ClientError> {
        let with_scheme = if mirror.contains("://") {
            mirror.to_owned()
        } else {
            format!("https://{mirror}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| ClientError::InvalidAddress {
            address: mirror.to_owned(),
            reason: e.to_string(),
        })?;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or("")),
            None => url.host_str().unwrap_or("").to_owned(),
        };
        Ok(Endpoint {
            registry: mirror.to_owned(),
            insecure: self.is_insecure(&host),
            scheme: mirror.contains("://").then(|| url.scheme().to_owned()),
            cred_key: host.clone(),
            host,
        })
    }

    pub(crate) fn agent(&self, url: &Url, insecure_host: bool) -> &ureq::Agent {
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or("")),
            None => url.host_str().unwrap_or("").to_owned(),
        };
        if insecure_host || self.is_insecure(&host) {
            &self.agents.insecure
        } else {
            &self.agents.secure
        }
    }

    /// Pings `/v2/` once per endpoint: picks the scheme and learns the challenge.
    fn resolve(&self, ep: &Endpoint) -> Result<HostInfo, ClientError> {
        let key = format!("{}|{}", ep.scheme.as_deref().unwrap_or(""), ep.host);
        if let Some(info) = lock(&self.hosts).get(&key) {
            return Ok(info.clone());
        }
        let schemes: Vec<&str> = match (&ep.scheme, ep.insecure) {
            (Some(s), _) => vec![s.as_str()],
            (None, true) => vec!["https", "http"],
            (None, false) => vec!["https"],
        };
        let mut last = None;
        for scheme in schemes {
            let bad = |e: url::ParseError| ClientError::InvalidAddress {
                address: ep.host.clone(),
                reason: e.to_string(),
            };
            let base = Url::parse(&format!("{scheme}://{}/", ep.host)).map_err(bad)?;
            let ping = base.join("v2/").map_err(bad)?;
            let challenge = match self
                .agent(&ping, ep.insecure)
                .request_url("GET", &ping)
                .call()
            {
                Ok(_) => Challenge::None,
                Err(ureq::Error::Status(401, resp)) => {
                    challenge_of(&resp).unwrap_or(Challenge::Basic {
                        realm: String::new(),
                    })
                }
                Err(ureq::Error::Status(_, _)) => Challenge::None,
                Err(ureq::Error::Transport(t)) => {
                    last = Some(ClientError::Transport {
                        url: ping.to_string(),
                        reason: super::transport_cause(&t),
                    });
                    continue;
                }
            };
            let info = HostInfo {
                base,
                challenge: strip_scope(challenge),
            };
            lock(&self.hosts).insert(key, info.clone());
            return Ok(info);
        }
        Err(last.unwrap_or_else(|| ClientError::InvalidAddress {
            address: ep.host.clone(),
            reason: "no usable scheme".into(),
        }))
    }

    /// A session on `repository` of `ep`, asking for `scopes` when a token is needed.
    pub(crate) fn session(
        &self,
        ep: &Endpoint,
        repository: &str,
        scopes: Vec<String>,
    ) -> Result<Session<'_>, ClientError> {
        let info = self.resolve(ep)?;
        let cred = self.config.auth.get(&ep.cred_key)?;
        Ok(Session {
            inner: self,
            ep: ep.clone(),
            base: info.base,
            repository: repository.to_owned(),
            scopes,
            cred,
            challenge: Mutex::new(info.challenge),
        })
    }

    pub(crate) fn verify_login(
        &self,
        registry: &str,
        cred: &Credential,
    ) -> Result<(), ClientError> {
        let ep = self.endpoint(registry);
        let info = self.resolve(&ep)?;
        let failed = |reason: String| ClientError::Login {
            registry: registry.to_owned(),
            reason,
        };
        match info.challenge {
            Challenge::None => Ok(()),
            Challenge::Basic { .. } => {
                let ping = info.base.join("v2/").map_err(|e| failed(e.to_string()))?;
                match self
                    .agent(&ping, ep.insecure)
                    .request_url("GET", &ping)
                    .set("Authorization", &cred.basic())
                    .call()
                {
                    Ok(_) => Ok(()),
                    Err(ureq::Error::Status(401 | 403, _)) => Err(failed(
                        "unauthorized: incorrect username or password".into(),
                    )),
                    Err(e) => Err(failed(e.to_string())),
                }
            }
            Challenge::Bearer { realm, service, .. } => {
                let url = Url::parse(&realm).map_err(|e| failed(format!("realm {realm}: {e}")))?;
                fetch_token(
                    self.agent(&url, false),
                    &realm,
                    service.as_deref(),
                    &[],
                    Some(cred),
                )
                .map(|_| ())
                .map_err(|e| match e {
                    ClientError::Token { reason, .. } => failed(reason),
                    other => other,
                })
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn challenge_of(resp: &ureq::Response) -> Option<Challenge> {
    let all: Vec<Challenge> = resp
        .all("www-authenticate")
        .into_iter()
        .filter_map(parse_challenge)
        .collect();
    all.iter()
        .find(|c| matches!(c, Challenge::Bearer { .. }))
        .or(all.first())
        .cloned()
}

fn strip_scope(c: Challenge) -> Challenge {
    match c {
        Challenge::Bearer { realm, service, .. } => Challenge::Bearer {
            realm,
            service,
            scope: None,
        },
        other => other,
    }
}

/// Requests on one repository with one set of scopes; shared by the transfer threads.
pub(crate) struct Session<'c> {
    inner: &'c Inner,
    pub ep: Endpoint,
    base: Url,
    pub repository: String,
    scopes: Vec<String>,
    cred: Option<Credential>,
    challenge: Mutex<Challenge>,
}

impl Session<'_> {
    /// `/v2/<repository>/<rest>` on this registry.
    pub fn url(&self, rest: &str) -> Result<Url, ClientError> {
        self.base
            .join(&format!("v2/{}/{rest}", self.repository))
            .map_err(|e| ClientError::InvalidAddress {
                address: format!("{}{}/{rest}", self.base, self.repository),
                reason: e.to_string(),
            })
    }

    /// `/<rest>` at the registry's root (`v2/_catalog`, `v1/search?q=…`).
    pub fn root_url(&self, rest: &str) -> Result<Url, ClientError> {
        self.base
            .join(rest)
            .map_err(|e| ClientError::InvalidAddress {
                address: format!("{}{rest}", self.base),
                reason: e.to_string(),
            })
    }

    /// Resolves a `Location` header against the request URL.
    pub fn join(&self, from: &Url, location: &str) -> Result<Url, ClientError> {
        from.join(location)
            .map_err(|e| ClientError::InvalidAddress {
                address: location.to_owned(),
                reason: e.to_string(),
            })
    }

    fn authorization(&self, refresh: bool) -> Result<Option<String>, ClientError> {
        let challenge = lock(&self.challenge).clone();
        let (realm, service, extra) = match challenge {
            Challenge::None => return Ok(None),
            Challenge::Basic { .. } => return Ok(self.cred.as_ref().map(Credential::basic)),
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => (realm, service, scope),
        };
        let mut scopes = self.scopes.clone();
        for s in extra.iter().flat_map(|s| s.split(' ')) {
            if !s.is_empty() && !scopes.iter().any(|have| have == s) {
                scopes.push(s.to_owned());
            }
        }
        let user = self
            .cred
            .as_ref()
            .map(|c| c.username.as_str())
            .unwrap_or("");
        let key = format!(
            "{realm}|{}|{}|{user}",
            service.as_deref().unwrap_or(""),
            scopes.join(" ")
        );
        if !refresh {
            if let Some((token, until)) = lock(&self.inner.tokens).get(&key) {
                if *until > Instant::now() {
                    return Ok(Some(format!("Bearer {token}")));
                }
            }
        }
        let url = Url::parse(&realm).map_err(|e| ClientError::Token {
            realm: realm.clone(),
            reason: e.to_string(),
        })?;
        let agent = self.inner.agent(&url, false);
        let token = match fetch_token(
            agent,
            &realm,
            service.as_deref(),
            &scopes,
            self.cred.as_ref(),
        ) {
            Ok(t) => t,
            Err(ClientError::Token { reason, .. }) if reason == "unauthorized" => {
                return Err(self.auth_required())
            }
            Err(e) => return Err(e),
        };
        let margin = (token.lifetime / 10).min(Duration::from_secs(30));
        let until = Instant::now() + token.lifetime - margin;
        lock(&self.inner.tokens).insert(key, (token.value.clone(), until));
        Ok(Some(format!("Bearer {}", token.value)))
    }

    /// Fetches (and caches) the token now, so that parallel transfers do not each fetch one.
    pub fn authenticate(&self) -> Result<(), ClientError> {
        self.authorization(false).map(|_| ())
    }

    pub fn auth_required(&self) -> ClientError {
        ClientError::AuthRequired {
            registry: self.ep.registry.clone(),
            repository: self.repository.clone(),
        }
    }

    /// Sends a request with authorization, retrying once after a 401 challenge when the body
    /// can be sent again, following redirects of GET and HEAD. Any status is returned.
    pub fn send(
        &self,
        method: &'static str,
        url: &Url,
        headers: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<ureq::Response, ClientError> {
        let mut auth = self.authorization(false)?;
        let replay = match &body {
            Body::Empty => Some(Body::Empty),
            Body::Bytes(b) => Some(Body::Bytes(b)),
            Body::Stream(..) => None,
        };
        let resp = self.perform(method, url, headers, auth.as_deref(), body)?;
        let Some(again) = replay.filter(|_| resp.status() == 401) else {
            return Ok(resp);
        };
        let Some(challenge) = challenge_of(&resp) else {
            return Ok(resp);
        };
        *lock(&self.challenge) = challenge;
        auth = self.authorization(true)?;
        if auth.is_none() {
            return Ok(resp);
        }
        self.perform(method, url, headers, auth.as_deref(), again)
    }

    fn perform(
        &self,
        method: &'static str,
        url: &Url,
        headers: &[(&str, String)],
        auth: Option<&str>,
        body: Body<'_>,
    ) -> Result<ureq::Response, ClientError> {
        let follow = matches!(method, "GET" | "HEAD");
        // Credentials go only to the registry's own host, never to a redirect's or a Location's.
        let origin = host_port(&self.base);
        let mut url = url.clone();
        let mut body = Some(body);
        for _ in 0..10 {
            let mut req = self
                .inner
                .agent(&url, self.ep.insecure && host_port(&url) == origin)
                .request_url(method, &url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if let Some(a) = auth.filter(|_| host_port(&url) == origin) {
                req = req.set("Authorization", a);
            }
            let result = match body.take().unwrap_or(Body::Empty) {
                Body::Empty if matches!(method, "POST" | "PUT" | "PATCH") => {
                    req.set("Content-Length", "0").call()
                }
                Body::Empty => req.call(),
                Body::Bytes(b) => req.send_bytes(b),
                Body::Stream(reader, len) => {
                    req.set("Content-Length", &len.to_string()).send(reader)
                }
            };
            let resp = match result {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => {
                    return Err(ClientError::Transport {
                        url: url.to_string(),
                        reason: super::transport_cause(&t),
                    })
                }
            };
            let redirect = matches!(resp.status(), 301 | 302 | 303 | 307 | 308);
            match resp.header("location") {
                Some(loc) if follow && redirect => {
                    tracing::debug!(from = %url, to = loc, "following redirect");
                    url = self.join(&url, loc)?;
                }
                _ => return Ok(resp),
            }
        }
        Err(ClientError::Transport {
            url: url.to_string(),
            reason: "too many redirects".into(),
        })
    }

    /// The error for an unexpected answer to `what`.
    pub fn status_error(&self, resp: ureq::Response, what: String) -> ClientError {
        let status = resp.status();
        let body = read_limited(resp, 64 << 10).unwrap_or_default();
        let parsed = ErrorBody::parse(&body);
        let message = match parsed.message() {
            m if m.is_empty() => String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(200)
                .collect(),
            m => m,
        };
        match (status, parsed.first_code()) {
            (401, _) => self.auth_required(),
            (403, _) => ClientError::Denied {
                registry: self.ep.registry.clone(),
                repository: self.repository.clone(),
            },
            (429, _) => ClientError::RateLimited {
                registry: self.ep.registry.clone(),
                detail: if message.is_empty() {
                    "429 Too Many Requests".into()
                } else {
                    message
                },
            },
            (404, Some("NAME_UNKNOWN")) => ClientError::NameUnknown {
                registry: self.ep.registry.clone(),
                repository: self.repository.clone(),
            },
            (_, code) => ClientError::Status {
                what,
                status,
                code: code.map(str::to_owned),
                message,
            },
        }
    }
}

/// Reads a whole (small) body, refusing more than `limit` bytes.
pub(crate) fn read_limited(resp: ureq::Response, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    resp.into_reader().take(limit + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "body larger than {limit} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::is_local;

    #[test]
    fn local_hosts_are_recognised() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:80",
            "127.3.2.1",
            "[::1]:5000",
        ] {
            assert!(is_local(h), "{h}");
        }
        for h in ["registry-1.docker.io", "10.0.0.1:5000", "128.0.0.1"] {
            assert!(!is_local(h), "{h}");
        }
    }
}
