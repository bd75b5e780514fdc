//! `sandbox` as the OCI runtime of real container engines, end to end:
//! containerd (driven with `ctr`), Docker and Podman, all from Debian
//! (`tools/install-deps` installs them).
//!
//! Each test starts its own daemons with every file under a fresh temporary
//! directory and on its own sockets. A guard ([`Scene`]) removes what the
//! test made even when a check fails: it asks the engine to remove its
//! containers, stops the daemons, kills what they left behind (shims, conmon,
//! workload processes), unmounts what they mounted and removes the directory.
//! Every command has a deadline.
//!
//! The image holds busybox-static only: `/bin/busybox` and a link per applet.
//! The image's busybox has a marker appended after the ELF data (the loader
//! ignores it), so a host process running the image's binary is recognised by
//! its `/proc/PID/exe`. Under sandbox the workload runs in the sentry, so no
//! such process may exist, and `uname -r` in a container gives the sentry's
//! release, not the host's.
//!
//! A test runs its checks one after another and reports every failed check by
//! name at the end; a check that needs an earlier one (e.g. `exec` needs the
//! detached container) is skipped when that one failed, and all are skipped
//! once two commands have timed out (a hanging runtime would otherwise make
//! the test take minutes).
//!
//! Environment:
//! - `SANDBOX_BIN`: the runtime under test (see [`sandbox_bin`]).
//! - `SANDBOX_SKIP_ENGINES=1`: skip these tests. Without it, a missing engine
//!   or a run as non-root fails the tests.
//! - `SANDBOX_ENGINES_REFERENCE=1`: `SANDBOX_BIN` is a reference runtime such as
//!   `/usr/sbin/runc`, to check the harness itself. The checks that the
//!   workload runs in the sentry are inverted: the workload must be found
//!   among the host's processes, and must see the host's kernel release.
//! - `SANDBOX_ENGINES_ARGV_LOG=FILE`: the engines are given a wrapper script
//!   that appends each command line it gets to FILE, then execs the runtime.

use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sandbox_tests::{
    cmdline, describe_status, run_with_timeout, sandbox_bin, truncate, write_executable, RunOutput,
    TempDir,
};

/// Deadline of one engine command (`ctr run`, `docker stop`...). They take
/// about a second; `docker stop` up to its 10 s grace period.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a daemon may take to answer after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a daemon may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a container may take to reach a state (stopped, gone).
const STATE_TIMEOUT: Duration = Duration::from_secs(20);

const CONTAINERD: &str = "/usr/bin/containerd";
const CONTAINERD_SHIM: &str = "/usr/bin/containerd-shim-runc-v2";
const CTR: &str = "/usr/bin/ctr";
const DOCKERD: &str = "/usr/sbin/dockerd";
/// Debian's client; another `docker` may come first on PATH.
const DOCKER: &str = "/usr/bin/docker";
const PODMAN: &str = "/usr/bin/podman";
const CONMON: &str = "/usr/bin/conmon";
const UMOCI: &str = "/usr/bin/umoci";
const BUSYBOX: &str = "/bin/busybox";
/// util-linux `script`: runs a command with a pseudo-terminal as its stdio.
const SCRIPT: &str = "/usr/bin/script";
const TAR: &str = "/bin/tar";

/// A long-running workload that exits with `code` on SIGTERM. A plain
/// `sleep` would not do: as PID 1 it ignores SIGTERM, having no handler.
fn until_sigterm(code: i32, first: &str) -> [String; 3] {
    [
        "sh".into(),
        "-c".into(),
        format!("{first}trap 'exit {code}' TERM; while :; do sleep 0.1; done"),
    ]
}

/// Prints whether stdin and stdout are terminals.
const TTY_PROBE: &str = "if [ -t 0 ] && [ -t 1 ]; then echo TTY-YES; else echo TTY-NO; fi";

// ---- prerequisites and parameters ----

/// Whether the test should run: false (after saying so) when
/// `SANDBOX_SKIP_ENGINES=1`; panics when a tool is missing or we are not root.
fn prerequisites(test: &str, tools: &[&str]) -> bool {
    if std::env::var("SANDBOX_SKIP_ENGINES").is_ok_and(|v| v == "1") {
        eprintln!("{test}: skipped (SANDBOX_SKIP_ENGINES=1)");
        return false;
    }
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !Path::new(t).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "{test}: not installed: {}. Run tools/install-deps as root (or set \
         SANDBOX_SKIP_ENGINES=1 to skip the engine tests)",
        missing.join(", ")
    );
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "{test}: the engines need root: run the tests as root (or set SANDBOX_SKIP_ENGINES=1 \
         to skip the engine tests)"
    );
    true
}

/// True when `SANDBOX_ENGINES_REFERENCE=1`: the runtime is a reference (runc).
fn reference_runtime() -> bool {
    std::env::var("SANDBOX_ENGINES_REFERENCE").is_ok_and(|v| v == "1")
}

/// The runtime to give the engines: the binary under test, or a wrapper that
/// logs its command lines when `SANDBOX_ENGINES_ARGV_LOG` is set.
fn runtime_for_engines(dir: &Path) -> PathBuf {
    let bin = sandbox_bin();
    let bin = fs::canonicalize(&bin).unwrap_or(bin);
    let Some(log) = std::env::var_os("SANDBOX_ENGINES_ARGV_LOG").filter(|l| !l.is_empty()) else {
        return bin;
    };
    let log = std::path::absolute(&log).unwrap_or_else(|_| PathBuf::from(&log));
    let wrapper = dir.join("runtime-wrapper");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {}\nexec {} \"$@\"\n",
        shell_quote(log.as_os_str()),
        shell_quote(bin.as_os_str())
    );
    write_executable(&wrapper, script.as_bytes())
        .unwrap_or_else(|e| panic!("writing {}: {e}", wrapper.display()));
    wrapper
}

