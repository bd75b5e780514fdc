//! overlay: a writable tree made of a read-only lower tree (in practice the gofer's) and a
//! tmpfs upper that takes every change, like Linux's overlayfs.
//!
//! The upper tmpfs is laid out as Linux's `upperdir` and `workdir`: `/upper` mirrors the
//! overlay's paths, `/work` is scratch space where copies are built before being renamed into
//! place, so nobody ever sees half a copy.
//!
//! - **Lookup** tries the upper directory, then the lower one. A directory present in both
//!   is *merged*: its listing is the union.
//! - **Whiteouts**: removing a name the lower layer has leaves a character device 0/0 at that
//!   name in the upper directory; lookups and listings treat it as "no such file".
//! - **Opaque directories** (`trusted.overlay.opaque = "y"` on the upper directory) hide the
//!   lower directory of the same name: a directory made where a whiteout was (removed, then
//!   made again) is opaque.
//! - **Copy-up**: before a lower file changes (open for writing, `setattr`, `link`, being
//!   renamed) it is copied to the upper layer with its data (streamed through
//!   `FileOps::read`, holes kept), mode, owner and times, and the `trusted.overlay.origin`
//!   attribute recording its lower inode number. Directories are copied (metadata only) the
//!   first time something inside them changes, parents first. The lower tree is never written.
//! - **Reads** of a file never copied up are served by the lower file (the gofer's donated
//!   fd). A read-only open that predates a copy-up switches to the upper copy at its next
//!   read, so it sees later writes (as Linux ≥ 4.19 does).
//!
//! # Choices
//! - Renaming a directory that has a lower part (a lower or merged directory) gives `EXDEV`,
//!   as overlayfs does without `redirect_dir`; `mv` then copies. Directories made in the
//!   overlay rename freely. `RENAME_WHITEOUT` is refused (`EINVAL`).
//! - `st_dev` is one anonymous device for the whole overlay. Inode numbers: a file with a
//!   lower origin keeps the lower inode number, also after copy-up; a file made in the
//!   overlay gets its tmpfs inode number with bit 63 set, so it cannot collide with a lower
//!   one (lower files on several host devices may still share numbers).
//! - Hard links in the lower tree are copied up separately (each name gets its own copy),
//!   like overlayfs without `index`.
//! - A merged directory reports `nlink` 1, as overlayfs does, once its upper copy has entries
//!   of its own; until then (only its attributes changed) it reports the lower directory's
//!   link count and size, so an untouched tree looks exactly like the host's.
//! - A directory listing is a snapshot taken at the first `readdir` from cookie 0 (open or
//!   rewind); cookies are positions in it.
//!
//! # Invariants
//! - One [`OverlayInode`] per live name: a directory keeps weak references to the children
//!   it handed out, so every holder of a name (dentries, open files) shares its copy-up state.
//!   Children hold their parent strongly, so a parent outlives them.
//! - `upper` of a node, once set, never changes; a non-directory drops `lower` when copied up.
//!   A directory's `lower` is the lower directory merged into it (`None` when opaque).
//!
//! # Lock order
//! `Overlay::ns` (held by every change: copy-up, create, link, unlink, rmdir, rename,
//! setattr, write-open) → one node's `st` lock at a time, never held across a call into the
//! upper or lower layer → the tmpfs locks. Lookups and reads take no `ns`: a lookup that
//! races with a change of the same directory sees the directory's generation move and
//! retries.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::tmpfs::{anon_dev, dirent_type, is_dot, Tmpfs, TmpfsInode};
use crate::abi::{Stat, Timespec};
use crate::errno::{Errno, SysResult};
use crate::mm::{MemoryManager, PAGE_SIZE};
use crate::vfs::{
    DirEntry, FileOps, Inode, Owner, SetAttr, SetTime, StatFs, NAME_MAX, OVERLAYFS_MAGIC, RENAME_EXCHANGE,
    RENAME_NOREPLACE, RENAME_WHITEOUT, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};

/// Upper-layer attribute holding the lower inode number a copied-up file came from.
const ORIGIN: &[u8] = b"trusted.overlay.origin";
/// The overlay's own markers: never shown to, or set by, the application.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
/// Upper-layer attribute marking a directory that hides the lower one.
const OPAQUE: &[u8] = b"trusted.overlay.opaque";
/// Set in the inode numbers of files made in the overlay.
const UPPER_INO: u64 = 1 << 63;
/// Bytes per read while copying a file up.
const COPY_CHUNK: usize = 64 * 1024;
/// Entries handed out per `readdir` call.
const READDIR_BATCH: usize = 512;

const ROOT: Owner = Owner { uid: 0, gid: 0 };

fn as_dyn(t: &Arc<TmpfsInode>) -> Arc<dyn Inode> {
    t.clone()
}

fn is_whiteout(t: &TmpfsInode) -> bool {
    t.kind() == S_IFCHR && t.rdev() == 0
}

fn is_opaque(t: &TmpfsInode) -> bool {
    t.get_xattr(OPAQUE).is_ok_and(|v| v == b"y")
}

