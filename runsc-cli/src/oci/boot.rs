//! `sandbox container-boot` (internal): a container's sentry, started by `create`.
//!
//! It builds the sandbox from the bundle's config.json (the gofer serving the rootfs and the
//! bind mounts, tmpfs mounts, hostname), checks that the workload can start, tells `create`
//! through the sync descriptor, then waits at `exec.fifo` until `start` opens it. Then it runs
//! the workload as pid 1, serves `exec` and `kill` on the control socket, and exits with the
//! workload's status: this process is the container's init as the host sees it.

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use super::control::{self, ExecSpec};
use super::spec::{self, Spec};
use super::state::{CONTROL_SOCKET, EXEC_FIFO};
use super::unix;
use crate::commands::run::{normalise_guest, socket_pair, spawn_gofer, Volume};
use crate::logging::Settings;

/// Run a container's sentry (internal; started by `create`).
#[derive(clap::Args)]
#[command(hide = true)]
pub struct ContainerBootArgs {
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// The container's state directory.
    #[arg(long, value_name = "DIR")]
    state_dir: PathBuf,
    /// Inherited descriptor on which to report readiness ("ok") or what failed.
    #[arg(long, value_name = "FD")]
    sync_fd: i32,
    #[arg(long)]
    strace: bool,
    /// Platform that runs the workload's threads.
    #[arg(long, default_value = "systrap")]
    platform: sentry::PlatformKind,
}

pub fn main(args: ContainerBootArgs, logs: &Settings) -> i32 {
    // SAFETY: `create` set this descriptor up for us and nothing else owns it.
    #[allow(unsafe_code)]
    let mut sync = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(args.sync_fd) });
    let (state_dir, listener, sandbox, init, gofer) = match setup(&args, logs) {
        Ok(ready) => ready,
        Err(e) => {
            let _ = sync.write_all(e.as_bytes());
            return 1;
        }
    };
    let sandbox = Arc::new(sandbox);
    control::serve(listener, sandbox.clone());
    let _ = sync.write_all(b"ok");
    drop(sync);
    if let Err(e) = wait_for_start(&state_dir) {
        tracing::error!("waiting for start: {e}");
        return 1;
    }
    sandbox.forward_host_signals();
    let code = match sandbox.launch(init) {
        Ok(_) => sandbox.wait_init().shell_code(),
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("sandbox: {e}");
            e.exit_code()
        }
    };
    sandbox.shutdown();
    crate::commands::boot::reap_helpers(gofer);
    code
}

/// What the container-boot role holds once ready: the state directory and the control socket
/// (opened before the sentry confines itself, after which no path can be reached), the
/// sandbox, the first process, and the gofer's socket.
type Ready = (std::fs::File, OwnedFd, sentry::Sandbox, sentry::ProcessSpec, Option<OwnedFd>);

fn setup(args: &ContainerBootArgs, logs: &Settings) -> Result<Ready, String> {
    let dir = std::fs::File::open(&args.state_dir).map_err(|e| format!("{}: {e}", args.state_dir.display()))?;
    let listener = unix::listen_seqpacket(&args.state_dir.join(CONTROL_SOCKET)).map_err(|e| format!("control socket: {e}"))?;
    let (sandbox, init, gofer) = prepare(args, logs)?;
    Ok((dir, listener, sandbox, init, gofer))
}

