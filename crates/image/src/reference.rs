//! Image references such as `python:3.8-slim`, parsed and normalised the way Docker does.
//!
//! The grammar is the one of `github.com/distribution/reference`:
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]          host: DNS-ish name, IPv4, or "[" IPv6 "]"
//! path       := component [ "/" component ]*
//! component  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! ```
//!
//! Parsing always normalises, as `ParseNormalizedNamed` does: a name without a registry domain
//! lives on `docker.io`, `index.docker.io` is spelled `docker.io`, and a single-component Docker
//! Hub name gains the `library/` namespace. [`Reference::familiar`] goes the other way, giving
//! the short form `docker images` shows.
//!
//! ```
//! use berth_image::Reference;
//! let r = Reference::parse("python:3.8-slim").expect("valid reference");
//! assert_eq!(r.to_string(), "docker.io/library/python:3.8-slim");
//! assert_eq!(r.familiar(), "python:3.8-slim");
//! ```

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// The registry that names without a domain refer to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The old name of Docker Hub's domain, accepted and rewritten to [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL_PREFIX: &str = "library/";
/// The tag [`Reference::with_default_tag`] adds.
pub const DEFAULT_TAG: &str = "latest";
/// The longest repository path accepted (the domain does not count, as in distribution/reference).
pub const MAX_PATH_LEN: usize = 255;
/// The longest tag accepted.
const MAX_TAG_LEN: usize = 128;

/// Why a string is not an image reference. Every message is one line naming the input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// The input was the empty string.
    #[error("invalid reference format: repository name must have at least one component")]
    Empty,
    /// The input does not follow the reference grammar.
    #[error("invalid reference format: {0:?}")]
    InvalidFormat(String),
    /// The repository path contains uppercase letters.
    #[error("invalid reference format: {0:?}: repository name must be lowercase")]
    Uppercase(String),
    /// The repository path is longer than [`MAX_PATH_LEN`].
    #[error(
        "invalid reference format: {0:?}: repository name must not be more than 255 characters"
    )]
    NameTooLong(String),
    /// The input is 64 hex characters: an image ID, not a name.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
    /// A tag given to [`Reference::with_tag`] is malformed.
    #[error("invalid tag format: {0:?}")]
    InvalidTag(String),
    /// The digest is well-formed but not one we accept (wrong length, not sha256).
    #[error("invalid reference format: {input:?}: {reason}")]
    Digest { input: String, reason: DigestError },
}

