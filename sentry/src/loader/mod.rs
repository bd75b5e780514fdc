//! Loads a program into a new address space: `#!` scripts, static, static-PIE and dynamic ELF
//! executables (the interpreter comes from the sandbox's own root), and the initial stack with
//! argv, envp and the auxiliary vector.
//!
//! Segments are copied from the file into the memory file: the host kernel never maps or runs
//! the workload's binary itself.

pub mod elf;

use std::sync::Arc;

use elf::{ProgramHeader, ET_DYN, PT_INTERP, PT_LOAD, PT_PHDR};

use crate::errno::{Errno, SysResult};
use crate::fs::host::{fill_random, host_auxval};
use crate::mm::{page_down, page_up, MemoryManager, VmaKind, PAGE_SIZE, PROT_READ, PROT_WRITE};
use crate::vfs::walk::Walker;
use crate::vfs::{Dentry, FileOps, S_IFREG};
use crate::Kernel;

/// Largest `#!` line the kernel reads.
const SHEBANG_MAX: usize = 256;
/// Nested interpreters (`#!` naming another script) allowed before `ELOOP`.
const MAX_SCRIPT_DEPTH: u32 = 4;
/// Default stack size (`RLIMIT_STACK`).
pub const STACK_SIZE: u64 = 8 << 20;
/// Gap kept free below the stack before mappings start.
const STACK_GAP: u64 = 128 << 20;
/// Load address of position-independent executables, as Linux's `ELF_ET_DYN_BASE`.
const PIE_BASE: u64 = 0x5555_5555_4000;
/// argv plus envp may use at most this much of the stack, like Linux's quarter of it.
pub const MAX_ARG_BYTES: usize = (STACK_SIZE / 4) as usize;
/// Longest single argument or environment string (`MAX_ARG_STRLEN`).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// What `execve` was asked to run.
pub struct ExecRequest<'a> {
    pub root: &'a Arc<Dentry>,
    pub cwd: &'a Arc<Dentry>,
    pub path: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    pub uid: u32,
    pub gid: u32,
}

/// A loaded program, ready to run.
pub struct Image {
    pub mm: Arc<MemoryManager>,
    pub entry: u64,
    pub stack_pointer: u64,
    pub exe: Arc<Dentry>,
    /// The file name of the executable, for `comm`.
    pub name: Vec<u8>,
    /// Where the argument strings lie on the new stack (`/proc/PID/cmdline`).
    pub args: std::ops::Range<u64>,
    /// Where the environment strings lie (`/proc/PID/environ`).
    pub env: std::ops::Range<u64>,
}

/// Why a load failed: the errno `execve` returns, and what it was about.
#[derive(Debug)]
pub struct LoadError {
    pub errno: Errno,
    /// The file the error is about, when it is not the program itself (an interpreter).
    pub context: Option<String>,
}

impl From<Errno> for LoadError {
    fn from(errno: Errno) -> Self {
        LoadError { errno, context: None }
    }
}

/// Attaches "`what` `path`" to an error, e.g. "interpreter /lib64/ld-linux-x86-64.so.2".
fn about(what: &str, path: &[u8]) -> impl Fn(Errno) -> LoadError {
    let context = format!("{what} {}", String::from_utf8_lossy(path));
    move |errno| LoadError { errno, context: Some(context.clone()) }
}

/// An executable file found and opened.
struct Opened {
    dentry: Arc<Dentry>,
    file: Arc<dyn FileOps>,
}

fn open_executable(req: &ExecRequest, path: &[u8]) -> SysResult<Opened> {
    let dentry = Walker { root: req.root }.resolve(req.cwd, path, true)?;
    let st = dentry.inode.stat()?;
    // Directories and special files are not executable, whatever their mode says.
    if st.mode & libc::S_IFMT != S_IFREG || st.mode & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    let file = dentry.inode.open(libc::O_RDONLY)?;
    Ok(Opened { dentry, file })
}

