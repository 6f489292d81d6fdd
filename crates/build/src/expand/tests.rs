use super::*;
use crate::parse::parse;

fn vars() -> Vars {
    Vars::from_env(&[
        "A=a",
        "B=b c",
        "EMPTY=",
        "HOME=/root",
        "PATHV=/usr/local/bin:/usr/bin",
        "FILE=archive.tar.gz",
    ])
}

#[rustfmt::skip]
const WORDS: &[(&str, Result<&str, &str>)] = &[
    ("$A", Ok("a")),
    ("${A}", Ok("a")),
    ("x${A}y", Ok("xay")),
    ("$A$A", Ok("aa")),
    ("$A-b", Ok("a-b")),
    ("$UNSET", Ok("")),
    ("${UNSET:-def}", Ok("def")),
    ("${EMPTY:-def}", Ok("def")),
    ("${EMPTY-def}", Ok("")),
    ("${UNSET-def}", Ok("def")),
    ("${A:-def}", Ok("a")),
    ("${A:+alt}", Ok("alt")),
    ("${EMPTY:+alt}", Ok("")),
    ("${EMPTY+alt}", Ok("alt")),
    ("${UNSET+alt}", Ok("")),
    ("${UNSET:-$A}", Ok("a")),
    ("${UNSET:-${A}x}", Ok("ax")),
    ("${UNSET:-\"q r\"}", Ok("q r")),
    ("\\$A", Ok("$A")),
    ("'$A'", Ok("$A")),
    ("\"$A\"", Ok("a")),
    ("\"a b\"", Ok("a b")),
    ("'a\\b'", Ok("a\\b")),
    ("\"a\\\"b\"", Ok("a\"b")),
    ("\"a\\zb\"", Ok("a\\zb")),
    ("a\\ b", Ok("a b")),
    ("$", Ok("$")),
    ("a$", Ok("a$")),
    ("$1", Ok("")),
    ("${FILE%.*}", Ok("archive.tar")),
    ("${FILE%%.*}", Ok("archive")),
    ("${FILE#*.}", Ok("tar.gz")),
    ("${FILE##*.}", Ok("gz")),
    ("${FILE#nomatch}", Ok("archive.tar.gz")),
    ("${PATHV/bin/sbin}", Ok("/usr/local/sbin:/usr/bin")),
    ("${PATHV//bin/sbin}", Ok("/usr/local/sbin:/usr/sbin")),
    ("${EMPTY?}", Ok("")),
    ("${A:?}", Ok("a")),
    ("${UNSET:?must be set}", Err("UNSET: must be set")),
    ("${UNSET?}", Err("UNSET: is not allowed to be unset")),
    ("${EMPTY:?}", Err("EMPTY: is not allowed to be empty")),
    ("${VAR", Err("missing '}'")),
    ("${", Err("missing '}'")),
    ("${:-x}", Err("bad substitution")),
    ("${}", Err("bad substitution")),
    ("${A:-x", Err("missing '}'")),
    ("${A!x}", Err("unsupported modifier (!) in substitution")),
    ("${A:x}", Err("unsupported modifier (:x) in substitution")),
    ("${A/x", Err("missing '/' in ${}")),
    ("'unterminated", Err("unexpected end of statement while looking for matching single-quote")),
    ("\"unterminated", Err("unexpected end of statement while looking for matching double-quote")),
];