/// Blocks until `start` opens the FIFO (in the state directory `dir`) for reading, then tells
/// it we are going.
fn wait_for_start(dir: &std::fs::File) -> std::io::Result<()> {
    let name = std::ffi::CString::new(EXEC_FIFO).map_err(std::io::Error::other)?;
    // SAFETY: openat on a directory descriptor we hold, with a NUL-terminated name; the result
    // is a new descriptor we own.
    #[allow(unsafe_code)]
    let fd = unsafe { libc::openat(std::os::fd::AsRawFd::as_raw_fd(dir), name.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above: the descriptor is new and ours.
    #[allow(unsafe_code)]
    let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    f.write_all(b"0")
}

/// Everything up to the workload's start: the sandbox built and the first process checked.
/// Also returns a handle on the gofer's socket, to end it when the sentry is done.
fn prepare(args: &ContainerBootArgs, logs: &Settings) -> Result<(sentry::Sandbox, sentry::ProcessSpec, Option<OwnedFd>), String> {
    let spec = spec::load(&args.bundle)?;
    spec.validate(&args.bundle)?;
    join_network_namespace(&spec)?;
    log_unemulated(&spec);
    let rootfs = spec.rootfs(&args.bundle);
    let layout = Layout::from_spec(&spec)?;
    let (sentry_end, gofer_end) = socket_pair().map_err(|e| format!("creating the gofer socket: {e}"))?;
    let gofer = sentry_end.try_clone().ok();
    spawn_gofer(&rootfs, &layout.volumes, gofer_end, false, logs).map_err(|e| format!("starting the gofer: {e}"))?;
    crate::commands::confine::confine_sentry(network_namespace_path(&spec).is_none())?;
    let cfg = sentry::SandboxConfig {
        gofer: sentry_end,
        hostname: spec.hostname.clone().unwrap_or_else(|| "sandbox".into()),
        strace: args.strace,
        platform: args.platform,
        tree: sentry::TreeConfig {
            volumes: layout.volumes.iter().map(|v| sentry::Volume { guest: v.guest.clone(), read_only: v.read_only }).collect(),
            tmpfs: layout.tmpfs,
            read_only_root: spec.root.as_ref().is_some_and(|r| r.readonly),
        },
        policy: spec.linux.as_ref().and_then(|l| l.seccomp.as_ref()).map(super::seccomp::policy).transpose()?.map(Arc::new),
    };
    let sandbox = sentry::Sandbox::start(cfg).map_err(|e| e.to_string())?;
    let stdio = [crate::commands::boot::dup_stdio(0), crate::commands::boot::dup_stdio(1), crate::commands::boot::dup_stdio(2)];
    let init = exec_spec(spec.process()).into_process(stdio);
    sandbox.resolve(&init).map_err(|e| e.to_string())?;
    Ok((sandbox, init, gofer))
}

/// Joins the network namespace config.json names by path (an engine's pre-made one), so
/// that host-side networking set up there applies to the sandbox; without a path the sentry
/// needs no host network namespace of its own (the sandbox has no host network access).
fn join_network_namespace(spec: &Spec) -> Result<(), String> {
    let Some(path) = network_namespace_path(spec) else {
        return Ok(());
    };
    let ns = std::fs::File::open(path).map_err(|e| format!("linux.namespaces: network {path}: {e}"))?;
    // SAFETY: setns on a descriptor we hold; it changes only this (still single-threaded)
    // process's network namespace.
    #[allow(unsafe_code)]
    if unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("linux.namespaces: joining network {path}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn network_namespace_path(spec: &Spec) -> Option<&str> {
    let namespaces = spec.linux.as_ref().map(|l| l.namespaces.as_slice()).unwrap_or_default();
    namespaces.iter().find(|n| n.kind == "network").and_then(|n| n.path.as_deref())
}

/// Says which settings of config.json the sandbox does not need to apply: the sentry's own
/// /proc and /sys never show the host's files that masked and read-only paths hide, and
/// sysctls are not emulated yet.
fn log_unemulated(spec: &Spec) {
    let Some(linux) = &spec.linux else { return };
    if !linux.masked_paths.is_empty() || !linux.readonly_paths.is_empty() {
        tracing::debug!("linux.maskedPaths/readonlyPaths: the sentry's /proc and /sys hold none of the host's files");
    }
    for (key, value) in &linux.sysctl {
        tracing::warn!("linux.sysctl: {key}={value} is not emulated; ignored");
    }
}

/// The process part of config.json as the sentry takes it. Its capability sets are applied
/// exactly as runc does: an absent `capabilities` means empty sets.
pub fn exec_spec(p: &spec::Process) -> ExecSpec {
    let rlimits = p.rlimits.iter().filter_map(|r| Some((spec::rlimit_resource(&r.kind)?, r.soft, r.hard))).collect();
    let caps = p.capabilities.clone().unwrap_or_default();
    let mut unknown = std::collections::BTreeSet::new();
    let mut mask = |names: &[String]| {
        names.iter().fold(0u64, |m, name| match spec::CAPABILITIES.iter().position(|c| c == name) {
            Some(n) => m | 1 << n,
            None => {
                unknown.insert(name.clone());
                m
            }
        })
    };
    let caps = control::CapMasks {
        bounding: mask(&caps.bounding),
        effective: mask(&caps.effective),
        inheritable: mask(&caps.inheritable),
        permitted: mask(&caps.permitted),
        ambient: mask(&caps.ambient),
    };
    if !unknown.is_empty() {
        let names: Vec<_> = unknown.into_iter().collect();
        tracing::warn!("process.capabilities: ignoring unknown capabilities: {}", names.join(", "));
    }
    ExecSpec {
        args: p.args.clone(),
        env: p.env.clone(),
        cwd: if p.cwd.is_empty() { "/".into() } else { p.cwd.clone() },
        uid: p.user.uid,
        gid: p.user.gid,
        groups: p.user.additional_gids.clone(),
        umask: p.user.umask.unwrap_or(0o022),
        rlimits,
        caps: Some(caps),
    }
}

/// The mounts of config.json, sorted into what the gofer serves and what the sentry makes.
/// The sentry always has its own /proc, /sys and /dev (with /dev/shm); mounts of those kinds,
/// and anything else inside /proc or /sys, are left to them.
struct Layout {
    volumes: Vec<Volume>,
    tmpfs: Vec<sentry::TmpfsMount>,
}

impl Layout {
    fn from_spec(spec: &Spec) -> Result<Layout, String> {
        let mut layout = Layout { volumes: Vec::new(), tmpfs: Vec::new() };
        for (i, m) in spec.mounts.iter().enumerate() {
            let field = format!("mounts[{i}]");
            let guest = normalise_guest(&m.destination).map_err(|e| format!("{field}.destination: {e}"))?;
            let kind = m.kind.as_deref().unwrap_or("");
            let bind = kind == "bind" || m.has_option("bind") || m.has_option("rbind");
            let synthetic = ["/proc", "/sys", "/dev"].iter().any(|p| guest == *p || guest.starts_with(&format!("{p}/")));
            if synthetic && guest != "/dev/shm" || guest == "/dev/shm" && !bind && kind != "tmpfs" {
                tracing::debug!("{field}: {kind} at {guest} is provided by the sentry");
                continue;
            }
            if guest == "/dev/shm" && bind {
                tracing::debug!("{field}: /dev/shm is the sentry's own tmpfs");
                continue;
            }
            if bind {
                let source = m.source.as_deref().ok_or(format!("{field}.source: missing for a bind mount"))?;
                let host = std::fs::canonicalize(source).map_err(|e| format!("{field}.source: {source}: {}", crate::commands::run::strip_os_error(&e)))?;
                let meta = std::fs::metadata(&host).map_err(|e| format!("{field}.source: {source}: {e}"))?;
                if !meta.is_dir() && !meta.is_file() {
                    tracing::warn!("{field}: {source} is neither a file nor a directory; skipped");
                    continue;
                }
                layout.volumes.retain(|v| v.guest != guest);
                layout.volumes.push(Volume { host, guest, read_only: m.has_option("ro") });
            } else if kind == "tmpfs" {
                layout.tmpfs.push(tmpfs_mount(guest, &m.options));
            } else {
                tracing::warn!("{field}: {kind} mounts are not supported; {guest} skipped");
            }
        }
        Ok(layout)
    }
}

/// A tmpfs with config.json's `mode=` and `size=` options.
fn tmpfs_mount(path: String, options: &[String]) -> sentry::TmpfsMount {
    let mut t = sentry::TmpfsMount { path, mode: 0o1777, max_bytes: None };
    for o in options {
        if let Some(mode) = o.strip_prefix("mode=") {
            t.mode = u32::from_str_radix(mode, 8).unwrap_or(t.mode);
        } else if let Some(size) = o.strip_prefix("size=") {
            t.max_bytes = parse_size(size);
        }
    }
    t
}

/// `64m`, `1g`, `4096`: a size as tmpfs options give it.
fn parse_size(s: &str) -> Option<u64> {
    let (num, shift) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 10),
        'm' | 'M' => (&s[..s.len() - 1], 20),
        'g' | 'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    num.parse::<u64>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options() {
        let t = tmpfs_mount("/x".into(), &["nosuid".into(), "mode=755".into(), "size=64m".into()]);
        assert_eq!((t.mode, t.max_bytes), (0o755, Some(64 << 20)));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("x"), None);
    }
}
