//! config.json's `process.capabilities` inside the sandbox, as with runc: the container's
//! root can do only what its capability sets allow (chown of another's file, sethostname),
//! `/proc/self/status` shows the sets, an absent `capabilities` means none at all, and an
//! ordinary user keeps what the ambient set carries across `execve`.
//!
//! Each test has its own state root and bundle (a busybox rootfs) and deletes its containers
//! with `--force` when it ends, passing or not.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_tests::{run_with_timeout, sandbox_bin, RunOutput, TempDir};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A state root and a bundle whose rootfs is busybox, with the containers to force-delete.
struct Fixture {
    dir: TempDir,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Fixture {
    /// The bundle, with `sandbox spec`'s config.json running `script` under `sh -c`, no
    /// terminal, then `edit`ed.
    fn new(script: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Fixture {
        let dir = TempDir::new("oci-caps").unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static is installed (tools/install-deps)");
        for applet in ["sh", "echo", "cat", "grep", "id", "hostname", "touch", "chown", "stat", "kill", "sleep"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let f = Fixture { dir, ids: Default::default() };
        let out = f.runtime(&["spec", "--bundle", f.bundle().to_str().unwrap()]);
        assert_eq!(out.code(), Some(0), "spec: {}", out.describe());
        let config = f.bundle().join("config.json");
        let mut c: serde_json::Value = serde_json::from_str(&fs::read_to_string(&config).unwrap()).unwrap();
        c["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        c["process"]["terminal"] = false.into();
        edit(&mut c);
        fs::write(&config, c.to_string()).unwrap();
        f
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `sandbox --root ROOT ARGS`, output captured.
    fn runtime(&self, args: &[&str]) -> RunOutput {
        let mut cmd = Command::new(sandbox_bin());
        cmd.arg("--root").arg(self.root()).args(args);
        run_with_timeout(&mut cmd, TIMEOUT).unwrap()
    }

    /// `create` with the workload's output going to a file, whose path is returned.
    fn create(&self, id: &str) -> (RunOutput, PathBuf) {
        self.ids.borrow_mut().push(id.to_string());
        let out_file = self.dir.path().join(format!("{id}.out"));
        let log = fs::File::create(&out_file).unwrap();
        let mut cmd = Command::new(sandbox_bin());
        cmd.arg("--root").arg(self.root()).args(["create", "--bundle"]).arg(self.bundle()).arg(id);
        cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        let start = Instant::now();
        let status = cmd.status().unwrap();
        let text = fs::read(&out_file).unwrap_or_default();
        (RunOutput { status, stdout: Vec::new(), stderr: text, timed_out: false, elapsed: start.elapsed() }, out_file)
    }

    fn status(&self, id: &str) -> String {
        let out = self.runtime(&["state", id]);
        assert_eq!(out.code(), Some(0), "state {id}: {}", out.describe());
        let text = out.stdout_str();
        let at = text.find("\"status\": \"").expect("state has a status") + 11;
        text[at..at + text[at..].find('"').unwrap()].to_string()
    }

    /// Waits until `id` has `status`.
    fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + TIMEOUT;
        let mut last = String::new();
        while Instant::now() < deadline {
            last = self.status(id);
            if last == status {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{id} stayed {last}, never {status}");
    }

    /// Creates, starts and waits for container `id`; returns what its workload printed.
    fn run(&self, id: &str) -> String {
        let (out, output) = self.create(id);
        assert_eq!(out.code(), Some(0), "create: {}", out.describe());
        let started = self.runtime(&["start", id]);
        assert_eq!(started.code(), Some(0), "start: {}", started.describe());
        self.wait_status(id, "stopped");
        fs::read_to_string(output).unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.runtime(&["delete", "--force", id]);
        }
    }
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
    let f = Fixture::new(PROBE, |_| {});
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
    let f = Fixture::new(PROBE, |c| set_caps(c, &caps, &[]));
    let out = f.run("granted");
    let want = format!("{:016x}", 1u64 | (1 << 21) | (1 << 5));
    assert_eq!((cap_line(&out, "CapEff"), cap_line(&out, "CapBnd")), (want.as_str(), want.as_str()), "{out}");
    assert!(out.ends_with("chown-ok\nhostname-ok\n"), "{out}");
    // A process exec'd into the container gets the same sets.
    let f = Fixture::new("sleep 1000", |c| set_caps(c, &caps, &[]));
    let (out, _) = f.create("long");
    assert_eq!(out.code(), Some(0), "create: {}", out.describe());
    assert_eq!(f.runtime(&["start", "long"]).code(), Some(0));
    let out = f.runtime(&["exec", "long", "grep", "^CapEff", "/proc/self/status"]);
    assert_eq!(out.stdout_str(), format!("CapEff:\t{want}\n"), "{}", out.describe());
    assert_eq!(f.runtime(&["kill", "long", "KILL"]).code(), Some(0));
    f.wait_status("long", "stopped");
}

#[test]
fn absent_capabilities_mean_none() {
    let f = Fixture::new(PROBE, |c| {
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
    let f = Fixture::new(script, |c| {
        user(c);
        set_caps(c, &["CAP_CHOWN"], &["CAP_CHOWN"]);
    });
    assert_eq!(f.run("ambient"), "CapEff:\t0000000000000001\nCapAmb:\t0000000000000001\nchown-ok\n");
    let f = Fixture::new(script, |c| {
        user(c);
        set_caps(c, &["CAP_CHOWN"], &[]);
    });
    assert_eq!(f.run("plain"), "CapEff:\t0000000000000000\nCapAmb:\t0000000000000000\nchown-denied\n");
}
