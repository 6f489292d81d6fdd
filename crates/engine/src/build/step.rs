//! One step: metadata instructions change the config; RUN runs a container and commits it.

use berth_build::parse::{Command, Healthcheck, RunScript};
use berth_build::{Kind, Matcher, Step};
use berth_image::digest::Digest;
use berth_runtime::spec::ContainerSpec;
use serde_json::{json, Value};

use super::{in_workdir, next_key, now_rfc3339, BuildOptions, Output, State, StepFailure};
use crate::container::{CommitOptions, CreateOptions, NetworkMode, StartMode};
use crate::{Engine, EngineError};

fn shell_of(config: &Value) -> Vec<String> {
    config
        .pointer("/config/Shell")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .filter(|v: &Vec<String>| !v.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

fn command(config: &Value, c: &Command) -> Value {
    match c {
        Command::Exec(args) => json!(args),
        Command::Shell(line) => {
            let mut v = shell_of(config);
            v.push(line.clone());
            json!(v)
        }
    }
}

fn nanos(d: Option<std::time::Duration>) -> Option<u128> {
    d.map(|d| d.as_nanos())
}

/// Applies a metadata instruction to the config section.
fn apply(kind: &Kind, config: &mut Value, cmd_set: &mut bool) {
    let c = &mut config["config"];
    if c.is_null() {
        *c = json!({});
    }
    match kind {
        Kind::Env(kvs) => {
            let mut env: Vec<Value> = c
                .get("Env")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for kv in kvs {
                env.retain(|e| {
                    e.as_str().and_then(|s| s.split('=').next()) != Some(kv.key.as_str())
                });
                env.push(json!(format!("{}={}", kv.key, kv.value)));
            }
            c["Env"] = json!(env);
        }
        Kind::Label(kvs) => {
            for kv in kvs {
                c["Labels"][&kv.key] = json!(kv.value);
            }
        }
        Kind::Maintainer(m) => config["author"] = json!(m),
        Kind::Expose(ports) => {
            for p in ports {
                let key = if p.contains('/') {
                    p.clone()
                } else {
                    format!("{p}/tcp")
                };
                c["ExposedPorts"][&key] = json!({});
            }
        }
        Kind::Workdir(w) => {
            let dir = in_workdir(config, w);
            config["config"]["WorkingDir"] = json!(dir);
        }
        Kind::Cmd(cmd) => {
            let v = command(config, cmd);
            config["config"]["Cmd"] = v;
            *cmd_set = true;
        }
        Kind::Entrypoint(cmd) => {
            let v = command(config, cmd);
            config["config"]["Entrypoint"] = v;
            // An ENTRYPOINT drops the CMD the base image had (not one set in this stage).
            if !*cmd_set {
                config["config"]["Cmd"] = Value::Null;
            }
        }
        Kind::User(u) => c["User"] = json!(u),
        Kind::Volume(v) => {
            for p in &v.paths {
                c["Volumes"][p] = json!({});
            }
        }
        Kind::Healthcheck(h) => {
            let mut hc = json!({"Test": h.test()});
            if let Healthcheck::Check(check) = h {
                for (k, v) in [
                    ("Interval", nanos(check.interval)),
                    ("Timeout", nanos(check.timeout)),
                    ("StartPeriod", nanos(check.start_period)),
                    ("StartInterval", nanos(check.start_interval)),
                ] {
                    if let Some(v) = v {
                        hc[k] = json!(v);
                    }
                }
                if let Some(r) = check.retries {
                    hc["Retries"] = json!(r);
                }
            }
            c["Healthcheck"] = hc;
        }
        Kind::Shell(s) => c["Shell"] = json!(s),
        Kind::StopSignal(s) => c["StopSignal"] = json!(s),
        Kind::Onbuild(inner) => {
            let text = inner.original.clone();
            let mut list: Vec<Value> = c
                .get("OnBuild")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            list.push(json!(text));
            c["OnBuild"] = json!(list);
        }
        Kind::Arg(_) | Kind::From(_) | Kind::Run(_) | Kind::Copy(_) | Kind::Add(_) => {}
    }
}

pub(crate) fn push_history(config: &mut Value, created: &str, created_by: &str, empty: bool) {
    let mut entry = json!({"created": created, "created_by": created_by});
    if empty {
        entry["empty_layer"] = json!(true);
    }
    let mut h: Vec<Value> = config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    h.push(entry);
    config["history"] = json!(h);
}

impl Engine {
    /// Records `parent`, the image a build step started from, as the parent of the image it
    /// stored (every step stores one, so the parent is always known; a first step on
    /// `scratch` has none). `rmi` follows these links to delete a build's intermediate images.
    pub(crate) fn record_build_parent(
        &self,
        id: &Digest,
        parent: Option<&Digest>,
    ) -> Result<(), EngineError> {
        if let Some(p) = parent.filter(|p| *p != id) {
            self.store.meta.write(|tx| tx.set_image_parent(id, p))?;
        }
        Ok(())
    }

    pub(crate) fn run_step(
        &self,
        step: &Step,
        state: &mut State,
        opts: &BuildOptions,
        ignore: &Matcher,
        results: &std::collections::BTreeMap<usize, Digest>,
        out: &mut Output<'_>,
    ) -> Result<(), EngineError> {
        let text = step.cache_text();
        match &step.instruction.kind {
            Kind::Run(run) => self.step_run(step, run, state, opts, out),
            Kind::Copy(c) => self.step_copy(step, c, false, state, opts, ignore, results, out),
            Kind::Add(c) => self.step_copy(step, c, true, state, opts, ignore, results, out),
            kind => {
                // As docker's classic builder: every step is an image of its own, which a
                // rebuild finds in the cache.
                let key = next_key(state, &text, None, &step.build_args);
                if !opts.no_cache {
                    if let Some(id) = self.cache_lookup(&key)? {
                        out.cached();
                        out.line(&format!(" ---> {}", id.short()));
                        // What the step would have noted for later ones (a CMD of this stage).
                        if matches!(kind, Kind::Cmd(_)) {
                            state.cmd_set = true;
                        }
                        return self.adopt(state, &id, key);
                    }
                }
                let parent = state.image.take();
                let mut cmd_set = state.cmd_set;
                apply(kind, &mut state.config, &mut cmd_set);
                state.cmd_set = cmd_set;
                let created = now_rfc3339(opts.source_date_epoch);
                push_history(
                    &mut state.config,
                    &created,
                    &format!("/bin/sh -c #(nop)  {}", step.text),
                    true,
                );
                // The image is made now (docker's would be committed now).
                state.config["created"] = json!(created);
                state.key = Some(key);
                let id = self.store_state(state, opts, parent)?;
                out.line(&format!(" ---> {}", id.short()));
                Ok(())
            }
        }
    }

    fn step_run(
        &self,
        step: &Step,
        run: &berth_build::parse::Run,
        state: &mut State,
        opts: &BuildOptions,
        out: &mut Output<'_>,
    ) -> Result<(), EngineError> {
        let key = next_key(state, &step.cache_text(), None, &step.build_args);
        if !opts.no_cache {
            if let Some(id) = self.cache_lookup(&key)? {
                out.cached();
                out.line(&format!(" ---> {}", id.short()));
                return self.adopt(state, &id, key);
            }
        }
        let cmd: Vec<String> = match run.script() {
            RunScript::Exec(args) => args.to_vec(),
            RunScript::Shell(line) => {
                let mut v = shell_of(&state.config);
                v.push(line);
                v
            }
            RunScript::File(doc) => {
                // A `#!` heredoc: write it to a file and run that, as BuildKit does.
                let script = format!(
                    "cat > /tmp/{n} <<'BERTH_HEREDOC_EOF'\n{body}BERTH_HEREDOC_EOF\nchmod 0755 /tmp/{n} && exec /tmp/{n}",
                    n = doc.name,
                    body = doc.body()
                );
                vec!["/bin/sh".into(), "-c".into(), script]
            }
        };
        let network = match run.network.as_deref() {
            Some("none") => NetworkMode::None,
            Some("host") => NetworkMode::Host,
            _ => opts.network.clone(),
        };
        let base = self.materialize(state, opts, false)?;
        let mut env = step.build_args.clone();
        env.extend(step.proxy_args.iter().cloned());
        let id = self.create_container(CreateOptions {
            image: base.to_string(),
            spec: ContainerSpec {
                entrypoint: Some(Vec::new()),
                cmd,
                env,
                ..Default::default()
            },
            network,
            tied_to_client: true,
            ..Default::default()
        })?;
        out.line(&format!(" ---> Running in {}", &id[..12]));
        out.running(Some(&id));
        // A failing sibling sets the flag, then kills the containers noted: one of the two
        // sees the other.
        if out.cancel.load(std::sync::atomic::Ordering::SeqCst) {
            out.running(None);
            let _ = self.remove_container(&id, true, true);
            return Err(EngineError::BuildCancelled);
        }
        let result = self
            .start_container(&id, StartMode::WaitAttach)
            .and_then(|_| {
                self.attach_output(&id, &mut |_, data| {
                    out.run_output(data);
                    Ok(())
                })
            });
        out.running(None);
        let code = match result {
            Ok(c) => c,
            Err(EngineError::StartFailed { code, message, .. }) => {
                out.run_output(format!("{message}\n").as_bytes());
                code
            }
            Err(e) => {
                let _ = self.remove_container(&id, true, true);
                return Err(e);
            }
        };
        out.flush_output();
        if code != 0 {
            let _ = self.remove_container(&id, true, true);
            if out.cancel.load(std::sync::atomic::Ordering::SeqCst) {
                // Killed because another stage failed: that failure is the build's.
                return Err(EngineError::BuildCancelled);
            }
            return Err(EngineError::BuildFailed(Box::new(StepFailure {
                header: step.header(),
                line: step.line,
                code,
                tail: out.tail.iter().cloned().collect(),
                log: out.log_path.clone(),
            })));
        }
        let section = state
            .config
            .get("config")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let committed = self.commit_container(
            &id,
            &CommitOptions {
                config: Some(section),
                created_by: Some(format!(
                    "/bin/sh -c {}",
                    step.text.trim_start_matches("RUN ")
                )),
                source_date_epoch: opts.source_date_epoch,
                record_container: false,
                ..Default::default()
            },
        );
        let _ = self.remove_container(&id, true, true);
        let image = committed?;
        out.line(&format!("Removing intermediate container {}", &id[..12]));
        out.line(&format!(" ---> {}", image.short()));
        self.record_build_parent(&image, Some(&base))?;
        self.cache_store(&key, &image)?;
        self.adopt(state, &image, key)
    }
}
