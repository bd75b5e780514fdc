//! Loopback `AF_INET` and `AF_INET6`: socket addresses and the port table.
//!
//! A TCP or UDP socket is a [`Socket`] of `net::unix` whose name is a [`Name::Inet`]; this
//! module decodes and encodes `sockaddr_in`/`sockaddr_in6`, keeps who is bound to which port,
//! picks ephemeral ports, and finds the socket a connection or datagram reaches. Only
//! `127.0.0.0/8`, `::1` and the wildcards exist: the sandbox has no other interface yet.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are kept as IPv4 everywhere, so that a dual
//! stack socket and an `AF_INET` one compare equal; an `AF_INET6` socket shows them mapped.
//!
//! Lock order: the table is never held while a socket's state is locked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::unix::{Name, SockType, Socket};
use super::{EADDRINUSE, EADDRNOTAVAIL, ENETUNREACH};
use crate::errno::{Errno, SysResult};

/// `net.ipv4.ip_local_port_range`.
pub const EPHEMERAL_FIRST: u16 = 32768;
pub const EPHEMERAL_LAST: u16 = 60999;
/// `sizeof(struct sockaddr_in)`, `sizeof(struct sockaddr_in6)`, and the shortest
/// `sockaddr_in6` Linux takes (`SIN6_LEN_RFC2133`, without `sin6_scope_id`).
pub const SOCKADDR_IN_LEN: usize = 16;
pub const SOCKADDR_IN6_LEN: usize = 28;
pub const SIN6_LEN_RFC2133: usize = 24;
/// The largest UDP payload over IPv4 and IPv6 (65535 less the headers).
pub const UDP_MAX_V4: usize = 65507;
pub const UDP_MAX_V6: usize = 65527;
pub const IPPROTO_IPV6: i32 = 41;
pub const IPV6_V6ONLY: i32 = 26;

/// Keeps IPv4-mapped addresses as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// The `sockaddr_in` (or for an `AF_INET6` socket, `v6`, the `sockaddr_in6`) of `addr`.
pub fn sockaddr(addr: SocketAddr, v6: bool) -> Vec<u8> {
    let port = addr.port().to_be_bytes();
    if v6 {
        let ip = match addr.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let mut v = u16::try_from(libc::AF_INET6).unwrap_or(10).to_ne_bytes().to_vec();
        v.extend_from_slice(&port);
        v.extend_from_slice(&[0; 4]);
        v.extend_from_slice(&ip.octets());
        v.extend_from_slice(&[0; 4]);
        v
    } else {
        let ip = match addr.ip() {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
        };
        let mut v = u16::try_from(libc::AF_INET).unwrap_or(2).to_ne_bytes().to_vec();
        v.extend_from_slice(&port);
        v.extend_from_slice(&ip.octets());
        v.extend_from_slice(&[0; 8]);
        v
    }
}

/// The name of an unbound socket of `family`: the wildcard, port 0.
pub fn unbound(family: i32) -> SocketAddr {
    if family == libc::AF_INET6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    }
}

/// A decoded `sockaddr` given to an inet socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Addr {
    /// `AF_UNSPEC` (connect: dissolve; bind: the IPv4 wildcard, when the address is zero).
    Unspec { any: bool },
    Inet(SocketAddr),
}

/// Decodes `raw` for a socket of `family` as `inet_bind`/`inet6_bind`/`*_connect` do: `EINVAL`
/// when too short, `EAFNOSUPPORT` for another family. An `AF_INET6` socket takes a
/// `sockaddr_in` too (connect and send reach IPv4 through it); the callers refuse it where
/// Linux does.
pub fn parse(family: i32, raw: &[u8]) -> SysResult<Addr> {
    let min = if family == libc::AF_INET6 { SIN6_LEN_RFC2133 } else { SOCKADDR_IN_LEN };
    if raw.len() < min {
        return Err(Errno::EINVAL);
    }
    let sa_family = i32::from(u16::from_ne_bytes([raw[0], raw[1]]));
    let port = u16::from_be_bytes([raw[2], raw[3]]);
    match sa_family {
        libc::AF_INET => {
            let ip = Ipv4Addr::new(raw[4], raw[5], raw[6], raw[7]);
            Ok(Addr::Inet(SocketAddr::new(IpAddr::V4(ip), port)))
        }
        libc::AF_INET6 if family == libc::AF_INET6 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&raw[8..24]);
            Ok(Addr::Inet(SocketAddr::new(canonical(IpAddr::V6(Ipv6Addr::from(o))), port)))
        }
        libc::AF_UNSPEC => Ok(Addr::Unspec { any: raw[4..8] == [0; 4] }),
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// Whether `ip` is an address of this host (loopback) or the wildcard.
fn local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
}

