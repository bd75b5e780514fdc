//! epoll: a set of interests (descriptor, open file, events, user data) whose readiness is
//! collected by `epoll_wait`.
//!
//! Readiness always comes from the watched file's [`FileOps::poll`]; nothing is queued when a
//! file changes. `epoll_wait` collects, and if nothing is ready sleeps on the kernel's wake-up
//! channel (every change that may make a file ready notifies it), no later than the earliest
//! [`FileOps::next_change`] of a watched file, and on a short timer when one `polls_host`.
//!
//! - Level-triggered interests are reported while ready. Interests reported are moved to the
//!   back of the list, so a small `maxevents` still visits every ready file in turn.
//! - Edge-triggered (`EPOLLET`) interests are reported when they become ready, then again only
//!   when a new event may have happened: a bit not reported before is ready, or the file's
//!   [`FileOps::wakeups`] count moved (files without one: any wake-up in the kernel happened
//!   since the report). So a program that reads until `EAGAIN` is never left waiting; a spurious
//!   report can happen for files without a wake-up count, as for a partial read of a pipe.
//! - `EPOLLONESHOT` disables an interest after one report until `EPOLL_CTL_MOD`.
//! - `EPOLLEXCLUSIVE` is accepted and checked as Linux does; every waiter is woken.
//!
//! Interests hold the open file weakly, keyed by (descriptor, open file) as Linux keys them: an
//! interest goes away when the last reference to its open file description does (every
//! descriptor `dup`ed or inherited from it closed) — Linux's rule — or on `EPOLL_CTL_DEL`.

use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::kernel::Events;
use crate::vfs::{synthetic_stat, File, FileOps};

pub const EPOLLIN: u32 = 0x001;
pub const EPOLLPRI: u32 = 0x002;
pub const EPOLLOUT: u32 = 0x004;
pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLRDNORM: u32 = 0x040;
pub const EPOLLWRNORM: u32 = 0x100;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;

/// The flag bits of an interest (not readiness).
const FLAGS: u32 = EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET;
/// What `EPOLLEXCLUSIVE` may be combined with.
const EXCLUSIVE_OK: u32 = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

pub const EPOLL_CTL_ADD: i32 = 1;
pub const EPOLL_CTL_DEL: i32 = 2;
pub const EPOLL_CTL_MOD: i32 = 3;

/// Deepest chain of epoll instances watching each other.
pub const EPOLL_MAX_NESTS: usize = 4;

/// Held while an epoll is added to another: loop checks and the insertion are one step.
static NESTING: Mutex<()> = Mutex::new(());

struct Interest {
    fd: i32,
    file: Weak<File>,
    /// Events asked for (always with `EPOLLERR | EPOLLHUP`) and flags.
    events: u32,
    data: u64,
    /// False for a one-shot interest already reported.
    armed: bool,
    /// Edge-triggered: ready bits reported and not seen dropping since.
    reported: u32,
    /// Edge-triggered: the file's wake-up count, and the kernel's generation, at the report.
    seen_wakeups: Option<u64>,
    seen_generation: u64,
}

impl Interest {
    fn is(&self, fd: i32, file: &Arc<File>) -> bool {
        self.fd == fd && std::ptr::eq(self.file.as_ptr(), Arc::as_ptr(file))
    }

    /// Looks at the file: the events to report now (0: none), with `generation` read before.
    /// Updates what edge-triggering saw drop; with `consume`, records the report.
    fn check(&mut self, file: &File, generation: u64, consume: bool) -> u32 {
        let wakeups = file.ops.wakeups();
        let ready = file.ops.poll() & self.events & !FLAGS;
        self.reported &= ready;
        if !self.armed || ready == 0 {
            return 0;
        }
        if self.events & EPOLLET != 0 {
            let new_bits = ready & !self.reported != 0;
            let moved = match (wakeups, self.seen_wakeups) {
                (Some(now), Some(then)) => now != then,
                (Some(_), None) => true,
                (None, _) => generation != self.seen_generation,
            };
            if !new_bits && !moved {
                return 0;
            }
        }
        if consume {
            self.reported = ready;
            self.seen_wakeups = wakeups;
            self.seen_generation = generation;
            if self.events & EPOLLONESHOT != 0 {
                self.armed = false;
            }
        }
        ready
    }
}

