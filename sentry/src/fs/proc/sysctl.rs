//! `/proc/sys`: the sandbox's kernel parameters. Read-only except `kernel/hostname`, which
//! root inside the sandbox may write (as `sethostname` does).

use std::sync::Arc;

use super::{caller, fmt, Shared};
use crate::errno::{Errno, SysResult};
use crate::fs::synthetic::{Attr, Dir, GenFile};
use crate::kernel::{PID_MAX, RELEASE, VERSION};
use crate::vfs::{Inode, S_IFDIR};

/// Longest host name (`HOST_NAME_MAX`).
const HOST_NAME_MAX: usize = 64;

/// The new host name in what was written to `hostname`: up to the first newline.
pub fn parse_hostname(buf: &[u8]) -> SysResult<Vec<u8>> {
    let name = buf.split(|&b| b == b'\n').next().unwrap_or(b"");
    if name.len() > HOST_NAME_MAX {
        return Err(Errno::EINVAL);
    }
    Ok(name.to_vec())
}

pub(super) fn tree(fs: &Arc<Shared>) -> Arc<dyn Inode> {
    let dev = fs.dev;
    let dir = |entries: Vec<(&str, Arc<dyn Inode>)>| -> Arc<dyn Inode> { Dir::with(Attr::new(S_IFDIR | 0o555, dev), entries) };
    let value = |v: String| -> Arc<dyn Inode> {
        let text = format!("{v}\n").into_bytes();
        GenFile::new(0o444, dev, move || Ok(text.clone())).build()
    };
    let hostname = GenFile::new(0o644, dev, || {
        let c = caller()?;
        let mut name = c.kernel.hostname.lock().unwrap().clone();
        name.push(b'\n');
        Ok(name)
    })
    .writable(|buf| {
        let c = caller()?;
        let euid = c.process.state.lock().unwrap().resources.as_ref().map_or(0, |r| r.creds.euid);
        if euid != 0 {
            return Err(Errno::EPERM);
        }
        *c.kernel.hostname.lock().unwrap() = parse_hostname(buf)?;
        Ok(())
    })
    .build();
    let boot_id = fs.boot_id.clone().into_bytes();
    let random = dir(vec![
        ("boot_id", GenFile::new(0o444, dev, move || Ok(boot_id.clone())).build()),
        ("entropy_avail", value("256".into())),
        ("poolsize", value("256".into())),
        (
            "uuid",
            GenFile::new(0o444, dev, || {
                let mut b = [0u8; 16];
                crate::fs::host::fill_random(&mut b);
                Ok(fmt::uuid(b).into_bytes())
            })
            .build(),
        ),
    ]);
    let kernel = dir(vec![
        ("cap_last_cap", value(fmt::CAP_LAST_CAP.to_string())),
        ("domainname", value("(none)".into())),
        ("hostname", hostname),
        ("ngroups_max", value("65536".into())),
        ("osrelease", value(RELEASE.into())),
        ("ostype", value("Linux".into())),
        ("overflowgid", value("65534".into())),
        ("overflowuid", value("65534".into())),
        ("pid_max", value(PID_MAX.to_string())),
        ("random", random),
        ("threads-max", value("65536".into())),
        ("version", value(VERSION.into())),
    ]);
    let vm = dir(vec![("max_map_count", value("65530".into())), ("overcommit_memory", value("0".into()))]);
    let fs_dir = dir(vec![
        ("file-max", value(i64::MAX.to_string())),
        ("nr_open", value("1048576".into())),
        ("pipe-max-size", value("1048576".into())),
    ]);
    let net = dir(vec![("core", dir(vec![("somaxconn", value("4096".into()))]))]);
    dir(vec![("fs", fs_dir), ("kernel", kernel), ("net", net), ("vm", vm)])
}
