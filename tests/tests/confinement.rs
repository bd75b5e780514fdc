//! The sentry confines itself before it runs anything (DESIGN.md, "Confinement"): no
//! capabilities, `no_new_privs`, its own mount namespace with an empty root, and its stubs the
//! same. Checked from the host on a running `sandbox run` and on a running container.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_tests::oci::Fixture;
use sandbox_tests::{children_of, sandbox_bin};

/// The `Name:` line of /proc/PID/status, without the name.
fn status_field(pid: i32, name: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap_or_default().trim().to_string()
}

/// Asserts what the design asks of a confined process.
fn assert_confined(pid: i32, what: &str) {
    assert_eq!(status_field(pid, "CapEff"), "0000000000000000", "{what} {pid} holds capabilities");
    assert_eq!(status_field(pid, "CapBnd"), "0000000000000000", "{what} {pid} can regain capabilities");
    assert_eq!(status_field(pid, "NoNewPrivs"), "1", "{what} {pid} lacks no_new_privs");
    for ns in ["mnt", "net"] {
        let ours = fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap(), ours, "{what} {pid} shares our {ns} namespace");
    }
    let root: Vec<_> = fs::read_dir(format!("/proc/{pid}/root")).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(root.is_empty(), "{what} {pid} sees files at its root: {root:?}");
}

/// The sentry and every stub (its children other than the gofer, which confines itself in
/// its own way).
fn assert_sentry_and_stubs_confined(sentry: i32) {
    assert_confined(sentry, "the sentry");
    let stubs: Vec<i32> = children_of(sentry)
        .into_iter()
        .filter(|&c| !sandbox_tests::cmdline(c).unwrap_or_default().contains("gofer"))
        .collect();
    assert!(!stubs.is_empty(), "the sentry has stubs");
    for stub in stubs {
        assert_confined(stub, "the stub");
    }
}

#[test]
fn sandbox_run_confines_the_sentry_and_its_stubs() {
    let mut child = Command::new(sandbox_bin())
        .args(["run", "--", "/bin/sleep", "5"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let sentry = i32::try_from(child.id()).unwrap();
    // `sandbox run` becomes the sentry; wait until its first stub exists.
    let deadline = Instant::now() + Duration::from_secs(10);
    while children_of(sentry).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = std::panic::catch_unwind(|| {
        assert_sentry_and_stubs_confined(sentry);
        // The gofer shares the sentry's empty network namespace (`run` makes one for both).
        let gofer = children_of(sentry).into_iter().find(|&c| sandbox_tests::cmdline(c).unwrap_or_default().contains("gofer"));
        let net = |pid: i32| fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
        assert_eq!(net(gofer.expect("the sentry's gofer")), net(sentry), "the gofer's network namespace");
    });
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn container_sentries_are_confined() {
    let f = Fixture::new("confined");
    f.set_args(&["sleep", "1000"]);
    let (out, _) = f.create("confined", &[]);
    assert_eq!(out.code(), Some(0), "create: {}", out.describe());
    assert_eq!(f.runtime(&["start", "confined"]).code(), Some(0));
    let pid: i32 = fs::read_to_string(f.pid_file("confined")).unwrap().trim().parse().unwrap();
    assert_sentry_and_stubs_confined(pid);
    // Confined, it still serves exec through descriptors it held before.
    let out = f.runtime(&["exec", "confined", "echo", "still served"]);
    assert_eq!(out.stdout_str(), "still served\n", "{}", out.describe());
}
