//! The host interfaces the runtime commands share: descriptors passed over unix sockets
//! (`SCM_RIGHTS`), pseudo-terminals for `--console-socket`, and unix sockets whose paths may be
//! longer than `sun_path` allows.
#![allow(unsafe_code)]
// Socket ABI lengths are small constants that fit the kernel's narrower types.
#![allow(clippy::cast_possible_truncation)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The most descriptors one message carries.
const MAX_FDS: usize = 4;

/// Sends `data` with `fds` attached.
pub fn send_with_fds(sock: &impl AsRawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    assert!(fds.len() <= MAX_FDS && !data.is_empty());
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    let fd_bytes = std::mem::size_of_val(fds);
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: a zeroed msghdr is valid; the pointers set below outlive the sendmsg call, and
    // CMSG_* only compute offsets inside `control`, which is large enough for MAX_FDS fds.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(fd_bytes as u32) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast::<RawFd>(), fds.len());
        }
        if libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Receives one message into `buf`, with the descriptors attached to it (close-on-exec).
/// Returns the byte count (0 at end of stream).
pub fn recv_with_fds(sock: &impl AsRawFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    let mut control = [0u64; 8];
    let mut fds = Vec::new();
    // SAFETY: as in send_with_fds; the kernel fills at most msg_controllen bytes of `control`,
    // and each descriptor read from a SCM_RIGHTS message is new and owned by nobody else.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..bytes / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        Ok((n.unsigned_abs(), fds))
    }
}

/// A new pseudo-terminal: (master, slave), both close-on-exec.
pub fn open_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: posix_openpt returns a new descriptor or -1.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if master < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is new and ours.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let mut name = [0u8; 64];
    // SAFETY: grantpt/unlockpt act on our master; ptsname_r writes at most name.len() bytes.
    let r = unsafe {
        if libc::grantpt(master.as_raw_fd()) != 0 || libc::unlockpt(master.as_raw_fd()) != 0 {
            -1
        } else {
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr().cast(), name.len())
        }
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ptsname_r wrote a NUL-terminated path into `name`.
    let slave = unsafe { libc::open(name.as_ptr().cast(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if slave < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is new and ours.
    Ok((master, unsafe { OwnedFd::from_raw_fd(slave) }))
}

/// Sets the window size of a terminal.
pub fn set_window_size(tty: &impl AsRawFd, rows: u16, cols: u16) {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

/// Opens a pseudo-terminal and hands its master to the `--console-socket` at `socket`, as
/// runc does (the message text is the terminal's name). Returns the slave, for the workload.
pub fn console_to_socket(socket: &Path, size: Option<(u16, u16)>) -> Result<OwnedFd, String> {
    let (master, slave) = open_pty().map_err(|e| format!("allocating a terminal: {e}"))?;
    if let Some((rows, cols)) = size {
        set_window_size(&slave, rows, cols);
    }
    let conn = connect(socket).map_err(|e| format!("console socket {}: {e}", socket.display()))?;
    send_with_fds(&conn, b"/dev/ptmx", &[master.as_raw_fd()]).map_err(|e| format!("console socket {}: sending the terminal: {e}", socket.display()))?;
    Ok(slave)
}

/// Connects a stream socket to the unix socket at `path`, however long.
pub fn connect(path: &Path) -> io::Result<UnixStream> {
    connect_socket(path, libc::SOCK_STREAM).map(UnixStream::from)
}

/// Makes `fd` the controlling terminal of the calling process, which must lead a session.
pub fn make_controlling_terminal(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    if unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A `SOCK_SEQPACKET` unix socket listening at `path` (each message arrives whole).
pub fn listen_seqpacket(path: &Path) -> io::Result<OwnedFd> {
    let sock = unix_socket(libc::SOCK_SEQPACKET)?;
    with_short_path(path, |addr, len| {
        // SAFETY: `addr` points to a sockaddr_un of `len` bytes.
        if unsafe { libc::bind(sock.as_raw_fd(), addr, len) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })?;
    // SAFETY: listen on a socket we own.
    if unsafe { libc::listen(sock.as_raw_fd(), 16) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

/// Connects a `SOCK_SEQPACKET` socket to `path`.
pub fn connect_seqpacket(path: &Path) -> io::Result<OwnedFd> {
    connect_socket(path, libc::SOCK_SEQPACKET)
}

/// A unix socket of `kind` connected to `path`.
fn connect_socket(path: &Path, kind: i32) -> io::Result<OwnedFd> {
    let sock = unix_socket(kind)?;
    with_short_path(path, |addr, len| {
        // SAFETY: `addr` points to a sockaddr_un of `len` bytes.
        if unsafe { libc::connect(sock.as_raw_fd(), addr, len) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })?;
    Ok(sock)
}

/// Accepts one connection (close-on-exec), retrying on `EINTR`.
pub fn accept(listener: &OwnedFd) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: null address pointers are allowed; the result is a new descriptor or -1.
        let fd = unsafe { libc::accept4(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
        if fd >= 0 {
            // SAFETY: the descriptor is new and ours.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn unix_socket(kind: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket returns a new descriptor or -1.
    let fd = unsafe { libc::socket(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is new and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Calls `f` with a sockaddr_un for `path`; a path too long for `sun_path` is reached through
/// /proc/self/fd of its directory.
fn with_short_path<T>(path: &Path, f: impl FnOnce(*const libc::sockaddr, libc::socklen_t) -> io::Result<T>) -> io::Result<T> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: a zeroed sockaddr_un is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let _dir;
    let short;
    let bytes = if path.as_os_str().len() < addr.sun_path.len() {
        path.as_os_str().as_bytes()
    } else {
        _dir = std::fs::File::open(path.parent().unwrap_or(Path::new("/")))?;
        short = format!("/proc/self/fd/{}/{}", _dir.as_raw_fd(), path.file_name().unwrap_or_default().to_string_lossy());
        short.as_bytes()
    };
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    f((&addr as *const libc::sockaddr_un).cast(), len as libc::socklen_t)
}
