//! `stop`, `kill`, `rm`, `wait`, `restart`.

use berth_store::ContainerState;
use std::time::{Duration, Instant};

use berth_store::ContainerRecord;

use super::ContainerConfig;
use crate::events::Action;
use crate::{Engine, EngineError};

/// Whether process `pid` exists and is not a zombie.
pub(crate) fn process_alive(pid: i64) -> bool {
    if pid <= 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the command, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone; false on timeout. A pidfd wakes us the moment it exits (a
/// foreground `run` and the API's `wait` return as soon as the monitor ends); kernels
/// without pidfds get a poll of /proc.
pub(crate) fn wait_gone(pid: i64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    if !process_alive(pid) {
        return true;
    }
    if let Some(pidfd) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok())
    {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(n) if n > 0 => return true,
                Ok(_) => return !process_alive(pid),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
    }
    let mut pause = Duration::from_micros(200);
    while process_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    true
}

pub(crate) fn signal_number(name: &str) -> Result<nix::sys::signal::Signal, EngineError> {
    let bad = || EngineError::InvalidArgument(format!("invalid signal: {name}"));
    if let Ok(n) = name.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).map_err(|_| bad());
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse().map_err(|_| bad())
}

impl Engine {
    /// Marks a container as stopped by the user: its restart policy stays off until the next
    /// start.
    fn request_stop(&self, id: &str) -> Result<(), EngineError> {
        self.store.meta.write(|tx| {
            if let Some(mut r) = tx.container(id)? {
                r.stop_requested = true;
                tx.update_container(&r)?;
            }
            Ok(())
        })
    }

