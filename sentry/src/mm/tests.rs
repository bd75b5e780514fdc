//! The memory manager against a fake address space and a real (in-process) memory file.

use std::sync::Arc;

use super::*;
use crate::testing::FakeSpace;

const TOP: u64 = 0x7000_0000_0000;
const RW: i32 = PROT_READ | PROT_WRITE;
const P: u64 = PAGE_SIZE;

fn manager() -> (MemoryManager, Arc<FakeSpace>) {
    let space = Arc::new(FakeSpace::default());
    let mf = Arc::new(MemoryFile::new().unwrap());
    let mm = MemoryManager::new(space.clone(), mf, TOP);
    mm.set_mmap_base(TOP - 0x1000_0000);
    (mm, space)
}

#[test]
fn anonymous_memory_is_zeroed_and_copies_round_trip() {
    let (mm, _) = manager();
    let a = mm.map_anon(0, 3 * P, RW, false, false, VmaKind::Anon).unwrap();
    let mut buf = [1u8; 16];
    mm.copy_in(a + P - 8, &mut buf).unwrap();
    assert_eq!(buf, [0; 16]);
    mm.copy_out(a + P - 8, b"across the page").unwrap();
    mm.copy_in(a + P - 8, &mut buf[..15]).unwrap();
    assert_eq!(&buf[..15], b"across the page");
}

#[test]
fn bad_addresses_are_efault_and_partial_copies_count() {
    let (mm, _) = manager();
    let a = mm.map_anon(0, P, RW, false, false, VmaKind::Anon).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(mm.copy_in(0, &mut buf), Err(Errno::EFAULT));
    assert_eq!(mm.copy_in(u64::MAX - 3, &mut buf), Err(Errno::EFAULT));
    assert_eq!(mm.copy_in(a + P - 4, &mut buf), Err(Errno::EFAULT), "runs off the mapping");
    assert_eq!(mm.copy_out_partial(a + P - 4, &buf), 4);
    let ro = mm.map_anon(0, P, PROT_READ, false, false, VmaKind::Anon).unwrap();
    assert_eq!(mm.copy_out(ro, &buf), Err(Errno::EFAULT), "read-only memory");
    assert!(mm.poke(ro, &buf).is_ok(), "the loader may fill read-only memory");
    let none = mm.map_anon(0, P, 0, false, false, VmaKind::Anon).unwrap();
    assert_eq!(mm.copy_in(none, &mut buf), Err(Errno::EFAULT), "PROT_NONE memory");
}

#[test]
fn strings_stop_at_nul_limit_and_unmapped_pages() {
    let (mm, _) = manager();
    let a = mm.map_anon(0, P, RW, false, false, VmaKind::Anon).unwrap();
    mm.copy_out(a + P - 6, b"hello\0").unwrap();
    assert_eq!(mm.read_cstring(a + P - 6, 100).unwrap(), b"hello");
    assert_eq!(mm.read_cstring(a + P - 6, 4), Err(Errno::ENAMETOOLONG));
    mm.copy_out(a + P - 3, b"abc").unwrap();
    assert_eq!(mm.read_cstring(a + P - 3, 100), Err(Errno::EFAULT), "no NUL before the end of the mapping");
}

#[test]
fn unmap_splits_and_protect_needs_every_page() {
    let (mm, space) = manager();
    let a = mm.map_anon(0, 4 * P, RW, false, false, VmaKind::Anon).unwrap();
    mm.unmap(a + P, P).unwrap();
    assert_eq!(mm.vmas().len(), 2);
    assert_eq!(mm.protect(a, 3 * P, PROT_READ), Err(Errno::ENOMEM), "hole in the range");
    mm.protect(a + 2 * P, 2 * P, PROT_READ).unwrap();
    assert_eq!(mm.vmas().len(), 2);
    assert!(space.calls.lock().unwrap().iter().any(|c| c == &format!("protect {:#x} {:#x} 1", a + 2 * P, 2 * P)));
    assert_eq!(mm.unmap(a + 1, P), Err(Errno::EINVAL));
    assert_eq!(mm.unmap(a, 0), Err(Errno::EINVAL));
    mm.unmap(a, 4 * P).unwrap();
    assert!(mm.vmas().is_empty());
}

#[test]
fn fixed_maps_replace_and_hints_are_honoured_when_free() {
    let (mm, _) = manager();
    let a = mm.map_anon(0x1000_0000, 2 * P, RW, false, false, VmaKind::Anon).unwrap();
    assert_eq!(a, 0x1000_0000);
    mm.copy_out(a, b"old").unwrap();
    mm.map_anon(a, P, RW, true, false, VmaKind::Anon).unwrap();
    let mut buf = [9u8; 3];
    mm.copy_in(a, &mut buf).unwrap();
    assert_eq!(buf, [0; 3], "MAP_FIXED gives fresh pages");
    let b = mm.map_anon(a, P, RW, false, false, VmaKind::Anon).unwrap();
    assert_ne!(b, a, "a taken hint is not forced");
    assert_eq!(mm.map_anon(8, P, RW, true, false, VmaKind::Anon), Err(Errno::EINVAL));
    assert_eq!(mm.map_anon(TOP - P, 2 * P, RW, true, false, VmaKind::Anon), Err(Errno::ENOMEM));
}

