//! The engine's version: the build's facts and the API versions it speaks.

use std::collections::BTreeMap;

use serde::Serialize;

use super::host;

/// The Engine API version berth advertises (docker 25's).
pub const API_VERSION: &str = "1.44";
/// The oldest Engine API version berth accepts.
pub const MIN_API_VERSION: &str = "1.24";

/// What the build recorded (see `build.rs`): missing facts are `None`, never made up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    /// `rustc 1.85.0 (…)`, in docker's "Go version" slot.
    pub rustc: Option<&'static str>,
    /// The short commit the binary was built from.
    pub git_commit: Option<&'static str>,
    /// When it was built, in Unix seconds.
    pub built_unix: Option<i64>,
}

impl BuildInfo {
    /// This build's.
    pub const fn current() -> Self {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION"),
            rustc: option_env!("BERTH_RUSTC_VERSION"),
            git_commit: option_env!("BERTH_GIT_COMMIT"),
            built_unix: match option_env!("BERTH_BUILT_UNIX") {
                Some(s) => parse_i64(s),
                None => None,
            },
        }
    }

    /// The build time as docker prints it (`Thu Oct 26 09:07:41 2023`), if known.
    pub fn built(&self) -> Option<String> {
        let t = chrono::DateTime::from_timestamp(self.built_unix?, 0)?;
        Some(t.format("%a %b %e %H:%M:%S %Y").to_string())
    }
}

/// `const` parsing of the build time (no `str::parse` in const context).
const fn parse_i64(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let mut i = 0;
    let mut n: i64 = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || n > i64::MAX / 10 - 10 {
            return None;
        }
        n = n * 10 + (b[i] - b'0') as i64;
        i += 1;
    }
    Some(n)
}

/// docker's `Server` part of `docker version` (`types.Version`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerVersion {
    pub platform: BTreeMap<String, String>,
    pub components: Vec<ServerComponent>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go_version: Option<String>,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_time: Option<String>,
}

/// One component of the server (`Engine`), with its details as docker's map of strings.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerComponent {
    pub name: String,
    pub version: String,
    pub details: BTreeMap<String, String>,
}

impl ServerVersion {
    /// The server part for `build` on this host.
    pub fn gather(build: &BuildInfo) -> Self {
        let kernel = host::kernel_version();
        let arch = crate::image::go_arch().to_string();
        let mut details = BTreeMap::new();
        details.insert("ApiVersion".into(), API_VERSION.into());
        details.insert("Arch".into(), arch.clone());
        if let Some(t) = build.built() {
            details.insert("BuildTime".into(), t);
        }
        details.insert("Experimental".into(), "false".into());
        if let Some(c) = build.git_commit {
            details.insert("GitCommit".into(), c.into());
        }
        if let Some(r) = build.rustc {
            details.insert("GoVersion".into(), r.into());
        }
        details.insert("KernelVersion".into(), kernel.clone());
        details.insert("MinAPIVersion".into(), MIN_API_VERSION.into());
        details.insert("Os".into(), "linux".into());
        ServerVersion {
            platform: BTreeMap::from([("Name".to_string(), "berth".to_string())]),
            components: vec![ServerComponent {
                name: "Engine".into(),
                version: build.version.into(),
                details,
            }],
            version: build.version.into(),
            api_version: API_VERSION.into(),
            min_api_version: MIN_API_VERSION.into(),
            git_commit: build.git_commit.map(str::to_string),
            go_version: build.rustc.map(str::to_string),
            os: "linux".into(),
            arch,
            kernel_version: kernel,
            build_time: build.built(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_time_parses_only_digits() {
        assert_eq!(parse_i64("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_i64(""), None);
        assert_eq!(parse_i64("17x"), None);
        assert_eq!(parse_i64("99999999999999999999999"), None);
    }

    #[test]
    fn build_time_prints_as_docker() {
        let b = BuildInfo {
            built_unix: Some(1_698_311_261),
            ..BuildInfo::current()
        };
        assert_eq!(b.built().as_deref(), Some("Thu Oct 26 09:07:41 2023"));
    }

    #[test]
    fn server_version_serializes_with_docker_names() {
        let v = ServerVersion::gather(&BuildInfo::current());
        let j = serde_json::to_value(&v).unwrap_or_default();
        assert_eq!(j["ApiVersion"], API_VERSION);
        assert_eq!(j["MinAPIVersion"], MIN_API_VERSION);
        assert_eq!(j["Components"][0]["Name"], "Engine");
        assert_eq!(
            j["Components"][0]["Details"]["MinAPIVersion"],
            MIN_API_VERSION
        );
        assert_eq!(j["Os"], "linux");
    }
}
