//! Parser turning tokens into a small Go-template syntax tree.
//!
//! The structure follows Go's `text/template/parse` closely so that error
//! messages read the same (`unexpected "}" in operand`, `unexpected EOF`, …).

use serde_json::Number;

use crate::ast::{Arg, ArgKind, Cmd, Control, Node, Pipe};
use crate::funcs;
use crate::lex::{lex, Tok, Token};

/// A parse failure: the 1-based line and Go's message text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseError {
    pub line: usize,
    pub msg: String,
}

impl ParseError {
    pub fn new(src: &str, pos: usize, msg: impl Into<String>) -> Self {
        let pos = pos.min(src.len());
        let line = 1 + src.as_bytes()[..pos]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        ParseError {
            line,
            msg: msg.into(),
        }
    }
}

/// Parse a template into its node list.
pub(crate) fn parse(src: &str) -> Result<Vec<Node>, ParseError> {
    let toks = lex(src);
    let mut p = Parser {
        src,
        toks,
        i: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        paren_depth: 0,
    };
    let (nodes, end) = p.list()?;
    match end {
        Stop::Eof => Ok(nodes),
        Stop::End(pos) => Err(p.err(pos, "unexpected {{end}}")),
        Stop::Else(pos) => Err(p.err(pos, "unexpected {{else}}")),
    }
}

/// What terminated a node list.
enum Stop {
    Eof,
    End(usize),
    Else(usize),
}

const MAX_PAREN_DEPTH: usize = 100;

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    paren_depth: usize,
}

