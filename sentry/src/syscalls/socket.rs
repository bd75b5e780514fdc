//! Socket system calls: `AF_UNIX` (`net::unix`) and loopback `AF_INET`/`AF_INET6` TCP and UDP
//! (`net::inet`, on the same socket machinery); `socket(2)` of any other family answers
//! `EAFNOSUPPORT`.
//!
//! This layer decodes addresses, message headers and control messages, resolves names to
//! sockets (path names through the file tree), and blocks: the socket operations answer
//! `EAGAIN` and [`block`] sleeps on the kernel's wake-up channel until they can go on, the
//! deadline of `SO_RCVTIMEO`/`SO_SNDTIMEO` passes (`EAGAIN`), or a signal arrives. `read`,
//! `write`, `readv` and `writev` of a socket come here too ([`read_hook`]), so that they block
//! and raise `SIGPIPE` as `recvmsg` and `sendmsg` do.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use syscall_tables::nr;

use super::file::{MAY_EXEC, MAY_WRITE};
use super::{Args, Support, Table};
use crate::abi::{Iovec, Timeval};
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::{SigInfo, ERESTARTSYS};
use crate::kernel::task::{cap, Task};
use crate::net::inet::{self, IPPROTO_IPV6, IPV6_V6ONLY};
use crate::net::unix::{self, Ancillary, Cred, Name, SockType, Socket, SocketFile, MAX_BUF, MIN_RCVBUF, MIN_SNDBUF, SCM_MAX_FD, SOMAXCONN};
use crate::net::{
    EADDRINUSE, ECONNREFUSED, EDESTADDRREQ, EDOM, EINPROGRESS, EISCONN, EMSGSIZE, ENETUNREACH, ENOBUFS, ENOPROTOOPT, EPROTONOSUPPORT, EPROTOTYPE,
    ESOCKTNOSUPPORT,
};
use crate::vfs::{File, S_IFMT, S_IFSOCK};

const FULL_UNIX: Support = Support::Partial(
    "AF_UNIX, and AF_INET/AF_INET6 TCP and UDP over loopback only (no other interface; SOCK_RAW gives EPERM; socketpair of inet gives EOPNOTSUPP); other families give EAFNOSUPPORT",
);
const MSG: Support = Support::Partial("AF_UNIX; no MSG_OOB, MSG_ERRQUEUE or SCM_SECURITY; sockets passed in a cycle of SCM_RIGHTS messages are never collected");
const SOCKOPT: Support = Support::Partial(
    "SOL_SOCKET: SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR, SO_ACCEPTCONN, SO_SNDBUF, SO_RCVBUF, SO_PASSCRED, SO_PEERCRED, SO_RCVTIMEO, SO_SNDTIMEO, SO_LINGER, SO_REUSEADDR, SO_REUSEPORT (inet), SO_KEEPALIVE, SO_BROADCAST, SO_OOBINLINE, SO_DONTROUTE; IPPROTO_TCP: the integer options, recorded and read back (no TCP_INFO, TCP_CONGESTION); IPPROTO_IP: IP_TOS, IP_TTL and a few flags; IPPROTO_IPV6: IPV6_V6ONLY, hop limits, IPV6_TCLASS and a few flags; ENOPROTOOPT otherwise",
);

pub static HANDLERS: Table = &[
    (nr::SOCKET, sys_socket, FULL_UNIX),
    (nr::SOCKETPAIR, sys_socketpair, FULL_UNIX),
    (nr::BIND, sys_bind, Support::Partial("AF_UNIX: path names on tmpfs and the root overlay, abstract names, autobind")),
    (nr::LISTEN, sys_listen, Support::Full),
    (nr::ACCEPT, sys_accept, Support::Full),
    (nr::ACCEPT4, sys_accept4, Support::Full),
    (nr::CONNECT, sys_connect, FULL_UNIX),
    (nr::GETSOCKNAME, sys_getsockname, Support::Full),
    (nr::GETPEERNAME, sys_getpeername, Support::Full),
    (nr::SENDTO, sys_sendto, MSG),
    (nr::RECVFROM, sys_recvfrom, MSG),
    (nr::SENDMSG, sys_sendmsg, MSG),
    (nr::RECVMSG, sys_recvmsg, MSG),
    (nr::SENDMMSG, sys_sendmmsg, MSG),
    (nr::RECVMMSG, sys_recvmmsg, Support::Partial("as recvmsg; the timeout is checked between messages, as Linux does")),
    (nr::SHUTDOWN, sys_shutdown, Support::Full),
    (nr::SETSOCKOPT, sys_setsockopt, SOCKOPT),
    (nr::GETSOCKOPT, sys_getsockopt, SOCKOPT),
];

/// `AF_MAX`: families at or past it are unknown.
const AF_MAX: i32 = 46;
/// `SOCK_MAX`: socket types at or past it are invalid.
const SOCK_MAX: i32 = 11;
const SOCK_TYPE_MASK: i32 = 0xf;
/// `sizeof(struct sockaddr_un)`.
const SOCKADDR_UN_LEN: usize = 110;
/// `sizeof(struct sockaddr_storage)`: the longest address any call copies in.
const SOCKADDR_STORAGE_LEN: usize = 128;
/// Most iovecs one call accepts (`UIO_MAXIOV`).
const UIO_MAXIOV: usize = 1024;
/// Largest piece of a stream send gathered in the sentry at a time.
const CHUNK: usize = 1 << 20;
/// `CAP_NET_ADMIN`: `SO_SNDBUFFORCE`, `SO_RCVBUFFORCE`.
const CAP_NET_ADMIN: u32 = 12;
/// `struct cmsghdr`: `u64 len, i32 level, i32 type`.
const CMSG_HDR: usize = 16;
const SO_RCVTIMEO_NEW: i32 = 66;
const SO_SNDTIMEO_NEW: i32 = 67;

/// `CMSG_ALIGN`.
fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// The socket behind `fd`: `EBADF`, or `ENOTSOCK` for another kind of file.
fn socket_of(t: &Task, fd: i32) -> SysResult<(Arc<File>, Arc<Socket>)> {
    let file = t.file(fd)?;
    let sock = as_socket(&file).ok_or(Errno::ENOTSOCK)?;
    Ok((file, sock))
}

fn as_socket(file: &File) -> Option<Arc<Socket>> {
    file.ops.as_any()?.downcast_ref::<SocketFile>().map(|s| s.sock.clone())
}

/// Credentials for `SO_PEERCRED`: the process and its effective ids.
fn peer_cred(t: &Task) -> Cred {
    Cred { pid: t.pid(), uid: t.creds.euid, gid: t.creds.egid }
}

/// Credentials for `SCM_CREDENTIALS`: the process and its real ids.
fn msg_cred(t: &Task) -> Cred {
    Cred { pid: t.pid(), uid: t.creds.uid, gid: t.creds.gid }
}

/// Runs `op` until it stops answering `EAGAIN`, sleeping in between unless `nonblock`; gives
/// up with `EAGAIN` after `timeout`. A signal ends the wait: `ERESTARTSYS` (`EINTR` when a
/// timeout is set, as Linux's `sock_intr_errno`).
fn block<T>(t: &Task, nonblock: bool, timeout: Option<Duration>, mut op: impl FnMut() -> SysResult<T>) -> SysResult<T> {
    let deadline = timeout.map(|d| Instant::now() + d);
    loop {
        let seen = t.kernel.events.generation();
        match op() {
            Err(Errno::EAGAIN) if !nonblock => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Errno::EAGAIN);
                }
                if t.signal_pending() {
                    return Err(if timeout.is_some() { Errno::EINTR } else { ERESTARTSYS });
                }
                t.kernel.events.wait(seen, deadline);
            }
            r => return r,
        }
    }
}

fn new_socket_file(t: &mut Task, sock: Arc<Socket>, flags: i32) -> SysResult<i32> {
    let status = if flags & libc::SOCK_NONBLOCK != 0 { libc::O_NONBLOCK } else { 0 };
    let file = File::new(Arc::new(SocketFile::new(sock)), None, libc::O_RDWR | status);
    let limit = t.nofile();
    t.files().install(file, flags & libc::SOCK_CLOEXEC != 0, 0, limit)
}

