// Only x86_64 is supported: ELF offsets (u64) fit in usize.
#![allow(clippy::cast_possible_truncation)]

use super::clock::*;
use super::*;

/// A 2.5 GHz TSC: 0.4 ns per tick.
const MULT_2_5_GHZ: u64 = (2 << SHIFT) / 5;

#[test]
fn params_convert_ticks_to_nanoseconds() {
    let p = Params { tsc_base: 1_000, ns_base: 5_000, mult: MULT_2_5_GHZ };
    assert_eq!(p.ns_at(1_000), 5_000);
    assert_eq!(p.ns_at(3_500), 5_999, "2,500 ticks are 1,000 ns, less the rounding of mult");
    assert_eq!(p.ns_at(1_000 + 2_500_000_000), 5_000 + 999_999_999);
    // Before the base (another CPU's TSC a little behind): the base value, never less.
    assert_eq!(p.ns_at(999), 5_000);
    assert_eq!(p.ns_at(0), 5_000);
    // A whole day of ticks does not overflow.
    let day = 86_400 * 2_500_000_000u64;
    assert!((p.ns_at(1_000 + day) - 5_000 - 86_400_000_000_000).abs() < 1_000_000);
}

#[test]
fn rates_convert_both_ways() {
    assert_eq!(mult_for(1_000, 2_500), Some(MULT_2_5_GHZ));
    assert_eq!(mult_for(1, 0), None);
    assert_eq!(scale(2_500, MULT_2_5_GHZ), 999);
    assert!(ticks_for(1_000_000, MULT_2_5_GHZ).abs_diff(2_500_000) <= 1);
}

#[test]
fn tracker_waits_for_a_rate_then_follows_the_host() {
    let first = Sample { tsc: 10_000, ns: 1_000_000 };
    let mut t = Tracker::new(first);
    assert_eq!(t.rate(first), None, "no time has passed");
    assert_eq!(t.update(first, first.tsc, 1_000_000), None);
    assert_eq!(t.rate(Sample { tsc: 5_000, ns: 2_000_000 }), None, "the TSC went back");
    // 4 ms later at 2.5 GHz.
    let s = Sample { tsc: 10_000 + 10_000_000, ns: 5_000_000 };
    let p = t.update(s, s.tsc + 1_000, 8_000_000).unwrap();
    // The first parameters start at the host's time (plus the lead), to the rounding of the rate.
    assert!(p.ns_base.abs_diff(5_000_000 + 400 + LEAD_NS) <= 1, "{}", p.ns_base);
    assert!(p.mult.abs_diff(MULT_2_5_GHZ) < MULT_2_5_GHZ / 1_000_000);
    assert_eq!(t.params(), Some(p));
}

/// A host clock at exactly 2.5 GHz, sampled every `period`; the sandbox's clock must stay
/// within a microsecond or so of it (plus the lead) and never decrease, even across updates.
#[test]
fn clock_tracks_the_host_and_never_goes_back() {
    let host = |tsc: u64| 7_000_000_000 + scale(tsc, MULT_2_5_GHZ);
    let start = 123_456_789;
    let mut t = Tracker::new(Sample { tsc: start, ns: host(start) });
    let mut tsc = start;
    let mut period_ns = 4_000_000u64;
    let mut last_read = i64::MIN;
    let mut old: Option<Params> = None;
    for _ in 0..40 {
        let step = ticks_for(period_ns, MULT_2_5_GHZ);
        // Read the clock in force all through the period, as applications do.
        if let Some(p) = old {
            for i in 0..=100 {
                let now = p.ns_at(tsc + step * i / 100);
                assert!(now >= last_read, "went back from {last_read} to {now}");
                last_read = now;
            }
            let error = p.ns_at(tsc + step) - host(tsc + step);
            assert!((error - LEAD_NS).abs() < 1_000, "off the host by {error} ns");
        }
        tsc += step;
        period_ns = (period_ns * 2).min(500_000_000);
        let p = t.update(Sample { tsc, ns: host(tsc) }, tsc + 1_000, period_ns).unwrap();
        if let Some(o) = old {
            // The new piece starts where the old one stands at its base.
            assert_eq!(p.ns_base, o.ns_at(p.tsc_base));
            assert!(p.ns_at(tsc) >= o.ns_at(tsc));
        }
        old = Some(p);
    }
}