impl Parser<'_> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.src, pos, msg)
    }

    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    /// Take the next token. The index always advances (past the end keeps
    /// returning EOF), so stepping back with `self.i -= 1` is always exact.
    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.i += 1;
        t
    }

    fn skip_space(&mut self) {
        while self.peek().tok == Tok::Space {
            self.i += 1;
        }
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }

    fn peek_non_space(&mut self) -> &Token {
        self.skip_space();
        self.peek()
    }

    fn unexpected(&self, t: &Token, context: &str) -> ParseError {
        let what = match &t.tok {
            Tok::Eof => return self.err(t.pos, "unexpected EOF"),
            Tok::Error(e) => return e.clone(),
            Tok::Text(s) => format!("{s:?}"),
            Tok::LeftDelim => "\"{{\"".to_string(),
            Tok::RightDelim => "\"}}\"".to_string(),
            Tok::Space => "space".to_string(),
            Tok::Field(n) => format!("<.{n}>"),
            Tok::Variable(n) | Tok::Ident(n) | Tok::Number(n) => format!("<{n}>"),
            Tok::Str(_, raw) => format!("{raw:?}"),
            Tok::Bool(b) => format!("<{b}>"),
            Tok::Nil => "<nil>".to_string(),
            Tok::Dot => "<.>".to_string(),
            Tok::Pipe => "\"|\"".to_string(),
            Tok::LeftParen => "\"(\"".to_string(),
            Tok::RightParen => "\")\"".to_string(),
            Tok::Declare => "\":=\"".to_string(),
            Tok::Assign => "\"=\"".to_string(),
            Tok::Comma => "\",\"".to_string(),
            Tok::Keyword(k) => format!("<{k}>"),
            Tok::Other(c) => format!("{:?}", c.to_string()),
        };
        self.err(t.pos, format!("unexpected {what} in {context}"))
    }

    /// Parse nodes until EOF, `{{end}}` or `{{else}}`.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), ParseError> {
        let mut nodes = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Eof => return Ok((nodes, Stop::Eof)),
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::LeftDelim => {
                    let kw = self.peek_non_space().clone();
                    match kw.tok {
                        Tok::Keyword("end") => {
                            self.next();
                            self.expect_right_delim("end")?;
                            return Ok((nodes, Stop::End(kw.pos)));
                        }
                        Tok::Keyword("else") => {
                            self.next();
                            // `else if` / `else with`: leave the keyword for the caller.
                            if !matches!(self.peek_non_space().tok, Tok::Keyword("if" | "with")) {
                                self.expect_right_delim("else")?;
                            }
                            return Ok((nodes, Stop::Else(kw.pos)));
                        }
                        _ => nodes.push(self.action()?),
                    }
                }
                _ => return Err(self.unexpected(&t, "input")),
            }
        }
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), ParseError> {
        let t = self.next_non_space();
        if t.tok == Tok::RightDelim {
            Ok(())
        } else {
            Err(self.unexpected(&t, context))
        }
    }

    /// Parse an action after its `{{`, with `end`/`else` already excluded.
    fn action(&mut self) -> Result<Node, ParseError> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Keyword("if") => Ok(Node::If(self.control("if")?)),
            Tok::Keyword("with") => Ok(Node::With(self.control("with")?)),
            Tok::Keyword("range") => {
                self.range_depth += 1;
                let c = self.control("range");
                self.range_depth -= 1;
                Ok(Node::Range(c?))
            }
            Tok::Keyword(k @ ("break" | "continue")) => {
                if self.range_depth == 0 {
                    return Err(self.err(t.pos, format!("{{{{{k}}}}} outside {{{{range}}}}")));
                }
                self.expect_right_delim(k)?;
                Ok(if k == "break" {
                    Node::Break
                } else {
                    Node::Continue
                })
            }
            Tok::Keyword(k) => {
                Err(self.err(t.pos, format!("{{{{{k}}}}} actions are not supported")))
            }
            _ => {
                self.i -= 1;
                Ok(Node::Action(self.pipeline("command", &Tok::RightDelim)?))
            }
        }
    }

    fn control(&mut self, context: &'static str) -> Result<Control, ParseError> {
        let scope = self.vars.len();
        let result = self.control_inner(context);
        self.vars.truncate(scope);
        result
    }

    fn control_inner(&mut self, context: &'static str) -> Result<Control, ParseError> {
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        if pipe.decl.len() > 1 && context != "range" {
            return Err(self.err(
                self.peek().pos,
                format!("too many declarations in {context}"),
            ));
        }
        let (body, end) = self.list()?;
        let els = match end {
            Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
            Stop::End(_) => None,
            Stop::Else(pos) => {
                let chained = self.peek_non_space().tok.clone();
                match chained {
                    Tok::Keyword(k @ ("if" | "with")) if k == context => {
                        self.next();
                        let inner = self.control(context)?;
                        Some(vec![if k == "if" {
                            Node::If(inner)
                        } else {
                            Node::With(inner)
                        }])
                    }
                    Tok::Keyword(k @ ("if" | "with")) => {
                        return Err(
                            self.err(pos, format!("unexpected {{{{else {k}}}}} in {context}"))
                        )
                    }
                    _ => {
                        let (els, end) = self.list()?;
                        match end {
                            Stop::End(_) => Some(els),
                            Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
                            Stop::Else(p) => {
                                return Err(self.err(p, "expected end; found {{else}}"))
                            }
                        }
                    }
                }
            }
        };
        Ok(Control { pipe, body, els })
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> Result<Pipe, ParseError> {
        let mut pipe = Pipe {
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let t = self.next_non_space();
            match &t.tok {
                tok if tok == end => {
                    if pipe.cmds.is_empty() {
                        return Err(self.err(t.pos, format!("missing value for {context}")));
                    }
                    for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
                        let literal = matches!(
                            cmd.args[0].kind,
                            ArgKind::Bool(_)
                                | ArgKind::Dot
                                | ArgKind::Nil
                                | ArgKind::Number(..)
                                | ArgKind::Str(..)
                        );
                        if literal {
                            let msg = format!("non executable command in pipeline stage {}", i + 1);
                            return Err(self.err(cmd.pos, msg));
                        }
                    }
                    return Ok(pipe);
                }
                Tok::Bool(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(..)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.i -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> Result<(), ParseError> {
        let start = self.i;
        while let Tok::Variable(name) = self.peek_non_space().tok.clone() {
            self.next();
            match self.peek_non_space().tok {
                Tok::Declare | Tok::Assign => {
                    pipe.is_assign = self.next().tok == Tok::Assign;
                    pipe.decl.push(name.clone());
                    if pipe.is_assign {
                        if !self.vars.contains(&name) {
                            return Err(
                                self.err(self.peek().pos, format!("undefined variable {name:?}"))
                            );
                        }
                    } else {
                        self.vars.push(name);
                    }
                    return Ok(());
                }
                Tok::Comma if context == "range" && pipe.decl.is_empty() => {
                    self.next();
                    pipe.decl.push(name.clone());
                    self.vars.push(name);
                }
                Tok::Comma => {
                    let pos = self.peek().pos;
                    return Err(self.err(pos, format!("too many declarations in {context}")));
                }
                _ if pipe.decl.is_empty() => break,
                _ => return Err(self.err(self.peek().pos, "range can only initialize variables")),
            }
        }
        self.i = start;
        Ok(())
    }

    fn command(&mut self) -> Result<Cmd, ParseError> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(arg) = self.operand()? {
                args.push(arg);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.i -= 1,
                Tok::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(self.err(pos, "empty command"));
        }
        Ok(Cmd { pos, args })
    }

    fn operand(&mut self) -> Result<Option<Arg>, ParseError> {
        let Some(mut arg) = self.term()? else {
            return Ok(None);
        };
        let mut chain = Vec::new();
        while let Tok::Field(name) = &self.peek().tok {
            chain.push(name.clone());
            self.next();
        }
        if chain.is_empty() {
            return Ok(Some(arg));
        }
        match &mut arg.kind {
            ArgKind::Field(names) | ArgKind::Var(_, names) | ArgKind::Paren(_, names) => {
                names.extend(chain)
            }
            _ => {
                return Err(self.err(
                    arg.pos,
                    format!("unexpected . after term {:?}", arg.to_string()),
                ))
            }
        }
        Ok(Some(arg))
    }

    fn term(&mut self) -> Result<Option<Arg>, ParseError> {
        let t = self.next_non_space();
        let kind = match t.tok {
            Tok::Ident(name) => {
                if !funcs::exists(&name) {
                    return Err(self.err(t.pos, format!("function {name:?} not defined")));
                }
                ArgKind::Ident(name)
            }
            Tok::Dot => ArgKind::Dot,
            Tok::Nil => ArgKind::Nil,
            Tok::Bool(b) => ArgKind::Bool(b),
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.err(t.pos, format!("undefined variable {name:?}")));
                }
                ArgKind::Var(name, Vec::new())
            }
            Tok::Field(name) => ArgKind::Field(vec![name]),
            Tok::Number(text) => ArgKind::Number(self.number(&text, t.pos)?, text),
            Tok::Str(value, raw) => ArgKind::Str(value, raw),
            Tok::LeftParen => {
                if self.paren_depth >= MAX_PAREN_DEPTH {
                    return Err(self.err(t.pos, "max expression depth exceeded"));
                }
                self.paren_depth += 1;
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RightParen);
                self.paren_depth -= 1;
                ArgKind::Paren(Box::new(pipe?), Vec::new())
            }
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        };
        Ok(Some(Arg { pos: t.pos, kind }))
    }

    fn number(&self, text: &str, pos: usize) -> Result<Number, ParseError> {
        let (neg, digits) = match text.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let hex = digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"));
        let int = match hex {
            Some(h) => i64::from_str_radix(h, 16).ok(),
            None => digits.parse::<i64>().ok(),
        };
        if let Some(n) = int {
            return Ok(Number::from(if neg { -n } else { n }));
        }
        if hex.is_none() && !neg {
            if let Ok(n) = digits.parse::<u64>() {
                return Ok(Number::from(n));
            }
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .ok_or_else(|| self.err(pos, format!("illegal number syntax: {text:?}")))
    }
}
