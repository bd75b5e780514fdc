//! The arithmetic of the vDSO's clock, apart from any hardware so that it can be tested.
//!
//! The sandbox's monotonic clock is a linear function of the TSC that the sentry republishes
//! now and then ([`Params`]). Each update measures the host's clock against the TSC
//! ([`Sample`]) and chooses the next function so that
//! - it takes over exactly where the previous one stands (no jump back, ever: before its base
//!   the new function reads its base value, which is where the old one ended);
//! - it runs at the host's rate, measured over the whole time since the first sample, corrected
//!   so as to meet the host's clock (plus [`LEAD_NS`]) at the next update: small errors are
//!   slewed away, never stepped, and a clock far behind steps forward.

/// Fixed-point shift of [`Params::mult`]: nanoseconds per tick times 2^32.
pub const SHIFT: u32 = 32;

/// How far ahead of the host's clock the sandbox's clock aims to run. The sentry waits with the
/// host's clock (futexes, timerfds): running a little ahead means a deadline the host says has
/// passed has passed for the application too.
pub const LEAD_NS: i64 = 2_000;

/// Two readings of the realtime (or boot-time) offset closer than this are the same offset seen
/// through measurement noise: the published one stays, so the clock does not jitter.
pub const OFFSET_NOISE_NS: i64 = 1_000;

/// One linear piece of the clock: `ns_base` at TSC value `tsc_base`, then `mult / 2^SHIFT`
/// nanoseconds per tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub tsc_base: u64,
    pub ns_base: i64,
    pub mult: u64,
}

impl Params {
    /// The clock at TSC value `tsc`; before the base it reads the base value (never less).
    pub fn ns_at(&self, tsc: u64) -> i64 {
        let delta = tsc.wrapping_sub(self.tsc_base).cast_signed();
        if delta <= 0 {
            return self.ns_base;
        }
        self.ns_base.saturating_add(scale(delta.cast_unsigned(), self.mult))
    }
}

/// `ticks * mult / 2^SHIFT`, saturating.
pub fn scale(ticks: u64, mult: u64) -> i64 {
    i64::try_from((u128::from(ticks) * u128::from(mult)) >> SHIFT).unwrap_or(i64::MAX)
}

/// The rate that turns `ticks` into `ns`, or None for no ticks or an absurd rate.
pub fn mult_for(ns: u64, ticks: u64) -> Option<u64> {
    if ticks == 0 {
        return None;
    }
    u64::try_from((u128::from(ns) << SHIFT) / u128::from(ticks)).ok()
}

/// How many ticks make `ns` nanoseconds at rate `mult`.
pub fn ticks_for(ns: u64, mult: u64) -> u64 {
    if mult == 0 {
        return u64::MAX;
    }
    u64::try_from((u128::from(ns) << SHIFT) / u128::from(mult)).unwrap_or(u64::MAX)
}

/// The TSC and the host's monotonic clock read at (nearly) the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub tsc: u64,
    pub ns: i64,
}

/// Slowest and fastest TSC believed: 50 MHz to 20 GHz.
const MIN_MULT: u64 = (1 << SHIFT) / 20;
const MAX_MULT: u64 = 20 << SHIFT;

/// Follows the host's clock from one update to the next.
#[derive(Debug)]
pub struct Tracker {
    first: Sample,
    last: Option<Params>,
}

impl Tracker {
    pub fn new(first: Sample) -> Tracker {
        Tracker { first, last: None }
    }

    /// The host's rate from the first sample to `s`; None while the TSC has not moved forward,
    /// or if it runs at an implausible rate.
    pub fn rate(&self, s: Sample) -> Option<u64> {
        let ticks = s.tsc.checked_sub(self.first.tsc)?;
        let ns = u64::try_from(s.ns.checked_sub(self.first.ns)?).ok()?;
        mult_for(ns, ticks).filter(|m| (MIN_MULT..=MAX_MULT).contains(m))
    }

    /// The parameters in force, if any.
    pub fn params(&self) -> Option<Params> {
        self.last
    }

    /// The parameters that take over at TSC value `base` (not before `s.tsc`, and after every
    /// reading made with the previous ones), aimed to meet the host's clock plus [`LEAD_NS`]
    /// `period_ns` after it. None (the previous parameters stay) when `s` gives no rate.
    pub fn update(&mut self, s: Sample, base: u64, period_ns: u64) -> Option<Params> {
        let rate = self.rate(s)?;
        let period = i64::try_from(period_ns).ok()?.max(1_000);
        let target = s.ns.checked_add(scale(base.checked_sub(s.tsc)?, rate))?.checked_add(LEAD_NS)?;
        let mut at_base = self.last.map_or(target, |p| p.ns_at(base));
        let mut error = target - at_base;
        if error > period / 8 {
            // Too far behind to slew: step forward (never back).
            at_base = target;
            error = 0;
        }
        // Ahead: run slower, at half the rate at the least.
        let error = error.max(-period / 2);
        let ns = u64::try_from(period + error).ok()?;
        let mult = mult_for(ns, ticks_for(period.cast_unsigned(), rate))?;
        let p = Params { tsc_base: base, ns_base: at_base, mult };
        self.last = Some(p);
        Some(p)
    }
}

/// The offset to publish for a clock defined as monotonic plus an offset, given the one
/// published (if any) and a new measurement: it changes only when the host's clock was set.
pub fn sticky_offset(published: Option<i64>, measured: i64) -> i64 {
    match published {
        Some(p) if (measured - p).abs() <= OFFSET_NOISE_NS => p,
        _ => measured,
    }
}
