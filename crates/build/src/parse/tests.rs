//! Table tests of the parser: every instruction and form, heredocs, directives,
//! continuations, and errors with their line numbers.

use super::*;

fn cmd(c: &Command) -> String {
    match c {
        Command::Exec(v) => format!("exec{}", serde_json::to_string(v).unwrap()),
        Command::Shell(s) => format!("sh[{s}]"),
    }
}

fn docs(list: &[Heredoc]) -> String {
    list.iter()
        .map(|d| {
            format!(
                " <<{}{}{}{:?}@{}",
                d.name,
                if d.expand { "" } else { "(q)" },
                if d.chomp { "(-)" } else { "" },
                d.content,
                d.line
            )
        })
        .collect()
}

fn opt_flag(name: &str, v: &Option<String>) -> String {
    v.as_ref()
        .map(|v| format!("--{name}={v} "))
        .unwrap_or_default()
}

/// A compact, unambiguous rendering of the raw (unexpanded) tree.
fn dump(i: &Instruction) -> String {
    let body = match &i.kind {
        Kind::From(f) => format!(
            "{}{}{}",
            opt_flag("platform", &f.platform),
            f.image,
            f.name
                .as_ref()
                .map(|n| format!(" as={n}"))
                .unwrap_or_default()
        ),
        Kind::Arg(args) => args
            .iter()
            .map(|a| match &a.default {
                Some(d) => format!("{}={d}", a.name),
                None => a.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Kind::Env(p) | Kind::Label(p) => p
            .iter()
            .map(|p| format!("{}=[{}]", p.key, p.value))
            .collect::<Vec<_>>()
            .join(" "),
        Kind::Expose(w) => w.join(" "),
        Kind::Maintainer(s) | Kind::Workdir(s) | Kind::User(s) | Kind::StopSignal(s) => s.clone(),
        Kind::Copy(c) | Kind::Add(c) => format!(
            "{}{}{}{}{}{}{}{}{} -> {}{}{}",
            opt_flag("from", &c.from),
            opt_flag("chown", &c.chown),
            opt_flag("chmod", &c.chmod),
            opt_flag("checksum", &c.checksum),
            if c.link { "--link " } else { "" },
            if c.parents { "--parents " } else { "" },
            c.exclude
                .iter()
                .map(|e| format!("--exclude={e} "))
                .collect::<String>(),
            if c.json { "json" } else { "" },
            c.srcs.join(" "),
            c.dest,
            docs(&c.heredocs),
            ""
        ),
        Kind::Run(r) => format!(
            "{}{}{}{}",
            r.mounts
                .iter()
                .map(|m| format!("--mount={m} "))
                .collect::<String>(),
            opt_flag("network", &r.network),
            cmd(&r.command),
            docs(&r.heredocs)
        ),
        Kind::Cmd(c) | Kind::Entrypoint(c) => cmd(c),
        Kind::Shell(v) => serde_json::to_string(v).unwrap(),
        Kind::Volume(v) if v.json => format!("json{}", serde_json::to_string(&v.paths).unwrap()),
        Kind::Volume(v) => v.paths.join(" "),
        Kind::Healthcheck(Healthcheck::None) => "NONE".into(),
        Kind::Healthcheck(Healthcheck::Check(h)) => format!(
            "interval={:?} timeout={:?} start={:?} retries={:?} {}",
            h.interval,
            h.timeout,
            h.start_period,
            h.retries,
            cmd(&h.command)
        ),
        Kind::Onbuild(inner) => dump(inner),
    };
    format!("{}@{}-{} {}", i.kind.keyword(), i.line, i.end_line, body)
}

fn run(src: &str) -> String {
    match parse(src) {
        Ok(df) => df
            .instructions
            .iter()
            .map(dump)
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("ERR {e}"),
    }
}

#[rustfmt::skip]
const ROWS: &[(&str, &str)] = &[
    // FROM
    ("FROM python:3", "FROM@1-1 python:3"),
    ("FROM --platform=linux/arm64 python:3 AS Base", "FROM@1-1 --platform=linux/arm64 python:3 as=base"),
    ("from alpine as build", "FROM@1-1 alpine as=build"),
    ("FROM a b", "ERR Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM alpine AS 1st", "ERR Dockerfile:1: invalid name for build stage: \"1st\", name can't start with a number or contain symbols"),
    ("FROM --plat=x a", "ERR Dockerfile:1: unknown flag: plat"),
    // ARG
    ("ARG VERSION", "ARG@1-1 VERSION"),
    ("ARG A=1 B C=\"x y\"", "ARG@1-1 A=1 B C=\"x y\""),
    ("ARG", "ERR Dockerfile:1: ARG requires at least one argument"),
    // ENV
    ("ENV A=1 B=\"v 2\"", "ENV@1-1 A=[1] B=[\"v 2\"]"),
    ("ENV A 1 2", "ENV@1-1 A=[1 2]"),
    ("ENV A=1 B", "ERR Dockerfile:1: Syntax error - can't find = in \"B\". Must be of the form: name=value"),
    ("ENV", "ERR Dockerfile:1: ENV requires at least one argument"),
    ("ENV A", "ERR Dockerfile:1: ENV must have two arguments"),
    ("ENV --foo=bar A=1", "ERR Dockerfile:1: unknown flag: foo"),
    // LABEL, MAINTAINER
    ("LABEL maintainer=\"Henri V\" email=\"h@g.com\"", "LABEL@1-1 maintainer=[\"Henri V\"] email=[\"h@g.com\"]"),
    ("LABEL \"com.example.vendor\"=ACME", "LABEL@1-1 \"com.example.vendor\"=[ACME]"),
    ("MAINTAINER Jane Doe <jane@example.com>", "MAINTAINER@1-1 Jane Doe <jane@example.com>"),
    // EXPOSE, WORKDIR, USER, STOPSIGNAL
    ("EXPOSE 8051 80/udp", "EXPOSE@1-1 8051 80/udp"),
    ("EXPOSE", "ERR Dockerfile:1: EXPOSE requires at least one argument"),
    ("WORKDIR /usr/src/app", "WORKDIR@1-1 /usr/src/app"),
    ("WORKDIR", "ERR Dockerfile:1: WORKDIR requires exactly one argument"),
    ("USER app:app", "USER@1-1 app:app"),
    ("STOPSIGNAL SIGTERM", "STOPSIGNAL@1-1 SIGTERM"),
    // COPY, ADD
    ("COPY requirements.txt ./", "COPY@1-1 requirements.txt -> ./"),
    ("copy a b c/", "COPY@1-1 a b -> c/"),
    ("COPY --from=build --chown=app:app --chmod=644 --link /a /b /dst/", "COPY@1-1 --from=build --chown=app:app --chmod=644 --link /a /b -> /dst/"),
    ("COPY [\"a b\", \"/dst dir/\"]", "COPY@1-1 jsona b -> /dst dir/"),
    ("COPY --parents --exclude=*.pyc --exclude=tests src/ /app/", "COPY@1-1 --parents --exclude=*.pyc --exclude=tests src/ -> /app/"),
    ("COPY a", "ERR Dockerfile:1: COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
    ("COPY --checksum=sha256:x a b", "ERR Dockerfile:1: unknown flag: checksum"),
    ("COPY --from a b", "ERR Dockerfile:1: missing a value on flag: from"),
    ("ADD --checksum=sha256:abc https://example.com/f.tgz /f", "ADD@1-1 --checksum=sha256:abc https://example.com/f.tgz -> /f"),
    ("ADD --chown=1:1 --keep-git-dir=false a.tar.gz /opt/", "ADD@1-1 --chown=1:1 a.tar.gz -> /opt/"),
    // RUN, CMD, ENTRYPOINT, SHELL
    ("RUN pip install -r requirements.txt", "RUN@1-1 sh[pip install -r requirements.txt]"),
    ("RUN [\"echo\", \"hi\"]", "RUN@1-1 exec[\"echo\",\"hi\"]"),
    ("RUN --mount=type=cache,target=/root/.cache --network=none make", "RUN@1-1 --mount=type=cache,target=/root/.cache --network=none sh[make]"),
    ("RUN [1]", "ERR Dockerfile:1: when using JSON array syntax, arrays must be comprised of strings only"),
    ("RUN [\"unterminated\"", "RUN@1-1 sh[[\"unterminated\"]"),
    ("RUN", "ERR Dockerfile:1: RUN requires at least one argument"),
    ("CMD streamlit run ./src/app.py", "CMD@1-1 sh[streamlit run ./src/app.py]"),
    ("CMD [\"python\", \"app.py\"]", "CMD@1-1 exec[\"python\",\"app.py\"]"),
    ("ENTRYPOINT [\"/entry.sh\"]", "ENTRYPOINT@1-1 exec[\"/entry.sh\"]"),
    ("ENTRYPOINT exec top -b", "ENTRYPOINT@1-1 sh[exec top -b]"),
    ("SHELL [\"/bin/bash\", \"-c\"]", "SHELL@1-1 [\"/bin/bash\",\"-c\"]"),
    ("SHELL /bin/bash -c", "ERR Dockerfile:1: SHELL requires the arguments to be in JSON form"),
    // VOLUME
    ("VOLUME /data /logs", "VOLUME@1-1 /data /logs"),
    ("VOLUME [\"/data\"]", "VOLUME@1-1 json[\"/data\"]"),
    ("VOLUME [\"\"]", "ERR Dockerfile:1: VOLUME specified can not be an empty string"),
    // HEALTHCHECK
    ("HEALTHCHECK NONE", "HEALTHCHECK@1-1 NONE"),
    ("HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --retries=3 CMD curl -f http://localhost/", "HEALTHCHECK@1-1 interval=Some(30s) timeout=Some(5s) start=Some(60s) retries=Some(3) sh[curl -f http://localhost/]"),
    ("HEALTHCHECK CMD [\"/bin/check\"]", "HEALTHCHECK@1-1 interval=None timeout=None start=None retries=None exec[\"/bin/check\"]"),
    ("HEALTHCHECK NONE now", "ERR Dockerfile:1: HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK --interval=1us CMD x", "ERR Dockerfile:1: --interval=1us: cannot be less than 1ms"),
    ("HEALTHCHECK --retries=-1 CMD x", "ERR Dockerfile:1: --retries cannot be negative (-1)"),
    ("HEALTHCHECK PING x", "ERR Dockerfile:1: Unknown type \"PING\" in HEALTHCHECK (try CMD)"),
    ("HEALTHCHECK CMD", "ERR Dockerfile:1: Missing command after HEALTHCHECK CMD"),
    // ONBUILD
    ("ONBUILD RUN echo hi", "ONBUILD@1-1 RUN@1-1 sh[echo hi]"),
    ("ONBUILD COPY --chown=1 . /app", "ONBUILD@1-1 COPY@1-1 --chown=1 . -> /app"),
    ("ONBUILD ONBUILD RUN x", "ERR Dockerfile:1: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM x", "ERR Dockerfile:1: FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER me", "ERR Dockerfile:1: MAINTAINER isn't allowed as an ONBUILD trigger"),
    // unknown instructions
    ("FROM a\nRUNN echo", "ERR Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)"),
    ("FROM a\n\n# c\nFOO bar", "ERR Dockerfile:4: unknown instruction: FOO"),
    ("FROM a\nworkdr /x", "ERR Dockerfile:2: unknown instruction: workdr (did you mean WORKDIR?)"),
    // comments, blank lines, continuations
    ("# c\n\nFROM a\n  # indented comment\n\nRUN b", "FROM@3-3 a\nRUN@6-6 sh[b]"),
    ("RUN apt-get update && \\\n    apt-get install -y x", "RUN@1-2 sh[apt-get update &&     apt-get install -y x]"),
    ("RUN a \\\n# comment\n  b", "RUN@1-3 sh[a   b]"),
    ("RUN a \\\n\n  b", "RUN@1-3 sh[a   b]"),
    ("RUN a \\  \n b", "RUN@1-2 sh[a  b]"),
    ("RUN echo \\\\\nRUN b", "RUN@1-1 sh[echo \\\\]\nRUN@2-2 sh[b]"),
    ("FROM a\r\nRUN b \\\r\n c\r\n", "FROM@1-1 a\nRUN@2-3 sh[b  c]"),
    ("\u{feff}FROM a", "FROM@1-1 a"),
    ("RUN a \\", "RUN@1-1 sh[a]"),
    // parser directives
    ("# escape=`\nRUN dir c:\\ `\n  && echo hi", "RUN@2-3 sh[dir c:\\   && echo hi]"),
    ("# syntax=docker/dockerfile:1\n#escape = `\nFROM a", "FROM@3-3 a"),
    ("FROM a\n# escape=`\nRUN a `\nb", "ERR Dockerfile:4: unknown instruction: b"),
    ("# escape=`\n# escape=\\\nFROM a", "ERR Dockerfile:2: only one escape parser directive can be used"),
    ("# escape=x\nFROM a", "ERR Dockerfile:1: invalid escape token 'x' does not match ` or \\"),
    // heredocs
    ("RUN <<EOF\napt-get update\napt-get install -y curl\nEOF", "RUN@1-4 sh[<<EOF] <<EOF\"apt-get update\\napt-get install -y curl\\n\"@2"),
    ("RUN <<-EOT bash\n\techo a\n\tEOT", "RUN@1-3 sh[<<-EOT bash] <<EOT(-)\"\\techo a\\n\"@2"),
    ("COPY <<\"EOF\" /app/conf\nhome=$HOME\nEOF", "COPY@1-3  -> /app/conf <<EOF(q)\"home=$HOME\\n\"@2"),
    ("COPY <<one <<two /dst/\n1\none\n2\ntwo", "COPY@1-5  -> /dst/ <<one\"1\\n\"@2 <<two\"2\\n\"@4"),
    ("RUN cat <<A && cat <<'B'\n1\nA\n2\nB\nUSER x", "RUN@1-5 sh[cat <<A && cat <<'B'] <<A\"1\\n\"@2 <<B(q)\"2\\n\"@4\nUSER@6-6 x"),
    ("FROM a\nRUN <<EOF\necho", "ERR Dockerfile:2: unterminated heredoc"),
    ("RUN [\"cat\", \"<<EOF\"]\nUSER x", "RUN@1-1 exec[\"cat\",\"<<EOF\"]\nUSER@2-2 x"),
    ("RUN echo \"<<EOF\"\nUSER x", "RUN@1-1 sh[echo \"<<EOF\"]\nUSER@2-2 x"),
    ("ONBUILD RUN <<EOF\necho hi\nEOF", "ONBUILD@1-3 RUN@1-1 sh[<<EOF] <<EOF\"echo hi\\n\"@2"),
    ("ADD <<EOF /etc/motd\nhello\nEOF", "ADD@1-3  -> /etc/motd <<EOF\"hello\\n\"@2"),
];

#[test]
fn parser_table() {
    let mut failures = Vec::new();
    for (src, want) in ROWS {
        let got = run(src);
        if got != *want {
            failures.push(format!("input: {src:?}\n want: {want}\n  got: {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ROWS.len() >= 40);
}

#[test]
fn empty_continuation_lines_warn() {
    let df = parse("FROM a\nRUN a \\\n\n  b\n").unwrap();
    assert_eq!(df.warnings.len(), 1);
    assert_eq!(df.warnings[0].line, 2);
    assert!(df.warnings[0].message.contains("Empty continuation line"));
}

#[test]
fn escape_directive_is_reported() {
    assert_eq!(parse("# escape=`\nFROM a").unwrap().escape, '`');
    assert_eq!(parse("FROM a").unwrap().escape, '\\');
}

#[test]
fn run_script_follows_buildkit() {
    let run_of = |src: &str| match parse(src).unwrap().instructions.remove(0).kind {
        Kind::Run(r) => r,
        other => panic!("{other:?}"),
    };
    let lone = run_of("RUN <<-EOF\n\techo a\n\tEOF");
    assert_eq!(lone.script(), RunScript::Shell("echo a\n".into()));
    let shebang = run_of("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF");
    assert!(matches!(shebang.script(), RunScript::File(d) if d.name == "EOF"));
    let piped = run_of("RUN python3 <<EOF\nprint(1)\nEOF");
    assert_eq!(
        piped.script(),
        RunScript::Shell("python3 <<EOF\nprint(1)\nEOF".into())
    );
    let exec = run_of("RUN [\"a\"]");
    assert_eq!(exec.script(), RunScript::Exec(&["a".to_owned()]));
}

#[test]
fn display_is_canonical() {
    let rows = [
        (
            "from --platform=linux/amd64 a  as  B",
            "FROM --platform=linux/amd64 a AS b",
        ),
        ("COPY  --chown=1:2 a   b", "COPY --chown=1:2 a b"),
        ("RUN   echo  hi", "RUN echo  hi"),
        ("CMD [\"a\",  \"b\"]", "CMD [\"a\",\"b\"]"),
        (
            "HEALTHCHECK --interval=90s CMD true",
            "HEALTHCHECK --interval=1m30s CMD true",
        ),
        ("ONBUILD  RUN x", "ONBUILD RUN x"),
        ("COPY <<EOF /d\nx\nEOF", "COPY <<EOF /d"),
    ];
    for (src, want) in rows {
        let df = parse(src).unwrap();
        assert_eq!(df.instructions[0].to_string(), want, "{src}");
    }
    let df = parse("COPY <<EOF /d\nx\nEOF").unwrap();
    assert_eq!(df.instructions[0].cache_text(), "COPY <<EOF /d\nx\nEOF");
    let chomped = parse("COPY <<-EOF /d\n\tx\n\tEOF").unwrap();
    let quoted = parse("COPY <<'EOF' /d\n\tx\nEOF").unwrap();
    assert_eq!(
        chomped.instructions[0].cache_text(),
        "COPY <<-EOF /d\n\tx\nEOF"
    );
    assert_eq!(
        quoted.instructions[0].cache_text(),
        "COPY <<\"EOF\" /d\n\tx\nEOF"
    );
}

#[test]
fn parse_instruction_reads_onbuild_triggers() {
    let inst = parse_instruction("RUN echo hi", '\\').unwrap();
    assert_eq!(inst.to_string(), "RUN echo hi");
}

#[test]
fn suggestions() {
    let kw = instr::KEYWORDS.iter().copied();
    assert_eq!(suggest("RUNN", kw.clone()), Some("RUN"));
    assert_eq!(suggest("COPPY", kw.clone()), Some("COPY"));
    assert_eq!(suggest("XYZZY", kw), None);
}
