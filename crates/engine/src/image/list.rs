//! `images`: one row per tag, untagged images as `<none>`.

use berth_image::digest::Digest;
use berth_image::reference::Reference;

use crate::{Engine, EngineError};

/// Filters of `images -f`, parsed at the edge.
#[derive(Debug, Clone, Default)]
pub struct ImageFilter {
    /// `dangling=true|false`
    pub dangling: Option<bool>,
    /// `reference=PATTERN` (several: any may match)
    pub reference: Vec<String>,
    /// `label=KEY` or `label=KEY=VALUE` (all must match)
    pub label: Vec<String>,
    /// `before=IMAGE`, `since=IMAGE`
    pub before: Option<String>,
    pub since: Option<String>,
    /// `-a`: also the build's intermediate images.
    pub all: bool,
}

impl ImageFilter {
    /// Parses docker's `key=value` filter strings.
    pub fn parse(filters: &[String]) -> Result<Self, EngineError> {
        let mut f = Self::default();
        for raw in filters {
            let (k, v) = crate::filter::split(raw)?;
            match k {
                "dangling" => {
                    f.dangling = Some(match v.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(EngineError::InvalidArgument(format!(
                                "invalid filter 'dangling={v}': expected true or false"
                            )))
                        }
                    })
                }
                "reference" => f.reference.push(v.to_string()),
                "label" => f.label.push(v.to_string()),
                "before" => f.before = Some(v.to_string()),
                "since" => f.since = Some(v.to_string()),
                _ => {
                    return Err(EngineError::InvalidArgument(format!(
                        "invalid filter '{k}': images accepts dangling, reference, label, before and since"
                    )))
                }
            }
        }
        Ok(f)
    }
}

/// One row of `images`.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    pub id: Digest,
    /// Familiar repository (`busybox`, `localhost:5000/app`) or `<none>`.
    pub repository: String,
    pub tag: String,
    /// Repo digest (`sha256:…`) for this repository, or `<none>`.
    pub digest: String,
    /// Image config's `created`, RFC 3339.
    pub created: Option<String>,
    pub size: u64,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub labels: serde_json::Map<String, serde_json::Value>,
    /// When the image entered the store (for before/since ordering).
    pub added_at: i64,
}

impl ImageSummary {
    pub fn dangling(&self) -> bool {
        self.repo_tags.is_empty()
    }
}

impl Engine {
    /// Lists images, newest first, one row per tag.
    pub fn images(&self, filter: &ImageFilter) -> Result<Vec<ImageSummary>, EngineError> {
        let before = filter
            .before
            .as_deref()
            .map(|n| self.resolve_image(n))
            .transpose()?;
        let since = filter
            .since
            .as_deref()
            .map(|n| self.resolve_image(n))
            .transpose()?;
        let rows = self.store.meta.read(|tx| {
            let mut out = Vec::new();
            let tags = tx.tags()?;
            let cached: std::collections::BTreeSet<Digest> =
                tx.cached_images()?.into_iter().collect();
            for img in tx.images()? {
                // A build's intermediate images are shown only with -a (`images -a`), as
                // docker hides images that are parents of others.
                let intermediate = cached.contains(&img.id);
                if intermediate && !filter.all && !tags.iter().any(|t| t.image_id == img.id) {
                    continue;
                }
                let repo_tags: Vec<String> = tags
                    .iter()
                    .filter(|t| t.image_id == img.id)
                    .map(|t| familiar(&t.name))
                    .collect();
                let repo_digests: Vec<String> = tx
                    .repo_digests(&img.id)?
                    .iter()
                    .map(|n| familiar(n))
                    .collect();
                out.push((img, repo_tags, repo_digests));
            }
            Ok(out)
        })?;
        let bound = |id: &Option<Digest>| {
            id.as_ref()
                .and_then(|d| rows.iter().find(|r| &r.0.id == d).map(|r| r.0.added_at))
        };
        let (before_t, since_t) = (bound(&before), bound(&since));
        let mut out = Vec::new();
        for (img, repo_tags, repo_digests) in &rows {
            if before_t.is_some_and(|t| img.added_at >= t)
                || since_t.is_some_and(|t| img.added_at <= t)
            {
                continue;
            }
            let dangling = repo_tags.is_empty();
            if filter.dangling.is_some_and(|d| d != dangling) {
                continue;
            }
            let labels = if filter.label.is_empty() {
                serde_json::Map::new()
            } else {
                self.image_config(&img.id)?
                    .pointer("/config/Labels")
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default()
            };
            if !filter.label.iter().all(|l| {
                crate::filter::label_matches(|k| labels.get(k).and_then(|x| x.as_str()), l)
            }) {
                continue;
            }
            let base = ImageSummary {
                id: img.id.clone(),
                repository: "<none>".into(),
                tag: "<none>".into(),
                digest: "<none>".into(),
                created: img.created.clone(),
                size: img.size,
                repo_tags: repo_tags.clone(),
                repo_digests: repo_digests.clone(),
                labels,
                added_at: img.added_at,
            };
            if repo_tags.is_empty() {
                if filter.reference.is_empty() {
                    out.push(base);
                }
                continue;
            }
            for t in repo_tags {
                let (repo, tag) = split_tag(t);
                if !filter.reference.is_empty()
                    && !filter.reference.iter().any(|p| glob(p, repo) || glob(p, t))
                {
                    continue;
                }
                let digest = repo_digests
                    .iter()
                    .find_map(|d| {
                        d.split_once('@')
                            .filter(|(r, _)| *r == repo)
                            .map(|(_, d)| d.to_string())
                    })
                    .unwrap_or_else(|| "<none>".into());
                out.push(ImageSummary {
                    repository: repo.to_string(),
                    tag: tag.to_string(),
                    digest,
                    ..base.clone()
                });
            }
        }
        Ok(out)
    }
}

