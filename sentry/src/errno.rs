//! Linux error numbers as the sentry returns them to applications.

use std::fmt;

/// An error number. Handlers return `Err(Errno)`; the task loop writes `-errno` to `rax`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(pub const $name: Errno = Errno(libc::$name);)*
        }
    };
}

errnos!(
    EPERM, ENOENT, ESRCH, EINTR, EIO, ENXIO, E2BIG, ENOEXEC, EBADF, ECHILD, EAGAIN, ENOMEM,
    EACCES, EFAULT, EBUSY, EEXIST, EXDEV, ENODEV, ENOTDIR, EISDIR, EINVAL, ENFILE, EMFILE,
    ENOTTY, ETXTBSY, EFBIG, ENOSPC, ESPIPE, EROFS, EMLINK, EPIPE, ERANGE, ENAMETOOLONG, ENOSYS,
    ENOTEMPTY, ELOOP, ENODATA, EOVERFLOW, ENOTSUP, EAFNOSUPPORT, ENOTSOCK, EOPNOTSUPP, ELIBBAD, ETIMEDOUT,
);

impl Errno {
    /// The negative value the kernel ABI puts in `rax`.
    pub fn as_return(self) -> u64 {
        (-i64::from(self.0)).cast_unsigned()
    }

    /// Converts a host error, for results of host calls made on the application's behalf.
    pub fn from_io(e: &std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }

    /// The error of the last failed host call.
    pub fn last() -> Errno {
        Errno::from_io(&std::io::Error::last_os_error())
    }

    /// The symbolic name, e.g. `ENOENT`.
    pub fn name(self) -> &'static str {
        syscall_tables::errno_name(self.0).unwrap_or("E?")
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())
    }
}

impl fmt::Display for Errno {
    /// The C library's message, e.g. "No such file or directory".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = std::io::Error::from_raw_os_error(self.0).to_string();
        let msg = s.find(" (os error").map_or(s.as_str(), |i| &s[..i]);
        write!(f, "{msg}")
    }
}

impl From<gofer::Errno> for Errno {
    fn from(e: gofer::Errno) -> Errno {
        Errno(e.0)
    }
}

/// The result of a system call handler: the value for `rax`, or an error.
pub type SysResult<T = u64> = Result<T, Errno>;

/// Returns `Err($errno)` from the current function, logging why at trace level.
#[macro_export]
macro_rules! bail {
    ($errno:ident, $($msg:tt)+) => {{
        ::tracing::trace!(errno = stringify!($errno), $($msg)+);
        return Err($crate::errno::Errno::$errno);
    }};
}
