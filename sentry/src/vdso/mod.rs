//! The sentry's own vDSO: `clock_gettime`, `gettimeofday`, `time`, `clock_getres` and `getcpu`
//! answered inside the application, without a trap.
//!
//! The image (`sentry/vdso/vdso.c`, built by `build.rs`) and its data page live once in the
//! memory file. Every address space gets the data page (`[vvar]`, read-only, shared: always the
//! live page) and right after it the image (`[vdso]`, read-only private pages of the one copy),
//! and `AT_SYSINFO_EHDR` names the image. The application may unmap, move or protect them like
//! any mapping; it then simply makes system calls.
//!
//! The data page holds the clock as a linear function of the TSC (see [`clock`]), which a
//! sentry thread refreshes, under a sequence counter, from the host's clocks: first a few
//! milliseconds after start (until then the vDSO passes every call to the sentry), then at
//! growing intervals up to [`MAX_PERIOD`]. The sentry's own clock system calls read the same
//! page, so that the two ways to ask agree to the nanosecond. Without an invariant TSC the page
//! never says the clock is valid and every call traps as before.
//!
//! `getcpu` reads the CPU number from `RDTSCP`'s TSC_AUX, which the host kernel sets to
//! `cpu | node << 12`, once the sentry has seen that it agrees with the host's `getcpu` (the
//! answer of the system call: the platform runs each application thread on its sentry thread's
//! CPU).
#![allow(unsafe_code)]

pub mod clock;
#[cfg(test)]
mod tests;

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use clock::{sticky_offset, Sample, Tracker};

use crate::abi::Timespec;
use crate::errno::SysResult;
use crate::fs::host::host_clock;
use crate::mm::{page_up, Backing, MemoryFile, MemoryManager, VmaKind, PAGE_SIZE, PROT_EXEC, PROT_READ};

/// The vDSO image, as `build.rs` linked it.
pub static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// Words of the data page; `vdso.c` reads the same ones.
mod word {
    /// Odd while the sentry rewrites the page.
    pub const SEQ: usize = 0;
    pub const FLAGS: usize = 1;
    pub const TSC_BASE: usize = 2;
    pub const MULT: usize = 3;
    pub const MONO_BASE: usize = 4;
    pub const REAL_OFFSET: usize = 5;
    pub const BOOT_OFFSET: usize = 6;
    pub const COUNT: usize = 7;
}

/// `FLAGS`: the clock words are valid.
const F_CLOCK: u64 = 1;
/// `FLAGS`: TSC_AUX holds the CPU and node numbers the host's `getcpu` gives.
const F_GETCPU: u64 = 2;

/// The first update comes this long after start (the calibration of the TSC's rate)...
const FIRST_PERIOD: Duration = Duration::from_millis(4);
/// ...and the interval doubles up to this.
pub const MAX_PERIOD: Duration = Duration::from_millis(500);
/// New parameters take over this many ticks after the sentry reads the TSC to publish them,
/// a margin for TSCs of different CPUs that differ by a few ticks.
const BASE_MARGIN_TICKS: u64 = 1_000;

/// A clock the data page answers for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Monotonic,
    Realtime,
    Boottime,
}

impl Which {
    /// The clock the sandbox reads for host clock `id`, or None for clocks the page does not
    /// hold.
    pub fn of_host_clock(id: libc::clockid_t) -> Option<Which> {
        match id {
            libc::CLOCK_MONOTONIC => Some(Which::Monotonic),
            libc::CLOCK_REALTIME => Some(Which::Realtime),
            libc::CLOCK_BOOTTIME => Some(Which::Boottime),
            _ => None,
        }
    }
}

/// The TSC, read after every earlier instruction and before every later one.
fn tsc() -> u64 {
    // SAFETY: LFENCE and RDTSC only order instructions and read the time-stamp counter; every
    // x86_64 CPU has both (SSE2 is part of the architecture).
    unsafe {
        std::arch::x86_64::_mm_lfence();
        let t = std::arch::x86_64::_rdtsc();
        std::arch::x86_64::_mm_lfence();
        t
    }
}

/// Whether the TSC runs at a constant rate through power states (CPUID's invariant-TSC bit),
/// which a clock needs.
fn tsc_invariant() -> bool {
    let max = std::arch::x86_64::__cpuid(0x8000_0000).eax;
    max >= 0x8000_0007 && std::arch::x86_64::__cpuid(0x8000_0007).edx & (1 << 8) != 0
}