#[test]
fn word_table() {
    let vars = vars();
    let mut failures = Vec::new();
    for (word, want) in WORDS {
        let got = expand_word(word, &vars, '\\').map_err(|e| e.cause);
        let want = want.map(str::to_owned).map_err(str::to_owned);
        if got != want {
            failures.push(format!("{word:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn backtick_escape() {
    let vars = vars();
    assert_eq!(expand_word("`$A", &vars, '`').unwrap(), "$A");
    assert_eq!(expand_word("c:\\dir", &vars, '`').unwrap(), "c:\\dir");
    assert_eq!(expand_word("\"`\"\"", &vars, '`').unwrap(), "\"");
}

#[test]
fn words_split_after_expansion() {
    let vars = vars();
    let rows: &[(&str, &[&str])] = &[
        ("$B x \"y z\"", &["b", "c", "x", "y z"]),
        ("80/tcp  ${A}", &["80/tcp", "a"]),
        ("\"$B\"", &["b c"]),
        ("$EMPTY", &[]),
        ("'' x", &["x"]),
    ];
    for (word, want) in rows {
        assert_eq!(expand_words(word, &vars, '\\').unwrap(), *want, "{word}");
    }
}

#[test]
fn heredoc_bodies_keep_quotes() {
    let vars = vars();
    assert_eq!(
        expand_heredoc("home='$HOME' \"$A\" \\$A \\n\n", &vars).unwrap(),
        "home='/root' \"a\" $A \\n\n"
    );
}

fn expanded(src: &str) -> Vec<String> {
    let df = parse(src).unwrap();
    df.instructions
        .iter()
        .map(|i| {
            expand_instruction(i, &vars(), df.escape)
                .unwrap()
                .cache_text()
        })
        .collect()
}

#[test]
fn instructions_docker_expands() {
    let got = expanded(concat!(
        "FROM img:${A}\n",
        "ENV X=$A Y=\"$B\" Z=${UNSET:-z}\n",
        "LABEL \"k\"=\"$B\"\n",
        "WORKDIR $HOME/app\n",
        "COPY --chown=$A:$A ${A}.txt $HOME/\n",
        "EXPOSE $A 80\n",
        "VOLUME $HOME/data $B\n",
        "USER ${A}\n",
        "STOPSIGNAL SIG${A}\n",
        "ARG Q=$A\n",
        "RUN echo $A\n",
        "CMD echo $A\n",
        "COPY <<EOF <<\"RAW\" /etc/\nv=$A\nEOF\nv=$A\nRAW\n",
    ));
    let want = [
        "FROM img:a",
        "ENV X=a Y=\"b c\" Z=z",
        "LABEL k=\"b c\"",
        "WORKDIR /root/app",
        "COPY --chown=a:a a.txt /root/",
        "EXPOSE a 80",
        "VOLUME /root/data b c",
        "USER a",
        "STOPSIGNAL SIGa",
        "ARG Q=a",
        "RUN echo $A",
        "CMD echo $A",
        "COPY <<EOF <<\"RAW\" /etc/\nv=a\nEOF\nv=$A\nRAW",
    ];
    assert_eq!(got, want);
}

#[test]
fn errors_name_the_line_and_word() {
    let df = parse("FROM a\nARG X\nWORKDIR ${VAR\n").unwrap();
    let err = expand_instruction(&df.instructions[2], &vars(), '\\').unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dockerfile:3: failed to process \"${VAR\": missing '}'"
    );
    let df = parse("FROM a\nENV A=${:-x}\n").unwrap();
    let err = expand_instruction(&df.instructions[1], &vars(), '\\').unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dockerfile:2: failed to process \"${:-x}\": bad substitution"
    );
}

#[test]
fn which_instructions_expand() {
    let df = parse("RUN a\nCMD a\nENV a=b\nONBUILD RUN a\nCOPY a b\n").unwrap();
    let got: Vec<bool> = df.instructions.iter().map(|i| expands(&i.kind)).collect();
    assert_eq!(got, [false, false, true, false, true]);
}

#[test]
fn vars_replace_in_place() {
    let mut v = Vars::from_env(&["A=1", "B=2", "C"]);
    v.set("A", "3");
    assert_eq!(v.to_env(), ["A=3", "B=2", "C="]);
    assert!(v.contains("C") && !v.contains("D"));
}

#[test]
fn display_substitutes_only_what_is_set() {
    let vars = vars();
    let rows = [
        ("FROM python:${A}-slim AS x", "FROM python:a-slim AS x"),
        ("LABEL k=\"$B\"  j='$A'", "LABEL k=\"b c\"  j='$A'"),
        ("WORKDIR $UNSET/${A}", "WORKDIR $UNSET/a"),
        ("ENV X=${UNSET:-d} Y=\\$A", "ENV X=${UNSET:-d} Y=\\$A"),
        ("COPY ${A broken", "COPY ${A broken"),
    ];
    for (line, want) in rows {
        assert_eq!(display(line, &vars, '\\'), want, "{line}");
    }
}