/// A normalised image reference: registry domain, repository path, and an optional tag and/or
/// digest.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises `s` as Docker's `ParseNormalizedNamed` does.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if is_hex_identifier(s) {
            return Err(ReferenceError::HexIdentifier(s.to_owned()));
        }
        let invalid = || ReferenceError::InvalidFormat(s.to_owned());

        // Neither names nor tags contain '@', and a digest contains no '/'.
        let (name_and_tag, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (s, None),
        };
        // A tag follows the last ':' unless a '/' comes after it (then the ':' is a port).
        let (name, tag) = match name_and_tag.rfind(':') {
            Some(i) if !name_and_tag[i + 1..].contains('/') => {
                (&name_and_tag[..i], Some(&name_and_tag[i + 1..]))
            }
            _ => (name_and_tag, None),
        };

        let (domain, path) = split_domain(name);
        if has_uppercase(&path) {
            return Err(ReferenceError::Uppercase(s.to_owned()));
        }
        if !is_valid_domain(domain) {
            // An invalid domain that would be a fine path component but for its case, such as
            // "Foo_bar/baz", is reported as Docker does: as a case problem.
            if has_uppercase(domain) && is_valid_component(&domain.to_lowercase()) {
                return Err(ReferenceError::Uppercase(s.to_owned()));
            }
            return Err(invalid());
        }
        if !path.split('/').all(is_valid_component) {
            return Err(invalid());
        }
        if tag.is_some_and(|t| !is_valid_tag(t)) {
            return Err(invalid());
        }
        if digest.is_some_and(|d| !is_digest_shaped(d)) {
            return Err(invalid());
        }
        if path.len() > MAX_PATH_LEN {
            return Err(ReferenceError::NameTooLong(s.to_owned()));
        }
        let digest = digest
            .map(|d| {
                d.parse::<Digest>()
                    .map_err(|reason| ReferenceError::Digest {
                        input: s.to_owned(),
                        reason,
                    })
            })
            .transpose()?;

        Ok(Reference {
            domain: domain.to_owned(),
            path,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry domain, with its port if any: `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path without the domain: `library/python`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Adds the `latest` tag when the reference has neither a tag nor a digest
    /// (`TagNameOnly`).
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// The same repository with `tag`, keeping any digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::InvalidTag(tag.to_owned()));
        }
        Ok(Reference {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// The full repository name: `docker.io/library/python`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as Docker shows it: `python`, `user/repo`, `quay.io/a/b`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_PREFIX) {
            Some(official) if !official.contains('/') => official.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// The reference as Docker shows it (`FamiliarString`): `python:3.8-slim`,
    /// `busybox:latest@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut out = self.familiar_name();
        self.push_suffix(&mut out);
        out
    }

    /// The repository path a registry's API is addressed with (`/v2/<path>/manifests/…`).
    pub fn repository_for_registry(&self) -> &str {
        &self.path
    }

    fn push_suffix(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(&digest.to_string());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        self.push_suffix(&mut out);
        f.write_str(&out)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Splits a name (without tag or digest) into its domain and its normalised path, following
/// `splitDockerDomain`: the first component is a domain when it is `localhost`, contains `.` or
/// `:`, or has uppercase letters (repository paths never do).
fn split_domain(name: &str) -> (&str, String) {
    let Some((first, rest)) = name.split_once('/') else {
        // A single component is always a Docker Hub official image, even "localhost".
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_PREFIX}{name}"));
    };
    let (domain, remote) = if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first == "localhost" || first.contains(['.', ':']) || has_uppercase(first) {
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, name)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        (domain, format!("{OFFICIAL_PREFIX}{remote}"))
    } else {
        (domain, remote.to_owned())
    }
}

fn has_uppercase(s: &str) -> bool {
    s.chars().any(char::is_uppercase)
}

/// Whether `s` is exactly 64 lowercase hex characters: a full image (or container) ID.
pub fn is_hex_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A path component: lowercase alphanumeric runs joined by `.`, `_`, `__` or any number of `-`.
fn is_valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let run = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == run {
            return false; // empty, or a separator at the start, the end or next to another
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' if b.get(i + 1) == Some(&b'_') => i += 2,
            b'_' => i += 1,
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// A domain: a DNS-style name or IPv4 address, or an IPv6 address in brackets, then an optional
/// `:port`.
fn is_valid_domain(d: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        let ok = !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        (ok, port)
    } else {
        let (host, port) = match d.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (d, None),
        };
        (host.split('.').all(is_valid_domain_component), port)
    };
    host_ok && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// One label of a domain name: ASCII letters and digits, with inner hyphens.
fn is_valid_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        }
        _ => false,
    }
}

/// A tag: a word character, then up to 127 word characters, dots and dashes.
fn is_valid_tag(t: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    match t.as_bytes().split_first() {
        Some((first, rest)) => {
            t.len() <= MAX_TAG_LEN
                && word(*first)
                && rest.iter().all(|&x| word(x) || x == b'.' || x == b'-')
        }
        None => false,
    }
}

