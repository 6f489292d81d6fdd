//! Table tests for templates, tables and errors.

use serde_json::{json, Value};

use crate::{render_table, tabwrite, FormatError, Template};

const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("CreatedSince", "CREATED"),
    ("Size", "SIZE"),
];

fn image(repo: &str, tag: &str, id: &str, created: &str, size: &str) -> Value {
    json!({"Containers": "N/A", "CreatedSince": created, "ID": id, "Repository": repo,
           "Tag": tag, "Size": size})
}

fn inspect() -> Value {
    json!({
        "Id": "sha256:9c6f07244728",
        "RepoTags": ["alpine:latest", "alpine:3.19"],
        "Architecture": "amd64",
        "Size": 5540000,
        "Ratio": 1.5,
        "Config": {
            "Env": ["PATH=/usr/bin", "A=b"],
            "Cmd": ["/bin/sh", "-c"],
            "Entrypoint": null,
            "Labels": {"zeta": "last", "maintainer": "me"}
        },
        "State": {"Running": true, "Pid": 42, "Health": null},
        "Mounts": [
            {"Source": "/data", "Destination": "/var/lib", "RW": true},
            {"Source": "/etc/x", "Destination": "/x", "RW": false}
        ]
    })
}

fn render(format: &str, item: &Value) -> Result<String, String> {
    Template::parse(format, &[])
        .and_then(|t| t.render_one(item))
        .map_err(|e| e.to_string())
}

