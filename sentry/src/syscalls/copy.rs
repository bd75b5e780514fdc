//! In-kernel copies between files: `sendfile`, `copy_file_range` and `splice`, done with
//! reads and writes through the files' own operations (a sentry buffer in between).
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use syscall_tables::nr;

use super::file::{blocking, write_buf, MAX_RW_COUNT};
use super::{Args, Support, Table};
use crate::errno::{Errno, SysResult};
use crate::kernel::task::Task;
use crate::fs::pipe::PipeEnd;
use crate::vfs::{File, S_IFDIR, S_IFMT, S_IFREG};

pub static HANDLERS: Table = &[
    (nr::SENDFILE, sys_sendfile, Support::Full),
    (nr::COPY_FILE_RANGE, sys_copy_file_range, Support::Full),
    (nr::SPLICE, sys_splice, Support::Partial("a copy through the sentry; at most 64 KiB per call")),
];

/// Bytes moved per step.
const STEP: usize = 128 * 1024;

/// Reads an `loff_t *` argument: `None` for NULL, `EINVAL` for a negative offset.
fn offset_arg(t: &Task, addr: u64) -> SysResult<Option<u64>> {
    if addr == 0 {
        return Ok(None);
    }
    let off: i64 = t.mm.read_val(addr)?;
    u64::try_from(off).map(Some).map_err(|_| Errno::EINVAL)
}

