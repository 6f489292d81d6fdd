//! `build`: the executor of a Dockerfile, on top of the pure planner in `berth-build`.
//!
//! Each stage starts from its base (an image, an earlier stage, or scratch). Metadata
//! instructions only change the config; `RUN` runs a container on the current image and
//! commits its writable layer; `COPY`/`ADD` write a layer tar straight from the context (no
//! container). Every step that makes a layer is cached under a key of the state it starts
//! from, its text, its build args and (COPY/ADD) the content hash of its sources, so a change
//! to `app.py` does not re-run `pip install` when `requirements.txt` was copied first.
//!
//! A failed step reports its header, Dockerfile line, exit code and last lines; the full
//! output is kept in `ROOT/build-logs/`. No tag moves unless the whole build succeeds.

mod copy;
mod remote;
mod step;

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use berth_build::plan::Base;
use berth_build::{cache_key, Kind, Matcher, PlanOptions};
use berth_image::digest::Digest;
use berth_image::reference::Reference;
use serde_json::{json, Value};

use crate::container::NetworkMode;
use crate::image::LayerSource;
use crate::{Engine, EngineError};

/// Options of `build`, parsed at the edge.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile (default `CONTEXT/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    pub tags: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub no_cache: bool,
    /// `--pull`: fetch every base image from its registry, even one that is here.
    pub pull: bool,
    /// RUN steps' network (`--network`, default bridge).
    pub network: NetworkMode,
    /// `SOURCE_DATE_EPOCH`: fixed times, for reproducible images.
    pub source_date_epoch: Option<i64>,
    /// Stops the build: no further step starts, running RUN containers are killed, and the
    /// build fails with [`EngineError::Cancelled`].
    pub cancel: crate::Cancel,
}

/// A build context that arrived as a tar stream (`build -` on the CLI, the Engine API's
/// `POST /build` body), unpacked into a private directory that goes with this value.
#[derive(Debug)]
pub struct TarContext {
    dir: tempfile::TempDir,
}

impl TarContext {
    /// The directory to give [`BuildOptions::context`].
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// Why a build failed at a step, with what the user needs to fix it.
#[derive(Debug, Clone)]
pub struct StepFailure {
    pub header: String,
    pub line: usize,
    pub code: i32,
    pub tail: Vec<String>,
    pub log: PathBuf,
}

/// What every stage of one build shares.
struct StageRun<'a> {
    plan: &'a berth_build::plan::Plan,
    opts: &'a BuildOptions,
    ignore: &'a Matcher,
    events: Events<'a>,
    log: &'a Mutex<std::fs::File>,
    log_path: &'a std::path::Path,
    /// Set when a stage fails: the others stop at their next step.
    cancel: &'a AtomicBool,
    /// The RUN container each stage is running, killed when another stage fails.
    running: &'a Mutex<BTreeMap<usize, String>>,
}

/// The state of a stage between steps.
#[derive(Debug, Clone)]
pub(crate) struct State {
    /// The stored image that matches `config` exactly, if any.
    pub image: Option<Digest>,
    pub config: Value,
    pub layers: Vec<LayerSource>,
    /// The state's cache identity: the base image ID, then a key per step.
    pub key: Option<Digest>,
    /// CMD was set in this stage (an ENTRYPOINT then keeps it).
    pub cmd_set: bool,
}

