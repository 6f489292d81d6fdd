//! Template functions: Go's builtins plus the ones docker registers
//! (`json`, `split`, `join`, `title`, `lower`, `upper`, `pad`, `truncate`).

use std::cmp::Ordering;

use serde_json::Value;

use crate::print::{go_string, go_type, sprint, sprintf};

/// How a function call failed; decides which node an error message points at.
#[derive(Debug)]
pub(crate) enum FuncErr {
    /// Wrong argument count (reported at the function name).
    Arity(String),
    /// Argument `n` has an unusable type (reported at that argument).
    ArgType(usize, String),
    /// The function itself failed (reported as `error calling NAME: …`).
    Call(String),
}

const NAMES: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
];

/// Docker's functions that echo their first argument when rendering a table header.
const HEADER_IDENTITY: &[&str] = &[
    "json", "split", "join", "title", "lower", "upper", "pad", "truncate", "index",
];

pub(crate) fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Go's notion of truth: false, 0, nil and empty strings/arrays/maps are false.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn arity(name: &str, args: &[Value], want: usize) -> Result<(), FuncErr> {
    if args.len() == want {
        Ok(())
    } else {
        Err(FuncErr::Arity(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )))
    }
}

fn at_least(name: &str, args: &[Value], want: usize) -> Result<(), FuncErr> {
    if args.len() >= want {
        Ok(())
    } else {
        Err(FuncErr::Arity(format!(
            "wrong number of args for {name}: want at least {want} got {}",
            args.len()
        )))
    }
}

/// A string argument; scalars are accepted in their printed form.
fn string_arg(args: &[Value], i: usize) -> Result<String, FuncErr> {
    match &args[i] {
        Value::String(s) => Ok(s.clone()),
        v @ (Value::Number(_) | Value::Bool(_)) => Ok(go_string(v)),
        v => Err(FuncErr::ArgType(
            i,
            format!("wrong type for value; expected string; got {}", go_type(v)),
        )),
    }
}

fn int_arg(args: &[Value], i: usize) -> Result<i64, FuncErr> {
    let v = &args[i];
    let as_int = v
        .as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64));
    as_int.ok_or_else(|| {
        FuncErr::ArgType(
            i,
            format!("wrong type for value; expected int; got {}", go_type(v)),
        )
    })
}

