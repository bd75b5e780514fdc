//! A container's state directory, `ROOT/ID/`: what `create` saved (`state.json`), the FIFO that
//! holds the workload back until `start` (`exec.fifo`), and the sentry's control socket
//! (`control.sock`). The status is never stored: it is read off the sentry process and the FIFO.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cgroups::Cgroup;
use super::spec::Hooks;

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
pub const CONTROL_SOCKET: &str = "control.sock";

/// The runtime-spec version of the state document.
pub const OCI_VERSION: &str = "1.0.2";

/// What `create` records about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    /// The sentry: the container's init as the host sees it.
    pub pid: i32,
    /// Its start time in clock ticks since boot (field 22 of /proc/PID/stat), to tell it from
    /// a later process that reuses the pid.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339.
    pub created: String,
    pub annotations: BTreeMap<String, String>,
    pub hooks: Hooks,
    pub cgroup: Option<Cgroup>,
}

/// The runtime-spec statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// A container known under `--root`.
pub struct Container {
    pub dir: PathBuf,
    pub saved: Saved,
}

/// Container ids as runc accepts them: letters, digits, `_ + - .`, not starting with `.`.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok { Ok(()) } else { Err(format!("invalid container id format: {id}")) }
}

impl Container {
    /// Loads container `id` from `root`.
    pub fn load(root: &Path, id: &str) -> Result<Container, String> {
        check_id(id)?;
        let dir = root.join(id);
        let text = match std::fs::read(dir.join(STATE_FILE)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(format!("container {id} does not exist")),
            Err(e) => return Err(format!("{}: {e}", dir.join(STATE_FILE).display())),
        };
        let saved = serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", dir.join(STATE_FILE).display()))?;
        Ok(Container { dir, saved })
    }

    /// Every container under `root`, by id (unreadable entries are skipped).
    pub fn list(root: &Path) -> Vec<Container> {
        let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
        let mut all: Vec<Container> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| Container::load(root, e.file_name().to_str()?).ok())
            .collect();
        all.sort_by(|a, b| a.saved.id.cmp(&b.saved.id));
        all
    }

    /// Writes `state.json` atomically.
    pub fn save(&self) -> Result<(), String> {
        let tmp = self.dir.join(".state.json.tmp");
        let text = serde_json::to_vec(&self.saved).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, self.dir.join(STATE_FILE)).map_err(|e| format!("{}: {e}", self.dir.display()))
    }

    /// Whether the sentry still runs (the same process that `create` started).
    pub fn alive(&self) -> bool {
        start_time(self.saved.pid) == Some(self.saved.pid_start_time) && !is_zombie(self.saved.pid)
    }

    pub fn status(&self) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if self.saved.cgroup.as_ref().is_some_and(Cgroup::is_frozen) {
            return Status::Paused;
        }
        if self.dir.join(EXEC_FIFO).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The state document of the runtime spec (what `state` prints and hooks read on stdin).
    pub fn state_json(&self, status: Status) -> serde_json::Value {
        let pid = if status == Status::Stopped { 0 } else { self.saved.pid };
        serde_json::json!({
            "ociVersion": OCI_VERSION,
            "id": self.saved.id,
            "status": status.as_str(),
            "pid": pid,
            "bundle": self.saved.bundle,
            "rootfs": self.saved.rootfs,
            "created": self.saved.created,
            "owner": "",
            "annotations": self.saved.annotations,
        })
    }
}

/// The start time of `pid` (field 22 of its stat), if it exists.
pub fn start_time(pid: i32) -> Option<u64> {
    stat_field(pid, 22)?.parse().ok()
}

fn is_zombie(pid: i32) -> bool {
    stat_field(pid, 3).is_some_and(|s| s == "Z" || s == "X")
}

/// Field `n` (1-based, as in proc(5)) of /proc/PID/stat.
fn stat_field(pid: i32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(n - 3).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        for ok in ["a", "abc-123_x.y+z", "0123456789abcdef"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "a/b", "..", "a b", "é"] {
            assert_eq!(check_id(bad), Err(format!("invalid container id format: {bad}")));
        }
    }

    #[test]
    fn own_process_is_alive_with_a_start_time() {
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(start_time(me).is_some());
        assert!(!is_zombie(me));
        assert_eq!(start_time(-1), None);
    }
}