#[test]
fn render_one_cases() {
    let item = inspect();
    let cases: &[(&str, &str)] = &[
        ("{{.Id}}", "sha256:9c6f07244728"),
        ("{{.Architecture}}/{{.Size}}", "amd64/5540000"),
        ("{{.Ratio}}", "1.5"),
        ("{{.State.Pid}}", "42"),
        ("{{json .Config.Env}}", r#"["PATH=/usr/bin","A=b"]"#),
        ("{{json .Config.Labels}}", r#"{"zeta":"last","maintainer":"me"}"#),
        ("{{json .Config.Entrypoint}}", "null"),
        ("{{json .Mounts}}", r#"[{"Source":"/data","Destination":"/var/lib","RW":true},{"Source":"/etc/x","Destination":"/x","RW":false}]"#),
        ("{{json .State}}", r#"{"Running":true,"Pid":42,"Health":null}"#),
        ("{{.Config.Env}}", "[PATH=/usr/bin A=b]"),
        ("{{.Config.Labels}}", "map[maintainer:me zeta:last]"),
        ("{{.State.Health}}", "<nil>"),
        ("{{.Config.Labels.maintainer}}", "me"),
        ("{{range .RepoTags}}{{.}} {{end}}", "alpine:latest alpine:3.19 "),
        ("{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}", "0=alpine:latest;1=alpine:3.19;"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}", "maintainer=me,zeta=last,"),
        ("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "/data:/var/lib /etc/x:/x "),
        ("{{range .Config.Entrypoint}}x{{else}}none{{end}}", "none"),
        ("{{range .RepoTags}}{{if eq . \"alpine:3.19\"}}{{break}}{{end}}{{.}};{{end}}", "alpine:latest;"),
        ("{{range .RepoTags}}{{if eq . \"alpine:latest\"}}{{continue}}{{end}}{{.}}{{end}}", "alpine:3.19"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .Config.Entrypoint}}ep{{else}}no ep{{end}}", "no ep"),
        ("{{if eq .Architecture \"arm64\"}}arm{{else if eq .Architecture \"amd64\"}}x86{{else}}?{{end}}", "x86"),
        ("{{if and .State.Running (gt .State.Pid 0)}}ok{{end}}", "ok"),
        ("{{if or .Config.Entrypoint .Config.Cmd}}{{index .Config.Cmd 0}}{{end}}", "/bin/sh"),
        ("{{if ne .State.Pid 7}}{{not .State.Running}}{{end}}", "false"),
        ("{{with .State}}{{.Pid}}{{end}}", "42"),
        ("{{with .Config.Entrypoint}}{{.}}{{else}}none{{end}}", "none"),
        ("{{index .Config.Labels \"maintainer\"}}", "me"),
        ("{{index .Config.Labels \"missing\"}}", ""),
        ("{{index .RepoTags 1}}", "alpine:3.19"),
        ("{{(index .Mounts 1).Source}}", "/etc/x"),
        ("{{len .RepoTags}} {{len .Config.Labels}}", "2 2"),
        ("{{join .RepoTags \", \"}}", "alpine:latest, alpine:3.19"),
        ("{{split \"a:b:c\" \":\"}}", "[a b c]"),
        ("{{index (split .Id \":\") 1}}", "9c6f07244728"),
        ("{{lower \"ABC\"}} {{upper .Architecture}} {{title \"hello wide-world\"}}", "abc AMD64 Hello Wide-World"),
        ("{{truncate .Id 6}}|{{truncate \"ab\" 5}}", "sha256|ab"),
        ("{{pad .Architecture 1 2}}|{{pad \"\" 3 3}}|", " amd64  ||"),
        ("{{println .Architecture}}", "amd64\n"),
        ("{{print \"a\" 1 2 \"b\"}}", "a1 2b"),
        ("{{printf \"%s-%d\" .Architecture .Size}}", "amd64-5540000"),
        ("{{printf \"%-8s|%5s|%05d|%q|%x|%.2f|%t|%v\" \"ab\" \"cd\" 42 \"q\" 255 .Ratio true .RepoTags}}",
         "ab      |   cd|00042|\"q\"|ff|1.50|true|[alpine:latest alpine:3.19]"),
        ("{{printf \"%d\"}}", "%!d(MISSING)"),
        ("{{.Architecture | upper}}", "AMD64"),
        ("{{.Size | printf \"%d bytes\"}}", "5540000 bytes"),
        ("{{$x := .Architecture}}{{$x}}-{{$.State.Pid}}", "amd64-42"),
        ("{{$n := 1}}{{range .RepoTags}}{{$n = 2}}{{end}}{{$n}}", "2"),
        ("{{slice .Architecture 0 3}}", "amd"),
        // Docker turns a literal backslash-n into a newline before parsing, even in raw strings.
        ("{{\"a\\tb\"}}|{{`raw\\n`}}|{{'A'}}", "a\tb|raw\n|65"),
        ("  {{- .Architecture -}}  \n", "amd64"),
        ("{{/* a comment */}}x{{- /* trimmed */ -}} y", "xy"),
        ("{{if lt 1.5 2}}{{ge \"b\" \"a\"}}{{end}}", "true"),
        (r"{{.Architecture}}\t{{.Size}}\n", "amd64\t5540000\n"),
        ("json", r#"{"Id":"sha256:9c6f07244728","RepoTags":["alpine:latest","alpine:3.19"],"Architecture":"amd64","Size":5540000,"Ratio":1.5,"Config":{"Env":["PATH=/usr/bin","A=b"],"Cmd":["/bin/sh","-c"],"Entrypoint":null,"Labels":{"zeta":"last","maintainer":"me"}},"State":{"Running":true,"Pid":42,"Health":null},"Mounts":[{"Source":"/data","Destination":"/var/lib","RW":true},{"Source":"/etc/x","Destination":"/x","RW":false}]}"#),
    ];
    for (format, want) in cases {
        assert_eq!(
            render(format, &item).as_deref(),
            Ok(*want),
            "format {format:?}"
        );
    }
}

#[test]
fn list_item_cases() {
    let item = image("alpine", "latest", "9c6f07244728", "2 weeks ago", "5.54MB");
    let cases: &[(&str, &str)] = &[
        ("{{.ID}}", "9c6f07244728"),
        ("{{.Repository}}:{{.Tag}}", "alpine:latest"),
        (
            "{{json .}}",
            r#"{"Containers":"N/A","CreatedSince":"2 weeks ago","ID":"9c6f07244728","Repository":"alpine","Tag":"latest","Size":"5.54MB"}"#,
        ),
        ("{{.Repository}}\\n{{.Tag}}", "alpine\nlatest"),
        ("  {{.ID}}  ", "9c6f07244728"),
    ];
    for (format, want) in cases {
        assert_eq!(
            render(format, &item).as_deref(),
            Ok(*want),
            "format {format:?}"
        );
    }
}

#[test]
fn error_cases() {
    let item = inspect();
    let cases: &[(&str, &str)] = &[
        (
            "{{.Id}",
            r#"template parsing error: template: :1: unexpected "}" in operand"#,
        ),
        (
            "{{.Id",
            "template parsing error: template: :1: unclosed action",
        ),
        (
            "{{if .Id}}x",
            "template parsing error: template: :1: unexpected EOF",
        ),
        (
            "x{{end}}",
            "template parsing error: template: :1: unexpected {{end}}",
        ),
        (
            "{{else}}",
            "template parsing error: template: :1: unexpected {{else}}",
        ),
        (
            "{{}}",
            "template parsing error: template: :1: missing value for command",
        ),
        (
            "{{nope .Id}}",
            r#"template parsing error: template: :1: function "nope" not defined"#,
        ),
        (
            "{{$x}}",
            r#"template parsing error: template: :1: undefined variable "$x""#,
        ),
        (
            "{{\"abc}}",
            "template parsing error: template: :1: unterminated quoted string",
        ),
        (
            "{{break}}",
            "template parsing error: template: :1: {{break}} outside {{range}}",
        ),
        (
            "a\n{{.Id}\n",
            r#"template parsing error: template: :2: unexpected "}" in operand"#,
        ),
        (
            "{{.Id | \"x\"}}",
            "template parsing error: template: :1: non executable command in pipeline stage 2",
        ),
        (
            "{{.Foo}}",
            r#"template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo""#,
        ),
        (
            "{{.Config.Foo}}",
            r#"template: :1:2: executing "" at <.Config.Foo>: map has no entry for key "Foo""#,
        ),
        (
            "ab\n  {{json .Nope}}",
            r#"template: :2:9: executing "" at <.Nope>: map has no entry for key "Nope""#,
        ),
        (
            "{{.Id.Foo}}",
            r#"template: :1:2: executing "" at <.Id.Foo>: can't evaluate field Foo in type string"#,
        ),
        (
            "{{.State.Health.Status}}",
            r#"template: :1:2: executing "" at <.State.Health.Status>: nil pointer evaluating interface {}.Status"#,
        ),
        (
            "{{index .RepoTags 5}}",
            r#"template: :1:2: executing "" at <index .RepoTags 5>: error calling index: index out of range: 5"#,
        ),
        (
            "{{json}}",
            r#"template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0"#,
        ),
        (
            "{{upper .Mounts}}",
            r#"template: :1:8: executing "" at <.Mounts>: wrong type for value; expected string; got []interface {}"#,
        ),
        (
            "{{range .Id}}{{end}}",
            r#"template: :1:8: executing "" at <.Id>: range can't iterate over sha256:9c6f07244728"#,
        ),
        (
            "{{if eq .Size \"5\"}}{{end}}",
            r#"template: :1:5: executing "" at <eq .Size "5">: error calling eq: incompatible types for comparison"#,
        ),
    ];
    for (format, want) in cases {
        let got = render(format, &item);
        assert_eq!(
            got.as_ref().map_err(String::as_str),
            Err(*want),
            "format {format:?}"
        );
    }
}

#[test]
fn error_is_structured() {
    let err = Template::parse("{{.A}}", &[])
        .and_then(|t| t.render_one(&json!({})))
        .expect_err("missing key");
    assert_eq!(
        err,
        FormatError::Exec {
            line: 1,
            column: 2,
            context: ".A".into(),
            message: "map has no entry for key \"A\"".into()
        }
    );
    assert!(matches!(
        Template::parse("{{", &[]),
        Err(FormatError::Parse { line: 1, .. })
    ));
}

fn images() -> Vec<Value> {
    vec![
        image("alpine", "latest", "9c6f07244728", "2 weeks ago", "5.54MB"),
        image("busybox", "1.36", "3f57d9401f8d", "3 months ago", "4.26MB"),
    ]
}

#[test]
fn table_matches_docker_images_output() {
    let fmt = r"table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
    let tmpl = Template::parse(fmt, IMAGE_HEADERS).expect("parse");
    assert!(tmpl.is_table());
    let want = "\
REPOSITORY   TAG       IMAGE ID       CREATED        SIZE
alpine       latest    9c6f07244728   2 weeks ago    5.54MB
busybox      1.36      3f57d9401f8d   3 months ago   4.26MB
";
    assert_eq!(tmpl.render_all(&images()).expect("render"), want);
}

#[test]
fn table_header_details() {
    let items = images();
    let cases: &[(&str, &str)] = &[
        // Unknown fields fall back to the upper-cased name; a real tab works too.
        (
            "table {{.ID}}\t{{.Containers}}",
            "IMAGE ID       CONTAINERS\n9c6f07244728   N/A\n3f57d9401f8d   N/A\n",
        ),
        // Docker's formatting functions echo the title in the header row.
        (
            "table {{upper .Repository}}:{{.Tag}}",
            "REPOSITORY:TAG\nALPINE:latest\nBUSYBOX:1.36\n",
        ),
        (
            r"table {{json .Tag}}\t{{truncate .ID 4}}",
            "TAG        IMAGE ID\n\"latest\"   9c6f\n\"1.36\"     3f57\n",
        ),
        // Literal text is part of the header too.
        (
            r"table ID={{.ID}}",
            "ID=IMAGE ID\nID=9c6f07244728\nID=3f57d9401f8d\n",
        ),
    ];
    for (format, want) in cases {
        let tmpl = Template::parse(format, IMAGE_HEADERS).expect("parse");
        assert_eq!(
            tmpl.render_all(&items).expect("render"),
            *want,
            "format {format:?}"
        );
    }
}

#[test]
fn table_without_items_prints_header() {
    let tmpl = Template::parse(r"table {{.Repository}}\t{{.Tag}}", IMAGE_HEADERS).expect("parse");
    assert_eq!(tmpl.render_all(&[]).expect("render"), "REPOSITORY   TAG\n");
}

#[test]
fn non_table_render_all() {
    let tmpl = Template::parse("{{.Repository}}:{{.Tag}}", IMAGE_HEADERS).expect("parse");
    assert!(!tmpl.is_table());
    assert_eq!(
        tmpl.render_all(&images()).expect("render"),
        "alpine:latest\nbusybox:1.36\n"
    );
    assert_eq!(tmpl.render_all(&[]).expect("render"), "");
    let json = Template::parse(" json ", &[]).expect("parse");
    let out = json
        .render_all(&[json!({"b": 1, "a": [1, 2]}), json!({"c": null})])
        .expect("render");
    assert_eq!(out, "{\"b\":1,\"a\":[1,2]}\n{\"c\":null}\n");
}

#[test]
fn parse_with_default() {
    let default = r"table {{.Repository}}\t{{.Tag}}";
    for format in ["", "table", " table "] {
        let tmpl = Template::parse_with_default(format, default, IMAGE_HEADERS).expect("parse");
        assert!(tmpl.is_table());
        assert_eq!(
            tmpl.render_all(&images()[..1]).expect("render"),
            "REPOSITORY   TAG\nalpine       latest\n"
        );
    }
    let tmpl = Template::parse_with_default("{{.ID}}", default, IMAGE_HEADERS).expect("parse");
    assert_eq!(
        tmpl.render_all(&images()[..1]).expect("render"),
        "9c6f07244728\n"
    );
}

fn cells(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

#[test]
fn render_table_matches_docker_ps_output() {
    let headers = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    let rows = cells(&[
        &[
            "a1b2c3d4e5f6",
            "nginx",
            "\"/docker-entrypoint.…\"",
            "10 seconds ago",
            "Up 9 seconds",
            "80/tcp",
            "web",
        ],
        &[
            "0f9e8d7c6b5a",
            "alpine",
            "\"sh\"",
            "2 hours ago",
            "Exited (0) 2 hours ago",
            "",
            "tiny",
        ],
    ]);
    let want = "\
CONTAINER ID   IMAGE     COMMAND                  CREATED          STATUS                   PORTS     NAMES
a1b2c3d4e5f6   nginx     \"/docker-entrypoint.…\"   10 seconds ago   Up 9 seconds             80/tcp    web
0f9e8d7c6b5a   alpine    \"sh\"                     2 hours ago      Exited (0) 2 hours ago             tiny
";
    assert_eq!(render_table(&headers, &rows), want);
}

#[test]
fn tabwrite_cases() {
    let cases: &[(&[&[&str]], &str)] = &[
        (&[], ""),
        (&[&["only"]], "only\n"),
        (&[&["a", "b"], &["ccc", "d"]], "a         b\nccc       d\n"),
        (
            &[&["a-very-long-cell", "x"], &["b", "y"]],
            "a-very-long-cell   x\nb                  y\n",
        ),
        // The last cell is never padded, even when empty.
        (&[&["a", ""], &["b", "c"]], "a         \nb         c\n"),
        // A line without tabs ends the column block, like Go's tabwriter.
        (
            &[&["long-name-here", "1"], &["plain"], &["s", "2"]],
            "long-name-here   1\nplain\ns         2\n",
        ),
        // Widths are per column block: only lines sharing the column count.
        (
            &[&["a", "b", "c"], &["a", "bbbbbbbbbbbb"]],
            "a         b         c\na         bbbbbbbbbbbb\n",
        ),
    ];
    for (rows, want) in cases {
        assert_eq!(tabwrite(&cells(rows)), *want, "rows {rows:?}");
    }
}

/// Random token soup must never panic or hang, only succeed or fail cleanly.
#[test]
fn random_templates_do_not_panic() {
    const PIECES: &[&str] = &[
        "{{", "}}", "{{- ", " -}}", " ", ".", ".Id", ".Config", ".Labels", "$", "$x", ":=", "=",
        "|", "(", ")", "\"s\"", "`r`", "'c'", "12", "-3", "1.5", "0x1f", "if", "else", "end",
        "range", "with", "break", "index", "json", "len", "printf", "eq", "and", "nil", "true",
        ",", "/*", "*/", "\\t", "\\n", "é", "\t", "\n", "}",
    ];
    let item = inspect();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..5000 {
        let mut format = String::new();
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        for _ in 0..(seed >> 60) + 1 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            format.push_str(PIECES[(seed >> 33) as usize % PIECES.len()]);
        }
        if let Ok(t) = Template::parse(&format, IMAGE_HEADERS) {
            let _ = t.render_all(std::slice::from_ref(&item));
        }
    }
}
