//! Private container engines for the engine tests (tests/tests/engines.rs) and
//! the benchmark (tests/src/bin/bench/oci.rs): a containerd and a dockerd with
//! every file under a fresh temporary directory and on their own sockets, and
//! a busybox image to import into them.
//!
//! A guard ([`Scene`]) removes what was made even when a check fails: it asks
//! the engine to remove its containers, stops the daemons, kills what they
//! left behind (shims, conmon, workload processes), unmounts what they
//! mounted and removes the directory. Every command has a deadline.
//!
//! The image ([`Image`]) holds busybox-static only: `/bin/busybox` and a link
//! per applet. The image's busybox has a marker appended after the ELF data
//! (the loader ignores it), so a host process running the image's binary is
//! recognised by its `/proc/PID/exe`.

use std::cell::Cell;
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

use crate::{
    cmdline, describe_status, run_with_timeout, truncate, write_executable, RunOutput, TempDir,
};

/// Deadline of one engine command (`ctr run`, `docker stop`...). They take
/// about a second; `docker stop` up to its 10 s grace period.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a daemon may take to answer after it is started.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a daemon may take to exit after SIGTERM before it gets SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

pub const CONTAINERD: &str = "/usr/bin/containerd";
pub const CONTAINERD_SHIM: &str = "/usr/bin/containerd-shim-runc-v2";
pub const CTR: &str = "/usr/bin/ctr";
pub const DOCKERD: &str = "/usr/sbin/dockerd";
/// Debian's client; another `docker` may come first on PATH.
pub const DOCKER: &str = "/usr/bin/docker";
pub const UMOCI: &str = "/usr/bin/umoci";
pub const BUSYBOX: &str = "/bin/busybox";
pub const TAR: &str = "/bin/tar";

/// What [`Scene::start_docker`] and [`Image::build`] run.
pub const DOCKER_TOOLS: [&str; 7] = [
    CONTAINERD,
    CONTAINERD_SHIM,
    CTR,
    DOCKERD,
    DOCKER,
    BUSYBOX,
    TAR,
];

/// The tools of `tools` that are not installed.
pub fn missing<'a>(tools: &[&'a str]) -> Vec<&'a str> {
    tools
        .iter()
        .copied()
        .filter(|t| !Path::new(t).is_file())
        .collect()
}

/// A name no other run of the tests uses.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// `s` as one word for `sh`.
pub fn shell_quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A command line as `sh` would read it.
pub fn shell_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- running commands ----

thread_local! {
    /// Commands of this thread (each test has its own) that timed out.
    static TIMEOUTS: Cell<usize> = const { Cell::new(0) };
}

/// How many commands run by [`run`] on this thread have timed out.
pub fn timeouts() -> usize {
    TIMEOUTS.with(Cell::get)
}

