//! `search`: Docker Hub's search API (`GET https://index.docker.io/v1/search?q=TERM&n=N`),
//! the same `/v1/search` on another registry that has one, and otherwise that registry's
//! `/v2/_catalog`, its repositories whose name contains the term.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_registry::client::ClientError> {
//! use berth_registry::client::{Client, ClientConfig, SearchFilter};
//! let client = Client::new(ClientConfig::default())?;
//! for r in client.search("docker.io", "python", 25, &SearchFilter::default())? {
//!     println!("{} {}", r.name, r.star_count);
//! }
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};
use url::Url;

use super::pull::next_link;
use super::transport::{read_limited, Body, Endpoint, Session};
use super::{Client, ClientError};

/// Docker Hub's index, where the search API lives (not `registry-1.docker.io`).
const HUB_INDEX: &str = "index.docker.io";
/// Repositories read from a catalog at most (a registry that never ends its pages).
const CATALOG_MAX: usize = 100_000;

/// One result, as the search API names its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchResult {
    pub name: String,
    pub description: String,
    pub star_count: u64,
    pub is_official: bool,
    pub is_automated: bool,
}

/// The search API's answer.
#[derive(Debug, Deserialize)]
struct SearchResponse {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// Parses a `/v1/search` body.
pub fn parse_search(body: &[u8]) -> Result<Vec<SearchResult>, serde_json::Error> {
    serde_json::from_slice::<SearchResponse>(body).map(|r| r.results)
}

/// `search --filter`: `stars=N` (at least N stars), `is-official=true|false`,
/// `is-automated=true|false`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    pub stars: Option<u64>,
    pub is_official: Option<bool>,
    pub is_automated: Option<bool>,
}

impl SearchFilter {
    /// Parses `key=value` filters as docker's daemon does (the same words in its errors).
    pub fn parse(filters: &[String]) -> Result<Self, String> {
        let mut f = Self::default();
        let boolean = |k: &str, v: &str| match v.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("invalid filter '{k}={v}'")),
        };
        for item in filters {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("bad format of filter (expected name=value): {item}"))?;
            match k {
                "stars" => {
                    f.stars = Some(
                        v.parse()
                            .map_err(|_| format!("invalid filter 'stars={v}'"))?,
                    )
                }
                "is-official" => f.is_official = Some(boolean(k, v)?),
                "is-automated" => f.is_automated = Some(boolean(k, v)?),
                _ => return Err(format!("invalid filter '{k}'")),
            }
        }
        Ok(f)
    }

    pub fn matches(&self, r: &SearchResult) -> bool {
        self.stars.is_none_or(|n| r.star_count >= n)
            && self.is_official.is_none_or(|o| r.is_official == o)
            && self.is_automated.is_none_or(|a| r.is_automated == a)
    }
}

fn bad_body(what: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Status {
        what: what.to_owned(),
        status: 200,
        code: None,
        message: format!("the answer is not the expected JSON: {e}"),
    }
}