/// Reads exactly `len` bytes at `offset`, or fails with `ENOEXEC` (a truncated file).
fn read_exact(file: &dyn FileOps, offset: u64, len: usize) -> SysResult<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let n = file.read(offset + done as u64, &mut buf[done..])?;
        if n == 0 {
            return Err(Errno::ENOEXEC);
        }
        done += n;
    }
    Ok(buf)
}

/// Reads up to `len` bytes at offset 0.
fn read_head(file: &dyn FileOps, len: usize) -> SysResult<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        let n = file.read(done as u64, &mut buf[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    buf.truncate(done);
    Ok(buf)
}

/// Splits a `#!` line into the interpreter and its optional single argument.
fn parse_shebang(head: &[u8]) -> SysResult<(Vec<u8>, Option<Vec<u8>>)> {
    let line = &head[2..];
    let line = match line.iter().position(|&b| b == b'\n') {
        Some(n) => &line[..n],
        None if head.len() >= SHEBANG_MAX => return Err(Errno::ENOEXEC),
        None => line,
    };
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let line: &[u8] = {
        let start = line.iter().position(|b| !is_space(b)).unwrap_or(line.len());
        let end = line.iter().rposition(|b| !is_space(b)).map_or(start, |e| e + 1);
        &line[start..end.max(start)]
    };
    if line.is_empty() {
        return Err(Errno::ENOEXEC);
    }
    let split = line.iter().position(is_space);
    let interp = line[..split.unwrap_or(line.len())].to_vec();
    let arg = split.map(|s| {
        let rest = &line[s..];
        let from = rest.iter().position(|b| !is_space(b)).unwrap_or(rest.len());
        rest[from..].to_vec()
    });
    Ok((interp, arg.filter(|a| !a.is_empty())))
}

/// Loads the program named by `req`, following `#!` interpreters.
pub fn load(kernel: &Kernel, mut req: ExecRequest) -> Result<Image, LoadError> {
    for _ in 0..=MAX_SCRIPT_DEPTH {
        let path = req.path.clone();
        let opened = open_executable(&req, &path)?;
        let head = read_head(opened.file.as_ref(), SHEBANG_MAX)?;
        if head.starts_with(b"#!") {
            let (interp, arg) = parse_shebang(&head)?;
            let mut argv = vec![interp.clone()];
            argv.extend(arg);
            argv.push(path);
            argv.extend(req.argv.into_iter().skip(1));
            req.argv = argv;
            req.path = interp;
            continue;
        }
        if !elf::is_elf(&head) {
            return Err(Errno::ENOEXEC.into());
        }
        return load_elf(kernel, &req, opened);
    }
    Err(Errno::ELOOP.into())
}

/// One ELF file mapped into the address space.
struct Loaded {
    bias: u64,
    entry: u64,
    phdr_addr: u64,
    phnum: u16,
    /// First page after the highest segment.
    end: u64,
}

fn load_elf(kernel: &Kernel, req: &ExecRequest, exe: Opened) -> Result<Image, LoadError> {
    let space = kernel.platform.new_address_space().map_err(|e| {
        tracing::error!("creating an address space: {e}");
        LoadError::from(Errno::ENOMEM)
    })?;
    let max = kernel.platform.max_user_address();
    let mm = Arc::new(MemoryManager::new(space, kernel.memfile.clone(), max));

    // Stack just below the top, then the mmap area below a gap.
    let stack_top = max - PAGE_SIZE * 16 - random_pages(1 << 14);
    mm.map_anon(stack_top - STACK_SIZE, STACK_SIZE, PROT_READ | PROT_WRITE, true, false, VmaKind::Stack)?;
    mm.set_mmap_base(stack_top - STACK_SIZE - STACK_GAP - random_pages(1 << 20));
    let vdso = match &kernel.vdso {
        Some(v) => map_vdso(v, &mm, stack_top, max)?,
        None => 0,
    };

    let name = req.path.rsplit(|&b| b == b'/').next().unwrap_or(&req.path).to_vec();
    let exe_path = exe.dentry.path_from(req.root);
    let main = map_elf(kernel, &mm, exe.file.as_ref(), true, &exe_path)?;
    let interp_path = main.1;
    let main = main.0;
    mm.set_brk_start(main.end + random_pages(1 << 13));
    let (base, entry) = match interp_path {
        Some(path) => {
            let interp = open_executable(req, &path).map_err(about("interpreter", &path))?;
            let (loaded, nested) = map_elf(kernel, &mm, interp.file.as_ref(), false, &path).map_err(|e| about("interpreter", &path)(e.errno))?;
            if nested.is_some() {
                return Err(about("interpreter", &path)(Errno::ELIBBAD));
            }
            (loaded.bias, loaded.entry)
        }
        None => (0, main.entry),
    };

    let auxv = Auxv { main: &main, base, vdso, uid: req.uid, gid: req.gid };
    let stack = build_stack(&mm, stack_top, &req.argv, &req.envp, &req.path, &auxv)?;
    Ok(Image { mm, entry, stack_pointer: stack.sp, exe: exe.dentry, name, args: stack.args, env: stack.env })
}

/// Maps the vDSO's data page and image above the stack (between `stack_top` and `max`), a
/// guard page and a random number of pages above it, as Linux places them; returns the image's
/// address.
fn map_vdso(vdso: &crate::vdso::Vdso, mm: &MemoryManager, stack_top: u64, max: u64) -> SysResult<u64> {
    let room = (max - stack_top) / PAGE_SIZE;
    let need = 1 + vdso.mapped_len() / PAGE_SIZE;
    let spare = room.checked_sub(need).ok_or(Errno::ENOMEM)?.clamp(1, 512);
    vdso.map(mm, stack_top + PAGE_SIZE + random_pages(spare))
}

fn random_pages(range: u64) -> u64 {
    let mut b = [0u8; 8];
    fill_random(&mut b);
    (u64::from_le_bytes(b) % range) * PAGE_SIZE
}

/// Maps one ELF file. `main` places ET_DYN files at the PIE base, others wherever there is
/// room. Returns the mapping and the PT_INTERP path, if any.
fn map_elf(kernel: &Kernel, mm: &MemoryManager, file: &dyn FileOps, main: bool, name: &[u8]) -> Result<(Loaded, Option<Vec<u8>>), LoadError> {
    let header_bytes = read_exact(file, 0, elf::EHDR_SIZE)?;
    let h = elf::parse_header(&header_bytes)?;
    let phdr_bytes = read_exact(file, h.phoff, usize::from(h.phnum) * elf::PHDR_SIZE)?;
    let phdrs = elf::parse_program_headers(&phdr_bytes, h.phnum)?;
    let loads: Vec<&ProgramHeader> = phdrs.iter().filter(|p| p.kind == PT_LOAD).collect();
    let (Some(first), Some(last)) = (loads.first(), loads.last()) else { return Err(Errno::ENOEXEC.into()) };
    let lo = page_down(first.vaddr);
    let hi = page_up(last.vaddr + last.memsz).ok_or(Errno::ENOEXEC)?;
    if hi <= lo || loads.windows(2).any(|w| w[1].vaddr < w[0].vaddr) {
        return Err(Errno::ENOEXEC.into());
    }

    let interp = match phdrs.iter().find(|p| p.kind == PT_INTERP) {
        Some(p) if p.filesz > 1 && p.filesz <= 4096 => {
            let mut path = read_exact(file, p.offset, usize::try_from(p.filesz).map_err(|_| Errno::ENOEXEC)?)?;
            if path.pop() != Some(0) || path.contains(&0) {
                return Err(Errno::ENOEXEC.into());
            }
            Some(path)
        }
        Some(_) => return Err(Errno::ENOEXEC.into()),
        None => None,
    };

    // Reserve the whole span first so that segments land together, then fill it.
    let bias = if h.kind == ET_DYN {
        let hint = if main { PIE_BASE + random_pages(1 << 16) } else { 0 };
        let at = mm.map_anon(hint, hi - lo, 0, main, false, VmaKind::File(name.into()))?;
        at - lo
    } else {
        0
    };
    for p in &loads {
        let start = page_down(p.vaddr + bias);
        let end = page_up(p.vaddr + bias + p.memsz).ok_or(Errno::ENOEXEC)?;
        let lead = p.vaddr + bias - start;
        let prot = elf::prot_of(p.flags);
        // Read-only segments of root files map the shared page cache instead of a copy.
        let segment = Segment { addr: start, len: end - start, offset: p.offset - lead, prot };
        if prot & PROT_WRITE == 0 && p.memsz == p.filesz && map_segment_cached(kernel, mm, file, &segment, name)? {
            continue;
        }
        mm.map_anon(start, end - start, prot, true, false, VmaKind::File(name.into()))?;
        // A segment that runs past the end of the file is a truncated file.
        if mm.fill_from(start, file, p.offset - lead, p.filesz + lead)? < p.filesz + lead {
            return Err(Errno::ENOEXEC.into());
        }
    }

    let phdr_addr = match phdrs.iter().find(|p| p.kind == PT_PHDR) {
        Some(p) => p.vaddr + bias,
        None => loads
            .iter()
            .find(|p| p.offset <= h.phoff && h.phoff < p.offset + p.filesz)
            .map(|p| p.vaddr + (h.phoff - p.offset) + bias)
            .unwrap_or(0),
    };
    let loaded = Loaded { bias, entry: h.entry + bias, phdr_addr, phnum: h.phnum, end: hi + bias };
    Ok((loaded, interp))
}

/// A page-aligned piece of a file to map.
struct Segment {
    addr: u64,
    len: u64,
    offset: u64,
    prot: i32,
}

/// Maps a segment of a root file from the page cache; false if the file is not cached (not a
/// file of the read-only root, or the range runs past its end).
fn map_segment_cached(kernel: &Kernel, mm: &MemoryManager, file: &dyn FileOps, s: &Segment, name: &[u8]) -> SysResult<bool> {
    let Some(data) = crate::mm::cache::cacheable(file) else { return Ok(false) };
    let cached = kernel.page_cache.get(&kernel.memfile, &data.stat()?)?;
    let (first, pages) = (s.offset / PAGE_SIZE, s.len / PAGE_SIZE);
    if first + pages > cached.pages() {
        return Ok(false);
    }
    cached.fill(&kernel.memfile, data.as_ref(), first, pages)?;
    mm.map_cached(s.addr, s.len, s.prot, cached.backing.clone(), cached.offset_of(s.offset), VmaKind::File(name.into()))?;
    Ok(true)
}

struct Auxv<'a> {
    main: &'a Loaded,
    base: u64,
    /// The vDSO image's address, 0 for none.
    vdso: u64,
    uid: u32,
    gid: u32,
}

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_HWCAP2: u64 = 26;
const AT_EXECFN: u64 = 31;
const AT_SYSINFO_EHDR: u64 = 33;
const AT_MINSIGSTKSZ: u64 = 51;

