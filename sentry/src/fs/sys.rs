//! `/sys`: the few files programs probe, built from the sentry's own view (the host's `/sys`
//! is never read). The CPU count is the host's, as `sched_getaffinity` and `nproc` report it.

use std::sync::Arc;

use super::proc::fmt::cpu_list;
use super::synthetic::{Attr, Dir, GenFile};
use crate::vfs::{Inode, S_IFDIR};

/// `statfs` type of `/sys`.
const SYSFS_MAGIC: u64 = 0x6265_6572;

/// A new `/sys` for a machine with `cpus` processors.
pub fn sysfs_with(cpus: usize) -> Arc<Dir> {
    let dev = super::tmpfs::anon_dev();
    super::proc::register_fs(dev, ("sysfs", "sysfs", "ro,nosuid,nodev,noexec,relatime", "ro"));
    super::synthetic::register_magic(dev, SYSFS_MAGIC);
    let dir = |entries: Vec<(&str, Arc<dyn Inode>)>| -> Arc<dyn Inode> { Dir::with(Attr::new(S_IFDIR | 0o755, dev), entries) };
    let file = |text: String| -> Arc<dyn Inode> {
        let bytes = text.into_bytes();
        GenFile::new(0o444, dev, move || Ok(bytes.clone())).build()
    };
    let list = format!("{}\n", cpu_list(cpus));
    let names: Vec<String> = (0..cpus).map(|i| format!("cpu{i}")).collect();
    let mut cpu: Vec<(&str, Arc<dyn Inode>)> = names
        .iter()
        .enumerate()
        // cpu0 has no `online` switch on Linux; the others say they are on.
        .map(|(i, n)| (n.as_str(), if i == 0 { dir(vec![]) } else { dir(vec![("online", file("1\n".into()))]) }))
        .collect();
    cpu.extend([
        ("kernel_max", file(format!("{}\n", cpus.max(1) - 1))),
        ("offline", file("\n".into())),
        ("online", file(list.clone())),
        ("possible", file(list.clone())),
        ("present", file(list)),
    ]);
    let system = dir(vec![("cpu", dir(cpu))]);
    let devices = dir(vec![("system", system)]);
    let thp = dir(vec![
        ("defrag", file("always defer defer+madvise [madvise] never\n".into())),
        ("enabled", file("always [madvise] never\n".into())),
    ]);
    let kernel = dir(vec![("mm", dir(vec![("transparent_hugepage", thp)]))]);
    let fs = dir(vec![("cgroup", dir(vec![]))]);
    Dir::with(
        Attr::new(S_IFDIR | 0o555, dev),
        vec![
            ("block", dir(vec![])),
            ("bus", dir(vec![])),
            ("class", dir(vec![])),
            ("dev", dir(vec![])),
            ("devices", devices),
            ("firmware", dir(vec![])),
            ("fs", fs),
            ("kernel", kernel),
            ("module", dir(vec![])),
        ],
    )
}

/// The sandbox's `/sys`.
pub fn sysfs() -> Arc<Dir> {
    sysfs_with(super::host::host_cpus())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::FileOps;

    fn read(root: &Arc<Dir>, path: &str) -> String {
        let mut node: Arc<dyn Inode> = root.clone();
        for name in path.split('/') {
            node = node.lookup(name.as_bytes()).unwrap();
        }
        let f: Arc<dyn FileOps> = node.open(libc::O_RDONLY).unwrap();
        let mut buf = vec![0u8; 256];
        let n = f.read(0, &mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn cpu_files_agree_with_the_count() {
        let sys = sysfs_with(4);
        assert_eq!(read(&sys, "devices/system/cpu/online"), "0-3\n");
        assert_eq!(read(&sys, "devices/system/cpu/possible"), "0-3\n");
        assert_eq!(read(&sys, "devices/system/cpu/cpu3/online"), "1\n");
        let cpu = sys.lookup(b"devices").unwrap().lookup(b"system").unwrap().lookup(b"cpu").unwrap();
        let entries = cpu.open(libc::O_RDONLY).unwrap().readdir(0).unwrap();
        let cpus = entries.iter().filter(|e| e.name.starts_with(b"cpu") && e.kind == libc::DT_DIR).count();
        assert_eq!(cpus, 4, "glibc counts cpuN directories for _SC_NPROCESSORS_CONF");
        assert_eq!(read(&sysfs_with(1), "devices/system/cpu/online"), "0\n");
        assert_eq!(read(&sys, "kernel/mm/transparent_hugepage/enabled"), "always [madvise] never\n");
        assert!(sys.lookup(b"fs").unwrap().lookup(b"cgroup").unwrap().open(libc::O_RDONLY).is_ok());
        assert_eq!(sys.lookup(b"devices").unwrap().open(libc::O_WRONLY).err(), Some(crate::errno::Errno::EISDIR));
    }
}
