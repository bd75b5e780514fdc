//! Signals the sentry process itself receives from the host: keyboard signals from the host
//! terminal, and signals sent to the sandbox (`kill` of `sandbox run`). They are blocked in
//! every sentry thread and taken by one thread, which forwards them into the sandbox as
//! signals from outside it: the terminal's to the foreground process group, the others to the
//! first process.
#![allow(unsafe_code)]

use std::sync::Arc;

use crate::kernel::Kernel;

/// The forwarded signals.
const FORWARDED: [i32; 7] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGWINCH, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1];

fn set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the signal numbers are valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for sig in FORWARDED {
            libc::sigaddset(&mut set, sig);
        }
    }
    set
}

/// Blocks the forwarded signals in the calling thread; threads created afterwards inherit
/// the mask. Call before any other thread exists.
pub fn block() {
    let set = set();
    // SAFETY: changes the calling thread's signal mask only.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Starts the thread that forwards host signals into the sandbox.
pub fn forward(kernel: Arc<Kernel>) {
    let spawned = std::thread::Builder::new().name("host-signals".into()).spawn(move || {
        let set = set();
        loop {
            let mut sig = 0;
            // SAFETY: `set` is a valid sigset_t and `sig` a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            let target = match sig {
                libc::SIGINT | libc::SIGQUIT | libc::SIGTSTP | libc::SIGWINCH => kernel.terminal.lock().unwrap().foreground,
                _ => 1,
            };
            kernel.signal_group(target, sig);
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot forward host signals: {e}");
    }
}