/// Call function `name`. In header mode docker's formatting functions just
/// return their first argument, the column title.
pub(crate) fn call(name: &str, args: &[Value], header: bool) -> Result<Value, FuncErr> {
    if header && HEADER_IDENTITY.contains(&name) {
        at_least(name, args, 1)?;
        return Ok(args[0].clone());
    }
    let s = |text: String| Ok(Value::String(text));
    match name {
        "json" => {
            arity(name, args, 1)?;
            let text = serde_json::to_string(&args[0]).map_err(|e| FuncErr::Call(e.to_string()))?;
            s(text
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029"))
        }
        "split" => {
            arity(name, args, 2)?;
            let (text, sep) = (string_arg(args, 0)?, string_arg(args, 1)?);
            let parts: Vec<Value> = if sep.is_empty() {
                text.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                text.split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Ok(Value::Array(parts))
        }
        "join" => {
            arity(name, args, 2)?;
            let sep = string_arg(args, 1)?;
            match &args[0] {
                Value::Array(items) => {
                    s(items.iter().map(go_string).collect::<Vec<_>>().join(&sep))
                }
                Value::Null => s(String::new()),
                v => Err(FuncErr::ArgType(
                    0,
                    format!(
                        "wrong type for value; expected []string; got {}",
                        go_type(v)
                    ),
                )),
            }
        }
        "title" => {
            arity(name, args, 1)?;
            s(title(&string_arg(args, 0)?))
        }
        "lower" => {
            arity(name, args, 1)?;
            s(string_arg(args, 0)?.to_lowercase())
        }
        "upper" => {
            arity(name, args, 1)?;
            s(string_arg(args, 0)?.to_uppercase())
        }
        "pad" => {
            arity(name, args, 3)?;
            let text = string_arg(args, 0)?;
            let (before, after) = (int_arg(args, 1)?, int_arg(args, 2)?);
            if text.is_empty() {
                return s(text);
            }
            let spaces = |n: i64| " ".repeat(usize::try_from(n).unwrap_or(0));
            s(format!("{}{text}{}", spaces(before), spaces(after)))
        }
        "truncate" => {
            arity(name, args, 2)?;
            let text = string_arg(args, 0)?;
            let len = usize::try_from(int_arg(args, 1)?)
                .map_err(|_| FuncErr::Call("negative truncate length".to_string()))?;
            s(text.chars().take(len).collect())
        }
        "len" => {
            arity(name, args, 1)?;
            let n = match &args[0] {
                Value::String(t) => t.len(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                v => return Err(FuncErr::Call(format!("len of type {}", go_type(v)))),
            };
            Ok(Value::from(n))
        }
        "index" => {
            at_least(name, args, 1)?;
            args[1..]
                .iter()
                .try_fold(args[0].clone(), |item, key| index(&item, key))
        }
        "slice" => {
            at_least(name, args, 1)?;
            slice(args)
        }
        "not" => {
            arity(name, args, 1)?;
            Ok(Value::Bool(!truthy(&args[0])))
        }
        "print" => s(sprint(args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(go_string).collect();
            s(parts.join(" ") + "\n")
        }
        "printf" => {
            at_least(name, args, 1)?;
            s(sprintf(&string_arg(args, 0)?, &args[1..]))
        }
        "and" | "or" => {
            at_least(name, args, 1)?;
            let want = name == "or";
            let hit = args.iter().find(|a| truthy(a) == want);
            Ok(hit.unwrap_or(&args[args.len() - 1]).clone())
        }
        "eq" => {
            at_least(name, args, 2)?;
            for other in &args[1..] {
                if compare(&args[0], other, true)? == Some(Ordering::Equal) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(name, args, 2)?;
            let ord = compare(&args[0], &args[1], name == "ne")?;
            let result = match name {
                "ne" => ord != Some(Ordering::Equal),
                "lt" => ord == Some(Ordering::Less),
                "le" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                "gt" => ord == Some(Ordering::Greater),
                _ => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
            };
            Ok(Value::Bool(result))
        }
        _ => Err(FuncErr::Call(format!("{name:?} is not a defined function"))),
    }
}

/// Compare two basic values. `None` means "not equal" for values that only
/// support equality (booleans, nil).
fn compare(a: &Value, b: &Value, equality: bool) -> Result<Option<Ordering>, FuncErr> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => Ok(Some(i.cmp(&j))),
            _ => Ok(x
                .as_f64()
                .zip(y.as_f64())
                .and_then(|(f, g)| f.partial_cmp(&g))),
        },
        (Value::String(x), Value::String(y)) => Ok(Some(x.cmp(y))),
        (Value::Bool(x), Value::Bool(y)) if equality => Ok((x == y).then_some(Ordering::Equal)),
        (Value::Null, Value::Null) if equality => Ok(Some(Ordering::Equal)),
        (Value::Null, _) | (_, Value::Null) if equality => Ok(None),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            Err(FuncErr::Call(format!(
                "non-comparable type {}",
                go_type(if a.is_array() || a.is_object() { a } else { b })
            )))
        }
        _ if equality => Err(FuncErr::Call(
            "incompatible types for comparison".to_string(),
        )),
        _ => Err(FuncErr::Call("invalid type for comparison".to_string())),
    }
}

fn index(item: &Value, key: &Value) -> Result<Value, FuncErr> {
    let position = |len: usize| -> Result<usize, FuncErr> {
        let i = key.as_i64().ok_or_else(|| {
            FuncErr::Call(format!(
                "cannot index slice/array with type {}",
                go_type(key)
            ))
        })?;
        usize::try_from(i)
            .ok()
            .filter(|i| *i < len)
            .ok_or_else(|| FuncErr::Call(format!("index out of range: {i}")))
    };
    match item {
        Value::Array(items) => Ok(items[position(items.len())?].clone()),
        Value::String(s) => Ok(Value::from(s.as_bytes()[position(s.len())?])),
        Value::Object(map) => {
            let Value::String(k) = key else {
                return Err(FuncErr::Call(format!(
                    "value has type {}; should be string",
                    go_type(key)
                )));
            };
            match map.get(k) {
                Some(v) => Ok(v.clone()),
                // Go yields the map's zero value; string maps (labels, options) give "".
                None if map.values().all(Value::is_string) => Ok(Value::String(String::new())),
                None => Ok(Value::Null),
            }
        }
        Value::Null => Err(FuncErr::Call("index of untyped nil".to_string())),
        v => Err(FuncErr::Call(format!(
            "can't index item of type {}",
            go_type(v)
        ))),
    }
}

fn slice(args: &[Value]) -> Result<Value, FuncErr> {
    let len = match &args[0] {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        v => {
            return Err(FuncErr::Call(format!(
                "can't slice item of type {}",
                go_type(v)
            )))
        }
    };
    if args.len() > 3 {
        return Err(FuncErr::Call(format!(
            "too many slice indexes: {}",
            args.len() - 1
        )));
    }
    let mut bounds = [0, len];
    for (n, slot) in bounds.iter_mut().enumerate() {
        if n + 1 < args.len() {
            let i = int_arg(args, n + 1)?;
            *slot = usize::try_from(i)
                .ok()
                .filter(|i| *i <= len)
                .ok_or_else(|| FuncErr::Call(format!("index out of range: {i}")))?;
        }
    }
    let [lo, hi] = bounds;
    if lo > hi {
        return Err(FuncErr::Call(format!("invalid slice index: {lo} > {hi}")));
    }
    match &args[0] {
        Value::String(s) => s
            .get(lo..hi)
            .map(|t| Value::String(t.to_string()))
            .ok_or_else(|| FuncErr::Call("slice splits a UTF-8 character".to_string())),
        Value::Array(a) => Ok(Value::Array(a[lo..hi].to_vec())),
        _ => Ok(Value::Null),
    }
}

/// Go's `strings.Title`: upper-case the first letter of every word.
fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev_sep = true;
    for c in text.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            c.is_whitespace()
        };
    }
    out
}
