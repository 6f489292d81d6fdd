//! Reconciling records with reality: a container whose monitor died (kill -9, a reboot) is
//! reported as exited, never "running" forever, and what it left (its processes, mounts,
//! runtime state) is cleaned up.

use berth_store::ContainerRecord;
use berth_store::ContainerState;

use super::now_nanos;
use super::stop::process_alive;
use crate::{Engine, EngineError};

/// Whether `pid` runs `berth monitor … ID`: how a monitor exec'd by a berth from before the
/// monitor lock is recognised.
fn runs_monitor_command(pid: i64, id: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
            args.contains(&&b"monitor"[..]) && args.contains(&id.as_bytes())
        })
        .unwrap_or(false)
}

impl Engine {
    /// Whether `pid` is the monitor of container `id` (pids are reused): the holder of the
    /// container's monitor lock (see `monitor_lock`), this process when it is that monitor,
    /// or a monitor of an older berth.
    pub(crate) fn is_monitor_of(&self, pid: i64, id: &str) -> bool {
        if !process_alive(pid) {
            return false;
        }
        if pid == i64::from(std::process::id()) {
            return self.monitoring.get().is_some_and(|m| m == id);
        }
        let lock = super::monitor_lock::path(&self.run_root, id);
        match super::monitor_lock::holder(&lock) {
            Some(holder) => i64::from(holder) == pid,
            None => runs_monitor_command(pid, id),
        }
    }

    /// The record of `name`, corrected first if its monitor is gone.
    pub fn reconciled(&self, name: &str) -> Result<ContainerRecord, EngineError> {
        let rec = self.resolve_container(name)?;
        self.reconcile_one(rec)
    }

    /// Corrects every container whose monitor is gone.
    pub fn reconcile_all(&self) -> Result<Vec<ContainerRecord>, EngineError> {
        let all = self.store.meta.read(|tx| tx.containers())?;
        all.into_iter().map(|r| self.reconcile_one(r)).collect()
    }

    pub(crate) fn reconcile_one(
        &self,
        rec: ContainerRecord,
    ) -> Result<ContainerRecord, EngineError> {
        let live = rec.state.is_active();
        if !live || self.is_monitor_of(rec.monitor_pid, &rec.id) {
            return Ok(rec);
        }
        tracing::warn!(container_id = %rec.id, "the container's monitor is gone: marking it exited");
        // The container's processes may outlive the monitor: nobody would log or reap
        // them, so they go (the runtime's delete kills what is left in its cgroup).
        if rec.pid > 0 && process_alive(rec.pid) && self.pid_in_container(rec.pid, &rec.id) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(rec.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            super::stop::wait_gone(rec.pid, std::time::Duration::from_secs(5));
        }
        let _ = self.oci_runtime().delete(&rec.id);
        if let Ok(config) = super::ContainerConfig::from_record(&rec) {
            self.network_down(&rec.id, &config);
        }
        let paths = self.container_paths(&rec.id);
        self.unmount_rootfs(&paths.rootfs);
        let _ = std::fs::remove_file(&paths.attach_socket);
        let id = rec.id.clone();
        self.store.meta.write(|tx| {
            let Some(mut r) = tx.container(&id)? else {
                return Ok(rec);
            };
            // Re-check under the write lock: another process may have fixed it already.
            if !r.state.is_active() {
                return Ok(r);
            }
            r.state = ContainerState::Exited;
            r.exit_code = 137;
            r.pid = 0;
            r.monitor_pid = 0;
            r.finished_at = now_nanos();
            r.error = "the container's monitor died".into();
            r.net.clear();
            tx.update_container(&r)?;
            Ok::<_, EngineError>(r)
        })
    }

    /// Whether `pid` runs in the cgroup of container `id`.
    fn pid_in_container(&self, pid: i64, id: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map(|c| c.contains(id))
            .unwrap_or(false)
    }
}
