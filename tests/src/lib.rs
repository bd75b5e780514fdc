//! Shared helpers for the conformance harness, program tests and benchmarks.
//!
//! - locating the `sandbox` binary ([`sandbox_bin`]) and building a
//!   `sandbox run` command line ([`sandbox_command`]);
//! - running a command with a deadline and capturing its output
//!   ([`run_with_timeout`]);
//! - building small C programs with the system compiler ([`build_c`]);
//! - looking at host processes through `/proc` ([`pids_with_exe`]);
//! - a self-removing temporary directory ([`TempDir`], [`TempDir::new_in`]).
//!
//! Environment:
//! - `SANDBOX_BIN`: the binary under test. Default:
//!   `<workspace>/target/release/sandbox`, built by `cargo build --release`.
//!   `tests/fake-sandbox` is a pass-through stand-in for developing the tests
//!   (not a sandbox: the isolation tests fail with it, by design).
//! - `SANDBOX_PLATFORMS`: comma-separated platforms to pass as `--platform`
//!   to the conformance runs (e.g. `ptrace,systrap`). Default: both
//!   platforms, systrap (the default) first.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub mod engines;
pub mod oci;

/// How long one program may run, natively or sandboxed, before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `-v ROOT:ROOT:ro` for the workspace: the programs the tests build live under it, and the
/// sandbox's `/tmp` is its own, so a checkout under the host's `/tmp` must be shared on purpose.
pub fn workspace_volume() -> [String; 2] {
    let root = workspace_root();
    ["-v".to_string(), format!("{0}:{0}:ro", root.display())]
}

/// The `sandbox` binary under test, if it exists: `$SANDBOX_BIN`, else
/// `<workspace>/target/release/sandbox`.
pub fn sandbox_bin_if_present() -> Option<PathBuf> {
    let path = match std::env::var_os("SANDBOX_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("target/release/sandbox"),
    };
    path.is_file().then_some(path)
}

/// The `sandbox` binary under test; panics with what to do when it is missing.
pub fn sandbox_bin() -> PathBuf {
    if let Some(path) = sandbox_bin_if_present() {
        return path;
    }
    match std::env::var_os("SANDBOX_BIN") {
        Some(p) if !p.is_empty() => {
            panic!(
                "SANDBOX_BIN={} does not exist or is not a file",
                Path::new(&p).display()
            )
        }
        _ => panic!(
            "{} not found: run `cargo build --release` first (or set SANDBOX_BIN to the binary \
             to test)",
            workspace_root().join("target/release/sandbox").display()
        ),
    }
}

/// `sandbox run [--platform P] -- PROGRAM ARGS...`, with the binary from
/// [`sandbox_bin`].
pub fn sandbox_command<S: AsRef<OsStr>>(platform: Option<&str>, program_and_args: &[S]) -> Command {
    let mut cmd = Command::new(sandbox_bin());
    cmd.arg("run").args(workspace_volume());
    if let Some(p) = platform {
        cmd.args(["--platform", p]);
    }
    cmd.arg("--").args(program_and_args);
    cmd
}

/// The platforms the conformance harness runs under.
pub fn platforms() -> Vec<Option<String>> {
    match std::env::var("SANDBOX_PLATFORMS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|p| Some(p.trim().to_string()))
            .filter(|p| p.as_deref() != Some(""))
            .collect(),
        _ => vec![Some("systrap".into()), Some("ptrace".into())],
    }
}

/// What a finished (or killed) command did.
#[derive(Debug)]
pub struct RunOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The deadline passed and the command was killed.
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl RunOutput {
    /// The exit code; `None` when the process was killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// "exit 0", "killed by signal 11", with " (timed out)" when it was us.
    pub fn status_text(&self) -> String {
        let s = describe_status(self.status);
        if self.timed_out {
            format!("{s} (timed out after {:.1} s)", self.elapsed.as_secs_f64())
        } else {
            s
        }
    }

    /// Status, stdout and stderr, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status: {}\nstdout: {:?}\nstderr: {:?}",
            self.status_text(),
            truncate(&self.stdout_str(), 4000),
            truncate(&self.stderr_str(), 4000)
        )
    }
}

/// "exit N" or "killed by signal N".
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => format!("{status}"),
    }
}

/// At most `max` bytes of `s` (on a char boundary), with a marker when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} more bytes]", &s[..end], s.len() - end)
}

/// Runs `cmd` with stdin from /dev/null; see [`run_with_input`].
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> io::Result<RunOutput> {
    run_with_input(cmd, None, timeout)
}

