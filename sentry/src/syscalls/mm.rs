//! Memory system calls, emulated against the task's address space.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::errno::{Errno, SysResult};
use crate::kernel::task::Task;

use std::sync::Arc;

use crate::fs::overlay::OverlayFile;
use crate::fs::tmpfs::{TmpfsFile, TmpfsInode};
use crate::mm::cache::cacheable;
use crate::mm::{page_up, VmaKind, PAGE_SIZE};
use crate::vfs::File;

pub static HANDLERS: Table = &[
    (nr::MMAP, sys_mmap, Support::Partial("MAP_SHARED maps tmpfs (and copied-up overlay) files' own pages; of gofer files it is a private copy")),
    (nr::MUNMAP, sys_munmap, Support::Full),
    (nr::MPROTECT, sys_mprotect, Support::Full),
    (nr::BRK, sys_brk, Support::Full),
    (nr::MREMAP, sys_mremap, Support::Partial("no MREMAP_DONTUNMAP")),
    (nr::MADVISE, sys_madvise, Support::Partial("DONTNEED and FREE discard; other advice is accepted")),
    (nr::MSYNC, sys_msync, Support::Full),
    (nr::MINCORE, sys_mincore, Support::Partial("every mapped page counts as resident")),
    (nr::MLOCK, sys_mlock, Support::Partial("memory is never swapped out by the sentry")),
    (nr::MUNLOCK, sys_mlock, Support::Partial("memory is never swapped out by the sentry")),
    (nr::MLOCKALL, sys_accept, Support::Partial("memory is never swapped out by the sentry")),
    (nr::MUNLOCKALL, sys_accept, Support::Partial("memory is never swapped out by the sentry")),
];

const PROT_KNOWN: i32 = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;

fn sys_mmap(t: &mut Task, a: &Args) -> SysResult {
    let (addr, len, prot, flags, fd, offset) =
        (a.u64(0), a.u64(1), a.i32(2), a.i32(3), a.fd(4), a.u64(5));
    let kind = flags & (libc::MAP_SHARED | libc::MAP_PRIVATE | libc::MAP_SHARED_VALIDATE);
    if len == 0 || offset % PAGE_SIZE != 0 || prot & !PROT_KNOWN != 0 {
        return Err(Errno::EINVAL);
    }
    if !matches!(
        kind,
        libc::MAP_SHARED | libc::MAP_PRIVATE | libc::MAP_SHARED_VALIDATE
    ) {
        return Err(Errno::EINVAL);
    }
    let len = page_up(len).ok_or(Errno::ENOMEM)?;
    offset.checked_add(len).ok_or(Errno::EOVERFLOW)?;
    let shared = kind != libc::MAP_PRIVATE;
    let fixed = flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE) != 0;
    if flags & libc::MAP_FIXED_NOREPLACE != 0 && flags & libc::MAP_FIXED == 0 {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if t.mm.vmas().iter().any(|(s, v)| *s < end && addr < v.end) {
            return Err(Errno::EEXIST);
        }
    }
    if flags & libc::MAP_ANONYMOUS != 0 {
        return t.mm.map_anon(addr, len, prot, fixed, shared, VmaKind::Anon);
    }
    let file = t.file(fd)?;
    if !file.readable() || (shared && prot & libc::PROT_WRITE != 0 && !file.writable()) {
        return Err(Errno::EACCES);
    }
    let st = file.ops.stat()?;
    if !matches!(st.mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFCHR) {
        return Err(Errno::ENODEV);
    }
    let root = t.fs().root.clone();
    let name = file
        .dentry
        .as_ref()
        .map(|d| d.path_from(&root))
        .unwrap_or_default();
    let m = FileMap { file: &file, addr, len, prot, fixed, offset, name: &name };
    let mapped = if shared { map_file_pages(t, &m)? } else if prot & libc::PROT_WRITE == 0 { map_from_cache(t, &m)? } else { None };
    if let Some(at) = mapped {
        return Ok(at);
    }
    // Otherwise a copy of the file; pages past its end stay zero. As on Linux, a file that
    // cannot be read still maps (device files without a read give zeros).
    let at = t.mm.map_anon(addr, len, prot, fixed, shared, m.kind())?;
    if let Err(e) = t.mm.fill_from(at, file.ops.as_ref(), offset, len) {
        tracing::debug!("mmap: filling from the file: {e:?}");
    }
    Ok(at)
}

/// A file mapping asked for by mmap, after its arguments were checked.
struct FileMap<'a> {
    file: &'a File,
    addr: u64,
    len: u64,
    prot: i32,
    fixed: bool,
    offset: u64,
    name: &'a [u8],
}

impl FileMap<'_> {
    fn kind(&self) -> VmaKind {
        VmaKind::File(self.name.into())
    }
}

/// The tmpfs inode behind an open file (a tmpfs file, or an overlay file copied up).
pub(super) fn tmpfs_inode(file: &File) -> SysResult<Option<Arc<TmpfsInode>>> {
    let Some(any) = file.ops.as_any() else { return Ok(None) };
    if let Some(f) = any.downcast_ref::<TmpfsFile>() {
        return Ok(Some(f.inode().clone()));
    }
    if let Some(o) = any.downcast_ref::<OverlayFile>() {
        let inner = o.inner()?;
        return Ok(inner.as_any().and_then(|a| a.downcast_ref::<TmpfsFile>()).map(|f| f.inode().clone()));
    }
    Ok(None)
}

