//! A fixture for driving the OCI runtime commands as container engines drive runc: a state
//! root (`sandbox --root`) and a bundle whose rootfs is busybox, in a temporary directory.
//!
//! - [`Fixture::new`] makes the bundle: `rootfs/bin/busybox` (a copy of the host's
//!   `/bin/busybox`, from busybox-static) with a symlink for each of its applets, and
//!   `sandbox spec`'s config.json with `terminal` false; [`Fixture::set_args`] and
//!   [`Fixture::edit_config`] change it, [`Fixture::reset_config`] writes it afresh.
//! - [`Fixture::runtime`] runs `sandbox --root STATE ARGS` with its output captured.
//! - [`Fixture::create`] runs `create` with the workload's stdout and stderr going to a file,
//!   `<dir>/<id>.out`, never to a pipe: `create` returns while the container's sentry lives on
//!   holding that stdio, so a pipe would not see EOF until the container is gone, and a test
//!   reading it would wait for (or be cut off by) the deadline instead. The file gets
//!   `create`'s own messages too, then whatever the workload prints once started.
//! - [`Fixture::status`], [`Fixture::wait_status`] read `state`; [`Fixture::run`] creates,
//!   starts and waits for a container and returns its output.
//!
//! Dropping the fixture runs `delete --force` on every container it created, whether the test
//! passed or panicked part way: a created or running container is a sandbox (sentry, gofer)
//! detached from the test process, so it outlives the test unless deleted, and the temporary
//! directory's removal would otherwise take its state directory away and leave it orphaned.
//! `--force` also kills it first when it is still running, as `delete` alone refuses.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{run_with_timeout, sandbox_bin, RunOutput, TempDir};

/// How long one runtime command, or a wait for a container's status, may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A state root and a bundle whose rootfs is busybox, with the containers to force-delete.
pub struct Fixture {
    dir: TempDir,
    ids: RefCell<Vec<String>>,
}

impl Fixture {
    /// A fixture in a new temporary directory named after `prefix`: `bundle/` (the rootfs and
    /// `sandbox spec`'s config.json, no terminal) and `state/` (the `--root`, made on first use).
    pub fn new(prefix: &str) -> Fixture {
        let dir = TempDir::new(prefix).unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        for sub in ["bin", "etc", "tmp"] {
            fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("busybox-static is installed (tools/install-deps)");
        let list = run_with_timeout(Command::new("/bin/busybox").arg("--list"), TIMEOUT).unwrap();
        assert_eq!(list.code(), Some(0), "busybox --list: {}", list.describe());
        for applet in list.stdout_str().lines().filter(|a| !a.is_empty() && *a != "busybox") {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let f = Fixture {
            dir,
            ids: RefCell::default(),
        };
        f.reset_config();
        f
    }

    /// The temporary directory holding everything (and free for a test's own files).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn bundle(&self) -> PathBuf {
        self.path().join("bundle")
    }

    /// The state root, given to every command as `--root`.
    pub fn root(&self) -> PathBuf {
        self.path().join("state")
    }

    /// Where [`Fixture::create`] has `id`'s pid written (`--pid-file`).
    pub fn pid_file(&self, id: &str) -> PathBuf {
        self.path().join(format!("{id}.pid"))
    }

    /// (Re)writes config.json: `sandbox spec`'s default with `process.terminal` false.
    pub fn reset_config(&self) {
        let config = self.bundle().join("config.json");
        let _ = fs::remove_file(&config);
        let out = self.runtime(&["spec", "--bundle", self.bundle().to_str().unwrap()]);
        assert_eq!(out.code(), Some(0), "spec: {}", out.describe());
        self.edit_config(|c| c["process"]["terminal"] = false.into());
    }

    /// Reads config.json, lets `edit` change it and writes it back.
    pub fn edit_config(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let config = self.bundle().join("config.json");
        let text = fs::read_to_string(&config).unwrap();
        let mut c: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", config.display()));
        edit(&mut c);
        fs::write(&config, serde_json::to_string_pretty(&c).unwrap()).unwrap();
    }

    /// Sets config.json's `process.args`.
    pub fn set_args(&self, args: &[&str]) {
        self.edit_config(|c| c["process"]["args"] = serde_json::json!(args));
    }

    /// `sandbox --root ROOT`, to add arguments to and run as the test likes.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(sandbox_bin());
        cmd.arg("--root").arg(self.root());
        cmd
    }

    /// `sandbox --root ROOT ARGS`, output captured.
    pub fn runtime(&self, args: &[&str]) -> RunOutput {
        run_with_timeout(self.command().args(args), TIMEOUT).unwrap()
    }

    /// `create --bundle BUNDLE --pid-file <dir>/<id>.pid EXTRA id`, with its output and the
    /// workload's going to `<dir>/<id>.out` (see the module's notes), whose path is returned
    /// with `create`'s status; the returned stderr is what the file held when `create` exited.
    /// The container is force-deleted when the fixture is dropped.
    pub fn create(&self, id: &str, extra: &[&str]) -> (RunOutput, PathBuf) {
        {
            let mut ids = self.ids.borrow_mut();
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
        let out_file = self.path().join(format!("{id}.out"));
        let log = fs::File::create(&out_file).unwrap();
        let mut cmd = self.command();
        cmd.args(["create", "--bundle"])
            .arg(self.bundle())
            .arg("--pid-file")
            .arg(self.pid_file(id))
            .args(extra)
            .arg(id);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let start = Instant::now();
        let status = cmd.status().unwrap();
        let text = fs::read(&out_file).unwrap_or_default();
        let out = RunOutput {
            status,
            stdout: Vec::new(),
            stderr: text,
            timed_out: false,
            elapsed: start.elapsed(),
        };
        (out, out_file)
    }

    /// `id`'s status as `state` gives it ("created", "running", "paused", "stopped").
    pub fn status(&self, id: &str) -> String {
        let out = self.runtime(&["state", id]);
        assert_eq!(out.code(), Some(0), "state {id}: {}", out.describe());
        let state: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("state {id} is not JSON ({e}): {}", out.describe()));
        state["status"]
            .as_str()
            .unwrap_or_else(|| panic!("state {id} has no status: {}", out.describe()))
            .to_string()
    }

    /// Waits until `id` has `status`; panics after [`TIMEOUT`] with what its workload printed.
    pub fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + TIMEOUT;
        let mut last = String::new();
        while Instant::now() < deadline {
            last = self.status(id);
            if last == status {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = fs::read_to_string(self.path().join(format!("{id}.out"))).unwrap_or_default();
        panic!("{id} stayed {last}, never {status}; output so far: {output:?}");
    }

    /// Creates, starts and waits for container `id` to stop; returns what its workload printed.
    pub fn run(&self, id: &str) -> String {
        let (out, output) = self.create(id, &[]);
        assert_eq!(out.code(), Some(0), "create {id}: {}", out.describe());
        let started = self.runtime(&["start", id]);
        assert_eq!(started.code(), Some(0), "start {id}: {}", started.describe());
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
