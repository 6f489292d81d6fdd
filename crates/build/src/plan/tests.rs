use super::*;
use crate::parse::parse;

fn opts(build_args: &[(&str, &str)]) -> PlanOptions {
    PlanOptions {
        build_args: build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..PlanOptions::default()
    }
}

fn plan_of(src: &str, opts: &PlanOptions) -> Result<Plan> {
    plan(&parse(src)?, opts)
}

fn headers(p: &Plan) -> Vec<String> {
    p.preamble
        .iter()
        .chain(p.needed().flat_map(|s| &s.steps))
        .map(Step::header)
        .collect()
}

fn err(src: &str, opts: &PlanOptions) -> String {
    plan_of(src, opts).unwrap_err().to_string()
}

const TUTORIAL: &str = "\
# base image
FROM python:3.8-slim
# metadata info
LABEL maintainer=\"Henri Vandersleyen\" email=\"hvandersleyen@gmail.com\"
EXPOSE 8051
WORKDIR /usr/src/app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY . .
CMD streamlit run ./src/app.py
";

#[test]
fn tutorial_steps_read_like_docker() {
    let p = plan_of(TUTORIAL, &PlanOptions::default()).unwrap();
    assert_eq!(
        headers(&p),
        [
            "Step 1/8 : FROM python:3.8-slim",
            "Step 2/8 : LABEL maintainer=\"Henri Vandersleyen\" email=\"hvandersleyen@gmail.com\"",
            "Step 3/8 : EXPOSE 8051",
            "Step 4/8 : WORKDIR /usr/src/app",
            "Step 5/8 : COPY requirements.txt ./",
            "Step 6/8 : RUN pip install -r requirements.txt",
            "Step 7/8 : COPY . .",
            "Step 8/8 : CMD streamlit run ./src/app.py",
        ]
    );
    assert_eq!(p.stages[0].steps[5].line, 8);
    assert_eq!(p.levels, [[0]]);
}

#[test]
fn global_args_reach_from_and_redeclared_args() {
    let src = "ARG PY=3.8\nFROM python:${PY}-slim\nARG PY\nRUN echo $PY\n";
    let p = plan_of(src, &opts(&[("PY", "3.11")])).unwrap();
    assert_eq!(
        headers(&p),
        [
            "Step 1/4 : ARG PY=3.8",
            "Step 2/4 : FROM python:3.11-slim",
            "Step 3/4 : ARG PY",
            "Step 4/4 : RUN echo $PY",
        ]
    );
    assert_eq!(p.stages[0].steps[2].build_args, ["PY=3.11"]);
    assert_eq!(p.stages[0].base, Base::Image("python:3.11-slim".into()));
    let p = plan_of(src, &PlanOptions::default()).unwrap();
    assert_eq!(p.stages[0].steps[2].build_args, ["PY=3.8"]);
    assert!(p.unused_build_args.is_empty());
}

#[test]
fn global_arg_not_redeclared_is_not_visible() {
    let p = plan_of("ARG V=1\nFROM a\nENV X=$V\n", &PlanOptions::default()).unwrap();
    assert_eq!(p.stages[0].steps[1].text, "ENV X=$V");
    assert_eq!(p.stages[0].steps[1].cache_text(), "ENV X=\"\"");
    assert_eq!(p.stages[0].env.to_env(), ["X="]);
}

#[test]
fn env_shadows_arg_and_sees_previous_values() {
    let src = "FROM a\nARG A=arg\nENV A=env\nRUN x\nWORKDIR /$A\nENV A=2 B=$A\n";
    let p = plan_of(src, &PlanOptions::default()).unwrap();
    let s = &p.stages[0];
    assert!(s.steps[3].build_args.is_empty());
    assert_eq!(s.steps[4].text, "WORKDIR /env");
    assert_eq!(s.steps[5].text, "ENV A=2 B=env");
    assert_eq!(s.env.to_env(), ["A=2", "B=env"]);
}