/// The address a connection or datagram to `dest` reaches: the wildcard means this host;
/// anything but loopback is unreachable (there is no other interface).
pub fn destination(dest: SocketAddr) -> SysResult<SocketAddr> {
    let ip = match dest.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip if ip.is_loopback() => ip,
        _ => return Err(ENETUNREACH),
    };
    Ok(SocketAddr::new(ip, dest.port()))
}

/// The source address of traffic to `dest`.
pub fn source_for(dest: SocketAddr) -> IpAddr {
    if dest.is_ipv4() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    }
}

struct Binding {
    proto: SockType,
    port: u16,
    /// `None`: a wildcard.
    ip: Option<IpAddr>,
    /// Which families a wildcard takes (a dual-stack `::` takes both).
    v4: bool,
    v6: bool,
    reuseaddr: bool,
    reuseport: bool,
    /// A TCP listener.
    listening: bool,
    sock: Weak<Socket>,
}

impl Binding {
    /// Whether traffic to `ip` may reach this binding.
    fn covers(&self, ip: IpAddr) -> bool {
        match self.ip {
            Some(mine) => mine == ip,
            None => if ip.is_ipv4() { self.v4 } else { self.v6 },
        }
    }

    /// Whether two bindings of one port claim a common address.
    fn overlaps(&self, other: &Binding) -> bool {
        match (self.ip, other.ip) {
            (Some(a), Some(b)) => a == b,
            (Some(a), None) => other.covers(a),
            (None, Some(b)) => self.covers(b),
            (None, None) => (self.v4 && other.v4) || (self.v6 && other.v6),
        }
    }
}

fn table() -> &'static Mutex<Vec<Binding>> {
    static TABLE: Mutex<Vec<Binding>> = Mutex::new(Vec::new());
    &TABLE
}

/// Whether `new` may share its port with `old`.
fn compatible(new: &Binding, old: &Binding) -> bool {
    (new.reuseport && old.reuseport) || (new.reuseaddr && old.reuseaddr && !old.listening)
}

/// Binds `sock` to `addr` (port 0: an ephemeral port): `EINVAL` if it has a name,
/// `EADDRNOTAVAIL` for an address not of this host, `EADDRINUSE` when taken.
pub fn bind(sock: &Arc<Socket>, addr: SocketAddr) -> SysResult<()> {
    let ip = canonical(addr.ip());
    if !local(ip) {
        return Err(EADDRNOTAVAIL);
    }
    let v6only = sock.family() == libc::AF_INET6 && sock.proto_opt(IPPROTO_IPV6, IPV6_V6ONLY).unwrap_or(0) != 0;
    if v6only && ip.is_ipv4() {
        return Err(EADDRNOTAVAIL);
    }
    if sock.name().is_some() {
        return Err(Errno::EINVAL);
    }
    let o = sock.options();
    let wildcard = ip.is_unspecified();
    let mut b = Binding {
        proto: sock.ty(),
        port: addr.port(),
        ip: (!wildcard).then_some(ip),
        v4: ip.is_ipv4() || !v6only,
        v6: ip.is_ipv6(),
        reuseaddr: o.reuseaddr,
        reuseport: o.reuseport,
        listening: false,
        sock: Arc::downgrade(sock),
    };
    let mut t = table().lock().unwrap_or_else(PoisonError::into_inner);
    t.retain(|x| x.sock.strong_count() > 0);
    if b.port == 0 {
        // Start somewhere different each time, as Linux's randomised search does.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let span = u32::from(EPHEMERAL_LAST - EPHEMERAL_FIRST) + 1;
        let start = NEXT.fetch_add(7919, Ordering::Relaxed).wrapping_add(std::process::id().wrapping_mul(2_654_435_761));
        let found = (0..span).map(|i| EPHEMERAL_FIRST + u16::try_from(start.wrapping_add(i) % span).unwrap_or(0)).find(|&p| {
            b.port = p;
            t.iter().all(|o| o.proto != b.proto || o.port != p || !o.overlaps(&b))
        });
        b.port = found.ok_or(EADDRINUSE)?;
    } else if !t.iter().all(|o| o.proto != b.proto || o.port != b.port || !o.overlaps(&b) || compatible(&b, o)) {
        return Err(EADDRINUSE);
    }
    let name = SocketAddr::new(if wildcard { addr.ip() } else { ip }, b.port);
    t.push(b);
    drop(t);
    sock.bind(Name::Inet(name), None)
}

