//! Networking inside the sentry. Only `AF_UNIX` exists so far ([`unix`]); the other families
//! answer `EAFNOSUPPORT` at `socket(2)` until the sentry has a network stack.

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