/// The initial stack: its pointer, and where the argument and environment strings are.
struct Stack {
    sp: u64,
    args: std::ops::Range<u64>,
    env: std::ops::Range<u64>,
}

/// Writes strings, auxv, envp, argv and argc below `top`. The argument strings and then the
/// environment strings are contiguous, in order, as Linux lays them out.
fn build_stack(mm: &MemoryManager, top: u64, argv: &[Vec<u8>], envp: &[Vec<u8>], execfn: &[u8], aux: &Auxv) -> SysResult<Stack> {
    let total: usize = argv.iter().chain(envp).map(|s| s.len() + 1).sum();
    if total > MAX_ARG_BYTES || argv.iter().chain(envp).any(|s| s.len() >= MAX_ARG_STRLEN) {
        return Err(Errno::E2BIG);
    }
    let mut sp = top;
    let mut push = |bytes: &[u8]| -> SysResult<u64> {
        sp -= bytes.len() as u64 + 1;
        mm.poke(sp, bytes)?;
        mm.poke(sp + bytes.len() as u64, &[0])?;
        Ok(sp)
    };
    let execfn_addr = push(execfn)?;
    let strings = total as u64;
    let arg_start = sp - strings;
    let mut at = arg_start;
    let mut place = |s: &Vec<u8>| -> SysResult<u64> {
        let addr = at;
        mm.poke(addr, s)?;
        mm.poke(addr + s.len() as u64, &[0])?;
        at += s.len() as u64 + 1;
        Ok(addr)
    };
    let arg_addrs = argv.iter().map(&mut place).collect::<SysResult<Vec<u64>>>()?;
    let env_addrs = envp.iter().map(&mut place).collect::<SysResult<Vec<u64>>>()?;
    let env_start = env_addrs.first().copied().unwrap_or(arg_start + strings);
    sp = arg_start;
    let mut push = |bytes: &[u8]| -> SysResult<u64> {
        sp -= bytes.len() as u64 + 1;
        mm.poke(sp, bytes)?;
        mm.poke(sp + bytes.len() as u64, &[0])?;
        Ok(sp)
    };
    let platform_addr = push(b"x86_64")?;
    let mut random = [0u8; 16];
    fill_random(&mut random);
    sp = (sp - 16) & !15;
    let random_addr = sp;
    mm.poke(random_addr, &random)?;

    let vdso = (aux.vdso != 0).then_some((AT_SYSINFO_EHDR, aux.vdso));
    let auxv: Vec<(u64, u64)> = vdso.into_iter().chain([
        (AT_PHDR, aux.main.phdr_addr),
        (AT_PHENT, elf::PHDR_SIZE as u64),
        (AT_PHNUM, u64::from(aux.main.phnum)),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_BASE, aux.base),
        (AT_FLAGS, 0),
        (AT_ENTRY, aux.main.entry),
        (AT_UID, u64::from(aux.uid)),
        (AT_EUID, u64::from(aux.uid)),
        (AT_GID, u64::from(aux.gid)),
        (AT_EGID, u64::from(aux.gid)),
        (AT_PLATFORM, platform_addr),
        (AT_HWCAP, host_auxval(AT_HWCAP)),
        (AT_CLKTCK, 100),
        (AT_SECURE, 0),
        (AT_RANDOM, random_addr),
        (AT_HWCAP2, host_auxval(AT_HWCAP2)),
        (AT_EXECFN, execfn_addr),
        (AT_MINSIGSTKSZ, host_auxval(AT_MINSIGSTKSZ)),
        (AT_NULL, 0),
    ]).collect();
    let mut words: Vec<u64> = Vec::with_capacity(3 + argv.len() + envp.len() + auxv.len() * 2);
    words.push(argv.len() as u64);
    words.extend(&arg_addrs);
    words.push(0);
    words.extend(&env_addrs);
    words.push(0);
    for &(k, v) in &auxv {
        words.push(k);
        words.push(v);
    }
    sp = (sp - words.len() as u64 * 8) & !15;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    mm.poke(sp, &bytes)?;
    Ok(Stack { sp, args: arg_start..env_start, env: env_start..arg_start + strings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines() {
        assert_eq!(parse_shebang(b"#!/bin/sh\necho").unwrap(), (b"/bin/sh".to_vec(), None));
        assert_eq!(parse_shebang(b"#! /usr/bin/env  python3 -u \n").unwrap(), (b"/usr/bin/env".to_vec(), Some(b"python3 -u".to_vec())));
        assert_eq!(parse_shebang(b"#!\n").unwrap_err(), Errno::ENOEXEC);
        assert_eq!(parse_shebang(b"#!/bin/sh").unwrap(), (b"/bin/sh".to_vec(), None));
    }
}
