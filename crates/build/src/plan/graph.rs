//! The stage graph: resolving `FROM`/`--from` references, cycles, the stages a target needs
//! and the levels in which independent stages can be built side by side.

use super::{Base, Source, Stage};
use crate::error::{BuildError, Result};

/// What a stage is called in messages: its name, or its index.
pub(super) fn label(stage: &Stage) -> String {
    stage
        .name
        .clone()
        .unwrap_or_else(|| stage.index.to_string())
}

/// Resolves a `FROM` base: `scratch`, another stage by name (earlier or later; a stage named
/// like its own base means the image), or an image reference.
pub(super) fn resolve_base(
    image: &str,
    index: usize,
    names: &[Option<String>],
) -> Result<Base, String> {
    if image.is_empty() {
        return Err("base name should not be blank".into());
    }
    if image.eq_ignore_ascii_case("scratch") {
        return Ok(Base::Scratch);
    }
    let lower = image.to_ascii_lowercase();
    if let Some(j) = names
        .iter()
        .position(|n| n.as_deref() == Some(lower.as_str()))
        .filter(|&j| j != index)
    {
        return Ok(Base::Stage(j));
    }
    berth_image::Reference::parse(image).map_err(|e| e.to_string())?;
    Ok(Base::Image(image.to_owned()))
}

/// Resolves `COPY --from=` / `RUN --mount=from=`: an index of an earlier stage, a stage name,
/// or an image reference.
pub(super) fn resolve_from(
    value: &str,
    index: usize,
    names: &[Option<String>],
) -> Result<Source, String> {
    let invalid = |why: &str| format!("invalid from flag value {value}: {why}");
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let j: usize = value.parse().map_err(|_| invalid("not a stage index"))?;
        return match j {
            j if j >= names.len() => Err(invalid("no build stage has this index")),
            j if j == index => Err(invalid("refers to the current build stage")),
            j if j > index => Err(invalid("refers to a later build stage")),
            j => Ok(Source::Stage(j)),
        };
    }
    let lower = value.to_ascii_lowercase();
    if let Some(j) = names
        .iter()
        .position(|n| n.as_deref() == Some(lower.as_str()))
    {
        if j == index {
            return Err(format!("circular dependency detected on stage: {lower}"));
        }
        return Ok(Source::Stage(j));
    }
    berth_image::Reference::parse(value).map_err(|e| invalid(&e.to_string()))?;
    Ok(Source::Image(value.to_owned()))
}

/// Fails on the first cycle among stage dependencies, naming a stage on it.
pub(super) fn check_cycles(stages: &[Stage]) -> Result<()> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(i: usize, stages: &[Stage], marks: &mut [Mark]) -> Result<()> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Open => {
                return Err(BuildError::stage(
                    stages[i].line,
                    format!(
                        "circular dependency detected on stage: {}",
                        label(&stages[i])
                    ),
                ))
            }
            Mark::New => {}
        }
        marks[i] = Mark::Open;
        for &d in &stages[i].deps {
            visit(d, stages, marks)?;
        }
        marks[i] = Mark::Done;
        Ok(())
    }
    let mut marks = vec![Mark::New; stages.len()];
    (0..stages.len()).try_for_each(|i| visit(i, stages, &mut marks))
}

/// Marks the stages `target` depends on (itself included) as needed.
pub(super) fn mark_needed(stages: &mut [Stage], target: usize) {
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !stages[i].needed {
            stages[i].needed = true;
            todo.extend(stages[i].deps.iter().copied());
        }
    }
}

/// The needed stages in Dockerfile order, except that a stage waits for the stages it depends
/// on: without forward references this is plain Dockerfile order.
pub(super) fn build_order(stages: &[Stage]) -> Vec<usize> {
    let mut done = vec![false; stages.len()];
    let mut order = Vec::new();
    while let Some(i) = (0..stages.len())
        .find(|&i| stages[i].needed && !done[i] && stages[i].deps.iter().all(|&d| done[d]))
    {
        done[i] = true;
        order.push(i);
    }
    order
}

/// Groups the needed stages so that every stage comes after all its dependencies: each level
/// only depends on earlier levels, so the stages of one level can be built in parallel.
pub(super) fn levels(stages: &[Stage]) -> Vec<Vec<usize>> {
    let mut level: Vec<Option<usize>> = vec![None; stages.len()];
    fn depth(i: usize, stages: &[Stage], level: &mut [Option<usize>]) -> usize {
        if let Some(l) = level[i] {
            return l;
        }
        let l = stages[i]
            .deps
            .iter()
            .map(|&d| depth(d, stages, level) + 1)
            .max()
            .unwrap_or(0);
        level[i] = Some(l);
        l
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for s in stages.iter().filter(|s| s.needed) {
        let l = depth(s.index, stages, &mut level);
        if out.len() <= l {
            out.resize_with(l + 1, Vec::new);
        }
        out[l].push(s.index);
    }
    out.retain(|l| !l.is_empty());
    out
}
