//! `AF_UNIX` sockets: stream, datagram and seqpacket, unnamed, path-bound and abstract. The
//! same queues and readiness serve loopback `AF_INET`/`AF_INET6` sockets (TCP is a stream
//! socket, UDP a datagram one): their names are [`Name::Inet`], their port table lives in
//! [`super::inet`], and the few places where TCP and UDP differ from `AF_UNIX` look at
//! [`Socket::inet`].
//!
//! A [`Socket`] owns its receive queue; a sender appends to the queue of the receiver (its
//! connected peer, or the datagram's destination). Each queued [`Message`] charges its bytes to
//! the sender's in-flight count until it is read, and a sender blocks while that count is at its
//! `SO_SNDBUF`, as Linux's `sk_wmem_alloc` does. A stream `connect` creates the server side at
//! once and queues it on the listener (the backlog); `accept` takes it off.
//!
//! Like pipes, operations never block here: they answer `EAGAIN` and the system call layer
//! (`syscalls/socket.rs`) sleeps on the kernel's wake-up channel and retries. Every change that
//! may unblock somebody notifies that channel.
//!
//! Names live in two sentry-wide tables: abstract names by their bytes, path names by the
//! `(st_dev, st_ino)` of the socket inode `bind` made (so a rename keeps the binding, and an
//! unlink ends it for new connections).
//!
//! Lock order: a connecting socket before the listener it connects to; otherwise at most one
//! socket's state at a time, and a socket's state before a name table. Queued messages may hold
//! open files (`SCM_RIGHTS`) whose last close releases another socket, so messages are dropped
//! only after every lock is released.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use super::{ECONNREFUSED, ECONNRESET, EADDRINUSE, EISCONN, EMSGSIZE, ENOTCONN, EPROTOTYPE};
use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::kernel::Events;
use crate::mm::MemoryManager;
use crate::vfs::{synthetic_stat, File, FileOps};

/// `net.core.wmem_default` and `rmem_default`.
pub const DEFAULT_BUF: usize = 212_992;
/// `net.core.wmem_max` and `rmem_max`: the most `SO_SNDBUF`/`SO_RCVBUF` may ask (then doubled).
pub const MAX_BUF: usize = 212_992;
/// Linux's `SOCK_MIN_SNDBUF` and `SOCK_MIN_RCVBUF`.
pub const MIN_SNDBUF: usize = 4608;
pub const MIN_RCVBUF: usize = 2304;
/// `net.unix.max_dgram_qlen`: a datagram receiver not connected back to the sender takes this
/// many queued messages (plus one) before senders wait.
pub const MAX_DGRAM_QLEN: usize = 10;
/// `net.core.somaxconn`: `listen` clamps its backlog to this.
pub const SOMAXCONN: usize = 4096;
/// Most descriptors one message carries (`SCM_MAX_FD`).
pub const SCM_MAX_FD: usize = 253;
/// The uid and gid a receiver sees for a message sent without credentials (`overflowuid`).
pub const OVERFLOW_ID: u32 = 65534;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SockType {
    Stream,
    Dgram,
    SeqPacket,
}

impl SockType {
    /// The base type of `socket(2)`'s `type` (`SOCK_RAW` is a datagram socket, as in Linux).
    pub fn from_raw(ty: i32) -> Option<SockType> {
        match ty {
            libc::SOCK_STREAM => Some(SockType::Stream),
            libc::SOCK_DGRAM | libc::SOCK_RAW => Some(SockType::Dgram),
            libc::SOCK_SEQPACKET => Some(SockType::SeqPacket),
            _ => None,
        }
    }

    pub fn raw(self) -> i32 {
        match self {
            SockType::Stream => libc::SOCK_STREAM,
            SockType::Dgram => libc::SOCK_DGRAM,
            SockType::SeqPacket => libc::SOCK_SEQPACKET,
        }
    }

    /// Stream and seqpacket sockets connect; datagram sockets only pick a default destination.
    pub fn connection(self) -> bool {
        self != SockType::Dgram
    }
}

/// A socket's name.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Name {
    /// A file system path, as given (relative paths stay relative, as in Linux).
    Path(Vec<u8>),
    /// An abstract name: the bytes after the leading NUL, every one significant.
    Abstract(Vec<u8>),
    /// An `AF_INET`/`AF_INET6` address (IPv4-mapped addresses are kept as IPv4).
    Inet(std::net::SocketAddr),
}

impl Name {
    /// The `sockaddr_un` `getsockname` reports, at the length Linux reports: family, path and
    /// its NUL; or family, NUL and the abstract bytes.
    pub fn sockaddr(&self) -> Vec<u8> {
        let mut v = unnamed_sockaddr();
        match self {
            Name::Path(p) => {
                v.extend_from_slice(p);
                v.push(0);
            }
            Name::Abstract(a) => {
                v.push(0);
                v.extend_from_slice(a);
            }
            Name::Inet(a) => return super::inet::sockaddr(*a, a.is_ipv6()),
        }
        v
    }
}

/// The address of a socket without a name: the family alone.
pub fn unnamed_sockaddr() -> Vec<u8> {
    u16::try_from(libc::AF_UNIX).unwrap_or(1).to_ne_bytes().to_vec()
}

/// `struct ucred`: who sent a message or made a connection (pids of the sandbox).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Cred {
    /// What `SO_PEERCRED` gives without a peer.
    pub const NONE: Cred = Cred { pid: 0, uid: u32::MAX, gid: u32::MAX };
    /// What `SCM_CREDENTIALS` gives for a message sent while neither side asked for them.
    pub const UNKNOWN: Cred = Cred { pid: 0, uid: OVERFLOW_ID, gid: OVERFLOW_ID };
}

