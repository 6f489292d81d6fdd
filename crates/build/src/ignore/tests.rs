//! Rows from moby/patternmatcher's tests (`TestMatches`, `TestMatch` and the folder
//! exclusion tests), checked with `MatchesOrParentMatches` semantics.

use super::*;

fn matcher(patterns: &[&str]) -> Matcher {
    Matcher::new(patterns).unwrap()
}

#[rustfmt::skip]
const SINGLE: &[(&str, &str, bool)] = &[
    ("**", "file", true),
    ("**", "file/", true),
    ("**/", "file", true),
    ("**/", "file/", true),
    ("**", "/", true),
    ("**", "dir/file", true),
    ("**/", "dir/file", true),
    ("**/**", "dir/file", true),
    ("**/**", "dir/file/", true),
    ("dir/**", "dir/file", true),
    ("dir/**", "dir/dir2/file/", true),
    ("**/dir", "dir", true),
    ("**/dir", "dir/file", true),
    ("**/dir2/*", "dir/dir2/file", true),
    ("**/dir2/*", "dir/dir2/file/", true),
    ("**/dir2/**", "dir/dir2/dir3/file", true),
    ("**file", "file", true),
    ("**file", "dir/file", true),
    ("**/file", "dir/dir/file", true),
    ("**/file*", "dir/dir/file.txt", true),
    ("**/file*txt", "dir/dir/file.txt", true),
    ("**/file*.txt*", "dir/dir/file.txt", true),
    ("**/**/*.txt", "dir/dir/file.txt", true),
    ("**/**/*.txt2", "dir/dir/file.txt", false),
    ("**/*.txt", "file.txt", true),
    ("**/**/*.txt", "file.txt", true),
    ("a**/*.txt", "a/file.txt", true),
    ("a**/*.txt", "a/dir/file.txt", true),
    ("a**/*.txt", "a/dir/dir/file.txt", true),
    ("a/*.txt", "a/dir/file.txt", false),
    ("a/*.txt", "a/file.txt", true),
    ("a/*.txt**", "a/file.txt", true),
    ("a[b-d]e", "ae", false),
    ("a[b-d]e", "ace", true),
    ("a[b-d]e", "aae", false),
    ("a[^b-d]e", "aze", true),
    (".*", ".foo", true),
    (".*", "foo", false),
    ("abc.def", "abcdef", false),
    ("abc.def", "abc.def", true),
    ("abc.def", "abcZdef", false),
    ("abc?def", "abcZdef", true),
    ("abc?def", "abcdef", false),
    ("**/foo/bar", "foo/bar", true),
    ("**/foo/bar", "dir/dir2/foo/bar", true),
    ("abc/**", "abc", false),
    ("abc/**", "abc/def/ghi", true),
    ("**/.foo", ".foo", true),
    ("**/.foo", "bar.foo", false),
    ("a(b)c/def", "a(b)c/def", true),
    ("a(b)c/def", "a(b)c/xyz", false),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true),
    ("a\\\\", "a\\", true),
    ("a\\*b", "a*b", true),
    // from Go's filepath.Match tests
    ("*c", "abc", true),
    ("a*", "ab/c", true),
    ("a*/b", "abc/b", true),
    ("a*/b", "a/c/b", false),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
    ("a*b?c*x", "abxbbxdbxebxczzx", true),
    ("a*b?c*x", "abxbbxdbxebxczzy", false),
    ("ab[^e-g]", "abc", true),
    ("a\\*b", "ab", false),
    ("a?b", "a☺b", true),
    ("a???b", "a☺b", false),
    ("[a-ζ]*", "α", true),
    ("*[a-ζ]", "A", false),
    ("a?b", "a/b", false),
    ("a*b", "a/b", false),
    ("[\\]a]", "]", true),
    ("[\\-]", "-", true),
    ("[x\\-]", "z", false),
    ("*x", "xxx", true),
];

#[test]
fn single_pattern_table() {
    let mut failures = Vec::new();
    for (pattern, path, want) in SINGLE {
        let got = matcher(&[pattern]).matches_or_parent(path);
        if got != *want {
            failures.push(format!("pattern {pattern:?} path {path:?}: want {want}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[rustfmt::skip]
const MULTI: &[(&[&str], &str, bool)] = &[
    (&["**", "!util/docker/web"], "util/docker/web/foo", false),
    (&["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true),
    (&["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false),
    (&["!fileutils.go", "*.go"], "fileutils.go", true),
    (&["*.go", "!fileutils.go"], "fileutils.go", false),
    (&["docs", "!docs/README.md"], "docs/README.md", false),
    (&["docs/", "!docs/README.md"], "docs/README.md", false),
    (&["docs/*", "!docs/README.md"], "docs/README.md", false),
    (&["docs", "!docs/README.md"], "docs/other.md", true),
    (&["/build", "./tmp/"], "build/out", true),
    (&["/build", "./tmp/"], "tmp", true),
    (&["node_modules", "**/*.pyc", "!keep.pyc"], "src/x.pyc", true),
    (&["node_modules", "**/*.pyc", "!keep.pyc"], "keep.pyc", false),
    (&["*", "!src", "src/*.log"], "src/main.py", false),
    (&["*", "!src", "src/*.log"], "src/debug.log", true),
];

#[test]
fn multi_pattern_table_last_match_wins() {
    for (patterns, path, want) in MULTI {
        assert_eq!(
            matcher(patterns).excluded(path, false),
            *want,
            "{patterns:?} {path}"
        );
    }
}

#[test]
fn bad_patterns_are_errors_with_line_numbers() {
    for bad in [
        "[", "[^", "[^bc", "a[", "\\", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]",
    ] {
        let err = Matcher::new(["ok", bad]).unwrap_err().to_string();
        assert!(
            err.starts_with(".dockerignore:2: syntax error in pattern"),
            "{bad}: {err}"
        );
    }
    assert_eq!(
        Matcher::new(["!"]).unwrap_err().to_string(),
        ".dockerignore:1: illegal exclusion pattern: \"!\""
    );
}

#[test]
fn file_syntax() {
    let m = Matcher::parse("# comment\n\n  *.log  \n ! keep.log\n#!nope\n").unwrap();
    assert!(m.excluded("a.log", false));
    assert!(!m.excluded("keep.log", false));
    assert!(!m.excluded("#!nope", false));
    assert!(m.has_exceptions());
    assert!(!Matcher::empty().excluded("anything", false));
    assert!(!m.excluded(".", true));
    assert!(m.excluded("./x.log", false));
}

#[test]
fn walkers_descend_only_where_exceptions_can_match() {
    let m = matcher(&[
        "docs",
        "!docs/README.md",
        "build",
        "cache*",
        "!cache-keep/x",
    ]);
    assert!(m.excluded("docs", true) && m.must_descend("docs"));
    assert!(m.excluded("build", true) && !m.must_descend("build"));
    assert!(m.must_descend("cache-keep"));
    assert!(!m.must_descend("cachex"));
    assert!(!matcher(&["docs"]).must_descend("docs"));
    assert!(matcher(&["*", "!**/*.py"]).must_descend("deep"));
    assert!(matcher(&["*", "!sr*/main.py"]).must_descend("src"));
}

#[test]
fn clean_like_go() {
    let rows = [
        ("", "."),
        ("a//b/./c/..", "a/b"),
        ("/../a", "/a"),
        ("../a/../..", "../.."),
        ("./", "."),
        ("a/", "a"),
    ];
    for (input, want) in rows {
        assert_eq!(clean(input), want, "{input}");
    }
}