impl Client {
    /// Searches `registry` (`docker.io`, or `host[:port]`) for `term`: at most `limit`
    /// results that pass `filter`.
    pub fn search(
        &self,
        registry: &str,
        term: &str,
        limit: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<SearchResult>, ClientError> {
        let hub = matches!(registry, "docker.io" | HUB_INDEX | "registry-1.docker.io");
        let ep = if hub {
            Endpoint {
                registry: "docker.io".into(),
                host: HUB_INDEX.into(),
                scheme: Some("https".into()),
                insecure: false,
                cred_key: "docker.io".into(),
            }
        } else {
            self.inner.endpoint(registry)
        };
        let what = format!("search {term} on {registry}");
        let s = self
            .inner
            .session(&ep, "", vec!["registry:catalog:*".into()])?;
        let mut url = s.root_url("v1/search")?;
        url.query_pairs_mut()
            .append_pair("q", term)
            .append_pair("n", &limit.to_string());
        let resp = s.send("GET", &url, &[], Body::Empty)?;
        let found = match resp.status() {
            200 => {
                let body = read_limited(resp, 16 << 20).map_err(|e| ClientError::Io {
                    what: what.clone(),
                    source: e,
                })?;
                parse_search(&body).map_err(|e| bad_body(&what, e))?
            }
            // No search API here: the catalog is what a v2 registry can tell.
            404 | 405 if !hub => catalog_matches(&s, &ep, term, &what)?,
            _ => return Err(s.status_error(resp, what)),
        };
        Ok(found
            .into_iter()
            .filter(|r| filter.matches(r))
            .take(limit)
            .collect())
    }
}

/// The repositories of `/v2/_catalog` (every page) whose name contains `term` (any case),
/// named `host/repository` so that they can be pulled as printed.
fn catalog_matches(
    s: &Session<'_>,
    ep: &Endpoint,
    term: &str,
    what: &str,
) -> Result<Vec<SearchResult>, ClientError> {
    #[derive(Deserialize)]
    struct Catalog {
        #[serde(default)]
        repositories: Vec<String>,
    }
    let needle = term.to_lowercase();
    let mut url: Url = s.root_url("v2/_catalog?n=1000")?;
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < CATALOG_MAX {
        let resp = s.send("GET", &url, &[], Body::Empty)?;
        if resp.status() != 200 {
            return Err(s.status_error(resp, format!("{what}: catalog")));
        }
        let next = resp.header("link").and_then(next_link).map(str::to_owned);
        let body = read_limited(resp, 16 << 20).map_err(|e| ClientError::Io {
            what: what.to_owned(),
            source: e,
        })?;
        let page: Catalog = serde_json::from_slice(&body).map_err(|e| bad_body(what, e))?;
        seen += page.repositories.len().max(1);
        out.extend(
            page.repositories
                .into_iter()
                .filter(|r| r.to_lowercase().contains(&needle))
                .map(|r| SearchResult {
                    name: format!("{}/{r}", ep.host),
                    ..Default::default()
                }),
        );
        match next {
            Some(n) => url = s.join(&url, &n)?,
            None => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker Hub's answer to `GET /v1/search?q=python&n=3` (recorded, descriptions cut).
    const HUB: &str = r#"{"num_pages":1,"num_results":3,"results":[
        {"star_count":9912,"is_official":true,"name":"python","is_automated":false,"description":"Python is an interpreted, interactive, object-oriented, open-source programming language."},
        {"star_count":7,"is_official":false,"name":"circleci/python","is_automated":true,"description":"Python is an interpreted, interactive, object-oriented, open-source…"},
        {"star_count":0,"is_official":false,"name":"someone/python","is_automated":false,"description":""}
    ],"page_size":3,"query":"python","page":1}"#;

    #[test]
    fn hub_answers_parse() {
        let r = parse_search(HUB.as_bytes()).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[0],
            SearchResult {
                name: "python".into(),
                description: "Python is an interpreted, interactive, object-oriented, open-source programming language.".into(),
                star_count: 9912,
                is_official: true,
                is_automated: false,
            }
        );
        assert!(r[1].is_automated && !r[1].is_official);
        assert!(parse_search(b"{\"results\": 3}").is_err());
        assert_eq!(parse_search(b"{}").unwrap(), vec![]);
    }

    #[test]
    fn filters_parse_and_select() {
        let all = parse_search(HUB.as_bytes()).unwrap();
        let pick = |f: &[&str]| -> Vec<String> {
            let f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
            let f = SearchFilter::parse(&f).unwrap();
            all.iter()
                .filter(|r| f.matches(r))
                .map(|r| r.name.clone())
                .collect()
        };
        assert_eq!(pick(&["stars=5"]), vec!["python", "circleci/python"]);
        assert_eq!(pick(&["is-official=true"]), vec!["python"]);
        assert_eq!(
            pick(&["is-official=false", "stars=1"]),
            vec!["circleci/python"]
        );
        assert_eq!(pick(&[]).len(), 3);
        for bad in ["stars=many", "color=red", "is-official=maybe", "stars"] {
            assert!(SearchFilter::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