/// A name no other run of the tests uses.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// `s` as one word for `sh`.
fn shell_quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A command line as `sh` would read it.
fn shell_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- running commands ----

thread_local! {
    /// Commands of this test (each test has its thread) that timed out.
    static TIMEOUTS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// After this many timed-out commands, a test runs no more checks: the
/// runtime hangs, and every further check would wait for its deadline too.
const MAX_TIMEOUTS: usize = 2;

/// Runs `cmd` (stdin /dev/null) with [`COMMAND_TIMEOUT`]; an error when it
/// cannot be started or times out.
fn run(cmd: &mut Command) -> Result<RunOutput, String> {
    let out = run_with_timeout(cmd, COMMAND_TIMEOUT)
        .map_err(|e| format!("cannot run {}: {e}", shell_line(cmd)))?;
    if out.timed_out {
        TIMEOUTS.with(|t| t.set(t.get() + 1));
        return Err(format!(
            "`{}` timed out\n{}",
            shell_line(cmd),
            out.describe()
        ));
    }
    Ok(out)
}

/// Runs `cmd`, which must exit 0.
fn run_ok(cmd: &mut Command) -> Result<RunOutput, String> {
    let out = run(cmd)?;
    if out.code() != Some(0) {
        return Err(format!("`{}` failed\n{}", shell_line(cmd), out.describe()));
    }
    Ok(out)
}

/// Runs `cmd`, which must exit with `code` and print exactly `stdout`.
fn run_expect(cmd: &mut Command, code: i32, stdout: &str) -> Result<RunOutput, String> {
    let out = run(cmd)?;
    if out.code() != Some(code) || out.stdout_str() != stdout {
        return Err(format!(
            "`{}`: expected exit {code} and stdout {stdout:?}\n{}",
            shell_line(cmd),
            out.describe()
        ));
    }
    Ok(out)
}

/// Runs `cmd` under `script`, so that its stdin, stdout and stderr are a
/// terminal, and returns what it printed (terminal line endings included).
fn run_in_pty(cmd: &Command) -> Result<RunOutput, String> {
    let mut wrapped = Command::new(SCRIPT);
    wrapped
        .args(["-q", "-e", "-c"])
        .arg(shell_line(cmd))
        .arg("/dev/null");
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    run(&mut wrapped)
}

/// Checks that `out` (from [`TTY_PROBE`] under [`run_in_pty`]) saw a terminal.
fn expect_tty(out: &RunOutput) -> Result<(), String> {
    let text = out.stdout_str();
    if out.code() == Some(0) && text.contains("TTY-YES") && !text.contains("TTY-NO") {
        Ok(())
    } else {
        Err(format!("expected exit 0 and TTY-YES\n{}", out.describe()))
    }
}

/// Polls `f` every 100 ms until it gives `Some` or `timeout` passes.
fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep(Duration::from_millis(100));
    }
}

// ---- checks ----

/// The checks of one test: each one runs, says how it went, and the test
/// fails at the end with every failure by name.
struct Checks {
    test: &'static str,
    start: Instant,
    failures: Vec<String>,
    count: usize,
}

impl Checks {
    fn new(test: &'static str) -> Checks {
        Checks {
            test,
            start: Instant::now(),
            failures: Vec::new(),
            count: 0,
        }
    }

    /// Runs one check; its value when it passed.
    fn check<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T, String>) -> Option<T> {
        self.count += 1;
        if TIMEOUTS.with(std::cell::Cell::get) >= MAX_TIMEOUTS {
            eprintln!("{}: not run: {name} (commands time out)", self.test);
            self.failures.push(format!(
                "[{name}] not run: {MAX_TIMEOUTS} commands have timed out already"
            ));
            return None;
        }
        let start = Instant::now();
        let result = f();
        let secs = start.elapsed().as_secs_f64();
        match result {
            Ok(v) => {
                eprintln!("{}: ok: {name} ({secs:.1} s)", self.test);
                Some(v)
            }
            Err(e) => {
                eprintln!("{}: FAILED: {name} ({secs:.1} s)\n{e}", self.test);
                self.failures.push(format!("[{name}] {e}"));
                None
            }
        }
    }

    /// Notes a check that could not run because `after` failed.
    fn skip(&mut self, name: &str, after: &str) {
        self.count += 1;
        eprintln!("{}: not run: {name} (needs: {after})", self.test);
        self.failures.push(format!(
            "[{name}] not run: it needs {after:?}, which failed"
        ));
    }

    /// Panics with every failure, if any.
    fn finish(self) {
        eprintln!(
            "{}: {} checks, {} failed, {:.1} s",
            self.test,
            self.count,
            self.failures.len(),
            self.start.elapsed().as_secs_f64()
        );
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} checks failed:\n\n{}",
            self.test,
            self.failures.len(),
            self.count,
            self.failures.join("\n\n")
        );
    }
}

// ---- the image ----

/// A busybox-static root filesystem, as a directory and a tar file.
struct Image {
    rootfs: PathBuf,
    tar: PathBuf,
    /// The size of the image's `/bin/busybox`.
    busybox_len: u64,
    /// What the image's `/bin/busybox` ends with, and no other file.
    marker: Vec<u8>,
}