/// What a sender attaches to a message.
pub struct Ancillary {
    /// `SCM_RIGHTS`: taken by the first message that carries data.
    pub rights: Vec<Arc<File>>,
    /// `SCM_CREDENTIALS` given explicitly (already checked).
    pub cred: Option<Cred>,
    /// The sender's own credentials, attached when either side has `SO_PASSCRED`.
    pub own: Cred,
}

/// One send's worth of queued data.
pub(super) struct Message {
    data: Vec<u8>,
    /// Bytes of `data` already read (streams read messages piecemeal).
    read: usize,
    rights: Vec<Arc<File>>,
    cred: Cred,
    /// The sender's name when it was sent.
    from: Option<Name>,
    /// The sender's in-flight count, which holds this message's unread bytes.
    charge: Arc<Flight>,
}

impl Message {
    fn unread(&self) -> &[u8] {
        &self.data[self.read..]
    }

    fn consume(&mut self, n: usize) {
        self.read += n;
        self.charge.release(n);
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        self.charge.release(self.data.len() - self.read);
    }
}

/// A sender's bytes in flight: sent, not yet read.
#[derive(Default)]
struct Flight {
    bytes: AtomicUsize,
    /// Moves when bytes are read: the sender may be writable again (edge-triggered epoll).
    wakeups: AtomicU64,
}

impl Flight {
    fn get(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    fn release(&self, n: usize) {
        if n > 0 {
            self.bytes.fetch_sub(n, Ordering::Relaxed);
            self.wakeups.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What a receive took.
#[derive(Default)]
pub struct Received {
    pub data: Vec<u8>,
    /// The whole message's length (datagrams longer than the buffer are truncated).
    pub len: usize,
    pub rights: Vec<Arc<File>>,
    /// The sender's credentials, when the receiver has `SO_PASSCRED`.
    pub cred: Option<Cred>,
    pub from: Option<Name>,
}

enum Conn {
    Unconnected,
    Listening { backlog: usize, pending: VecDeque<Arc<Socket>> },
    /// Stream and seqpacket: the peer, kept after it closes (`getpeername` still names it).
    Connected(Arc<Socket>),
}

/// Socket options the sentry stores (`SOL_SOCKET`).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub sndbuf: usize,
    pub rcvbuf: usize,
    pub passcred: bool,
    pub reuseaddr: bool,
    /// `SO_REUSEPORT` (inet sockets only).
    pub reuseport: bool,
    pub keepalive: bool,
    pub broadcast: bool,
    pub oobinline: bool,
    pub dontroute: bool,
    /// `None`: wait for ever.
    pub rcvtimeo: Option<Duration>,
    pub sndtimeo: Option<Duration>,
    /// `SO_LINGER`: on, and the seconds (recorded only).
    pub linger: (bool, i32),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sndbuf: DEFAULT_BUF,
            rcvbuf: DEFAULT_BUF,
            passcred: false,
            reuseaddr: false,
            reuseport: false,
            keepalive: false,
            broadcast: false,
            oobinline: false,
            dontroute: false,
            rcvtimeo: None,
            sndtimeo: None,
            linger: (false, 0),
        }
    }
}

struct State {
    conn: Conn,
    /// Datagram sockets: the default destination (`connect`).
    dgram_peer: Option<Arc<Socket>>,
    name: Option<Name>,
    queue: VecDeque<Message>,
    shut_rd: bool,
    shut_wr: bool,
    /// A pending error (`SO_ERROR`): the peer closed with data unread.
    error: Option<Errno>,
    /// The last descriptor is closed.
    released: bool,
    /// `SO_PEERCRED`: the peer's at connect (or socketpair) time; for a listener, its own at
    /// `listen`, which connecting sockets get.
    peercred: Option<Cred>,
    opts: Options,
    /// UDP: the address `connect` chose (the receiver is looked up at each send).
    inet_peer: Option<Name>,
    /// TCP: a non-blocking `connect` answered `EINPROGRESS`; the next one reports the outcome.
    in_progress: bool,
    /// `IPPROTO_TCP`, `IPPROTO_IP` and `IPPROTO_IPV6` options set by the program.
    proto_opts: HashMap<(i32, i32), i32>,
}

pub struct Socket {
    /// `AF_UNIX`, `AF_INET` or `AF_INET6`.
    family: i32,
    ty: SockType,
    ino: u64,
    /// Whoever made it (the credentials of writes that come through `FileOps`).
    creator: Cred,
    events: Arc<Events>,
    /// Bytes sent and not yet read by their receiver.
    inflight: Arc<Flight>,
    /// Moves whenever readiness may have changed (edge-triggered epoll).
    wakeups: AtomicU64,
    state: Mutex<State>,
}

const POLLIN: u32 = (libc::POLLIN | libc::POLLRDNORM) as u32;
const POLLOUT: u32 = (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) as u32;
const POLLHUP: u32 = libc::POLLHUP as u32;
const POLLERR: u32 = libc::POLLERR as u32;
const POLLRDHUP: u32 = libc::POLLRDHUP as u32;

impl Socket {
    pub fn new(ty: SockType, events: Arc<Events>, ino: u64, creator: Cred) -> Arc<Socket> {
        Socket::with_family(libc::AF_UNIX, ty, events, ino, creator)
    }

    pub fn with_family(family: i32, ty: SockType, events: Arc<Events>, ino: u64, creator: Cred) -> Arc<Socket> {
        Arc::new(Socket {
            family,
            ty,
            ino,
            creator,
            events,
            inflight: Arc::default(),
            wakeups: AtomicU64::new(0),
            state: Mutex::new(State {
                conn: Conn::Unconnected,
                dgram_peer: None,
                name: None,
                queue: VecDeque::new(),
                shut_rd: false,
                shut_wr: false,
                error: None,
                released: false,
                peercred: None,
                opts: Options::default(),
                inet_peer: None,
                in_progress: false,
                proto_opts: HashMap::new(),
            }),
        })
    }

