//! The sentry's confinement (DESIGN.md, "Confinement"). Once it holds every host resource it
//! needs — the gofer's socket, its standard streams, its log, a container's control socket,
//! state directory and network namespace — and before it starts any thread, the sentry:
//! - enters new mount, IPC and UTS namespaces, and a new network namespace unless it joined one;
//! - `pivot_root`s into an empty read-only tmpfs, so that no host path names anything;
//! - sets `no_new_privs`;
//! - gives up every capability, bounding set included.
//!
//! It stays uid 0: a root without capabilities and without a file system owns nothing it can
//! reach, and uid 0 keeps the sentry's many threads and stub processes out of the host's
//! per-user process limit. Its stubs are forks of it, so they are confined the same way.
//! Without the privilege for a step (an unprivileged user), it warns and goes on less confined.
#![allow(unsafe_code)]

/// Confines the calling, still single-threaded, sentry process.
pub fn confine_sentry(new_net: bool) -> Result<(), String> {
    // Host facts libc reads from /sys and /proc, read while they are visible.
    sentry::fs::host::host_cpus();
    sentry::fs::host::host_total_ram();
    let done = gofer::confine_as("sentry", new_net, &[]).map_err(|e| e.to_string())?;
    let caps = drop_capabilities();
    if !done.is_complete() || !caps {
        tracing::warn!("sentry: confinement incomplete ({done:?}, capabilities dropped: {caps})");
    }
    Ok(())
}

/// Empties the bounding, ambient, effective, permitted and inheritable sets; false if not
/// allowed (then nothing was held to give up, or the caller is not root).
fn drop_capabilities() -> bool {
    // SAFETY: prctl and capset with integer arguments and pointers to local plain data.
    unsafe {
        for cap in 0..64 {
            // Past the last capability the kernel knows, PR_CAPBSET_DROP fails with EINVAL.
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
                    break;
                }
                return false;
            }
        }
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        // struct __user_cap_header_struct and two __user_cap_data_struct (version 3).
        let header: [u32; 2] = [0x2008_0522, 0];
        let data = [[0u32; 3]; 2];
        libc::syscall(libc::SYS_capset, header.as_ptr(), data.as_ptr()) == 0
    }
}