impl Image {
    /// Builds `<dir>/rootfs` and `<dir>/rootfs.tar`.
    fn build(dir: &Path) -> Result<Image, String> {
        let rootfs = dir.join("rootfs");
        for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
            let d = rootfs.join(d);
            fs::create_dir_all(&d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
        }
        let mut busybox = fs::read(BUSYBOX).map_err(|e| format!("reading {BUSYBOX}: {e}"))?;
        let marker = format!("\n{}\n", unique("sandbox-engines-test-image")).into_bytes();
        busybox.extend_from_slice(&marker);
        write_executable(&rootfs.join("bin/busybox"), &busybox)
            .map_err(|e| format!("writing the image's busybox: {e}"))?;
        let list = run_ok(Command::new(BUSYBOX).arg("--list"))?;
        for applet in list.stdout_str().lines().map(str::trim) {
            if applet.is_empty() || applet == "busybox" || applet.contains('/') {
                continue;
            }
            let link = rootfs.join("bin").join(applet);
            symlink("busybox", &link).map_err(|e| format!("link {}: {e}", link.display()))?;
        }
        fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .and_then(|()| fs::write(rootfs.join("etc/group"), "root:x:0:\n"))
            .map_err(|e| format!("writing /etc/passwd and /etc/group: {e}"))?;
        let tar = dir.join("rootfs.tar");
        run_ok(
            Command::new(TAR)
                .arg("--numeric-owner")
                .arg("-C")
                .arg(&rootfs)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        )?;
        Ok(Image {
            rootfs,
            tar,
            busybox_len: busybox.len() as u64,
            marker,
        })
    }

    /// An OCI image layout of the rootfs in a tar file, made with umoci, for
    /// `ctr images import`. Its one tag is `tag`.
    fn oci_archive(&self, dir: &Path, tag: &str) -> Result<PathBuf, String> {
        let layout = dir.join("oci");
        let image = format!("{}:{tag}", layout.display());
        run_ok(Command::new(UMOCI).arg("init").arg("--layout").arg(&layout))?;
        run_ok(Command::new(UMOCI).args(["new", "--image", &image]))?;
        run_ok(
            Command::new(UMOCI)
                .args(["insert", "--image", &image])
                .arg(&self.rootfs)
                .arg("/"),
        )?;
        run_ok(Command::new(UMOCI).args([
            "config",
            "--image",
            &image,
            "--config.cmd",
            "/bin/sh",
            "--config.env",
            "PATH=/bin",
            "--config.workingdir",
            "/",
        ]))?;
        let archive = dir.join("oci.tar");
        run_ok(
            Command::new(TAR)
                .arg("-C")
                .arg(&layout)
                .arg("-cf")
                .arg(&archive)
                .arg("."),
        )?;
        Ok(archive)
    }

    /// Whether host process `pid` runs the image's busybox.
    fn runs_in(&self, pid: i32) -> bool {
        let exe = format!("/proc/{pid}/exe");
        if fs::metadata(&exe).map(|m| m.len()).ok() != Some(self.busybox_len) {
            return false;
        }
        let Ok(mut file) = File::open(&exe) else {
            return false;
        };
        let mut tail = vec![0u8; self.marker.len()];
        file.seek(SeekFrom::End(-(self.marker.len() as i64)))
            .and_then(|_| file.read_exact(&mut tail))
            .is_ok()
            && tail == self.marker
    }

    /// Host processes running the image's busybox.
    fn host_processes(&self) -> Vec<i32> {
        all_pids()
            .into_iter()
            .filter(|&p| self.runs_in(p))
            .collect()
    }

    /// The check that the workload (some container running now) is not a
    /// host process; inverted for a reference runtime.
    fn check_not_on_host(&self) -> Result<(), String> {
        let pids = self.host_processes();
        match (reference_runtime(), pids.is_empty()) {
            (false, true) | (true, false) => Ok(()),
            (false, false) => Err(format!(
                "the workload runs as host processes (their exe is the image's busybox):\n{}",
                describe_pids(&pids)
            )),
            (true, true) => Err(
                "SANDBOX_ENGINES_REFERENCE=1, yet no host process runs the image's busybox: \
                 the detector is broken"
                    .into(),
            ),
        }
    }
}

/// The check that the workload sees the sentry's kernel: `out`, from
/// `uname -r` in a container, differs from the host's release (equals it for
/// a reference runtime).
fn check_sentry_kernel(out: &RunOutput) -> Result<(), String> {
    let host = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_err(|e| format!("reading /proc/sys/kernel/osrelease: {e}"))?;
    let host = host.trim();
    let inside = out.stdout_str();
    let inside = inside.trim();
    if out.code() != Some(0) || inside.is_empty() {
        return Err(format!(
            "`uname -r` failed in the container\n{}",
            out.describe()
        ));
    }
    match (reference_runtime(), inside == host) {
        (false, false) | (true, true) => Ok(()),
        (false, true) => Err(format!(
            "the container sees the host's kernel release {host:?}: the workload does not run \
             in the sentry"
        )),
        (true, false) => Err(format!(
            "SANDBOX_ENGINES_REFERENCE=1, yet the container sees release {inside:?}, not the \
             host's {host:?}"
        )),
    }
}

// ---- host processes ----

fn all_pids() -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Processes other than this one whose command line contains `text`.
fn pids_with_cmdline(text: &str) -> Vec<i32> {
    let me = i32::try_from(std::process::id()).unwrap_or(-1);
    all_pids()
        .into_iter()
        .filter(|&p| p != me && cmdline(p).is_some_and(|c| c.contains(text)))
        .collect()
}