/// sendfile(2): from `in_fd` (at `*offset`, or its position) to `out_fd` (at its position).
fn sys_sendfile(t: &mut Task, a: &Args) -> SysResult {
    let out = t.file(a.fd(0))?;
    let input = t.file(a.fd(1))?;
    if !input.readable() || !out.writable() {
        return Err(Errno::EBADF);
    }
    if out.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    let off_addr = a.u64(2);
    let explicit = offset_arg(t, off_addr)?;
    let seekable = input.ops.seekable();
    if explicit.is_some() && !seekable {
        return Err(Errno::ESPIPE);
    }
    let count = a.usize(3).min(MAX_RW_COUNT);
    // The position is read now and set at the end, never held locked across the writes (the
    // output may be the same open file).
    let start = explicit.unwrap_or_else(|| *input.offset.lock().unwrap());
    let mut buf = vec![0u8; count.min(STEP)];
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(buf.len());
        let at = start + done as u64;
        let r = if seekable {
            input.ops.read(at, &mut buf[..want])
        } else if done == 0 {
            blocking(t, &input, || input.ops.read(at, &mut buf[..want]))
        } else {
            input.ops.read(at, &mut buf[..want])
        };
        let n = match r {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let w = match write_buf(t, &out, None, &buf[..n]) {
            Ok(w) => w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += w;
        if w < n {
            break;
        }
    }
    let end = start + done as u64;
    match explicit {
        Some(_) => t.mm.write_val(off_addr, &(end as i64))?,
        None if seekable => *input.offset.lock().unwrap() = end,
        None => {}
    }
    Ok(done as u64)
}

/// The checks Linux makes of both files before `copy_file_range`.
fn check_regular(input: &File, out: &File) -> SysResult<()> {
    let (ik, ok) = (input.ops.stat()?.mode & S_IFMT, out.ops.stat()?.mode & S_IFMT);
    if ik == S_IFDIR || ok == S_IFDIR {
        return Err(Errno::EISDIR);
    }
    if ik != S_IFREG || ok != S_IFREG {
        return Err(Errno::EINVAL);
    }
    if !input.readable() || !out.writable() || out.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    Ok(())
}

/// copy_file_range(2) between regular files.
fn sys_copy_file_range(t: &mut Task, a: &Args) -> SysResult {
    let input = t.file(a.fd(0))?;
    let out = t.file(a.fd(2))?;
    if a.u32(5) != 0 {
        return Err(Errno::EINVAL);
    }
    check_regular(&input, &out)?;
    let (in_addr, out_addr) = (a.u64(1), a.u64(3));
    let in_start = match offset_arg(t, in_addr)? {
        Some(o) => o,
        None => *input.offset.lock().unwrap(),
    };
    let out_start = match offset_arg(t, out_addr)? {
        Some(o) => o,
        None => *out.offset.lock().unwrap(),
    };
    let in_st = input.ops.stat()?;
    let size = u64::try_from(in_st.size).unwrap_or(0);
    let count = (a.usize(4).min(MAX_RW_COUNT) as u64).min(size.saturating_sub(in_start));
    if in_start.checked_add(count).is_none_or(|e| e > i64::MAX as u64) || out_start.checked_add(count).is_none_or(|e| e > i64::MAX as u64) {
        return Err(Errno::EOVERFLOW);
    }
    let out_st = out.ops.stat()?;
    if in_st.dev == out_st.dev && in_st.ino == out_st.ino && in_start < out_start + count && out_start < in_start + count {
        return Err(Errno::EINVAL);
    }
    let count = count as usize;
    let mut buf = vec![0u8; count.min(STEP)];
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(buf.len());
        let n = match input.ops.read(in_start + done as u64, &mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let w = match write_buf(t, &out, Some(out_start + done as u64), &buf[..n]) {
            Ok(w) => w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += w;
        if w < n {
            break;
        }
    }
    let moved = done as u64;
    if in_addr != 0 {
        t.mm.write_val(in_addr, &((in_start + moved) as i64))?;
    } else {
        *input.offset.lock().unwrap() = in_start + moved;
    }
    if out_addr != 0 {
        t.mm.write_val(out_addr, &((out_start + moved) as i64))?;
    } else {
        *out.offset.lock().unwrap() = out_start + moved;
    }
    Ok(moved)
}

/// What one `splice` moves at most: a pipe's default capacity.
const SPLICE_MAX: usize = 64 * 1024;

fn is_pipe(f: &File) -> bool {
    f.ops.as_any().is_some_and(|a| a.is::<PipeEnd>())
}

/// splice(2): from or to a pipe (at least one end), at explicit offsets of the other file or
/// its position. What the input has now is moved, in one step, as Linux moves one pipe's worth.
fn sys_splice(t: &mut Task, a: &Args) -> SysResult {
    const SPLICE_F_ALL: u32 = 0xf;
    const SPLICE_F_NONBLOCK: u32 = 0x2;
    let (off_in_addr, off_out_addr, len, flags) = (a.u64(1), a.u64(3), a.usize(4), a.u32(5));
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let input = t.file(a.fd(0))?;
    let out = t.file(a.fd(2))?;
    if !input.readable() || !out.writable() {
        return Err(Errno::EBADF);
    }
    let (in_pipe, out_pipe) = (is_pipe(&input), is_pipe(&out));
    if !in_pipe && !out_pipe {
        return Err(Errno::EINVAL);
    }
    if (in_pipe && off_in_addr != 0) || (out_pipe && off_out_addr != 0) {
        return Err(Errno::ESPIPE);
    }
    if in_pipe && out_pipe && std::ptr::addr_eq(std::sync::Arc::as_ptr(&input.ops), std::sync::Arc::as_ptr(&out.ops)) {
        return Err(Errno::EINVAL);
    }
    if !out_pipe && out.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    let off_in = offset_arg(t, off_in_addr)?;
    let off_out = offset_arg(t, off_out_addr)?;
    if len == 0 {
        return Ok(0);
    }
    let seekable = input.ops.seekable();
    let start = off_in.unwrap_or_else(|| if seekable { *input.offset.lock().unwrap() } else { 0 });
    let mut buf = vec![0u8; len.min(SPLICE_MAX)];
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let n = if nonblock || seekable { input.ops.read(start, &mut buf)? } else { blocking(t, &input, || input.ops.read(start, &mut buf))? };
    if n == 0 {
        return Ok(0);
    }
    let w = write_buf(t, &out, off_out, &buf[..n])?;
    if let Some(o) = off_in {
        t.mm.write_val(off_in_addr, &((o + w as u64) as i64))?;
    } else if seekable {
        *input.offset.lock().unwrap() = start + w as u64;
    }
    if let Some(o) = off_out {
        t.mm.write_val(off_out_addr, &((o + w as u64) as i64))?;
    }
    Ok(w as u64)
}
