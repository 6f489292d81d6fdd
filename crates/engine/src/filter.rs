//! docker's `-f key=value` filters, shared by `images`, `ps` and the prunes.

use crate::EngineError;

/// Splits one filter string at its first `=`.
pub(crate) fn split(raw: &str) -> Result<(&str, &str), EngineError> {
    raw.split_once('=').ok_or_else(|| {
        EngineError::InvalidArgument(format!("bad format of filter (expected name=value): {raw}"))
    })
}

/// `label=KEY` (present) or `label=KEY=VALUE` (equal), over any label lookup.
pub(crate) fn label_matches<'a>(get: impl Fn(&str) -> Option<&'a str>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => get(k) == Some(v),
        None => get(filter).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_split_and_labels_match() {
        assert_eq!(split("status=exited").unwrap(), ("status", "exited"));
        assert_eq!(split("label=a=b").unwrap(), ("label", "a=b"));
        assert!(split("dangling").is_err());
        let labels = [("app", "web"), ("tier", "")];
        let get = |k: &str| labels.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert!(label_matches(get, "app"));
        assert!(label_matches(get, "app=web"));
        assert!(!label_matches(get, "app=db"));
        assert!(label_matches(get, "tier"));
        assert!(!label_matches(get, "missing"));
    }
}
