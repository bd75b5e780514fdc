//! `sandbox gofer`: the file server role (internal). Serves a root directory on an inherited
//! socket until the sentry closes it.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

/// Serve a directory tree to a sentry over an inherited socket (internal; started by `run`).
#[derive(clap::Args)]
#[command(hide = true)]
pub struct GoferArgs {
    /// Directory to serve as the sandbox's root.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// Inherited descriptor of the sentry's socket.
    #[arg(long, value_name = "FD")]
    fd: i32,
}

pub fn main(args: GoferArgs) -> i32 {
    if args.fd < 3 {
        eprintln!("sandbox gofer: --fd {} is not an inherited socket", args.fd);
        return 2;
    }
    // SAFETY: the descriptor was set up for us by `sandbox run` and nothing else owns it.
    #[allow(unsafe_code)]
    let sock = unsafe { OwnedFd::from_raw_fd(args.fd) };
    match gofer::serve(sock, &args.root) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("gofer serving {}: {e}", args.root.display());
            1
        }
    }
}
