//! A path-tracking view of a YAML value, so every error names the field it is about
//! (`spec.containers[0].ports[1].containerPort: not a port number`).
//!
//! Like Kubernetes, a field set to `null` counts as absent, and fields nobody asks for are
//! ignored; a field that is asked for must have the type Kubernetes gives it.

use std::collections::BTreeMap;

use serde_norway::Value;

/// A malformed field: where, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub path: String,
    pub reason: String,
}

pub(crate) type Field<T> = Result<T, FieldError>;

/// A value and the path that reached it.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> Node<'a> {
    pub fn root(value: &'a Value) -> Self {
        Node {
            value,
            path: String::new(),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// An error about this node.
    pub fn error(&self, reason: impl Into<String>) -> FieldError {
        FieldError {
            path: if self.path.is_empty() {
                "(document)".to_string()
            } else {
                self.path.clone()
            },
            reason: reason.into(),
        }
    }

    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field `key`, None when absent or null; an error when this node is not a mapping.
    pub fn field(&self, key: &str) -> Field<Option<Node<'a>>> {
        let Some(mapping) = self.value.as_mapping() else {
            return Err(self.error("must be a mapping"));
        };
        Ok(mapping
            .get(key)
            .filter(|value| !value.is_null())
            .map(|value| Node {
                value,
                path: self.child(key),
            }))
    }

    /// The field `key`, which must be there.
    pub fn required(&self, key: &str) -> Field<Node<'a>> {
        self.field(key)?.ok_or_else(|| FieldError {
            path: self.child(key),
            reason: "required".to_string(),
        })
    }

    pub fn as_str(&self) -> Field<&'a str> {
        self.value
            .as_str()
            .ok_or_else(|| self.error("must be a string"))
    }

    pub fn as_i64(&self) -> Field<i64> {
        self.value
            .as_i64()
            .ok_or_else(|| self.error("must be an integer"))
    }

    /// A scalar written either way, as quantities and IntOrString fields may be.
    pub fn scalar_text(&self) -> Option<String> {
        match self.value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    pub fn is_string(&self) -> bool {
        self.value.is_string()
    }

    pub fn opt_string(&self, key: &str) -> Field<Option<String>> {
        self.field(key)?
            .map(|n| n.as_str().map(str::to_string))
            .transpose()
    }

    pub fn string(&self, key: &str) -> Field<String> {
        let node = self.required(key)?;
        let text = node.as_str()?;
        if text.is_empty() {
            return Err(node.error("must not be empty"));
        }
        Ok(text.to_string())
    }

    /// A boolean field, false when absent.
    ///
    /// kubectl reads YAML 1.1, where a plain `yes`, `on` or `Y` is a bool; serde_norway reads
    /// YAML 1.2, where they are strings. Those words count as the bools kubectl sees.
    pub fn flag(&self, key: &str) -> Field<bool> {
        let Some(node) = self.field(key)? else {
            return Ok(false);
        };
        if let Some(b) = node.value.as_bool() {
            return Ok(b);
        }
        match node.value.as_str() {
            Some("y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON") => Ok(true),
            Some("n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF") => Ok(false),
            _ => Err(node.error("must be true or false")),
        }
    }

    pub fn opt_i64(&self, key: &str) -> Field<Option<i64>> {
        self.field(key)?.map(|n| n.as_i64()).transpose()
    }

    /// A non-negative integer that fits u32 (counts, seconds), None when absent.
    pub fn opt_u32(&self, key: &str) -> Field<Option<u32>> {
        let Some(node) = self.field(key)? else {
            return Ok(None);
        };
        let value = node.as_i64()?;
        u32::try_from(value)
            .map(Some)
            .map_err(|_| node.error("must be a non-negative integer"))
    }

    /// A port number (1–65535), None when absent.
    pub fn opt_port(&self, key: &str) -> Field<Option<u16>> {
        let Some(node) = self.field(key)? else {
            return Ok(None);
        };
        node.as_port().map(Some)
    }

    pub fn as_port(&self) -> Field<u16> {
        self.value
            .as_i64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|&n| n != 0)
            .ok_or_else(|| self.error("not a port number"))
    }

    /// The list `key`, each item with its `key[i]` path; empty when absent.
    pub fn list(&self, key: &str) -> Field<Vec<Node<'a>>> {
        let Some(node) = self.field(key)? else {
            return Ok(Vec::new());
        };
        let Some(items) = node.value.as_sequence() else {
            return Err(node.error("must be a list"));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                value,
                path: format!("{}[{i}]", node.path),
            })
            .collect())
    }

    /// A list of strings (`command`, `args`, capabilities), None when absent.
    pub fn opt_strings(&self, key: &str) -> Field<Option<Vec<String>>> {
        if self.field(key)?.is_none() {
            return Ok(None);
        }
        self.list(key)?
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Field<Vec<_>>>()
            .map(Some)
    }

    /// The entries of the mapping `key` (labels, selectors, data), empty when absent.
    pub fn entries(&self, key: &str) -> Field<Vec<(String, Node<'a>)>> {
        let Some(node) = self.field(key)? else {
            return Ok(Vec::new());
        };
        let Some(mapping) = node.value.as_mapping() else {
            return Err(node.error("must be a mapping"));
        };
        let mut out = Vec::new();
        for (k, value) in mapping {
            let Some(k) = k.as_str() else {
                return Err(node.error("keys must be strings"));
            };
            out.push((
                k.to_string(),
                Node {
                    value,
                    path: format!("{}.{k}", node.path),
                },
            ));
        }
        Ok(out)
    }

    /// A mapping of strings to strings (labels, selectors, ConfigMap data).
    pub fn string_map(&self, key: &str) -> Field<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (k, value) in self.entries(key)? {
            // A null value is an empty string to Kubernetes' string maps.
            let text = if value.value.is_null() {
                ""
            } else {
                value.as_str()?
            };
            out.insert(k, text.to_string());
        }
        Ok(out)
    }
}
