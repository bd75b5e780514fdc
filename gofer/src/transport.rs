//! Sending and receiving one `SOCK_SEQPACKET` record with descriptors (`SCM_RIGHTS`).
//!
//! Received descriptors are always marked close-on-exec (`MSG_CMSG_CLOEXEC`) and wrapped in
//! `OwnedFd` at once, so a caller that drops them (a malformed message, an unexpected fd) closes
//! them. Sends use `MSG_NOSIGNAL`: a closed peer is an `EPIPE` error, never a `SIGPIPE`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Most descriptors accepted with one record; any more are closed by the kernel and the record is
/// flagged `MSG_CTRUNC`.
const MAX_FDS: usize = 4;
/// Control buffer in `u64` words (so it is aligned for `cmsghdr`), large enough for `MAX_FDS` fds.
const CMSG_WORDS: usize = 8;

/// One received record.
pub(crate) struct Received {
    /// Bytes of payload stored in the caller's buffer.
    pub len: usize,
    /// Descriptors that came with it.
    pub fds: Vec<OwnedFd>,
    /// The record or its control data did not fit (`MSG_TRUNC` / `MSG_CTRUNC`).
    pub truncated: bool,
}

/// A connected pair of `SOCK_SEQPACKET` unix sockets, close-on-exec: one end for a [`crate::Client`],
/// the other for [`crate::serve`].
pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two fds socketpair writes.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair just created both fds and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Size in bytes of the control message carrying `n` fds (`CMSG_SPACE`).
fn cmsg_space(n: usize) -> usize {
    let bytes = u32::try_from(n * std::mem::size_of::<RawFd>()).unwrap_or(u32::MAX);
    // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
    let space = unsafe { libc::CMSG_SPACE(bytes) };
    usize::try_from(space).unwrap_or(usize::MAX)
}

/// Length of the control message header plus `n` bytes of data (`CMSG_LEN`).
fn cmsg_len(n: usize) -> usize {
    let bytes = u32::try_from(n).unwrap_or(u32::MAX);
    // SAFETY: CMSG_LEN is pure arithmetic on its argument.
    let len = unsafe { libc::CMSG_LEN(bytes) };
    usize::try_from(len).unwrap_or(usize::MAX)
}

/// Sends `msg` as one record, with `fd` attached if given. Retries on `EINTR`.
pub(crate) fn send(sock: BorrowedFd<'_>, msg: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let mut cbuf = [0u64; CMSG_WORDS];
    let mut iov = libc::iovec {
        iov_base: msg.as_ptr().cast_mut().cast(),
        iov_len: msg.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    if let Some(fd) = fd {
        debug_assert!(cmsg_space(1) <= std::mem::size_of_val(&cbuf));
        hdr.msg_control = cbuf.as_mut_ptr().cast();
        hdr.msg_controllen = cmsg_space(1) as _;
        // SAFETY: msg_control points at `cbuf`, which is aligned for cmsghdr and at least
        // CMSG_SPACE(4) bytes long, so the first header is non-null and its data has room for
        // one i32; we write through raw pointers, unaligned for the fd to be safe.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = cmsg_len(std::mem::size_of::<RawFd>()) as _;
            libc::CMSG_DATA(c)
                .cast::<RawFd>()
                .write_unaligned(fd.as_raw_fd());
        }
    }
    loop {
        // SAFETY: `hdr` points at `iov` (which describes `msg`, only read by the kernel) and at
        // `cbuf`, all alive for the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &hdr, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            // A SOCK_SEQPACKET record is sent whole or not at all.
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// Receives one record into `buf`. Retries on `EINTR`. A return with `len == 0` is either the
/// peer's orderly close or an empty record; see [`peer_closed`].
pub(crate) fn recv(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    let mut cbuf = [0u64; CMSG_WORDS];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = cbuf.as_mut_ptr().cast();
    hdr.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    let n = loop {
        // SAFETY: `hdr` points at `iov` (describing the writable `buf`) and at `cbuf`, both alive
        // and exclusively borrowed for the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut hdr, libc::MSG_CMSG_CLOEXEC) };
        if let Ok(n) = usize::try_from(n) {
            break n;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `hdr.msg_control`/`msg_controllen` with well-formed control
    // messages inside `cbuf`; CMSG_FIRSTHDR/CMSG_NXTHDR stay within msg_controllen, and each
    // SCM_RIGHTS payload holds (cmsg_len - CMSG_LEN(0)) / 4 fds that are now ours to own (read
    // unaligned, since CMSG_DATA need not be aligned for i32).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                // cmsg_len is size_t on glibc, u32 on musl.
                let data_len = ((*c).cmsg_len as usize).saturating_sub(cmsg_len(0));
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                for i in 0..data_len / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&hdr, c);
        }
    }
    let truncated = hdr.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0;
    debug_assert!(fds.len() <= MAX_FDS || truncated);
    Ok(Received {
        len: n,
        fds,
        truncated,
    })
}

/// After a zero-length receive: true if the peer has closed its end (hang-up pending), false if
/// that was an empty record from a live peer.
pub(crate) fn peer_closed(sock: BorrowedFd<'_>) -> bool {
    let mut p = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n < 0 || p.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR | libc::POLLNVAL) != 0
}