#[test]
fn base_image_environment_is_used_when_known() {
    let mut o = PlanOptions::default();
    o.base_env
        .insert("python:3".into(), vec!["HOME=/root".into(), "PY=3".into()]);
    let p = plan_of("FROM python:3\nWORKDIR $HOME/app\n", &o).unwrap();
    assert_eq!(p.stages[0].steps[1].text, "WORKDIR /root/app");
    assert_eq!(p.stages[0].env.to_env(), ["HOME=/root", "PY=3"]);
}

const MULTI: &str = "\
FROM golang AS build
RUN go build -o /app
FROM node AS assets
RUN npm run build
FROM alpine AS unused
RUN true
FROM alpine
COPY --from=build /app /app
COPY --from=assets /dist /dist
";

#[test]
fn independent_stages_share_a_level() {
    let p = plan_of(MULTI, &PlanOptions::default()).unwrap();
    assert_eq!(p.target, 3);
    assert_eq!(p.levels, vec![vec![0, 1], vec![3]]);
    assert_eq!(p.order, [0, 1, 3]);
    assert_eq!(p.stages[3].deps, [0, 1]);
    assert!(!p.stages[2].needed && p.stages[2].steps.is_empty());
    assert_eq!(p.total_steps, 7);
    assert_eq!(p.stages[3].steps[1].from, Some(Source::Stage(0)));
    assert_eq!(
        p.stages[3].steps[2].header(),
        "Step 7/7 : COPY --from=assets /dist /dist"
    );
}

#[test]
fn target_limits_the_stages() {
    let mut o = PlanOptions {
        target: Some("BUILD".into()),
        ..PlanOptions::default()
    };
    let p = plan_of(MULTI, &o).unwrap();
    assert_eq!(
        (p.target, p.levels.clone(), p.total_steps),
        (0, vec![vec![0]], 2)
    );
    o.target = Some("nope".into());
    assert_eq!(err(MULTI, &o), "target stage \"nope\" could not be found");
}

#[test]
fn stages_may_refer_forward_but_not_in_a_cycle() {
    let target_a = PlanOptions {
        target: Some("a".into()),
        ..PlanOptions::default()
    };
    let p = plan_of("FROM b AS a\nRUN x\nFROM alpine AS b\n", &target_a).unwrap();
    assert_eq!(p.levels, vec![vec![1], vec![0]]);
    assert_eq!(p.order, [1, 0]);
    assert_eq!(
        headers(&p),
        [
            "Step 1/3 : FROM alpine AS b",
            "Step 2/3 : FROM b AS a",
            "Step 3/3 : RUN x"
        ]
    );
    assert_eq!(p.stages[0].base, Base::Stage(1));
    assert_eq!(
        err("FROM b AS a\nFROM a AS b\n", &PlanOptions::default()),
        "Dockerfile:1: circular dependency detected on stage: a"
    );
    assert_eq!(
        err(
            "FROM alpine AS x\nCOPY --from=x /a /b\n",
            &PlanOptions::default()
        ),
        "Dockerfile:2: circular dependency detected on stage: x"
    );
    let p = plan_of("FROM node AS node\nRUN x\n", &PlanOptions::default()).unwrap();
    assert_eq!(p.stages[0].base, Base::Image("node".into()));
}

#[test]
fn numeric_from_must_name_an_earlier_stage() {
    let two = |flag: &str| format!("FROM a\nCOPY --from={flag} /x /y\nFROM b\n");
    let rows = [
        (
            "0",
            "Dockerfile:2: invalid from flag value 0: refers to the current build stage",
        ),
        (
            "1",
            "Dockerfile:2: invalid from flag value 1: refers to a later build stage",
        ),
        (
            "7",
            "Dockerfile:2: invalid from flag value 7: no build stage has this index",
        ),
    ];
    for (flag, want) in rows {
        assert_eq!(err(&two(flag), &PlanOptions::default()), want);
    }
    let p = plan_of(
        "FROM a\nFROM b\nCOPY --from=0 /x /y\n",
        &PlanOptions::default(),
    )
    .unwrap();
    assert_eq!(p.stages[1].deps, [0]);
}