#[test]
fn mremap_moves_without_copying_and_grows_in_place() {
    let (mm, space) = manager();
    let a = mm.map_anon(0x2000_0000, 2 * P, RW, false, false, VmaKind::Anon).unwrap();
    mm.copy_out(a, b"keep me").unwrap();
    assert_eq!(mm.remap(a, 2 * P, 4 * P, false, None).unwrap(), a, "room after: grows in place");
    mm.map_anon(a + 4 * P, P, RW, true, false, VmaKind::Anon).unwrap();
    assert_eq!(mm.remap(a, 4 * P, 8 * P, false, None), Err(Errno::ENOMEM), "no room and no MAYMOVE");
    space.calls.lock().unwrap().clear();
    let b = mm.remap(a, 4 * P, 8 * P, true, None).unwrap();
    assert_ne!(b, a);
    let mut buf = [0u8; 7];
    mm.copy_in(b, &mut buf).unwrap();
    assert_eq!(&buf, b"keep me");
    assert_eq!(mm.copy_in(a, &mut buf), Err(Errno::EFAULT), "the old range is gone");
    let calls = space.calls.lock().unwrap().clone();
    assert!(calls.iter().any(|c| c.starts_with(&format!("map {b:#x}"))), "{calls:?}");
    assert_eq!(mm.remap(b, P, 0, true, None), Err(Errno::EINVAL));
    assert_eq!(mm.remap(0x5000_0000, P, 2 * P, true, None), Err(Errno::EFAULT));
    let c = mm.remap(b, 8 * P, 2 * P, false, None).unwrap();
    assert_eq!(c, b, "shrinks in place");
    assert_eq!(mm.copy_in(b + 2 * P, &mut buf), Err(Errno::EFAULT));
}

#[test]
fn brk_grows_and_shrinks_within_its_range() {
    let (mm, _) = manager();
    mm.set_brk_start(0x3000_0000);
    assert_eq!(mm.brk(0), 0x3000_0000);
    assert_eq!(mm.brk(0x3000_0000 + 3 * P + 5), 0x3000_0000 + 3 * P + 5);
    mm.copy_out(0x3000_0000 + 3 * P, b"heap").unwrap();
    assert_eq!(mm.brk(0x3000_0000 + P), 0x3000_0000 + P);
    let mut b = [0u8; 4];
    assert_eq!(mm.copy_in(0x3000_0000 + 3 * P, &mut b), Err(Errno::EFAULT));
    assert_eq!(mm.brk(0x2000_0000), 0x3000_0000 + P, "below the start: unchanged");
}

#[test]
fn madvise_dontneed_zeroes_private_pages() {
    let (mm, _) = manager();
    let a = mm.map_anon(0, 2 * P, RW, false, false, VmaKind::Anon).unwrap();
    mm.copy_out(a, &[7u8; 64]).unwrap();
    mm.discard(a, P).unwrap();
    let mut b = [1u8; 64];
    mm.copy_in(a, &mut b).unwrap();
    assert_eq!(b, [0; 64]);
    assert_eq!(mm.discard(a + 4 * P, P), Err(Errno::ENOMEM));
}

#[test]
fn shared_file_mappings_use_the_files_own_pages() {
    use crate::fs::tmpfs::{Tmpfs, TmpfsOptions};
    use crate::vfs::{Inode, Owner};
    let (mm, space) = manager();
    let fs = Tmpfs::new(mm.mf.clone(), TmpfsOptions::default());
    fs.root().create(b"f", 0o644, Owner::default()).unwrap();
    let node = fs.root().child(b"f").unwrap();
    node.write_at(0, b"hello").unwrap();
    node.write_at(2 * P, b"end").unwrap();
    let guard = node.map_guard().unwrap();
    let pages: Vec<u64> = node.page_offsets(0, 4, true).unwrap().into_iter().map(Option::unwrap).collect();
    assert_eq!(pages.len(), 3, "the file has three pages; the fourth is past its end");
    space.calls.lock().unwrap().clear();
    let a = mm.map_file_pages(0, 4 * P, RW, false, &pages, Box::new(guard), VmaKind::Anon).unwrap();
    let maps = space.calls.lock().unwrap().iter().filter(|c| c.starts_with("map")).count();
    assert!((2..=4).contains(&maps), "one map per run of pages, plus the tail: {maps}");
    let mut buf = [0u8; 5];
    mm.copy_in(a, &mut buf).unwrap();
    assert_eq!(&buf, b"hello", "the mapping shows the file");
    mm.copy_out(a + P + 7, b"mapped").unwrap();
    let mut back = [0u8; 6];
    node.read_at(P + 7, &mut back).unwrap();
    assert_eq!(&back, b"mapped", "the file shows writes through the mapping");
    mm.unmap(a, 4 * P).unwrap();
    node.read_at(2 * P, &mut back[..3]).unwrap();
    assert_eq!(&back[..3], b"end", "unmapping leaves the file's pages alone");
}