    /// `socketpair(2)`: two sockets connected to each other, each with `cred` as its peer's.
    pub fn pair(ty: SockType, events: &Arc<Events>, inos: (u64, u64), cred: Cred) -> (Arc<Socket>, Arc<Socket>) {
        let a = Socket::new(ty, events.clone(), inos.0, cred);
        let b = Socket::new(ty, events.clone(), inos.1, cred);
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut st = x.lock();
            st.peercred = Some(cred);
            if ty.connection() {
                st.conn = Conn::Connected(y.clone());
            } else {
                st.dgram_peer = Some(y.clone());
            }
        }
        (a, b)
    }

    pub fn ty(&self) -> SockType {
        self.ty
    }

    pub fn family(&self) -> i32 {
        self.family
    }

    /// A TCP or UDP socket.
    pub fn inet(&self) -> bool {
        self.family != libc::AF_UNIX
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    pub fn creator(&self) -> Cred {
        self.creator
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes whoever waits on this socket.
    fn changed(&self) {
        self.wakeups.fetch_add(1, Ordering::Relaxed);
        self.events.notify();
    }

    pub fn options(&self) -> Options {
        self.lock().opts
    }

    pub fn set_options(&self, f: impl FnOnce(&mut Options)) {
        f(&mut self.lock().opts);
        self.changed();
    }

    pub fn name(&self) -> Option<Name> {
        self.lock().name.clone()
    }

    /// The peer's name (`None`: it has none); `ENOTCONN` without a peer.
    pub fn peer_name(&self) -> SysResult<Option<Name>> {
        let peer = {
            let st = self.lock();
            if let Some(n) = &st.inet_peer {
                return Ok(Some(n.clone()));
            }
            match (&st.conn, &st.dgram_peer) {
                (Conn::Connected(p), _) | (_, Some(p)) => p.clone(),
                _ => return Err(ENOTCONN),
            }
        };
        Ok(peer.name())
    }

    pub fn listening(&self) -> bool {
        matches!(self.lock().conn, Conn::Listening { .. })
    }

    /// `SO_PEERCRED` (a listener's own, from `listen`).
    pub fn peercred(&self) -> Cred {
        self.lock().peercred.unwrap_or(Cred::NONE)
    }

    /// `SO_ERROR`: the pending error, cleared.
    pub fn take_error(&self) -> Option<Errno> {
        self.lock().error.take()
    }

    /// Records an asynchronous error (a refused connection, an unreachable UDP port).
    pub fn set_error(&self, e: Errno) {
        self.lock().error = Some(e);
        self.changed();
    }

    /// Replaces an inet socket's name (`connect` turns a wildcard into the loopback source).
    pub fn set_name(&self, name: Name) {
        self.lock().name = Some(name);
    }

    /// A stream socket with a peer.
    pub fn connected(&self) -> bool {
        matches!(self.lock().conn, Conn::Connected(_))
    }

    /// UDP `connect`: the default destination (`None`: dissolved).
    pub fn set_inet_peer(&self, peer: Option<Name>) {
        self.lock().inet_peer = peer;
        self.changed();
    }

    pub fn inet_peer(&self) -> Option<Name> {
        self.lock().inet_peer.clone()
    }

    /// Notes a non-blocking `connect` that answered `EINPROGRESS` (`on`), or takes the note.
    pub fn in_progress(&self, on: Option<bool>) -> bool {
        let mut st = self.lock();
        match on {
            Some(v) => std::mem::replace(&mut st.in_progress, v),
            None => std::mem::take(&mut st.in_progress),
        }
    }

    /// A protocol-level option the program set (`None`: never set).
    pub fn proto_opt(&self, level: i32, name: i32) -> Option<i32> {
        self.lock().proto_opts.get(&(level, name)).copied()
    }

    pub fn set_proto_opt(&self, level: i32, name: i32, value: i32) {
        self.lock().proto_opts.insert((level, name), value);
    }

    /// TCP `shutdown(SHUT_RD)` of a listener: it stops listening; pending connections are reset.
    pub fn stop_listening(&self) -> bool {
        let pending = {
            let mut st = self.lock();
            match std::mem::replace(&mut st.conn, Conn::Unconnected) {
                Conn::Listening { pending, .. } => pending,
                other => {
                    st.conn = other;
                    return false;
                }
            }
        };
        for s in pending {
            s.release(true);
        }
        self.changed();
        true
    }

    /// Binds `name`; `key` is the `(dev, ino)` of the inode a path name was given.
    pub fn bind(self: &Arc<Socket>, name: Name, key: Option<(u64, u64)>) -> SysResult<()> {
        let mut st = self.lock();
        if st.name.is_some() {
            return Err(Errno::EINVAL);
        }
        match (&name, key) {
            (Name::Abstract(a), _) => {
                let mut table = names().lock().unwrap_or_else(PoisonError::into_inner);
                let key = (self.ty, a.clone());
                if table.abstract_names.get(&key).is_some_and(|w| w.strong_count() > 0) {
                    return Err(EADDRINUSE);
                }
                table.abstract_names.insert(key, Arc::downgrade(self));
            }
            (Name::Path(_), Some(key)) => {
                names().lock().unwrap_or_else(PoisonError::into_inner).paths.insert(key, Arc::downgrade(self));
            }
            (Name::Path(_), None) => return Err(Errno::EINVAL),
            // The port table (`inet::bind`) already holds it.
            (Name::Inet(_), _) => {}
        }
        st.name = Some(name);
        Ok(())
    }

    /// Binds a fresh abstract name of five hex digits (a bound socket keeps its name).
    pub fn autobind(self: &Arc<Socket>) -> SysResult<()> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let mut st = self.lock();
        if st.name.is_some() {
            return Ok(());
        }
        let mut table = names().lock().unwrap_or_else(PoisonError::into_inner);
        for _ in 0..=0xfffff {
            let n = NEXT.fetch_add(1, Ordering::Relaxed) & 0xfffff;
            let name = format!("{n:05x}").into_bytes();
            let key = (self.ty, name.clone());
            if table.abstract_names.get(&key).is_some_and(|w| w.strong_count() > 0) {
                continue;
            }
            table.abstract_names.insert(key, Arc::downgrade(self));
            st.name = Some(Name::Abstract(name));
            return Ok(());
        }
        Err(EADDRINUSE)
    }

    pub fn bound(&self) -> bool {
        self.lock().name.is_some()
    }

    /// `listen(2)` (the caller has refused datagram sockets); `cred` becomes the peer
    /// credentials of sockets that connect.
    pub fn listen(&self, backlog: usize, cred: Cred) -> SysResult<()> {
        {
            let mut st = self.lock();
            if st.name.is_none() {
                return Err(Errno::EINVAL);
            }
            match &mut st.conn {
                Conn::Listening { backlog: b, .. } => *b = backlog,
                Conn::Unconnected => {
                    st.conn = Conn::Listening { backlog, pending: VecDeque::new() };
                    st.peercred = Some(cred);
                }
                Conn::Connected(_) => return Err(Errno::EINVAL),
            }
        }
        // A larger backlog may let a waiting connect through.
        self.changed();
        Ok(())
    }

    /// Connects a stream or seqpacket socket to `listener`: the server side (inode `ino`,
    /// peer credentials `cred`) waits in the listener's backlog. `EAGAIN` while the backlog
    /// is full.
    /// `local` names the server side (an inet listener's wildcard becomes the address connected
    /// to); `None` gives it the listener's name.
    pub fn connect(self: &Arc<Socket>, listener: &Arc<Socket>, cred: Cred, ino: u64, local: Option<Name>) -> SysResult<()> {
        if listener.ty != self.ty {
            return Err(EPROTOTYPE);
        }
        let mut me = self.lock();
        {
            let mut l = listener.lock();
            let passcred = l.opts.passcred;
            let listener_name = l.name.clone();
            let listener_cred = l.peercred;
            let proto_opts = l.proto_opts.clone();
            if l.released {
                return Err(ECONNREFUSED);
            }
            let Conn::Listening { backlog, pending } = &mut l.conn else { return Err(ECONNREFUSED) };
            if pending.len() > *backlog {
                return Err(Errno::EAGAIN);
            }
            match me.conn {
                Conn::Unconnected => {}
                Conn::Connected(_) => return Err(EISCONN),
                Conn::Listening { .. } => return Err(Errno::EINVAL),
            }
            let server = Socket::with_family(listener.family, self.ty, self.events.clone(), ino, listener.creator);
            {
                let mut s = server.lock();
                s.conn = Conn::Connected(self.clone());
                s.name = local.or(listener_name);
                // Accepted TCP sockets inherit the listener's options (TCP_NODELAY…).
                s.proto_opts = proto_opts;
                s.peercred = Some(cred);
                s.opts.passcred = passcred;
            }
            pending.push_back(server.clone());
            me.conn = Conn::Connected(server);
            me.peercred = listener_cred;
        }
        drop(me);
        listener.changed();
        self.changed();
        Ok(())
    }

    /// Sets (or with `None` clears) a datagram socket's default destination.
    pub fn connect_dgram(self: &Arc<Socket>, target: Option<Arc<Socket>>) -> SysResult<()> {
        if let Some(t) = &target {
            if t.ty != SockType::Dgram {
                return Err(EPROTOTYPE);
            }
            if !Arc::ptr_eq(t, self) && !t.may_send_from(self) {
                return Err(Errno::EPERM);
            }
        }
        let old = std::mem::replace(&mut self.lock().dgram_peer, target);
        drop(old);
        self.changed();
        Ok(())
    }

    /// Whether `sender` may send datagrams here: this socket is connected to nobody else.
    fn may_send_from(&self, sender: &Arc<Socket>) -> bool {
        self.lock().dgram_peer.as_ref().is_none_or(|p| Arc::ptr_eq(p, sender))
    }

    /// Takes the oldest pending connection; `EAGAIN` when there is none.
    pub fn accept(&self) -> SysResult<Arc<Socket>> {
        let s = {
            let mut st = self.lock();
            let Conn::Listening { pending, .. } = &mut st.conn else { return Err(Errno::EINVAL) };
            pending.pop_front().ok_or(Errno::EAGAIN)?
        };
        // Room in the backlog for a waiting connect.
        self.changed();
        Ok(s)
    }

    /// Sends `data` to the connected peer, or for datagrams to `to` (or the default
    /// destination). Streams take what fits in the send buffer (`EAGAIN` if nothing does);
    /// datagrams and seqpackets are taken whole or not at all. The rights of `anc` go with
    /// the first message that is queued.
    pub fn send(self: &Arc<Socket>, data: &[u8], anc: &mut Ancillary, to: Option<&Arc<Socket>>) -> SysResult<usize> {
        match self.ty {
            SockType::Stream => self.send_stream(data, anc),
            _ => self.send_dgram(data, anc, to),
        }
    }

    fn send_stream(self: &Arc<Socket>, data: &[u8], anc: &mut Ancillary) -> SysResult<usize> {
        let (peer, sndbuf, from, passcred) = {
            let st = self.lock();
            // TCP without a connection answers EPIPE (`sk_stream_wait_connect`).
            let Conn::Connected(peer) = &st.conn else { return Err(if self.inet() { Errno::EPIPE } else { ENOTCONN }) };
            if st.shut_wr {
                return Err(Errno::EPIPE);
            }
            (peer.clone(), st.opts.sndbuf, st.name.clone(), st.opts.passcred)
        };
        let mut p = peer.lock();
        if self.inet() && p.released {
            // TCP: the closed peer answers the data with a reset, which ends the connection;
            // the send itself succeeded.
            drop(p);
            let mut st = self.lock();
            st.shut_rd = true;
            st.shut_wr = true;
            drop(st);
            self.changed();
            return Ok(data.len());
        }
        if p.released || (p.shut_rd && !self.inet()) {
            return Err(Errno::EPIPE);
        }
        if data.is_empty() {
            return Ok(0);
        }
        let inflight = self.inflight.get();
        if inflight >= sndbuf {
            return Err(Errno::EAGAIN);
        }
        let n = (sndbuf - inflight).min(data.len());
        let cred = anc.cred.unwrap_or(if passcred || p.opts.passcred { anc.own } else { Cred::UNKNOWN });
        self.inflight.add(n);
        let rights = std::mem::take(&mut anc.rights);
        p.queue.push_back(Message { data: data[..n].to_vec(), read: 0, rights, cred, from, charge: self.inflight.clone() });
        drop(p);
        peer.changed();
        Ok(n)
    }

    fn send_dgram(self: &Arc<Socket>, data: &[u8], anc: &mut Ancillary, to: Option<&Arc<Socket>>) -> SysResult<usize> {
        let (target, sndbuf, from, passcred, default) = {
            let mut st = self.lock();
            let target = if self.ty == SockType::SeqPacket {
                if let Some(e) = st.error.take() {
                    return Err(e);
                }
                let Conn::Connected(p) = &st.conn else { return Err(ENOTCONN) };
                p.clone()
            } else {
                match (to, &st.dgram_peer) {
                    (Some(t), _) => t.clone(),
                    (None, Some(p)) => p.clone(),
                    (None, None) => return Err(ENOTCONN),
                }
            };
            let default = st.dgram_peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, &target));
            (target, st.opts.sndbuf, st.name.clone(), st.opts.passcred, default)
        };
        if data.len() + 32 > sndbuf {
            return Err(EMSGSIZE);
        }
        if self.inflight.get() >= sndbuf {
            return Err(Errno::EAGAIN);
        }
        let to_self = Arc::ptr_eq(&target, self);
        let mut o = target.lock();
        // Connected back to us: no queue limit (a socketpair's two ends).
        let ours = o.dgram_peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, self));
        if self.ty == SockType::Dgram && !to_self && !ours && o.dgram_peer.is_some() {
            return Err(Errno::EPERM);
        }
        if o.released {
            drop(o);
            if self.ty == SockType::SeqPacket {
                return Err(Errno::EPIPE);
            }
            if default {
                let old = self.lock().dgram_peer.take();
                drop(old);
            }
            return Err(ECONNREFUSED);
        }
        if o.shut_rd {
            return Err(Errno::EPIPE);
        }
        if self.ty == SockType::Dgram && !ours && o.queue.len() > MAX_DGRAM_QLEN {
            return Err(Errno::EAGAIN);
        }
        let cred = anc.cred.unwrap_or(if passcred || o.opts.passcred { anc.own } else { Cred::UNKNOWN });
        self.inflight.add(data.len());
        let rights = std::mem::take(&mut anc.rights);
        o.queue.push_back(Message { data: data.to_vec(), read: 0, rights, cred, from, charge: self.inflight.clone() });
        drop(o);
        target.changed();
        Ok(data.len())
    }

    /// UDP: queues `data` from the address `from` on `target` as loopback delivery does. A
    /// receiver connected to another address, a closed one, one with a full receive buffer or
    /// none at all drops it silently; the sender is never charged (loopback hands the packet
    /// over at once).
    pub fn send_udp(&self, data: &[u8], from: Name, target: Option<&Arc<Socket>>) -> SysResult<usize> {
        if self.lock().shut_wr {
            return Err(Errno::EPIPE);
        }
        let Some(target) = target else { return Ok(data.len()) };
        let mut o = target.lock();
        let accepts = o.inet_peer.as_ref().is_none_or(|p| *p == from);
        let queued: usize = o.queue.iter().map(|m| m.data.len()).sum();
        if !o.released && accepts && queued < o.opts.rcvbuf {
            o.queue.push_back(Message { data: data.to_vec(), read: 0, rights: Vec::new(), cred: Cred::UNKNOWN, from: Some(from), charge: Arc::default() });
            drop(o);
            target.changed();
        }
        Ok(data.len())
    }

    /// Receives up to `max` bytes: from a stream, across queued messages (stopping after one
    /// that carries rights, and at a change of sender credentials when `SO_PASSCRED` is on);
    /// otherwise one message. An empty result at the end of the stream (or after
    /// `SHUT_RD`); `EAGAIN` when nothing is queued yet.
    pub fn recv(&self, max: usize, peek: bool) -> SysResult<Received> {
        let mut st = self.lock();
        match (self.ty, &st.conn) {
            (SockType::Stream, Conn::Connected(_)) | (SockType::SeqPacket, Conn::Connected(_)) | (SockType::Dgram, _) => {}
            (SockType::Stream, _) => return Err(if self.inet() { ENOTCONN } else { Errno::EINVAL }),
            (SockType::SeqPacket, _) => return Err(ENOTCONN),
        }
        if st.queue.is_empty() {
            if let Some(e) = st.error.take() {
                return Err(e);
            }
            return if st.shut_rd { Ok(Received::default()) } else { Err(Errno::EAGAIN) };
        }
        let passcred = st.opts.passcred;
        let mut garbage = Vec::new();
        let mut out = Received::default();
        if self.ty == SockType::Stream {
            let first = st.queue.front().map(|m| (m.cred, m.from.clone()));
            let Some((first_cred, from)) = first else { return Err(Errno::EAGAIN) };
            out.from = from;
            out.cred = passcred.then_some(first_cred);
            for m in st.queue.iter_mut() {
                if out.data.len() >= max || (passcred && m.cred != first_cred) {
                    break;
                }
                let n = m.unread().len().min(max - out.data.len());
                out.data.extend_from_slice(&m.unread()[..n]);
                let carries = !m.rights.is_empty();
                if peek {
                    out.rights.extend(m.rights.iter().cloned());
                } else {
                    m.consume(n);
                    out.rights.append(&mut m.rights);
                }
                if carries {
                    break;
                }
            }
            if !peek {
                while st.queue.front().is_some_and(|m| m.unread().is_empty()) {
                    garbage.extend(st.queue.pop_front());
                }
            }
            out.len = out.data.len();
        } else {
            let m = if peek {
                let Some(m) = st.queue.front() else { return Err(Errno::EAGAIN) };
                out.rights = m.rights.clone();
                out.data = m.data[..m.data.len().min(max)].to_vec();
                out.len = m.data.len();
                out.cred = passcred.then_some(m.cred);
                out.from = m.from.clone();
                None
            } else {
                st.queue.pop_front()
            };
            if let Some(mut m) = m {
                out.len = m.data.len();
                out.data = m.data[..m.data.len().min(max)].to_vec();
                out.rights = std::mem::take(&mut m.rights);
                out.cred = passcred.then_some(m.cred);
                out.from = m.from.clone();
                garbage.push(m);
            }
        }
        drop(st);
        drop(garbage);
        if !peek {
            // Room for the senders.
            self.changed();
        }
        Ok(out)
    }

    /// `shutdown(2)`: `how` is `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`. The connected peer's
    /// opposite direction closes too.
    pub fn shutdown(&self, how: i32) -> SysResult<()> {
        let (rd, wr) = match how {
            libc::SHUT_RD => (true, false),
            libc::SHUT_WR => (false, true),
            libc::SHUT_RDWR => (true, true),
            _ => return Err(Errno::EINVAL),
        };
        if self.inet() {
            return self.shutdown_inet(rd, wr);
        }
        let peer = {
            let mut st = self.lock();
            st.shut_rd |= rd;
            st.shut_wr |= wr;
            match &st.conn {
                Conn::Connected(p) => Some(p.clone()),
                _ => None,
            }
        };
        self.changed();
        if let Some(p) = peer {
            {
                let mut ps = p.lock();
                ps.shut_wr |= rd;
                ps.shut_rd |= wr;
            }
            p.changed();
        }
        Ok(())
    }

    /// `inet_shutdown`: a TCP listener shut for reading stops listening; only `SHUT_WR` reaches
    /// the peer (a FIN); an unconnected socket answers `ENOTCONN` (its flags are set anyway).
    fn shutdown_inet(&self, rd: bool, wr: bool) -> SysResult<()> {
        if self.listening() {
            if rd {
                self.stop_listening();
            }
            return Ok(());
        }
        let (peer, connected) = {
            let mut st = self.lock();
            st.shut_rd |= rd;
            st.shut_wr |= wr;
            match &st.conn {
                Conn::Connected(p) => (Some(p.clone()), true),
                _ => (None, st.inet_peer.is_some()),
            }
        };
        self.changed();
        if let (Some(p), true) = (peer, wr) {
            p.lock().shut_rd = true;
            p.changed();
        }
        if connected {
            Ok(())
        } else {
            Err(ENOTCONN)
        }
    }

    /// `FIONREAD`/`SIOCINQ`: unread bytes of a stream or seqpacket socket, the first
    /// datagram's length; `EINVAL` for a listener.
    pub fn inq(&self) -> SysResult<usize> {
        let st = self.lock();
        if matches!(st.conn, Conn::Listening { .. }) {
            return Err(Errno::EINVAL);
        }
        Ok(match self.ty {
            SockType::Dgram => st.queue.front().map_or(0, |m| m.data.len()),
            _ => st.queue.iter().map(|m| m.unread().len()).sum(),
        })
    }

    /// `SIOCOUTQ`: bytes sent and not yet read.
    pub fn outq(&self) -> usize {
        self.inflight.get()
    }

    /// Readiness, as Linux's `unix_poll` and `unix_dgram_poll` report it.
    pub fn poll(&self) -> u32 {
        let (mut mask, listening, sndbuf, dgram_peer) = {
            let st = self.lock();
            let mut mask = 0;
            if st.error.is_some() {
                mask |= POLLERR;
            }
            if st.shut_rd && st.shut_wr {
                mask |= POLLHUP;
            }
            if st.shut_rd {
                mask |= POLLRDHUP | POLLIN;
            }
            let listening = matches!(st.conn, Conn::Listening { .. });
            let ready = match &st.conn {
                Conn::Listening { pending, .. } => !pending.is_empty(),
                _ => !st.queue.is_empty(),
            };
            if ready {
                mask |= POLLIN;
            }
            if self.ty.connection() && matches!(st.conn, Conn::Unconnected) {
                mask |= POLLHUP;
            }
            (mask, listening, st.opts.sndbuf, st.dgram_peer.clone())
        };
        let mut writable = !listening && self.inflight.get() * 4 <= sndbuf;
        if let (true, Some(peer), SockType::Dgram) = (writable, &dgram_peer, self.ty) {
            // A socket connected to itself is never full for itself.
            if !std::ptr::eq(Arc::as_ptr(peer), self) {
                let p = peer.lock();
                let ours = p.dgram_peer.as_ref().is_some_and(|q| std::ptr::eq(Arc::as_ptr(q), self));
                writable = ours || p.queue.len() <= MAX_DGRAM_QLEN;
            }
        }
        if writable {
            mask |= POLLOUT;
        }
        mask
    }

    /// Moves whenever readiness may have changed: own events, and reads of what it sent.
    pub fn wakeups(&self) -> u64 {
        self.wakeups.load(Ordering::Relaxed).wrapping_add(self.inflight.wakeups.load(Ordering::Relaxed))
    }

    /// The last descriptor closed: the peer sees the connection end (and `ECONNRESET` if we
    /// leave data unread, or were never accepted), pending connections are refused, queued
    /// messages and their rights are dropped, the name is freed.
    pub fn release(self: &Arc<Socket>, embryo: bool) {
        if self.inet() {
            super::inet::unregister(self);
        } else {
            unregister(self);
        }
        let (queue, pending, peer, dgram_peer) = {
            let mut st = self.lock();
            st.released = true;
            st.shut_rd = true;
            st.shut_wr = true;
            let queue = std::mem::take(&mut st.queue);
            let (pending, peer) = match std::mem::replace(&mut st.conn, Conn::Unconnected) {
                Conn::Listening { pending, .. } => (pending, None),
                Conn::Connected(p) => (VecDeque::new(), Some(p)),
                Conn::Unconnected => (VecDeque::new(), None),
            };
            (queue, pending, peer, st.dgram_peer.take())
        };
        if let Some(p) = &peer {
            {
                let mut ps = p.lock();
                let reset = !queue.is_empty() || embryo;
                ps.shut_rd = true;
                // A TCP peer that got a FIN may still write (and meets the reset then).
                if reset || !self.inet() {
                    ps.shut_wr = true;
                }
                if reset {
                    ps.error = Some(ECONNRESET);
                }
            }
            p.changed();
        }
        drop(queue);
        drop(peer);
        drop(dgram_peer);
        for s in pending {
            s.release(true);
        }
        self.changed();
    }
}