#[test]
fn from_images_and_arg_expanded_froms() {
    let src = "FROM a AS one\nFROM b\nARG SRC=one\nCOPY --from=$SRC /x /y\nCOPY --from=nginx:1.25 /etc/nginx /n\nRUN --mount=type=bind,from=redis:7,target=/r true\n";
    let p = plan_of(src, &PlanOptions::default()).unwrap();
    assert_eq!(p.stages[1].deps, [0]);
    assert_eq!(p.stages[1].images, ["nginx:1.25", "redis:7"]);
    assert_eq!(
        p.stages[1].steps[3].from,
        Some(Source::Image("nginx:1.25".into()))
    );
    assert!(err(
        "FROM a\nCOPY --from=Bad:Ref:x /a /b\n",
        &PlanOptions::default()
    )
    .starts_with("Dockerfile:2: invalid from flag value Bad:Ref:x: invalid reference format"));
}

#[test]
fn proxy_args_and_unused_build_args() {
    let o = opts(&[("HTTP_PROXY", "http://p:3128"), ("FOO", "1")]);
    let p = plan_of("FROM a\nRUN curl x\n", &o).unwrap();
    let run = &p.stages[0].steps[1];
    assert_eq!(run.proxy_args, ["HTTP_PROXY=http://p:3128"]);
    assert!(run.build_args.is_empty());
    assert_eq!(p.unused_build_args, ["FOO"]);
    let p = plan_of("FROM a\nARG HTTP_PROXY\nRUN curl x\n", &o).unwrap();
    let run = &p.stages[0].steps[2];
    assert_eq!(run.build_args, ["HTTP_PROXY=http://p:3128"]);
    assert!(run.proxy_args.is_empty());
}

#[test]
fn builtin_args_are_global() {
    let mut o = PlanOptions::default();
    o.builtin_args.insert("TARGETARCH".into(), "amd64".into());
    let p = plan_of("FROM img-$TARGETARCH\nARG TARGETARCH\nRUN x\n", &o).unwrap();
    assert_eq!(p.stages[0].base, Base::Image("img-amd64".into()));
    assert_eq!(p.stages[0].steps[2].build_args, ["TARGETARCH=amd64"]);
}

#[test]
fn onbuild_triggers_run_after_from() {
    let mut o = PlanOptions::default();
    o.base_onbuild
        .insert("base".into(), vec!["RUN echo trig".into()]);
    let p = plan_of("FROM base\nRUN x\n", &o).unwrap();
    assert_eq!(
        headers(&p),
        [
            "Step 1/2 : FROM base",
            "# Executing build trigger: RUN echo trig",
            "Step 2/2 : RUN x",
        ]
    );
    let src = "FROM a AS one\nONBUILD RUN hi\nFROM one\nRUN x\n";
    let p = plan_of(src, &PlanOptions::default()).unwrap();
    assert_eq!(p.stages[0].onbuild, ["RUN hi"]);
    assert!(p.stages[1].steps[1].trigger);
    assert_eq!(p.stages[1].steps[1].text, "RUN hi");
}

#[test]
fn structural_errors_name_their_line() {
    let d = PlanOptions::default();
    let rows = [
        (
            "ARG A\nRUN x\n",
            "Dockerfile:2: no build stage in current context",
        ),
        (
            "ARG B\nFROM $B\n",
            "Dockerfile:2: base name should not be blank",
        ),
        (
            "FROM a AS x\nFROM b AS x\n",
            "Dockerfile:2: duplicate stage name \"x\"",
        ),
        (
            "FROM a\nWORKDIR ${X\n",
            "Dockerfile:2: failed to process \"${X\": missing '}'",
        ),
        (
            "# only a comment\n",
            "Dockerfile:1: file with no instructions",
        ),
    ];
    for (src, want) in rows {
        assert_eq!(err(src, &d), want, "{src}");
    }
    assert!(err("FROM Foo\n", &d).contains("repository name must be lowercase"));
}

#[test]
fn heredoc_bodies_are_in_the_cache_text() {
    let p = plan_of(
        "FROM a\nARG V=1\nCOPY <<EOF /f\nv=$V\nEOF\n",
        &PlanOptions::default(),
    )
    .unwrap();
    let step = &p.stages[0].steps[2];
    assert_eq!(step.text, "COPY <<EOF /f");
    assert_eq!(step.cache_text(), "COPY <<EOF /f\nv=1\nEOF");
}
