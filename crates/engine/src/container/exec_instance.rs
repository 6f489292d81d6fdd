//! Exec instances, as the Engine API has them: created with an ID, started later (once),
//! inspected for their state and exit code. The record lives in the run root
//! (`RUN/execs/ID.json`), so any process of the root — the CLI, a restarted server — sees it;
//! it goes when its container is removed (or at reboot).

use std::path::PathBuf;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{ExecOptions, ProcessIo};
use crate::{Engine, EngineError};

/// What `exec inspect` tells about one exec.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecInstance {
    pub id: String,
    pub container_id: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    /// Rows and columns of the terminal from the start (docker's `ConsoleSize`).
    #[serde(default)]
    pub console_size: Option<(u16, u16)>,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub running: bool,
    /// Once it ran to its end.
    pub exit_code: Option<i32>,
    /// Whether it was started (an exec starts once).
    pub started: bool,
}

impl ExecInstance {
    fn options(&self, detach: bool) -> ExecOptions {
        ExecOptions {
            cmd: self.cmd.clone(),
            env: self.env.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            tty: self.tty,
            interactive: self.attach_stdin && !detach,
            detach,
            console_size: self.console_size,
        }
    }
}

/// The record's ID: 64 hex digits, as docker's.
fn new_id() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Engine {
    fn exec_record_path(&self, id: &str) -> Result<PathBuf, EngineError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(EngineError::InvalidArgument(format!(
                "invalid exec ID {id:?}"
            )));
        }
        Ok(self.run_root.join("execs").join(format!("{id}.json")))
    }

    fn save_exec(&self, e: &ExecInstance) -> Result<(), EngineError> {
        let path = self.exec_record_path(&e.id)?;
        let dir = self.run_root.join("execs");
        std::fs::create_dir_all(&dir)
            .map_err(|err| EngineError::io(format!("create {}", dir.display()), err))?;
        let bytes =
            serde_json::to_vec(e).map_err(|err| EngineError::bad_input("exec record", err))?;
        berth_store::fsutil::write_atomic(&path, &bytes, &dir)?;
        Ok(())
    }

    /// `POST /containers/{id}/exec`: records an exec to start later; returns its ID.
    pub fn create_exec(
        &self,
        container: &str,
        mut instance: ExecInstance,
    ) -> Result<String, EngineError> {
        let rec = self.reconciled(container)?;
        if rec.state != berth_store::ContainerState::Running {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                &rec.id[..12]
            )));
        }
        if instance.cmd.is_empty() {
            return Err(EngineError::InvalidArgument(
                "exec: no command specified".into(),
            ));
        }
        instance.id = new_id();
        instance.container_id = rec.id;
        instance.running = false;
        instance.started = false;
        instance.exit_code = None;
        self.save_exec(&instance)?;
        Ok(instance.id)
    }

    /// An exec's record, by its ID (or a unique prefix is not accepted: docker's clients
    /// always send the whole ID).
    pub fn exec_instance(&self, id: &str) -> Result<ExecInstance, EngineError> {
        let path = self.exec_record_path(id)?;
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EngineError::ExecNotFound(id.to_string()),
            _ => EngineError::io(format!("read {}", path.display()), e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| EngineError::bad_input("exec record", e))
    }

    /// `POST /exec/{id}/start`: runs the exec with `io` as its streams (or detached) and
    /// records its exit. An exec starts once; a second start is a conflict.
    pub fn start_exec(&self, id: &str, detach: bool, io: ProcessIo) -> Result<i32, EngineError> {
        let mut instance = self.exec_instance(id)?;
        if instance.started {
            return Err(EngineError::Conflict(format!(
                "exec {id} has already been started"
            )));
        }
        instance.started = true;
        instance.running = true;
        self.save_exec(&instance)?;
        let result = self.exec(&instance.container_id, &instance.options(detach), io);
        instance.running = detach && result.is_ok();
        instance.exit_code = match &result {
            Ok(code) if !detach => Some(*code),
            Err(EngineError::StartFailed { code, .. }) => Some(*code),
            _ => None,
        };
        self.save_exec(&instance)?;
        result
    }

    /// Forgets the execs of container `id` (it is being removed).
    pub(crate) fn remove_execs_of(&self, id: &str) {
        let dir = self.run_root.join("execs");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let ours = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<ExecInstance>(&b).ok())
                .is_some_and(|e| e.container_id == id);
            if ours {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}
