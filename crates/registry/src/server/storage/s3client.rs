//! A minimal, blocking S3 client: AWS Signature Version 4 over `ureq`, with just the calls the
//! registry's object-store backend needs (GET with `Range`, HEAD, PUT — plain, conditional and
//! server-side copy —, DELETE, ListObjectsV2 and multipart uploads).
//!
//! Blocking on purpose: `Storage` is synchronous and called from blocking threads and from the
//! CLI outside any runtime. Every body is sent whole with its hash signed: large objects go up
//! as multipart uploads of bounded parts (see `s3.rs`).

use std::fmt;
use std::io::{self, Read};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

/// Where the bucket is and who we are.
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// `http(s)://host[:port]`; AWS's regional endpoint when `None`.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    /// `endpoint/bucket/key` instead of `bucket.endpoint/key` (moto, minio and most
    /// self-hosted stores need it).
    pub path_style: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

/// Why an S3 configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum S3ConfigError {
    #[error("storage {0}: expected s3://BUCKET[/PREFIX]")]
    Url(String),
    #[error("s3 bucket {0}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")]
    Credentials(String),
    #[error("s3 endpoint {0}: expected http(s)://HOST[:PORT]")]
    Endpoint(String),
}

impl S3Config {
    /// `s3://BUCKET[/PREFIX]`, credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
    /// (and `AWS_SESSION_TOKEN`), the region from `region` or `AWS_REGION` /
    /// `AWS_DEFAULT_REGION` (else `us-east-1`). A custom endpoint implies path-style
    /// addressing.
    pub fn from_url(
        url: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<S3Config, S3ConfigError> {
        Self::from_url_env(url, endpoint, region, |k| std::env::var(k).ok())
    }

    /// [`from_url`](Self::from_url) with the environment given.
    pub fn from_url_env(
        url: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Config, S3ConfigError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| S3ConfigError::Url(url.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3ConfigError::Url(url.to_owned()));
        }
        if let Some(e) = endpoint {
            let ok = url::Url::parse(e)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if !ok {
                return Err(S3ConfigError::Endpoint(e.to_owned()));
            }
        }
        let env = |k: &str| var(k).filter(|v| !v.is_empty());
        let (Some(access_key), Some(secret_key)) =
            (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(S3ConfigError::Credentials(bucket.to_owned()));
        };
        let region = region
            .map(str::to_owned)
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned());
        Ok(S3Config {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
            region,
            access_key,
            secret_key,
            session_token: env("AWS_SESSION_TOKEN"),
            path_style: endpoint.is_some(),
        })
    }

    /// `s3://bucket/prefix`, for messages.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }
}

/// A failed S3 call, naming the bucket, the key and the cause.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("s3 bucket {bucket} at {endpoint}: {key}: {status} {code}: {message}")]
    Status {
        bucket: String,
        endpoint: String,
        key: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("s3 bucket {bucket} at {endpoint}: {key}: cannot reach the store: {cause}")]
    Transport {
        bucket: String,
        endpoint: String,
        key: String,
        cause: String,
    },
    #[error("s3 bucket {bucket}: {key}: unexpected answer: {what}")]
    Protocol {
        bucket: String,
        key: String,
        what: String,
    },
}