/// Checks `socket(2)`'s and `socketpair(2)`'s arguments; returns the type and its flags.
fn socket_args(family: i32, ty: i32, protocol: i32) -> SysResult<(SockType, i32)> {
    if family == libc::AF_INET || family == libc::AF_INET6 {
        return inet_args(ty, protocol);
    }
    let flags = ty & !SOCK_TYPE_MASK;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if !(0..AF_MAX).contains(&family) {
        return Err(Errno::EAFNOSUPPORT);
    }
    let base = ty & SOCK_TYPE_MASK;
    if base >= SOCK_MAX {
        return Err(Errno::EINVAL);
    }
    if family != libc::AF_UNIX {
        return Err(Errno::EAFNOSUPPORT);
    }
    let kind = SockType::from_raw(base).ok_or(ESOCKTNOSUPPORT)?;
    if protocol != 0 && protocol != libc::AF_UNIX {
        return Err(EPROTONOSUPPORT);
    }
    Ok((kind, flags))
}

/// `inet_create`: TCP is the stream protocol (0 or `IPPROTO_TCP`), UDP the datagram one (0 or
/// `IPPROTO_UDP`); raw sockets are refused (`EPERM`, as for a process without `CAP_NET_RAW`:
/// the sentry has no IP layer to give them).
fn inet_args(ty: i32, protocol: i32) -> SysResult<(SockType, i32)> {
    let flags = ty & !SOCK_TYPE_MASK;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let base = ty & SOCK_TYPE_MASK;
    if base >= SOCK_MAX {
        return Err(Errno::EINVAL);
    }
    let kind = match (base, protocol) {
        (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => SockType::Stream,
        (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => SockType::Dgram,
        (libc::SOCK_STREAM | libc::SOCK_DGRAM, _) => return Err(EPROTONOSUPPORT),
        (libc::SOCK_RAW, _) => return Err(Errno::EPERM),
        _ => return Err(ESOCKTNOSUPPORT),
    };
    Ok((kind, flags))
}

fn sys_socket(t: &mut Task, a: &Args) -> SysResult {
    let family = a.i32(0);
    let (kind, flags) = socket_args(family, a.i32(1), a.i32(2))?;
    let sock = Socket::with_family(family, kind, t.kernel.events.clone(), t.kernel.next_ino(), peer_cred(t));
    Ok(new_socket_file(t, sock, flags)? as u64)
}

fn sys_socketpair(t: &mut Task, a: &Args) -> SysResult {
    let (kind, flags) = socket_args(a.i32(0), a.i32(1), a.i32(2))?;
    if a.i32(0) != libc::AF_UNIX {
        return Err(Errno::EOPNOTSUPP);
    }
    let inos = (t.kernel.next_ino(), t.kernel.next_ino());
    let (x, y) = Socket::pair(kind, &t.kernel.events, inos, peer_cred(t));
    let fx = new_socket_file(t, x, flags)?;
    let fy = match new_socket_file(t, y, flags) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.files().remove(fx);
            return Err(e);
        }
    };
    if let Err(e) = t.mm.write_val(a.u64(3), &[fx, fy]) {
        let (f1, f2) = {
            let mut files = t.files();
            (files.remove(fx), files.remove(fy))
        };
        drop((f1, f2));
        return Err(e);
    }
    Ok(0)
}

/// A `sockaddr` given to a call.
enum Addr {
    /// The family alone (bind: autobind).
    Family(u16),
    Unix(Name),
}

/// Copies in the address of `bind`, `connect`, `sendto` (`move_addr_to_kernel`): `EINVAL` for
/// a negative or too long length, `EFAULT`.
fn copy_addr(t: &Task, addr: u64, len: i32) -> SysResult<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    if len > SOCKADDR_STORAGE_LEN {
        return Err(Errno::EINVAL);
    }
    let mut buf = vec![0u8; len];
    if len > 0 {
        t.mm.copy_in(addr, &mut buf)?;
    }
    Ok(buf)
}

/// Decodes a `sockaddr_un` as `unix_validate_addr` and `unix_mkname_bsd` do. A path ends
/// at its first NUL; an abstract name is every byte after the leading NUL.
fn parse_unix(raw: &[u8]) -> SysResult<Addr> {
    if raw.len() < 2 {
        return Err(Errno::EINVAL);
    }
    let family = u16::from_ne_bytes([raw[0], raw[1]]);
    if raw.len() == 2 {
        return Ok(Addr::Family(family));
    }
    if raw.len() > SOCKADDR_UN_LEN || i32::from(family) != libc::AF_UNIX {
        return Err(Errno::EINVAL);
    }
    let path = &raw[2..];
    if path[0] == 0 {
        return Ok(Addr::Unix(Name::Abstract(path[1..].to_vec())));
    }
    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    Ok(Addr::Unix(Name::Path(path[..end].to_vec())))
}

/// A name for `connect` or `sendto`: `EINVAL` for the family alone.
fn parse_name(raw: &[u8]) -> SysResult<Name> {
    match parse_unix(raw)? {
        Addr::Unix(n) => Ok(n),
        Addr::Family(_) => Err(Errno::EINVAL),
    }
}

/// The socket of type `kind` bound to `name`: through the file tree for a path (`ENOENT`…,
/// `EACCES` without write permission on the socket file, `ECONNREFUSED` for a file that is
/// not a bound socket, `EPROTOTYPE` for a socket of another type); abstract names are per
/// type (`ECONNREFUSED`).
fn find(t: &Task, name: &Name, kind: SockType) -> SysResult<Arc<Socket>> {
    let sock = match name {
        Name::Abstract(a) => unix::lookup_abstract(kind, a).ok_or(ECONNREFUSED)?,
        Name::Inet(_) => return Err(Errno::EINVAL),
        Name::Path(p) => {
            let d = t.lookup(libc::AT_FDCWD, p, true)?;
            let st = d.inode.stat()?;
            if st.mode & S_IFMT != S_IFSOCK {
                return Err(ECONNREFUSED);
            }
            t.may(&st, MAY_WRITE)?;
            unix::lookup_path((st.dev, st.ino)).ok_or(ECONNREFUSED)?
        }
    };
    if sock.ty() != kind {
        return Err(EPROTOTYPE);
    }
    Ok(sock)
}

fn sys_bind(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_of(t, a.fd(0))?;
    let raw = copy_addr(t, a.u64(1), a.i32(2))?;
    if sock.inet() {
        let addr = match inet::parse(sock.family(), &raw)? {
            // `inet_bind` takes AF_UNSPEC for INADDR_ANY (old programs), nothing else.
            inet::Addr::Unspec { any: true } if sock.family() == libc::AF_INET => inet::unbound(libc::AF_INET),
            inet::Addr::Inet(a) if sock.family() == libc::AF_INET || raw_family(&raw) == libc::AF_INET6 => a,
            _ => return Err(Errno::EAFNOSUPPORT),
        };
        inet::bind(&sock, addr)?;
        return Ok(0);
    }
    match parse_unix(&raw)? {
        Addr::Family(f) if i32::from(f) == libc::AF_UNIX => sock.autobind()?,
        Addr::Family(_) => return Err(Errno::EINVAL),
        Addr::Unix(name @ Name::Abstract(_)) => sock.bind(name, None)?,
        Addr::Unix(Name::Path(path)) => bind_path(t, &sock, path)?,
        Addr::Unix(Name::Inet(_)) => return Err(Errno::EINVAL),
    }
    Ok(0)
}