/// "PID: cmdline" lines, for messages.
fn describe_pids(pids: &[i32]) -> String {
    pids.iter()
        .map(|&p| format!("  {p}: {}", truncate(&cmdline(p).unwrap_or_default(), 300)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn kill(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers; at worst it fails with ESRCH.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Mount points at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    points.dedup();
    points
}

/// Undoes mountinfo's octal escapes (`\040` for a space...).
fn unescape_mountinfo(s: &str) -> OsString {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    OsStr::from_bytes(&out).to_os_string()
}

fn unmount_detach(point: &Path) {
    let Ok(c) = CString::new(point.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    unsafe {
        libc::umount2(c.as_ptr(), libc::MNT_DETACH);
    }
}

// ---- daemons and the scene ----

/// A daemon we started; [`Scene`] stops it.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with its output in `log`, in its own process group.
    fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> Result<Daemon, String> {
        let file = File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("dup of {}: {e}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", shell_line(&cmd)))?;
        Ok(Daemon {
            name,
            child,
            log: log.to_path_buf(),
        })
    }

    /// The end of the daemon's log, for messages.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        format!("--- end of {} ---\n{}", self.log.display(), &text[start..])
    }

    /// An error if the daemon has exited.
    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({})\n{}",
                self.name,
                describe_status(status),
                self.log_tail()
            )),
            Err(e) => Err(format!("{}: wait: {e}", self.name)),
        }
    }

    /// Polls `ready` until it succeeds, the daemon exits, or
    /// [`START_TIMEOUT`] passes.
    fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.alive()?;
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} not ready after {} s\n{}",
                    self.name,
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                ));
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]; reaps it.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.child.id()) {
            kill(pid, libc::SIGTERM);
        }
        let exited = wait_for(STOP_TIMEOUT, || self.child.try_wait().ok().flatten());
        if exited.is_none() {
            eprintln!("{} did not exit on SIGTERM: killing it", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Everything one test made: a directory, daemons, containers. Dropping it
/// removes all of it (see the module comment).
struct Scene {
    dir: TempDir,
    /// Commands that ask the engines to remove their containers.
    cleanup: Vec<Command>,
    /// Stopped last first.
    daemons: Vec<Daemon>,
    /// Ids of containers: any process whose command line names one is killed.
    ids: Vec<String>,
    /// Any process running the image's binary is killed.
    image: Option<Image>,
}

impl Scene {
    fn new(prefix: &str) -> Scene {
        Scene {
            dir: TempDir::new(prefix).unwrap_or_else(|e| panic!("temp dir: {e}")),
            cleanup: Vec::new(),
            daemons: Vec::new(),
            ids: Vec::new(),
            image: None,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn image(&self) -> &Image {
        self.image.as_ref().expect("the image is built first")
    }

    /// Starts a containerd with its state under `<dir>/<name>`; returns its
    /// socket.
    fn start_containerd(&mut self, name: &str) -> Result<PathBuf, String> {
        let base = self.path(name);
        fs::create_dir_all(&base).map_err(|e| format!("mkdir {}: {e}", base.display()))?;
        let sock = base.join("containerd.sock");
        let config = base.join("config.toml");
        let q = |p: PathBuf| format!("{:?}", p.display().to_string());
        fs::write(
            &config,
            format!(
                "version = 2\n\
                 root = {}\n\
                 state = {}\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = {}\n\
                 [ttrpc]\n  address = {}\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = {}\n",
                q(base.join("root")),
                q(base.join("state")),
                q(sock.clone()),
                q(base.join("containerd.sock.ttrpc")),
                q(base.join("opt")),
            ),
        )
        .map_err(|e| format!("writing {}: {e}", config.display()))?;
        let mut cmd = Command::new(CONTAINERD);
        cmd.arg("--config").arg(&config);
        let mut daemon = Daemon::spawn("containerd", cmd, &base.join("containerd.log"))?;
        let ready = daemon.wait_ready(|| {
            sock.exists()
                && run_with_timeout(
                    Command::new(CTR).arg("-a").arg(&sock).arg("version"),
                    Duration::from_secs(5),
                )
                .is_ok_and(|o| o.code() == Some(0))
        });
        self.daemons.push(daemon);
        ready.map(|()| sock)
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        for mut cmd in self.cleanup.drain(..) {
            let _ = run_with_timeout(&mut cmd, COMMAND_TIMEOUT);
        }
        while let Some(mut daemon) = self.daemons.pop() {
            daemon.stop();
        }
        // What the daemons leave: shims and conmon name the directory in
        // their command lines, runtime processes may name the container.
        let dir = format!("{}/", self.dir.path().display());
        let mut leftovers = pids_with_cmdline(&dir);
        for id in &self.ids {
            leftovers.extend(pids_with_cmdline(id));
        }
        if let Some(image) = &self.image {
            leftovers.extend(image.host_processes());
        }
        leftovers.sort_unstable();
        leftovers.dedup();
        if !leftovers.is_empty() {
            eprintln!(
                "killing what the engines left:\n{}",
                describe_pids(&leftovers)
            );
            for &pid in &leftovers {
                kill(pid, libc::SIGKILL);
            }
            sleep(Duration::from_millis(200));
        }
        for _ in 0..3 {
            let points = mounts_under(self.dir.path());
            if points.is_empty() {
                break;
            }
            for p in &points {
                unmount_detach(p);
            }
        }
        // TempDir removes the directory.
    }
}

// ---- containerd ----

/// `ctr` talking to our containerd, in our namespace.
struct Ctr {
    sock: PathBuf,
    runtime: PathBuf,
    /// `--runc-root`: the runtime's state directory (the shim adds the namespace).
    runtime_root: PathBuf,
    fifo_dir: PathBuf,
}

const CTR_NAMESPACE: &str = "sandbox-test";

impl Ctr {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(CTR);
        cmd.arg("-a").arg(&self.sock).args(["-n", CTR_NAMESPACE]);
        cmd
    }

    /// `ctr run` with our runtime and directories, then `extra` (flags, image,
    /// id, command).
    fn run<S: AsRef<OsStr>>(&self, extra: &[S]) -> Command {
        let mut cmd = self.cmd();
        cmd.arg("run")
            .arg("--runc-binary")
            .arg(&self.runtime)
            .arg("--runc-root")
            .arg(&self.runtime_root)
            .arg("--fifo-dir")
            .arg(&self.fifo_dir)
            .args(extra);
        cmd
    }

    /// The status column of `ctr task ls` for `id` (RUNNING, STOPPED...).
    fn task_status(&self, id: &str) -> Result<Option<String>, String> {
        let out = run_ok(self.cmd().args(["task", "ls"]))?;
        Ok(out.stdout_str().lines().find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(id)).then(|| words.nth(1).unwrap_or("").to_string())
        }))
    }
}