/// The host's CPU and NUMA node for the calling thread.
pub fn host_getcpu() -> (u32, u32) {
    let (mut cpu, mut node) = (0u32, 0u32);
    // SAFETY: getcpu writes one u32 to each of the two valid pointers; the third may be null.
    unsafe { libc::syscall(libc::SYS_getcpu, &mut cpu as *mut u32, &mut node as *mut u32, std::ptr::null_mut::<libc::c_void>()) };
    (cpu, node)
}

/// Whether `RDTSCP`'s TSC_AUX holds `cpu | node << 12` as the host's `getcpu` reports them.
fn tsc_aux_is_cpu() -> bool {
    let rdtscp = std::arch::x86_64::__cpuid(0x8000_0000).eax >= 0x8000_0001
        && std::arch::x86_64::__cpuid(0x8000_0001).edx & (1 << 27) != 0;
    if !rdtscp {
        return false;
    }
    (0..5).any(|_| {
        let before = host_getcpu();
        let mut aux = 0u32;
        // SAFETY: RDTSCP exists (checked above); it writes TSC_AUX to `aux`.
        unsafe { std::arch::x86_64::__rdtscp(&mut aux) };
        let after = host_getcpu();
        before == after && aux == before.0 | before.1 << 12
    })
}

/// Nanoseconds on a host clock.
fn host_ns(id: libc::clockid_t) -> i64 {
    let ts = host_clock(id);
    ts.sec.saturating_mul(1_000_000_000).saturating_add(ts.nsec)
}

/// The TSC and the host's monotonic clock at the same instant: the closest of a few tries.
fn sample() -> Sample {
    let mut best: Option<(u64, Sample)> = None;
    for _ in 0..5 {
        let before = tsc();
        let ns = host_ns(libc::CLOCK_MONOTONIC);
        let after = tsc();
        let width = after.wrapping_sub(before);
        if best.is_none_or(|(w, _)| width < w) {
            best = Some((width, Sample { tsc: before + width / 2, ns }));
        }
    }
    best.map_or(Sample { tsc: tsc(), ns: host_ns(libc::CLOCK_MONOTONIC) }, |(_, s)| s)
}

/// How far host clock `id` is ahead of the host's monotonic clock: the closest of a few tries.
fn host_offset(id: libc::clockid_t) -> i64 {
    let mut best: Option<(i64, i64)> = None;
    for _ in 0..3 {
        let before = host_ns(libc::CLOCK_MONOTONIC);
        let other = host_ns(id);
        let after = host_ns(libc::CLOCK_MONOTONIC);
        let width = after - before;
        if best.is_none_or(|(w, _)| width < w) {
            best = Some((width, other - (before + width / 2)));
        }
    }
    best.map_or(0, |(_, off)| off)
}

/// The data page, seen from the sentry.
struct DataPage {
    mf: Arc<MemoryFile>,
    backing: Arc<Backing>,
}

impl DataPage {
    fn words(&self) -> &[AtomicU64] {
        self.mf.words(self.backing.offset(), word::COUNT)
    }