/// The overlay inode number of an upper file.
fn upper_ino(t: &TmpfsInode) -> u64 {
    t.get_xattr(ORIGIN)
        .ok()
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(UPPER_INO | t.ino(), u64::from_le_bytes)
}

fn check_name(name: &[u8]) -> SysResult<()> {
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.contains(&b'/') || name.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn lookup_opt(dir: &Arc<dyn Inode>, name: &[u8]) -> SysResult<Option<Arc<dyn Inode>>> {
    match dir.lookup(name) {
        Ok(i) => Ok(Some(i)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn child_opt(dir: &TmpfsInode, name: &[u8]) -> SysResult<Option<Arc<TmpfsInode>>> {
    match dir.child(name) {
        Ok(i) => Ok(Some(i)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every entry of a directory of any filesystem, "." and ".." left out.
fn read_dir_all(dir: &Arc<dyn Inode>) -> SysResult<Vec<DirEntry>> {
    let f = dir.open(libc::O_RDONLY | libc::O_DIRECTORY)?;
    let mut out = Vec::new();
    let mut cookie = 0;
    loop {
        let batch = f.readdir(cookie)?;
        let Some(next) = batch.last().map(|e| e.next) else { break };
        out.extend(batch.into_iter().filter(|e| !is_dot(&e.name)));
        if next == cookie {
            break;
        }
        cookie = next;
    }
    Ok(out)
}

fn at(sec: i64, nsec: i64) -> SetTime {
    SetTime::At(Timespec { sec, nsec })
}

/// Sets a directory's access and modification times back to those in `s`.
fn restore_times(dir: &TmpfsInode, s: &Stat) -> SysResult<()> {
    dir.setattr(&SetAttr { atime: at(s.atime, s.atime_nsec), mtime: at(s.mtime, s.mtime_nsec), ..SetAttr::default() })
}

/// One overlay mount: what its inodes share.
pub struct Overlay {
    dev: u64,
    /// The upper mount (its figures are the overlay's `statfs`, with the lower layer's use).
    upper: Arc<Tmpfs>,
    /// The lower root, for `statfs`.
    lower: Arc<dyn Inode>,
    work: Arc<TmpfsInode>,
    ns: Mutex<()>,
    tmp_seq: AtomicU64,
}

impl Overlay {
    /// Makes an overlay of `lower` (a directory, never written) under the fresh tmpfs
    /// `upper`; returns its root, to mount. The root takes the lower root's mode, owner and
    /// times.
    pub fn mount(lower: Arc<dyn Inode>, upper: Arc<Tmpfs>) -> SysResult<Arc<OverlayInode>> {
        if lower.file_type() != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        let ls = lower.stat()?;
        let uroot = upper.root();
        uroot.mkdir(b"upper", 0o755, ROOT)?;
        uroot.mkdir(b"work", 0o700, ROOT)?;
        let up = uroot.child(b"upper")?;
        let work = uroot.child(b"work")?;
        up.set_xattr(ORIGIN, &ls.ino.to_le_bytes(), 0)?;
        up.setattr(&SetAttr {
            mode: Some(ls.mode & 0o7777),
            uid: Some(ls.uid),
            gid: Some(ls.gid),
            atime: at(ls.atime, ls.atime_nsec),
            mtime: at(ls.mtime, ls.mtime_nsec),
            size: None,
        })?;
        let ov = Arc::new(Overlay { dev: anon_dev(), upper, lower: lower.clone(), work, ns: Mutex::new(()), tmp_seq: AtomicU64::new(0) });
        OverlayInode::new_node(&ov, None, b"/", Some(up), Some(lower))
    }

    fn lock_ns(&self) -> MutexGuard<'_, ()> {
        self.ns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh name in the work directory.
    fn tmp_name(&self) -> Vec<u8> {
        format!("#{}", self.tmp_seq.fetch_add(1, Ordering::Relaxed)).into_bytes()
    }

    /// Removes `name` from the work directory, emptying it first if it is a directory of
    /// whiteouts. Best effort: what stays is invisible.
    fn discard(&self, name: &[u8]) {
        let Ok(node) = self.work.child(name) else { return };
        if node.kind() == S_IFDIR {
            for (n, _) in node.children().unwrap_or_default() {
                let _ = node.unlink(&n);
            }
            let _ = self.work.rmdir(name);
        } else {
            let _ = self.work.unlink(name);
        }
    }
}

struct NodeState {
    /// `None` only for the root.
    parent: Option<Arc<OverlayInode>>,
    name: Vec<u8>,
    upper: Option<Arc<TmpfsInode>>,
    lower: Option<Arc<dyn Inode>>,
    /// Children handed out by lookups (directories only).
    children: HashMap<Vec<u8>, Weak<OverlayInode>>,
    /// Moves whenever `children` may have gone stale.
    gen: u64,
    /// Removed from the tree (kept alive by open files).
    deleted: bool,
}

/// A file of an overlay.
pub struct OverlayInode {
    ov: Arc<Overlay>,
    me: Weak<OverlayInode>,
    ino: u64,
    kind: u32,
    st: Mutex<NodeState>,
}

impl OverlayInode {
    fn new_node(
        ov: &Arc<Overlay>,
        parent: Option<Arc<OverlayInode>>,
        name: &[u8],
        upper: Option<Arc<TmpfsInode>>,
        lower: Option<Arc<dyn Inode>>,
    ) -> SysResult<Arc<OverlayInode>> {
        let (kind, ino) = match (&upper, &lower) {
            (Some(u), _) => (u.kind(), upper_ino(u)),
            (None, Some(l)) => {
                let s = l.stat()?;
                (s.mode & S_IFMT, s.ino)
            }
            (None, None) => return Err(Errno::EIO),
        };
        let lower = if kind == S_IFDIR || upper.is_none() { lower } else { None };
        Ok(Arc::new_cyclic(|me| OverlayInode {
            ov: ov.clone(),
            me: me.clone(),
            ino,
            kind,
            st: Mutex::new(NodeState {
                parent,
                name: name.to_vec(),
                upper,
                lower,
                children: HashMap::new(),
                gen: 0,
                deleted: false,
            }),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, NodeState> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This node's own `Arc`: every `OverlayInode` lives in one made by `new_node`.
    fn this(&self) -> Arc<OverlayInode> {
        self.me.upgrade().expect("overlay inode used outside its Arc")
    }

    fn layers(&self) -> (Option<Arc<TmpfsInode>>, Option<Arc<dyn Inode>>) {
        let st = self.lock();
        (st.upper.clone(), st.lower.clone())
    }

    fn upper(&self) -> Option<Arc<TmpfsInode>> {
        self.lock().upper.clone()
    }

    fn deleted(&self) -> bool {
        self.lock().deleted
    }

    /// The upper copy, if this file has been copied up (or was made in the overlay).
    pub fn upper_inode(&self) -> Option<Arc<TmpfsInode>> {
        self.upper()
    }

    /// What `name` in this directory is, from the layers: upper and/or lower, `None` if it
    /// does not exist or is whited out.
    #[allow(clippy::type_complexity)]
    fn resolve(&self, name: &[u8]) -> SysResult<Option<(Option<Arc<TmpfsInode>>, Option<Arc<dyn Inode>>)>> {
        let (up, low) = self.layers();
        if let Some(c) = up.as_ref().map(|u| child_opt(u, name)).transpose()?.flatten() {
            if is_whiteout(&c) {
                return Ok(None);
            }
            if c.kind() == S_IFDIR && !is_opaque(&c) {
                if let Some(lc) = low.as_ref().map(|l| lookup_opt(l, name)).transpose()?.flatten() {
                    if lc.file_type() == S_IFDIR {
                        return Ok(Some((Some(c), Some(lc))));
                    }
                }
            }
            return Ok(Some((Some(c), None)));
        }
        Ok(low.as_ref().map(|l| lookup_opt(l, name)).transpose()?.flatten().map(|lc| (None, Some(lc))))
    }

    /// The node for `name`, shared with every other holder of it.
    fn child(&self, name: &[u8]) -> SysResult<Arc<OverlayInode>> {
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        loop {
            let gen = {
                let st = self.lock();
                if st.deleted {
                    return Err(Errno::ENOENT);
                }
                if let Some(c) = st.children.get(name).and_then(Weak::upgrade) {
                    return Ok(c);
                }
                st.gen
            };
            let (up, low) = self.resolve(name)?.ok_or(Errno::ENOENT)?;
            let node = OverlayInode::new_node(&self.ov, Some(self.this()), name, up, low)?;
            let mut st = self.lock();
            if st.gen != gen {
                continue;
            }
            if let Some(c) = st.children.get(name).and_then(Weak::upgrade) {
                return Ok(c);
            }
            if st.children.len() >= 64 && st.children.len().is_power_of_two() {
                st.children.retain(|_, w| w.strong_count() > 0);
            }
            st.children.insert(name.to_vec(), Arc::downgrade(&node));
            return Ok(node);
        }
    }

    fn child_opt(&self, name: &[u8]) -> SysResult<Option<Arc<OverlayInode>>> {
        match self.child(name) {
            Ok(c) => Ok(Some(c)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Records `node` as the child `name` (after a change made under `ns`).
    fn set_child(&self, name: &[u8], node: &Arc<OverlayInode>) {
        let mut st = self.lock();
        st.children.insert(name.to_vec(), Arc::downgrade(node));
        st.gen += 1;
    }

    fn forget_child(&self, name: &[u8]) {
        let mut st = self.lock();
        st.children.remove(name);
        st.gen += 1;
    }

    fn set_place(&self, parent: &Arc<OverlayInode>, name: &[u8]) {
        let mut st = self.lock();
        st.parent = Some(parent.clone());
        st.name = name.to_vec();
    }

    /// Whether the lower directory merged into this one has `name`.
    fn lower_has(&self, name: &[u8]) -> SysResult<bool> {
        let low = self.lock().lower.clone();
        Ok(low.map(|l| lookup_opt(&l, name)).transpose()?.flatten().is_some())
    }

    /// True if `self` is `anc` or lies below it.
    fn is_within(self: &Arc<Self>, anc: &Arc<OverlayInode>) -> bool {
        let mut cur = self.clone();
        loop {
            if Arc::ptr_eq(&cur, anc) {
                return true;
            }
            let Some(p) = cur.lock().parent.clone() else { return false };
            cur = p;
        }
    }

    /// Copies this file up (with at most `limit` bytes of data) unless it is already in the
    /// upper layer; returns the upper inode. The caller holds `ns`.
    fn copy_up(self: &Arc<Self>, limit: u64) -> SysResult<Arc<TmpfsInode>> {
        let (parent, name, lower, deleted) = {
            let st = self.lock();
            if let Some(u) = &st.upper {
                return Ok(u.clone());
            }
            (st.parent.clone(), st.name.clone(), st.lower.clone(), st.deleted)
        };
        let lower = lower.ok_or(Errno::EIO)?;
        let ls = lower.stat()?;
        let parent_up = match (&parent, deleted) {
            (Some(p), false) => Some(p.copy_up(0)?),
            _ => None,
        };
        let work = &self.ov.work;
        let tmp = self.ov.tmp_name();
        let owner = Owner { uid: ls.uid, gid: ls.gid };
        let perm = ls.mode & 0o7777;
        match self.kind {
            S_IFDIR => work.mkdir(&tmp, perm, owner)?,
            S_IFREG => work.create(&tmp, perm, owner)?,
            S_IFLNK => work.symlink(&tmp, &lower.readlink()?, owner)?,
            _ => work.mknod(&tmp, ls.mode, ls.rdev, owner)?,
        };
        let placed = work.child(&tmp).and_then(|up| {
            self.fill_copy(&up, &lower, &ls, limit)?;
            match &parent_up {
                Some(pu) => {
                    // A copy-up is no change of the directory: keep its times.
                    let times = pu.stat()?;
                    work.rename(&tmp, &as_dyn(pu), &name, RENAME_NOREPLACE)?;
                    // Placed: from here on the copy-up has happened, whatever else fails.
                    let _ = restore_times(pu, &times);
                }
                // A removed file still open: the copy lives on unnamed.
                None if self.kind == S_IFDIR => work.rmdir(&tmp)?,
                None => work.unlink(&tmp)?,
            }
            Ok(up)
        });
        let up = placed.inspect_err(|_| self.ov.discard(&tmp))?;
        let mut st = self.lock();
        st.upper = Some(up.clone());
        if self.kind != S_IFDIR {
            st.lower = None;
        }
        Ok(up)
    }

    /// Gives the fresh upper copy `up` the data (up to `limit` bytes) and attributes of
    /// `lower`.
    fn fill_copy(&self, up: &Arc<TmpfsInode>, lower: &Arc<dyn Inode>, ls: &Stat, limit: u64) -> SysResult<()> {
        if self.kind == S_IFREG && limit > 0 {
            let src = lower.open(libc::O_RDONLY)?;
            let end = u64::try_from(ls.size).unwrap_or(0).min(limit);
            let mut buf = vec![0u8; COPY_CHUNK];
            let mut off = 0u64;
            while off < end {
                let want = usize::try_from(end - off).unwrap_or(usize::MAX).min(buf.len());
                let n = src.read(off, &mut buf[..want])?;
                if n == 0 {
                    break;
                }
                // Page by page (aligned in the file); all-zero pages stay holes.
                let mut pos = 0;
                while pos < n {
                    let page_end = usize::try_from(PAGE_SIZE - (off + pos as u64) % PAGE_SIZE).unwrap_or(n);
                    let piece = &buf[pos..n.min(pos + page_end)];
                    if piece.iter().any(|&b| b != 0) {
                        let mut done = 0;
                        while done < piece.len() {
                            done += up.write_at(off + (pos + done) as u64, &piece[done..])?;
                        }
                    }
                    pos += piece.len();
                }
                off += n as u64;
            }
            up.setattr(&SetAttr { size: Some(off), ..SetAttr::default() })?;
        }
        up.set_xattr(ORIGIN, &ls.ino.to_le_bytes(), 0)?;
        up.setattr(&SetAttr {
            mode: (self.kind != S_IFLNK).then_some(ls.mode & 0o7777),
            uid: Some(ls.uid),
            gid: Some(ls.gid),
            atime: at(ls.atime, ls.atime_nsec),
            mtime: at(ls.mtime, ls.mtime_nsec),
            size: None,
        })
    }

    /// The merged listing of this directory, "." and ".." first; `next` is the position.
    fn list(&self) -> SysResult<Vec<DirEntry>> {
        let (up, low, parent) = {
            let st = self.lock();
            (st.upper.clone(), st.lower.clone(), st.parent.clone())
        };
        let parent_ino = parent.map_or(self.ino, |p| p.ino);
        let mut out = vec![
            DirEntry { ino: self.ino, next: 0, kind: libc::DT_DIR, name: b".".to_vec() },
            DirEntry { ino: parent_ino, next: 0, kind: libc::DT_DIR, name: b"..".to_vec() },
        ];
        let mut taken = HashSet::new();
        if let Some(u) = &up {
            for (name, c) in u.children()? {
                taken.insert(name.clone());
                if !is_whiteout(&c) {
                    out.push(DirEntry { ino: upper_ino(&c), next: 0, kind: dirent_type(c.kind()), name });
                }
            }
        }
        if let Some(l) = &low {
            out.extend(read_dir_all(l)?.into_iter().filter(|e| !taken.contains(&e.name)));
        }
        for (i, e) in out.iter_mut().enumerate() {
            e.next = i as u64 + 1;
        }
        Ok(out)
    }

    fn is_empty_dir(&self) -> SysResult<bool> {
        Ok(self.list()?.len() <= 2)
    }

    /// Makes a new entry `name` in this directory; `build` creates it in the given upper
    /// directory under the given name, mode and owner.
    fn make_entry(
        &self,
        name: &[u8],
        mode: u32,
        owner: Owner,
        build: impl FnOnce(&Arc<TmpfsInode>, &[u8], u32, Owner) -> SysResult<Arc<dyn Inode>>,
    ) -> SysResult<Arc<dyn Inode>> {
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        if is_dot(name) {
            return Err(Errno::EEXIST);
        }
        check_name(name)?;
        let _ns = self.ov.lock_ns();
        if self.deleted() {
            return Err(Errno::ENOENT);
        }
        if self.resolve(name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        let dir = self.this().copy_up(0)?;
        // The set-group-ID rule of the directory, applied here because the copy may be built
        // in the work directory.
        let ds = dir.stat()?;
        let (mode, owner) = if ds.mode & libc::S_ISGID != 0 {
            let mode = if mode & S_IFMT == S_IFDIR { mode | libc::S_ISGID } else { mode };
            (mode, Owner { uid: owner.uid, gid: ds.gid })
        } else {
            (mode, owner)
        };
        let up = match child_opt(&dir, name)? {
            None => {
                build(&dir, name, mode, owner)?;
                dir.child(name)?
            }
            Some(w) if is_whiteout(&w) => {
                // Build it aside, then put it over the whiteout in one step.
                let work = &self.ov.work;
                let tmp = self.ov.tmp_name();
                build(work, &tmp, mode, owner)?;
                let made = work.child(&tmp).and_then(|made| {
                    if made.kind() == S_IFDIR {
                        made.set_xattr(OPAQUE, b"y", 0)?;
                        work.rename(&tmp, &as_dyn(&dir), name, RENAME_EXCHANGE)?;
                    } else {
                        work.rename(&tmp, &as_dyn(&dir), name, 0)?;
                    }
                    Ok(made)
                });
                // After an exchange the whiteout sits at `tmp`.
                self.ov.discard(&tmp);
                made?
            }
            Some(_) => return Err(Errno::EEXIST),
        };
        let node = OverlayInode::new_node(&self.ov, Some(self.this()), name, Some(up), None)?;
        self.set_child(name, &node);
        Ok(node)
    }

    /// Removes the entry `name` (the node `child`) from this directory, whose upper copy is
    /// `dir`: leaves a whiteout if the lower layer has the name. Under `ns`.
    fn remove_entry(&self, dir: &Arc<TmpfsInode>, name: &[u8], child: &Arc<OverlayInode>) -> SysResult<()> {
        let lower_has = self.lower_has(name)?;
        if child.upper().is_some() {
            // Move the upper file aside (leaving the whiteout in the same step), then drop it.
            let tmp = self.ov.tmp_name();
            let flags = if lower_has { RENAME_WHITEOUT } else { 0 };
            dir.rename(name, &as_dyn(&self.ov.work), &tmp, flags)?;
            self.ov.discard(&tmp);
        } else if lower_has {
            dir.mknod(name, S_IFCHR, 0, ROOT)?;
        } else {
            return Err(Errno::EIO);
        }
        child.lock().deleted = true;
        self.forget_child(name);
        Ok(())
    }

    fn downcast_same(&self, other: &Arc<dyn Inode>) -> SysResult<Arc<OverlayInode>> {
        let o = other.as_any().and_then(|a| a.downcast_ref::<OverlayInode>()).ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&o.ov, &self.ov) {
            return Err(Errno::EXDEV);
        }
        Ok(o.this())
    }
}

impl Inode for OverlayInode {
    fn stat(&self) -> SysResult<Stat> {
        let mut s = match self.layers() {
            // A merged directory: the upper copy's mode, owner and times, the lower one's size.
            // While the upper copy holds no entry (only its attributes changed, or a copy-up
            // made it a parent), its subdirectories are the lower one's: their count too.
            // Once it has entries the count is unknown: nlink 1, as overlayfs says (so `find`
            // does not trust it to count them).
            (Some(u), Some(l)) if self.kind == S_IFDIR => {
                let ls = l.stat()?;
                let nlink = if u.has_entries() { 1 } else { ls.nlink };
                Stat { nlink, size: ls.size, blocks: ls.blocks, blksize: ls.blksize, ..u.stat()? }
            }
            (Some(u), _) => u.stat()?,
            (None, Some(l)) => l.stat()?,
            (None, None) => return Err(Errno::EIO),
        };
        s.dev = self.ov.dev;
        s.ino = self.ino;
        Ok(s)
    }

    fn file_type(&self) -> u32 {
        self.kind
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        Ok(self.child(name)?)
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        match self.layers() {
            (Some(u), _) => u.readlink(),
            (None, Some(l)) => l.readlink(),
            (None, None) => Err(Errno::EIO),
        }
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY;
        if self.kind == S_IFDIR {
            if write {
                return Err(Errno::EISDIR);
            }
            return Ok(Arc::new(OverlayDir { node: self.this(), snapshot: Mutex::new(None) }));
        }
        let trunc = flags & libc::O_TRUNC != 0;
        if self.kind == S_IFREG && (write || trunc) {
            let up = {
                let _ns = self.ov.lock_ns();
                self.this().copy_up(if trunc { 0 } else { u64::MAX })?
            };
            let inner = up.open(flags)?;
            return Ok(Arc::new(OverlayFile { node: self.this(), inner: Mutex::new(inner), on_upper: AtomicBool::new(true) }));
        }
        let (inner, on_upper) = match self.layers() {
            (Some(u), _) => (u.open(flags)?, true),
            (None, Some(l)) => (l.open(flags)?, false),
            (None, None) => return Err(Errno::EIO),
        };
        Ok(Arc::new(OverlayFile { node: self.this(), inner: Mutex::new(inner), on_upper: AtomicBool::new(on_upper) }))
    }

    fn create(&self, name: &[u8], mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.make_entry(name, S_IFREG | (mode & 0o7777), owner, |d, n, m, o| d.create(n, m, o))
    }

    fn mkdir(&self, name: &[u8], mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.make_entry(name, S_IFDIR | (mode & 0o7777), owner, |d, n, m, o| d.mkdir(n, m, o))
    }

    fn mknod(&self, name: &[u8], mode: u32, rdev: u64, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        match mode & S_IFMT {
            S_IFDIR => return Err(Errno::EPERM),
            // A character device 0/0 would read as a whiteout.
            S_IFCHR if rdev == 0 => return Err(Errno::EPERM),
            _ => {}
        }
        self.make_entry(name, mode, owner, |d, n, m, o| d.mknod(n, m, rdev, o))
    }

    fn symlink(&self, name: &[u8], target: &[u8], owner: Owner) -> SysResult<Arc<dyn Inode>> {
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        self.make_entry(name, S_IFLNK | 0o777, owner, |d, n, _, o| d.symlink(n, target, o))
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>> {
        let target = self.downcast_same(target)?;
        if target.kind == S_IFDIR {
            return Err(Errno::EPERM);
        }
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        if is_dot(name) {
            return Err(Errno::EEXIST);
        }
        check_name(name)?;
        {
            let _ns = self.ov.lock_ns();
            if target.deleted() && target.upper().is_none_or(|u| u.stat().is_ok_and(|s| s.nlink == 0) && !u.is_linkable()) {
                return Err(Errno::ENOENT);
            }
            // Copy the target up first; `make_entry` takes `ns` itself.
            target.copy_up(u64::MAX)?;
        }
        let up = target.upper().ok_or(Errno::EIO)?;
        self.make_entry(name, target.kind, ROOT, |d, n, _, _| d.link(n, &as_dyn(&up)))
    }

    fn unlink(&self, name: &[u8]) -> SysResult<()> {
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        if is_dot(name) {
            return Err(Errno::EISDIR);
        }
        check_name(name)?;
        let _ns = self.ov.lock_ns();
        let child = self.child(name)?;
        if child.kind == S_IFDIR {
            return Err(Errno::EISDIR);
        }
        let dir = self.this().copy_up(0)?;
        self.remove_entry(&dir, name, &child)
    }

    fn rmdir(&self, name: &[u8]) -> SysResult<()> {
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        match name {
            b"." => return Err(Errno::EINVAL),
            b".." => return Err(Errno::ENOTEMPTY),
            _ => check_name(name)?,
        }
        let _ns = self.ov.lock_ns();
        let child = self.child(name)?;
        if child.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        if !child.is_empty_dir()? {
            return Err(Errno::ENOTEMPTY);
        }
        let dir = self.this().copy_up(0)?;
        self.remove_entry(&dir, name, &child)
    }

    fn rename(&self, old_name: &[u8], new_dir: &Arc<dyn Inode>, new_name: &[u8], flags: u32) -> SysResult<()> {
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0 || flags == RENAME_NOREPLACE | RENAME_EXCHANGE {
            return Err(Errno::EINVAL);
        }
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        if is_dot(old_name) || is_dot(new_name) {
            return Err(Errno::EBUSY);
        }
        check_name(old_name)?;
        check_name(new_name)?;
        let b = self.downcast_same(new_dir)?;
        if b.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        let a = self.this();
        let _ns = self.ov.lock_ns();
        if b.deleted() {
            return Err(Errno::ENOENT);
        }
        let o = a.child(old_name)?;
        let t = b.child_opt(new_name)?;
        let exchange = flags & RENAME_EXCHANGE != 0;
        if let Some(t) = &t {
            let same_upper = matches!((o.upper(), t.upper()), (Some(x), Some(y)) if Arc::ptr_eq(&x, &y));
            if Arc::ptr_eq(t, &o) || same_upper {
                return Ok(());
            }
            if !exchange {
                if flags & RENAME_NOREPLACE != 0 {
                    return Err(Errno::EEXIST);
                }
                match (o.kind == S_IFDIR, t.kind == S_IFDIR) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    (true, true) if !t.is_empty_dir()? => return Err(Errno::ENOTEMPTY),
                    _ => {}
                }
            }
        } else if exchange {
            return Err(Errno::ENOENT);
        }
        let has_lower_dir = |n: &OverlayInode| n.kind == S_IFDIR && n.lock().lower.is_some();
        if has_lower_dir(&o) || (exchange && t.as_deref().is_some_and(has_lower_dir)) {
            return Err(Errno::EXDEV);
        }
        if o.kind == S_IFDIR && b.is_within(&o) {
            return Err(Errno::EINVAL);
        }
        if let Some(t) = t.as_ref().filter(|t| exchange && t.kind == S_IFDIR) {
            if a.is_within(t) {
                return Err(Errno::EINVAL);
            }
        }
        let ua = a.copy_up(0)?;
        let ub = b.copy_up(0)?;
        let uo = o.copy_up(u64::MAX)?;
        // A directory landing where the lower layer has the name must hide it. (It is an
        // upper-only directory, so marking it first changes nothing where it is now.)
        if o.kind == S_IFDIR && b.lower_has(new_name)? {
            uo.set_xattr(OPAQUE, b"y", 0)?;
        }
        if exchange {
            let t = t.ok_or(Errno::ENOENT)?;
            let ut = t.copy_up(u64::MAX)?;
            if t.kind == S_IFDIR && a.lower_has(old_name)? {
                ut.set_xattr(OPAQUE, b"y", 0)?;
            }
            ua.rename(old_name, &as_dyn(&ub), new_name, RENAME_EXCHANGE)?;
            a.set_child(old_name, &t);
            b.set_child(new_name, &o);
            t.set_place(&a, old_name);
            o.set_place(&b, new_name);
            return Ok(());
        }
        let need_whiteout = a.lower_has(old_name)?;
        if let Some(t) = t.as_ref().filter(|t| t.kind == S_IFDIR) {
            if let Some(ut) = t.upper() {
                // The target is empty as seen, but its upper copy may hold whiteouts, which
                // tmpfs would call "not empty". Stop merging it, then clear them.
                t.lock().lower = None;
                ut.set_xattr(OPAQUE, b"y", 0)?;
                for (n, _) in ut.children()? {
                    ut.unlink(&n)?;
                }
            }
        }
        let whiteout_at_new = t.is_none() && child_opt(&ub, new_name)?.is_some();
        if whiteout_at_new && o.kind == S_IFDIR {
            // tmpfs will not put a directory over the whiteout (a file): swap them instead.
            ua.rename(old_name, &as_dyn(&ub), new_name, RENAME_EXCHANGE)?;
            if !need_whiteout {
                ua.unlink(old_name)?;
            }
        } else {
            ua.rename(old_name, &as_dyn(&ub), new_name, if need_whiteout { RENAME_WHITEOUT } else { 0 })?;
        }
        if let Some(t) = &t {
            t.lock().deleted = true;
        }
        a.forget_child(old_name);
        b.set_child(new_name, &o);
        o.set_place(&b, new_name);
        Ok(())
    }

    fn tmpfile(&self, mode: u32, owner: Owner, linkable: bool) -> SysResult<Arc<dyn Inode>> {
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        let _ns = self.ov.lock_ns();
        if self.deleted() {
            return Err(Errno::ENOENT);
        }
        // The set-group-ID rule of this directory; the file itself is made in the work
        // directory of the upper layer (never named there), so that `linkat` can move it in.
        let ds = self.stat()?;
        let owner = if ds.mode & libc::S_ISGID != 0 { Owner { uid: owner.uid, gid: ds.gid } } else { owner };
        let up = self.ov.work.new_tmpfile(mode, owner, linkable)?;
        let node = OverlayInode::new_node(&self.ov, Some(self.this()), b"", Some(up), None)?;
        node.lock().deleted = true;
        Ok(node)
    }

    /// The upper layer's figures, plus the room and inodes the lower layer's files take: the
    /// tree holds both, and only the upper layer has room to grow (so `df /` shows the image
    /// as used, as a container's overlay on a disk does).
    fn statfs(&self) -> SysResult<StatFs> {
        let up = self.ov.upper.statfs();
        let Ok(low) = self.ov.lower.statfs() else { return Ok(StatFs { fs_type: OVERLAYFS_MAGIC, ..up }) };
        let unit = if low.frsize != 0 { low.frsize } else { low.bsize };
        let low_used = low.blocks.saturating_sub(low.bfree).saturating_mul(unit).div_ceil(up.frsize.max(1));
        let low_files = low.files.saturating_sub(low.ffree);
        Ok(StatFs {
            fs_type: OVERLAYFS_MAGIC,
            blocks: up.blocks.saturating_add(low_used),
            files: up.files.saturating_add(low_files),
            ..up
        })
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        if attr.is_empty() {
            return Ok(());
        }
        if attr.size.is_some() {
            match self.kind {
                S_IFREG => {}
                S_IFDIR => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            }
        }
        let up = {
            let _ns = self.ov.lock_ns();
            self.this().copy_up(attr.size.unwrap_or(u64::MAX))?
        };
        up.setattr(attr)
    }

    /// The upper file's attributes, less the overlay's own `trusted.overlay.*` markers; a
    /// file only in the lower layer has none.
    fn getxattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        if name.starts_with(OVERLAY_XATTR_PREFIX) {
            return Err(Errno::ENODATA);
        }
        self.upper().ok_or(Errno::ENODATA)?.get_xattr(name)
    }

    fn setxattr(&self, name: &[u8], value: &[u8], flags: i32) -> SysResult<()> {
        if name.starts_with(OVERLAY_XATTR_PREFIX) {
            return Err(Errno::EPERM);
        }
        let up = {
            let _ns = self.ov.lock_ns();
            self.this().copy_up(u64::MAX)?
        };
        up.setxattr(name, value, flags)
    }

    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(self.upper().map(|u| u.list_xattrs()).unwrap_or_default().into_iter().filter(|n| !n.starts_with(OVERLAY_XATTR_PREFIX)).collect())
    }

    fn removexattr(&self, name: &[u8]) -> SysResult<()> {
        if name.starts_with(OVERLAY_XATTR_PREFIX) {
            return Err(Errno::ENODATA);
        }
        let Some(up) = self.upper() else { return Err(Errno::ENODATA) };
        up.removexattr(name)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// An open non-directory of the overlay: the upper or lower file, with the overlay's
/// `st_dev` and inode number. mmap finds the data through [`OverlayFile::inner`] (a
/// `tmpfs::TmpfsFile` once copied up, else the lower file, e.g. `host::HostRegular`).
pub struct OverlayFile {
    node: Arc<OverlayInode>,
    inner: Mutex<Arc<dyn FileOps>>,
    /// Whether `inner` is the upper file; if not, a copy-up since the open is picked up at
    /// the next read.
    on_upper: AtomicBool,
}

impl OverlayFile {
    /// The file that serves this one now.
    pub fn inner(&self) -> SysResult<Arc<dyn FileOps>> {
        self.current()
    }

    /// The overlay inode it was opened from.
    pub fn inode(&self) -> &Arc<OverlayInode> {
        &self.node
    }

    fn current(&self) -> SysResult<Arc<dyn FileOps>> {
        if !self.on_upper.load(Ordering::Acquire) {
            if let Some(up) = self.node.upper().filter(|u| u.kind() == S_IFREG) {
                let f = up.open(libc::O_RDONLY)?;
                *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = f;
                self.on_upper.store(true, Ordering::Release);
            }
        }
        Ok(self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

impl FileOps for OverlayFile {
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.current()?.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> SysResult<usize> {
        self.current()?.write(offset, buf)
    }

    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        self.current()?.append(buf)
    }

    fn fallocate(&self, mode: i32, offset: u64, len: u64) -> SysResult<()> {
        self.current()?.fallocate(mode, offset, len)
    }

    fn stat(&self) -> SysResult<Stat> {
        self.node.stat()
    }

    fn seekable(&self) -> bool {
        self.current().is_ok_and(|f| f.seekable())
    }

    fn io_in_place(&self) -> bool {
        self.current().is_ok_and(|f| f.io_in_place())
    }

    fn ioctl(&self, mm: &MemoryManager, request: u32, arg: u64) -> SysResult<u64> {
        self.current()?.ioctl(mm, request, arg)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// An open directory of the overlay: a snapshot of the merged listing.
struct OverlayDir {
    node: Arc<OverlayInode>,
    snapshot: Mutex<Option<Vec<DirEntry>>>,
}

impl FileOps for OverlayDir {
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }

    fn stat(&self) -> SysResult<Stat> {
        self.node.stat()
    }

    fn readdir(&self, cookie: u64) -> SysResult<Vec<DirEntry>> {
        if self.node.deleted() {
            return Err(Errno::ENOENT);
        }
        let mut snap = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        if cookie == 0 || snap.is_none() {
            *snap = Some(self.node.list()?);
        }
        let list = snap.as_deref().unwrap_or_default();
        Ok(list.iter().skip(usize::try_from(cookie).unwrap_or(usize::MAX)).take(READDIR_BATCH).cloned().collect())
    }
}

#[cfg(test)]
mod tests;
