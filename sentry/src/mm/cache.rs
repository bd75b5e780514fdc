//! The page cache of the read-only root: file pages read once into the memory file and then
//! mapped, shared and read-only, into every process that maps the file privately without write
//! access (program text, read-only data, ld.so's reservation of a library). A write permission
//! added later copies the pages first (see `MemoryManager::protect`).
//!
//! Only files of the read-only tree are cached: their contents cannot change from inside the
//! sandbox. The key includes size and modification time, so a file changed on the host is
//! cached anew.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{page_up, Backing, MemoryFile, PAGE_SIZE};
use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::fs::host::HostRegular;
use crate::fs::overlay::OverlayFile;
use crate::vfs::{read_full, FileOps};

/// The file behind an open file of the read-only root (an overlay file not copied up), whose
/// pages may be cached and shared; None for any other file.
pub fn cacheable(ops: &dyn FileOps) -> Option<Arc<dyn FileOps>> {
    let overlay = ops.as_any()?.downcast_ref::<OverlayFile>()?;
    let inner = overlay.inner().ok()?;
    inner.as_any()?.downcast_ref::<HostRegular>()?;
    Some(inner)
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct Key {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
}

/// One cached file: a memory-file range as long as the file, filled page by page on demand.
pub struct CachedFile {
    pub backing: Arc<Backing>,
    /// One bit per page: read from the file already.
    filled: Mutex<Vec<u64>>,
    pages: u64,
}

#[derive(Default)]
pub struct PageCache {
    files: Mutex<HashMap<Key, Arc<CachedFile>>>,
}

impl PageCache {
    /// The cache entry of a file with attributes `st`, created empty if new.
    pub fn get(&self, mf: &Arc<MemoryFile>, st: &Stat) -> SysResult<Arc<CachedFile>> {
        let key = Key { dev: st.dev, ino: st.ino, size: st.size, mtime: (st.mtime, st.mtime_nsec) };
        let mut files = self.files.lock().unwrap();
        if let Some(f) = files.get(&key) {
            return Ok(f.clone());
        }
        let size = u64::try_from(st.size).map_err(|_| Errno::EINVAL)?;
        let len = page_up(size).ok_or(Errno::ENOMEM)?.max(PAGE_SIZE);
        let pages = len / PAGE_SIZE;
        let words = usize::try_from(pages.div_ceil(64)).map_err(|_| Errno::ENOMEM)?;
        let f = Arc::new(CachedFile { backing: Backing::allocate(mf, len)?, filled: Mutex::new(vec![0; words]), pages });
        files.insert(key, f.clone());
        Ok(f)
    }
}

impl CachedFile {
    /// Offset in the memory file of the file's byte `offset`.
    pub fn offset_of(&self, offset: u64) -> u64 {
        self.backing.offset + offset
    }

    /// Number of pages the cache covers.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Makes sure pages `[first, first + count)` hold the file's data.
    pub fn fill(&self, mf: &MemoryFile, file: &dyn FileOps, first: u64, count: u64) -> SysResult<()> {
        let end = (first + count).min(self.pages);
        let mut filled = self.filled.lock().unwrap();
        let mut page = first;
        while page < end {
            let bit = |p: u64| filled[usize::try_from(p / 64).unwrap_or(0)] & (1 << (p % 64)) != 0;
            if bit(page) {
                page += 1;
                continue;
            }
            // A run of missing pages, read in one go.
            let mut stop = page;
            while stop < end && !bit(stop) && stop - page < 256 {
                stop += 1;
            }
            // Past the file's end the fresh range reads as zero.
            let at = page * PAGE_SIZE;
            let (to, len) = (self.offset_of(at), (stop - page) * PAGE_SIZE);
            let host = file.as_any().and_then(|a| a.downcast_ref::<HostRegular>());
            if host.is_none_or(|h| mf.fill_from_host(to, len, h.host_fd(), at).is_err()) {
                mf.fill(to, len, |pos, dst| read_full(file, at + pos, dst))?;
            }
            for p in page..stop {
                filled[usize::try_from(p / 64).unwrap_or(0)] |= 1 << (p % 64);
            }
            page = stop;
        }
        Ok(())
    }
}
