//! Application address spaces: the VMA tree, the memory file behind it, and copy-in/out.
//!
//! Every VMA is backed by a contiguous range of the memory file; the platform's address space
//! mirrors the tree exactly (each change here is applied to the stub at once), so the host
//! kernel fills pages on first touch and faults only come back for real access violations.
//! Copies to and from application memory go through the sentry's own mapping of the memory file
//! after translating the address here: no host call per copy, `EFAULT` for unmapped or
//! inaccessible ranges.
// Only x86_64 is supported: `usize` is 64 bits, so offsets and lengths convert losslessly.
#![allow(clippy::cast_possible_truncation)]

pub mod cache;
pub mod memfile;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use platform::AddressSpace;

use crate::errno::{Errno, SysResult};
pub use memfile::{MemoryFile, PAGE_SIZE};

pub const PROT_READ: i32 = libc::PROT_READ;
pub const PROT_WRITE: i32 = libc::PROT_WRITE;
pub const PROT_EXEC: i32 = libc::PROT_EXEC;

/// Lowest address a mapping may take (like Linux's default `vm.mmap_min_addr`).
pub const MIN_ADDR: u64 = 0x10000;

pub fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

pub fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(page_down)
}

/// What a VMA shows as its name in `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmaKind {
    Anon,
    Heap,
    Stack,
    File(Arc<[u8]>),
    /// The vDSO's image (`[vdso]`).
    Vdso,
    /// The vDSO's data page (`[vvar]`): the kernel's page, never writable by the application.
    Vvar,
}

#[derive(Clone, Debug)]
pub struct Vma {
    pub end: u64,
    pub prot: i32,
    pub shared: bool,
    /// Offset in the memory file of the VMA's first byte.
    pub offset: u64,
    /// The memory-file range the pages come from, shared by every VMA cut from it (and, for
    /// shared mappings, by other address spaces): it returns to the pool when the last goes.
    pub backing: Arc<Backing>,
    /// A private mapping of pages that are not its own (the page cache): they are mapped
    /// read-only, and copied before the mapping may be written.
    pub cow: bool,
    pub kind: VmaKind,
}

/// A range of the memory file handed out for one mapping, or the pages of a file mapped
/// shared (which belong to the file).
pub struct Backing {
    mf: Arc<MemoryFile>,
    offset: u64,
    len: u64,
    /// For a shared file mapping: what keeps the file's pages from being reused while they are
    /// mapped (a tmpfs `MapGuard`). Nothing is freed when the backing goes.
    file: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Backing {
    pub(crate) fn allocate(mf: &Arc<MemoryFile>, len: u64) -> SysResult<Arc<Backing>> {
        let offset = mf.allocate(len)?;
        Ok(Arc::new(Backing { mf: mf.clone(), offset, len, file: None }))
    }

    /// Where the range starts in the memory file.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }
}

impl std::fmt::Debug for Backing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.file {
            Some(_) => write!(f, "Backing(file pages)"),
            None => write!(f, "Backing({:#x}+{:#x})", self.offset, self.len),
        }
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        if self.file.is_none() {
            self.mf.free(self.offset, self.len);
        }
    }
}

impl std::fmt::Debug for MemoryFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemoryFile(fd {})", self.fd())
    }
}

/// A copy of an address space's mappings, made at fork, waiting for the child's address space.
pub struct MmCopy {
    vmas: Vec<(u64, Vma)>,
    brk_start: u64,
    brk: u64,
    mmap_base: u64,
    max_addr: u64,
}

struct State {
    vmas: BTreeMap<u64, Vma>,
    brk_start: u64,
    brk: u64,
    /// Top of the region where mappings without an address hint are placed, downwards.
    mmap_base: u64,
    /// The most bytes the VMAs have held resident at once (noted before any removal).
    peak: u64,
}

impl State {
    /// Bytes of accessible mappings: what the sentry counts as resident (it does not know
    /// which pages were touched).
    fn resident(&self) -> u64 {
        self.vmas.iter().filter(|(_, v)| v.prot != 0).map(|(&s, v)| v.end - s).sum()
    }
}

