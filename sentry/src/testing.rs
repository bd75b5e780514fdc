//! Test doubles shared by the sentry's unit tests: a platform that runs nothing, an
//! interrupter that does nothing, and an address space that accepts every request.

use std::sync::{Arc, Mutex};

/// A platform that runs nothing: for tests that only put processes in the kernel's table.
pub struct NoPlatform;

impl platform::Platform for NoPlatform {
    fn name(&self) -> &'static str {
        "none"
    }
    fn max_user_address(&self) -> u64 {
        1 << 47
    }
    fn new_address_space(&self) -> platform::Result<Arc<dyn platform::AddressSpace>> {
        Err(platform::Error::Host { what: "no address spaces in tests", errno: libc::ENOSYS })
    }
    fn new_context(&self) -> Box<dyn platform::Context> {
        unreachable!("no task runs in these tests")
    }
}

/// An interrupter for threads that never run.
pub struct NoInterrupt;

impl platform::Interrupt for NoInterrupt {
    fn interrupt(&self) {}
}

/// An address space that accepts every request and records it (for the memory manager's
/// bookkeeping under test).
#[derive(Default)]
pub struct FakeSpace {
    pub calls: Mutex<Vec<String>>,
}

impl platform::AddressSpace for FakeSpace {
    fn map(&self, addr: u64, len: u64, prot: platform::Prot, offset: u64) -> platform::Result<()> {
        self.calls.lock().unwrap().push(format!("map {addr:#x} {len:#x} {prot} @{offset:#x}"));
        Ok(())
    }
    fn unmap(&self, addr: u64, len: u64) -> platform::Result<()> {
        self.calls.lock().unwrap().push(format!("unmap {addr:#x} {len:#x}"));
        Ok(())
    }
    fn protect(&self, addr: u64, len: u64, prot: platform::Prot) -> platform::Result<()> {
        self.calls.lock().unwrap().push(format!("protect {addr:#x} {len:#x} {prot}"));
        Ok(())
    }
    fn new_thread(&self) -> platform::Result<u64> {
        Ok(0)
    }
    fn adopt_thread(&self, _token: u64) -> platform::Result<()> {
        Ok(())
    }
    fn release_thread(&self) {}
    fn leader_holder(&self) -> Option<Box<dyn FnOnce() + Send>> {
        None
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