const CTR_IMAGE: &str = "docker.io/sandbox-test/busybox:test";

#[test]
fn containerd_runs_containers_with_sandbox() {
    if !prerequisites(
        "containerd",
        &[
            CONTAINERD,
            CONTAINERD_SHIM,
            CTR,
            UMOCI,
            BUSYBOX,
            SCRIPT,
            TAR,
        ],
    ) {
        return;
    }
    let mut checks = Checks::new("containerd");
    let mut scene = Scene::new("sandbox-engines-containerd");
    let runtime = runtime_for_engines(scene.dir.path());
    let Some(sock) = checks.check("start containerd", || scene.start_containerd("containerd"))
    else {
        return checks.finish();
    };
    let ctr = Ctr {
        sock,
        runtime,
        runtime_root: scene.path("runtime-root"),
        fifo_dir: scene.path("fifo"),
    };
    // Remove whatever a failed check left, while containerd still runs.
    let ctr_line = shell_line(&ctr.cmd());
    let mut cleanup = Command::new("/bin/sh");
    cleanup.arg("-c").arg(format!(
        "for t in $({ctr_line} task ls -q); do {ctr_line} task kill -s KILL \"$t\"; done; \
         sleep 0.5; \
         for c in $({ctr_line} containers ls -q); do {ctr_line} task rm -f \"$c\"; \
         {ctr_line} containers rm \"$c\"; done"
    ));
    scene.cleanup.push(cleanup);

    let imported = checks.check("build and import the image", || {
        let image = Image::build(scene.dir.path())?;
        let archive = image.oci_archive(scene.dir.path(), "test")?;
        scene.image = Some(image);
        run_ok(
            ctr.cmd()
                .args([
                    "images",
                    "import",
                    "--base-name",
                    "docker.io/sandbox-test/busybox",
                ])
                .arg(&archive),
        )?;
        let list = run_ok(ctr.cmd().args(["images", "ls", "-q"]))?;
        if list.stdout_str().lines().any(|l| l == CTR_IMAGE) {
            Ok(())
        } else {
            Err(format!(
                "{CTR_IMAGE} not among the images\n{}",
                list.describe()
            ))
        }
    });
    if imported.is_none() {
        return checks.finish();
    }
    let mut id = |what: &str| {
        let id = unique(&format!("ctr-{what}"));
        scene.ids.push(id.clone());
        id
    };

    let echo = id("echo");
    checks.check("ctr run echo hi", || {
        run_expect(
            &mut ctr.run(&["--rm", CTR_IMAGE, &echo, "echo", "hi"]),
            0,
            "hi\n",
        )
        .map(drop)
    });

    let exit = id("exit");
    checks.check("ctr run: exit status 7 passes through", || {
        run_expect(
            &mut ctr.run(&["--rm", CTR_IMAGE, &exit, "sh", "-c", "exit 7"]),
            7,
            "",
        )
        .map(drop)
    });

    let tty = id("tty");
    checks.check("ctr run -t: the workload has a terminal", || {
        expect_tty(&run_in_pty(
            &ctr.run(&["--rm", "-t", CTR_IMAGE, &tty, "sh", "-c", TTY_PROBE]),
        )?)
    });

    let bg = id("detached");
    let mut args = vec!["-d".to_string(), CTR_IMAGE.into(), bg.clone()];
    args.extend(until_sigterm(3, ""));
    let detached = checks.check("ctr run -d: the task runs", || {
        run_ok(&mut ctr.run(&args))?;
        let status = ctr.task_status(&bg)?;
        if status.as_deref() == Some("RUNNING") {
            Ok(())
        } else {
            Err(format!(
                "`ctr task ls` says {status:?} for {bg}, not RUNNING"
            ))
        }
    });
    if detached.is_some() {
        checks.check("ctr task exec", || {
            run_expect(
                ctr.cmd()
                    .args(["task", "exec", "--exec-id", "probe", "--fifo-dir"])
                    .arg(&ctr.fifo_dir)
                    .args([bg.as_str(), "echo", "inside"]),
                0,
                "inside\n",
            )
            .map(drop)
        });
        checks.check("the workload is not a host process", || {
            scene.image().check_not_on_host()
        });
        checks.check("the workload sees the sentry's kernel", || {
            let mut cmd = ctr.cmd();
            cmd.args(["task", "exec", "--exec-id", "uname", "--fifo-dir"])
                .arg(&ctr.fifo_dir)
                .args([bg.as_str(), "uname", "-r"]);
            check_sentry_kernel(&run(&mut cmd)?)
        });
        let killed = checks.check("ctr task kill (SIGTERM) stops the task", || {
            run_ok(ctr.cmd().args(["task", "kill", bg.as_str()]))?;
            let mut last = None;
            wait_for(STATE_TIMEOUT, || {
                last = ctr.task_status(&bg).ok().flatten();
                (last.as_deref() == Some("STOPPED")).then_some(())
            })
            .ok_or_else(|| {
                format!(
                    "the task is still {last:?} {} s after SIGTERM, not STOPPED",
                    STATE_TIMEOUT.as_secs()
                )
            })
        });
        if killed.is_some() {
            checks.check(
                "ctr task rm reports exit status 3 (from the TERM trap)",
                || {
                    let out = run_ok(ctr.cmd().args(["task", "rm", bg.as_str()]))?;
                    // ctr warns: msg="task ID exit with non-zero exit code 3"
                    if out.stderr_str().contains("exit code 3\"") {
                        Ok(())
                    } else {
                        Err(format!(
                            "expected ctr's warning about exit code 3 on stderr\n{}",
                            out.describe()
                        ))
                    }
                },
            );
        } else {
            checks.skip("ctr task rm reports exit status 3", "ctr task kill");
        }
        checks.check("ctr containers rm", || {
            run_ok(ctr.cmd().args(["containers", "rm", bg.as_str()]))?;
            let list = run_ok(ctr.cmd().args(["containers", "ls", "-q"]))?;
            if list.stdout_str().lines().any(|l| l == bg) {
                Err(format!("{bg} is still listed\n{}", list.describe()))
            } else {
                Ok(())
            }
        });
    } else {
        for name in [
            "ctr task exec",
            "the workload is not a host process",
            "the workload sees the sentry's kernel",
            "ctr task kill",
        ] {
            checks.skip(name, "ctr run -d");
        }
    }
    drop(scene);
    checks.finish();
}

