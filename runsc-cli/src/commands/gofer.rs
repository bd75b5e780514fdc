//! `sandbox gofer`: the file server role (internal). Opens the root directory (read-only) and
//! every bind mount, confines itself so that those fds are its only way to host files, then
//! serves them on an inherited socket until the sentry closes it.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// Serve a directory tree to a sentry over an inherited socket (internal; started by `run`).
#[derive(clap::Args)]
#[command(hide = true)]
pub struct GoferArgs {
    /// Directory to serve as the sandbox's root (always read-only).
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// Inherited descriptor of the sentry's socket.
    #[arg(long, value_name = "FD")]
    fd: i32,
    /// A bind mount: the host file or directory HOST served as GUEST, read-write unless `:ro`
    /// (repeatable). HOST is absolute; a trailing `:ro` or `:rw` is always taken as the option.
    #[arg(long = "mount", value_name = "GUEST=HOST[:ro]", value_parser = MountArg::parse)]
    mounts: Vec<MountArg>,
    /// Already in an empty network namespace of its own (made by `run` for the gofer and the
    /// sentry together): keep it rather than make another.
    #[arg(long)]
    net_isolated: bool,
}

/// One `--mount GUEST=HOST[:ro|:rw]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountArg {
    pub guest: String,
    pub host: PathBuf,
    pub read_only: bool,
}

impl MountArg {
    pub fn parse(s: &str) -> Result<MountArg, String> {
        let (guest, rest) = s.split_once('=').ok_or("expected GUEST=HOST[:ro]")?;
        let (host, read_only) = if let Some(h) = rest.strip_suffix(":ro") {
            (h, true)
        } else if let Some(h) = rest.strip_suffix(":rw") {
            (h, false)
        } else {
            (rest, false)
        };
        if !guest.starts_with('/') || !host.starts_with('/') {
            return Err("GUEST and HOST must be absolute paths".into());
        }
        Ok(MountArg { guest: guest.to_string(), host: PathBuf::from(host), read_only })
    }
}

pub fn main(args: GoferArgs) -> i32 {
    if args.fd < 3 {
        eprintln!("sandbox gofer: --fd {} is not an inherited socket", args.fd);
        return 2;
    }
    // SAFETY: the descriptor was set up for us by `sandbox run` and nothing else owns it.
    #[allow(unsafe_code)]
    let sock = unsafe { OwnedFd::from_raw_fd(args.fd) };
    raise_fd_limit();
    let mut mounts = Vec::with_capacity(1 + args.mounts.len());
    match gofer::Mount::open(b"", &args.root, false) {
        Ok(m) => mounts.push(m),
        Err(e) => {
            tracing::error!("gofer: root {}: {e}", args.root.display());
            return 1;
        }
    }
    for m in &args.mounts {
        match gofer::Mount::open(m.guest.as_bytes(), &m.host, !m.read_only) {
            Ok(opened) => mounts.push(opened),
            Err(e) => {
                tracing::error!("gofer: mount {} on {}: {e}", m.host.display(), m.guest);
                return 1;
            }
        }
    }
    // From here on the only way to host files is through these fds.
    let keep: Vec<BorrowedFd<'_>> =
        mounts.iter().flat_map(gofer::Mount::fds).chain(std::iter::once(sock.as_fd())).collect();
    match gofer::confine_as("gofer", !args.net_isolated, &keep) {
        Ok(c) if c.is_complete() => tracing::debug!("gofer: confined"),
        Ok(c) => tracing::warn!(?c, "gofer: only partly confined"),
        Err(e) => {
            tracing::error!("{e}");
            return 1;
        }
    }
    drop(keep);
    match gofer::serve(sock, mounts) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("gofer serving {}: {e}", args.root.display());
            1
        }
    }
}

/// Every file the sandbox has looked up holds a descriptor here (the sentry caches its
/// lookups), so the gofer takes all the descriptors the host lets it have.
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit on our own process with a valid rlimit struct.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_args() {
        let m = |g: &str, h: &str, ro| MountArg { guest: g.into(), host: h.into(), read_only: ro };
        assert_eq!(MountArg::parse("/data=/srv/data"), Ok(m("/data", "/srv/data", false)));
        assert_eq!(MountArg::parse("/data=/srv/data:ro"), Ok(m("/data", "/srv/data", true)));
        assert_eq!(MountArg::parse("/data=/srv/data:rw"), Ok(m("/data", "/srv/data", false)));
        // Only the last `:ro` is the option; `=` splits at the first.
        assert_eq!(MountArg::parse("/d=/a:ro:ro"), Ok(m("/d", "/a:ro", true)));
        assert_eq!(MountArg::parse("/d=/a=b"), Ok(m("/d", "/a=b", false)));
        for bad in ["/data", "data=/srv", "/data=srv", "=/srv", "/d=", "/d=:ro"] {
            assert!(MountArg::parse(bad).is_err(), "{bad}");
        }
    }
}