/// Runs `cmd` (stdin /dev/null) with [`COMMAND_TIMEOUT`]; an error when it
/// cannot be started or times out.
pub fn run(cmd: &mut Command) -> Result<RunOutput, String> {
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
pub fn run_ok(cmd: &mut Command) -> Result<RunOutput, String> {
    let out = run(cmd)?;
    if out.code() != Some(0) {
        return Err(format!("`{}` failed\n{}", shell_line(cmd), out.describe()));
    }
    Ok(out)
}

/// Polls `f` every 100 ms until it gives `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
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

// ---- the image ----

/// A busybox-static root filesystem, as a directory and a tar file.
pub struct Image {
    pub rootfs: PathBuf,
    pub tar: PathBuf,
    /// The size of the image's `/bin/busybox`.
    busybox_len: u64,
    /// What the image's `/bin/busybox` ends with, and no other file.
    marker: Vec<u8>,
}

impl Image {
    /// Builds `<dir>/rootfs` and `<dir>/rootfs.tar`.
    pub fn build(dir: &Path) -> Result<Image, String> {
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
    pub fn oci_archive(&self, dir: &Path, tag: &str) -> Result<PathBuf, String> {
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
    pub fn runs_in(&self, pid: i32) -> bool {
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
    pub fn host_processes(&self) -> Vec<i32> {
        all_pids()
            .into_iter()
            .filter(|&p| self.runs_in(p))
            .collect()
    }
}

// ---- host processes ----

pub fn all_pids() -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Processes other than this one whose command line contains `text`.
pub fn pids_with_cmdline(text: &str) -> Vec<i32> {
    let me = i32::try_from(std::process::id()).unwrap_or(-1);
    all_pids()
        .into_iter()
        .filter(|&p| p != me && cmdline(p).is_some_and(|c| c.contains(text)))
        .collect()
}

/// "PID: cmdline" lines, for messages.
pub fn describe_pids(pids: &[i32]) -> String {
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
pub struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with its output in `log`, in its own process group.
    pub fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> Result<Daemon, String> {
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
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        format!("--- end of {} ---\n{}", self.log.display(), &text[start..])
    }

    /// An error if the daemon has exited.
    pub fn alive(&mut self) -> Result<(), String> {
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
    pub fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) -> Result<(), String> {
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
    pub fn stop(&mut self) {
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
pub struct Scene {
    pub dir: TempDir,
    /// Commands that ask the engines to remove their containers.
    pub cleanup: Vec<Command>,
    /// Stopped last first.
    pub daemons: Vec<Daemon>,
    /// Ids of containers: any process whose command line names one is killed.
    pub ids: Vec<String>,
    /// Any process running the image's binary is killed.
    pub image: Option<Image>,
}

impl Scene {
    /// An empty scene in a new temporary directory named after `prefix`.
    pub fn new(prefix: &str) -> Result<Scene, String> {
        Ok(Scene {
            dir: TempDir::new(prefix).map_err(|e| format!("temp dir: {e}"))?,
            cleanup: Vec::new(),
            daemons: Vec::new(),
            ids: Vec::new(),
            image: None,
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn image(&self) -> &Image {
        self.image.as_ref().expect("the image is built first")
    }

    /// Starts a containerd with its state under `<dir>/<name>`; returns its
    /// socket.
    pub fn start_containerd(&mut self, name: &str) -> Result<PathBuf, String> {
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

// ---- Docker ----

/// A dockerd of a [`Scene`] (on a containerd of its own) and how to reach it.
pub struct Docker {
    pub sock: PathBuf,
    pub config_dir: PathBuf,
    /// dockerd's `--exec-root`: the runtimes' state is under `runtime-*/moby`.
    pub exec_root: PathBuf,
}

/// The tag of the image in the scene's docker.
pub const DOCKER_IMAGE: &str = "sandbox-test/busybox:test";

impl Docker {
    /// `docker` talking to this dockerd.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.env("DOCKER_CONFIG", &self.config_dir)
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()));
        cmd
    }

    /// `docker run --runtime=RUNTIME --network none`, then `extra`.
    pub fn run<S: AsRef<OsStr>>(&self, runtime: &str, extra: &[S]) -> Command {
        let mut cmd = self.cmd();
        cmd.arg("run")
            .arg(format!("--runtime={runtime}"))
            .args(["--network", "none"])
            .args(extra);
        cmd
    }
}

impl Scene {
    /// Starts a containerd (under `<dir>/containerd`) and a dockerd on it
    /// (under `<dir>/docker`) that knows `runtimes` (name, binary) besides
    /// its own `runc`; once dockerd answers, the scene removes its containers
    /// on drop.
    pub fn start_docker(&mut self, runtimes: &[(&str, &Path)]) -> Result<Docker, String> {
        let containerd = self.start_containerd("containerd")?;
        let base = self.path("docker");
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
            .arg(&containerd);
        for (name, bin) in runtimes {
            cmd.arg("--add-runtime")
                .arg(format!("{name}={}", bin.display()));
        }
        let mut daemon = Daemon::spawn("dockerd", cmd, &base.join("dockerd.log"))?;
        let ready = daemon.wait_ready(|| {
            docker.sock.exists()
                && run_with_timeout(docker.cmd().arg("info"), Duration::from_secs(10))
                    .is_ok_and(|o| o.code() == Some(0))
        });
        self.daemons.push(daemon);
        ready?;
        let docker_line = shell_line(&docker.cmd());
        let mut cleanup = Command::new("/bin/sh");
        cleanup
            .env("DOCKER_CONFIG", &docker.config_dir)
            .arg("-c")
            .arg(format!(
                "{docker_line} ps -aq | xargs -r {docker_line} rm -f"
            ));
        self.cleanup.push(cleanup);
        Ok(docker)
    }
}
