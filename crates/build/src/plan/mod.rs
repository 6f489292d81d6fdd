//! From a parsed Dockerfile and the build options to stages and steps: global ARGs, build
//! args, `--target`, the stage graph and the expanded text of every step.
//!
//! Stage references follow BuildKit: `FROM <stage>` and `COPY --from=<stage>` may name any
//! other stage (a cycle is an error), while a numeric `--from=<index>` must point at an earlier
//! stage, as in the classic builder. Only the stages the target needs get steps. `order`
//! lists them for a one-at-a-time build (dependencies first), `levels` groups them so that
//! the stages of one level can be built in parallel.

mod graph;
mod stage;

use std::collections::BTreeMap;

use crate::error::{BuildError, Result};
use crate::expand::Vars;
use crate::parse::{Dockerfile, Instruction, Kind};

/// Build arguments Docker accepts without an `ARG` line. They reach RUN's environment but,
/// undeclared, not the cache key or the image history.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What the caller knows before planning.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--target`: the stage to build (by name); the last stage when `None`.
    pub target: Option<String>,
    /// `--build-arg K=V`.
    pub build_args: BTreeMap<String, String>,
    /// Arguments in the global scope without an `ARG` line, such as `TARGETPLATFORM`,
    /// `TARGETOS`, `TARGETARCH`, `BUILDPLATFORM`. A stage still needs `ARG NAME` to see them.
    pub builtin_args: BTreeMap<String, String>,
    /// Config `Env` of base images, keyed by the reference as written in `FROM` (after
    /// expansion). Unknown images count as having no environment; plan once to learn the
    /// bases, pull them, and plan again with their environments.
    pub base_env: BTreeMap<String, Vec<String>>,
    /// Config `OnBuild` triggers of base images, keyed like `base_env`.
    pub base_onbuild: BTreeMap<String, Vec<String>>,
}

/// The result of planning: stages in Dockerfile order, with steps for the needed ones.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `ARG`s before the first `FROM`, numbered first as Docker does.
    pub preamble: Vec<Step>,
    pub stages: Vec<Stage>,
    /// Index of the stage to build.
    pub target: usize,
    /// Needed stage indices in the order to build them one after the other: Dockerfile
    /// order, except that a stage comes after the stages it depends on (BuildKit allows
    /// `FROM <later stage>`). Steps are numbered in this order.
    pub order: Vec<usize>,
    /// Needed stage indices grouped by dependency depth: every stage of a level depends only
    /// on stages of earlier levels.
    pub levels: Vec<Vec<usize>>,
    /// `M` of `Step N/M`.
    pub total_steps: usize,
    /// `--build-arg` names no `ARG` consumed (Docker warns about them).
    pub unused_build_args: Vec<String>,
    /// The Dockerfile's escape character, for later expansions.
    pub escape: char,
}

impl Plan {
    /// The needed stages in build order (see [`Plan::order`]): every stage comes after the
    /// stages it depends on.
    pub fn needed(&self) -> impl Iterator<Item = &Stage> {
        self.order.iter().map(|&i| &self.stages[i])
    }
}

/// One `FROM` and the instructions under it.
#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// Line of the `FROM`.
    pub line: usize,
    pub base: Base,
    /// `FROM --platform=`, expanded.
    pub platform: Option<String>,
    /// Whether the target needs this stage.
    pub needed: bool,
    /// Stages this one needs first: its base stage and `--from` stages, sorted.
    pub deps: Vec<usize>,
    /// Images used by `COPY --from=<image>` or `RUN --mount=from=<image>`.
    pub images: Vec<String>,
    /// Steps, starting with the `FROM` step; empty for stages that are not needed.
    pub steps: Vec<Step>,
    /// `ENV` in effect at the end of the stage (base image environment included).
    pub env: Vars,
    /// `ONBUILD` triggers this stage records in its image config, as written.
    pub onbuild: Vec<String>,
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    Image(String),
    Stage(usize),
}

/// Where `COPY --from` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stage(usize),
    Image(String),
}

