//! The one path walk: `.`/`..`, symlinks (at most 40, then `ELOOP`), mount points, trailing
//! slashes and the caller's root.

use std::sync::Arc;

use super::{Dentry, NAME_MAX, S_IFLNK};
use crate::errno::{Errno, SysResult};

/// Symlinks followed in one walk before `ELOOP`.
pub const MAX_SYMLINKS: u32 = 40;

/// Where a walk starts and what it may not leave.
pub struct Walker<'a> {
    /// The caller's root: absolute paths start here and `..` stops here.
    pub root: &'a Arc<Dentry>,
}

impl Walker<'_> {
    /// Resolves `path` relative to `start`. The last component is followed if it is a symlink
    /// when `follow` is set (or when the path ends with a slash).
    pub fn resolve(&self, start: &Arc<Dentry>, path: &[u8], follow: bool) -> SysResult<Arc<Dentry>> {
        self.resolve_checked(start, path, follow, &|_| Ok(()))
    }

    /// [`Walker::resolve`] that asks `may_search` before looking a name up in (or leaving
    /// with `..`) each directory: search permission for callers that need it (`EACCES`).
    pub fn resolve_checked(&self, start: &Arc<Dentry>, path: &[u8], follow: bool, may_search: &dyn Fn(&Dentry) -> SysResult<()>) -> SysResult<Arc<Dentry>> {
        let mut links = 0;
        self.walk(start, path, follow, &mut links, may_search)
    }

    fn walk(&self, start: &Arc<Dentry>, path: &[u8], follow: bool, links: &mut u32, may_search: &dyn Fn(&Dentry) -> SysResult<()>) -> SysResult<Arc<Dentry>> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let mut cur = if path[0] == b'/' { self.root.clone() } else { start.clone() };
        let trailing_slash = path.last() == Some(&b'/');
        let names: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|n| !n.is_empty()).collect();
        for (i, name) in names.iter().enumerate() {
            let last = i + 1 == names.len();
            if !cur.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            may_search(&cur)?;
            match *name {
                b"." => continue,
                b".." => {
                    cur = self.parent(&cur);
                    continue;
                }
                _ => {}
            }
            if name.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            let child = cur.child(name)?;
            if child.inode.file_type() == S_IFLNK && (!last || follow || trailing_slash) {
                *links += 1;
                if *links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = child.inode.readlink()?;
                cur = self.walk(&cur, &target, true, links, may_search)?;
            } else {
                cur = child;
            }
        }
        if trailing_slash && !cur.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(cur)
    }

    /// `..` of `d`: its parent, except at the caller's root or the root of the tree.
    fn parent(&self, d: &Arc<Dentry>) -> Arc<Dentry> {
        if Arc::ptr_eq(d, self.root) {
            return d.clone();
        }
        d.parent().map_or_else(|| d.clone(), |p| p.mounted_root())
    }
}