    /// Rewrites the page: `f` runs while readers wait, with the TSC value from which what it
    /// writes may take effect.
    fn write(&self, f: impl FnOnce(&[AtomicU64], u64)) {
        let w = self.words();
        let seq = w[word::SEQ].load(Ordering::Relaxed);
        w[word::SEQ].store(seq.wrapping_add(1), Ordering::Relaxed);
        // Every reading that goes on with the old words read the TSC before this point.
        fence(Ordering::SeqCst);
        let now = tsc();
        f(w, now + BASE_MARGIN_TICKS);
        w[word::SEQ].store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Nanoseconds on `which`, as the vDSO reads them; None while the page does not hold a
    /// valid clock.
    fn read(&self, which: Which) -> Option<i64> {
        let w = self.words();
        let mut spins = 0u32;
        loop {
            let seq = w[word::SEQ].load(Ordering::Acquire);
            if seq & 1 != 0 {
                // The writer holds the page for a fraction of a microsecond, unless it was
                // preempted there: then let it run.
                spins += 1;
                if spins.is_multiple_of(100) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            if w[word::FLAGS].load(Ordering::Relaxed) & F_CLOCK == 0 {
                return None;
            }
            let params = clock::Params {
                tsc_base: w[word::TSC_BASE].load(Ordering::Relaxed),
                mult: w[word::MULT].load(Ordering::Relaxed),
                ns_base: w[word::MONO_BASE].load(Ordering::Relaxed).cast_signed(),
            };
            let offset = match which {
                Which::Monotonic => 0,
                Which::Realtime => w[word::REAL_OFFSET].load(Ordering::Relaxed).cast_signed(),
                Which::Boottime => w[word::BOOT_OFFSET].load(Ordering::Relaxed).cast_signed(),
            };
            let now = tsc();
            fence(Ordering::Acquire);
            if w[word::SEQ].load(Ordering::Relaxed) == seq {
                return Some(params.ns_at(now).saturating_add(offset));
            }
        }
    }
}

/// The vDSO image and data page in the memory file.
pub struct Vdso {
    page: Arc<DataPage>,
    image: Arc<Backing>,
    image_len: u64,
}

impl Vdso {
    /// Places the image and a data page in the memory file and, if the TSC can serve as a
    /// clock, starts the thread that keeps the page current.
    pub fn new(mf: &Arc<MemoryFile>) -> SysResult<Vdso> {
        let image_len = page_up(IMAGE.len() as u64).unwrap_or(PAGE_SIZE);
        let image = Backing::allocate(mf, image_len)?;
        mf.write(image.offset(), IMAGE);
        let page = Arc::new(DataPage { mf: mf.clone(), backing: Backing::allocate(mf, PAGE_SIZE)? });
        if tsc_aux_is_cpu() {
            page.write(|w, _| {
                w[word::FLAGS].fetch_or(F_GETCPU, Ordering::Relaxed);
            });
        }
        if tsc_invariant() {
            let weak = Arc::downgrade(&page);
            let first = sample();
            let spawned = std::thread::Builder::new().name("vdso-clock".into()).spawn(move || keep_current(&weak, first));
            if let Err(e) = spawned {
                tracing::warn!("vDSO clock disabled: cannot start its thread: {e}");
            }
        } else {
            tracing::info!("no invariant TSC: the vDSO passes clock calls to the sentry");
        }
        Ok(Vdso { page, image, image_len })
    }

    /// Bytes the data page and the image take, together, from the address given to [`Vdso::map`].
    pub fn mapped_len(&self) -> u64 {
        PAGE_SIZE + self.image_len
    }

    /// Maps the data page at `addr` and the image right after it, replacing whatever was
    /// there; returns the image's address (`AT_SYSINFO_EHDR`).
    pub fn map(&self, mm: &MemoryManager, addr: u64) -> SysResult<u64> {
        let data = &self.page.backing;
        mm.map_file_pages(addr, PAGE_SIZE, PROT_READ, true, &[data.offset()], Box::new(data.clone()), VmaKind::Vvar)?;
        let image = addr + PAGE_SIZE;
        mm.map_cached(image, self.image_len, PROT_READ | PROT_EXEC, self.image.clone(), self.image.offset(), VmaKind::Vdso)?;
        Ok(image)
    }

    /// Nanoseconds on `which`, exactly as the vDSO reads them; None while the vDSO passes the
    /// clocks to the sentry.
    pub fn now_ns(&self, which: Which) -> Option<i64> {
        self.page.read(which)
    }
}

/// The sandbox's time on host clock `id` (`CLOCK_REALTIME`, `CLOCK_MONOTONIC` or
/// `CLOCK_BOOTTIME`): the vDSO's clock when it runs, else the host's.
pub fn clock_now(vdso: Option<&Vdso>, id: libc::clockid_t) -> Timespec {
    let ns = Which::of_host_clock(id).and_then(|w| vdso?.now_ns(w));
    match ns {
        Some(ns) => Timespec { sec: ns.div_euclid(1_000_000_000), nsec: ns.rem_euclid(1_000_000_000) },
        None => host_clock(id),
    }
}

/// The thread that keeps the data page current, until the page is gone.
fn keep_current(page: &Weak<DataPage>, first: Sample) {
    let mut tracker = Tracker::new(first);
    let mut period = FIRST_PERIOD;
    let (mut real, mut boot) = (None, None);
    loop {
        std::thread::sleep(period);
        let Some(page) = page.upgrade() else { return };
        period = (period * 2).min(MAX_PERIOD);
        let s = sample();
        let measured = (host_offset(libc::CLOCK_REALTIME), host_offset(libc::CLOCK_BOOTTIME));
        let period_ns = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        page.write(|w, base| {
            let Some(p) = tracker.update(s, base, period_ns) else { return };
            let (r, b) = (sticky_offset(real, measured.0), sticky_offset(boot, measured.1));
            (real, boot) = (Some(r), Some(b));
            w[word::TSC_BASE].store(p.tsc_base, Ordering::Relaxed);
            w[word::MULT].store(p.mult, Ordering::Relaxed);
            w[word::MONO_BASE].store(p.ns_base.cast_unsigned(), Ordering::Relaxed);
            w[word::REAL_OFFSET].store(r.cast_unsigned(), Ordering::Relaxed);
            w[word::BOOT_OFFSET].store(b.cast_unsigned(), Ordering::Relaxed);
            w[word::FLAGS].fetch_or(F_CLOCK, Ordering::Relaxed);
        });
    }
}