/// `listen` of a TCP socket: `EADDRINUSE` when another listener already takes one of its
/// addresses (sockets share a port through `SO_REUSEADDR` only while at most one listens,
/// unless all have `SO_REUSEPORT`).
pub fn listen(sock: &Arc<Socket>) -> SysResult<()> {
    let mut t = table().lock().unwrap_or_else(PoisonError::into_inner);
    let me = |x: &Binding| std::ptr::eq(x.sock.as_ptr(), Arc::as_ptr(sock));
    for m in t.iter().filter(|x| me(x)) {
        let clash = t.iter().any(|o| {
            !me(o) && o.proto == m.proto && o.port == m.port && o.listening && o.sock.strong_count() > 0 && o.overlaps(m) && !(o.reuseport && m.reuseport)
        });
        if clash {
            return Err(EADDRINUSE);
        }
    }
    for m in t.iter_mut().filter(|x| me(x)) {
        m.listening = true;
    }
    Ok(())
}

/// The socket of type `proto` that traffic to `dest` reaches (a TCP listener for a stream):
/// one bound to that very address first, then a wildcard.
pub fn lookup(proto: SockType, dest: SocketAddr) -> Option<Arc<Socket>> {
    let ip = canonical(dest.ip());
    let mut found: Vec<(bool, Arc<Socket>)> = {
        let t = table().lock().unwrap_or_else(PoisonError::into_inner);
        t.iter()
            .filter(|b| b.proto == proto && b.port == dest.port() && b.covers(ip))
            .filter_map(|b| b.sock.upgrade().map(|s| (b.ip.is_some(), s)))
            .collect()
    };
    // Exact addresses before wildcards; the oldest binding first among equals.
    found.sort_by_key(|(exact, _)| !exact);
    found.into_iter().map(|(_, s)| s).find(|s| proto != SockType::Stream || s.listening())
}

/// Frees the ports `sock` holds.
pub fn unregister(sock: &Arc<Socket>) {
    let mut t = table().lock().unwrap_or_else(PoisonError::into_inner);
    t.retain(|b| !std::ptr::eq(b.sock.as_ptr(), Arc::as_ptr(sock)) && b.sock.strong_count() > 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddrs_round_trip() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let raw = sockaddr(a, false);
        assert_eq!(raw.len(), SOCKADDR_IN_LEN);
        assert_eq!(parse(libc::AF_INET, &raw), Ok(Addr::Inet(a)));
        let mapped = sockaddr(a, true);
        assert_eq!(mapped.len(), SOCKADDR_IN6_LEN);
        assert_eq!(parse(libc::AF_INET6, &mapped), Ok(Addr::Inet(a)), "mapped addresses are IPv4");
        assert_eq!(parse(libc::AF_INET, &raw[..15]), Err(Errno::EINVAL));
        assert_eq!(parse(libc::AF_INET6, &raw), Err(Errno::EINVAL), "too short for sockaddr_in6");
    }

    #[test]
    fn only_loopback_is_reachable() {
        assert_eq!(destination("0.0.0.0:1".parse().unwrap()), Ok("127.0.0.1:1".parse().unwrap()));
        assert_eq!(destination("[::]:1".parse().unwrap()), Ok("[::1]:1".parse().unwrap()));
        assert_eq!(destination("10.0.0.1:1".parse().unwrap()), Err(ENETUNREACH));
    }

    #[test]
    fn wildcards_overlap_by_family() {
        let b = |ip: Option<&str>, v4, v6| Binding {
            proto: SockType::Stream,
            port: 1,
            ip: ip.map(|s| s.parse().unwrap()),
            v4,
            v6,
            reuseaddr: false,
            reuseport: false,
            listening: false,
            sock: Weak::new(),
        };
        assert!(b(None, true, false).overlaps(&b(None, true, true)), "0.0.0.0 and dual-stack ::");
        assert!(!b(None, true, false).overlaps(&b(None, false, true)), "0.0.0.0 and v6-only ::");
        assert!(b(Some("127.0.0.1"), true, false).overlaps(&b(None, true, true)));
        assert!(!b(Some("127.0.0.1"), true, false).overlaps(&b(Some("::1"), false, true)));
    }
}