fn familiar(full: &str) -> String {
    Reference::parse(full).map_or_else(|_| full.to_string(), |r| r.familiar())
}

/// Splits `repo:tag` at the tag's colon (not a registry port's).
pub(crate) fn split_tag(s: &str) -> (&str, &str) {
    match s.rfind(':') {
        Some(i) if !s[i + 1..].contains('/') => (&s[..i], &s[i + 1..]),
        _ => (s, ""),
    }
}

/// Shell-style glob as Go's `path.Match`: `*` and `?` do not cross `/`; `[…]` classes.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => n.first().is_some_and(|&c| c != '/') && go(rest, &n[1..]),
            Some(('[', rest)) => {
                let Some(end) = rest.iter().position(|&c| c == ']') else {
                    return false;
                };
                let (class, after) = (&rest[..end], &rest[end + 1..]);
                let (neg, class) = match class.first() {
                    Some('^') | Some('!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let Some(&c) = n.first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != neg && go(after, &n[1..])
            }
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_follows_path_match() {
        for (p, n, want) in [
            ("busybox", "busybox", true),
            ("busy*", "busybox", true),
            ("*", "user/repo", false),
            ("*/*", "user/repo", true),
            ("user/*", "user/repo", true),
            ("b?sybox", "busybox", true),
            ("[a-c]usybox", "busybox", true),
            ("[!b]usybox", "busybox", false),
            ("busybox:*", "busybox:latest", true),
            ("hello", "hello-world", false),
        ] {
            assert_eq!(glob(p, n), want, "{p} vs {n}");
        }
    }

    #[test]
    fn split_tag_ignores_registry_port() {
        assert_eq!(split_tag("localhost:5000/x:v1"), ("localhost:5000/x", "v1"));
        assert_eq!(split_tag("busybox:latest"), ("busybox", "latest"));
        assert_eq!(split_tag("localhost:5000/x"), ("localhost:5000/x", ""));
    }

    #[test]
    fn filter_parse_rejects_unknown_keys() {
        assert!(
            ImageFilter::parse(&["dangling=true".into()])
                .unwrap()
                .dangling
                == Some(true)
        );
        assert!(ImageFilter::parse(&["colour=red".into()]).is_err());
        assert!(ImageFilter::parse(&["dangling".into()]).is_err());
        assert!(ImageFilter::parse(&["dangling=maybe".into()]).is_err());
    }
}
