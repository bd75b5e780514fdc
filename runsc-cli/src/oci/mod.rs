//! The OCI runtime: `sandbox` as a drop-in for runc under containerd, Docker, Podman and
//! Kubernetes.
//!
//! `create` starts a container's sentry (`container-boot`), which builds the sandbox and waits
//! at a FIFO in the state directory until `start`; the sentry is the host process callers wait
//! on, and its exit status is the container's. `exec` and `kill` reach the running sentry
//! through its control socket.

pub mod boot;
pub mod cgroups;
pub mod control;
pub mod exec;
pub mod hooks;
pub mod lifecycle;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod unix;

use std::path::PathBuf;

use crate::logging::Settings;

/// The global flags the container commands use.
pub struct Global {
    /// Where containers' state directories live (`--root`).
    pub root: PathBuf,
    pub logs: Settings,
    /// Trace the workload's system calls to the sentry's log.
    pub strace: bool,
    /// A directory for each container sentry's own debug log (`--debug-log`).
    pub debug_log: Option<PathBuf>,
    /// The platform container sentries use (`--platform`).
    pub platform: String,
}

/// Reports a failed command the way runc does, and gives its exit status: the message on
/// stderr, and as an error line in the `--log` file (where engines read it from).
pub fn report(result: Result<i32, String>, logs: &Settings) -> i32 {
    match result {
        Ok(code) => code,
        Err(msg) => {
            if logs.log.is_some() {
                tracing::error!("{msg}");
            }
            eprintln!("sandbox: {msg}");
            1
        }
    }
}
