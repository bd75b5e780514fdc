//! Filesystems: the gofer-backed tree, host-fd-backed files, the sentry's synthetic ones, and
//! the in-memory ones (tmpfs, and the overlay that puts a tmpfs over the gofer tree).

pub mod epoll;
pub mod eventfd;
pub mod gofer;
pub mod host;
pub mod inotify;
pub mod pipe;
pub mod proc;
pub mod pty;
pub mod signalfd;
pub mod overlay;
pub mod pidfd;
pub mod synthetic;
pub mod sys;
pub mod timerfd;
pub mod tmpfs;