/// What a build reports as it goes. `stage` is the stage's index in the Dockerfile; stages
/// that do not depend on each other run at the same time, so events of different stages
/// interleave.
#[derive(Debug, Clone, Copy)]
pub enum BuildEvent<'a> {
    /// A line about the whole build: warnings, base image pulls, `Successfully built`.
    Note(&'a str),
    /// A stage starts; `concurrent` when other stages run alongside it.
    StageStarted {
        stage: usize,
        name: &'a str,
        concurrent: bool,
    },
    /// A step starts: docker's `Step N/M : INSTRUCTION`.
    Step { stage: usize, header: &'a str },
    /// docker's lines under a step: ` ---> Using cache`, ` ---> Running in …`, ` ---> <id>`.
    Detail { stage: usize, text: &'a str },
    /// Output of a RUN step: one or more lines.
    Output { stage: usize, text: &'a str },
    /// The step is over; `cached` when the build cache had it.
    StepDone { stage: usize, cached: bool },
    /// The stage is built.
    StageDone { stage: usize },
}

/// Where a build's events go: the caller's view and the build's log file.
type Events<'a> = &'a (dyn Fn(BuildEvent<'_>) + Sync);

/// A stage's output: its events, its part of the full log and the last lines of its running
/// step (for the failure report).
pub(crate) struct Output<'a> {
    events: Events<'a>,
    stage: usize,
    /// Set when another stage failed.
    pub cancel: &'a AtomicBool,
    /// Where a RUN step notes its container, for a failing sibling to kill.
    pub running: &'a Mutex<BTreeMap<usize, String>>,
    log: &'a Mutex<std::fs::File>,
    /// `[stage] ` before each log line while stages run at the same time, else empty.
    log_prefix: String,
    pub log_path: PathBuf,
    pub tail: VecDeque<String>,
    cached: bool,
    /// RUN output after its last newline.
    partial: Vec<u8>,
}

impl Output<'_> {
    fn log_line(&self, text: &str) {
        if let Ok(mut log) = self.log.lock() {
            let _ = writeln!(log, "{}{text}", self.log_prefix);
        }
    }

    /// A step's header.
    pub fn step(&mut self, header: &str) {
        self.tail.clear();
        self.cached = false;
        self.log_line(header);
        (self.events)(BuildEvent::Step {
            stage: self.stage,
            header,
        });
    }

    /// One of docker's lines under a step.
    pub fn line(&mut self, text: &str) {
        self.log_line(text);
        (self.events)(BuildEvent::Detail {
            stage: self.stage,
            text,
        });
    }

    /// The step was found in the build cache.
    pub fn cached(&mut self) {
        self.cached = true;
        self.line(" ---> Using cache");
    }

    /// Output of a RUN step: to the user and the log, the last 20 lines kept.
    pub fn run_output(&mut self, bytes: &[u8]) {
        // Whole lines only: a chunk may end inside one, and prefixes (concurrent stages), the
        // tail and the views all work by line.
        self.partial.extend_from_slice(bytes);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let whole: Vec<u8> = self.partial.drain(..=end).collect();
        self.emit_output(&whole);
    }

    /// Passes on the last line of a RUN step's output, if it had no newline.
    pub fn flush_output(&mut self) {
        if !self.partial.is_empty() {
            let mut rest = std::mem::take(&mut self.partial);
            rest.push(b'\n');
            self.emit_output(&rest);
        }
    }

    fn emit_output(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        if let Ok(mut log) = self.log.lock() {
            if self.log_prefix.is_empty() {
                let _ = log.write_all(bytes);
            } else {
                for l in text.lines() {
                    let _ = writeln!(log, "{}{l}", self.log_prefix);
                }
            }
        }
        for l in text.lines() {
            if self.tail.len() == 20 {
                self.tail.pop_front();
            }
            self.tail.push_back(l.to_string());
        }
        (self.events)(BuildEvent::Output {
            stage: self.stage,
            text: text.trim_end_matches('\n'),
        });
    }

    /// Notes (or, with `None`, forgets) the RUN container this stage runs.
    pub fn running(&self, container: Option<&str>) {
        if let Ok(mut r) = self.running.lock() {
            match container {
                Some(id) => r.insert(self.stage, id.to_string()),
                None => r.remove(&self.stage),
            };
        }
    }

    fn step_done(&mut self) {
        (self.events)(BuildEvent::StepDone {
            stage: self.stage,
            cached: self.cached,
        });
    }
}

pub(crate) fn now_rfc3339(epoch: Option<i64>) -> String {
    match epoch {
        Some(t) => chrono::DateTime::from_timestamp(t, 0).unwrap_or_default(),
        None => chrono::Utc::now(),
    }
    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl Engine {
    /// Builds the Dockerfile of `opts`; returns the image ID. `events` hears docker's
    /// `Step N/M` lines and the steps' output as they happen. Stages that do not depend on
    /// each other are built at the same time, each on its own thread and engine.
    /// Unpacks a build context sent as a tar stream into a private directory under the run
    /// root. Devices and ownership are not kept (a context is files to copy from); a stream
    /// that is not a tar fails with nothing left behind.
    pub fn context_from_tar(&self, tar: impl std::io::Read) -> Result<TarContext, EngineError> {
        let dir = tempfile::Builder::new()
            .prefix("build-context-")
            .tempdir_in(&self.run_root)
            .map_err(|e| EngineError::io("build: a directory for the context", e))?;
        berth_image::layer::unpack(
            tar,
            dir.path(),
            &berth_image::layer::UnpackOptions {
                allow_devices: false,
                same_owner: false,
            },
        )
        .map_err(|e| EngineError::bad_input("build: the context is not a valid tar archive", e))?;
        Ok(TarContext { dir })
    }

    pub fn build(&self, opts: &BuildOptions, events: Events<'_>) -> Result<Digest, EngineError> {
        // Everything the user typed is checked before anything runs.
        let tags: Vec<Reference> = opts
            .tags
            .iter()
            .map(|t| Reference::parse(t).map(Reference::with_default_tag))
            .collect::<Result<_, _>>()?;
        let dockerfile = opts
            .dockerfile
            .clone()
            .map(|d| {
                if d.is_absolute() {
                    d
                } else {
                    opts.context.join(d)
                }
            })
            .unwrap_or_else(|| opts.context.join("Dockerfile"));
        let text = std::fs::read_to_string(&dockerfile).map_err(|e| {
            EngineError::io(format!("read the Dockerfile {}", dockerfile.display()), e)
        })?;
        let df = berth_build::parse(&text).map_err(build_err)?;
        let ignore = match std::fs::read_to_string(opts.context.join(".dockerignore")) {
            Ok(t) => Matcher::parse(&t).map_err(build_err)?,
            Err(_) => Matcher::empty(),
        };
        let mut plan_opts = PlanOptions {
            target: opts.target.clone(),
            build_args: opts.build_args.clone(),
            ..Default::default()
        };
        // Plan once to learn the base images, then again with their environments.
        let first = berth_build::plan(&df, &plan_opts).map_err(build_err)?;
        // --pull fetches each image once, however many stages name it.
        let mut fetched = std::collections::BTreeSet::new();
        for stage in first.needed() {
            if let Base::Image(name) = &stage.base {
                let fresh = opts.pull && fetched.insert(name.clone());
                let id =
                    self.fetch_image("base image", name, stage.line, fresh, events, &opts.cancel)?;
                let cfg = self.image_config(&id)?;
                let strings = |k: &str| -> Vec<String> {
                    cfg.pointer(&format!("/config/{k}"))
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                plan_opts.base_env.insert(name.clone(), strings("Env"));
                plan_opts
                    .base_onbuild
                    .insert(name.clone(), strings("OnBuild"));
            }
            // Images COPY --from names are fetched like bases (their config is not needed).
            for name in &stage.images {
                let fresh = opts.pull && fetched.insert(name.clone());
                self.fetch_image("image", name, stage.line, fresh, events, &opts.cancel)?;
            }
        }
        let plan = berth_build::plan(&df, &plan_opts).map_err(build_err)?;
        for unused in &plan.unused_build_args {
            events(BuildEvent::Note(&format!(
                "[Warning] One or more build-args [{unused}] were not consumed"
            )));
        }

        let logs = self.store.root().join("build-logs");
        std::fs::create_dir_all(&logs).map_err(|e| EngineError::io("build logs", e))?;
        let log_path = logs.join(format!(
            "{}-{}.log",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
            std::process::id()
        ));
        let log = std::fs::File::create(&log_path).map_err(|e| EngineError::io("build log", e))?;
        let log = Mutex::new(log);
        let note = |text: &str| {
            if let Ok(mut l) = log.lock() {
                let _ = writeln!(l, "{text}");
            }
            events(BuildEvent::Note(text));
        };
        for step in &plan.preamble {
            note(&step.header());
        }

        let (cancel, running) = (AtomicBool::new(false), Mutex::new(BTreeMap::new()));
        let run = StageRun {
            plan: &plan,
            opts,
            ignore: &ignore,
            events,
            log: &log,
            log_path: &log_path,
            cancel: &cancel,
            running: &running,
        };
        let (finished, over) = std::sync::mpsc::channel::<()>();
        let built = std::thread::scope(|s| {
            let run = &run;
            s.spawn(move || watch_cancel(self, run, &over));
            let built = self.build_levels(run);
            drop(finished);
            built
        });
        let results = match built {
            Err(_) if opts.cancel.is_cancelled() => {
                return Err(EngineError::Cancelled("build".into()))
            }
            r => r?,
        };
        let id = results
            .get(&plan.target)
            .cloned()
            .ok_or_else(|| EngineError::InvalidArgument("the target stage was not built".into()))?;
        note(&format!("Successfully built {}", id.short()));
        self.set_tags(&tags, &id)?;
        for t in &tags {
            note(&format!("Successfully tagged {}", t.familiar()));
        }
        Ok(id)
    }

    /// Builds the plan's stages level by level, the stages of a level at the same time.
    fn build_levels(&self, run: &StageRun<'_>) -> Result<BTreeMap<usize, Digest>, EngineError> {
        let mut results: BTreeMap<usize, Digest> = BTreeMap::new();
        for level in &run.plan.levels {
            let built = match level.as_slice() {
                [one] => vec![(*one, self.build_stage(run, *one, &results, false))],
                [first, rest @ ..] => {
                    let results = &results;
                    std::thread::scope(|s| {
                        let others: Vec<_> = rest
                            .iter()
                            .map(|&i| s.spawn(move || (i, self.build_stage(run, i, results, true))))
                            .collect();
                        let mut built =
                            vec![(*first, self.build_stage(run, *first, results, true))];
                        for h in others {
                            built.push(h.join().unwrap_or_else(|_| {
                                (
                                    usize::MAX,
                                    Err(EngineError::InvalidArgument(
                                        "a build thread panicked".into(),
                                    )),
                                )
                            }));
                        }
                        built
                    })
                }
                [] => Vec::new(),
            };
            // A failing stage stops the others (see build_stage); the build's error is the
            // first real failure in Dockerfile order, not a stage that was stopped for it.
            let mut stopped = None;
            for (i, r) in built {
                match r {
                    Ok(id) => {
                        results.insert(i, id);
                    }
                    Err(EngineError::BuildCancelled) => stopped = Some(EngineError::BuildCancelled),
                    Err(e) => return Err(e),
                }
            }
            if let Some(e) = stopped {
                return Err(e);
            }
        }
        Ok(results)
    }

    /// The image a stage needs: pulled when it is not here, as docker does, or always with
    /// `--pull` (which then fails the build when the registry cannot be reached, as docker's).
    fn fetch_image(
        &self,
        kind: &str,
        name: &str,
        line: usize,
        always: bool,
        events: Events<'_>,
        cancel: &crate::Cancel,
    ) -> Result<Digest, EngineError> {
        if !always {
            match self.resolve_image(name) {
                Err(EngineError::ImageNotFound(_)) => {}
                found => return found,
            }
        }
        events(BuildEvent::Note(&format!("Pulling {name}")));
        self.pull(name, None, &|_| {}, cancel)
            .map(|(id, _)| id)
            .map_err(|e| {
                if let EngineError::Cancelled(_) = e {
                    return e;
                }
                EngineError::InvalidArgument(if always {
                    format!("Dockerfile:{line}: {kind} {name}: --pull could not fetch it: {e}")
                } else {
                    format!(
                        "Dockerfile:{line}: {kind} {name} not found here, and pulling it failed: {e}"
                    )
                })
            })
    }

    /// Builds stage `index` of the plan on the results of the stages it depends on. When it
    /// fails, the stages running beside it are stopped: their next step does not start and
    /// their running RUN container is killed, so a failure is reported without waiting for a
    /// long sibling step.
    fn build_stage(
        &self,
        run: &StageRun<'_>,
        index: usize,
        results: &BTreeMap<usize, Digest>,
        concurrent: bool,
    ) -> Result<Digest, EngineError> {
        let result = self.build_stage_steps(run, index, results, concurrent);
        if matches!(&result, Err(e) if !matches!(e, EngineError::BuildCancelled)) {
            run.cancel.store(true, Ordering::SeqCst);
            let others: Vec<String> = run
                .running
                .lock()
                .map(|r| {
                    r.iter()
                        .filter(|(s, _)| **s != index)
                        .map(|(_, id)| id.clone())
                        .collect()
                })
                .unwrap_or_default();
            for id in others {
                let _ = self.kill_container(&id, "KILL");
            }
        }
        result
    }

    fn build_stage_steps(
        &self,
        run: &StageRun<'_>,
        index: usize,
        results: &BTreeMap<usize, Digest>,
        concurrent: bool,
    ) -> Result<Digest, EngineError> {
        let stage = &run.plan.stages[index];
        let name = stage.name.clone().unwrap_or_else(|| index.to_string());
        (run.events)(BuildEvent::StageStarted {
            stage: index,
            name: &name,
            concurrent,
        });
        let mut out = Output {
            events: run.events,
            stage: index,
            cancel: run.cancel,
            running: run.running,
            log: run.log,
            log_prefix: if concurrent {
                format!("[{name}] ")
            } else {
                String::new()
            },
            log_path: run.log_path.to_path_buf(),
            tail: VecDeque::new(),
            cached: false,
            partial: Vec::new(),
        };
        let mut state = self.stage_base(&stage.base, results, run.opts)?;
        for step in &stage.steps {
            if run.cancel.load(Ordering::SeqCst) {
                return Err(EngineError::BuildCancelled);
            }
            out.step(&step.header());
            if let Kind::From(_) = step.instruction.kind {
                if let Some(id) = &state.image {
                    out.line(&format!(" ---> {}", id.short()));
                }
            } else {
                self.run_step(step, &mut state, run.opts, run.ignore, results, &mut out)?;
            }
            out.step_done();
        }
        let id = self.materialize(&mut state, run.opts, index == run.plan.target)?;
        (run.events)(BuildEvent::StageDone { stage: index });
        Ok(id)
    }

    /// The state a stage starts from.
    fn stage_base(
        &self,
        base: &Base,
        results: &BTreeMap<usize, Digest>,
        opts: &BuildOptions,
    ) -> Result<State, EngineError> {
        let id = match base {
            Base::Scratch => {
                return Ok(State {
                    image: None,
                    config: json!({
                        "architecture": crate::image::go_arch(),
                        "os": "linux",
                        "config": {"Env": [format!("PATH={}", berth_runtime::spec::DEFAULT_PATH)]},
                        "rootfs": {"type": "layers", "diff_ids": []},
                        "history": [],
                    }),
                    layers: Vec::new(),
                    key: None,
                    cmd_set: false,
                })
            }
            Base::Image(name) => self.resolve_image(name)?,
            Base::Stage(i) => results.get(i).cloned().ok_or_else(|| {
                EngineError::InvalidArgument(format!("stage {i} was not built before its use"))
            })?,
        };
        let mut config = self.image_config(&id)?;
        // A new image: the base's identity fields do not carry over.
        if let Some(o) = config.as_object_mut() {
            o.remove("container");
            o.remove("container_config");
        }
        let _ = opts;
        Ok(State {
            layers: self.image_layer_sources(&id)?,
            config,
            key: Some(id.clone()),
            image: Some(id),
            cmd_set: false,
        })
    }

    /// Makes sure the state is a stored image (the target gets the build's labels).
    fn materialize(
        &self,
        state: &mut State,
        opts: &BuildOptions,
        is_target: bool,
    ) -> Result<Digest, EngineError> {
        let stored = state.image.clone();
        if is_target && !opts.labels.is_empty() {
            for (k, v) in &opts.labels {
                state.config["config"]["Labels"][k] = json!(v);
            }
            state.image = None;
            let labels: Vec<String> = opts
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            state.key = Some(next_key(state, "--label", None, &labels));
        }
        if let Some(id) = &state.image {
            return Ok(id.clone());
        }
        // The same steps on the same base give the same image, as docker's rebuilds do: an
        // unchanged rebuild makes no new image (nor a dangling old one).
        if !opts.no_cache {
            if let Some(key) = state.key.clone() {
                if let Some(id) = self.cache_lookup(&key)? {
                    self.adopt(state, &id, key)?;
                    return Ok(id);
                }
            }
        }
        self.store_state(state, opts, stored)
    }

    /// Stores the state as an image whose build parent is `parent`, in the build cache under
    /// the state's key.
    pub(crate) fn store_state(
        &self,
        state: &mut State,
        opts: &BuildOptions,
        parent: Option<Digest>,
    ) -> Result<Digest, EngineError> {
        if let Some(t) = opts.source_date_epoch {
            state.config["created"] = json!(now_rfc3339(Some(t)));
        }
        let bytes =
            serde_json::to_vec(&state.config).map_err(|e| EngineError::bad_input("build", e))?;
        let rec = self.add_image(&bytes, &state.layers, "build")?;
        self.record_build_parent(&rec.id, parent.as_ref())?;
        // Every image a build stores belongs to its cache: reused by the next build; shown by
        // `images` while tagged (intermediate ones with -a), removed by `builder prune`.
        if let Some(key) = &state.key {
            self.cache_store(key, &rec.id)?;
        }
        state.image = Some(rec.id.clone());
        Ok(rec.id)
    }

    /// Looks a step up in the build cache.
    pub(crate) fn cache_lookup(&self, key: &Digest) -> Result<Option<Digest>, EngineError> {
        let hit = self.store.meta.read(|tx| tx.cache_get(key))?;
        Ok(hit.filter(|id| self.store.content.contains(id)))
    }

    /// Takes a cached image as the new state.
    pub(crate) fn adopt(
        &self,
        state: &mut State,
        id: &Digest,
        key: Digest,
    ) -> Result<(), EngineError> {
        state.config = self.image_config(id)?;
        state.layers = self.image_layer_sources(id)?;
        state.image = Some(id.clone());
        state.key = Some(key);
        Ok(())
    }

    pub(crate) fn cache_store(&self, key: &Digest, id: &Digest) -> Result<(), EngineError> {
        let now = crate::now_unix();
        self.store.meta.write(|tx| tx.cache_put(key, id, now))?;
        Ok(())
    }
}

/// The next state key.
pub(crate) fn next_key(
    state: &State,
    text: &str,
    sources: Option<&Digest>,
    args: &[String],
) -> Digest {
    cache_key(state.key.as_ref(), text, sources, args)
}

pub(crate) fn build_err(e: berth_build::BuildError) -> EngineError {
    EngineError::Build(e)
}

/// Where a relative path lands: under the state's working directory, cleaned of `.` and
/// `..`. A path naming a directory (`.`, `./`, `dir/`, `/app/.`) keeps a trailing `/`.
pub(crate) fn in_workdir(config: &Value, path: &str) -> String {
    let wd = config
        .pointer("/config/WorkingDir")
        .and_then(Value::as_str)
        .filter(|w| !w.is_empty())
        .unwrap_or("/");
    let full = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", wd.trim_end_matches('/'))
    };
    let is_dir = path == "." || path.ends_with('/') || path.ends_with("/.") || path == "..";
    let mut parts: Vec<&str> = Vec::new();
    for c in full.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut s = format!("/{}", parts.join("/"));
    if is_dir && !s.ends_with('/') {
        s.push('/');
    }
    s
}

/// Stops the build's stages when the caller cancels: the flag a failing stage sets for its
/// siblings, and a kill for every RUN container running — again until each kill lands (a
/// container that already prints may not be recorded as running yet). Returns when the build
/// is over (`over` hangs up).
fn watch_cancel(engine: &Engine, run: &StageRun<'_>, over: &std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut killed = std::collections::BTreeSet::new();
    while let Err(RecvTimeoutError::Timeout) = over.recv_timeout(Duration::from_millis(50)) {
        if !run.opts.cancel.is_cancelled() {
            continue;
        }
        run.cancel.store(true, Ordering::SeqCst);
        let running: Vec<String> = run
            .running
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default();
        for id in running {
            if !killed.contains(&id) && engine.kill_container(&id, "KILL").is_ok() {
                killed.insert(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_resolve_under_the_workdir() {
        let cfg = json!({"config": {"WorkingDir": "/app"}});
        for (dest, want) in [
            (".", "/app/"),
            ("./", "/app/"),
            ("x", "/app/x"),
            ("x/", "/app/x/"),
            ("../etc/y", "/etc/y"),
            ("/abs/z", "/abs/z"),
            ("/abs/.", "/abs/"),
        ] {
            assert_eq!(in_workdir(&cfg, dest), want, "{dest}");
        }
        assert_eq!(in_workdir(&json!({}), "f"), "/f");
    }
}