/// One instruction to execute, after expansion.
#[derive(Debug, Clone)]
pub struct Step {
    /// `N` of `Step N/M` (base-image triggers share the number of their `FROM`).
    pub number: usize,
    /// `M` of `Step N/M`.
    pub total: usize,
    /// The stage, `None` for global ARGs.
    pub stage: Option<usize>,
    pub line: usize,
    /// The instruction with variables expanded where Docker expands them.
    pub instruction: Instruction,
    /// The title Docker shows: the line as written (continuations joined), with the ARG/ENV
    /// values that are set substituted in instructions Docker expands —
    /// `RUN pip install -r requirements.txt`, `FROM python:3.11-slim` for `FROM python:${PY}`.
    pub text: String,
    /// `K=V` of the ARGs in scope that have a value and are not shadowed by ENV, sorted: RUN
    /// gets them in its environment, and they belong in its cache key.
    pub build_args: Vec<String>,
    /// `K=V` of proxy build args given but not declared: RUN environment only.
    pub proxy_args: Vec<String>,
    /// An `ONBUILD` trigger inherited from the base.
    pub trigger: bool,
    /// Resolved `COPY/ADD --from`.
    pub from: Option<Source>,
}

impl Step {
    /// `Step 3/10 : RUN pip install -r requirements.txt`, or for a base-image trigger
    /// `# Executing build trigger: RUN …`.
    pub fn header(&self) -> String {
        if self.trigger {
            return format!("# Executing build trigger: {}", self.text);
        }
        format!("Step {}/{} : {}", self.number, self.total, self.text)
    }

    /// The instruction text for the cache key: the canonical text of the expanded
    /// instruction plus heredoc bodies (see [`Instruction::cache_text`]).
    pub fn cache_text(&self) -> String {
        self.instruction.cache_text()
    }
}

/// Plans the build of `df` with `opts`.
pub fn plan(df: &Dockerfile, opts: &PlanOptions) -> Result<Plan> {
    let Some(first) = df.instructions.first() else {
        return Err(BuildError::syntax(1, "file with no instructions"));
    };
    let split = df
        .instructions
        .iter()
        .position(|i| !matches!(i.kind, Kind::Arg(_)));
    let split = match split.map(|n| (n, &df.instructions[n])) {
        Some((n, inst)) if matches!(inst.kind, Kind::From(_)) => n,
        Some((_, inst)) => {
            return Err(BuildError::stage(
                inst.line,
                "no build stage in current context",
            ))
        }
        None => {
            return Err(BuildError::stage(
                first.line,
                "no build stage in current context",
            ))
        }
    };
    let (globals, body) = df.instructions.split_at(split);
    let mut ctx = stage::Context::new(df.escape, opts);
    let mut preamble = ctx.globals(globals)?;
    let groups = group_stages(body);
    let mut stages = ctx.structure(&groups)?;
    graph::check_cycles(&stages)?;
    let target = match &opts.target {
        None => stages.len() - 1,
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            stages
                .iter()
                .position(|s| s.name.as_deref() == Some(lower.as_str()))
                .ok_or_else(|| BuildError::TargetNotFound(t.clone()))?
        }
    };
    graph::mark_needed(&mut stages, target);
    let levels = graph::levels(&stages);
    let order = graph::build_order(&stages);
    for &i in &order {
        ctx.steps(&mut stages, i, groups[i])?;
    }
    let total_steps = number_steps(&mut preamble, &mut stages, &order);
    Ok(Plan {
        preamble,
        unused_build_args: ctx.unused_build_args(),
        stages,
        target,
        order,
        levels,
        total_steps,
        escape: df.escape,
    })
}

/// Splits the instructions after the first FROM into one slice per stage.
fn group_stages(body: &[Instruction]) -> Vec<&[Instruction]> {
    let mut starts: Vec<usize> = body
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i.kind, Kind::From(_)))
        .map(|(n, _)| n)
        .collect();
    starts.push(body.len());
    starts.windows(2).map(|w| &body[w[0]..w[1]]).collect()
}

/// Numbers preamble steps, then the steps of needed stages in build order.
fn number_steps(preamble: &mut [Step], stages: &mut [Stage], order: &[usize]) -> usize {
    let counted = |s: &Step| !s.trigger;
    let total = preamble.len()
        + stages
            .iter()
            .flat_map(|s| &s.steps)
            .filter(|s| counted(s))
            .count();
    let mut n = 0;
    let mut steps: Vec<&mut Step> = preamble.iter_mut().collect();
    let mut by_index: Vec<Option<&mut Stage>> = stages.iter_mut().map(Some).collect();
    for &i in order {
        if let Some(stage) = by_index.get_mut(i).and_then(Option::take) {
            steps.extend(stage.steps.iter_mut());
        }
    }
    for step in steps {
        if counted(step) {
            n += 1;
        }
        step.number = n;
        step.total = total;
    }
    total
}

#[cfg(test)]
mod tests;
