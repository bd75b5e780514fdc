//! Kernel-wide state and the tasks that run in it.

pub mod task;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use platform::Platform;

use crate::mm::MemoryFile;
use crate::vfs::Dentry;

/// The kernel release `uname` reports: the sentry's own, never the host's.
pub const RELEASE: &str = "6.6.0-sandbox";
/// The kernel version string `uname -v` reports.
pub const VERSION: &str = "#1 SMP PREEMPT_DYNAMIC sandbox";

/// What every task shares.
pub struct Kernel {
    pub platform: Arc<dyn Platform>,
    pub memfile: Arc<MemoryFile>,
    /// Root of the sandbox's file tree.
    pub root: Arc<Dentry>,
    pub hostname: Mutex<Vec<u8>>,
    pub boot_time: Instant,
    /// Print every system call like strace (`--strace`).
    pub strace: bool,
}