// ---- Docker ----

struct Docker {
    sock: PathBuf,
    config_dir: PathBuf,
    exec_root: PathBuf,
    runtime: PathBuf,
}

const DOCKER_IMAGE: &str = "sandbox-test/busybox:test";

impl Docker {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.env("DOCKER_CONFIG", &self.config_dir)
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()));
        cmd
    }

    /// `docker run --runtime=sandbox --network none`, then `extra`.
    fn run<S: AsRef<OsStr>>(&self, extra: &[S]) -> Command {
        let mut cmd = self.cmd();
        cmd.args(["run", "--runtime=sandbox", "--network", "none"])
            .args(extra);
        cmd
    }

    /// `docker run -d ...`: the new container's id.
    fn run_detached<S: AsRef<OsStr>>(&self, extra: &[S]) -> Result<String, String> {
        let mut cmd = self.run(&["-d"]);
        cmd.args(extra);
        let out = run_ok(&mut cmd)?;
        let id = out.stdout_str().trim().to_string();
        if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(id)
        } else {
            Err(format!(
                "`docker run -d` printed no container id\n{}",
                out.describe()
            ))
        }
    }

    /// `RUNTIME --root R state ID` for the runtime root R that docker gave
    /// the runtime (`<exec-root>/runtime-*/moby`): the pid it reports.
    fn runtime_state_pid(&self, id: &str) -> Result<i32, String> {
        let mut tried = Vec::new();
        let entries = fs::read_dir(&self.exec_root)
            .map_err(|e| format!("reading {}: {e}", self.exec_root.display()))?;
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with("runtime-") {
                continue;
            }
            let root = entry.path().join("moby");
            let mut cmd = Command::new(&self.runtime);
            cmd.arg("--root").arg(&root).args(["state", id]);
            let out = run(&mut cmd)?;
            if out.code() == Some(0) {
                return json_int(&out.stdout_str(), "pid")
                    .and_then(|p| i32::try_from(p).ok())
                    .filter(|&p| p > 0)
                    .ok_or_else(|| {
                        format!("no \"pid\" in `{}`\n{}", shell_line(&cmd), out.describe())
                    });
            }
            tried.push(format!("`{}`\n{}", shell_line(&cmd), out.describe()));
        }
        Err(format!(
            "no runtime root under {} knows {id}:\n{}",
            self.exec_root.display(),
            tried.join("\n")
        ))
    }
}

/// The value of the first `"key": N` in a JSON text.
fn json_int(json: &str, key: &str) -> Option<u64> {
    let pattern = format!("\"{key}\"");
    let rest = &json[json.find(&pattern)? + pattern.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The memory limit of the cgroup of `pid`, in bytes (cgroup v1 or v2).
fn memory_limit(pid: i32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/cgroup");
    let cgroups = fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    let mut v2 = None;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(hierarchy), Some(controllers), Some(group)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "memory") {
            let file = format!("/sys/fs/cgroup/memory{group}/memory.limit_in_bytes");
            return read_limit(&file);
        }
        if hierarchy == "0" && controllers.is_empty() {
            v2 = Some(group.to_string());
        }
    }
    match v2 {
        Some(group) if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() => {
            read_limit(&format!("/sys/fs/cgroup{group}/memory.max"))
        }
        _ => Err(format!("no memory cgroup for {pid} in {path}:\n{cgroups}")),
    }
}

fn read_limit(file: &str) -> Result<u64, String> {
    let text = fs::read_to_string(file).map_err(|e| format!("reading {file}: {e}"))?;
    text.trim()
        .parse()
        .map_err(|_| format!("{file} holds {:?}, not a number", text.trim()))
}