    fn signal(
        &self,
        rec: &ContainerRecord,
        sig: nix::sys::signal::Signal,
    ) -> Result<(), EngineError> {
        if rec.pid > 0 && process_alive(rec.pid) {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(rec.pid as i32), sig).map_err(
                |e| EngineError::io(format!("signal container {}", &rec.id[..12]), e.into()),
            )?;
            self.emit_container(rec, Action::Kill, &[("signal", (sig as i32).to_string())]);
        }
        Ok(())
    }

    /// Waits for the monitor to finish with this run (it records the exit, then cleans up).
    /// Until the monitor of container `id` is gone: kills the container whenever the record
    /// says it runs (a monitor that was starting it may get that far before it reads the stop
    /// request). Gone or removed is done; 10 s without either is an error.
    fn stop_monitor(&self, id: &str) -> Result<(), EngineError> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let rec = match self.resolve_container(id) {
                Ok(r) => r,
                Err(EngineError::ContainerNotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
            if !(rec.monitor_pid > 0 && self.is_monitor_of(rec.monitor_pid, id)) {
                return Ok(());
            }
            if rec.state.is_active() {
                self.signal(&rec, nix::sys::signal::Signal::SIGKILL)?;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(EngineError::Conflict(format!(
                    "container {}: its monitor (pid {}) did not stop within 10s",
                    &id[..12],
                    rec.monitor_pid
                )));
            }
            // Woken at once when the monitor exits; otherwise look at the record again.
            wait_gone(rec.monitor_pid, left.min(Duration::from_millis(50)));
        }
    }

    fn wait_monitor(&self, rec: &ContainerRecord, timeout: Duration) {
        if rec.monitor_pid > 0 {
            wait_gone(rec.monitor_pid, timeout);
        }
    }

    /// `stop`: the stop signal, then SIGKILL after the timeout; the restart policy is off
    /// until the next start.
    pub fn stop_container(&self, name: &str, timeout: Option<u32>) -> Result<String, EngineError> {
        let rec = self.reconciled(name)?;
        if !rec.state.is_active() {
            return Ok(rec.id);
        }
        let config = ContainerConfig::from_record(&rec)?;
        if rec.state == ContainerState::Restarting {
            // Between two runs: cancel the restart and let the monitor go.
            self.request_stop(&rec.id)?;
            self.wait_monitor(&rec, Duration::from_secs(15));
            return Ok(rec.id);
        }
        self.request_stop(&rec.id)?;
        let sig = signal_number(config.spec.stop_signal.as_deref().unwrap_or("SIGTERM"))?;
        let timeout = timeout.or(config.stop_timeout).unwrap_or(10);
        if rec.state == ContainerState::Paused {
            self.unfreeze(&rec);
        }
        self.signal(&rec, sig)?;
        if !wait_gone(rec.pid, Duration::from_secs(u64::from(timeout))) {
            self.signal(&rec, nix::sys::signal::Signal::SIGKILL)?;
            wait_gone(rec.pid, Duration::from_secs(10));
        }
        self.wait_monitor(&rec, Duration::from_secs(10));
        self.emit_container_id(&rec.id, Action::Stop, &[]);
        Ok(rec.id)
    }

    /// `kill -s SIGNAL`.
    pub fn kill_container(&self, name: &str, signal: &str) -> Result<String, EngineError> {
        let rec = self.reconciled(name)?;
        if rec.state != ContainerState::Running {
            return Err(EngineError::Conflict(format!(
                "cannot kill container {name}: container {} is not running",
                &rec.id[..12]
            )));
        }
        let sig = signal_number(signal)?;
        self.signal(&rec, sig)?;
        if sig == nix::sys::signal::Signal::SIGKILL {
            wait_gone(rec.pid, Duration::from_secs(10));
        }
        Ok(rec.id)
    }

    /// `rm [-f] [-v]`: a running container is refused unless forced (then killed first);
    /// with `volumes`, the anonymous volumes it used go too.
    pub fn remove_container(
        &self,
        name: &str,
        force: bool,
        volumes: bool,
    ) -> Result<String, EngineError> {
        let rec = self.resolve_container(name)?;
        if let Some(pod) = crate::pod::pod_of_record(&rec) {
            let infra = ContainerConfig::from_record(&rec).is_ok_and(|c| c.infra);
            // (an infra whose pod is gone is an orphan anyone may remove)
            if let (true, Ok(pod)) = (infra, self.pod(&pod)) {
                let pod = pod.record.name;
                return Err(EngineError::Conflict(format!(
                    "container {} is the infra container of pod {pod}: remove the pod (pod rm {pod})",
                    rec.name
                )));
            }
        }
        self.remove_container_of_pod(&rec.id, force, volumes)
    }

    /// [`Engine::remove_container`] without the infra container's guard: a pod's removal.
    pub(crate) fn remove_container_of_pod(
        &self,
        name: &str,
        force: bool,
        volumes: bool,
    ) -> Result<String, EngineError> {
        let running = |id: &str| {
            EngineError::Conflict(format!(
                "you cannot remove a running container {id}. Stop the container before attempting removal or force remove"
            ))
        };
        let mut rec = self.reconciled(name)?;
        // A `start` racing this remove may claim the container between our look and our
        // delete (the delete checks): then stop what it started and look again.
        for _ in 0..3 {
            if rec.state.is_active() {
                if !force {
                    return Err(running(&rec.id));
                }
                self.request_stop(&rec.id)?;
                if rec.state == ContainerState::Paused {
                    self.unfreeze(&rec);
                }
                self.signal(&rec, nix::sys::signal::Signal::SIGKILL)?;
                wait_gone(rec.pid, Duration::from_secs(10));
                self.wait_monitor(&rec, Duration::from_secs(10));
            } else if rec.monitor_pid > 0 && self.is_monitor_of(rec.monitor_pid, &rec.id) {
                // A live monitor of a container that is not running: it is cleaning up after
                // the exit it recorded (runtime state, mounts, network), or starting the
                // container (a `start` or `run` racing this remove). Removing beside it
                // would race it.
                if force {
                    self.request_stop(&rec.id)?;
                    self.stop_monitor(&rec.id)?;
                } else {
                    self.wait_monitor(&rec, Duration::from_secs(10));
                }
            }
            // The monitor of an --rm container may have removed it meanwhile.
            let now = match self.resolve_container(&rec.id) {
                Ok(r) => r,
                Err(EngineError::ContainerNotFound(_)) => return Ok(rec.id),
                Err(e) => return Err(e),
            };
            if now.state.is_active() {
                // It started while a plain `rm` waited for its monitor.
                if !force {
                    return Err(running(&now.id));
                }
                rec = now;
                continue;
            }
            if !self.delete_record_unless_claimed(&now.id)? {
                if !force {
                    return Err(running(&now.id));
                }
                rec = self.reconciled(&now.id)?;
                continue;
            }
            self.remove_files_of(&now)?;
            if volumes {
                if let Ok(config) = ContainerConfig::from_record(&now) {
                    self.remove_anonymous_volumes(&config);
                }
            }
            return Ok(now.id);
        }
        Err(EngineError::Conflict(format!(
            "container {} was started again each time it was about to be removed; try again",
            &rec.id[..12]
        )))
    }

    /// Deletes the record of container `id` unless a live monitor holds it; true when the
    /// record is gone.
    ///
    /// The caller has waited for or stopped the monitor it saw, so a live one here is a start
    /// racing the remove that claimed the container since: it is setting up under the
    /// container's directory, and must be stopped before the files go.
    fn delete_record_unless_claimed(&self, id: &str) -> Result<bool, EngineError> {
        self.store.meta.write(|tx| match tx.container(id)? {
            None => Ok(true),
            Some(now) if now.monitor_pid > 0 && self.is_monitor_of(now.monitor_pid, id) => {
                Ok(false)
            }
            Some(_) => {
                tx.delete_container(id)?;
                Ok(true)
            }
        })
    }

    /// Removes the record and the files of a container whose monitor has cleaned up after
    /// its last run (runtime state, network, rootfs mount): `--rm`'s end. Every step is
    /// tried; the first failure is reported.
    ///
    /// The record goes first: from then on nothing can start the container again, and what a
    /// crash leaves of the rest is a directory no record names, which `system check` reports
    /// and `system check --repair` removes.
    pub(crate) fn remove_cleaned_container(
        &self,
        rec: &ContainerRecord,
    ) -> Result<Trash, EngineError> {
        self.store.meta.write(|tx| tx.delete_container(&rec.id))?;
        // The directory moves aside in one rename (its rootfs unmounted first, so no mount
        // moves with it); the caller empties it once its client has its answer. A crash in
        // between leaves `trash/ID`, which `system check --repair` removes.
        let paths = self.container_paths(&rec.id);
        self.unmount_rootfs(&paths.rootfs);
        let trash = self.trash_path(&rec.id);
        let moved = trash
            .parent()
            .is_some_and(|dir| std::fs::create_dir_all(dir).is_ok())
            && std::fs::rename(&paths.dir, &trash).is_ok();
        let removed = self.remove_leftovers(&rec.id, &|| {});
        self.emit_container(rec, Action::Destroy, &[]);
        removed.map(|()| Trash(moved.then_some(trash)))
    }

    /// Where a removed container's directory waits to be emptied (same filesystem as
    /// `containers/`, outside it).
    pub(crate) fn trash_path(&self, id: &str) -> std::path::PathBuf {
        self.store.root().join("trash").join(id)
    }

    /// Everything of a container whose record is gone: runtime state, network, mounts,
    /// sockets, exec records, its directory; the destroy event.
    fn remove_files_of(&self, rec: &ContainerRecord) -> Result<(), EngineError> {
        let removed = self.remove_leftovers(&rec.id, &|| {
            if !rec.net.is_empty() {
                if let Ok(config) = ContainerConfig::from_record(rec) {
                    self.network_down(&rec.id, &config);
                }
            }
        });
        self.emit_container(rec, Action::Destroy, &[]);
        removed
    }

    /// Removes what container `id` has outside the database, every step tried: its runtime
    /// state (what is left in its cgroups killed), its network (`network_down`, between the
    /// two as a remove needs it), its rootfs mount, sockets, exec records and directory.
    /// Returns the first failure.
    pub(crate) fn remove_leftovers(
        &self,
        id: &str,
        network_down: &dyn Fn(),
    ) -> Result<(), EngineError> {
        let paths = self.container_paths(id);
        let mut first_err: Option<EngineError> = None;
        if let Err(e) = self.oci_runtime().delete(id) {
            first_err.get_or_insert(EngineError::Runtime(e));
        }
        network_down();
        self.unmount_rootfs(&paths.rootfs);
        let _ = std::fs::remove_file(&paths.attach_socket);
        self.remove_execs_of(id);
        let _ = std::fs::remove_file(&paths.console_socket);
        let _ = std::fs::remove_file(super::monitor_lock::path(&self.run_root, id));
        if let Err(e) = std::fs::remove_dir_all(&paths.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                first_err.get_or_insert(EngineError::io(
                    format!("remove {}", paths.dir.display()),
                    e,
                ));
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `wait`: blocks until the container is not running; returns its exit code.
    pub fn wait_container(&self, name: &str) -> Result<i64, EngineError> {
        loop {
            let rec = self.reconciled(name)?;
            match rec.state {
                s if s.is_active() => {
                    if rec.monitor_pid > 0 {
                        wait_gone(rec.monitor_pid, Duration::from_secs(3600));
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                _ => return Ok(rec.exit_code),
            }
        }
    }

    /// `wait --condition next-exit`: blocks until the container's next exit, even when it has
    /// not been started yet (docker's clients wait before they start); returns its code.
    pub fn wait_next_exit(&self, name: &str) -> Result<i64, EngineError> {
        let first = self.reconciled(name)?;
        let since = crate::events::now_nanos();
        loop {
            let rec = match self.reconciled(&first.id) {
                Ok(r) => r,
                // Removed on exit (--rm): the journal has the exit.
                Err(e) if e.is_not_found() => return self.last_exit_code(&first.id, since, e),
                Err(e) => return Err(e),
            };
            if rec.finished_at != first.finished_at && !rec.state.is_active() {
                return Ok(rec.exit_code);
            }
            self.wait_for_change(&rec);
        }
    }

    /// `wait --condition removed`: blocks until the container is removed; returns the code
    /// of its last exit.
    pub fn wait_removed(&self, name: &str) -> Result<i64, EngineError> {
        let first = self.reconciled(name)?;
        let since = crate::events::now_nanos();
        loop {
            match self.reconciled(&first.id) {
                Ok(rec) => self.wait_for_change(&rec),
                Err(e) if e.is_not_found() => return self.last_exit_code(&first.id, since, e),
                Err(e) => return Err(e),
            }
        }
    }

    /// Sleeps until `rec` may have changed: its monitor ends (it also cleans up, and removes
    /// an --rm container, after the exit it records), or a short while passes.
    fn wait_for_change(&self, rec: &ContainerRecord) {
        let monitor = rec.monitor_pid > 0 && self.is_monitor_of(rec.monitor_pid, &rec.id);
        if monitor {
            wait_gone(rec.monitor_pid, Duration::from_secs(3600));
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit code of the last `die` of container `id` since `since` (from the journal, for
    /// a container that is gone); `gone` when there was none.
    fn last_exit_code(&self, id: &str, since: i64, gone: EngineError) -> Result<i64, EngineError> {
        let query = crate::events::EventQuery {
            since: Some(since),
            until: Some(crate::events::now_nanos()),
            filter: crate::events::EventFilter::parse(&[
                format!("container={id}"),
                "event=die".to_string(),
            ])?,
        };
        let code = self
            .events(&query, &crate::Cancel::new())?
            .filter_map(Result::ok)
            .filter_map(|ev| {
                ev.actor
                    .attributes
                    .get("exitCode")
                    .and_then(|c| c.parse().ok())
            })
            .last();
        code.ok_or(gone)
    }

    /// `restart`: stop (if running), then start.
    pub fn restart_container(
        &self,
        name: &str,
        timeout: Option<u32>,
    ) -> Result<String, EngineError> {
        let id = self.stop_container(name, timeout)?;
        self.start_container(&id, super::StartMode::Detached)?;
        self.emit_container_id(&id, Action::Restart, &[]);
        Ok(id)
    }
}

/// A removed container's directory, moved aside to be emptied later ([`Trash::empty`]).
#[must_use = "the directory stays in the trash until emptied"]
pub(crate) struct Trash(Option<std::path::PathBuf>);

impl Trash {
    pub(crate) fn empty(self) {
        if let Some(dir) = self.0 {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(path = %dir.display(), error = %e, "cannot empty the trash");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rm -f` racing a `run`: the monitor claimed the container after the remove looked at
    /// it. The record the remove reads again then names that monitor, and must not be
    /// deleted beside it (it was, and the remove failed on files the monitor was making).
    #[test]
    fn a_record_a_live_monitor_claimed_is_not_deleted() {
        let root = tempfile::tempdir().unwrap();
        let config = crate::EngineConfig::new(root.path());
        let engine = Engine::open(config.clone()).unwrap();
        let image = berth_store::ImageRecord {
            id: berth_image::digest::Digest::of(b"image"),
            manifest: berth_image::digest::Digest::of(b"manifest"),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            manifest_size: 1,
            created: None,
            size: 0,
            added_at: 0,
            layers: Vec::new(),
        };
        let id = "ab".repeat(32);
        let rec = ContainerRecord {
            id: id.clone(),
            name: "racer".into(),
            image_id: image.id.to_string(),
            net: "[]".into(),
            health: "{}".into(),
            monitor_pid: i64::from(std::process::id()),
            ..Default::default()
        };
        engine
            .store
            .meta
            .write(|tx| {
                tx.insert_image(&image)?;
                tx.insert_container(&rec)
            })
            .unwrap();
        // This process is that monitor.
        engine.monitoring.set(id.clone()).unwrap();
        assert!(!engine.delete_record_unless_claimed(&id).unwrap());
        assert!(engine.resolve_container(&id).is_ok());
        // Seen from an engine that monitors nothing, the pid is no monitor of it: deleted.
        let other = Engine::open(config).unwrap();
        assert!(other.delete_record_unless_claimed(&id).unwrap());
        assert!(engine.resolve_container(&id).is_err());
        assert!(other.delete_record_unless_claimed(&id).unwrap());
    }
}