/// What one pass over the interests found.
#[derive(Default)]
pub struct Collected {
    /// (events, user data) of each reported interest, at most the number asked for.
    pub events: Vec<(u32, u64)>,
    /// A watched file's readiness changes without telling the sentry: look again soon.
    pub host: bool,
    /// The earliest instant a watched file's readiness changes by itself.
    pub next: Option<Instant>,
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub struct Epoll {
    interests: Mutex<Vec<Interest>>,
    events: Arc<Events>,
    stat: Stat,
}

impl Epoll {
    pub fn new(events: Arc<Events>, ino: u64) -> Epoll {
        Epoll { interests: Mutex::new(Vec::new()), events, stat: synthetic_stat(ino, 0o600, 0) }
    }

    /// Number of live interests.
    pub fn len(&self) -> usize {
        let mut list = self.interests.lock().unwrap();
        list.retain(|i| i.file.strong_count() > 0);
        list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `epoll_ctl` once the descriptors are resolved: `me` is this epoll's own open file,
    /// `target` the file behind `fd`, `event` the (events, data) given for ADD and MOD.
    pub fn ctl(me: &Arc<File>, op: i32, fd: i32, target: &Arc<File>, event: (u32, u64)) -> SysResult<()> {
        // Files without a poll method first, as Linux checks.
        if !pollable(target) {
            return Err(Errno::EPERM);
        }
        let ep = as_epoll(me).ok_or(Errno::EINVAL)?;
        if Arc::ptr_eq(me, target) {
            return Err(Errno::EINVAL);
        }
        let (mut events, data) = event;
        let target_ep = as_epoll(target);
        // EPOLLEXCLUSIVE: only at ADD, not for epoll targets, with few other bits.
        let exclusive = op != EPOLL_CTL_DEL && events & EPOLLEXCLUSIVE != 0;
        if exclusive && (op == EPOLL_CTL_MOD || (op == EPOLL_CTL_ADD && (target_ep.is_some() || events & !EXCLUSIVE_OK != 0))) {
            return Err(Errno::EINVAL);
        }
        events |= EPOLLERR | EPOLLHUP;
        match op {
            EPOLL_CTL_ADD => {
                let _nesting = target_ep.map(|_| NESTING.lock().unwrap());
                if let Some(t) = target_ep {
                    if t.reaches(ep) || t.depth() >= EPOLL_MAX_NESTS {
                        return Err(Errno::ELOOP);
                    }
                }
                ep.add(fd, target, events, data)
            }
            EPOLL_CTL_MOD => ep.modify(fd, target, events, data),
            EPOLL_CTL_DEL => ep.remove(fd, target),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Adds an interest (`EEXIST` if (fd, file) is watched already).
    pub fn add(&self, fd: i32, file: &Arc<File>, events: u32, data: u64) -> SysResult<()> {
        let mut list = self.interests.lock().unwrap();
        list.retain(|i| i.file.strong_count() > 0);
        if list.iter().any(|i| i.is(fd, file)) {
            return Err(Errno::EEXIST);
        }
        list.push(Interest {
            fd,
            file: Arc::downgrade(file),
            events,
            data,
            armed: true,
            reported: 0,
            seen_wakeups: None,
            seen_generation: 0,
        });
        drop(list);
        self.events.notify();
        Ok(())
    }

    /// Changes an interest and re-arms it (`ENOENT` if not watched, `EINVAL` if it was added
    /// with `EPOLLEXCLUSIVE`).
    pub fn modify(&self, fd: i32, file: &Arc<File>, events: u32, data: u64) -> SysResult<()> {
        let mut list = self.interests.lock().unwrap();
        let i = list.iter_mut().find(|i| i.is(fd, file)).ok_or(Errno::ENOENT)?;
        if i.events & EPOLLEXCLUSIVE != 0 {
            return Err(Errno::EINVAL);
        }
        i.events = events;
        i.data = data;
        i.armed = true;
        i.reported = 0;
        i.seen_wakeups = None;
        drop(list);
        self.events.notify();
        Ok(())
    }

    /// Removes an interest (`ENOENT` if not watched).
    pub fn remove(&self, fd: i32, file: &Arc<File>) -> SysResult<()> {
        let mut list = self.interests.lock().unwrap();
        let at = list.iter().position(|i| i.is(fd, file)).ok_or(Errno::ENOENT)?;
        list.remove(at);
        Ok(())
    }

    /// One pass of `epoll_wait`: reports up to `max` ready interests, recording the reports
    /// (edge-triggered and one-shot state). `generation` is the kernel's `Events` generation
    /// read before the call.
    pub fn collect(&self, max: usize, generation: u64) -> Collected {
        let mut out = Collected::default();
        let mut list = self.interests.lock().unwrap();
        list.retain(|i| i.file.strong_count() > 0);
        let mut reported = Vec::new();
        for (at, interest) in list.iter_mut().enumerate() {
            let Some(file) = interest.file.upgrade() else { continue };
            out.host |= file.ops.polls_host();
            out.next = earliest(out.next, file.ops.next_change());
            if out.events.len() >= max {
                continue;
            }
            let ready = interest.check(&file, generation, true);
            if ready != 0 {
                out.events.push((ready, interest.data));
                reported.push(at);
            }
        }
        // Reported interests go to the back, so the others get their turn next time.
        for (moved, at) in reported.into_iter().enumerate() {
            let i = list.remove(at - moved);
            list.push(i);
        }
        out
    }

    /// Open files of epoll instances this one watches.
    fn children(&self) -> Vec<Arc<File>> {
        let list = self.interests.lock().unwrap();
        list.iter().filter_map(|i| i.file.upgrade()).filter(|f| as_epoll(f).is_some()).collect()
    }

    /// Whether `other` is this epoll or one it watches, directly or not.
    fn reaches(&self, other: &Epoll) -> bool {
        std::ptr::eq(self, other) || self.children().iter().any(|f| as_epoll(f).is_some_and(|e| e.reaches(other)))
    }

    /// Levels of epoll instances below this one.
    fn depth(&self) -> usize {
        self.children().iter().filter_map(|f| as_epoll(f).map(|e| 1 + e.depth())).max().unwrap_or(0)
    }

    /// Visits the live watched files.
    fn files(&self) -> Vec<Arc<File>> {
        self.interests.lock().unwrap().iter().filter_map(|i| i.file.upgrade()).collect()
    }
}

/// Whether Linux could watch the file: not regular files, directories, or the memory devices
/// (`/dev/null`, `zero`, `full`, `urandom`…; `/dev/random` and `kmsg` have a poll method).
fn pollable(file: &File) -> bool {
    let Ok(st) = file.ops.stat() else { return true };
    match st.mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFDIR => false,
        libc::S_IFCHR => !(libc::major(st.rdev) == 1 && matches!(libc::minor(st.rdev), 1..=5 | 7 | 9)),
        _ => true,
    }
}

/// The epoll behind an open file, if it is one.
pub fn as_epoll(file: &File) -> Option<&Epoll> {
    file.ops.as_any().and_then(|a| a.downcast_ref::<Epoll>())
}

impl FileOps for Epoll {
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn seekable(&self) -> bool {
        false
    }

    /// Readable while an `epoll_wait` would report something (nothing is consumed).
    fn poll(&self) -> u32 {
        let generation = self.events.generation();
        let mut list = self.interests.lock().unwrap();
        let mut ready = false;
        for interest in list.iter_mut() {
            if let Some(file) = interest.file.upgrade() {
                if interest.check(&file, generation, false) != 0 {
                    ready = true;
                    break;
                }
            }
        }
        if ready {
            EPOLLIN | EPOLLRDNORM
        } else {
            0
        }
    }

    fn polls_host(&self) -> bool {
        self.files().iter().any(|f| f.ops.polls_host())
    }

    fn next_change(&self) -> Option<Instant> {
        self.files().iter().fold(None, |acc, f| earliest(acc, f.ops.next_change()))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::eventfd::EventFd;
    use crate::fs::pipe::Pipe;

    fn file(ops: impl FileOps + 'static) -> Arc<File> {
        File::new(Arc::new(ops), None, libc::O_RDWR)
    }

    fn setup() -> (Arc<Events>, Arc<File>) {
        let events = Arc::new(Events::default());
        let ep = file(Epoll::new(events.clone(), 1));
        (events, ep)
    }

    fn ep(f: &Arc<File>) -> &Epoll {
        as_epoll(f).unwrap()
    }

    fn wait(events: &Events, f: &Arc<File>) -> Vec<(u32, u64)> {
        ep(f).collect(16, events.generation()).events
    }

    fn write8(f: &File, v: u64) {
        f.ops.write(0, &v.to_ne_bytes()).unwrap();
    }

    fn read8(f: &File) -> SysResult<usize> {
        f.ops.read(0, &mut [0u8; 8])
    }

    #[test]
    fn level_triggered_reports_while_ready() {
        let (events, e) = setup();
        let efd = file(EventFd::new(events.clone(), 2, 0, false));
        Epoll::ctl(&e, EPOLL_CTL_ADD, 5, &efd, (EPOLLIN, 42)).unwrap();
        assert_eq!(Epoll::ctl(&e, EPOLL_CTL_ADD, 5, &efd, (EPOLLIN, 42)), Err(Errno::EEXIST));
        assert!(wait(&events, &e).is_empty());
        assert_eq!(e.ops.poll(), 0);
        write8(&efd, 1);
        assert_ne!(e.ops.poll(), 0, "the epoll itself is readable");
        assert_eq!(wait(&events, &e), vec![(EPOLLIN, 42)]);
        assert_eq!(wait(&events, &e), vec![(EPOLLIN, 42)], "still ready");
        Epoll::ctl(&e, EPOLL_CTL_MOD, 5, &efd, (EPOLLIN | EPOLLOUT, 7)).unwrap();
        assert_eq!(wait(&events, &e), vec![(EPOLLIN | EPOLLOUT, 7)]);
        Epoll::ctl(&e, EPOLL_CTL_DEL, 5, &efd, (0, 0)).unwrap();
        assert_eq!(Epoll::ctl(&e, EPOLL_CTL_DEL, 5, &efd, (0, 0)), Err(Errno::ENOENT));
        assert_eq!(Epoll::ctl(&e, EPOLL_CTL_MOD, 5, &efd, (EPOLLIN, 0)), Err(Errno::ENOENT));
        assert!(wait(&events, &e).is_empty());
    }

    #[test]
    fn edge_triggered_reports_changes_only() {
        let (events, e) = setup();
        let efd = file(EventFd::new(events.clone(), 2, 0, false));
        Epoll::ctl(&e, EPOLL_CTL_ADD, 5, &efd, (EPOLLIN | EPOLLET, 1)).unwrap();
        write8(&efd, 1);
        assert_eq!(wait(&events, &e).len(), 1);
        assert!(wait(&events, &e).is_empty(), "reported once");
        write8(&efd, 1);
        assert_eq!(wait(&events, &e).len(), 1, "a new write is a new event");
        read8(&efd).unwrap();
        write8(&efd, 1);
        assert_eq!(wait(&events, &e).len(), 1, "drained and refilled unseen");

        // A pipe has no wake-up count: the kernel generation stands in.
        let (r, w) = Pipe::new(events.clone(), 3);
        let (r, w) = (file(r), file(w));
        Epoll::ctl(&e, EPOLL_CTL_ADD, 6, &r, (EPOLLIN | EPOLLET, 2)).unwrap();
        w.ops.write(0, b"ab").unwrap();
        assert_eq!(wait(&events, &e), vec![(EPOLLIN, 2)]);
        assert!(wait(&events, &e).is_empty());
        r.ops.read(0, &mut [0u8; 2]).unwrap();
        w.ops.write(0, b"c").unwrap();
        assert_eq!(wait(&events, &e), vec![(EPOLLIN, 2)]);
    }

    #[test]
    fn one_shot_disables_until_modified() {
        let (events, e) = setup();
        let efd = file(EventFd::new(events.clone(), 2, 1, false));
        Epoll::ctl(&e, EPOLL_CTL_ADD, 5, &efd, (EPOLLIN | EPOLLONESHOT, 1)).unwrap();
        assert_eq!(wait(&events, &e).len(), 1);
        assert!(wait(&events, &e).is_empty());
        write8(&efd, 1);
        assert!(wait(&events, &e).is_empty(), "disabled");
        Epoll::ctl(&e, EPOLL_CTL_MOD, 5, &efd, (EPOLLIN | EPOLLONESHOT, 2)).unwrap();
        assert_eq!(wait(&events, &e), vec![(EPOLLIN, 2)]);
    }

    #[test]
    fn interests_end_with_the_open_file() {
        let (events, e) = setup();
        let efd = file(EventFd::new(events.clone(), 2, 1, false));
        Epoll::ctl(&e, EPOLL_CTL_ADD, 5, &efd, (EPOLLIN, 1)).unwrap();
        Epoll::ctl(&e, EPOLL_CTL_ADD, 6, &efd, (EPOLLIN, 2)).unwrap();
        assert_eq!(wait(&events, &e).len(), 2, "one per (fd, file)");
        drop(efd);
        assert!(ep(&e).is_empty());
        assert!(wait(&events, &e).is_empty());
    }

    struct Node(u32, u64);
    impl FileOps for Node {
        fn stat(&self) -> SysResult<Stat> {
            Ok(synthetic_stat(1, self.0, self.1))
        }
    }

    #[test]
    fn files_without_poll_are_refused() {
        let (_, e) = setup();
        for (mode, rdev, ok) in [
            (libc::S_IFREG | 0o644, 0, false),
            (libc::S_IFDIR | 0o755, 0, false),
            (libc::S_IFCHR | 0o666, libc::makedev(1, 3), false),
            (libc::S_IFCHR | 0o666, libc::makedev(1, 8), true),
            (libc::S_IFCHR | 0o666, libc::makedev(5, 0), true),
            (libc::S_IFIFO | 0o600, 0, true),
        ] {
            let f = file(Node(mode, rdev));
            let r = Epoll::ctl(&e, EPOLL_CTL_ADD, 3, &f, (EPOLLIN, 0));
            assert_eq!(r.is_ok(), ok, "mode {mode:o} rdev {rdev:x}: {r:?}");
            if !ok {
                assert_eq!(r, Err(Errno::EPERM));
            }
        }
    }

    #[test]
    fn small_maxevents_take_turns() {
        let (events, e) = setup();
        let a = file(EventFd::new(events.clone(), 2, 1, false));
        let b = file(EventFd::new(events.clone(), 3, 1, false));
        Epoll::ctl(&e, EPOLL_CTL_ADD, 5, &a, (EPOLLIN, 1)).unwrap();
        Epoll::ctl(&e, EPOLL_CTL_ADD, 6, &b, (EPOLLIN, 2)).unwrap();
        let g = events.generation();
        let first = ep(&e).collect(1, g).events;
        let second = ep(&e).collect(1, g).events;
        assert_eq!(first.len(), 1);
        assert_ne!(first, second);
    }

    #[test]
    fn loops_and_bad_targets_are_refused() {
        let (events, e1) = setup();
        let e2 = file(Epoll::new(events.clone(), 2));
        assert_eq!(Epoll::ctl(&e1, EPOLL_CTL_ADD, 3, &e1, (EPOLLIN, 0)), Err(Errno::EINVAL), "itself");
        Epoll::ctl(&e1, EPOLL_CTL_ADD, 4, &e2, (EPOLLIN, 0)).unwrap();
        assert_eq!(Epoll::ctl(&e2, EPOLL_CTL_ADD, 3, &e1, (EPOLLIN, 0)), Err(Errno::ELOOP));
        assert_eq!(Epoll::ctl(&e1, EPOLL_CTL_ADD, 9, &e2, (EPOLLIN | EPOLLEXCLUSIVE, 0)), Err(Errno::EINVAL));
        let efd = file(EventFd::new(events.clone(), 3, 0, false));
        assert_eq!(Epoll::ctl(&efd, EPOLL_CTL_ADD, 3, &e1, (EPOLLIN, 0)), Err(Errno::EINVAL), "not an epoll");
        Epoll::ctl(&e1, EPOLL_CTL_ADD, 5, &efd, (EPOLLIN | EPOLLEXCLUSIVE, 0)).unwrap();
        assert_eq!(Epoll::ctl(&e1, EPOLL_CTL_MOD, 5, &efd, (EPOLLIN, 0)), Err(Errno::EINVAL));
        assert_eq!(Epoll::ctl(&e1, EPOLL_CTL_ADD, 6, &efd, (EPOLLIN | EPOLLPRI | EPOLLEXCLUSIVE, 0)), Err(Errno::EINVAL));
        assert_eq!(Epoll::ctl(&e1, 99, 5, &efd, (EPOLLIN, 0)), Err(Errno::EINVAL));
        // Nested readiness: e2 watches a ready eventfd, so e1 sees e2 readable.
        let ready = file(EventFd::new(events.clone(), 4, 1, false));
        Epoll::ctl(&e2, EPOLL_CTL_ADD, 7, &ready, (EPOLLIN, 0)).unwrap();
        assert!(wait(&events, &e1).contains(&(EPOLLIN, 0)));
        // Too deep: e1 <- e2 <- ... chains longer than EPOLL_MAX_NESTS.
        let mut chain = vec![e1.clone()];
        for ino in 10..10 + EPOLL_MAX_NESTS as u64 {
            let next = file(Epoll::new(events.clone(), ino));
            let r = Epoll::ctl(&next, EPOLL_CTL_ADD, 1, chain.last().unwrap(), (EPOLLIN, 0));
            chain.push(next);
            if r.is_err() {
                assert_eq!(r, Err(Errno::ELOOP));
                return;
            }
        }
        panic!("a chain of {} epolls was accepted", chain.len());
    }
}
