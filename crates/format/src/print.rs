//! Go-style printing of JSON values: `fmt.Sprint`'s `%v` form and a
//! `printf` subset covering the verbs people put in docker format strings.

use serde_json::Value;

/// Format a value the way Go's `%v` prints the equivalent decoded JSON:
/// arrays as `[a b]`, objects as `map[k:v]` with sorted keys, null as `<nil>`.
pub(crate) fn go_string(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_value(out, &map[k.as_str()]);
            }
            out.push(']');
        }
    }
}

/// Go's name for the dynamic type of a decoded JSON value, for messages.
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `fmt.Sprint`: operands separated by a space when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&go_string(a));
    }
    out
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf` for the verbs `v s q d x X o b c t e E f F g G %`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(digits(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next_arg += 1;
        let (body, numeric) = format_verb(verb, arg, &spec);
        pad(&mut out, &body, &spec, numeric);
    }
    if next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| format!("{}={}", go_type(a), go_string(a)))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}

fn pad(out: &mut String, body: &str, spec: &Spec, numeric: bool) {
    let len = body.chars().count();
    let fill = spec.width.unwrap_or(0).saturating_sub(len);
    if spec.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && numeric {
        let (sign, rest) = match body.strip_prefix(['-', '+']) {
            Some(rest) => (&body[..1], rest),
            None => ("", body),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

fn bad_verb(verb: char, arg: &Value) -> String {
    format!("%!{verb}({}={})", go_type(arg), go_string(arg))
}

/// Render one verb; the flag says whether zero padding applies.
fn format_verb(verb: char, arg: &Value, spec: &Spec) -> (String, bool) {
    let int = arg.as_i64();
    let float = arg.as_f64();
    let signed = |s: String, non_negative: bool| match (non_negative, spec.plus, spec.space) {
        (true, true, _) => format!("+{s}"),
        (true, false, true) => format!(" {s}"),
        _ => s,
    };
    match verb {
        'v' | 's' => {
            let s = go_string(arg);
            match spec.prec {
                Some(p) if verb == 's' => (s.chars().take(p).collect(), false),
                _ => (s, arg.is_number()),
            }
        }
        'q' => match (arg, int) {
            (_, Some(i)) => match u32::try_from(i).ok().and_then(char::from_u32) {
                Some(c) => (format!("'{c}'"), false),
                None => (bad_verb(verb, arg), false),
            },
            (Value::String(s), _) => (quote(s), false),
            _ => (quote(&go_string(arg)), false),
        },
        'd' => match int {
            Some(i) => (signed(i.to_string(), i >= 0), true),
            None => match arg.as_u64() {
                Some(u) => (signed(u.to_string(), true), true),
                None => (bad_verb(verb, arg), false),
            },
        },
        'x' | 'X' | 'o' | 'b' => {
            let text = match (int, arg) {
                (Some(i), _) => {
                    let mag = i.unsigned_abs();
                    let body = match verb {
                        'x' => format!("{mag:x}"),
                        'X' => format!("{mag:X}"),
                        'o' => format!("{mag:o}"),
                        _ => format!("{mag:b}"),
                    };
                    if i < 0 {
                        format!("-{body}")
                    } else {
                        body
                    }
                }
                (None, Value::String(s)) if verb == 'x' => {
                    s.bytes().map(|b| format!("{b:02x}")).collect()
                }
                (None, Value::String(s)) if verb == 'X' => {
                    s.bytes().map(|b| format!("{b:02X}")).collect()
                }
                _ => return (bad_verb(verb, arg), false),
            };
            (text, arg.is_number())
        }
        'c' => match int
            .and_then(|i| u32::try_from(i).ok())
            .and_then(char::from_u32)
        {
            Some(c) => (c.to_string(), false),
            None => (bad_verb(verb, arg), false),
        },
        't' => match arg {
            Value::Bool(b) => (b.to_string(), false),
            _ => (bad_verb(verb, arg), false),
        },
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => match float {
            Some(f) => {
                let s = match verb {
                    'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f),
                    'e' | 'E' => exp_form(f, spec.prec.unwrap_or(6), verb == 'E'),
                    _ => match spec.prec {
                        Some(p) => format!("{:.*}", p, f),
                        None => arg.to_string(),
                    },
                };
                (signed(s, f >= 0.0), true)
            }
            None => (bad_verb(verb, arg), false),
        },
        _ => (bad_verb(verb, arg), false),
    }
}

/// `%e`: mantissa with `prec` decimals and a signed, two-digit exponent.
fn exp_form(f: f64, prec: usize, upper: bool) -> String {
    let raw = format!("{:.*e}", prec, f);
    let (mantissa, exp) = raw.split_once('e').unwrap_or((raw.as_str(), "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    let e = if upper { 'E' } else { 'e' };
    format!("{mantissa}{e}{sign}{digits:0>2}")
}