/// One application address space.
pub struct MemoryManager {
    space: Arc<dyn AddressSpace>,
    mf: Arc<MemoryFile>,
    max_addr: u64,
    state: Mutex<State>,
}

fn platform_err(e: platform::Error) -> Errno {
    tracing::error!("platform: {e}");
    Errno::ENOMEM
}

impl MemoryManager {
    pub fn new(space: Arc<dyn AddressSpace>, mf: Arc<MemoryFile>, max_addr: u64) -> MemoryManager {
        let state = State { vmas: BTreeMap::new(), brk_start: 0, brk: 0, mmap_base: max_addr, peak: 0 };
        MemoryManager { space, mf, max_addr, state: Mutex::new(state) }
    }

    pub fn space(&self) -> &Arc<dyn AddressSpace> {
        &self.space
    }

    pub fn max_addr(&self) -> u64 {
        self.max_addr
    }

    pub fn set_mmap_base(&self, base: u64) {
        self.state.lock().unwrap().mmap_base = base;
    }

    pub fn set_brk_start(&self, start: u64) {
        let mut st = self.state.lock().unwrap();
        st.brk_start = start;
        st.brk = start;
    }

    /// The peak of the resident set in bytes, as the sentry counts it (every accessible
    /// mapped page): `ru_maxrss`, `VmHWM`.
    pub fn peak_rss(&self) -> u64 {
        let st = self.state.lock().unwrap();
        st.peak.max(st.resident())
    }

    /// A snapshot of the VMAs, for `/proc/PID/maps` and tests.
    pub fn vmas(&self) -> Vec<(u64, Vma)> {
        self.state.lock().unwrap().vmas.iter().map(|(&s, v)| (s, v.clone())).collect()
    }

    fn range_ok(&self, addr: u64, len: u64) -> bool {
        addr >= MIN_ADDR && addr.checked_add(len).is_some_and(|end| end <= self.max_addr)
    }

    /// Finds a free range of `len` bytes: at `hint` if free, else the highest gap below the
    /// mmap base.
    fn find_free(&self, st: &State, hint: u64, len: u64) -> SysResult<u64> {
        let free_at = |addr: u64| {
            self.range_ok(addr, len) && st.vmas.range(..addr + len).next_back().is_none_or(|(_, v)| v.end <= addr)
        };
        if hint != 0 && free_at(hint) {
            return Ok(hint);
        }
        let mut top = st.mmap_base;
        for (&start, vma) in st.vmas.range(..st.mmap_base).rev() {
            if vma.end < top && top - vma.end >= len {
                return Ok(top - len);
            }
            top = top.min(start);
        }
        if top >= MIN_ADDR + len {
            return Ok(top - len);
        }
        Err(Errno::ENOMEM)
    }

    /// Splits the VMA containing `addr` (if any) so that a VMA starts at `addr`.
    fn split_at(st: &mut State, addr: u64) {
        let Some((&start, vma)) = st.vmas.range_mut(..addr).next_back() else { return };
        if vma.end <= addr {
            return;
        }
        let mut tail = vma.clone();
        tail.offset += addr - start;
        vma.end = addr;
        st.vmas.insert(addr, tail);
    }

    /// Removes `[addr, end)` from the tree and returns the memory-file ranges it covered.
    fn remove_range(st: &mut State, addr: u64, end: u64) -> Vec<(u64, Vma)> {
        if st.vmas.range(..end).next_back().is_some_and(|(_, v)| v.end > addr) {
            st.peak = st.peak.max(st.resident());
        }
        Self::split_at(st, addr);
        Self::split_at(st, end);
        let starts: Vec<u64> = st.vmas.range(addr..end).map(|(&s, _)| s).collect();
        starts
            .into_iter()
            .filter_map(|s| st.vmas.remove(&s).map(|v| (s, v)))
            .collect()
    }

    /// Drops removed VMAs. Private pages are released at once; the file range itself goes back
    /// to the pool when nothing uses its backing any more.
    fn release(&self, removed: Vec<(u64, Vma)>) {
        for (start, v) in removed {
            if !v.shared && !v.cow {
                self.mf.zero(v.offset, v.end - start);
            }
        }
    }

