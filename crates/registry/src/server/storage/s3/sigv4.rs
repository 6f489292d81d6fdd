//! AWS Signature Version 4 for S3: the canonical request, the signing key and the
//! `Authorization` header (checked against AWS's worked example below, and end to end against
//! a moto that verifies signatures in `tests/s3.rs`).

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use super::config::S3Config;

type HmacSha256 = Hmac<Sha256>;

/// What a request signs: its method, encoded path and query, the headers (lowercase names,
/// sorted; `host` and every `x-amz-*` one) and the payload's hash.
pub(super) struct SigningInput<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Lowercase names, sorted.
    pub headers: &'a [(String, String)],
    pub payload_hash: &'a str,
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
pub(super) fn uri_encode(s: &str, encode_slash: bool) -> String {
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

/// The `Authorization` header for `input`, signed at `amz_date` (`YYYYMMDDTHHMMSSZ`).
pub(super) fn authorization(cfg: &S3Config, input: &SigningInput<'_>, amz_date: &str) -> String {
    let date = &amz_date[..8];
    let scope = format!("{date}/{}/s3/aws4_request", cfg.region);
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
    let key = signing_key(&cfg.secret_key, date, &cfg.region);
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_names}, Signature={signature}",
        cfg.access_key
    )
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
        let auth = authorization(
            &cfg,
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
    fn encodes_uris() {
        assert_eq!(uri_encode("a b/c~d", false), "a%20b/c~d");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
    }
}
