//! Walking stages: the structure pass (bases and `--from` dependencies, with ARG values only)
//! and the steps pass (full ARG + ENV expansion, in dependency order).

use std::collections::BTreeSet;

use super::graph;
use super::{Base, PlanOptions, Source, Stage, Step, PROXY_ARGS};
use crate::error::{BuildError, Result};
use crate::expand::{display, expand_instruction, expand_word, expands, Lookup, Vars};
use crate::parse::{parse_instruction, Instruction, Kind};

pub(super) struct Context<'a> {
    escape: char,
    opts: &'a PlanOptions,
    /// Global ARGs in order, with their values (`None`: declared without one).
    globals: Vec<(String, Option<String>)>,
    /// Names of ARGs seen in the global scope and in needed stages.
    used: BTreeSet<String>,
    /// Stage names by index, for resolving references.
    names: Vec<Option<String>>,
}

impl<'a> Context<'a> {
    pub(super) fn new(escape: char, opts: &'a PlanOptions) -> Self {
        Self {
            escape,
            opts,
            globals: Vec::new(),
            used: BTreeSet::new(),
            names: Vec::new(),
        }
    }

    /// What FROM lines see: builtin args overlaid with global ARGs.
    fn global_scope(&self) -> Vars {
        let mut vars = Vars::new();
        for (k, v) in &self.opts.builtin_args {
            vars.set(k, v);
        }
        for (k, v) in &self.globals {
            if let Some(v) = v {
                vars.set(k, v);
            }
        }
        vars
    }

    /// The value an `ARG name[=default]` takes: a build arg, else its default, else (for a
    /// name declared globally or builtin) the global value.
    fn arg_value(&self, name: &str, default: Option<String>) -> Option<String> {
        if let Some(v) = self.opts.build_args.get(name) {
            return Some(v.clone());
        }
        if default.is_some() {
            return default;
        }
        if let Some((_, v)) = self.globals.iter().rev().find(|(n, _)| n == name) {
            return v.clone();
        }
        self.opts.builtin_args.get(name).cloned()
    }

    /// The ARG lines before the first FROM.
    pub(super) fn globals(&mut self, insts: &[Instruction]) -> Result<Vec<Step>> {
        let mut steps = Vec::new();
        for inst in insts {
            let scope = self.global_scope();
            let expanded = expand_instruction(inst, &scope, self.escape)?;
            let text = self.title(inst, &scope);
            if let Kind::Arg(decls) = &expanded.kind {
                for d in decls {
                    let value = self.arg_value(&d.name, d.default.clone());
                    self.used.insert(d.name.clone());
                    self.globals.push((d.name.clone(), value));
                }
            }
            steps.push(self.step(
                None,
                expanded,
                text,
                &Vars::new(),
                &Vars::new(),
                (false, None),
            ));
        }
        Ok(steps)
    }

    /// Pass 1: every stage's name, base, dependencies and images.
    pub(super) fn structure(&mut self, groups: &[&[Instruction]]) -> Result<Vec<Stage>> {
        self.names = groups
            .iter()
            .map(|g| match g.first().map(|i| &i.kind) {
                Some(Kind::From(f)) => f.name.clone(),
                _ => None,
            })
            .collect();
        for (i, name) in self.names.iter().enumerate() {
            if let Some(name) = name {
                if self.names[..i].contains(&Some(name.clone())) {
                    let line = groups[i].first().map_or(1, |f| f.line);
                    return Err(BuildError::stage(
                        line,
                        format!("duplicate stage name {name:?}"),
                    ));
                }
            }
        }
        let mut stages = Vec::with_capacity(groups.len());
        for (index, group) in groups.iter().enumerate() {
            stages.push(self.stage_structure(index, group)?);
        }
        Ok(stages)
    }