    /// Where a new mapping of `len` bytes goes: exactly at `addr` with `fixed` (whatever was
    /// there is removed), else at `addr` if free or wherever there is room.
    fn place(&self, st: &mut State, addr: u64, len: u64, fixed: bool) -> SysResult<u64> {
        if !fixed {
            return self.find_free(st, page_down(addr), len);
        }
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if !self.range_ok(addr, len) {
            return Err(Errno::ENOMEM);
        }
        let old = Self::remove_range(st, addr, addr + len);
        self.release(old);
        Ok(addr)
    }

    /// Maps fresh zeroed memory. With `fixed`, replaces whatever was at `addr`.
    pub fn map_anon(&self, addr: u64, len: u64, prot: i32, fixed: bool, shared: bool, kind: VmaKind) -> SysResult<u64> {
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let mut st = self.state.lock().unwrap();
        let addr = self.place(&mut st, addr, len, fixed)?;
        let backing = Backing::allocate(&self.mf, len)?;
        let offset = backing.offset;
        self.space.map(addr, len, prot, offset).map_err(platform_err)?;
        st.vmas.insert(addr, Vma { end: addr + len, prot, shared, offset, backing, cow: false, kind });
        Ok(addr)
    }

    /// Maps a file's pages shared (`MAP_SHARED` of a tmpfs file): page `i` of the mapping is
    /// the memory-file page at `pages[i]`, so the mapping and the file's `read`/`write` see
    /// the same bytes. `keep` (the file's map guard) lives as long as any part of the mapping.
    /// The mapping is `len` bytes; pages past `pages` (beyond the end of the file) are fresh
    /// zeroed memory. Contiguous runs of pages become one VMA each.
    #[allow(clippy::too_many_arguments)]
    pub fn map_file_pages(
        &self,
        addr: u64,
        len: u64,
        prot: i32,
        fixed: bool,
        pages: &[u64],
        keep: Box<dyn std::any::Any + Send + Sync>,
        kind: VmaKind,
    ) -> SysResult<u64> {
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        let file_len = pages.len() as u64 * PAGE_SIZE;
        if len == 0 || file_len > len {
            return Err(Errno::EINVAL);
        }
        let mut st = self.state.lock().unwrap();
        let addr = self.place(&mut st, addr, len, fixed)?;
        let backing = Arc::new(Backing { mf: self.mf.clone(), offset: 0, len: 0, file: Some(keep) });
        let mut i = 0;
        while i < pages.len() {
            let mut j = i + 1;
            while j < pages.len() && pages[j] == pages[j - 1] + PAGE_SIZE {
                j += 1;
            }
            let at = addr + i as u64 * PAGE_SIZE;
            let run = (j - i) as u64 * PAGE_SIZE;
            self.space.map(at, run, prot, pages[i]).map_err(platform_err)?;
            st.vmas.insert(at, Vma { end: at + run, prot, shared: true, offset: pages[i], backing: backing.clone(), cow: false, kind: kind.clone() });
            i = j;
        }
        if file_len < len {
            let tail = Backing::allocate(&self.mf, len - file_len)?;
            let at = addr + file_len;
            self.space.map(at, len - file_len, prot, tail.offset).map_err(platform_err)?;
            st.vmas.insert(at, Vma { end: addr + len, prot, shared: true, offset: tail.offset, backing: tail, cow: false, kind });
        }
        Ok(addr)
    }

    /// Removes every mapping in `[addr, addr + len)`.
    pub fn unmap(&self, addr: u64, len: u64) -> SysResult<()> {
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 || addr.checked_add(len).is_none() {
            return Err(Errno::EINVAL);
        }
        let end = (addr + len).min(self.max_addr);
        if addr >= end {
            return Ok(());
        }
        let mut st = self.state.lock().unwrap();
        let old = Self::remove_range(&mut st, addr, end);
        if !old.is_empty() {
            self.space.unmap(addr, end - addr).map_err(platform_err)?;
        }
        self.release(old);
        Ok(())
    }

