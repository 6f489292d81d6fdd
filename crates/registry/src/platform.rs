//! Platforms (`linux/arm64/v8`) and the choice of one manifest from an index, normalised the way
//! containerd's `platforms` package does: `aarch64` ≡ `arm64`, `arm64/v8` ≡ `arm64`,
//! `x86_64` ≡ `amd64`, `armhf` ≡ `arm/v7`; entries whose platform is `unknown/unknown`
//! (build attestations) are never chosen.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::manifest::Descriptor;

/// An OS and CPU architecture, as in an index entry's `platform`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Why a `--platform` value is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid platform {0:?}: expected os/arch[/variant]")]
pub struct PlatformError(pub String);

impl Platform {
    /// `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`, or a bare architecture (`arm64`, OS linux).
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || PlatformError(s.to_owned());
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, None),
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(bad()),
        };
        Ok(Platform {
            architecture: arch.to_owned(),
            os: os.to_owned(),
            variant: variant.map(str::to_owned),
            ..Platform::default()
        }
        .normalized())
    }

    /// The platform this program runs on (`linux/amd64` on x86-64).
    pub fn host() -> Platform {
        let arch = std::env::consts::ARCH;
        let mut p = Platform {
            architecture: arch.to_owned(),
            os: std::env::consts::OS.to_owned(),
            ..Platform::default()
        };
        if arch == "arm" {
            p.variant = Some("v7".to_owned());
        }
        p.normalized()
    }

    /// containerd's `Normalize`.
    pub fn normalized(&self) -> Platform {
        let os = match self.os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_owned(),
            other => other.to_owned(),
        };
        let variant = self
            .variant
            .as_deref()
            .map(str::to_ascii_lowercase)
            .filter(|v| !v.is_empty());
        let (arch, variant) = match (
            self.architecture.to_ascii_lowercase().as_str(),
            variant.as_deref(),
        ) {
            ("i386", _) => ("386".to_owned(), None),
            ("x86_64" | "x86-64" | "amd64", Some("v1") | None) => ("amd64".to_owned(), None),
            ("x86_64" | "x86-64" | "amd64", Some(v)) => ("amd64".to_owned(), Some(v.to_owned())),
            ("aarch64" | "arm64", Some("8" | "v8") | None) => ("arm64".to_owned(), None),
            ("aarch64" | "arm64", Some(v)) => ("arm64".to_owned(), Some(v.to_owned())),
            ("armhf", _) => ("arm".to_owned(), Some("v7".to_owned())),
            ("armel", _) => ("arm".to_owned(), Some("v6".to_owned())),
            ("arm", None | Some("7")) => ("arm".to_owned(), Some("v7".to_owned())),
            ("arm", Some(v @ ("5" | "6" | "8"))) => ("arm".to_owned(), Some(format!("v{v}"))),
            (a, v) => (a.to_owned(), v.map(str::to_owned)),
        };
        Platform {
            architecture: arch,
            os,
            variant,
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
        }
    }

    /// True for the `unknown/unknown` platform of attestation manifests.
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" || self.architecture == "unknown"
    }

    /// How well an index entry's platform suits `self` (the wanted one): `None` when it cannot
    /// run, lower is better. An ARM v7 host also runs v6 and v5 images.
    pub fn rank(&self, candidate: &Platform) -> Option<u32> {
        let want = self.normalized();
        let have = candidate.normalized();
        if have.is_unknown() || want.os != have.os || want.architecture != have.architecture {
            return None;
        }
        if want.variant == have.variant {
            return Some(0);
        }
        if want.architecture == "arm" {
            let level = |v: &Option<String>| {
                v.as_deref()
                    .and_then(|s| s.strip_prefix('v'))
                    .and_then(|n| n.parse::<u32>().ok())
            };
            if let (Some(w), Some(h)) = (level(&want.variant), level(&have.variant)) {
                if h < w {
                    return Some(w - h);
                }
            }
        }
        None
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The best entry of an index for `want`, skipping entries without a platform and attestations.
pub fn select<'a>(entries: &'a [Descriptor], want: &Platform) -> Option<&'a Descriptor> {
    entries
        .iter()
        .filter_map(|d| Some((want.rank(d.platform.as_ref()?)?, d)))
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::Digest;

    fn entry(p: &str, tag: &[u8]) -> Descriptor {
        let mut d = Descriptor::of(crate::manifest::OCI_MANIFEST, tag);
        let (os, rest) = p.split_once('/').unwrap();
        let mut parts = rest.split('/');
        d.platform = Some(Platform {
            os: os.into(),
            architecture: parts.next().unwrap().into(),
            variant: parts.next().map(Into::into),
            ..Platform::default()
        });
        d
    }

    #[test]
    fn parse_and_normalise() {
        for (input, want) in [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/armhf", "linux/arm/v7"),
            ("arm64", "linux/arm64"),
            ("Linux/AMD64", "linux/amd64"),
        ] {
            assert_eq!(Platform::parse(input).unwrap().to_string(), want, "{input}");
        }
        for bad in ["", "linux/", "a/b/c/d"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn select_skips_attestations_and_matches_variants() {
        let entries = vec![
            entry("unknown/unknown", b"att"),
            entry("linux/arm/v6", b"v6"),
            entry("linux/arm64/v8", b"arm64"),
            entry("linux/amd64", b"amd64"),
            entry("linux/arm/v7", b"v7"),
        ];
        let pick =
            |p: &str| select(&entries, &Platform::parse(p).unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64"), Some(Digest::of(b"amd64")));
        assert_eq!(pick("linux/arm64"), Some(Digest::of(b"arm64")));
        assert_eq!(pick("linux/arm/v7"), Some(Digest::of(b"v7")));
        assert_eq!(pick("linux/arm/v8"), Some(Digest::of(b"v7")));
        assert_eq!(pick("linux/arm/v5"), None);
        assert_eq!(pick("linux/s390x"), None);
        let only_att = vec![entry("unknown/unknown", b"att")];
        let want = Platform::parse("unknown/unknown").unwrap();
        assert!(select(&only_att, &want).is_none());
    }
}
