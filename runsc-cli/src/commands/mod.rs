//! One module per command.

pub mod boot;
pub mod confine;
pub mod gofer;
pub mod run;
pub mod syscalls;