    /// Changes the protection of `[addr, addr + len)`; every page must be mapped.
    pub fn protect(&self, addr: u64, len: u64, prot: i32) -> SysResult<()> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        let mut st = self.state.lock().unwrap();
        if !Self::covered(&st, addr, end) {
            return Err(Errno::ENOMEM);
        }
        // The vDSO's data page is the kernel's: it never becomes writable (as Linux's lacks
        // VM_MAYWRITE).
        if prot & PROT_WRITE != 0 && st.vmas.range(..end).any(|(_, v)| v.end > addr && v.kind == VmaKind::Vvar) {
            return Err(Errno::EACCES);
        }
        Self::split_at(&mut st, addr);
        Self::split_at(&mut st, end);
        if prot & PROT_WRITE != 0 {
            // Writable pages of a private mapping must be its own: copy cached ones now.
            let cached: Vec<u64> = st.vmas.range(addr..end).filter(|(_, v)| v.cow).map(|(&s, _)| s).collect();
            for start in cached {
                let Some(v) = st.vmas.get_mut(&start) else { continue };
                let len = v.end - start;
                let backing = Backing::allocate(&self.mf, len)?;
                self.mf.copy(v.offset, backing.offset, len);
                self.space.map(start, len, v.prot, backing.offset).map_err(platform_err)?;
                v.offset = backing.offset;
                v.backing = backing;
                v.cow = false;
            }
        }
        for (_, vma) in st.vmas.range_mut(addr..end) {
            vma.prot = prot;
        }
        self.space.protect(addr, len, prot).map_err(platform_err)
    }

    /// Maps pages of the page cache (`backing` from `offset`) privately and read-only at
    /// `addr`, replacing what was there.
    pub fn map_cached(&self, addr: u64, len: u64, prot: i32, backing: Arc<Backing>, offset: u64, kind: VmaKind) -> SysResult<()> {
        debug_assert!(prot & PROT_WRITE == 0);
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        let mut st = self.state.lock().unwrap();
        let addr = self.place(&mut st, addr, len, true)?;
        self.space.map(addr, len, prot, offset).map_err(platform_err)?;
        st.vmas.insert(addr, Vma { end: addr + len, prot, shared: false, offset, backing, cow: true, kind });
        Ok(())
    }

    /// Whether `[addr, end)` is mapped without holes.
    fn covered(st: &State, addr: u64, end: u64) -> bool {
        let mut at = addr;
        if let Some((_, v)) = st.vmas.range(..=addr).next_back() {
            if v.end > addr {
                at = v.end;
            }
        }
        while at < end {
            match st.vmas.get(&at) {
                Some(v) => at = v.end,
                None => return false,
            }
        }
        true
    }

    /// brk(2): moves the program break; returns the (possibly unchanged) break.
    pub fn brk(&self, new: u64) -> u64 {
        let (start, cur) = {
            let st = self.state.lock().unwrap();
            (st.brk_start, st.brk)
        };
        if new < start || new == cur {
            return cur;
        }
        let (old_top, new_top) = (page_up(cur).unwrap_or(cur), page_up(new).unwrap_or(new));
        if new_top > old_top {
            let st = self.state.lock().unwrap();
            let free = self.range_ok(old_top, new_top - old_top)
                && st.vmas.range(..new_top).next_back().is_none_or(|(_, v)| v.end <= old_top);
            drop(st);
            if !free || self.map_anon(old_top, new_top - old_top, PROT_READ | PROT_WRITE, true, false, VmaKind::Heap).is_err() {
                return cur;
            }
        } else if new_top < old_top && self.unmap(new_top, old_top - new_top).is_err() {
            return cur;
        }
        self.state.lock().unwrap().brk = new;
        new
    }

    /// mremap(2) without `MREMAP_DONTUNMAP`. The old range must be mapped throughout with one
    /// protection; it may span several VMAs (the sentry does not merge neighbours).
    pub fn remap(&self, old: u64, old_len: u64, new_len: u64, may_move: bool, fixed: Option<u64>) -> SysResult<u64> {
        if !old.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 || old_len == 0 {
            return Err(Errno::EINVAL);
        }
        let old_end = old.checked_add(old_len).ok_or(Errno::EFAULT)?;
        let template = {
            let mut st = self.state.lock().unwrap();
            if !Self::covered(&st, old, old_end) {
                return Err(Errno::EFAULT);
            }
            Self::split_at(&mut st, old);
            Self::split_at(&mut st, old_end);
            let first = st.vmas.range(old..old_end).next().map(|(_, v)| v.clone()).ok_or(Errno::EFAULT)?;
            if st.vmas.range(old..old_end).any(|(_, v)| v.prot != first.prot || v.shared != first.shared) {
                return Err(Errno::EFAULT);
            }
            first
        };
        // The vDSO's mappings may move or shrink, never grow (Linux's VM_DONTEXPAND).
        if new_len > old_len && matches!(template.kind, VmaKind::Vdso | VmaKind::Vvar) {
            return Err(Errno::EFAULT);
        }
        if fixed.is_none() && new_len <= old_len {
            if new_len < old_len {
                self.unmap(old + new_len, old_len - new_len)?;
            }
            return Ok(old);
        }
        // Grow in place when the pages after the old range are free.
        if fixed.is_none() {
            let grow = new_len - old_len;
            let st = self.state.lock().unwrap();
            let free = self.range_ok(old_end, grow) && st.vmas.range(old_end..old_end + grow).next().is_none();
            drop(st);
            if free {
                self.map_anon(old_end, grow, template.prot, true, template.shared, template.kind.clone())?;
                return Ok(old);
            }
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        // Move: the new range reuses the old pages of the memory file, so nothing is copied.
        let mut st = self.state.lock().unwrap();
        let dest = match fixed {
            Some(a) => {
                if a % PAGE_SIZE != 0 || !self.range_ok(a, new_len) || (a < old_end && old < a + new_len) {
                    return Err(Errno::EINVAL);
                }
                let gone = Self::remove_range(&mut st, a, a + new_len);
                if !gone.is_empty() {
                    self.space.unmap(a, new_len).map_err(platform_err)?;
                }
                self.release(gone);
                a
            }
            None => self.find_free(&st, 0, new_len)?,
        };
        let keep = old_len.min(new_len);
        Self::split_at(&mut st, old + keep);
        let pieces: Vec<(u64, Vma)> = st.vmas.range(old..old + keep).map(|(&s, v)| (s, v.clone())).collect();
        self.space.unmap(old, old_len).map_err(platform_err)?;
        for (start, vma) in pieces {
            st.vmas.remove(&start);
            let at = dest + (start - old);
            self.space.map(at, vma.end - start, vma.prot, vma.offset).map_err(platform_err)?;
            st.vmas.insert(at, Vma { end: at + (vma.end - start), ..vma });
        }
        let rest = Self::remove_range(&mut st, old + keep, old_end);
        self.release(rest);
        drop(st);
        if new_len > keep {
            self.map_anon(dest + keep, new_len - keep, template.prot, true, template.shared, template.kind)?;
        }
        Ok(dest)
    }

    /// madvise(MADV_DONTNEED): private pages read as zero afterwards.
    pub fn discard(&self, addr: u64, len: u64) -> SysResult<()> {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        let st = self.state.lock().unwrap();
        if !Self::covered(&st, addr, end) {
            return Err(Errno::ENOMEM);
        }
        for (&s, v) in st.vmas.range(..end) {
            let (a, b) = (s.max(addr), v.end.min(end));
            // Cached pages already read as the file does.
            if a < b && !v.shared && !v.cow {
                self.mf.zero(v.offset + (a - s), b - a);
            }
        }
        Ok(())
    }

    /// Walks `[addr, addr + len)` VMA by VMA, calling `f(offset in memory file, range in buf)`.
    /// Stops with `EFAULT` at the first unmapped byte or one without `need` protection; returns
    /// how many bytes were visited before that.
    fn walk(&self, addr: u64, len: usize, need: i32, mut f: impl FnMut(u64, std::ops::Range<usize>)) -> (usize, SysResult<()>) {
        let st = self.state.lock().unwrap();
        let mut done = 0usize;
        while done < len {
            let at = addr.wrapping_add(done as u64);
            let Some((&s, v)) = st.vmas.range(..=at).next_back() else { return (done, Err(Errno::EFAULT)) };
            if v.end <= at || v.prot & need != need || at < addr {
                return (done, Err(Errno::EFAULT));
            }
            let n = usize::try_from(v.end - at).unwrap_or(usize::MAX).min(len - done);
            f(v.offset + (at - s), done..done + n);
            done += n;
        }
        (done, Ok(()))
    }

    /// Where the byte at `addr` lives in the memory file (futex keys).
    pub fn translate(&self, addr: u64) -> SysResult<u64> {
        let st = self.state.lock().unwrap();
        match st.vmas.range(..=addr).next_back() {
            Some((&s, v)) if addr < v.end && v.prot != 0 => Ok(v.offset + (addr - s)),
            _ => Err(Errno::EFAULT),
        }
    }

    /// Copies application memory at `addr` into `buf`.
    pub fn copy_in(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        let len = buf.len();
        self.walk(addr, len, PROT_READ, |off, r| self.mf.read(off, &mut buf[r])).1
    }

    /// Copies `buf` to application memory at `addr`.
    pub fn copy_out(&self, addr: u64, buf: &[u8]) -> SysResult<()> {
        self.walk(addr, buf.len(), PROT_WRITE, |off, r| self.mf.write(off, &buf[r])).1
    }

    /// Copies as much of `buf` as is writable; returns the count (a short copy after a fault).
    pub fn copy_out_partial(&self, addr: u64, buf: &[u8]) -> usize {
        self.walk(addr, buf.len(), PROT_WRITE, |off, r| self.mf.write(off, &buf[r])).0
    }

    /// Copies as much as is readable into `buf`; returns the count.
    pub fn copy_in_partial(&self, addr: u64, buf: &mut [u8]) -> usize {
        self.walk(addr, buf.len(), PROT_READ, |off, r| self.mf.read(off, &mut buf[r])).0
    }

    /// Writes application memory regardless of its protection (the loader filling segments).
    pub fn poke(&self, addr: u64, buf: &[u8]) -> SysResult<()> {
        self.walk(addr, buf.len(), 0, |off, r| self.mf.write(off, &buf[r])).1
    }

    /// Lends application memory `[addr, addr + len)` with protection `need` to `io`, VMA by
    /// VMA, as slices of the memory file, so file data moves without a sentry buffer. `io`
    /// returns how much of its slice it handled; a short count, an error or a fault ends the
    /// walk. Returns the count handled and what ended it (`EFAULT` for a fault). The address
    /// space stays locked meanwhile: `io` must neither block nor look at it (see
    /// `FileOps::io_in_place`).
    pub fn in_place(&self, addr: u64, len: usize, need: i32, mut io: impl FnMut(&mut [u8]) -> SysResult<usize>) -> (usize, SysResult<()>) {
        let mut done = 0;
        let mut end: Option<SysResult<()>> = None;
        let (_, fault) = self.walk(addr, len, need, |off, r| {
            if end.is_some() {
                return;
            }
            let want = r.len();
            match self.mf.with_bytes(off, want, &mut io) {
                Ok(n) => {
                    done += n;
                    if n < want {
                        end = Some(Ok(()));
                    }
                }
                Err(e) => end = Some(Err(e)),
            }
        });
        (done, end.unwrap_or(fault))
    }

    /// Fills application memory at `addr` with up to `len` bytes of `file` from `offset`,
    /// regardless of protection (the loader's segments, private file maps); stops at the end
    /// of the file and returns how much it copied.
    pub fn fill_from(&self, addr: u64, file: &dyn crate::vfs::FileOps, offset: u64, len: u64) -> SysResult<u64> {
        if file.io_in_place() {
            // VMA by VMA, through the memory file's bounce buffer (cheaper than reading into
            // the fresh pages through the sentry's mapping). As with `in_place`, the address
            // space stays locked meanwhile, which such a file's read allows.
            let len = usize::try_from(len).map_err(|_| Errno::ENOMEM)?;
            let mut done = 0u64;
            let mut end: Option<SysResult<()>> = None;
            let (_, fault) = self.walk(addr, len, 0, |off, r| {
                if end.is_some() {
                    return;
                }
                let (at, want) = (offset + done, r.len() as u64);
                match self.mf.fill(off, want, |pos, dst| crate::vfs::read_full(file, at + pos, dst)) {
                    Ok(n) => {
                        done += n;
                        if n < want {
                            end = Some(Ok(()));
                        }
                    }
                    Err(e) => end = Some(Err(e)),
                }
            });
            end.unwrap_or(fault)?;
            return Ok(done);
        }
        const CHUNK: u64 = 256 << 10;
        let mut buf = vec![0u8; usize::try_from(CHUNK.min(len)).unwrap_or(0)];
        let mut done = 0u64;
        while done < len {
            let n = usize::try_from((len - done).min(CHUNK)).unwrap_or(0);
            let got = file.read(offset + done, &mut buf[..n])?;
            if got == 0 {
                break;
            }
            self.poke(addr + done, &buf[..got])?;
            done += got as u64;
        }
        Ok(done)
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
    pub fn read_cstring(&self, addr: u64, max: usize) -> SysResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = addr;
        let mut chunk = [0u8; 256];
        while out.len() <= max {
            // Never read across a page boundary in one step: the next page may be unmapped.
            let in_page = (PAGE_SIZE - at % PAGE_SIZE) as usize;
            let n = in_page.min(chunk.len());
            self.copy_in(at, &mut chunk[..n])?;
            if let Some(nul) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return if out.len() > max { Err(Errno::ENAMETOOLONG) } else { Ok(out) };
            }
            out.extend_from_slice(&chunk[..n]);
            at = at.checked_add(n as u64).ok_or(Errno::EFAULT)?;
        }
        Err(Errno::ENAMETOOLONG)
    }

    pub fn read_u64(&self, addr: u64) -> SysResult<u64> {
        let mut b = [0u8; 8];
        self.copy_in(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a plain-data value.
    pub fn read_val<T: crate::abi::Pod>(&self, addr: u64) -> SysResult<T> {
        let mut v = T::zeroed();
        self.copy_in(addr, v.as_bytes_mut())?;
        Ok(v)
    }

    /// Writes a plain-data value.
    pub fn write_val<T: crate::abi::Pod>(&self, addr: u64, v: &T) -> SysResult<()> {
        self.copy_out(addr, v.as_bytes())
    }
}

impl MemoryManager {
    /// fork(2): a copy of every mapping. Private pages are copied now (an eager copy; copy-on-write
    /// is a later optimisation); shared mappings keep their pages.
    pub fn fork_copy(&self) -> SysResult<MmCopy> {
        let st = self.state.lock().unwrap();
        let mut vmas = Vec::with_capacity(st.vmas.len());
        for (&start, v) in &st.vmas {
            let mut copy = v.clone();
            if !v.shared && !v.cow {
                let len = v.end - start;
                copy.backing = Backing::allocate(&self.mf, len)?;
                copy.offset = copy.backing.offset;
                self.mf.copy_populated(v.offset, copy.offset, len);
            }
            vmas.push((start, copy));
        }
        Ok(MmCopy { vmas, brk_start: st.brk_start, brk: st.brk, mmap_base: st.mmap_base, max_addr: self.max_addr })
    }

    /// Builds the child's memory manager from a fork copy, mapping everything into `space`.
    pub fn from_copy(copy: MmCopy, space: Arc<dyn AddressSpace>, mf: Arc<MemoryFile>) -> SysResult<MemoryManager> {
        for (start, v) in &copy.vmas {
            space.map(*start, v.end - start, v.prot, v.offset).map_err(platform_err)?;
        }
        let state = State { vmas: copy.vmas.into_iter().collect(), brk_start: copy.brk_start, brk: copy.brk, mmap_base: copy.mmap_base, peak: 0 };
        Ok(MemoryManager { space, mf, max_addr: copy.max_addr, state: Mutex::new(state) })
    }
}

#[cfg(test)]
mod tests;
