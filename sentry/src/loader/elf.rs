//! ELF64 headers: just what loading an x86_64 executable needs, parsed from bytes with every
//! field checked.

use crate::errno::{Errno, SysResult};

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
const EM_X86_64: u16 = 62;
pub const EHDR_SIZE: usize = 64;
pub const PHDR_SIZE: usize = 56;
/// The kernel refuses more program headers than fit in 64 KiB.
const MAX_PHDRS_BYTES: usize = 65536;

#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub kind: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phnum: u16,
}

#[derive(Clone, Copy, Debug)]
pub struct ProgramHeader {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

/// Whether `b` starts with the ELF magic.
pub fn is_elf(b: &[u8]) -> bool {
    b.starts_with(b"\x7fELF")
}

/// Parses and checks the file header: a little-endian 64-bit x86_64 executable or shared
/// object, else `ENOEXEC`.
pub fn parse_header(b: &[u8]) -> SysResult<Header> {
    if b.len() < EHDR_SIZE || !is_elf(b) || b[4] != 2 || b[5] != 1 || b[6] != 1 {
        return Err(Errno::ENOEXEC);
    }
    let kind = u16_at(b, 16);
    if !matches!(kind, ET_EXEC | ET_DYN) || u16_at(b, 18) != EM_X86_64 {
        return Err(Errno::ENOEXEC);
    }
    let phentsize = usize::from(u16_at(b, 54));
    let phnum = u16_at(b, 56);
    if phentsize != PHDR_SIZE || phnum == 0 || usize::from(phnum) * PHDR_SIZE > MAX_PHDRS_BYTES {
        return Err(Errno::ENOEXEC);
    }
    Ok(Header { kind, entry: u64_at(b, 24), phoff: u64_at(b, 32), phnum })
}

/// Parses `phnum` program headers from `b` and checks each loadable one.
pub fn parse_program_headers(b: &[u8], phnum: u16) -> SysResult<Vec<ProgramHeader>> {
    let count = usize::from(phnum);
    if b.len() < count * PHDR_SIZE {
        return Err(Errno::ENOEXEC);
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let p = &b[i * PHDR_SIZE..(i + 1) * PHDR_SIZE];
        let ph = ProgramHeader {
            kind: u32_at(p, 0),
            flags: u32_at(p, 4),
            offset: u64_at(p, 8),
            vaddr: u64_at(p, 16),
            filesz: u64_at(p, 32),
            memsz: u64_at(p, 40),
        };
        if ph.kind == PT_LOAD {
            let bad_sizes = ph.filesz > ph.memsz;
            let overflow = ph.vaddr.checked_add(ph.memsz).is_none() || ph.offset.checked_add(ph.filesz).is_none();
            let misaligned = ph.vaddr % 4096 != ph.offset % 4096;
            if bad_sizes || overflow || misaligned {
                return Err(Errno::ENOEXEC);
            }
        }
        out.push(ph);
    }
    Ok(out)
}

/// `PROT_*` bits for a segment's `PF_*` flags.
pub fn prot_of(flags: u32) -> i32 {
    let mut prot = 0;
    if flags & 4 != 0 {
        prot |= libc::PROT_READ;
    }
    if flags & 2 != 0 {
        prot |= libc::PROT_WRITE;
    }
    if flags & 1 != 0 {
        prot |= libc::PROT_EXEC;
    }
    prot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_an_x86_64_elf() {
        assert_eq!(parse_header(b"#!/bin/sh\n").unwrap_err(), Errno::ENOEXEC);
        assert_eq!(parse_header(b"\x7fELF").unwrap_err(), Errno::ENOEXEC);
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[6] = 1;
        h[16] = 2;
        h[18] = 40; // ARM
        assert_eq!(parse_header(&h).unwrap_err(), Errno::ENOEXEC);
        h[18] = 62;
        h[54] = 56;
        h[56] = 1;
        assert_eq!(parse_header(&h).unwrap().phnum, 1);
    }

    #[test]
    fn parses_the_sentry_own_binary() {
        let bytes = std::fs::read("/proc/self/exe").unwrap();
        let h = parse_header(&bytes).unwrap();
        let phoff = usize::try_from(h.phoff).unwrap();
        let phdrs = parse_program_headers(&bytes[phoff..], h.phnum).unwrap();
        assert!(phdrs.iter().any(|p| p.kind == PT_LOAD));
    }

    #[test]
    fn rejects_segments_with_bad_sizes() {
        let mut p = [0u8; PHDR_SIZE];
        p[0] = 1;
        p[32] = 2; // filesz 2 > memsz 0
        assert_eq!(parse_program_headers(&p, 1).unwrap_err(), Errno::ENOEXEC);
        assert_eq!(parse_program_headers(&p[..10], 1).unwrap_err(), Errno::ENOEXEC);
    }
}
