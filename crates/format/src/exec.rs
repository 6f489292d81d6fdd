//! Executes a parsed template against a JSON value.
//!
//! Semantics follow Go's `text/template` with `missingkey=error`, which is
//! what docker applies to inspect data: a field that is absent is an error,
//! not `<no value>`.

use serde_json::Value;

use crate::ast::{Arg, ArgKind, Cmd, Control, Node, Pipe};
use crate::funcs::{self, truthy, FuncErr};
use crate::print::{go_string, go_type};

/// An execution failure located at a node of the template source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExecError {
    /// Byte offset of the failing node in the template source.
    pub pos: usize,
    /// The failing node as text, shortened like Go does.
    pub context: String,
    pub msg: String,
}

/// Column titles used when rendering a table header.
pub(crate) type Headers = [(String, String)];

#[derive(Clone, Copy, PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

type Res<T> = Result<T, ExecError>;

struct State<'a> {
    out: String,
    vars: Vec<(String, Value)>,
    header: Option<&'a Headers>,
}

/// Render `nodes` with `data` as dot. With `header` set, field references
/// render as column titles instead (docker's header pass). The output
/// produced so far is returned even when execution fails.
pub(crate) fn execute(nodes: &[Node], data: &Value, header: Option<&Headers>) -> (String, Res<()>) {
    let mut state = State {
        out: String::new(),
        vars: vec![("$".to_string(), data.clone())],
        header,
    };
    let result = state.walk(data, nodes).map(|_| ());
    (state.out, result)
}

fn err_at(pos: usize, context: &dyn std::fmt::Display, msg: impl Into<String>) -> ExecError {
    let full = context.to_string().replace('\n', "\\n");
    let context = if full.chars().count() > 20 {
        format!("{}...", full.chars().take(20).collect::<String>())
    } else {
        full
    };
    ExecError {
        pos,
        context,
        msg: msg.into(),
    }
}

/// The column title for a field chain such as `.Repository`.
pub(crate) fn header_title(headers: &Headers, names: &[String]) -> String {
    let full = names.join(".");
    let last = names.last().map_or("", String::as_str);
    headers
        .iter()
        .find(|(k, _)| *k == full)
        .or_else(|| headers.iter().find(|(k, _)| k == last))
        .map_or_else(|| last.to_uppercase(), |(_, v)| v.clone())
}