/// An open socket: its last close releases the socket.
pub struct SocketFile {
    pub sock: Arc<Socket>,
}

impl SocketFile {
    pub fn new(sock: Arc<Socket>) -> SocketFile {
        SocketFile { sock }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.sock.release(false);
    }
}

impl FileOps for SocketFile {
    /// Reads without control data (rights that come with it are closed, as Linux does).
    fn read(&self, _offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let r = self.sock.recv(buf.len(), false)?;
        buf[..r.data.len()].copy_from_slice(&r.data);
        Ok(r.data.len())
    }

    fn write(&self, _offset: u64, buf: &[u8]) -> SysResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut anc = Ancillary { rights: Vec::new(), cred: None, own: self.sock.creator };
        self.sock.send(buf, &mut anc, None)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(synthetic_stat(self.sock.ino, libc::S_IFSOCK | 0o777, 0))
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> u32 {
        self.sock.poll()
    }

    fn wakeups(&self) -> Option<u64> {
        Some(self.sock.wakeups())
    }

    fn ioctl(&self, mm: &MemoryManager, request: u32, arg: u64) -> SysResult<u64> {
        let n = match u64::from(request) {
            libc::FIONREAD => self.sock.inq()?,
            libc::TIOCOUTQ => self.sock.outq(),
            _ => return Err(Errno::ENOTTY),
        };
        mm.write_val(arg, &i32::try_from(n).unwrap_or(i32::MAX))?;
        Ok(0)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// The sentry-wide names.
#[derive(Default)]
struct Names {
    /// Abstract names by socket type and bytes: as in Linux, each type has its own.
    abstract_names: HashMap<(SockType, Vec<u8>), Weak<Socket>>,
    /// Path names by the `(st_dev, st_ino)` of their inode.
    paths: HashMap<(u64, u64), Weak<Socket>>,
}

fn names() -> &'static Mutex<Names> {
    static NAMES: std::sync::OnceLock<Mutex<Names>> = std::sync::OnceLock::new();
    NAMES.get_or_init(Mutex::default)
}

/// Frees the names `s` holds.
fn unregister(s: &Arc<Socket>) {
    let mut table = names().lock().unwrap_or_else(PoisonError::into_inner);
    let mine = |w: &Weak<Socket>| std::ptr::eq(w.as_ptr(), Arc::as_ptr(s));
    table.abstract_names.retain(|_, w| !mine(w) && w.strong_count() > 0);
    table.paths.retain(|_, w| !mine(w) && w.strong_count() > 0);
}

/// A live socket from a name table.
fn live(found: Option<Arc<Socket>>) -> Option<Arc<Socket>> {
    found.filter(|s| !s.lock().released)
}

/// The socket of type `ty` bound to the abstract name `name`.
pub fn lookup_abstract(ty: SockType, name: &[u8]) -> Option<Arc<Socket>> {
    let key = (ty, name.to_vec());
    let found = names().lock().unwrap_or_else(PoisonError::into_inner).abstract_names.get(&key).and_then(Weak::upgrade);
    live(found)
}

/// The socket bound to the inode `(dev, ino)`.
pub fn lookup_path(key: (u64, u64)) -> Option<Arc<Socket>> {
    let found = names().lock().unwrap_or_else(PoisonError::into_inner).paths.get(&key).and_then(Weak::upgrade);
    live(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Cred = Cred { pid: 7, uid: 1, gid: 2 };

    fn anc() -> Ancillary {
        Ancillary { rights: Vec::new(), cred: None, own: ME }
    }

    fn pair(ty: SockType) -> (SocketFile, SocketFile) {
        let (a, b) = Socket::pair(ty, &Arc::new(Events::default()), (1, 2), ME);
        (SocketFile::new(a), SocketFile::new(b))
    }

    #[test]
    fn streams_flow_and_end() {
        let (a, b) = pair(SockType::Stream);
        assert_eq!(b.sock.recv(8, false).err(), Some(Errno::EAGAIN));
        assert_eq!(a.sock.send(b"hel", &mut anc(), None), Ok(3));
        assert_eq!(a.sock.send(b"lo", &mut anc(), None), Ok(2));
        assert_eq!(b.sock.inq(), Ok(5));
        assert_eq!(b.sock.recv(4, true).unwrap().data, b"hell", "peek");
        assert_eq!(b.sock.recv(4, false).unwrap().data, b"hell");
        assert_eq!(b.sock.recv(8, false).unwrap().data, b"o");
        assert_eq!(a.sock.outq(), 0, "read bytes are no longer in flight");
        drop(a);
        assert!(b.sock.recv(8, false).unwrap().data.is_empty(), "end of stream");
        assert_ne!(b.sock.poll() & POLLHUP, 0);
        assert_eq!(b.sock.send(b"x", &mut anc(), None).err(), Some(Errno::EPIPE));
    }

    #[test]
    fn closing_with_unread_data_resets_the_peer() {
        let (a, b) = pair(SockType::Stream);
        b.sock.send(b"unread", &mut anc(), None).unwrap();
        a.sock.send(b"ab", &mut anc(), None).unwrap();
        drop(a);
        assert_eq!(b.sock.recv(8, false).unwrap().data, b"ab", "queued data first");
        assert_eq!(b.sock.recv(8, false).err(), Some(ECONNRESET));
        assert!(b.sock.recv(8, false).unwrap().data.is_empty());
    }

    #[test]
    fn full_streams_refuse_and_datagrams_keep_boundaries() {
        let (a, b) = pair(SockType::Stream);
        let big = vec![1u8; DEFAULT_BUF + 100];
        assert_eq!(a.sock.send(&big, &mut anc(), None), Ok(DEFAULT_BUF));
        assert_eq!(a.sock.send(b"x", &mut anc(), None).err(), Some(Errno::EAGAIN));
        assert_eq!(a.sock.poll() & POLLOUT, 0);
        b.sock.recv(DEFAULT_BUF, false).unwrap();
        assert_ne!(a.sock.poll() & POLLOUT, 0);

        let (c, d) = pair(SockType::Dgram);
        c.sock.send(b"one", &mut anc(), None).unwrap();
        c.sock.send(b"", &mut anc(), None).unwrap();
        c.sock.send(b"three", &mut anc(), None).unwrap();
        let r = d.sock.recv(2, false).unwrap();
        assert_eq!((r.data.as_slice(), r.len), (&b"on"[..], 3), "truncated, with the real length");
        assert_eq!(d.sock.recv(8, false).unwrap().len, 0, "an empty datagram");
        assert_eq!(d.sock.recv(8, false).unwrap().data, b"three");
        assert_eq!(c.sock.send(&vec![0u8; DEFAULT_BUF], &mut anc(), None).err(), Some(EMSGSIZE));
    }

    #[test]
    fn listeners_queue_connections_up_to_the_backlog() {
        let events = Arc::new(Events::default());
        let l = Socket::new(SockType::Stream, events.clone(), 1, ME);
        let name = b"unix-test-backlog".to_vec();
        l.bind(Name::Abstract(name.clone()), None).unwrap();
        assert!(Arc::ptr_eq(&lookup_abstract(SockType::Stream, &name).unwrap(), &l));
        assert!(lookup_abstract(SockType::Dgram, &name).is_none(), "each type has its own names");
        l.listen(0, ME).unwrap();
        let c1 = Socket::new(SockType::Stream, events.clone(), 2, ME);
        let c2 = Socket::new(SockType::Stream, events.clone(), 3, ME);
        assert_eq!(c1.connect(&l, ME, 10, None), Ok(()));
        assert_eq!(c2.connect(&l, ME, 12, None).err(), Some(Errno::EAGAIN), "backlog 0 holds one");
        assert_eq!(c1.connect(&l, ME, 11, None).err(), Some(Errno::EAGAIN), "a full backlog is checked first, as in Linux");
        c1.send(b"early", &mut anc(), None).unwrap();
        let s = l.accept().unwrap();
        assert_eq!(s.name(), Some(Name::Abstract(name.clone())));
        assert_eq!(s.recv(8, false).unwrap().data, b"early");
        assert_eq!(l.accept().err(), Some(Errno::EAGAIN));
        assert_eq!(c1.connect(&l, ME, 14, None).err(), Some(EISCONN));
        let dg = Socket::new(SockType::Dgram, events, 4, ME);
        assert_eq!(dg.connect(&l, ME, 13, None).err(), Some(EPROTOTYPE));
        l.release(false);
        assert!(lookup_abstract(SockType::Stream, &name).is_none(), "the name is free again");
    }

    #[test]
    fn autobind_names_are_five_hex_digits() {
        let s = Socket::new(SockType::Dgram, Arc::new(Events::default()), 1, ME);
        s.autobind().unwrap();
        let Some(Name::Abstract(n)) = s.name() else { panic!("no name") };
        assert_eq!(n.len(), 5);
        assert_eq!(s.sockaddr_len(), 8);
        s.release(false);
    }

    impl Socket {
        fn sockaddr_len(&self) -> usize {
            self.name().map_or(2, |n| n.sockaddr().len())
        }
    }
}
