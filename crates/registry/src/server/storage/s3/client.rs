//! A minimal, blocking S3 client over `ureq`: just the calls the registry's object-store
//! backend needs (GET with `Range`, HEAD, PUT — plain, conditional and server-side copy —,
//! DELETE, ListObjectsV2 and multipart uploads), each signed with SigV4 ([`super::sigv4`]).
//!
//! Blocking on purpose: `Storage` is synchronous and called from blocking threads and from the
//! CLI outside any runtime. Every body is sent whole with its hash signed: large objects go up
//! as multipart uploads of bounded parts (see `mod.rs`).

use std::fmt;
use std::io::{self, Read};
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

use super::config::S3Config;
use super::sigv4::{authorization, uri_encode, SigningInput};

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
            key: shown_key(key),
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
        let body: &[u8] = match payload {
            Payload::Empty => &[],
            Payload::Bytes(b) => b,
        };
        let (url, signed) = self.sign(method, key, query, headers, body)?;
        let mut req = self.agent.request(method, &url);
        // ureq sends Host itself, from the URL, exactly as signed.
        for (k, v) in signed.iter().filter(|(k, _)| k != "host") {
            req = req.set(k, v);
        }
        for (k, v) in headers {
            if !k.to_ascii_lowercase().starts_with("x-amz-") {
                req = req.set(k, v);
            }
        }
        let bodiless = matches!(method, "GET" | "HEAD" | "DELETE") && body.is_empty();
        let result = if bodiless {
            req.call()
        } else {
            req.send_bytes(body)
        };
        match result {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(status, resp)) => Err(self.status_error(key, status, resp)),
            Err(e) => Err(self.transport(key, e)),
        }
    }

    /// The URL of a request and the headers that sign it: `host`, every `x-amz-*` one (ours
    /// and the caller's) and `authorization`.
    fn sign(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(String, Vec<(String, String)>), S3Error> {
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
        let payload_hash = hex::encode(Sha256::digest(body));
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
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
        let input = SigningInput {
            method,
            path: &path,
            query: &query_string,
            headers: &signed,
            payload_hash: &payload_hash,
        };
        let auth = authorization(&self.cfg, &input, &amz_date);
        signed.push(("authorization".into(), auth));
        let mut url = format!("{}{path}", self.origin(&host));
        if !query_string.is_empty() {
            url = format!("{url}?{query_string}");
        }
        Ok((url, signed))
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
            key: shown_key(key),
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

/// A key as errors name it: the bucket itself is `/`.
fn shown_key(key: &str) -> String {
    if key.is_empty() {
        "/".into()
    } else {
        key.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_xml() {
        let xml = "<R><Contents><Key>a&amp;b</Key></Contents><Contents><Key>c</Key></Contents></R>";
        let keys: Vec<_> = xml_blocks(xml, "Contents")
            .filter_map(|c| xml_text(c, "Key"))
            .collect();
        assert_eq!(keys, ["a&b", "c"]);
    }
}
