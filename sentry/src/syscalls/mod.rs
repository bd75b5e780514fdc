//! System call dispatch: the table from number to handler, argument decoding, `--strace`
//! output, and the once-per-name log of calls the sentry does not implement.
//!
//! Handlers live by family in the submodules and have one shape:
//! `fn(&mut Task, &Args) -> SysResult`.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

mod attr;
mod copy;
mod events;
mod file;
mod namei;
pub mod futex;
mod identity;
mod inotify;
mod lock;
mod memfd;
mod mm;
mod mount;
mod poll;
mod process;
mod sched;
mod signal;
mod socket;
mod time;
pub mod tty;

pub use futex::futex_wake;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use syscall_tables::{nr, ArgKind, TABLE_SIZE};

use crate::errno::{Errno, SysResult};
use crate::kernel::task::Task;

/// The six raw argument registers of one call, with typed accessors that truncate exactly as
/// Linux does.
pub struct Args {
    pub nr: u64,
    pub raw: [u64; 6],
}

impl Args {
    pub fn u64(&self, i: usize) -> u64 {
        self.raw[i]
    }
    pub fn i64(&self, i: usize) -> i64 {
        self.raw[i] as i64
    }
    /// An `int` argument: the low 32 bits.
    pub fn i32(&self, i: usize) -> i32 {
        self.raw[i] as u32 as i32
    }
    pub fn u32(&self, i: usize) -> u32 {
        self.raw[i] as u32
    }
    pub fn fd(&self, i: usize) -> i32 {
        self.i32(i)
    }
    /// A `size_t` argument.
    pub fn usize(&self, i: usize) -> usize {
        usize::try_from(self.raw[i]).unwrap_or(usize::MAX)
    }
}

/// How completely a system call is implemented, recorded beside its handler.
#[derive(Clone, Copy, Debug)]
pub enum Support {
    Full,
    Partial(&'static str),
}

pub type Handler = fn(&mut Task, &Args) -> SysResult;

#[derive(Clone, Copy)]
pub struct Entry {
    pub handler: Handler,
    pub support: Support,
}

/// Every family's handlers.
fn all_handlers() -> impl Iterator<Item = &'static (u32, Handler, Support)> {
    [attr::HANDLERS, copy::HANDLERS, namei::HANDLERS, events::HANDLERS, file::HANDLERS, futex::HANDLERS, identity::HANDLERS, inotify::HANDLERS, lock::HANDLERS, memfd::HANDLERS, mm::HANDLERS, mount::HANDLERS, poll::HANDLERS, process::HANDLERS, sched::HANDLERS, signal::HANDLERS, socket::HANDLERS, time::HANDLERS]
        .into_iter()
        .flatten()
}

fn table() -> &'static [Option<Entry>] {
    static TABLE: OnceLock<Vec<Option<Entry>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = vec![None; TABLE_SIZE];
        for (nr, handler, support) in all_handlers() {
            t[*nr as usize] = Some(Entry { handler: *handler, support: *support });
        }
        t
    })
}

/// Every implemented call: number, name and support status (for `sandbox syscalls`).
pub fn support_matrix() -> Vec<(u32, &'static str, Option<Support>)> {
    syscall_tables::SYSCALLS.iter().map(|s| (s.nr, s.name, table()[s.nr as usize].map(|e| e.support))).collect()
}

static REPORTED: [AtomicBool; TABLE_SIZE + 1] = [const { AtomicBool::new(false) }; TABLE_SIZE + 1];

/// Logs an unimplemented call once per number.
fn report_unimplemented(nr: u64) {
    let slot = usize::try_from(nr).unwrap_or(TABLE_SIZE).min(TABLE_SIZE);
    if !REPORTED[slot].swap(true, Ordering::Relaxed) {
        match syscall_tables::by_nr(nr) {
            Some(info) => tracing::warn!("unimplemented system call {} ({nr}): returning ENOSYS", info.name),
            None => tracing::warn!("unknown system call number {nr}: returning ENOSYS"),
        }
    }
}

