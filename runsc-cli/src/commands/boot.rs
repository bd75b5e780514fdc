//! `sandbox boot`: the sentry role (internal). Runs one program in the sandbox whose files are
//! served by an already running gofer, and exits with the program's status.

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

/// Run the sentry for one program (internal; started by `run`).
#[derive(clap::Args)]
#[command(hide = true)]
pub struct BootArgs {
    /// Inherited descriptor of the socket to the gofer.
    #[arg(long, value_name = "FD")]
    gofer_fd: i32,
    /// Hostname inside the sandbox.
    #[arg(long, default_value = "sandbox")]
    hostname: String,
    /// Print every system call of the workload to stderr.
    #[arg(long)]
    strace: bool,
    /// Already in an empty network namespace of its own (made by `run` for the gofer and the
    /// sentry together): keep it rather than make another.
    #[arg(long)]
    net_isolated: bool,
    /// Platform that runs the workload's threads.
    #[arg(long, default_value = "systrap")]
    platform: sentry::PlatformKind,
    /// Environment of the program, KEY=VALUE.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// A bind mount the gofer serves as GUEST, to mount at GUEST, read-only with `:ro`
    /// (repeatable, in mount order).
    #[arg(long = "volume", value_name = "GUEST[:ro]", value_parser = parse_volume)]
    volumes: Vec<sentry::Volume>,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    command: Vec<String>,
}

/// One `--volume GUEST[:ro]`.
fn parse_volume(s: &str) -> Result<sentry::Volume, String> {
    let (guest, read_only) = match s.strip_suffix(":ro") {
        Some(g) => (g, true),
        None => (s, false),
    };
    if !guest.starts_with('/') || guest == "/" {
        return Err("GUEST must be an absolute path other than /".into());
    }
    Ok(sentry::Volume { guest: guest.to_string(), read_only })
}

/// A duplicate of one of our standard descriptors, if it is open.
pub fn dup_stdio(fd: i32) -> Option<OwnedFd> {
    // SAFETY: fcntl(F_GETFD) only checks whether the descriptor is open.
    #[allow(unsafe_code)]
    let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
    if !open {
        return None;
    }
    // SAFETY: the descriptor is open for the duration of this call.
    #[allow(unsafe_code)]
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned().ok()
}

pub fn main(args: BootArgs) -> i32 {
    // SAFETY: the descriptor was set up for us by `sandbox run` and nothing else owns it.
    #[allow(unsafe_code)]
    let gofer = unsafe { OwnedFd::from_raw_fd(args.gofer_fd) };
    let tree = sentry::TreeConfig { volumes: args.volumes, ..Default::default() };
    let cfg = sentry::SandboxConfig { gofer, hostname: args.hostname, strace: args.strace, tree, policy: None, platform: args.platform };
    let init = sentry::ProcessSpec::new(args.command, args.env, [dup_stdio(0), dup_stdio(1), dup_stdio(2)]);
    let gofer_control = cfg.gofer.try_clone().ok();
    if let Err(e) = super::confine::confine_sentry(!args.net_isolated) {
        eprintln!("sandbox: {e}");
        return 125;
    }
    let code = match sentry::boot(cfg, init) {
        Ok(status) => status.shell_code(),
        Err(e) => {
            eprintln!("sandbox: {e}");
            e.exit_code()
        }
    };
    reap_helpers(gofer_control);
    code
}

/// Ends the gofer (its socket reaches end of file) and reaps every child, so that nothing of
/// the sandbox outlives this process, not even as a zombie handed to a subreaper.
pub fn reap_helpers(gofer: Option<OwnedFd>) {
    if let Some(sock) = gofer {
        // SAFETY: shutdown on a socket we own; no memory is involved.
        #[allow(unsafe_code)]
        unsafe {
            libc::shutdown(std::os::fd::AsRawFd::as_raw_fd(&sock), libc::SHUT_RDWR);
        }
    }
    loop {
        // SAFETY: waits for any child; a null status pointer is allowed.
        #[allow(unsafe_code)]
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::__WALL) };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
}