    fn stage_structure(&self, index: usize, group: &[Instruction]) -> Result<Stage> {
        let (from, rest) = group
            .split_first()
            .ok_or_else(|| BuildError::stage(1, "empty stage"))?;
        let line = from.line;
        let expanded = expand_instruction(from, &self.global_scope(), self.escape)?;
        let Kind::From(f) = &expanded.kind else {
            return Err(BuildError::stage(line, "stage does not start with FROM"));
        };
        let base = graph::resolve_base(&f.image, index, &self.names)
            .map_err(|m| BuildError::stage(line, m))?;
        let mut deps = Vec::new();
        let mut images = Vec::new();
        if let Base::Stage(j) = base {
            deps.push(j);
        }
        let mut scope = Vars::new();
        for inst in rest {
            let froms: Vec<&str> = match &inst.kind {
                Kind::Arg(decls) => {
                    for d in decls {
                        let word = |w: &str| expand_word(w, &scope, self.escape);
                        let name = word(&d.name).map_err(|e| e.at(inst.line))?;
                        let default = d.default.as_deref().map(word).transpose();
                        let default = default.map_err(|e| e.at(inst.line))?;
                        if let Some(v) = self.arg_value(&name, default) {
                            scope.set(&name, &v);
                        }
                    }
                    continue;
                }
                Kind::Copy(c) | Kind::Add(c) => c.from.iter().map(String::as_str).collect(),
                Kind::Run(r) => r.mounts.iter().filter_map(|m| mount_from(m)).collect(),
                _ => continue,
            };
            for raw in froms {
                let value = expand_word(raw, &scope, self.escape).map_err(|e| e.at(inst.line))?;
                match graph::resolve_from(&value, index, &self.names)
                    .map_err(|m| BuildError::stage(inst.line, m))?
                {
                    Source::Stage(j) => deps.push(j),
                    Source::Image(r) if !images.contains(&r) => images.push(r),
                    Source::Image(_) => {}
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        Ok(Stage {
            index,
            name: f.name.clone(),
            line,
            base,
            platform: f.platform.clone(),
            needed: false,
            deps,
            images,
            steps: Vec::new(),
            env: Vars::new(),
            onbuild: Vec::new(),
        })
    }

    /// Pass 2: the steps of stage `i`, whose dependencies already have theirs.
    pub(super) fn steps(
        &mut self,
        stages: &mut [Stage],
        i: usize,
        group: &[Instruction],
    ) -> Result<()> {
        let Some((from, rest)) = group.split_first() else {
            return Ok(());
        };
        let (mut env, triggers) = match &stages[i].base {
            Base::Scratch => (Vars::new(), Vec::new()),
            Base::Image(r) => (
                Vars::from_env(self.opts.base_env.get(r).map_or(&[][..], Vec::as_slice)),
                self.opts.base_onbuild.get(r).cloned().unwrap_or_default(),
            ),
            Base::Stage(j) => (stages[*j].env.clone(), stages[*j].onbuild.clone()),
        };
        let mut args = Vars::new();
        let scope = self.global_scope();
        let from_step = expand_instruction(from, &scope, self.escape)?;
        let text = self.title(from, &scope);
        let mut steps = vec![self.step(Some(i), from_step, text, &args, &env, (false, None))];
        let mut onbuild = Vec::new();
        let mut todo: Vec<(Instruction, bool)> = Vec::new();
        for t in &triggers {
            let mut inst = parse_instruction(t, self.escape).map_err(|e| {
                BuildError::stage(
                    from.line,
                    format!("invalid ONBUILD trigger {t:?} of the base: {e}"),
                )
            })?;
            inst.line = from.line;
            inst.end_line = from.line;
            todo.push((inst, true));
        }
        todo.extend(rest.iter().map(|inst| (inst.clone(), false)));
        for (inst, trigger) in todo {
            let mut scope = args.clone();
            for (k, v) in env.iter() {
                scope.set(k, v);
            }
            let expanded = expand_instruction(&inst, &scope, self.escape)?;
            let text = self.title(&inst, &scope);
            let source = match &expanded.kind {
                Kind::Copy(c) | Kind::Add(c) => match &c.from {
                    Some(v) => Some(
                        graph::resolve_from(v, i, &self.names)
                            .map_err(|m| BuildError::stage(inst.line, m))?,
                    ),
                    None => None,
                },
                _ => None,
            };
            match &expanded.kind {
                Kind::Arg(decls) => {
                    for d in decls {
                        self.used.insert(d.name.clone());
                        if let Some(v) = self.arg_value(&d.name, d.default.clone()) {
                            args.set(&d.name, &v);
                        }
                    }
                }
                Kind::Env(pairs) => pairs.iter().for_each(|p| env.set(&p.key, &p.value)),
                Kind::Onbuild(inner) => onbuild.push(inner.original.clone()),
                _ => {}
            }
            steps.push(self.step(Some(i), expanded, text, &args, &env, (trigger, source)));
        }
        let stage = &mut stages[i];
        stage.steps = steps;
        stage.env = env;
        stage.onbuild = onbuild;
        Ok(())
    }

    /// The step title: the line as written, with known variables substituted where Docker
    /// expands them.
    fn title(&self, raw: &Instruction, scope: &dyn Lookup) -> String {
        if expands(&raw.kind) {
            display(&raw.original, scope, self.escape)
        } else {
            raw.original.clone()
        }
    }

    fn step(
        &self,
        stage: Option<usize>,
        instruction: Instruction,
        text: String,
        args: &Vars,
        env: &Vars,
        (trigger, from): (bool, Option<Source>),
    ) -> Step {
        let mut build_args: Vec<String> = args
            .iter()
            .filter(|(k, _)| env.lookup(k).is_none())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        build_args.sort();
        let proxy_args = PROXY_ARGS
            .iter()
            .filter(|p| !args.contains(p))
            .filter_map(|p| self.opts.build_args.get(*p).map(|v| format!("{p}={v}")))
            .collect();
        Step {
            number: 0,
            total: 0,
            stage,
            line: instruction.line,
            text,
            instruction,
            build_args,
            proxy_args,
            trigger,
            from,
        }
    }

    /// `--build-arg` names that no ARG of the global scope or a needed stage declared.
    pub(super) fn unused_build_args(&self) -> Vec<String> {
        self.opts
            .build_args
            .keys()
            .filter(|k| !self.used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// The `from=` of a `--mount` spec (`type=bind,from=build,target=/src`).
fn mount_from(spec: &str) -> Option<&str> {
    spec.split(',')
        .find_map(|kv| kv.trim().strip_prefix("from="))
}