pub type Table = &'static [(u32, Handler, Support)];

/// Handles the system call the task stopped at and writes its result to `rax`.
pub fn dispatch(t: &mut Task) {
    // The container's seccomp profile, if any, may settle the call before it runs.
    if t.kernel.policy.is_some() && crate::policy::refuse(t) {
        return;
    }
    let r = &t.cpu.regs;
    let args = Args { nr: r.orig_rax, raw: [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9] };
    let entry = usize::try_from(args.nr).ok().and_then(|n| table().get(n)).copied().flatten();
    let strace = t.kernel.strace.then(|| format_call(t, &args));
    let result = match entry {
        Some(e) => (e.handler)(t, &args),
        None => {
            report_unimplemented(args.nr);
            Err(Errno::ENOSYS)
        }
    };
    if matches!(u32::try_from(args.nr), Ok(nr::EXECVE | nr::EXECVEAT)) && result.is_ok() {
        // The registers now belong to the new program; rax starts at 0.
        t.cpu.regs.rax = 0;
    } else {
        t.cpu.regs.rax = match result {
            Ok(v) => v,
            Err(e) => e.as_return(),
        };
    }
    // Interrupted by a signal: delivery decides between restarting and EINTR.
    if let Err(e) = result {
        if (512..=516).contains(&e.0) {
            t.restart = Some(e);
        }
    }
    if let Some(call) = strace {
        let ret = match result {
            Ok(v) if v > 0xffff => format!("{v:#x}"),
            Ok(v) => v.to_string(),
            Err(e) => format!("-1 {} ({e})", e.name()),
        };
        eprintln!("[{:>4}] {call} = {ret}", t.tid);
    }
}

/// An strace-like rendering of the call, reading strings from application memory.
fn format_call(t: &Task, args: &Args) -> String {
    let Some(info) = syscall_tables::by_nr(args.nr) else { return format!("syscall_{}(...)", args.nr) };
    let shown: Vec<String> = info
        .args
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let v = args.raw[i];
            match kind {
                ArgKind::Int | ArgKind::Pid => (v as i64).to_string(),
                ArgKind::Fd if args.i32(i) == libc::AT_FDCWD => "AT_FDCWD".into(),
                ArgKind::Fd => args.i32(i).to_string(),
                ArgKind::Uint => v.to_string(),
                ArgKind::Path | ArgKind::Str => match t.mm.read_cstring(v, 256) {
                    Ok(s) => format!("{:?}", String::from_utf8_lossy(&s)),
                    Err(_) => format!("{v:#x}"),
                },
                ArgKind::OpenFlags => syscall_tables::open_flags_string(v),
                ArgKind::MmapProt => syscall_tables::mmap_prot_string(v),
                ArgKind::MmapFlags => syscall_tables::mmap_flags_string(v),
                ArgKind::Mode => format!("{v:#o}"),
                ArgKind::Signal => syscall_tables::signal_name(args.i32(i)).map_or_else(|| v.to_string(), str::to_string),
                ArgKind::Ptr | ArgKind::InBuf | ArgKind::OutBuf | ArgKind::StrVec if v == 0 => "NULL".into(),
                _ => format!("{v:#x}"),
            }
        })
        .collect();
    format!("{}({})", info.name, shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_is_registered_under_a_known_number_once() {
        let mut seen = std::collections::HashSet::new();
        for (nr, _, _) in all_handlers() {
            assert!(syscall_tables::by_nr(u64::from(*nr)).is_some(), "unknown number {nr}");
            assert!(seen.insert(*nr), "{} registered twice", syscall_tables::by_nr(u64::from(*nr)).unwrap().name);
        }
    }

    #[test]
    fn int_arguments_truncate_like_linux() {
        let a = Args { nr: 0, raw: [0xffff_ffff_0000_0005, u64::MAX, 0, 0, 0, 0] };
        assert_eq!(a.fd(0), 5);
        assert_eq!(a.i32(1), -1);
    }
}