/// Binds a path name: makes the socket inode (`EADDRINUSE` if the name exists), with the
/// permission bits `0777` less the umask, as Linux does.
fn bind_path(t: &Task, sock: &Arc<Socket>, path: Vec<u8>) -> SysResult<()> {
    let p = t.lookup_parent(libc::AT_FDCWD, &path)?;
    let name = p.name(EADDRINUSE)?.to_vec();
    match p.dir.child(&name) {
        Ok(_) => return Err(EADDRINUSE),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    if sock.bound() {
        return Err(Errno::EINVAL);
    }
    t.may(&p.dir.inode.stat()?, MAY_WRITE | MAY_EXEC)?;
    let mode = S_IFSOCK | (0o777 & !t.umask());
    let inode = p.dir.inode.mknod(&name, mode, 0, t.owner()).map_err(|e| if e == Errno::EEXIST { EADDRINUSE } else { e })?;
    let st = inode.stat()?;
    p.dir.insert(&name, inode.clone());
    if let Err(e) = sock.bind(Name::Path(path), Some((st.dev, st.ino))) {
        // Bound meanwhile by another thread: the new node goes again.
        if p.dir.inode.unlink(&name).is_ok() {
            p.dir.invalidate(&name);
        }
        return Err(e);
    }
    Ok(())
}

fn sys_listen(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_of(t, a.fd(0))?;
    if sock.ty() == SockType::Dgram {
        return Err(Errno::EOPNOTSUPP);
    }
    // A negative backlog is a huge unsigned one: clamped.
    let backlog = (a.u32(1) as usize).min(SOMAXCONN);
    if sock.inet() {
        if sock.connected() {
            return Err(Errno::EINVAL);
        }
        // TCP listens on an ephemeral port when unbound.
        if sock.name().is_none() {
            inet::bind(&sock, inet::unbound(sock.family()))?;
        }
        inet::listen(&sock)?;
    }
    sock.listen(backlog, peer_cred(t))?;
    Ok(0)
}

/// Sockets with `SO_PASSCRED` get a name before they connect or send, so that the receiver
/// sees where credentials came from.
fn autobind_for_creds(sock: &Arc<Socket>) -> SysResult<()> {
    if sock.options().passcred && !sock.bound() {
        sock.autobind()?;
    }
    Ok(())
}

/// The `sa_family` of a raw address (0 when too short).
fn raw_family(raw: &[u8]) -> i32 {
    if raw.len() < 2 {
        return 0;
    }
    i32::from(u16::from_ne_bytes([raw[0], raw[1]]))
}

/// Decodes a destination for an inet socket: `EAFNOSUPPORT` for another family; a v6-only
/// socket cannot reach IPv4 (`ENETUNREACH`); anything not loopback is unreachable.
fn inet_dest(sock: &Socket, raw: &[u8]) -> SysResult<std::net::SocketAddr> {
    let inet::Addr::Inet(dest) = inet::parse(sock.family(), raw)? else { return Err(Errno::EAFNOSUPPORT) };
    if dest.is_ipv4() && sock.family() == libc::AF_INET6 && sock.proto_opt(IPPROTO_IPV6, IPV6_V6ONLY).unwrap_or(0) != 0 {
        return Err(ENETUNREACH);
    }
    inet::destination(dest)
}

/// Gives an inet socket about to talk to `dest` its source address: an ephemeral port on
/// loopback when unbound; a wildcard name becomes the loopback address.
fn inet_source(sock: &Arc<Socket>, dest: std::net::SocketAddr) -> SysResult<std::net::SocketAddr> {
    let src = inet::source_for(dest);
    match sock.name() {
        Some(Name::Inet(a)) if a.ip().is_unspecified() => {
            let a = std::net::SocketAddr::new(src, a.port());
            sock.set_name(Name::Inet(a));
            Ok(a)
        }
        Some(Name::Inet(a)) => Ok(a),
        _ => {
            inet::bind(sock, std::net::SocketAddr::new(src, 0))?;
            match sock.name() {
                Some(Name::Inet(a)) => Ok(a),
                _ => Err(Errno::EINVAL),
            }
        }
    }
}

/// `connect` of a TCP or UDP socket. A non-blocking TCP connect answers `EINPROGRESS` even
/// though the loopback connection is made (or refused) at once, as Linux does; the next
/// `connect` reports the outcome and the one after that `EISCONN`.
fn connect_inet(t: &mut Task, file: &File, sock: &Arc<Socket>, raw: &[u8]) -> SysResult {
    if raw.len() >= 2 && raw_family(raw) == libc::AF_UNSPEC {
        // Dissolves a UDP association; a TCP disconnect is not modelled.
        if sock.ty() == SockType::Dgram {
            sock.set_inet_peer(None);
        }
        return Ok(0);
    }
    if sock.ty() == SockType::Dgram {
        let dest = inet_dest(sock, raw)?;
        inet_source(sock, dest)?;
        sock.set_inet_peer(Some(Name::Inet(dest)));
        return Ok(0);
    }
    if sock.in_progress(None) {
        if sock.connected() {
            return Ok(0);
        }
        return Err(sock.take_error().unwrap_or(crate::net::ECONNABORTED));
    }
    if sock.connected() || sock.listening() {
        return Err(EISCONN);
    }
    let dest = inet_dest(sock, raw)?;
    inet_source(sock, dest)?;
    let nonblock = file.flags() & libc::O_NONBLOCK != 0;
    let Some(listener) = inet::lookup(SockType::Stream, dest) else {
        if nonblock {
            sock.set_error(ECONNREFUSED);
            sock.in_progress(Some(true));
            return Err(EINPROGRESS);
        }
        return Err(ECONNREFUSED);
    };
    let ino = t.kernel.next_ino();
    let cred = peer_cred(t);
    let local = Name::Inet(dest);
    block(t, nonblock, sock.options().sndtimeo, || sock.connect(&listener, cred, ino, Some(local.clone())))?;
    if nonblock {
        sock.in_progress(Some(true));
        return Err(EINPROGRESS);
    }
    Ok(0)
}

fn sys_connect(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_of(t, a.fd(0))?;
    let raw = copy_addr(t, a.u64(1), a.i32(2))?;
    if sock.inet() {
        return connect_inet(t, &file, &sock, &raw);
    }
    if sock.ty() == SockType::Dgram {
        if raw.len() < 2 {
            return Err(Errno::EINVAL);
        }
        if i32::from(u16::from_ne_bytes([raw[0], raw[1]])) == libc::AF_UNSPEC {
            sock.connect_dgram(None)?;
            return Ok(0);
        }
        let name = parse_name(&raw)?;
        autobind_for_creds(&sock)?;
        let target = find(t, &name, SockType::Dgram)?;
        sock.connect_dgram(Some(target))?;
        return Ok(0);
    }
    let name = parse_name(&raw)?;
    autobind_for_creds(&sock)?;
    let target = find(t, &name, sock.ty())?;
    let nonblock = file.flags() & libc::O_NONBLOCK != 0;
    let ino = t.kernel.next_ino();
    let cred = peer_cred(t);
    block(t, nonblock, sock.options().sndtimeo, || {
        // A listener closed while we waited refuses; a new one under the name would not be it.
        sock.connect(&target, cred, ino, None)
    })?;
    Ok(0)
}

fn accept_common(t: &mut Task, a: &Args, flags: i32) -> SysResult {
    if flags & !(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let (file, sock) = socket_of(t, a.fd(0))?;
    if sock.ty() == SockType::Dgram {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = file.flags() & libc::O_NONBLOCK != 0;
    let new = block(t, nonblock, sock.options().rcvtimeo, || sock.accept())?;
    let peer = new.peer_name().ok().flatten();
    let family = new.family();
    // Closed again (and the connection with it) if the address cannot be written.
    let wrapped = SocketFile::new(new);
    if a.u64(1) != 0 {
        write_addr(t, a.u64(1), a.u64(2), &sockaddr_of(family, peer.as_ref()))?;
    }
    let status = if flags & libc::SOCK_NONBLOCK != 0 { libc::O_NONBLOCK } else { 0 };
    let file = File::new(Arc::new(wrapped), None, libc::O_RDWR | status);
    let limit = t.nofile();
    Ok(t.files().install(file, flags & libc::SOCK_CLOEXEC != 0, 0, limit)? as u64)
}

fn sys_accept(t: &mut Task, a: &Args) -> SysResult {
    accept_common(t, a, 0)
}

fn sys_accept4(t: &mut Task, a: &Args) -> SysResult {
    accept_common(t, a, a.i32(3))
}

/// The address a socket of `family` reports for `name` (`None`: unnamed; for inet, the
/// wildcard and port 0).
fn sockaddr_of(family: i32, name: Option<&Name>) -> Vec<u8> {
    let v6 = family == libc::AF_INET6;
    match name {
        Some(Name::Inet(a)) => inet::sockaddr(*a, v6),
        Some(n) => n.sockaddr(),
        None if family == libc::AF_UNIX => unix::unnamed_sockaddr(),
        None => inet::sockaddr(inet::unbound(family), v6),
    }
}

/// Writes an address to `addr` with its length at `len_addr` (`move_addr_to_user`): as
/// much as the caller's length allows, and the full length.
fn write_addr(t: &Task, addr: u64, len_addr: u64, sa: &[u8]) -> SysResult<()> {
    let room: i32 = t.mm.read_val(len_addr)?;
    let room = usize::try_from(room).map_err(|_| Errno::EINVAL)?;
    let n = room.min(sa.len());
    if n > 0 {
        t.mm.copy_out(addr, &sa[..n])?;
    }
    t.mm.write_val(len_addr, &(sa.len() as u32))?;
    Ok(())
}

fn sys_getsockname(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_of(t, a.fd(0))?;
    write_addr(t, a.u64(1), a.u64(2), &sockaddr_of(sock.family(), sock.name().as_ref()))?;
    Ok(0)
}

fn sys_getpeername(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_of(t, a.fd(0))?;
    let peer = sock.peer_name()?;
    if sock.inet() && peer.is_none() {
        return Err(crate::net::ENOTCONN);
    }
    write_addr(t, a.u64(1), a.u64(2), &sockaddr_of(sock.family(), peer.as_ref()))?;
    Ok(0)
}

fn sys_shutdown(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_of(t, a.fd(0))?;
    sock.shutdown(a.i32(1))?;
    Ok(0)
}

/// Reads `count` iovecs at `addr`: `EMSGSIZE` past `UIO_MAXIOV` (sendmsg's error; the read
/// and write family pass `EINVAL` instead), `EINVAL` when their total overflows.
fn read_iovecs(t: &Task, addr: u64, count: usize, too_many: Errno) -> SysResult<Vec<Iovec>> {
    if count > UIO_MAXIOV {
        return Err(too_many);
    }
    let mut total: u64 = 0;
    let mut iovs = Vec::with_capacity(count);
    for i in 0..count {
        let iov: Iovec = t.mm.read_val(addr + (i * std::mem::size_of::<Iovec>()) as u64)?;
        total = total.checked_add(iov.len).filter(|&n| n <= i64::MAX as u64).ok_or(Errno::EINVAL)?;
        iovs.push(iov);
    }
    Ok(iovs)
}

fn total_len(iovs: &[Iovec]) -> usize {
    iovs.iter().map(|v| v.len as usize).sum::<usize>().min(super::file::MAX_RW_COUNT)
}

/// Copies `len` bytes starting `skip` bytes into the iovecs' data; `EFAULT` at a fault.
fn gather(t: &Task, iovs: &[Iovec], skip: usize, len: usize) -> SysResult<Vec<u8>> {
    let mut out = vec![0u8; len];
    let mut at = 0;
    let mut pos = 0usize;
    for iov in iovs {
        let l = iov.len as usize;
        if at >= len {
            break;
        }
        if pos + l <= skip {
            pos += l;
            continue;
        }
        let from = skip.saturating_sub(pos);
        let n = (l - from).min(len - at);
        t.mm.copy_in(iov.base + from as u64, &mut out[at..at + n])?;
        at += n;
        pos += l;
    }
    Ok(out)
}

/// Copies `data` out across the iovecs; returns how much landed before a fault.
fn scatter(t: &Task, iovs: &[Iovec], data: &[u8]) -> usize {
    let mut done = 0;
    for iov in iovs {
        if done == data.len() {
            break;
        }
        let n = (iov.len as usize).min(data.len() - done);
        let copied = t.mm.copy_out_partial(iov.base, &data[done..done + n]);
        done += copied;
        if copied < n {
            break;
        }
    }
    done
}

/// A message to send: data, destination and control.
struct Outgoing {
    iovs: Vec<Iovec>,
    /// The destination `sockaddr` as given (decoded by the socket's family).
    to: Option<Vec<u8>>,
    anc: Ancillary,
}

/// Sends through `sock` with `MSG_*` `flags`: the stream path sends piece by piece and
/// returns a short count when interrupted after progress; the others send one message.
/// `EPIPE` on a stream raises `SIGPIPE` unless `MSG_NOSIGNAL`.
fn send_common(t: &Task, file: &File, sock: &Arc<Socket>, mut msg: Outgoing, flags: i32) -> SysResult<usize> {
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = file.flags() & libc::O_NONBLOCK != 0 || flags & libc::MSG_DONTWAIT != 0;
    let timeout = sock.options().sndtimeo;
    let total = total_len(&msg.iovs);
    // TCP ignores a destination, as Linux's tcp_sendmsg does.
    let to = match &msg.to {
        Some(raw) if !sock.inet() => Some(parse_name(raw)?),
        _ => None,
    };
    if sock.inet() && sock.ty() == SockType::Dgram {
        return send_udp(t, sock, &msg, total);
    }
    let r = match sock.ty() {
        SockType::Stream => {
            if to.is_some() {
                return Err(if sock.peer_name().is_ok() { crate::net::EISCONN } else { Errno::EOPNOTSUPP });
            }
            let mut sent = 0;
            loop {
                let chunk = match gather(t, &msg.iovs, sent, (total - sent).min(CHUNK)) {
                    Ok(c) => c,
                    Err(e) => break if sent == 0 { Err(e) } else { Ok(sent) },
                };
                let mut off = 0;
                let mut failed = None;
                loop {
                    match block(t, nonblock, timeout, || sock.send(&chunk[off..], &mut msg.anc, None)) {
                        Ok(n) => off += n,
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                    if off >= chunk.len() {
                        break;
                    }
                }
                sent += off;
                if let Some(e) = failed {
                    break if sent == 0 { Err(e) } else { Ok(sent) };
                }
                if sent >= total {
                    break Ok(sent);
                }
            }
        }
        kind => {
            let to = match (&to, kind) {
                (Some(name), SockType::Dgram) => {
                    autobind_for_creds(sock)?;
                    Some(find(t, name, SockType::Dgram)?)
                }
                // A seqpacket socket ignores the address.
                _ => {
                    if kind == SockType::Dgram {
                        autobind_for_creds(sock)?;
                    }
                    None
                }
            };
            if total + 32 > sock.options().sndbuf {
                return Err(EMSGSIZE);
            }
            let data = gather(t, &msg.iovs, 0, total)?;
            block(t, nonblock, timeout, || sock.send(&data, &mut msg.anc, to.as_ref()))
        }
    };
    if r == Err(Errno::EPIPE) && sock.ty() == SockType::Stream && flags & libc::MSG_NOSIGNAL == 0 {
        t.thread.send(SigInfo::user(libc::SIGPIPE, t.pid(), t.creds.uid));
    }
    r
}

/// A UDP send: to the given address or the connected one (`EDESTADDRREQ` without either),
/// from the socket's address (an ephemeral port if unbound). A datagram nobody receives is
/// dropped; on a connected socket the next call then reports `ECONNREFUSED`, as Linux does
/// when the ICMP port-unreachable comes back.
fn send_udp(t: &Task, sock: &Arc<Socket>, msg: &Outgoing, total: usize) -> SysResult<usize> {
    if let Some(e) = sock.take_error() {
        return Err(e);
    }
    let (dest, connected) = match &msg.to {
        Some(raw) => (inet_dest(sock, raw)?, false),
        None => match sock.inet_peer() {
            Some(Name::Inet(a)) => (a, true),
            _ => return Err(EDESTADDRREQ),
        },
    };
    if dest.port() == 0 {
        return Err(Errno::EINVAL);
    }
    let max = if dest.is_ipv4() { inet::UDP_MAX_V4 } else { inet::UDP_MAX_V6 };
    if total > max {
        return Err(EMSGSIZE);
    }
    if sock.name().is_none() {
        inet::bind(sock, inet::unbound(sock.family()))?;
    }
    let mut from = match sock.name() {
        Some(Name::Inet(a)) => a,
        _ => return Err(Errno::EINVAL),
    };
    if from.ip().is_unspecified() {
        from.set_ip(inet::source_for(dest));
    }
    let data = gather(t, &msg.iovs, 0, total)?;
    let target = inet::lookup(SockType::Dgram, dest);
    if target.is_none() && connected {
        sock.set_error(ECONNREFUSED);
    }
    sock.send_udp(&data, Name::Inet(from), target.as_ref())
}

/// What a receive reports besides the data.
struct Incoming {
    /// The return value: bytes copied, or the datagram's full length with `MSG_TRUNC`.
    ret: usize,
    from: Option<Name>,
    rights: Vec<Arc<File>>,
    cred: Option<Cred>,
    /// `MSG_TRUNC` when a datagram did not fit.
    flags: i32,
}

/// Receives into the iovecs with `MSG_*` `flags`: `MSG_PEEK`, `MSG_DONTWAIT`, `MSG_WAITALL`
/// (streams go on until the buffer is full, the stream ends or a signal comes) and
/// `MSG_TRUNC` (datagrams report their full length).
fn recv_common(t: &Task, file: &File, sock: &Arc<Socket>, iovs: &[Iovec], flags: i32) -> SysResult<Incoming> {
    if flags & (libc::MSG_OOB | libc::MSG_ERRQUEUE) != 0 {
        return Err(if flags & libc::MSG_OOB != 0 { Errno::EOPNOTSUPP } else { Errno::EAGAIN });
    }
    let nonblock = file.flags() & libc::O_NONBLOCK != 0 || flags & libc::MSG_DONTWAIT != 0;
    let peek = flags & libc::MSG_PEEK != 0;
    let timeout = sock.options().rcvtimeo;
    let total = total_len(iovs);
    let mut out = Incoming { ret: 0, from: None, rights: Vec::new(), cred: None, flags: 0 };
    if sock.ty() != SockType::Stream {
        let r = block(t, nonblock, timeout, || sock.recv(total, peek))?;
        let copied = scatter(t, iovs, &r.data);
        if copied < r.data.len() && copied == 0 && !r.data.is_empty() {
            return Err(Errno::EFAULT);
        }
        if r.len > r.data.len() {
            out.flags |= libc::MSG_TRUNC;
        }
        out.ret = if flags & libc::MSG_TRUNC != 0 { r.len } else { copied };
        (out.from, out.rights, out.cred) = (r.from, r.rights, r.cred);
        return Ok(out);
    }
    let waitall = flags & libc::MSG_WAITALL != 0 && !peek;
    let mut done = 0usize;
    loop {
        let want = (total - done).min(CHUNK);
        let r = if done == 0 || waitall {
            block(t, nonblock, timeout, || sock.recv(want, peek))
        } else {
            sock.recv(want, peek)
        };
        let r = match r {
            Ok(r) => r,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        if done == 0 && !sock.inet() {
            (out.from, out.cred) = (r.from.clone(), r.cred);
        }
        let sub = skip_iovecs(iovs, done);
        let copied = scatter(t, &sub, &r.data);
        done += copied;
        let rights = !r.rights.is_empty();
        out.rights.extend(r.rights);
        if copied < r.data.len() {
            if done == 0 {
                return Err(Errno::EFAULT);
            }
            break;
        }
        // The end of the stream, a full buffer, rights (they end a read), or no MSG_WAITALL.
        if r.data.is_empty() || done >= total || rights || !waitall {
            break;
        }
    }
    out.ret = done;
    Ok(out)
}

/// The iovecs past their first `skip` bytes.
fn skip_iovecs(iovs: &[Iovec], mut skip: usize) -> Vec<Iovec> {
    let mut out = Vec::with_capacity(iovs.len());
    for iov in iovs {
        let l = iov.len as usize;
        if skip >= l {
            skip -= l;
            continue;
        }
        out.push(Iovec { base: iov.base + skip as u64, len: (l - skip) as u64 });
        skip = 0;
    }
    out
}

/// Parses the control messages of a send (`__scm_send`): `SCM_RIGHTS` (`EBADF` for a bad
/// descriptor, `EINVAL` past `SCM_MAX_FD`) and `SCM_CREDENTIALS` (`EPERM` for ids the sender
/// may not claim). Other levels are ignored; other types give `EINVAL`.
fn parse_control(t: &Task, control: &[u8]) -> SysResult<Ancillary> {
    let mut anc = Ancillary { rights: Vec::new(), cred: None, own: msg_cred(t) };
    let mut at = 0;
    while at + CMSG_HDR <= control.len() {
        let len = u64::from_ne_bytes(control[at..at + 8].try_into().map_err(|_| Errno::EINVAL)?);
        let level = i32::from_ne_bytes(control[at + 8..at + 12].try_into().map_err(|_| Errno::EINVAL)?);
        let kind = i32::from_ne_bytes(control[at + 12..at + 16].try_into().map_err(|_| Errno::EINVAL)?);
        let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
        if len < CMSG_HDR || len > control.len() - at {
            return Err(Errno::EINVAL);
        }
        let data = &control[at + CMSG_HDR..at + len];
        if level == libc::SOL_SOCKET {
            match kind {
                libc::SCM_RIGHTS => {
                    let n = data.len() / 4;
                    if anc.rights.len() + n > SCM_MAX_FD {
                        return Err(Errno::EINVAL);
                    }
                    for fd in data.chunks_exact(4) {
                        let fd = i32::from_ne_bytes([fd[0], fd[1], fd[2], fd[3]]);
                        anc.rights.push(t.file(fd)?);
                    }
                }
                libc::SCM_CREDENTIALS => {
                    if data.len() != 12 {
                        return Err(Errno::EINVAL);
                    }
                    let word = |i: usize| u32::from_ne_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
                    let cred = Cred { pid: word(0) as i32, uid: word(4), gid: word(8) };
                    check_cred(t, cred)?;
                    anc.cred = Some(cred);
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        at += cmsg_align(len);
    }
    Ok(anc)
}

/// `scm_check_creds`: a sender claims its own pid (or has `CAP_SYS_ADMIN`, and names a live
/// process), one of its uids (or `CAP_SETUID`) and one of its gids (or `CAP_SETGID`).
fn check_cred(t: &Task, cred: Cred) -> SysResult<()> {
    let c = &t.creds;
    let pid_ok = cred.pid == t.pid() || c.capable(cap::SYS_ADMIN);
    let uid_ok = [c.uid, c.euid, c.suid].contains(&cred.uid) || c.capable(cap::SETUID);
    let gid_ok = [c.gid, c.egid, c.sgid].contains(&cred.gid) || c.capable(cap::SETGID);
    if !(pid_ok && uid_ok && gid_ok) {
        return Err(Errno::EPERM);
    }
    if cred.pid != t.pid() && t.kernel.process(cred.pid).is_none() {
        return Err(Errno::ESRCH);
    }
    Ok(())
}

/// `struct msghdr` as the kernel reads it.
struct MsgHdr {
    name: u64,
    namelen: i32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
}

fn read_msghdr(t: &Task, addr: u64) -> SysResult<MsgHdr> {
    let raw: [u64; 7] = t.mm.read_val(addr)?;
    Ok(MsgHdr { name: raw[0], namelen: raw[1] as u32 as i32, iov: raw[2], iovlen: raw[3], control: raw[4], controllen: raw[5] })
}

/// One `sendmsg`: returns the bytes sent.
fn sendmsg_one(t: &Task, file: &File, sock: &Arc<Socket>, addr: u64, flags: i32) -> SysResult<usize> {
    let h = read_msghdr(t, addr)?;
    if h.namelen < 0 {
        return Err(Errno::EINVAL);
    }
    let iovs = read_iovecs(t, h.iov, usize::try_from(h.iovlen).unwrap_or(usize::MAX), EMSGSIZE)?;
    if h.controllen > i32::MAX as u64 {
        return Err(ENOBUFS);
    }
    let to = if h.name != 0 && h.namelen > 0 {
        let raw = copy_addr(t, h.name, h.namelen.min(SOCKADDR_STORAGE_LEN as i32))?;
        if !sock.inet() {
            parse_name(&raw)?;
        }
        Some(raw)
    } else {
        None
    };
    let anc = if h.controllen > 0 {
        let mut control = vec![0u8; h.controllen as usize];
        t.mm.copy_in(h.control, &mut control)?;
        parse_control(t, &control)?
    } else {
        Ancillary { rights: Vec::new(), cred: None, own: msg_cred(t) }
    };
    send_common(t, file, sock, Outgoing { iovs, to, anc }, flags)
}

/// Builds the control messages of a receive into a buffer of `room` bytes (`put_cmsg` and
/// `scm_detach_fds`): credentials first, then as many rights as fit, installed in the
/// caller's table (`MSG_CMSG_CLOEXEC` sets close-on-exec). Returns the bytes, the installed
/// descriptors (to close if the copy-out fails) and `MSG_CTRUNC` when something was cut.
fn build_control(t: &Task, room: usize, cred: Option<Cred>, rights: Vec<Arc<File>>, cloexec: bool) -> (Vec<u8>, Vec<i32>, i32) {
    let mut out = Vec::new();
    let mut flags = 0;
    let header = |out: &mut Vec<u8>, len: usize, kind: i32| {
        out.extend_from_slice(&(len as u64).to_ne_bytes());
        out.extend_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
    };
    if let Some(c) = cred {
        let left = room - out.len();
        if left < CMSG_HDR {
            flags |= libc::MSG_CTRUNC;
        } else {
            let mut data = Vec::with_capacity(12);
            data.extend_from_slice(&c.pid.to_ne_bytes());
            data.extend_from_slice(&c.uid.to_ne_bytes());
            data.extend_from_slice(&c.gid.to_ne_bytes());
            let mut len = CMSG_HDR + data.len();
            if left < len {
                flags |= libc::MSG_CTRUNC;
                len = left;
            }
            let start = out.len();
            header(&mut out, len, libc::SCM_CREDENTIALS);
            out.extend_from_slice(&data[..len - CMSG_HDR]);
            out.resize(start + cmsg_align(CMSG_HDR + data.len()).min(left), 0);
        }
    }
    let mut fds = Vec::new();
    if !rights.is_empty() {
        let left = room - out.len();
        let fit = if left > CMSG_HDR { (left - CMSG_HDR) / 4 } else { 0 };
        let limit = t.nofile();
        for f in rights.iter().take(fit) {
            match t.files().install(f.clone(), cloexec, 0, limit) {
                Ok(fd) => fds.push(fd),
                Err(_) => break,
            }
        }
        if !fds.is_empty() {
            let start = out.len();
            header(&mut out, CMSG_HDR + 4 * fds.len(), libc::SCM_RIGHTS);
            for fd in &fds {
                out.extend_from_slice(&fd.to_ne_bytes());
            }
            out.resize(start + cmsg_align(CMSG_HDR + 4 * fds.len()).min(left), 0);
        }
        if fds.len() < rights.len() {
            flags |= libc::MSG_CTRUNC;
        }
    }
    (out, fds, flags)
}

/// One `recvmsg`: fills the caller's `msghdr` at `addr` (name length, control length,
/// flags); returns the count.
fn recvmsg_one(t: &Task, file: &File, sock: &Arc<Socket>, addr: u64, flags: i32) -> SysResult<usize> {
    let h = read_msghdr(t, addr)?;
    if h.namelen < 0 {
        return Err(Errno::EINVAL);
    }
    let iovs = read_iovecs(t, h.iov, usize::try_from(h.iovlen).unwrap_or(usize::MAX), EMSGSIZE)?;
    let r = recv_common(t, file, sock, &iovs, flags)?;
    let mut out_flags = r.flags;
    let sa = r.from.as_ref().map(|n| sockaddr_of(sock.family(), Some(n))).unwrap_or_default();
    if h.name != 0 {
        let n = sa.len().min(h.namelen as usize);
        t.mm.copy_out(h.name, &sa[..n])?;
    }
    let room = if h.control == 0 { 0 } else { usize::try_from(h.controllen).unwrap_or(usize::MAX).min(i32::MAX as usize) };
    let (control, fds, ctrunc) = build_control(t, room, r.cred, r.rights, flags & libc::MSG_CMSG_CLOEXEC != 0);
    out_flags |= ctrunc;
    let written = (|| {
        if !control.is_empty() {
            t.mm.copy_out(h.control, &control)?;
        }
        // Without a name buffer, msg_namelen is left alone, as Linux does.
        if h.name != 0 {
            t.mm.write_val(addr + 8, &(sa.len() as u32))?;
        }
        t.mm.write_val(addr + 40, &(control.len() as u64))?;
        t.mm.write_val(addr + 48, &out_flags)
    })();
    if let Err(e) = written {
        let closed: Vec<_> = {
            let mut files = t.files();
            fds.iter().map(|&fd| files.remove(fd)).collect()
        };
        drop(closed);
        return Err(e);
    }
    Ok(r.ret)
}

fn sys_sendto(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_of(t, a.fd(0))?;
    let iovs = vec![Iovec { base: a.u64(1), len: a.usize(2).min(super::file::MAX_RW_COUNT) as u64 }];
    let to = if a.u64(4) != 0 && a.i32(5) != 0 {
        let raw = copy_addr(t, a.u64(4), a.i32(5))?;
        if !sock.inet() {
            parse_name(&raw)?;
        }
        Some(raw)
    } else {
        None
    };
    let anc = Ancillary { rights: Vec::new(), cred: None, own: msg_cred(t) };
    Ok(send_common(t, &file, &sock, Outgoing { iovs, to, anc }, a.i32(3))? as u64)
}

fn sys_recvfrom(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_of(t, a.fd(0))?;
    let iovs = vec![Iovec { base: a.u64(1), len: a.usize(2).min(super::file::MAX_RW_COUNT) as u64 }];
    let r = recv_common(t, &file, &sock, &iovs, a.i32(3))?;
    if a.u64(4) != 0 && a.u64(5) != 0 {
        let sa = r.from.as_ref().map(|n| sockaddr_of(sock.family(), Some(n))).unwrap_or_default();
        write_addr(t, a.u64(4), a.u64(5), &sa)?;
    }
    Ok(r.ret as u64)
}

fn sys_sendmsg(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_of(t, a.fd(0))?;
    Ok(sendmsg_one(t, &file, &sock, a.u64(1), a.i32(2))? as u64)
}

fn sys_recvmsg(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_of(t, a.fd(0))?;
    Ok(recvmsg_one(t, &file, &sock, a.u64(1), a.i32(2))? as u64)
}

/// `struct mmsghdr`: a `msghdr` and the count, padded to 64 bytes.
const MMSGHDR: u64 = 64;

fn sys_sendmmsg(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_of(t, a.fd(0))?;
    let count = (a.u32(2) as usize).min(UIO_MAXIOV);
    let mut done = 0u64;
    for i in 0..count as u64 {
        let at = a.u64(1) + i * MMSGHDR;
        match sendmsg_one(t, &file, &sock, at, a.i32(3)) {
            Ok(n) => {
                t.mm.write_val(at + 56, &(n as u32))?;
                done += 1;
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

fn sys_recvmmsg(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_of(t, a.fd(0))?;
    let deadline = if a.u64(4) != 0 {
        let ts: crate::abi::Timespec = t.mm.read_val(a.u64(4))?;
        if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
            return Err(Errno::EINVAL);
        }
        Some(Instant::now() + Duration::new(ts.sec as u64, ts.nsec as u32))
    } else {
        None
    };
    let count = (a.u32(2) as usize).min(UIO_MAXIOV);
    let mut flags = a.i32(3);
    let mut done = 0u64;
    for i in 0..count as u64 {
        let at = a.u64(1) + i * MMSGHDR;
        match recvmsg_one(t, &file, &sock, at, flags & !libc::MSG_WAITFORONE) {
            Ok(n) => {
                t.mm.write_val(at + 56, &(n as u32))?;
                done += 1;
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        if flags & libc::MSG_WAITFORONE != 0 {
            flags |= libc::MSG_DONTWAIT;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    Ok(done)
}

/// Reads an `int` option value: `EINVAL` when shorter.
fn opt_int(t: &Task, addr: u64, len: i32) -> SysResult<i32> {
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    t.mm.read_val(addr)
}

/// A `SO_RCVTIMEO`/`SO_SNDTIMEO` value: zero is no timeout, a negative one times out at once.
fn opt_timeout(t: &Task, addr: u64, len: i32) -> SysResult<Option<Duration>> {
    if len < 16 {
        return Err(Errno::EINVAL);
    }
    let tv: Timeval = t.mm.read_val(addr)?;
    if !(0..1_000_000).contains(&tv.usec) {
        return Err(EDOM);
    }
    if tv.sec < 0 {
        return Ok(Some(Duration::ZERO));
    }
    if tv.sec == 0 && tv.usec == 0 {
        return Ok(None);
    }
    Ok(Some(Duration::new(tv.sec as u64, tv.usec as u32 * 1000)))
}

/// The integer options of `IPPROTO_TCP`, `IPPROTO_IP` and `IPPROTO_IPV6` the sentry records,
/// with what Linux reports before they are set; `None` for an option it does not know
/// (`ENOPROTOOPT`).
fn proto_opt_default(sock: &Socket, level: i32, name: i32) -> Option<i32> {
    let v6 = sock.family() == libc::AF_INET6;
    match level {
        libc::IPPROTO_TCP if sock.ty() == SockType::Stream => match name {
            libc::TCP_MAXSEG => Some(536),
            libc::TCP_KEEPIDLE => Some(7200),
            libc::TCP_KEEPINTVL => Some(75),
            libc::TCP_KEEPCNT => Some(9),
            libc::TCP_SYNCNT => Some(6),
            libc::TCP_LINGER2 => Some(60),
            libc::TCP_QUICKACK => Some(1),
            libc::TCP_NOTSENT_LOWAT => Some(-1),
            libc::TCP_NODELAY
            | libc::TCP_CORK
            | libc::TCP_DEFER_ACCEPT
            | libc::TCP_WINDOW_CLAMP
            | libc::TCP_USER_TIMEOUT
            | libc::TCP_FASTOPEN
            | libc::TCP_FASTOPEN_CONNECT
            | libc::TCP_THIN_LINEAR_TIMEOUTS => Some(0),
            _ => None,
        },
        // IPv6 sockets take the IPv4 options too (for mapped traffic).
        libc::IPPROTO_IP => match name {
            libc::IP_TTL => Some(64),
            libc::IP_MTU_DISCOVER | libc::IP_MULTICAST_TTL | libc::IP_MULTICAST_LOOP => Some(1),
            libc::IP_TOS
            | libc::IP_RECVERR
            | libc::IP_PKTINFO
            | libc::IP_RECVTTL
            | libc::IP_RECVTOS
            | libc::IP_FREEBIND
            | libc::IP_BIND_ADDRESS_NO_PORT => Some(0),
            _ => None,
        },
        IPPROTO_IPV6 if v6 => match name {
            libc::IPV6_UNICAST_HOPS => Some(64),
            libc::IPV6_MULTICAST_HOPS | libc::IPV6_MULTICAST_LOOP => Some(1),
            IPV6_V6ONLY
            | libc::IPV6_RECVPKTINFO
            | libc::IPV6_TCLASS
            | libc::IPV6_RECVTCLASS
            | libc::IPV6_RECVERR
            | libc::IPV6_MTU_DISCOVER
            | libc::IPV6_RECVHOPLIMIT => Some(0),
            _ => None,
        },
        _ => None,
    }
}

/// Options that read back as 0 or 1 whatever was set.
fn is_flag(level: i32, name: i32) -> bool {
    match level {
        libc::IPPROTO_IP => matches!(
            name,
            libc::IP_RECVERR | libc::IP_PKTINFO | libc::IP_RECVTTL | libc::IP_RECVTOS | libc::IP_FREEBIND | libc::IP_BIND_ADDRESS_NO_PORT | libc::IP_MULTICAST_LOOP
        ),
        IPPROTO_IPV6 => matches!(
            name,
            IPV6_V6ONLY | libc::IPV6_RECVPKTINFO | libc::IPV6_RECVTCLASS | libc::IPV6_RECVERR | libc::IPV6_MULTICAST_LOOP | libc::IPV6_RECVHOPLIMIT
        ),
        _ => false,
    }
}

/// `setsockopt` of `IPPROTO_TCP`, `IPPROTO_IP` or `IPPROTO_IPV6` on an inet socket: the value
/// is checked as Linux checks it and recorded.
fn set_proto_opt(t: &Task, sock: &Socket, level: i32, name: i32, val: u64, len: i32) -> SysResult<()> {
    proto_opt_default(sock, level, name).ok_or(ENOPROTOOPT)?;
    let v = opt_int(t, val, len)?;
    let v = match (level, name) {
        (libc::IPPROTO_TCP, libc::TCP_NODELAY | libc::TCP_CORK | libc::TCP_QUICKACK) => i32::from(v != 0),
        (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE | libc::TCP_KEEPINTVL) if !(1..=32767).contains(&v) => return Err(Errno::EINVAL),
        (libc::IPPROTO_TCP, libc::TCP_KEEPCNT | libc::TCP_SYNCNT) if !(1..=127).contains(&v) => return Err(Errno::EINVAL),
        (libc::IPPROTO_IP, libc::IP_TTL) if v == -1 => 64,
        (libc::IPPROTO_IP, libc::IP_TTL) if !(1..=255).contains(&v) => return Err(Errno::EINVAL),
        // The ECN bits belong to TCP.
        (libc::IPPROTO_IP, libc::IP_TOS) if sock.ty() == SockType::Stream => v & !3 & 0xff,
        (libc::IPPROTO_IP, libc::IP_TOS) => v & 0xff,
        (IPPROTO_IPV6, IPV6_V6ONLY) if sock.name().is_some() => return Err(Errno::EINVAL),
        (IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS | libc::IPV6_MULTICAST_HOPS) if v == -1 => proto_opt_default(sock, level, name).unwrap_or(64),
        (IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS | libc::IPV6_MULTICAST_HOPS) if !(0..=255).contains(&v) => return Err(Errno::EINVAL),
        (IPPROTO_IPV6, libc::IPV6_TCLASS) if v == -1 => 0,
        (IPPROTO_IPV6, libc::IPV6_TCLASS) if !(0..=255).contains(&v) => return Err(Errno::EINVAL),
        _ if is_flag(level, name) => i32::from(v != 0),
        _ => v,
    };
    sock.set_proto_opt(level, name, v);
    Ok(())
}

fn sys_setsockopt(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_of(t, a.fd(0))?;
    let (level, name, val, len) = (a.i32(1), a.i32(2), a.u64(3), a.i32(4));
    if level != libc::SOL_SOCKET && sock.inet() {
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        set_proto_opt(t, &sock, level, name, val, len)?;
        return Ok(0);
    }
    if level != libc::SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    match name {
        libc::SO_REUSEPORT if sock.inet() => {
            let on = opt_int(t, val, len)? != 0;
            sock.set_options(|o| o.reuseport = on);
        }
        libc::SO_SNDBUF | libc::SO_RCVBUF | libc::SO_SNDBUFFORCE | libc::SO_RCVBUFFORCE => {
            let v = opt_int(t, val, len)?;
            let forced = matches!(name, libc::SO_SNDBUFFORCE | libc::SO_RCVBUFFORCE);
            if forced && !t.creds.capable(CAP_NET_ADMIN) {
                return Err(Errno::EPERM);
            }
            let v = if forced { v.max(0) as usize } else { (v as u32 as usize).min(MAX_BUF) };
            let doubled = v.min(i32::MAX as usize / 2) * 2;
            if matches!(name, libc::SO_SNDBUF | libc::SO_SNDBUFFORCE) {
                sock.set_options(|o| o.sndbuf = doubled.max(MIN_SNDBUF));
            } else {
                sock.set_options(|o| o.rcvbuf = doubled.max(MIN_RCVBUF));
            }
        }
        libc::SO_PASSCRED | libc::SO_REUSEADDR | libc::SO_KEEPALIVE | libc::SO_BROADCAST | libc::SO_OOBINLINE | libc::SO_DONTROUTE => {
            let on = opt_int(t, val, len)? != 0;
            sock.set_options(|o| match name {
                libc::SO_PASSCRED => o.passcred = on,
                libc::SO_REUSEADDR => o.reuseaddr = on,
                libc::SO_KEEPALIVE => o.keepalive = on,
                libc::SO_BROADCAST => o.broadcast = on,
                libc::SO_OOBINLINE => o.oobinline = on,
                _ => o.dontroute = on,
            });
        }
        libc::SO_RCVTIMEO | SO_RCVTIMEO_NEW => {
            let d = opt_timeout(t, val, len)?;
            sock.set_options(|o| o.rcvtimeo = d);
        }
        libc::SO_SNDTIMEO | SO_SNDTIMEO_NEW => {
            let d = opt_timeout(t, val, len)?;
            sock.set_options(|o| o.sndtimeo = d);
        }
        libc::SO_LINGER => {
            if len < 8 {
                return Err(Errno::EINVAL);
            }
            let [onoff, secs]: [i32; 2] = [t.mm.read_val(val)?, t.mm.read_val(val + 4)?];
            sock.set_options(|o| o.linger = if onoff != 0 { (true, secs.max(0)) } else { (false, o.linger.1) });
        }
        _ => return Err(ENOPROTOOPT),
    }
    Ok(0)
}

fn sys_getsockopt(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_of(t, a.fd(0))?;
    let (level, name, val, len_addr) = (a.i32(1), a.i32(2), a.u64(3), a.u64(4));
    if level != libc::SOL_SOCKET && !sock.inet() {
        return Err(Errno::EOPNOTSUPP);
    }
    let len: i32 = t.mm.read_val(len_addr)?;
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    if level != libc::SOL_SOCKET {
        let dflt = proto_opt_default(&sock, level, name).ok_or(ENOPROTOOPT)?;
        let v = sock.proto_opt(level, name).unwrap_or(dflt);
        let bytes = v.to_ne_bytes();
        let n = len.min(bytes.len());
        t.mm.copy_out(val, &bytes[..n])?;
        t.mm.write_val(len_addr, &(n as u32))?;
        return Ok(0);
    }
    let o = sock.options();
    let int = |v: i32| v.to_ne_bytes().to_vec();
    let timeval = |d: Option<Duration>| {
        let d = d.unwrap_or_default();
        let mut v = (d.as_secs() as i64).to_ne_bytes().to_vec();
        v.extend_from_slice(&i64::from(d.subsec_micros()).to_ne_bytes());
        v
    };
    let bytes = match name {
        libc::SO_TYPE => int(sock.ty().raw()),
        libc::SO_DOMAIN => int(sock.family()),
        libc::SO_PROTOCOL if sock.inet() => int(if sock.ty() == SockType::Stream { libc::IPPROTO_TCP } else { libc::IPPROTO_UDP }),
        libc::SO_PROTOCOL => int(0),
        libc::SO_REUSEPORT if sock.inet() => int(i32::from(o.reuseport)),
        libc::SO_ERROR => int(sock.take_error().map_or(0, |e| e.0)),
        libc::SO_ACCEPTCONN => int(i32::from(sock.listening())),
        libc::SO_SNDBUF => int(o.sndbuf as i32),
        libc::SO_RCVBUF => int(o.rcvbuf as i32),
        libc::SO_PASSCRED => int(i32::from(o.passcred)),
        libc::SO_REUSEADDR => int(i32::from(o.reuseaddr)),
        libc::SO_KEEPALIVE => int(i32::from(o.keepalive)),
        libc::SO_BROADCAST => int(i32::from(o.broadcast)),
        libc::SO_OOBINLINE => int(i32::from(o.oobinline)),
        libc::SO_DONTROUTE => int(i32::from(o.dontroute)),
        libc::SO_RCVLOWAT | libc::SO_SNDLOWAT => int(1),
        libc::SO_RCVTIMEO | SO_RCVTIMEO_NEW => timeval(o.rcvtimeo),
        libc::SO_SNDTIMEO | SO_SNDTIMEO_NEW => timeval(o.sndtimeo),
        libc::SO_LINGER => {
            let mut v = int(i32::from(o.linger.0));
            v.extend_from_slice(&o.linger.1.to_ne_bytes());
            v
        }
        libc::SO_PEERCRED => {
            // Only AF_UNIX knows who is at the other end.
            let c = if sock.inet() { Cred::NONE } else { sock.peercred() };
            let mut v = int(c.pid);
            v.extend_from_slice(&c.uid.to_ne_bytes());
            v.extend_from_slice(&c.gid.to_ne_bytes());
            v
        }
        _ => return Err(ENOPROTOOPT),
    };
    let n = len.min(bytes.len());
    t.mm.copy_out(val, &bytes[..n])?;
    t.mm.write_val(len_addr, &(n as u32))?;
    Ok(0)
}

/// `read(2)` of a socket: a receive without flags (`None` for other files).
pub(super) fn read_hook(t: &Task, file: &File, addr: u64, count: usize) -> Option<SysResult> {
    let sock = as_socket(file)?;
    Some(rw(t, file, &sock, vec![Iovec { base: addr, len: count.min(super::file::MAX_RW_COUNT) as u64 }], false))
}

/// `write(2)` of a socket: a send without flags.
pub(super) fn write_hook(t: &Task, file: &File, addr: u64, count: usize) -> Option<SysResult> {
    let sock = as_socket(file)?;
    Some(rw(t, file, &sock, vec![Iovec { base: addr, len: count.min(super::file::MAX_RW_COUNT) as u64 }], true))
}

/// `readv(2)` and `writev(2)` of a socket.
pub(super) fn vector_hook(t: &Task, file: &File, iov: u64, count: i32, write: bool) -> Option<SysResult> {
    let sock = as_socket(file)?;
    let iovs = match usize::try_from(count).map_err(|_| Errno::EINVAL).and_then(|n| read_iovecs(t, iov, n, Errno::EINVAL)) {
        Ok(v) => v,
        Err(e) => return Some(Err(e)),
    };
    Some(rw(t, file, &sock, iovs, write))
}

fn rw(t: &Task, file: &File, sock: &Arc<Socket>, iovs: Vec<Iovec>, write: bool) -> SysResult {
    // Like Linux's sock_read_iter and sock_write_iter: nothing to move, nothing done.
    if total_len(&iovs) == 0 {
        return Ok(0);
    }
    if write {
        let anc = Ancillary { rights: Vec::new(), cred: None, own: msg_cred(t) };
        send_common(t, file, sock, Outgoing { iovs, to: None, anc }, 0).map(|n| n as u64)
    } else {
        // Rights that come with the data are closed: there is no control buffer.
        recv_common(t, file, sock, &iovs, 0).map(|r| r.ret as u64)
    }
}