/// Errors of any sign are absorbed without the clock going back: a host that was ahead (the
/// clock steps forward) or behind (the clock slows down, at most to half speed).
#[test]
fn large_errors_step_forward_or_slow_down() {
    let mut t = Tracker::new(Sample { tsc: 0, ns: 0 });
    let p = t.update(Sample { tsc: 2_500_000, ns: 1_000_000 }, 2_500_000, 100_000_000).unwrap();
    // The host jumps 50 ms ahead of the TSC's pace: step.
    let s = Sample { tsc: 252_500_000, ns: 151_000_000 };
    let q = t.update(s, s.tsc, 100_000_000).unwrap();
    assert_eq!(q.ns_base, s.ns + LEAD_NS);
    assert!(q.ns_base > p.ns_at(s.tsc));
    // Now the host falls 30 ms behind: no step back, the clock runs slower.
    let s = Sample { tsc: 502_500_000, ns: 221_000_000 };
    let r = t.update(s, s.tsc, 100_000_000).unwrap();
    assert_eq!(r.ns_base, q.ns_at(s.tsc));
    assert!(r.mult < q.mult && r.mult >= q.mult / 3, "slower, but not stopped: {} vs {}", r.mult, q.mult);
}

#[test]
fn offsets_change_only_when_the_clock_is_set() {
    assert_eq!(sticky_offset(None, 1_700_000_000_000_000_000), 1_700_000_000_000_000_000);
    assert_eq!(sticky_offset(Some(1_000_000), 1_000_300), 1_000_000, "noise");
    assert_eq!(sticky_offset(Some(1_000_000), 999_100), 1_000_000, "noise");
    assert_eq!(sticky_offset(Some(1_000_000), 5_000_000), 5_000_000, "the host's clock was set");
}