#[test]
fn docker_runs_containers_with_sandbox() {
    if !prerequisites(
        "docker",
        &[
            CONTAINERD,
            CONTAINERD_SHIM,
            CTR,
            DOCKERD,
            DOCKER,
            BUSYBOX,
            SCRIPT,
            TAR,
        ],
    ) {
        return;
    }
    let mut checks = Checks::new("docker");
    let mut scene = Scene::new("sandbox-engines-docker");
    let runtime = runtime_for_engines(scene.dir.path());
    let Some(docker) = checks.check("start containerd and dockerd", || {
        let containerd = scene.start_containerd("containerd")?;
        let base = scene.path("docker");
        let exec_root = base.join("exec");
        let config_dir = base.join("client");
        for d in [&exec_root, &config_dir] {
            fs::create_dir_all(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
        }
        // Not /etc/docker/daemon.json: a host's settings must not matter. The
        // key that dockerd would otherwise make in /etc/docker goes here too.
        let config = base.join("daemon.json");
        fs::write(
            &config,
            format!(
                "{{\"deprecated-key-path\": {:?}}}\n",
                base.join("key.json").display().to_string()
            ),
        )
        .map_err(|e| format!("writing {}: {e}", config.display()))?;
        let docker = Docker {
            sock: base.join("docker.sock"),
            config_dir,
            exec_root,
            runtime: runtime.clone(),
        };
        let mut cmd = Command::new(DOCKERD);
        cmd.arg("--config-file")
            .arg(&config)
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=overlay2",
            ])
            .arg("--data-root")
            .arg(base.join("data"))
            .arg("--exec-root")
            .arg(&docker.exec_root)
            .arg("--pidfile")
            .arg(base.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", docker.sock.display()))
            .arg("--containerd")
            .arg(&containerd)
            .arg("--add-runtime")
            .arg(format!("sandbox={}", runtime.display()));
        let mut daemon = Daemon::spawn("dockerd", cmd, &base.join("dockerd.log"))?;
        let ready = daemon.wait_ready(|| {
            docker.sock.exists()
                && run_with_timeout(docker.cmd().arg("info"), Duration::from_secs(10))
                    .is_ok_and(|o| o.code() == Some(0))
        });
        scene.daemons.push(daemon);
        ready.map(|()| docker)
    }) else {
        return checks.finish();
    };
    let mut cleanup = Command::new("/bin/sh");
    let docker_line = shell_line(&docker.cmd());
    cleanup
        .env("DOCKER_CONFIG", &docker.config_dir)
        .arg("-c")
        .arg(format!(
            "{docker_line} ps -aq | xargs -r {docker_line} rm -f"
        ));
    scene.cleanup.push(cleanup);

    let imported = checks.check("docker import", || {
        let image = Image::build(scene.dir.path())?;
        let tar = image.tar.clone();
        scene.image = Some(image);
        run_ok(docker.cmd().arg("import").arg(&tar).arg(DOCKER_IMAGE)).map(drop)
    });
    if imported.is_none() {
        return checks.finish();
    }

    checks.check("docker run echo hi", || {
        run_expect(
            &mut docker.run(&["--rm", DOCKER_IMAGE, "echo", "hi"]),
            0,
            "hi\n",
        )
        .map(drop)
    });
    checks.check("docker run: exit status 7 passes through", || {
        run_expect(
            &mut docker.run(&["--rm", DOCKER_IMAGE, "sh", "-c", "exit 7"]),
            7,
            "",
        )
        .map(drop)
    });
    checks.check("docker run -t: the workload has a terminal", || {
        expect_tty(&run_in_pty(&docker.run(&[
            "--rm",
            "-t",
            DOCKER_IMAGE,
            "sh",
            "-c",
            TTY_PROBE,
        ]))?)
    });

    let mut args = vec![DOCKER_IMAGE.to_string()];
    args.extend(until_sigterm(0, "echo started; "));
    let detached = checks.check("docker run -d", || docker.run_detached(&args));
    if let Some(id) = detached {
        scene.ids.push(id.clone());
        checks.check("docker exec", || {
            run_expect(
                docker.cmd().args(["exec", &id, "echo", "inside"]),
                0,
                "inside\n",
            )
            .map(drop)
        });
        checks.check("docker exec -t: the process has a terminal", || {
            let mut cmd = docker.cmd();
            cmd.args(["exec", "-t", &id, "sh", "-c", TTY_PROBE]);
            expect_tty(&run_in_pty(&cmd)?)
        });
        checks.check("the workload is not a host process", || {
            scene.image().check_not_on_host()
        });
        checks.check("the workload sees the sentry's kernel", || {
            check_sentry_kernel(&run(docker.cmd().args(["exec", &id, "uname", "-r"]))?)
        });
        checks.check("docker logs", || {
            run_expect(docker.cmd().args(["logs", &id]), 0, "started\n").map(drop)
        });
        let stopped = checks.check("docker stop", || {
            let out = run_ok(docker.cmd().args(["stop", "-t", "10", &id]))?;
            // Past the 10 s grace period docker sends SIGKILL.
            if out.elapsed >= Duration::from_secs(9) {
                return Err(format!(
                    "`docker stop` took {:.1} s: SIGTERM did not stop the container",
                    out.elapsed.as_secs_f64()
                ));
            }
            Ok(())
        });
        if stopped.is_some() {
            checks.check("exit code 0 after docker stop (the TERM trap ran)", || {
                run_expect(
                    docker
                        .cmd()
                        .args(["inspect", "-f", "{{.State.ExitCode}}", &id]),
                    0,
                    "0\n",
                )
                .map(drop)
            });
        } else {
            checks.skip("exit code 0 after docker stop", "docker stop");
        }
        checks.check("docker rm", || {
            run_ok(docker.cmd().args(["rm", &id])).map(drop)
        });
    } else {
        for name in [
            "docker exec",
            "docker exec -t",
            "the workload is not a host process",
            "the workload sees the sentry's kernel",
            "docker logs",
            "docker stop",
        ] {
            checks.skip(name, "docker run -d");
        }
    }

    let limited = checks.check("docker run -d --memory 64m", || {
        docker.run_detached(&["--memory", "64m", DOCKER_IMAGE, "sleep", "1000"])
    });
    if let Some(id) = limited {
        scene.ids.push(id.clone());
        checks.check("the container's memory cgroup is limited to 64 MiB", || {
            let pid = docker.runtime_state_pid(&id)?;
            let limit = memory_limit(pid)?;
            if limit == 64 << 20 {
                Ok(())
            } else {
                let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                Err(format!(
                    "the memory limit of pid {pid} (from `state`) is {limit}, not {}\n\
                     /proc/{pid}/cgroup:\n{cgroup}",
                    64 << 20
                ))
            }
        });
        checks.check("docker rm -f leaves no process of the container", || {
            run_ok(docker.cmd().args(["rm", "-f", &id]))?;
            let mut left = Vec::new();
            wait_for(STATE_TIMEOUT, || {
                left = pids_with_cmdline(&id);
                left.is_empty().then_some(())
            })
            .ok_or_else(|| {
                format!(
                    "{} s after `docker rm -f`, processes naming the container remain:\n{}",
                    STATE_TIMEOUT.as_secs(),
                    describe_pids(&left)
                )
            })
        });
    } else {
        checks.skip(
            "the container's memory cgroup is limited",
            "docker run -d --memory 64m",
        );
        checks.skip(
            "docker rm -f leaves no process",
            "docker run -d --memory 64m",
        );
    }
    drop(scene);
    checks.finish();
}