impl State<'_> {
    fn walk(&mut self, dot: &Value, nodes: &[Node]) -> Res<Flow> {
        for node in nodes {
            let flow = match node {
                Node::Text(text) => {
                    self.out.push_str(text);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let v = self.pipe(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.out.push_str(&go_string(&v));
                    }
                    Flow::Normal
                }
                Node::If(c) => self.if_or_with(dot, c, false)?,
                Node::With(c) => self.if_or_with(dot, c, true)?,
                Node::Range(c) => self.range(dot, c)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn if_or_with(&mut self, dot: &Value, c: &Control, with: bool) -> Res<Flow> {
        let mark = self.vars.len();
        let v = self.pipe(dot, &c.pipe)?;
        let flow = if truthy(&v) {
            self.walk(if with { &v } else { dot }, &c.body)
        } else if let Some(els) = &c.els {
            self.walk(dot, els)
        } else {
            Ok(Flow::Normal)
        };
        self.vars.truncate(mark);
        flow
    }

    fn range(&mut self, dot: &Value, c: &Control) -> Res<Flow> {
        let mark = self.vars.len();
        let v = self.cmds(dot, &c.pipe.cmds)?;
        let items: Vec<(Value, Value)> = match v {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::from(i), v))
                .collect(),
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries
                    .into_iter()
                    .map(|(k, v)| (Value::String(k), v))
                    .collect()
            }
            Value::Number(n) if n.as_u64().is_some() => (0..n.as_u64().unwrap_or(0))
                .map(|i| (Value::from(i), Value::from(i)))
                .collect(),
            Value::Null => Vec::new(),
            v @ Value::String(_) if self.header.is_some() => vec![(Value::from(0), v)],
            v => {
                let cmd = &c.pipe.cmds[0];
                return Err(err_at(
                    cmd.pos,
                    &c.pipe,
                    format!("range can't iterate over {}", go_string(&v)),
                ));
            }
        };
        if items.is_empty() {
            let flow = match &c.els {
                Some(els) => self.walk(dot, els)?,
                None => Flow::Normal,
            };
            self.vars.truncate(mark);
            return Ok(flow);
        }
        for (key, elem) in items {
            self.vars.truncate(mark);
            match c.pipe.decl.as_slice() {
                [one] => self.vars.push((one.clone(), elem.clone())),
                [k, v] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((v.clone(), elem.clone()));
                }
                _ => {}
            }
            if self.walk(&elem, &c.body)? == Flow::Break {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn pipe(&mut self, dot: &Value, pipe: &Pipe) -> Res<Value> {
        let v = self.cmds(dot, &pipe.cmds)?;
        for name in &pipe.decl {
            match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                Some(slot) if pipe.is_assign => slot.1 = v.clone(),
                _ => self.vars.push((name.clone(), v.clone())),
            }
        }
        Ok(v)
    }

    fn cmds(&mut self, dot: &Value, cmds: &[Cmd]) -> Res<Value> {
        let mut last = None;
        for cmd in cmds {
            last = Some(self.cmd(dot, cmd, last)?);
        }
        Ok(last.unwrap_or(Value::Null))
    }

    fn cmd(&mut self, dot: &Value, cmd: &Cmd, last: Option<Value>) -> Res<Value> {
        let first = &cmd.args[0];
        if let ArgKind::Ident(name) = &first.kind {
            return self.call(dot, cmd, name, last);
        }
        if cmd.args.len() > 1 || last.is_some() {
            let msg = match &first.kind {
                ArgKind::Field(names) | ArgKind::Var(_, names) | ArgKind::Paren(_, names)
                    if !names.is_empty() =>
                {
                    format!(
                        "{} is not a method but has arguments",
                        names[names.len() - 1]
                    )
                }
                ArgKind::Nil => "nil is not a command".to_string(),
                _ => format!("can't give argument to non-function {first}"),
            };
            return Err(err_at(first.pos, first, msg));
        }
        if let ArgKind::Nil = first.kind {
            return Err(err_at(first.pos, first, "nil is not a command"));
        }
        self.arg(dot, first)
    }

    fn arg(&mut self, dot: &Value, arg: &Arg) -> Res<Value> {
        match &arg.kind {
            ArgKind::Dot => Ok(dot.clone()),
            ArgKind::Nil => Ok(Value::Null),
            ArgKind::Bool(b) => Ok(Value::Bool(*b)),
            ArgKind::Number(n, _) => Ok(Value::Number(n.clone())),
            ArgKind::Str(s, _) => Ok(Value::String(s.clone())),
            ArgKind::Field(names) => match self.header {
                Some(h) => Ok(Value::String(header_title(h, names))),
                None => self.fields(arg, dot.clone(), names),
            },
            ArgKind::Var(name, names) => {
                if let (Some(h), "$", false) = (self.header, name.as_str(), names.is_empty()) {
                    return Ok(Value::String(header_title(h, names)));
                }
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone());
                let v =
                    v.ok_or_else(|| err_at(arg.pos, arg, format!("undefined variable: {name}")))?;
                self.fields(arg, v, names)
            }
            ArgKind::Ident(name) => {
                let cmd = Cmd {
                    pos: arg.pos,
                    args: vec![arg.clone()],
                };
                self.call(dot, &cmd, name, None)
            }
            ArgKind::Paren(pipe, names) => {
                let v = self.pipe(dot, pipe)?;
                self.fields(arg, v, names)
            }
        }
    }

    fn fields(&self, arg: &Arg, mut v: Value, names: &[String]) -> Res<Value> {
        for name in names {
            v = match v {
                Value::Object(mut map) => match map.swap_remove(name) {
                    Some(inner) => inner,
                    None => {
                        return Err(err_at(
                            arg.pos,
                            arg,
                            format!("map has no entry for key {name:?}"),
                        ))
                    }
                },
                Value::Null => {
                    return Err(err_at(
                        arg.pos,
                        arg,
                        format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                other => {
                    let msg = format!("can't evaluate field {name} in type {}", go_type(&other));
                    return Err(err_at(arg.pos, arg, msg));
                }
            };
        }
        Ok(v)
    }

    fn call(&mut self, dot: &Value, cmd: &Cmd, name: &str, last: Option<Value>) -> Res<Value> {
        let ident = &cmd.args[0];
        let params = &cmd.args[1..];
        if matches!(name, "and" | "or") && self.header.is_none() {
            // Short-circuit: stop at the first argument that decides the result.
            let want = name == "or";
            let mut result = None;
            for p in params {
                let v = self.arg(dot, p)?;
                if truthy(&v) == want {
                    return Ok(v);
                }
                result = Some(v);
            }
            return match (last, result) {
                (Some(v), _) | (None, Some(v)) => Ok(v),
                (None, None) => Err(err_at(
                    ident.pos,
                    ident,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                )),
            };
        }
        let mut values = Vec::with_capacity(params.len() + 1);
        for p in params {
            values.push(self.arg(dot, p)?);
        }
        values.extend(last);
        funcs::call(name, &values, self.header.is_some()).map_err(|e| match e {
            FuncErr::Arity(msg) => err_at(ident.pos, ident, msg),
            FuncErr::ArgType(i, msg) => match params.get(i) {
                Some(p) => err_at(p.pos, p, msg),
                None => err_at(cmd.pos, cmd, msg),
            },
            FuncErr::Call(msg) => err_at(cmd.pos, cmd, format!("error calling {name}: {msg}")),
        })
    }
}