/// The image is what glibc expects of a vDSO: an ELF shared object with one read-only,
/// executable segment from address 0, a read-only PT_DYNAMIC, no relocations, and the versioned
/// symbols glibc looks up.
#[test]
fn image_is_a_vdso_glibc_accepts() {
    let img = IMAGE;
    assert_eq!(&img[..4], b"\x7fELF");
    let u16_at = |o: usize| u16::from_le_bytes([img[o], img[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(img[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(img[o..o + 8].try_into().unwrap());
    assert_eq!(u16_at(16), 3, "ET_DYN");
    let (phoff, phnum) = (u64_at(32) as usize, usize::from(u16_at(56)));
    let mut loads = Vec::new();
    let mut dynamic = None;
    for i in 0..phnum {
        let ph = phoff + i * 56;
        let (kind, flags, offset, vaddr, filesz) = (u32_at(ph), u32_at(ph + 4), u64_at(ph + 8), u64_at(ph + 16), u64_at(ph + 32));
        match kind {
            1 => loads.push((flags, offset, vaddr, filesz)),
            2 => dynamic = Some((flags, offset, filesz)),
            _ => {}
        }
    }
    assert_eq!(loads.len(), 1, "one PT_LOAD");
    assert_eq!(loads[0], (5, 0, 0, loads[0].3), "R+X, from offset and address 0");
    assert!(loads[0].3 <= img.len() as u64);
    let (flags, offset, size) = dynamic.expect("PT_DYNAMIC");
    assert_eq!(flags, 4, "PT_DYNAMIC read-only, so that glibc does not write to it");
    let mut tags = std::collections::HashMap::new();
    for i in 0..(size as usize / 16) {
        let at = offset as usize + i * 16;
        tags.insert(u64_at(at), u64_at(at + 8));
    }
    for reloc in [7u64, 17, 23, 0x6fff_fff9, 0x6fff_fffa] {
        assert!(!tags.contains_key(&reloc), "dynamic tag {reloc:#x}: the image must need no relocation");
    }
    let (symtab, strtab) = (tags[&6] as usize, tags[&5] as usize);
    let versym = tags[&0x6fff_fff0] as usize;
    let name = |at: usize| {
        let end = img[at..].iter().position(|&b| b == 0).unwrap();
        std::str::from_utf8(&img[at..at + end]).unwrap().to_string()
    };
    // DT_HASH's nchain is the number of symbols.
    let nsyms = u32_at(tags[&4] as usize + 4) as usize;
    let symbols: Vec<(String, u16)> = (0..nsyms).map(|i| (name(strtab + u32_at(symtab + i * 24) as usize), u16_at(versym + 2 * i))).collect();
    // The version definitions: the version with index 2 must be LINUX_2.6.
    let mut verdef = tags[&0x6fff_fffc] as usize;
    let mut versions = std::collections::HashMap::new();
    loop {
        let (index, aux, next) = (u16_at(verdef + 4), u32_at(verdef + 12) as usize, u32_at(verdef + 16) as usize);
        versions.insert(index, name(strtab + u32_at(verdef + aux) as usize));
        if next == 0 {
            break;
        }
        verdef += next;
    }
    for want in ["__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_getcpu", "__vdso_clock_getres", "clock_gettime", "gettimeofday", "time", "getcpu", "clock_getres"] {
        let (_, v) = symbols.iter().find(|(n, _)| n == want).unwrap_or_else(|| panic!("{want} missing"));
        assert_eq!(versions[v], "LINUX_2.6", "version of {want}");
    }
}

/// The sentry's reading of the data page: nothing until the clock is published, then a clock
/// within a few microseconds of the host's that never decreases across updates.
#[test]
fn data_page_publishes_a_clock_close_to_the_hosts() {
    let mf = Arc::new(MemoryFile::new().unwrap());
    let page = DataPage { mf: mf.clone(), backing: Backing::allocate(&mf, PAGE_SIZE).unwrap() };
    assert_eq!(page.read(Which::Monotonic), None);
    let mut tracker = Tracker::new(sample());
    std::thread::sleep(Duration::from_millis(5));
    let mut last = i64::MIN;
    for _ in 0..5 {
        let s = sample();
        page.write(|w, base| {
            let p = tracker.update(s, base, 5_000_000).unwrap();
            w[word::TSC_BASE].store(p.tsc_base, Ordering::Relaxed);
            w[word::MULT].store(p.mult, Ordering::Relaxed);
            w[word::MONO_BASE].store(p.ns_base.cast_unsigned(), Ordering::Relaxed);
            w[word::REAL_OFFSET].store(host_offset(libc::CLOCK_REALTIME).cast_unsigned(), Ordering::Relaxed);
            w[word::FLAGS].fetch_or(F_CLOCK, Ordering::Relaxed);
        });
        for _ in 0..1000 {
            let ours = page.read(Which::Monotonic).unwrap();
            assert!(ours >= last, "went back from {last} to {ours}");
            last = ours;
        }
        let before = host_ns(libc::CLOCK_MONOTONIC);
        let ours = page.read(Which::Monotonic).unwrap();
        let after = host_ns(libc::CLOCK_MONOTONIC);
        // Generous bounds: a loaded test machine may preempt between the readings.
        assert!(ours > before - 2_000_000 && ours < after + 2_000_000, "{before} <= {ours} <= {after}");
        let real = page.read(Which::Realtime).unwrap();
        assert!((real - host_ns(libc::CLOCK_REALTIME)).abs() < 5_000_000);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The two mappings behave like Linux's special mappings: the data page is the one live page
/// (also after fork) and never writable; the image is private (a write copies it) and may move
/// or go, but not grow.
#[test]
fn mappings_are_shared_page_and_private_image() {
    use crate::errno::Errno;
    use crate::mm::PROT_WRITE;
    let mf = Arc::new(MemoryFile::new().unwrap());
    let vdso = Vdso::new(&mf).unwrap();
    let mm = MemoryManager::new(Arc::new(crate::testing::FakeSpace::default()), mf.clone(), 0x7000_0000_0000);
    let at = 0x6000_0000_0000;
    let image = vdso.map(&mm, at).unwrap();
    assert_eq!(image, at + PAGE_SIZE);
    let vmas = mm.vmas();
    assert_eq!(vmas.len(), 2);
    let (vvar, code) = (&vmas[0].1, &vmas[1].1);
    assert_eq!((vmas[0].0, vvar.kind.clone(), vvar.prot, vvar.shared), (at, VmaKind::Vvar, PROT_READ, true));
    assert_eq!(vvar.offset, vdso.page.backing.offset());
    assert_eq!((vmas[1].0, code.kind.clone(), code.prot, code.cow), (image, VmaKind::Vdso, PROT_READ | PROT_EXEC, true));
    assert_eq!(code.end - image, page_up(IMAGE.len() as u64).unwrap());
    let mut head = [0u8; 4];
    mm.copy_in(image, &mut head).unwrap();
    assert_eq!(&head, b"\x7fELF");

    assert_eq!(mm.protect(at, PAGE_SIZE, PROT_READ | PROT_WRITE), Err(Errno::EACCES));
    assert_eq!(mm.remap(image, PAGE_SIZE, 2 * PAGE_SIZE, true, None), Err(Errno::EFAULT));
    assert_eq!(mm.remap(at, PAGE_SIZE, 2 * PAGE_SIZE, true, None), Err(Errno::EFAULT));

    // A child's data page is the same page of the memory file.
    let child = MemoryManager::from_copy(mm.fork_copy().unwrap(), Arc::new(crate::testing::FakeSpace::default()), mf.clone()).unwrap();
    assert_eq!(child.vmas()[0].1.offset, vdso.page.backing.offset());

    // Writing to the image (a debugger's breakpoint) copies it for this process only.
    mm.protect(image, PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC).unwrap();
    mm.copy_out(image, b"XXXX").unwrap();
    let mut other = [0u8; 4];
    child.copy_in(image, &mut other).unwrap();
    assert_eq!(&other, b"\x7fELF", "the shared image is untouched");
    assert!(mm.vmas()[1].1.prot & PROT_WRITE != 0);

    // Both may go.
    mm.unmap(at, vdso.mapped_len()).unwrap();
    assert!(mm.vmas().is_empty(), "{:?}", mm.vmas());
    let mut word = [0u8; 8];
    child.copy_in(at, &mut word).unwrap();
}