/// Whether `d` has the general shape of a digest (`algorithm:hex`, at least 32 hex digits). A
/// digest of this shape that we still refuse (not sha256, wrong length) gets a digest error
/// rather than a format error, as in Docker.
fn is_digest_shaped(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return false;
    };
    let part_ok = |p: &str| {
        let mut bytes = p.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric())
    };
    hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && algorithm.split(['-', '_', '+', '.']).all(part_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    const HEX: &str = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

    /// (input, domain, path, tag, digest, familiar, full)
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        &'static str,
    );

    /// (input, domain, path, tag, familiar, full) for inputs carrying the digest `D`.
    type DigestRow = (
        String,
        &'static str,
        &'static str,
        Option<&'static str>,
        String,
        String,
    );

    fn check_valid(row: Row) {
        let (input, domain, path, tag, digest, familiar, full) = row;
        let r = match Reference::parse(input) {
            Ok(r) => r,
            Err(e) => panic!("{input:?} should parse: {e}"),
        };
        assert_eq!(r.domain(), domain, "domain of {input:?}");
        assert_eq!(r.path(), path, "path of {input:?}");
        assert_eq!(
            r.repository_for_registry(),
            path,
            "registry repo of {input:?}"
        );
        assert_eq!(r.tag(), tag, "tag of {input:?}");
        assert_eq!(
            r.digest().map(ToString::to_string).as_deref(),
            digest,
            "digest of {input:?}"
        );
        assert_eq!(r.familiar(), familiar, "familiar form of {input:?}");
        assert_eq!(r.to_string(), full, "full form of {input:?}");
        assert_eq!(r.name(), format!("{domain}/{path}"), "name of {input:?}");
        // Both printed forms parse back to the same reference.
        assert_eq!(Reference::parse(&r.to_string()).ok(), Some(r.clone()));
        // (The familiar form of docker.io/library/<64 hex> is an image ID, which does not.)
        if !is_hex_identifier(&r.familiar()) {
            assert_eq!(Reference::parse(&r.familiar()).ok(), Some(r));
        }
    }

    #[test]
    #[rustfmt::skip]
    fn valid_references() {
        let fd = format!("repo@{D}");
        let rows: Vec<Row> = vec![
            // Docker Hub official images and normalisation.
            ("python:3.8-slim", "docker.io", "library/python", Some("3.8-slim"), None, "python:3.8-slim", "docker.io/library/python:3.8-slim"),
            ("ubuntu", "docker.io", "library/ubuntu", None, None, "ubuntu", "docker.io/library/ubuntu"),
            ("debian", "docker.io", "library/debian", None, None, "debian", "docker.io/library/debian"),
            ("library/debian", "docker.io", "library/debian", None, None, "debian", "docker.io/library/debian"),
            ("docker.io/debian", "docker.io", "library/debian", None, None, "debian", "docker.io/library/debian"),
            ("docker.io/library/debian", "docker.io", "library/debian", None, None, "debian", "docker.io/library/debian"),
            ("index.docker.io/debian", "docker.io", "library/debian", None, None, "debian", "docker.io/library/debian"),
            ("index.docker.io/library/debian", "docker.io", "library/debian", None, None, "debian", "docker.io/library/debian"),
            ("index.docker.io/docker/docker", "docker.io", "docker/docker", None, None, "docker/docker", "docker.io/docker/docker"),
            ("docker/docker", "docker.io", "docker/docker", None, None, "docker/docker", "docker.io/docker/docker"),
            ("fooo/bar", "docker.io", "fooo/bar", None, None, "fooo/bar", "docker.io/fooo/bar"),
            ("other/library", "docker.io", "other/library", None, None, "other/library", "docker.io/other/library"),
            ("library/foo/bar", "docker.io", "library/foo/bar", None, None, "library/foo/bar", "docker.io/library/foo/bar"),
            ("store/foo/bar", "docker.io", "store/foo/bar", None, None, "store/foo/bar", "docker.io/store/foo/bar"),
            ("ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base", None, None, "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base"),
            ("test_com/foo", "docker.io", "test_com/foo", None, None, "test_com/foo", "docker.io/test_com/foo"),
            ("redis:latest", "docker.io", "library/redis", Some("latest"), None, "redis:latest", "docker.io/library/redis:latest"),
            ("dmcgowan/myapp:latest", "docker.io", "dmcgowan/myapp", Some("latest"), None, "dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest"),
            // Path component separators.
            ("docker-rules/docker", "docker.io", "docker-rules/docker", None, None, "docker-rules/docker", "docker.io/docker-rules/docker"),
            ("docker---rules/docker", "docker.io", "docker---rules/docker", None, None, "docker---rules/docker", "docker.io/docker---rules/docker"),
            ("dock__er/docker", "docker.io", "dock__er/docker", None, None, "dock__er/docker", "docker.io/dock__er/docker"),
            ("d/docker", "docker.io", "d/docker", None, None, "d/docker", "docker.io/d/docker"),
            ("jess/t", "docker.io", "jess/t", None, None, "jess/t", "docker.io/jess/t"),
            ("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", None, None, "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
            // A single component is never a domain, even with a dot or a port-like tag.
            ("test_com", "docker.io", "library/test_com", None, None, "test_com", "docker.io/library/test_com"),
            ("test.com:tag", "docker.io", "library/test.com", Some("tag"), None, "test.com:tag", "docker.io/library/test.com:tag"),
            ("test.com:5000", "docker.io", "library/test.com", Some("5000"), None, "test.com:5000", "docker.io/library/test.com:5000"),
            ("localhost:5000", "docker.io", "library/localhost", Some("5000"), None, "localhost:5000", "docker.io/library/localhost:5000"),
            ("192.168.0.1", "docker.io", "library/192.168.0.1", None, None, "192.168.0.1", "docker.io/library/192.168.0.1"),
            ("192.168.0.1:80", "docker.io", "library/192.168.0.1", Some("80"), None, "192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
            ("foo_bar.com:8080", "docker.io", "library/foo_bar.com", Some("8080"), None, "foo_bar.com:8080", "docker.io/library/foo_bar.com:8080"),
            ("foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", Some("8080"), None, "foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080"),
            // Other registries.
            ("test.com/repo:tag", "test.com", "repo", Some("tag"), None, "test.com/repo:tag", "test.com/repo:tag"),
            ("test:5000/repo", "test:5000", "repo", None, None, "test:5000/repo", "test:5000/repo"),
            ("test:5000/repo:tag", "test:5000", "repo", Some("tag"), None, "test:5000/repo:tag", "test:5000/repo:tag"),
            ("test-com:8080/foo", "test-com:8080", "foo", None, None, "test-com:8080/foo", "test-com:8080/foo"),
            ("localhost/foo", "localhost", "foo", None, None, "localhost/foo", "localhost/foo"),
            ("localhost:5000/x", "localhost:5000", "x", None, None, "localhost:5000/x", "localhost:5000/x"),
            ("quay.io/a/b", "quay.io", "a/b", None, None, "quay.io/a/b", "quay.io/a/b"),
            ("127.0.0.1:5000/debian", "127.0.0.1:5000", "debian", None, None, "127.0.0.1:5000/debian", "127.0.0.1:5000/debian"),
            ("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000", "private/moonbase", None, None, "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase"),
            ("192.168.1.1/repo", "192.168.1.1", "repo", None, None, "192.168.1.1/repo", "192.168.1.1/repo"),
            ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", Some("5050"), None, "192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050"),
            ("example.com:8000/privatebasee", "example.com:8000", "privatebasee", None, None, "example.com:8000/privatebasee", "example.com:8000/privatebasee"),
            ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", Some("some-long-tag"), None, "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
            ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", Some("test.example.com"), None, "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com"),
            ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", Some("xn--n3h.com"), None, "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com"),
            ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", None, None, "xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo"),
            // An uppercase first component is taken as a domain.
            ("Foo/bar", "Foo", "bar", None, None, "Foo/bar", "Foo/bar"),
            ("DOCKER/docker", "DOCKER", "docker", None, None, "DOCKER/docker", "DOCKER/docker"),
            // IPv6 registries.
            ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None, "[2001:db8::1]/repo", "[2001:db8::1]/repo"),
            ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", Some("tag"), None, "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag"),
            ("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", None, None, "[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo"),
            ("[::1]:5000/x", "[::1]:5000", "x", None, None, "[::1]:5000/x", "[::1]:5000/x"),
            ("[fc00::1]:5000/docker/docker", "[fc00::1]:5000", "docker/docker", None, None, "[fc00::1]:5000/docker/docker", "[fc00::1]:5000/docker/docker"),
            // Tags: case is kept.
            ("lowercase:Uppercase", "docker.io", "library/lowercase", Some("Uppercase"), None, "lowercase:Uppercase", "docker.io/library/lowercase:Uppercase"),
            ("foo:_under.score-1", "docker.io", "library/foo", Some("_under.score-1"), None, "foo:_under.score-1", "docker.io/library/foo:_under.score-1"),
            // A hex name is fine once it has a domain or a namespace.
            ("docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "docker.io", "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", None, None, HEX, "docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"),
            ("dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", "docker.io", "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", None, None, "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", "docker.io/library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9"),
        ];
        let n = rows.len();
        for row in rows {
            check_valid(row);
        }
        assert!(n >= 50, "{n} rows");

        // Digests, alone and with tags (the rows own formatted strings).
        let cases: Vec<DigestRow> = vec![
            (fd.clone(), "docker.io", "library/repo", None, fd.clone(), format!("docker.io/library/{fd}")),
            (format!("busybox:latest@{D}"), "docker.io", "library/busybox", Some("latest"), format!("busybox:latest@{D}"), format!("docker.io/library/busybox:latest@{D}")),
            (format!("test:5000/repo@{D}"), "test:5000", "repo", None, format!("test:5000/repo@{D}"), format!("test:5000/repo@{D}")),
            (format!("test:5000/repo:tag@{D}"), "test:5000", "repo", Some("tag"), format!("test:5000/repo:tag@{D}"), format!("test:5000/repo:tag@{D}")),
            (format!("[2001:db8::1]:5000/repo:tag@{D}"), "[2001:db8::1]:5000", "repo", Some("tag"), format!("[2001:db8::1]:5000/repo:tag@{D}"), format!("[2001:db8::1]:5000/repo:tag@{D}")),
            (format!("dmcgowan/myapp@{D}"), "docker.io", "dmcgowan/myapp", None, format!("dmcgowan/myapp@{D}"), format!("docker.io/dmcgowan/myapp@{D}")),
        ];
        for (input, domain, path, tag, familiar, full) in &cases {
            let r = Reference::parse(input).expect("digest reference parses");
            assert_eq!((r.domain(), r.path(), r.tag()), (*domain, *path, *tag), "{input}");
            assert_eq!(r.digest().map(ToString::to_string).as_deref(), Some(D));
            assert_eq!(&r.familiar(), familiar);
            assert_eq!(&r.to_string(), full);
        }
    }

    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    enum Kind {
        Empty,
        Format,
        Upper,
        Long,
        Hex,
        Digest,
    }

    fn kind(e: &ReferenceError) -> Kind {
        match e {
            ReferenceError::Empty => Kind::Empty,
            ReferenceError::InvalidFormat(_) | ReferenceError::InvalidTag(_) => Kind::Format,
            ReferenceError::Uppercase(_) => Kind::Upper,
            ReferenceError::NameTooLong(_) => Kind::Long,
            ReferenceError::HexIdentifier(_) => Kind::Hex,
            ReferenceError::Digest { .. } => Kind::Digest,
        }
    }

    #[test]
    #[rustfmt::skip]
    fn invalid_references() {
        use Kind::*;
        let long_ns = format!("{}x/docker", "this_is_valid_".repeat(20));
        let long_path = format!("{}a:tag", "a/".repeat(128));
        let long_tag = format!("foo:{}", "t".repeat(129));
        let rows: Vec<(String, Kind)> = [
            ("", Empty),
            (":justtag", Format),
            ("@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", Format),
            ("repo@sha256:ffffffffffffffffffffffffffffffffff", Digest),
            ("validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", Digest),
            ("repo@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", Digest),
            ("repo@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", Digest),
            ("repo@sha256:short", Format),
            ("repo@", Format),
            ("repo:", Format),
            ("repo:-tag", Format),
            ("repo:.tag", Format),
            ("Uppercase:tag", Upper),
            ("Foo:bar", Upper),
            ("FOO", Upper),
            ("test:5000/Uppercase/lowercase:tag", Upper),
            ("docker/Docker", Upper),
            ("docker.io/docker/Docker", Upper),
            ("Foo_bar/baz", Upper),
            ("aa/asdf$$^/aa", Format),
            ("https://github.com/docker/docker", Format),
            ("-docker", Format),
            ("-docker/docker", Format),
            ("docker-/docker", Format),
            ("-docker-/docker", Format),
            ("-docker.io/docker/docker", Format),
            ("docker///docker", Format),
            ("docker.io/docker///docker", Format),
            ("____/____", Format),
            ("_docker/_docker", Format),
            ("dock..er/docker", Format),
            ("dock_.er/docker", Format),
            ("dock-.er/docker", Format),
            ("dock___er/docker", Format),
            ("docker/", Format),
            ("/docker", Format),
            ("foo/bar:tag/baz", Format),
            ("[2001:db8::1]", Format),
            ("[2001:db8::1]:5000", Format),
            ("[2001:db8::1]:tag", Format),
            ("[fc00::1]", Format),
            ("fc00::1:5000/debian", Format),
            ("[fe80::1%eth0]:5000/repo", Format),
            ("[fe80::1%@invalidzone]:5000/repo", Format),
            ("[2001:db8:3:4::192.0.2.33]:5000/debian", Format),
            ("[]:5000/repo", Format),
            ("host:port/repo", Format),
            ("example.com:/repo", Format),
            ("exa_mple.com/repo", Format),
            ("ubuntu latest", Format),
            (" ubuntu", Format),
            ("ubuntu:a@b@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", Format),
            ("ünïcode", Format),
            (HEX, Hex),
        ]
        .into_iter()
        .map(|(s, k)| (s.to_owned(), k))
        .chain([(long_ns, Long), (long_path, Long), (long_tag, Format)])
        .collect();
        assert!(rows.len() >= 50);
        for (input, want) in &rows {
            match Reference::parse(input) {
                Ok(r) => panic!("{input:?} should not parse, got {r}"),
                Err(e) => {
                    assert_eq!(kind(&e), *want, "{input:?}: {e}");
                    let msg = e.to_string();
                    assert!(!msg.contains('\n'), "{msg}");
                    if !input.is_empty() {
                        assert!(msg.contains(input.as_str()), "{msg:?} names {input:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn path_length_limit() {
        // 255 path characters is the most; the domain does not count.
        let ok = format!("{}a:tag-puts-this-over-max", "a/".repeat(127));
        let r = Reference::parse(&ok).expect("255-character path");
        assert_eq!(r.path().len(), 255);
        assert_eq!(r.domain(), "docker.io");
        let too_long = format!("{}a", "a/".repeat(128));
        assert!(matches!(
            Reference::parse(&too_long),
            Err(ReferenceError::NameTooLong(_))
        ));
    }

    #[test]
    fn error_messages() {
        let msg = |s: &str| Reference::parse(s).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            msg("Foo:bar"),
            r#"invalid reference format: "Foo:bar": repository name must be lowercase"#
        );
        assert_eq!(msg("a b"), r#"invalid reference format: "a b""#);
        assert_eq!(
            msg(HEX),
            format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")
        );
        assert_eq!(
            msg(""),
            "invalid reference format: repository name must have at least one component"
        );
        assert!(msg("x@md5:ffffffffffffffffffffffffffffffff").contains("unsupported digest"));
    }

    #[test]
    fn default_tag_and_with_tag() {
        let r = Reference::parse("busybox").expect("parses");
        assert_eq!(
            r.clone().with_default_tag().to_string(),
            "docker.io/library/busybox:latest"
        );
        let tagged = Reference::parse("busybox:1.36").expect("parses");
        assert_eq!(tagged.clone().with_default_tag(), tagged);
        let digested = Reference::parse(&format!("busybox@{D}")).expect("parses");
        assert_eq!(digested.clone().with_default_tag(), digested);

        let t = r.with_tag("TAG5").expect("valid tag");
        assert_eq!(t.familiar(), "busybox:TAG5");
        let both = digested.with_tag("latest").expect("valid tag");
        assert_eq!(both.familiar(), format!("busybox:latest@{D}"));
        assert_eq!(
            r.with_tag("-foo"),
            Err(ReferenceError::InvalidTag("-foo".to_owned()))
        );
        assert!(r.with_tag("").is_err());
        assert!(r.with_tag(&"x".repeat(128)).is_ok());
        assert!(r.with_tag(&"x".repeat(129)).is_err());
    }

    #[test]
    fn serde_and_from_str() {
        let r: Reference = "quay.io/a/b:1".parse().expect("parses");
        let json = serde_json::to_string(&r).expect("serialises");
        assert_eq!(json, r#""quay.io/a/b:1""#);
        let back: Reference = serde_json::from_str(r#""python""#).expect("deserialises");
        assert_eq!(back.to_string(), "docker.io/library/python");
        assert!(serde_json::from_str::<Reference>(r#""Bad:Ref""#).is_err());
        let from_full: Reference = serde_json::from_str(&json).expect("round trip");
        assert_eq!(from_full, r);
    }

    #[test]
    fn equality_is_by_normalised_form() {
        let a = Reference::parse("ubuntu").expect("parses");
        let b = Reference::parse("index.docker.io/library/ubuntu").expect("parses");
        assert_eq!(a, b);
        let set: std::collections::HashSet<_> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }
}
