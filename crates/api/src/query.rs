//! docker's query-string conventions: booleans as `1`/`true`/`True`, filters as JSON in
//! either of its two encodings.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// A query flag as docker reads it: `1`, `true`, `True` (anything else, and absence, is false).
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    Ok(matches!(
        s.as_deref().map(str::to_ascii_lowercase).as_deref(),
        Some("1" | "true")
    ))
}

/// A number that may be absent or empty.
pub fn opt_number<'de, D: Deserializer<'de>, T: std::str::FromStr>(
    d: D,
) -> Result<Option<T>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("invalid number {v:?}"))),
    }
}

/// `?h=ROWS&w=COLS` of docker's resize routes (0 for a missing one).
#[derive(Debug, Deserialize)]
pub struct TerminalSize {
    #[serde(default, deserialize_with = "opt_number")]
    h: Option<u16>,
    #[serde(default, deserialize_with = "opt_number")]
    w: Option<u16>,
}

impl TerminalSize {
    /// (rows, columns).
    pub fn rows_cols(&self) -> (u16, u16) {
        (self.h.unwrap_or(0), self.w.unwrap_or(0))
    }
}

/// `filters={"status":["running"],"label":{"a=b":true}}` → `["status=running", "label=a=b"]`,
/// the `key=value` form the engine's filters parse. Both of docker's encodings are accepted:
/// a list of values, or a map of value → true.
pub fn filters(raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let parsed: BTreeMap<String, serde_json::Value> = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid filter JSON {raw:?}: {e}")))?;
    let mut out = Vec::new();
    for (key, values) in parsed {
        match values {
            serde_json::Value::Array(items) => {
                for v in items {
                    let v = v.as_str().ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "invalid filter {key}: values must be strings"
                        ))
                    })?;
                    out.push(format!("{key}={v}"));
                }
            }
            serde_json::Value::Object(map) => {
                for (v, on) in map {
                    if on.as_bool().unwrap_or(false) {
                        out.push(format!("{key}={v}"));
                    }
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter {key}: {other} is neither a list nor a map"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filter_encodings_give_key_value_strings() {
        assert_eq!(
            filters(Some(r#"{"status":["running","exited"]}"#)).unwrap(),
            vec!["status=running", "status=exited"]
        );
        assert_eq!(
            filters(Some(r#"{"label":{"a=b":true,"c":false}}"#)).unwrap(),
            vec!["label=a=b"]
        );
        assert!(filters(None).unwrap().is_empty());
        assert!(filters(Some("{")).is_err());
        assert!(filters(Some(r#"{"a":1}"#)).is_err());
    }
}