impl S3Error {
    pub fn status(&self) -> Option<u16> {
        match self {
            S3Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<S3Error> for io::Error {
    fn from(e: S3Error) -> io::Error {
        let kind = match e.status() {
            Some(404) => io::ErrorKind::NotFound,
            Some(403) | Some(401) => io::ErrorKind::PermissionDenied,
            Some(412) => io::ErrorKind::AlreadyExists,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// A request body.
pub enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
}

/// One object of a listing.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// A page-complete listing: objects and, with a delimiter, the common prefixes.
#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<Listed>,
    pub prefixes: Vec<String>,
}

#[derive(Debug)]
pub struct S3Client {
    cfg: S3Config,
    endpoint: String,
    agent: ureq::Agent,
}

type HmacSha256 = Hmac<Sha256>;

impl S3Client {
    pub fn new(cfg: S3Config) -> S3Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(300))
            .timeout_write(Duration::from_secs(300))
            .build();
        let endpoint = cfg.endpoint();
        S3Client {
            cfg,
            endpoint,
            agent,
        }
    }

    pub fn config(&self) -> &S3Config {
        &self.cfg
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The full key of `key` under the configured prefix.
    pub fn full_key(&self, key: &str) -> String {
        if self.cfg.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.cfg.prefix)
        }
    }

    fn transport(&self, key: &str, cause: impl fmt::Display) -> S3Error {
        S3Error::Transport {
            bucket: self.cfg.bucket.clone(),
            endpoint: self.endpoint.clone(),
            key: if key.is_empty() {
                "/".into()
            } else {
                key.into()
            },
            cause: cause.to_string(),
        }
    }

    pub fn protocol(&self, key: &str, what: impl Into<String>) -> S3Error {
        S3Error::Protocol {
            bucket: self.cfg.bucket.clone(),
            key: key.to_owned(),
            what: what.into(),
        }
    }

    /// One signed request; `key` is a full key ("" for the bucket itself). Non-2xx answers
    /// become [`S3Error::Status`] with S3's error code and message.
    pub fn request(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        payload: Payload<'_>,
    ) -> Result<ureq::Response, S3Error> {
        let (host, path) = self.host_and_path(key)?;
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        q.sort();
        let query_string = q
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let payload_hash = match &payload {
            Payload::Empty => hex::encode(Sha256::digest(b"")),
            Payload::Bytes(b) => hex::encode(Sha256::digest(b)),
        };
        let now = chrono::Utc::now();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let mut signed: Vec<(String, String)> = vec![
            ("host".into(), host.clone()),
            ("x-amz-content-sha256".into(), payload_hash.clone()),
            ("x-amz-date".into(), amz_date.clone()),
        ];
        if let Some(t) = &self.cfg.session_token {
            signed.push(("x-amz-security-token".into(), t.clone()));
        }
        for (k, v) in headers {
            let k = k.to_ascii_lowercase();
            if k.starts_with("x-amz-") {
                signed.push((k, v.trim().to_owned()));
            }
        }
        signed.sort();
        let authorization = self.authorization(
            &SigningInput {
                method,
                path: &path,
                query: &query_string,
                headers: &signed,
                payload_hash: &payload_hash,
            },
            &amz_date,
        );
        let url = if query_string.is_empty() {
            format!("{}{path}", self.origin(&host))
        } else {
            format!("{}{path}?{query_string}", self.origin(&host))
        };
        let mut req = self
            .agent
            .request(method, &url)
            .set("Authorization", &authorization);
        for (k, v) in &signed {
            if k != "host" {
                req = req.set(k, v);
            }
        }
        for (k, v) in headers {
            if !k.to_ascii_lowercase().starts_with("x-amz-") {
                req = req.set(k, v);
            }
        }
        let result = match payload {
            Payload::Empty if method == "GET" || method == "HEAD" || method == "DELETE" => {
                req.call()
            }
            Payload::Empty => req.send_bytes(&[]),
            Payload::Bytes(b) => req.send_bytes(b),
        };
        match result {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(status, resp)) => Err(self.status_error(key, status, resp)),
            Err(e) => Err(self.transport(key, e)),
        }
    }

    fn status_error(&self, key: &str, status: u16, resp: ureq::Response) -> S3Error {
        let mut body = String::new();
        let _ = resp.into_reader().take(64 << 10).read_to_string(&mut body);
        let code = xml_text(&body, "Code").unwrap_or_else(|| match status {
            404 => "NotFound".to_owned(),
            403 => "AccessDenied".to_owned(),
            412 => "PreconditionFailed".to_owned(),
            _ => "Error".to_owned(),
        });
        S3Error::Status {
            bucket: self.cfg.bucket.clone(),
            endpoint: self.endpoint.clone(),
            key: if key.is_empty() {
                "/".into()
            } else {
                key.into()
            },
            status,
            message: xml_text(&body, "Message").unwrap_or_default(),
            code,
        }
    }