/// `MAP_SHARED` of a file whose pages live in the memory file (tmpfs, and overlay files
/// copied up): maps those very pages, so the mapping, `read` and `write` all see one copy.
/// `None` for other files, which are mapped as a private copy.
fn map_file_pages(t: &Task, m: &FileMap) -> SysResult<Option<u64>> {
    let Some(node) = tmpfs_inode(m.file)? else { return Ok(None) };
    // The guard first: pages cut by a truncate from here on stay until the mapping goes.
    let guard = node.map_guard_shared(m.prot & libc::PROT_WRITE != 0, m.file.writable())?;
    let pages = node.page_offsets(m.offset / PAGE_SIZE, m.len.div_ceil(PAGE_SIZE), true)?;
    let pages: Vec<u64> = pages.into_iter().map(|p| p.ok_or(Errno::EIO)).collect::<SysResult<_>>()?;
    t.mm.map_file_pages(m.addr, m.len, m.prot, m.fixed, &pages, Box::new(guard), m.kind()).map(Some)
}

fn sys_munmap(t: &mut Task, a: &Args) -> SysResult {
    t.mm.unmap(a.u64(0), a.u64(1)).map(|_| 0)
}

fn sys_mprotect(t: &mut Task, a: &Args) -> SysResult {
    let prot = a.i32(2);
    if prot & !(PROT_KNOWN | libc::PROT_GROWSDOWN | libc::PROT_GROWSUP) != 0 {
        return Err(Errno::EINVAL);
    }
    t.mm.protect(a.u64(0), a.u64(1), prot & PROT_KNOWN)
        .map(|_| 0)
}

fn sys_brk(t: &mut Task, a: &Args) -> SysResult {
    Ok(t.mm.brk(a.u64(0)))
}

fn sys_mremap(t: &mut Task, a: &Args) -> SysResult {
    let flags = a.i32(3);
    let known = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
    if flags & !known != 0 || (flags & libc::MREMAP_FIXED != 0 && flags & libc::MREMAP_MAYMOVE == 0)
    {
        return Err(Errno::EINVAL);
    }
    let fixed = (flags & libc::MREMAP_FIXED != 0).then(|| a.u64(4));
    t.mm.remap(
        a.u64(0),
        a.u64(1),
        a.u64(2),
        flags & libc::MREMAP_MAYMOVE != 0,
        fixed,
    )
}

fn sys_madvise(t: &mut Task, a: &Args) -> SysResult {
    let (addr, len, advice) = (a.u64(0), a.u64(1), a.i32(2));
    if addr % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_up(len).ok_or(Errno::EINVAL)?;
    match advice {
        libc::MADV_DONTNEED | libc::MADV_FREE => t.mm.discard(addr, len).map(|_| 0),
        libc::MADV_NORMAL
        | libc::MADV_RANDOM
        | libc::MADV_SEQUENTIAL
        | libc::MADV_WILLNEED
        | libc::MADV_DONTFORK
        | libc::MADV_DOFORK
        | libc::MADV_MERGEABLE
        | libc::MADV_UNMERGEABLE
        | libc::MADV_HUGEPAGE
        | libc::MADV_NOHUGEPAGE
        | libc::MADV_DONTDUMP
        | libc::MADV_DODUMP
        | libc::MADV_WIPEONFORK
        | libc::MADV_KEEPONFORK
        | libc::MADV_COLD
        | libc::MADV_PAGEOUT => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_msync(_t: &mut Task, a: &Args) -> SysResult {
    let flags = a.i32(2);
    if !a.u64(0).is_multiple_of(PAGE_SIZE)
        || flags & !(libc::MS_ASYNC | libc::MS_SYNC | libc::MS_INVALIDATE) != 0
    {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

fn sys_mlock(_t: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}

fn sys_accept(_t: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}

fn sys_mincore(t: &mut Task, a: &Args) -> SysResult {
    let (addr, len) = (a.u64(0), a.u64(1));
    if addr % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_up(len).ok_or(Errno::ENOMEM)?;
    let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
    let vmas = t.mm.vmas();
    let mut at = addr;
    while at < end {
        match vmas.iter().find(|(s, v)| *s <= at && at < v.end) {
            Some((_, v)) => at = v.end,
            None => return Err(Errno::ENOMEM),
        }
    }
    let pages = usize::try_from(len / PAGE_SIZE).map_err(|_| Errno::ENOMEM)?;
    t.mm.copy_out(a.u64(2), &vec![1u8; pages])?;
    Ok(0)
}

/// A private read-only map of a root file: its pages come from the page cache, shared by every
/// process mapping them, instead of being copied. Pages past the end of the file are zero.
fn map_from_cache(t: &Task, m: &FileMap) -> SysResult<Option<u64>> {
    let Some(data) = cacheable(m.file.ops.as_ref()) else {
        return Ok(None);
    };
    let (addr, len, prot, fixed, offset) = (m.addr, m.len, m.prot, m.fixed, m.offset);
    let st = data.stat()?;
    let cached = t.kernel.page_cache.get(&t.kernel.memfile, &st)?;
    let file_pages = cached.pages();
    let first = offset / PAGE_SIZE;
    if first >= file_pages {
        return Ok(None);
    }
    let in_file = ((file_pages - first) * PAGE_SIZE).min(len);
    cached.fill(&t.kernel.memfile, data.as_ref(), first, in_file / PAGE_SIZE)?;
    let kind = || m.kind();
    // Place the whole range first (the tail past the file is zero-filled anonymous memory),
    // then lay the cached pages over its start.
    let at = if in_file < len || !fixed {
        t.mm.map_anon(addr, len, prot, fixed, false, kind())?
    } else {
        addr
    };
    t.mm.map_cached(at, in_file, prot, cached.backing.clone(), cached.offset_of(offset), kind())?;
    Ok(Some(at))
}
