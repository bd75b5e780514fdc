//! timerfd: a timer read as a file. A read returns how many times it expired since the last
//! read (a `u64`), and blocks until that is at least one.
//!
//! No thread counts expirations: the file keeps its first unread expiry and its period, and
//! works out at read or poll time how many periods have passed. Waiters learn when the next
//! expiry is through [`FileOps::next_change`] and sleep no later than that. A reader blocked in
//! the generic read path (which does not look at `next_change`) is woken by a one-shot timer
//! of the kernel's timer service, armed when a read finds nothing (`Target::Nothing`: it only
//! notifies the kernel's wake-up channel).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::abi::{Stat, Timespec};
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::SigInfo;
use crate::kernel::timer::{Setting, Target, Timers};
use crate::kernel::Events;
use crate::vfs::{synthetic_stat, FileOps};

#[derive(Default)]
struct State {
    /// The first expiry not read yet; None when disarmed or a one-shot timer was read.
    deadline: Option<Instant>,
    /// The period; kept even while disarmed (`timerfd_gettime` reports it).
    interval: Option<Duration>,
    /// Expirations read, plus settings made: with the pending count, edge-triggered epoll's
    /// wake-up count.
    seq: u64,
}

/// `interval * k`, or None past what an `Instant` can hold.
fn times(interval: Duration, k: u64) -> Option<Duration> {
    let ns = interval.as_nanos().checked_mul(u128::from(k))?;
    Some(Duration::new(u64::try_from(ns / 1_000_000_000).ok()?, u32::try_from(ns % 1_000_000_000).ok()?))
}

impl State {
    /// Expirations that have passed and have not been read.
    fn pending(&self, now: Instant) -> u64 {
        match (self.deadline, self.interval) {
            (Some(d), _) if d > now => 0,
            (Some(_), None) => 1,
            (Some(d), Some(i)) => 1u64.saturating_add(u64::try_from((now - d).as_nanos() / i.as_nanos().max(1)).unwrap_or(u64::MAX)),
            (None, _) => 0,
        }
    }

    /// The first expiry after `now`.
    fn next_expiry(&self, now: Instant) -> Option<Instant> {
        let d = self.deadline?;
        if d > now {
            return Some(d);
        }
        let i = self.interval?;
        d.checked_add(times(i, self.pending(now))?)
    }
}

pub struct TimerFd {
    clock: i32,
    state: Mutex<State>,
    events: Arc<Events>,
    /// The kernel timer that wakes blocked readers at the next expiry.
    waker: Option<(Arc<Timers>, u64)>,
    stat: Stat,
}

/// The host clock whose absolute times `TFD_TIMER_ABSTIME` settings are in.
fn host_clock_of(clock: i32) -> libc::clockid_t {
    match clock {
        libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_ALARM => libc::CLOCK_REALTIME,
        libc::CLOCK_BOOTTIME | libc::CLOCK_BOOTTIME_ALARM => libc::CLOCK_BOOTTIME,
        _ => libc::CLOCK_MONOTONIC,
    }
}

/// The clocks `timerfd_create` accepts.
pub fn valid_clock(clock: i32) -> bool {
    matches!(clock, libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_REALTIME_ALARM | libc::CLOCK_BOOTTIME_ALARM)
}

fn as_duration(ts: Timespec) -> Duration {
    Duration::new(u64::try_from(ts.sec).unwrap_or(0), u32::try_from(ts.nsec).unwrap_or(0))
}

fn as_timespec(d: Duration) -> Timespec {
    Timespec { sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nsec: i64::from(d.subsec_nanos()) }
}

impl TimerFd {
    /// A disarmed timer on `clock`. With `timers`, blocked readers are woken at expiry by the
    /// kernel's timer service (without, only waiters that use `next_change` wake on time).
    pub fn new(events: Arc<Events>, ino: u64, clock: i32, timers: Option<&Arc<Timers>>) -> TimerFd {
        let waker = timers.map(|t| (t.clone(), t.create(Target::Nothing, SigInfo::default())));
        TimerFd { clock, state: Mutex::new(State::default()), events, waker, stat: synthetic_stat(ino, 0o600, 0) }
    }

    pub fn clock(&self) -> i32 {
        self.clock
    }

    /// `timerfd_gettime`: time to the next expiry (zero when disarmed or a one-shot timer has
    /// expired) and the period.
    pub fn get(&self) -> [Timespec; 2] {
        let st = self.state.lock().unwrap();
        let now = Instant::now();
        let value = st.next_expiry(now).map_or(Duration::ZERO, |d| d.saturating_duration_since(now).max(Duration::from_nanos(1)));
        [as_timespec(st.interval.unwrap_or_default()), as_timespec(value)]
    }

    /// `timerfd_settime`: arms the timer (`value` zero disarms it) and resets the expiration
    /// count. `value` is relative, or with `absolute` a time of the timer's clock (a past one
    /// expires at once, counting the periods missed). `interval`/`value` must be valid
    /// timespecs. Returns the old setting as `get` does.
    pub fn set(&self, interval: Timespec, value: Timespec, absolute: bool) -> [Timespec; 2] {
        let old = self.get();
        let mut st = self.state.lock().unwrap();
        let now = Instant::now();
        let value_d = as_duration(value);
        st.deadline = if value_d.is_zero() {
            None
        } else if absolute {
            let clock_now = as_duration(crate::fs::host::host_clock(host_clock_of(self.clock)));
            if value_d >= clock_now {
                now.checked_add(value_d - clock_now)
            } else {
                Some(now.checked_sub(clock_now - value_d).unwrap_or(now))
            }
        } else {
            now.checked_add(value_d)
        };
        st.interval = Some(as_duration(interval)).filter(|i| !i.is_zero());
        st.seq += 1;
        drop(st);
        if let Some((timers, id)) = &self.waker {
            timers.set(*id, Setting::default());
        }
        self.events.notify();
        old
    }