    fn origin(&self, host: &str) -> String {
        let scheme = self.endpoint.split("://").next().unwrap_or("https");
        format!("{scheme}://{host}")
    }

    /// The Host header and the (encoded) path for `key`.
    fn host_and_path(&self, key: &str) -> Result<(String, String), S3Error> {
        let url =
            url::Url::parse(&self.endpoint).map_err(|e| self.transport(key, e.to_string()))?;
        let host = url
            .host_str()
            .ok_or_else(|| self.transport(key, "endpoint has no host"))?;
        let host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let key = uri_encode(key, false);
        Ok(if self.cfg.path_style {
            (
                host,
                format!("/{}/{key}", uri_encode(&self.cfg.bucket, true)),
            )
        } else {
            (format!("{}.{host}", self.cfg.bucket), format!("/{key}"))
        })
    }

    fn authorization(&self, input: &SigningInput<'_>, amz_date: &str) -> String {
        let date = &amz_date[..8];
        let scope = format!("{date}/{}/s3/aws4_request", self.cfg.region);
        let signed_names = input
            .headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(input.canonical_request().as_bytes()))
        );
        let key = signing_key(&self.cfg.secret_key, date, &self.cfg.region);
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_names}, Signature={signature}",
            self.cfg.access_key
        )
    }

    // ---- calls ---------------------------------------------------------------------------

    /// The object's bytes, `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, S3Error> {
        match self.request("GET", key, &[], &[], Payload::Empty) {
            Ok(resp) => {
                let mut buf = Vec::new();
                resp.into_reader()
                    .read_to_end(&mut buf)
                    .map_err(|e| self.transport(key, e))?;
                Ok(Some(buf))
            }
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A reader of `len` bytes (to the end when `None`) from `start`; `None` when absent.
    pub fn get_range(
        &self,
        key: &str,
        start: u64,
        len: Option<u64>,
    ) -> Result<Option<Box<dyn Read + Send>>, S3Error> {
        let range = match len {
            Some(0) => return Ok(Some(Box::new(io::empty()))),
            Some(n) => Some(format!("bytes={start}-{}", start + n - 1)),
            None if start > 0 => Some(format!("bytes={start}-")),
            None => None,
        };
        let headers: Vec<(&str, String)> = range.into_iter().map(|r| ("Range", r)).collect();
        match self.request("GET", key, &[], &headers, Payload::Empty) {
            Ok(resp) => Ok(Some(resp.into_reader())),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Size and last modification of an object, `None` when absent.
    pub fn head(&self, key: &str) -> Result<Option<(u64, Option<SystemTime>)>, S3Error> {
        match self.request("HEAD", key, &[], &[], Payload::Empty) {
            Ok(resp) => {
                let size = resp
                    .header("Content-Length")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| self.protocol(key, "HEAD without Content-Length"))?;
                let modified = resp
                    .header("Last-Modified")
                    .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
                    .map(SystemTime::from);
                Ok(Some((size, modified)))
            }
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores an object; with `if_absent`, only when there is none yet (false when there was).
    pub fn put(&self, key: &str, payload: Payload<'_>, if_absent: bool) -> Result<bool, S3Error> {
        let headers: Vec<(&str, String)> = if if_absent {
            vec![("If-None-Match", "*".to_owned())]
        } else {
            Vec::new()
        };
        match self.request("PUT", key, &[], &headers, payload) {
            Ok(_) => Ok(true),
            Err(e) if if_absent && e.status() == Some(412) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Server-side copy (objects up to 5 GiB).
    pub fn copy(&self, from: &str, to: &str) -> Result<(), S3Error> {
        let source = format!(
            "/{}/{}",
            uri_encode(&self.cfg.bucket, true),
            uri_encode(from, false)
        );
        let resp = self.request(
            "PUT",
            to,
            &[],
            &[("x-amz-copy-source", source)],
            Payload::Empty,
        )?;
        // A copy can fail after its 200 has been sent: the error is then in the body.
        let body = resp.into_string().map_err(|e| self.transport(to, e))?;
        if body.contains("<Error>") {
            return Err(S3Error::Status {
                bucket: self.cfg.bucket.clone(),
                endpoint: self.endpoint.clone(),
                key: to.to_owned(),
                status: 200,
                code: xml_text(&body, "Code").unwrap_or_default(),
                message: xml_text(&body, "Message").unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Deletes an object (S3 answers 204 whether or not it was there).
    pub fn delete(&self, key: &str) -> Result<(), S3Error> {
        match self.request("DELETE", key, &[], &[], Payload::Empty) {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object under `prefix` (and, with `delimiter`, the common prefixes), all pages;
    /// `max` stops early.
    pub fn list(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        max: Option<usize>,
    ) -> Result<Listing, S3Error> {
        let mut out = Listing::default();
        let mut token: Option<String> = None;
        loop {
            let mut q: Vec<(&str, &str)> = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(d) = delimiter {
                q.push(("delimiter", d));
            }
            let max_keys = max.map(|m| m.min(1000).to_string());
            if let Some(m) = &max_keys {
                q.push(("max-keys", m));
            }
            if let Some(t) = &token {
                q.push(("continuation-token", t));
            }
            let resp = self.request("GET", "", &q, &[], Payload::Empty)?;
            let body = resp.into_string().map_err(|e| self.transport(prefix, e))?;
            for item in xml_blocks(&body, "Contents") {
                let key = xml_text(item, "Key").ok_or_else(|| self.protocol(prefix, "no Key"))?;
                out.objects.push(Listed {
                    key,
                    size: xml_text(item, "Size")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0),
                    modified: xml_text(item, "LastModified")
                        .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
                        .map(SystemTime::from),
                });
            }
            for item in xml_blocks(&body, "CommonPrefixes") {
                if let Some(p) = xml_text(item, "Prefix") {
                    out.prefixes.push(p);
                }
            }
            let enough = max.is_some_and(|m| out.objects.len() + out.prefixes.len() >= m);
            token = xml_text(&body, "NextContinuationToken");
            if enough
                || xml_text(&body, "IsTruncated").as_deref() != Some("true")
                || token.is_none()
            {
                return Ok(out);
            }
        }
    }

    pub fn create_multipart(&self, key: &str) -> Result<String, S3Error> {
        let resp = self.request("POST", key, &[("uploads", "")], &[], Payload::Empty)?;
        let body = resp.into_string().map_err(|e| self.transport(key, e))?;
        xml_text(&body, "UploadId").ok_or_else(|| self.protocol(key, "no UploadId"))
    }

    /// Uploads part `n` (from 1); returns its ETag.
    pub fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        n: u32,
        bytes: &[u8],
    ) -> Result<String, S3Error> {
        let n = n.to_string();
        let q = [("partNumber", n.as_str()), ("uploadId", upload_id)];
        let resp = self.request("PUT", key, &q, &[], Payload::Bytes(bytes))?;
        resp.header("ETag")
            .map(str::to_owned)
            .ok_or_else(|| self.protocol(key, "part without ETag"))
    }

    /// Makes the object visible, whole; with `if_absent`, only when there is none yet.
    pub fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        etags: &[String],
        if_absent: bool,
    ) -> Result<bool, S3Error> {
        let mut body = String::from("<CompleteMultipartUpload>");
        for (i, etag) in etags.iter().enumerate() {
            body.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                xml_escape(etag)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let headers: Vec<(&str, String)> = if if_absent {
            vec![("If-None-Match", "*".to_owned())]
        } else {
            Vec::new()
        };
        let resp = match self.request(
            "POST",
            key,
            &[("uploadId", upload_id)],
            &headers,
            Payload::Bytes(body.as_bytes()),
        ) {
            Ok(r) => r,
            Err(e) if if_absent && e.status() == Some(412) => return Ok(false),
            Err(e) => return Err(e),
        };
        let text = resp.into_string().map_err(|e| self.transport(key, e))?;
        if text.contains("<Error>") {
            return Err(self.protocol(key, format!("completing the upload: {text}")));
        }
        Ok(true)
    }

    pub fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        self.request(
            "DELETE",
            key,
            &[("uploadId", upload_id)],
            &[],
            Payload::Empty,
        )
        .map(|_| ())
    }
}

struct SigningInput<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    /// Lowercase names, sorted.
    headers: &'a [(String, String)],
    payload_hash: &'a str,
}

impl SigningInput<'_> {
    fn canonical_request(&self) -> String {
        let mut canonical_headers = String::new();
        for (k, v) in self.headers {
            canonical_headers.push_str(&format!("{k}:{v}\n"));
        }
        let names = self
            .headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        format!(
            "{}\n{}\n{}\n{canonical_headers}\n{names}\n{}",
            self.method, self.path, self.query, self.payload_hash
        )
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn signing_key(secret: &str, date: &str, region: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, b"s3");
    hmac(&k, b"aws4_request")
}

/// SigV4's URI encoding: everything but `A-Za-z0-9-._~` (and `/` in paths) as `%XX`.
fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

/// The text of the first `<tag>…</tag>` in `xml`. S3's answers are flat enough that a scan
/// for the element does: no attributes on the elements we read, no nesting of the same name.
pub(crate) fn xml_text(xml: &str, tag: &str) -> Option<String> {
    xml_blocks(xml, tag).next().map(xml_unescape)
}

/// The inner text of every `<tag>…</tag>` in `xml`, in order.
fn xml_blocks<'a>(xml: &'a str, tag: &str) -> impl Iterator<Item = &'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut rest = xml;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let len = rest[start..].find(&close)?;
        let inner = &rest[start..start + len];
        rest = &rest[start + len + close.len()..];
        Some(inner)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of AWS's "Signature Calculations for the Authorization Header"
    /// (GET /test.txt with a Range header, examplebucket, 2013-05-24).
    #[test]
    fn signs_like_the_aws_example() {
        let cfg = S3Config {
            bucket: "examplebucket".into(),
            prefix: String::new(),
            endpoint: Some("https://s3.amazonaws.com".into()),
            region: "us-east-1".into(),
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
            path_style: false,
        };
        let client = S3Client::new(cfg);
        let empty = hex::encode(Sha256::digest(b""));
        let headers = vec![
            (
                "host".to_owned(),
                "examplebucket.s3.amazonaws.com".to_owned(),
            ),
            ("range".to_owned(), "bytes=0-9".to_owned()),
            ("x-amz-content-sha256".to_owned(), empty.clone()),
            ("x-amz-date".to_owned(), "20130524T000000Z".to_owned()),
        ];
        let auth = client.authorization(
            &SigningInput {
                method: "GET",
                path: "/test.txt",
                query: "",
                headers: &headers,
                payload_hash: &empty,
            },
            "20130524T000000Z",
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn encodes_keys_and_reads_xml() {
        assert_eq!(uri_encode("a b/c~d", false), "a%20b/c~d");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
        let xml = "<R><Contents><Key>a&amp;b</Key></Contents><Contents><Key>c</Key></Contents></R>";
        let keys: Vec<_> = xml_blocks(xml, "Contents")
            .filter_map(|c| xml_text(c, "Key"))
            .collect();
        assert_eq!(keys, ["a&b", "c"]);
    }

    #[test]
    fn parses_storage_urls() {
        let env = |k: &str| k.starts_with("AWS_").then(|| "x".to_owned());
        let c = S3Config::from_url_env(
            "s3://bkt/some/prefix/",
            Some("http://127.0.0.1:9000"),
            None,
            env,
        )
        .unwrap();
        assert_eq!(
            (c.bucket.as_str(), c.prefix.as_str()),
            ("bkt", "some/prefix")
        );
        assert!(c.path_style);
        assert_eq!(c.region, "x", "AWS_REGION");
        assert!(S3Config::from_url_env("s3:///x", None, None, env).is_err());
        assert!(S3Config::from_url_env("gs://b", None, None, env).is_err());
        assert!(S3Config::from_url_env("s3://b", Some("ftp://x"), None, env).is_err());
        let no_keys = |_: &str| None;
        assert!(matches!(
            S3Config::from_url_env("s3://b", None, None, no_keys),
            Err(S3ConfigError::Credentials(_))
        ));
    }
}
