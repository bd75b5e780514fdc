//! One module per command.

pub mod boot;
pub mod gofer;
pub mod run;
pub mod syscalls;
