//! The sentry's control socket, `ROOT/ID/control.sock`: how `exec` and `kill` reach a running
//! container. Each message is one JSON document on a `SOCK_SEQPACKET` connection; an `Exec`
//! request carries the process's standard streams as three descriptors.
//!
//! One connection per request: `Exec` is answered with `Started` (or `Failed`), then, when
//! the process ends, `Exited`; meanwhile the client may send `Signal`s for that process.
//! `Kill` is answered with `Done`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::unix;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Exec(ExecSpec),
    /// A signal for the process this connection started.
    Signal(i32),
    /// A signal for the first process, or with `all` for every process.
    Kill { signal: i32, all: bool },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    Started { pid: i32 },
    Failed { error: String, code: i32 },
    Exited { code: i32 },
    Done { delivered: bool },
}

/// A process to start in the running sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub umask: u32,
    /// (`RLIMIT_*`, soft, hard).
    pub rlimits: Vec<(u32, u64, u64)>,
    /// The capability sets (config.json's `process.capabilities`); `None`: root gets every
    /// capability, another user none.
    #[serde(default)]
    pub caps: Option<CapMasks>,
}

/// Capability sets as masks, bit N for capability number N.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapMasks {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

impl From<CapMasks> for sentry::CapSets {
    fn from(m: CapMasks) -> sentry::CapSets {
        sentry::CapSets { effective: m.effective, permitted: m.permitted, inheritable: m.inheritable, bounding: m.bounding, ambient: m.ambient }
    }
}

impl ExecSpec {
    pub fn into_process(self, stdio: [Option<OwnedFd>; 3]) -> sentry::ProcessSpec {
        let mut p = sentry::ProcessSpec::new(self.args, self.env, stdio);
        p.cwd = self.cwd;
        p.uid = self.uid;
        p.gid = self.gid;
        p.groups = self.groups;
        p.umask = self.umask;
        p.rlimits = self.rlimits;
        p.caps = self.caps.map(Into::into);
        p
    }
}

/// Sends one message, with descriptors.
pub fn send<T: Serialize>(sock: &impl AsRawFd, msg: &T, fds: &[std::os::fd::RawFd]) -> std::io::Result<()> {
    let text = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    unix::send_with_fds(sock, &text, fds)
}

/// Receives one message and its descriptors; `None` at end of stream.
pub fn recv<T: for<'de> Deserialize<'de>>(sock: &impl AsRawFd) -> std::io::Result<Option<(T, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; 256 * 1024];
    let (n, fds) = unix::recv_with_fds(sock, &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    let msg = serde_json::from_slice(&buf[..n]).map_err(std::io::Error::other)?;
    Ok(Some((msg, fds)))
}

/// Serves the control socket on its own threads, for as long as the sentry runs.
pub fn serve(listener: OwnedFd, sandbox: Arc<sentry::Sandbox>) {
    let spawned = std::thread::Builder::new().name("control".into()).spawn(move || loop {
        match unix::accept(&listener) {
            Ok(conn) => {
                let sandbox = sandbox.clone();
                let _ = std::thread::Builder::new().name("control-conn".into()).spawn(move || handle(conn, &sandbox));
            }
            Err(e) => {
                tracing::error!("control socket: {e}");
                return;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot serve the control socket: {e}");
    }
}

fn handle(conn: OwnedFd, sandbox: &Arc<sentry::Sandbox>) {
    let conn = Arc::new(conn);
    match recv::<Request>(&*conn) {
        Ok(Some((Request::Exec(spec), fds))) => exec(conn, sandbox, spec, fds),
        Ok(Some((Request::Kill { signal, all }, _))) => {
            let target = if all { sentry::SignalTarget::All } else { sentry::SignalTarget::Init };
            let delivered = sandbox.signal(target, signal);
            let _ = send(&*conn, &Reply::Done { delivered }, &[]);
        }
        Ok(Some((Request::Signal(_), _))) | Ok(None) => {}
        Err(e) => tracing::warn!("control socket: bad request: {e}"),
    }
}

/// Starts the process, answers with its pid, passes on signals for it until it ends, then
/// sends its exit code.
fn exec(conn: Arc<OwnedFd>, sandbox: &Arc<sentry::Sandbox>, spec: ExecSpec, fds: Vec<OwnedFd>) {
    let mut fds = fds.into_iter();
    let stdio = [fds.next(), fds.next(), fds.next()];
    let program = spec.args.first().cloned().unwrap_or_default();
    tracing::info!("exec {program}");
    let pid = match sandbox.launch(spec.into_process(stdio)) {
        Ok(pid) => pid,
        Err(e) => {
            let _ = send(&*conn, &Reply::Failed { error: e.to_string(), code: e.exit_code() }, &[]);
            return;
        }
    };
    if send(&*conn, &Reply::Started { pid }, &[]).is_err() {
        sandbox.signal(sentry::SignalTarget::Process(pid), libc::SIGKILL);
    }
    let signals = {
        let (conn, sandbox) = (conn.clone(), sandbox.clone());
        std::thread::Builder::new().name("control-signals".into()).spawn(move || {
            while let Ok(Some((Request::Signal(sig), _))) = recv::<Request>(&*conn) {
                sandbox.signal(sentry::SignalTarget::Process(pid), sig);
            }
        })
    };
    let code = sandbox.wait(pid).map_or(255, sentry::ExitStatus::shell_code);
    let _ = send(&*conn, &Reply::Exited { code }, &[]);
    // SAFETY: shutdown of a socket we hold; it ends the signal thread's receive.
    #[allow(unsafe_code)]
    unsafe {
        libc::shutdown(conn.as_raw_fd(), libc::SHUT_RDWR);
    }
    if let Ok(t) = signals {
        let _ = t.join();
    }
}
