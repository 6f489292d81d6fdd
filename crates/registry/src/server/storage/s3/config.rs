//! Where the bucket is and with which credentials: `s3://BUCKET[/PREFIX]`, the endpoint, the
//! region, and the usual `AWS_*` environment variables.

use std::fmt;

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

    pub(super) fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
