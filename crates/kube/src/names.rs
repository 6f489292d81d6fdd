//! Kubernetes' name rules, and the deterministic mapping of docker names onto them.

/// Kubernetes' limit for a DNS-1123 label, and for a label's name and value.
const LABEL_MAX: usize = 63;

/// `name` as a DNS-1123 label (lowercase alphanumerics and `-`, starting and ending with an
/// alphanumeric, at most 63 characters), which Kubernetes requires of pod, container and
/// volume names: `my_app` → `my-app`, `Web.1` → `web-1`. Every other character becomes `-`,
/// runs of `-` collapse, so the result depends on `name` alone. A name with no alphanumeric
/// at all becomes `x`.
pub fn dns_label(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = out.trim_matches('-').to_string();
    out.truncate(LABEL_MAX);
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "x".to_string()
    } else {
        out.to_string()
    }
}

/// Whether `key` is a valid label key: an optional DNS-subdomain prefix and `/`, then a name of
/// at most 63 alphanumerics, `-`, `_` or `.`, starting and ending with an alphanumeric.
pub fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        p.len() <= 253
            && !p.is_empty()
            && p.split('.')
                .all(|part| !part.is_empty() && dns_label(part) == part)
    });
    prefix_ok && !name.is_empty() && is_label_value(name)
}

/// Whether `value` is a valid label value: empty, or at most 63 alphanumerics, `-`, `_` or `.`,
/// starting and ending with an alphanumeric. Docker labels often are not (`description=My
/// app`); those go to annotations instead.
pub fn is_label_value(value: &str) -> bool {
    if value.is_empty() {
        return true;
    }
    let bytes = value.as_bytes();
    value.len() <= LABEL_MAX
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `name` is a valid port name (IANA_SVC_NAME): at most 15 lowercase alphanumerics
/// and `-`, with a letter, no `-` at either end nor two in a row.
pub fn is_port_name(name: &str) -> bool {
    name.len() <= 15
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_docker_names() {
        let cases = [
            ("my_app", "my-app"),
            ("Web.1", "web-1"),
            ("web", "web"),
            ("__a__b__", "a-b"),
            ("a--b", "a-b"),
            ("___", "x"),
            ("épée", "p-e"),
        ];
        for (name, want) in cases {
            assert_eq!(dns_label(name), want, "{name}");
        }
        let long = "a".repeat(62) + "_b";
        assert_eq!(
            dns_label(&long),
            "a".repeat(62),
            "truncated, no trailing dash"
        );
    }

    #[test]
    fn label_keys_and_values() {
        assert!(is_label_key("app"));
        assert!(is_label_key("com.docker.compose.project"));
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(!is_label_key("bad key"));
        assert!(!is_label_key("/name"));
        assert!(!is_label_key("Example.COM/name"));
        assert!(is_label_value(""));
        assert!(is_label_value("v1.2_3-x"));
        assert!(!is_label_value("My app"));
        assert!(!is_label_value("-x"));
        assert!(!is_label_value(&"a".repeat(64)));
    }

    #[test]
    fn port_names() {
        for good in ["http", "8080-tcp", "a1", "metrics-port"] {
            assert!(is_port_name(good), "{good}");
        }
        for bad in [
            "",
            "8080",
            "HTTP",
            "-http",
            "http-",
            "a--b",
            "sixteen-chars-xx",
            "a_b",
        ] {
            assert!(!is_port_name(bad), "{bad}");
        }
    }
}
