//! `sandbox` as the OCI runtime of real container engines, end to end:
//! containerd (driven with `ctr`), Docker and Podman, all from Debian
//! (`tools/install-deps` installs them).
//!
//! Each test starts its own daemons with every file under a fresh temporary
//! directory and on its own sockets. A guard ([`Scene`]) removes what the
//! test made even when a check fails: it asks the engine to remove its
//! containers, stops the daemons, kills what they left behind (shims, conmon,
//! workload processes), unmounts what they mounted and removes the directory.
//! Every command has a deadline. The daemons, the guard and the image are
//! [`sandbox_tests::engines`], which the benchmark shares.
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

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sandbox_tests::engines::{
    describe_pids, missing, pids_with_cmdline, run, run_ok, shell_line, shell_quote, timeouts,
    unique, wait_for, Docker, Image, Scene, BUSYBOX, CONTAINERD, CONTAINERD_SHIM, CTR, DOCKER,
    DOCKERD, DOCKER_IMAGE, TAR, UMOCI,
};
use sandbox_tests::{sandbox_bin, write_executable, RunOutput};

/// How long a container may take to reach a state (stopped, gone).
const STATE_TIMEOUT: Duration = Duration::from_secs(20);

const PODMAN: &str = "/usr/bin/podman";
const CONMON: &str = "/usr/bin/conmon";
/// util-linux `script`: runs a command with a pseudo-terminal as its stdio.
const SCRIPT: &str = "/usr/bin/script";

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
    let missing = missing(tools);
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

/// After this many timed-out commands, a test runs no more checks: the
/// runtime hangs, and every further check would wait for its deadline too.
const MAX_TIMEOUTS: usize = 2;

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
        if timeouts() >= MAX_TIMEOUTS {
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

/// The check that the workload (some container running now) is not a
/// host process; inverted for a reference runtime.
fn check_not_on_host(image: &Image) -> Result<(), String> {
    let pids = image.host_processes();
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
    let mut scene = Scene::new("sandbox-engines-containerd").unwrap_or_else(|e| panic!("{e}"));
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
            check_not_on_host(scene.image())
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

/// The name of the runtime under test in the scene's docker.
const DOCKER_RUNTIME: &str = "sandbox";

/// `docker run -d ...` with the runtime under test: the new container's id.
fn run_detached<S: AsRef<OsStr>>(docker: &Docker, extra: &[S]) -> Result<String, String> {
    let mut cmd = docker.run(DOCKER_RUNTIME, &["-d"]);
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
fn runtime_state_pid(docker: &Docker, runtime: &Path, id: &str) -> Result<i32, String> {
    let mut tried = Vec::new();
    let entries = fs::read_dir(&docker.exec_root)
        .map_err(|e| format!("reading {}: {e}", docker.exec_root.display()))?;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("runtime-") {
            continue;
        }
        let root = entry.path().join("moby");
        let mut cmd = Command::new(runtime);
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
        docker.exec_root.display(),
        tried.join("\n")
    ))
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
    let mut scene = Scene::new("sandbox-engines-docker").unwrap_or_else(|e| panic!("{e}"));
    let runtime = runtime_for_engines(scene.dir.path());
    let Some(docker) = checks.check("start containerd and dockerd", || {
        scene.start_docker(&[(DOCKER_RUNTIME, &runtime)])
    }) else {
        return checks.finish();
    };

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
            &mut docker.run(DOCKER_RUNTIME, &["--rm", DOCKER_IMAGE, "echo", "hi"]),
            0,
            "hi\n",
        )
        .map(drop)
    });
    checks.check("docker run: exit status 7 passes through", || {
        run_expect(
            &mut docker.run(
                DOCKER_RUNTIME,
                &["--rm", DOCKER_IMAGE, "sh", "-c", "exit 7"],
            ),
            7,
            "",
        )
        .map(drop)
    });
    checks.check("docker run -t: the workload has a terminal", || {
        expect_tty(&run_in_pty(&docker.run(
            DOCKER_RUNTIME,
            &["--rm", "-t", DOCKER_IMAGE, "sh", "-c", TTY_PROBE],
        ))?)
    });

    let mut args = vec![DOCKER_IMAGE.to_string()];
    args.extend(until_sigterm(0, "echo started; "));
    let detached = checks.check("docker run -d", || run_detached(&docker, &args));
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
            check_not_on_host(scene.image())
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
        run_detached(&docker, &["--memory", "64m", DOCKER_IMAGE, "sleep", "1000"])
    });
    if let Some(id) = limited {
        scene.ids.push(id.clone());
        checks.check("the container's memory cgroup is limited to 64 MiB", || {
            let pid = runtime_state_pid(&docker, &runtime, &id)?;
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
    let mut scene = Scene::new("sandbox-engines-podman").unwrap_or_else(|e| panic!("{e}"));
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
    checks.check("podman run -t: the workload has a terminal", || {
        expect_tty(&run_in_pty(&podman.run(&["--rm", "-t", PODMAN_IMAGE, "sh", "-c", TTY_PROBE]))?)
    });
    let stoppable = unique("podman-stoppable");
    scene.ids.push(stoppable.clone());
    let mut args = vec!["-d".to_string(), "--name".into(), stoppable.clone(), PODMAN_IMAGE.into()];
    args.extend(until_sigterm(3, ""));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if checks.check("podman run -d of a TERM-handling shell", || run_ok(&mut podman.run(&args)).map(drop)).is_some() {
        checks.check("podman exec", || {
            run_expect(podman.cmd().args(["exec", &stoppable, "echo", "inside"]), 0, "inside\n").map(drop)
        });
        let stopped = checks.check("podman stop", || {
            let out = run_ok(podman.cmd().args(["stop", "-t", "10", &stoppable]))?;
            if out.elapsed >= Duration::from_secs(9) {
                return Err(format!("`podman stop` took {:.1} s: SIGTERM did not stop the container", out.elapsed.as_secs_f64()));
            }
            Ok(())
        });
        if stopped.is_some() {
            checks.check("exit code 3 after podman stop (the TERM trap ran)", || {
                run_expect(podman.cmd().args(["inspect", "-f", "{{.State.ExitCode}}", &stoppable]), 0, "3\n").map(drop)
            });
        }
    }
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
            check_not_on_host(scene.image())
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
