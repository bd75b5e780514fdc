//! config.json's `process.capabilities` inside the sandbox, as with runc: the container's
//! root can do only what its capability sets allow (chown of another's file, sethostname),
//! `/proc/self/status` shows the sets, an absent `capabilities` means none at all, and an
//! ordinary user keeps what the ambient set carries across `execve`.
//!
//! Each test has its own state root and bundle (a busybox rootfs) and deletes its containers
//! with `--force` when it ends, passing or not.

use sandbox_tests::oci::Fixture;

/// A fixture whose container runs `script` under `sh -c`, with config.json then `edit`ed.
fn fixture(script: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Fixture {
    let f = Fixture::new("oci-caps");
    f.set_args(&["sh", "-c", script]);
    f.edit_config(edit);
    f
}

/// The `Cap*` lines of /proc/self/status, then whether root may give a file away (chown)
/// and set the hostname.
const PROBE: &str = "grep ^Cap /proc/self/status; touch /tmp/f; \
                     { chown 1000 /tmp/f 2>/dev/null && echo chown-ok || echo chown-denied; }; \
                     { hostname renamed 2>/dev/null && echo hostname-ok || echo hostname-denied; }";

/// The `CapXxx:` value `out` shows.
fn cap_line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(&format!("{name}:\t"))).unwrap_or_else(|| panic!("no {name} in {out:?}"))
}

/// Sets every capability list of config.json's process (ambient: `ambient`).
fn set_caps(c: &mut serde_json::Value, caps: &[&str], ambient: &[&str]) {
    c["process"]["capabilities"] = serde_json::json!({
        "bounding": caps, "effective": caps, "permitted": caps, "inheritable": ambient, "ambient": ambient,
    });
}

#[test]
fn default_set_denies_chown_and_sethostname() {
    // `sandbox spec` gives CAP_AUDIT_WRITE, CAP_KILL and CAP_NET_BIND_SERVICE, as runc spec.
    let f = fixture(PROBE, |_| {});
    let out = f.run("default");
    let want = format!("{:016x}", (1u64 << 29) | (1 << 5) | (1 << 10));
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(cap_line(&out, set), want, "{set} in {out}");
    }
    assert_eq!((cap_line(&out, "CapInh"), cap_line(&out, "CapAmb")), ("0000000000000000", "0000000000000000"));
    assert!(out.ends_with("\nchown-denied\nhostname-denied\n"), "{out}");
}

#[test]
fn granted_capabilities_take_effect() {
    let caps = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_KILL", "CAP_BOGUS"];
    let f = fixture(PROBE, |c| set_caps(c, &caps, &[]));
    let out = f.run("granted");
    let want = format!("{:016x}", 1u64 | (1 << 21) | (1 << 5));
    assert_eq!((cap_line(&out, "CapEff"), cap_line(&out, "CapBnd")), (want.as_str(), want.as_str()), "{out}");
    assert!(out.ends_with("chown-ok\nhostname-ok\n"), "{out}");
    // A process exec'd into the container gets the same sets.
    let f = fixture("sleep 1000", |c| set_caps(c, &caps, &[]));
    let (out, _) = f.create("long", &[]);
    assert_eq!(out.code(), Some(0), "create: {}", out.describe());
    assert_eq!(f.runtime(&["start", "long"]).code(), Some(0));
    let out = f.runtime(&["exec", "long", "grep", "^CapEff", "/proc/self/status"]);
    assert_eq!(out.stdout_str(), format!("CapEff:\t{want}\n"), "{}", out.describe());
    assert_eq!(f.runtime(&["kill", "long", "KILL"]).code(), Some(0));
    f.wait_status("long", "stopped");
}

#[test]
fn absent_capabilities_mean_none() {
    let f = fixture(PROBE, |c| {
        c["process"].as_object_mut().unwrap().remove("capabilities");
    });
    let out = f.run("none");
    for set in ["CapPrm", "CapEff", "CapBnd", "CapInh", "CapAmb"] {
        assert_eq!(cap_line(&out, set), "0000000000000000", "{set} in {out}");
    }
    assert!(out.ends_with("\nchown-denied\nhostname-denied\n"), "{out}");
}

#[test]
fn an_ordinary_user_keeps_only_ambient_capabilities() {
    // As uid 1000: chown of its own file to another user takes CAP_CHOWN, which only the
    // ambient set carries across execve.
    let script = "grep -E '^Cap(Eff|Amb)' /proc/self/status; touch /tmp/mine; \
                  chown 2000 /tmp/mine 2>/dev/null && echo chown-ok || echo chown-denied";
    let user = |c: &mut serde_json::Value| c["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1000});
    let f = fixture(script, |c| {
        user(c);
        set_caps(c, &["CAP_CHOWN"], &["CAP_CHOWN"]);
    });
    assert_eq!(f.run("ambient"), "CapEff:\t0000000000000001\nCapAmb:\t0000000000000001\nchown-ok\n");
    let f = fixture(script, |c| {
        user(c);
        set_caps(c, &["CAP_CHOWN"], &[]);
    });
    assert_eq!(f.run("plain"), "CapEff:\t0000000000000000\nCapAmb:\t0000000000000000\nchown-denied\n");
}
