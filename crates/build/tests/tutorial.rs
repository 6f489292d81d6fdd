//! The Dockerfile of the tutorial in `/work/shared/seed/mastering-docker-tutorial.md`
//! (section "Dockerfile"), copied verbatim into `fixtures/tutorial.Dockerfile`.

#![allow(clippy::unwrap_used)]

use berth_build::parse::{Command, Kind};
use berth_build::plan::Base;
use berth_build::{cache_key, parse, plan, PlanOptions};

const TUTORIAL: &str = include_str!("fixtures/tutorial.Dockerfile");

#[test]
fn tutorial_dockerfile_parses_with_line_numbers() {
    let df = parse(TUTORIAL).unwrap();
    let got: Vec<(usize, &str)> = df
        .instructions
        .iter()
        .map(|i| (i.line, i.kind.keyword()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "FROM"),
            (4, "LABEL"),
            (6, "EXPOSE"),
            (8, "WORKDIR"),
            (10, "COPY"),
            (12, "RUN"),
            (14, "COPY"),
            (15, "CMD"),
        ]
    );
    assert!(df.warnings.is_empty());
    match &df.instructions[7].kind {
        Kind::Cmd(Command::Shell(s)) => assert_eq!(s, "streamlit run ./src/app.py"),
        other => panic!("{other:?}"),
    }
    match &df.instructions[1].kind {
        Kind::Label(pairs) => assert_eq!(pairs.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tutorial_plan_prints_docker_steps() {
    let df = parse(TUTORIAL).unwrap();
    let p = plan(&df, &PlanOptions::default()).unwrap();
    let stage = &p.stages[p.target];
    assert_eq!(stage.base, Base::Image("python:3".into()));
    let headers: Vec<String> = stage.steps.iter().map(|s| s.header()).collect();
    assert_eq!(
        headers,
        [
            "Step 1/8 : FROM python:3",
            "Step 2/8 : LABEL maintainer=\"Henri Vandersleyen\" email=\"hvandersleyen@gmail.com\"",
            "Step 3/8 : EXPOSE 8051",
            "Step 4/8 : WORKDIR /usr/src/app",
            "Step 5/8 : COPY requirements.txt ./",
            "Step 6/8 : RUN pip install -r requirements.txt",
            "Step 7/8 : COPY . .",
            "Step 8/8 : CMD streamlit run ./src/app.py",
        ]
    );
}

/// The tutorial's fix: pin the base to 3.8-slim. Only the FROM line changes, so every key
/// changes (they chain on the parent), but each step's own text stays the same.
#[test]
fn tutorial_with_pinned_base() {
    let pinned = TUTORIAL.replace("FROM python:3\n", "FROM python:3.8-slim\n");
    let a = plan(&parse(TUTORIAL).unwrap(), &PlanOptions::default()).unwrap();
    let b = plan(&parse(&pinned).unwrap(), &PlanOptions::default()).unwrap();
    let (sa, sb) = (&a.stages[0].steps, &b.stages[0].steps);
    assert_eq!(sb[0].text, "FROM python:3.8-slim");
    assert_eq!(sa[5].cache_text(), sb[5].cache_text());
    let parent_a = berth_image::Digest::of(b"python:3 layers");
    let parent_b = berth_image::Digest::of(b"python:3.8-slim layers");
    assert_ne!(
        cache_key(
            Some(&parent_a),
            &sa[5].cache_text(),
            None,
            &sa[5].build_args
        ),
        cache_key(
            Some(&parent_b),
            &sb[5].cache_text(),
            None,
            &sb[5].build_args
        )
    );
}