// ---- Podman ----

struct Podman {
    base: PathBuf,
    runtime: PathBuf,
}

const PODMAN_IMAGE: &str = "localhost/sandbox-test/busybox:test";

impl Podman {
    /// `podman` with all its state under `base` and our runtime.
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(PODMAN);
        // Where podman import stages layers (default /var/tmp).
        cmd.env("TMPDIR", self.base.join("tmp"))
            .arg("--root")
            .arg(self.base.join("root"))
            .arg("--runroot")
            .arg(self.base.join("runroot"))
            .arg("--tmpdir")
            .arg(self.base.join("libpod"))
            .arg("--runtime")
            .arg(&self.runtime)
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager=cgroupfs",
                "--events-backend=file",
            ]);
        cmd
    }

    /// `podman run` with the flags this machine needs, then `extra`.
    fn run<S: AsRef<OsStr>>(&self, extra: &[S]) -> Command {
        let mut cmd = self.cmd();
        cmd.args([
            "run",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:20000",
            "--ulimit",
            "nproc=4096:4096",
        ])
        .args(extra);
        cmd
    }
}

#[test]
fn podman_runs_containers_with_sandbox() {
    if !prerequisites("podman", &[PODMAN, CONMON, BUSYBOX, TAR]) {
        return;
    }
    let mut checks = Checks::new("podman");
    let mut scene = Scene::new("sandbox-engines-podman");
    let podman = Podman {
        base: scene.path("podman"),
        runtime: runtime_for_engines(scene.dir.path()),
    };
    let mut cleanup = podman.cmd();
    cleanup.args(["rm", "-a", "-f", "-t", "0"]);
    scene.cleanup.push(cleanup);

    let imported = checks.check("podman import", || {
        let tmp = podman.base.join("tmp");
        fs::create_dir_all(&tmp).map_err(|e| format!("mkdir {}: {e}", tmp.display()))?;
        let image = Image::build(scene.dir.path())?;
        let tar = image.tar.clone();
        scene.image = Some(image);
        run_ok(podman.cmd().arg("import").arg(&tar).arg(PODMAN_IMAGE)).map(drop)
    });
    if imported.is_none() {
        return checks.finish();
    }
    checks.check("podman run echo hi", || {
        run_expect(
            &mut podman.run(&["--rm", PODMAN_IMAGE, "echo", "hi"]),
            0,
            "hi\n",
        )
        .map(drop)
    });
    checks.check("podman run: exit status 7 passes through", || {
        run_expect(
            &mut podman.run(&["--rm", PODMAN_IMAGE, "sh", "-c", "exit 7"]),
            7,
            "",
        )
        .map(drop)
    });
    checks.check("the workload sees the sentry's kernel", || {
        check_sentry_kernel(&run(&mut podman.run(&[
            "--rm",
            PODMAN_IMAGE,
            "uname",
            "-r",
        ]))?)
    });
    let name = unique("podman-detached");
    scene.ids.push(name.clone());
    let detached = checks.check("podman run -d", || {
        run_ok(&mut podman.run(&["-d", "--name", &name, PODMAN_IMAGE, "sleep", "1000"]))?;
        let out = run_ok(
            podman
                .cmd()
                .args(["inspect", "-f", "{{.State.Running}}", &name]),
        )?;
        if out.stdout_str() == "true\n" {
            Ok(())
        } else {
            Err(format!("the container does not run\n{}", out.describe()))
        }
    });
    if detached.is_some() {
        checks.check("the workload is not a host process", || {
            scene.image().check_not_on_host()
        });
        checks.check("podman rm -f", || {
            run_ok(podman.cmd().args(["rm", "-f", "-t", "0", &name])).map(drop)
        });
    } else {
        checks.skip("the workload is not a host process", "podman run -d");
    }
    drop(scene);
    checks.finish();
}