    /// Arms the kernel timer that wakes blocked readers at the next expiry.
    fn arm_waker(&self, next: Option<Instant>, now: Instant) {
        if let (Some((timers, id)), Some(next)) = (&self.waker, next) {
            let value = next.saturating_duration_since(now).max(Duration::from_nanos(1));
            timers.set(*id, Setting { value: Some(value), interval: None });
        }
    }
}

impl Drop for TimerFd {
    fn drop(&mut self) {
        if let Some((timers, id)) = &self.waker {
            timers.delete(*id);
        }
    }
}

impl FileOps for TimerFd {
    fn read(&self, _offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let mut st = self.state.lock().unwrap();
        let now = Instant::now();
        let count = st.pending(now);
        if count == 0 {
            let next = st.next_expiry(now);
            drop(st);
            self.arm_waker(next, now);
            return Err(Errno::EAGAIN);
        }
        st.deadline = match (st.deadline, st.interval) {
            (Some(d), Some(i)) => times(i, count).and_then(|k| d.checked_add(k)),
            _ => None,
        };
        st.seq = st.seq.wrapping_add(count);
        drop(st);
        buf[..8].copy_from_slice(&count.to_ne_bytes());
        Ok(8)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> u32 {
        if self.state.lock().unwrap().pending(Instant::now()) > 0 {
            u32::try_from(libc::POLLIN | libc::POLLRDNORM).unwrap_or(0)
        } else {
            0
        }
    }

    fn next_change(&self) -> Option<Instant> {
        self.state.lock().unwrap().next_expiry(Instant::now())
    }

    fn wakeups(&self) -> Option<u64> {
        let st = self.state.lock().unwrap();
        Some(st.seq.wrapping_add(st.pending(Instant::now())))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: i64) -> Timespec {
        Timespec { sec: n / 1000, nsec: (n % 1000) * 1_000_000 }
    }

    fn same(a: Timespec, b: Timespec) -> bool {
        (a.sec, a.nsec) == (b.sec, b.nsec)
    }

    fn read(t: &TimerFd) -> SysResult<u64> {
        let mut b = [0u8; 8];
        t.read(0, &mut b).map(|_| u64::from_ne_bytes(b))
    }

    #[test]
    fn one_shot_expires_once() {
        let t = TimerFd::new(Arc::new(Events::default()), 1, libc::CLOCK_MONOTONIC, None);
        assert_eq!(read(&t), Err(Errno::EAGAIN), "disarmed");
        assert!(t.next_change().is_none());
        t.set(ms(0), ms(20), false);
        assert_eq!(t.poll(), 0);
        let next = t.next_change().expect("armed");
        assert!(next > Instant::now());
        let left = as_duration(t.get()[1]);
        assert!(left > Duration::ZERO && left <= Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(30));
        assert_ne!(t.poll(), 0);
        assert_eq!(read(&t), Ok(1));
        assert_eq!(read(&t), Err(Errno::EAGAIN));
        assert!(same(t.get()[1], ms(0)), "expired one-shot reads as disarmed");
        assert!(t.next_change().is_none());
    }

    #[test]
    fn periodic_counts_missed_periods() {
        let t = TimerFd::new(Arc::new(Events::default()), 1, libc::CLOCK_MONOTONIC, None);
        t.set(ms(10), ms(10), false);
        std::thread::sleep(Duration::from_millis(45));
        let n = read(&t).unwrap();
        assert!((4..=30).contains(&n), "{n} expirations");
        assert!(same(t.get()[0], ms(10)));
        assert!(t.next_change().is_some());
        let old = t.set(ms(0), ms(0), false);
        assert!(same(old[0], ms(10)));
        assert_eq!(read(&t), Err(Errno::EAGAIN), "disarmed");
    }

    #[test]
    fn absolute_times_in_the_past_expire_at_once() {
        let t = TimerFd::new(Arc::new(Events::default()), 1, libc::CLOCK_REALTIME, None);
        let now = crate::fs::host::host_clock(libc::CLOCK_REALTIME);
        let past = Timespec { sec: now.sec - 1, nsec: now.nsec };
        t.set(ms(100), past, true);
        let n = read(&t).unwrap();
        assert!((10..=12).contains(&n), "{n} expirations for a second of 100 ms periods");
        let future = Timespec { sec: now.sec + 100, nsec: now.nsec };
        t.set(ms(0), future, true);
        let left = as_duration(t.get()[1]);
        assert!(left > Duration::from_secs(98) && left <= Duration::from_secs(100), "{left:?}");
    }

    #[test]
    fn blocked_readers_are_woken_by_the_timer_service() {
        let events = Arc::new(Events::default());
        let timers = Timers::new(events.clone());
        let t = TimerFd::new(events.clone(), 1, libc::CLOCK_MONOTONIC, Some(&timers));
        t.set(ms(0), ms(20), false);
        let start = Instant::now();
        loop {
            let seen = events.generation();
            match read(&t) {
                Ok(n) => {
                    assert_eq!(n, 1);
                    break;
                }
                Err(e) => assert_eq!(e, Errno::EAGAIN),
            }
            assert!(events.wait(seen, Some(start + Duration::from_secs(5))), "never woken");
        }
        assert!(start.elapsed() >= Duration::from_millis(19));
    }
}