/// Runs `cmd`, feeding it `input` on stdin (or /dev/null), capturing stdout
/// and stderr, and killing it when `timeout` passes.
///
/// The command gets its own process group, and on expiry the whole group is
/// killed, so a hung sandbox does not outlive the test. Output is collected
/// by reader threads; if something that inherited the pipes (a leaked
/// background process) keeps them open after the command exits, reading
/// stops at the deadline and what was read so far is returned.
pub fn run_with_input(
    cmd: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<RunOutput> {
    let start = Instant::now();
    let deadline = start + timeout;
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let mut child = cmd.spawn()?;

    let stdout = collect(child.stdout.take().expect("stdout is piped"));
    let stderr = collect(child.stderr.take().expect("stderr is piped"));
    if let (Some(data), Some(mut pipe)) = (input, child.stdin.take()) {
        let data = data.to_vec();
        // A writer thread, so a command that does not read cannot block us.
        // A broken pipe (the command exited first) is fine.
        thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }

    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            kill_group(child.id());
            let _ = child.kill();
            break child.wait()?;
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();

    // Give the readers until the deadline (at least 1 s) to see EOF.
    let read_deadline = deadline.max(Instant::now() + Duration::from_secs(1));
    Ok(RunOutput {
        status,
        stdout: stdout.finish(read_deadline),
        stderr: stderr.finish(read_deadline),
        timed_out,
        elapsed,
    })
}

fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        // SAFETY: kill(2) takes plain integers; a negative pid names the
        // process group we created for this command.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Bytes read so far from a pipe by a background thread.
struct Collector {
    data: Arc<Mutex<Vec<u8>>>,
    done: Arc<Mutex<bool>>,
}

fn collect<R: Read + Send + 'static>(mut pipe: R) -> Collector {
    let data = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(Mutex::new(false));
    let (d, f) = (Arc::clone(&data), Arc::clone(&done));
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => lock(&d).extend_from_slice(&buf[..n]),
            }
        }
        *lock(&f) = true;
    });
    Collector { data, done }
}

impl Collector {
    /// Waits for EOF until `deadline`, then returns what was read.
    fn finish(self, deadline: Instant) -> Vec<u8> {
        while !*lock(&self.done) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        std::mem::take(&mut *lock(&self.data))
    }
}

/// Locks a mutex, ignoring poisoning (a panicking test must not hide the
/// output of the others).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The C compiler: `$CC` or `gcc`.
pub fn cc() -> String {
    std::env::var("CC")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "gcc".into())
}

/// Compiles `src` into `out` with `gcc -O1 -Wall -Werror`, the source's
/// directory on the include path, plus `extra` flags (e.g. `-static`).
///
/// Builds into a temporary name and renames, so a half-written binary never
/// sits at `out`. Returns the compiler's messages on failure.
pub fn build_c(src: &Path, out: &Path, extra: &[&str]) -> Result<(), String> {
    if let Some(dir) = out.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let include = src.parent().unwrap_or(Path::new("."));
    let result = Command::new(cc())
        .args(["-O1", "-Wall", "-Werror", "-I"])
        .arg(include)
        .args(extra)
        .arg("-o")
        .arg(&tmp)
        .arg(src)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", cc()))?;
    if !result.status.success() {
        let _ = fs::remove_file(&tmp);
        return Err(format!(
            "{} {} failed ({}):\n{}",
            cc(),
            src.display(),
            describe_status(result.status),
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    fs::rename(&tmp, out).map_err(|e| format!("rename to {}: {e}", out.display()))
}

/// Writes `source` to `<dir>/<name>.c` and builds `<dir>/<name>`.
pub fn build_c_source(
    dir: &Path,
    name: &str,
    source: &str,
    extra: &[&str],
) -> Result<PathBuf, String> {
    fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let src = dir.join(format!("{name}.c"));
    fs::write(&src, source).map_err(|e| format!("write {}: {e}", src.display()))?;
    let out = dir.join(name);
    build_c(&src, &out, extra)?;
    Ok(out)
}

/// Whether `gcc -static` can link a C program here (needs libc6-dev's
/// libc.a). `dir` is scratch space.
pub fn static_libc_available(dir: &Path) -> bool {
    build_c_source(
        dir,
        "static-probe",
        "int main(void) { return 0; }\n",
        &["-static"],
    )
    .is_ok()
}

/// A directory under the system temp dir, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> io::Result<TempDir> {
        TempDir::new_in(&std::env::temp_dir(), prefix)
    }

    /// Like [`TempDir::new`], under `parent` (created if missing) instead of
    /// the system temp dir. A sandbox's `/tmp` is its own private tmpfs, so
    /// files that a sandboxed program must find at their host path (through
    /// the read-only root) have to live elsewhere, e.g. under `target/tmp`.
    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<TempDir> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("{prefix}-{}-{n}", std::process::id()));
        fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Writes `data` to `path` with mode 0755.
pub fn write_executable(path: &Path, data: &[u8]) -> io::Result<()> {
    fs::write(path, data)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

/// The pids of host processes whose `/proc/PID/exe` is `exe` (after
/// resolving symlinks in `exe`). A binary replaced while running shows as
/// "PATH (deleted)"; that counts too. Processes we may not inspect are
/// skipped.
pub fn pids_with_exe(exe: &Path) -> Vec<i32> {
    let want = fs::canonicalize(exe).unwrap_or_else(|_| exe.to_path_buf());
    let mut pids = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(target) = fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        let target = target.to_string_lossy();
        let target = target.strip_suffix(" (deleted)").unwrap_or(&target);
        if Path::new(target) == want {
            pids.push(pid);
        }
    }
    pids
}

/// Fields of `/proc/PID/stat` after the command name; index 0 is the state
/// (field 3 in proc(5)).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The parent pid of `pid` (proc(5) field 4).
pub fn parent_pid(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// When `pid` started, in clock ticks since boot (proc(5) field 22). A
/// process started later has a larger or equal value.
pub fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// `/proc/PID/cmdline` with NULs turned into spaces.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim_end()
            .to_string(),
    )
}

/// Children of `pid` (by scanning every process's parent pid).
pub fn children_of(pid: i32) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| parent_pid(p) == Some(pid))
        .collect()
}