#[test]
fn the_peak_resident_set_outlives_unmaps() {
    let (mm, _) = manager();
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let a = mm.map_anon(0, 8 * PAGE_SIZE, rw, false, false, VmaKind::Anon).unwrap();
    mm.map_anon(0, 4 * PAGE_SIZE, libc::PROT_NONE, false, false, VmaKind::Anon).unwrap();
    assert_eq!(mm.peak_rss(), 8 * PAGE_SIZE, "inaccessible pages are not resident");
    mm.unmap(a, 6 * PAGE_SIZE).unwrap();
    assert_eq!(mm.peak_rss(), 8 * PAGE_SIZE);
    mm.map_anon(0, 16 * PAGE_SIZE, rw, false, false, VmaKind::Anon).unwrap();
    assert_eq!(mm.peak_rss(), 18 * PAGE_SIZE);
}

#[test]
fn fills_go_through_the_file_in_chunks_and_stop_at_the_end_of_the_data() {
    let mf = MemoryFile::new().unwrap();
    let len = 3 * 256 * 1024 + 3 * P;
    let at = mf.allocate(len).unwrap();
    let data: Vec<u8> = (0..len - 5000).map(|i| (i % 251) as u8).collect();
    let read = |pos: u64, dst: &mut [u8]| -> SysResult<usize> {
        let rest = data.get(pos as usize..).unwrap_or(&[]);
        let n = rest.len().min(dst.len());
        dst[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    };
    assert_eq!(mf.fill(at, len, read), Ok(data.len() as u64), "a short read ends the fill");
    let mut back = vec![1u8; len as usize];
    mf.read(at, &mut back);
    assert_eq!(&back[..data.len()], &data[..]);
    assert!(back[data.len()..].iter().all(|&b| b == 0), "past the data the fresh range stays zero");

    // An error before any byte is the fill's; one after some bytes ends it short.
    assert_eq!(mf.fill(at, P, |_, _| Err(Errno::EIO)), Err(Errno::EIO));
    let mut calls = 0;
    let partial = mf.fill(at, len, |_, dst| {
        calls += 1;
        if calls > 1 {
            return Err(Errno::EIO);
        }
        dst.fill(7);
        Ok(dst.len())
    });
    assert_eq!(partial, Ok(256 * 1024));
    mf.free(at, len);
}

#[test]
fn host_fills_move_a_file_through_a_pipe_up_to_its_end() {
    let mf = MemoryFile::new().unwrap();
    // Longer than a pipe's worth (1 MiB), and not a whole number of pages.
    let data: Vec<u8> = (0..(1 << 20) + 3 * P as usize + 123).map(|i| (i % 253) as u8).collect();
    let path = std::env::temp_dir().join(format!("sentry-host-fill-{}", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let len = (data.len() as u64).next_multiple_of(P) + P;
    let at = mf.allocate(len).unwrap();
    // From an offset in the file, as a mapping of a later segment asks.
    let from = P;
    let filled = mf.fill_from_host(at, len, std::os::fd::AsFd::as_fd(&file), from);
    assert_eq!(filled, Ok(data.len() as u64 - from), "the fill stops at the end of the file");
    let mut back = vec![1u8; len as usize];
    mf.read(at, &mut back);
    let n = data.len() - from as usize;
    assert_eq!(&back[..n], &data[from as usize..]);
    assert!(back[n..].iter().all(|&b| b == 0), "past the data the fresh range stays zero");
    // A descriptor the host cannot splice from is an error, for the caller to fill otherwise.
    let dir = std::fs::File::open(std::env::temp_dir()).unwrap();
    assert!(mf.fill_from_host(at, P, std::os::fd::AsFd::as_fd(&dir), 0).is_err());
    mf.free(at, len);
}

#[test]
fn copies_inside_the_memory_file_disjoint_or_overlapping() {
    let mf = MemoryFile::new().unwrap();
    let a = mf.allocate(8 * P).unwrap();
    let src: Vec<u8> = (0..3 * P).map(|i| (i % 253) as u8).collect();
    mf.write(a, &src);
    mf.copy(a, a + 4 * P, 3 * P);
    let mut back = vec![0u8; 3 * P as usize];
    mf.read(a + 4 * P, &mut back);
    assert_eq!(back, src, "disjoint ranges");
    mf.copy(a, a + 100, 3 * P);
    mf.read(a + 100, &mut back);
    assert_eq!(back, src, "overlapping ranges");
    mf.free(a, 8 * P);
}
