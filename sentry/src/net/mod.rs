//! Networking inside the sentry: `AF_UNIX` ([`unix`]) and loopback-only `AF_INET`/`AF_INET6`
//! ([`inet`], which reuses the `AF_UNIX` queues). Other families answer `EAFNOSUPPORT`.

pub mod inet;
pub mod unix;

use crate::errno::Errno;

// Error numbers only sockets give (kept here so the shared errno list stays small).
pub const EPROTOTYPE: Errno = Errno(libc::EPROTOTYPE);
pub const ECONNREFUSED: Errno = Errno(libc::ECONNREFUSED);
pub const ECONNRESET: Errno = Errno(libc::ECONNRESET);
pub const EADDRINUSE: Errno = Errno(libc::EADDRINUSE);
pub const ESOCKTNOSUPPORT: Errno = Errno(libc::ESOCKTNOSUPPORT);
pub const EPROTONOSUPPORT: Errno = Errno(libc::EPROTONOSUPPORT);
pub const ENOPROTOOPT: Errno = Errno(libc::ENOPROTOOPT);
pub const EISCONN: Errno = Errno(libc::EISCONN);
pub const ENOTCONN: Errno = Errno(libc::ENOTCONN);
pub const EMSGSIZE: Errno = Errno(libc::EMSGSIZE);
pub const ENOBUFS: Errno = Errno(libc::ENOBUFS);
pub const EDOM: Errno = Errno(libc::EDOM);
pub const EADDRNOTAVAIL: Errno = Errno(libc::EADDRNOTAVAIL);
pub const ENETUNREACH: Errno = Errno(libc::ENETUNREACH);
pub const EINPROGRESS: Errno = Errno(libc::EINPROGRESS);
pub const ECONNABORTED: Errno = Errno(libc::ECONNABORTED);
pub const EDESTADDRREQ: Errno = Errno(libc::EDESTADDRREQ);
