//! Filesystems: the gofer-backed tree, host-fd-backed files, and the sentry's synthetic ones.

pub mod gofer;
pub mod host;
pub mod synthetic;
