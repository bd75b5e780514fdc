//! Benchmarks of `sandbox` beside native runs and peers, in one run.
//!
//! ```text
//! cargo build --release && cargo run --release -p sandbox-tests --bin bench [-- --quick]
//! ```
//!
//! Nothing here asserts: the targets are printed with PASS/MISS and the
//! program always exits 0 (a missing peer or a failing sandbox shows as
//! "n/a" with the reason).
//!
//! 1. **getpid round trip** (ns per call, best of 3 runs): `getpid_loop`
//!    (tests/bench/getpid_loop.c) natively; under a bare `PTRACE_SYSEMU`
//!    tracer built into this program (the floor of any ptrace platform);
//!    under `sandbox run` on the systrap and the ptrace platform; under gVisor's
//!    `runsc --platform=ptrace do` (Debian package `runsc`) and
//!    `strace -f` when installed.
//! 2. **start-up** of `/bin/true`: wall time (mean and min over the runs) and
//!    peak RSS, natively, under `sandbox run` and under `runsc do`.
//! 3. **processes, threads and IPC** (issue 4), natively, under `sandbox run`
//!    and under `runsc do`: fork+exec+wait of `/bin/true`
//!    (tests/bench/forkexec_loop.c; runsc makes fewer iterations, it is the
//!    slowest), pipe throughput (tests/bench/pipe_throughput.c), futex
//!    ping-pong between two threads (tests/bench/futex_pingpong.c), the wall
//!    time of `python3 -c pass`, and `make -j1` of a generated four-file C
//!    project with gcc (the project is written by a shell script run in the
//!    peer, in its own `/tmp`, and the script times `make` from clean).
//! 4. **files** (issue 3): `stat` and `open`+`read`+`close` of a small file on
//!    the root (`/etc/hostname`) and on a read-only bind mount
//!    (tests/bench/file_ops.c), sequential read of a 100 MB file on the bind
//!    mount, and the wall time of `find /usr -xdev | wc -l` (whose count
//!    must match the native one).
//! 5. **OCI runtime** (issue 5): create + start + wait + delete of a busybox
//!    `true` container under sandbox, runc and runsc; then
//!    `docker run --rm --network none` of the same container under sandbox
//!    and under runc, both added to one private dockerd, with sandbox ÷ runc
//!    (see `bench/oci.rs`).
//!
//! Sections 3 and 4 print one table each: the figure natively, under the
//! sandbox and under runsc, each peer's slowdown against native (a time
//! ratio, so for MB/s rows native ÷ peer), and the sandbox against runsc
//! (also a time ratio: below 1 the sandbox is faster).
//!
//! Everything the peers must run lives under `<workspace>/target/tmp`, not
//! the host's `/tmp`: the sandbox's `/tmp` is its own private tmpfs.
//!
//! Peak RSS: each peer's runs are made by a fresh copy of this program
//! (`bench __startup`) that is a child subreaper, so processes orphaned by
//! the command (a daemonised sentry, say) are reparented to it and reaped
//! by it. Two figures:
//! - "wait4": `ru_maxrss` from `wait4` on the command, the largest peak RSS
//!   of the command's process and of the descendants *it* reaped;
//! - "tree": `getrusage(RUSAGE_CHILDREN)` of the helper afterwards, the
//!   largest peak RSS of any process of the tree, orphans included.
//!
//! Both are the peak of the single largest process, not a sum over the
//! processes (the kernel keeps no sum).

#[path = "bench/oci.rs"]
mod oci;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_tests::{
    build_c, run_with_timeout, sandbox_bin_if_present, truncate, workspace_root, TempDir,
};

const RUNSC: &str = "/usr/bin/runsc";
const STRACE: &str = "/usr/bin/strace";
/// A peer run longer than this is killed and reported as n/a.
const PEER_TIMEOUT: Duration = Duration::from_secs(300);
/// The same for one run of a workload of sections 3 and 4 (they take a few
/// seconds; a hang must not eat the whole benchmark's budget).
const ROW_TIMEOUT: Duration = Duration::from_secs(90);
/// The environment of natively run workloads, like the sandbox's own.
const STD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Debian's Python, named by path (a `python3` earlier in our PATH may be a
/// pyenv shim).
const PYTHON: &str = "/usr/bin/python3";

// Targets (see the project's plan): the sandbox against its peers.
const TARGET_VS_RUNSC: f64 = 0.5;
const TARGET_VS_TRACER: f64 = 1.25;
const TARGET_STARTUP_MS: f64 = 50.0;
const TARGET_RSS_MIB: f64 = 15.0;
// Issue 4: against native.
const TARGET_PYTHON_VS_NATIVE: f64 = 3.0;
const TARGET_MAKE_VS_NATIVE: f64 = 1.5;
// Issue 3: against native.
const TARGET_STAT_VS_NATIVE: f64 = 20.0;
const TARGET_SEQ_READ_VS_NATIVE: f64 = 1.5;

struct Config {
    native_iters: u64,
    traced_iters: u64,
    repeats: usize,
    startup_runs: usize,
    /// fork+exec+wait iterations natively and under the sandbox…
    forkexec_iters: u64,
    /// …and under runsc (about 9 ms each there).
    forkexec_iters_runsc: u64,
    pipe_mib: u64,
    futex_rounds: u64,
    python_runs: usize,
    make_runs: usize,
    /// stat and open+read+close iterations.
    file_ops: u64,
    big_file_bytes: usize,
    /// Timed passes over the big file (after one warm-up pass).
    read_passes: u64,
    find_native_runs: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__startup") {
        startup_helper(&args[2..]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: bench [--quick] [--oci]   (--oci: only the OCI runtime section; set SANDBOX_BIN to bench another binary)");
        return;
    }
    let cfg = if quick {
        Config {
            native_iters: 200_000,
            traced_iters: 5_000,
            repeats: 1,
            startup_runs: 5,
            forkexec_iters: 100,
            forkexec_iters_runsc: 30,
            pipe_mib: 32,
            futex_rounds: 2_000,
            python_runs: 3,
            make_runs: 1,
            file_ops: 2_000,
            big_file_bytes: 100_000_000,
            read_passes: 1,
            find_native_runs: 1,
        }
    } else {
        Config {
            native_iters: 2_000_000,
            traced_iters: 50_000,
            repeats: 3,
            startup_runs: 20,
            forkexec_iters: 1000,
            forkexec_iters_runsc: 300,
            pipe_mib: 256,
            futex_rounds: 20_000,
            python_runs: 10,
            make_runs: 3,
            file_ops: 10_000,
            big_file_bytes: 100_000_000,
            read_passes: 3,
            find_native_runs: 3,
        }
    };

    // Not under the host's /tmp: the sandbox has its own.
    let scratch =
        TempDir::new_in(&workspace_root().join("target/tmp"), "sandbox-bench").expect("temp dir");
    let loop_bin = scratch.path().join("getpid_loop");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/getpid_loop.c");
    if let Err(e) = build_c(&src, &loop_bin, &[]) {
        eprintln!("bench: cannot build getpid_loop: {e}");
        return;
    }
    let sandbox = sandbox_bin_if_present();
    let runsc_root = scratch.path().join("runsc-root");
    let runsc = Path::new(RUNSC)
        .is_file()
        .then(|| runsc_prefix(&runsc_root));

    println!(
        "sandbox: {}",
        sandbox
            .as_deref()
            .map_or("not built (cargo build --release)".into(), |p| p
                .display()
                .to_string())
    );
    println!(
        "peers:   runsc {}, strace {}\n",
        if runsc.is_some() {
            "yes"
        } else {
            "not installed"
        },
        if Path::new(STRACE).is_file() {
            "yes"
        } else {
            "not installed"
        }
    );

    if args.iter().any(|a| a == "--oci") {
        oci::section(cfg.startup_runs, scratch.path(), sandbox.as_deref());
        return;
    }
    getpid_section(&cfg, &loop_bin, sandbox.as_deref(), runsc.as_deref());
    println!();
    startup_section(&cfg, sandbox.as_deref(), runsc.as_deref());

    let peers = Peers {
        sandbox: sandbox.as_deref(),
        runsc: runsc.as_deref(),
    };
    let helper = |name: &str, extra: &[&str]| -> Result<String, String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("bench/{name}.c"));
        let out = scratch.path().join(name);
        let mut flags = vec!["-O2"];
        flags.extend_from_slice(extra);
        build_c(&src, &out, &flags)
            .map_err(|e| format!("cannot build {name}: {e}"))
            .map(|()| out.display().to_string())
    };
    println!();
    process_section(
        &cfg,
        &peers,
        scratch.path(),
        &helper("forkexec_loop", &[]),
        &helper("pipe_throughput", &[]),
        &helper("futex_pingpong", &["-pthread"]),
    );
    println!();
    file_section(&cfg, &peers, scratch.path(), &helper("file_ops", &[]));
    println!();
    oci::section(cfg.startup_runs, scratch.path(), sandbox.as_deref());
}

/// `runsc` with the flags that work on this machine (as root): its own
/// state directory, no network, the ptrace platform; `do` runs a command
/// with the host's root filesystem.
fn runsc_prefix(root: &Path) -> Vec<String> {
    let _ = std::fs::create_dir_all(root);
    vec![
        RUNSC.into(),
        format!("--root={}", root.display()),
        "--network=none".into(),
        "--platform=ptrace".into(),
        "do".into(),
    ]
}

// ---------------------------------------------------------------- getpid

type Figure = Result<f64, String>;

fn getpid_section(cfg: &Config, loop_bin: &Path, sandbox: Option<&Path>, runsc: Option<&[String]>) {
    let bin = loop_bin.to_str().expect("utf-8 temp path").to_string();
    let n_native = cfg.native_iters.to_string();
    let n_traced = cfg.traced_iters.to_string();

    // The bare tracer runs in this process: do it before anything else has
    // started threads.
    let tracer = best_of(cfg.repeats, || bare_tracer(cfg.traced_iters));
    let native = best_of(cfg.repeats, || run_loop(&[bin.as_str(), &n_native]));
    let under = |platform: &str| match sandbox {
        Some(s) => {
            let s = s.to_str().unwrap_or_default();
            best_of(cfg.repeats, || {
                run_loop(&[s, "run", "--platform", platform, "--", &bin, &n_traced])
            })
        }
        None => Err("not built".into()),
    };
    let systrap = under("systrap");
    let sandboxed = under("ptrace");
    let runsc_fig = match runsc {
        Some(prefix) => {
            let mut argv: Vec<&str> = prefix.iter().map(String::as_str).collect();
            argv.extend([bin.as_str(), &n_traced]);
            best_of(cfg.repeats, || run_loop(&argv))
        }
        None => Err("not installed".into()),
    };
    let strace = if Path::new(STRACE).is_file() {
        best_of(cfg.repeats, || {
            run_loop(&[STRACE, "-f", "-o", "/dev/null", &bin, &n_traced])
        })
    } else {
        Err("not installed".into())
    };

    println!(
        "getpid round trip (ns/op, best of {}; {} calls natively, {} traced)",
        cfg.repeats, cfg.native_iters, cfg.traced_iters
    );
    println!(
        "  {:<40} {:>10} {:>10} {:>10} {:>10}",
        "", "ns/op", "× native", "× tracer", "× runsc"
    );
    let rows: [(&str, &Figure); 6] = [
        ("native", &native),
        ("bare PTRACE_SYSEMU tracer (floor)", &tracer),
        ("sandbox run (systrap, the default)", &systrap),
        ("sandbox run --platform ptrace", &sandboxed),
        ("runsc --platform=ptrace do", &runsc_fig),
        ("strace -f", &strace),
    ];
    for (name, fig) in rows {
        match fig {
            Ok(v) => println!(
                "  {:<40} {:>10.0} {:>10} {:>10} {:>10}",
                name,
                v,
                ratio(*v, &native),
                ratio(*v, &tracer),
                ratio(*v, &runsc_fig)
            ),
            Err(e) => println!("  {:<40} {:>10}   {}", name, "n/a", one_line(e)),
        }
    }
    target(
        "sandbox getpid ≤ 0.5 × runsc",
        &systrap,
        &runsc_fig,
        TARGET_VS_RUNSC,
    );
    target(
        "sandbox getpid (ptrace) ≤ 1.25 × bare tracer",
        &sandboxed,
        &tracer,
        TARGET_VS_TRACER,
    );
}

/// An error message fit for one table row: ANSI colours removed, lines
/// joined, cut to 200 bytes.
fn one_line(e: &str) -> String {
    let mut plain = String::new();
    let mut chars = e.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Skip a CSI sequence: ESC [ params letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let joined = plain
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    truncate(&joined, 200)
}

/// "12.3" (v / base), or "" when either figure is missing.
fn ratio(v: f64, base: &Figure) -> String {
    match base {
        Ok(b) if *b > 0.0 => format!("{:.2}", v / b),
        _ => String::new(),
    }
}

/// Prints `name: PASS|MISS` for value ≤ factor × base.
fn target(name: &str, value: &Figure, base: &Figure, factor: f64) {
    let verdict = match (value, base) {
        (Ok(v), Ok(b)) => {
            let r = v / b;
            format!("{:.2}× → {}", r, if r <= factor { "PASS" } else { "MISS" })
        }
        (Err(_), _) => "MISS (no sandbox figure)".into(),
        (_, Err(_)) => "n/a (no peer figure)".into(),
    };
    println!("  target: {name:<44} {verdict}");
}

/// The smallest of `n` measurements (the least disturbed by the rest of
/// the machine); the first error if none succeeded.
fn best_of(n: usize, mut f: impl FnMut() -> Figure) -> Figure {
    let mut best: Option<f64> = None;
    let mut error = None;
    for _ in 0..n.max(1) {
        match f() {
            Ok(v) => best = Some(best.map_or(v, |b: f64| b.min(v))),
            Err(e) => error = error.or(Some(e)),
        }
    }
    best.ok_or_else(|| error.unwrap_or_default())
}

/// Runs a command whose stdout is getpid_loop's one number.
fn run_loop(argv: &[&str]) -> Figure {
    run_number(argv, PEER_TIMEOUT)
}

/// Runs a command whose stdout is one number (the C helpers' output).
fn run_number<S: AsRef<str>>(argv: &[S], timeout: Duration) -> Figure {
    let argv: Vec<&str> = argv.iter().map(AsRef::as_ref).collect();
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    let out = run_with_timeout(&mut cmd, timeout).map_err(|e| format!("{}: {e}", argv[0]))?;
    let text = out.stdout_str();
    match (out.code(), text.trim().parse::<f64>()) {
        (Some(0), Ok(v)) => Ok(v),
        _ => Err(format!(
            "{}; stderr: {}",
            out.status_text(),
            out.stderr_str().trim()
        )),
    }
}

/// The floor of a ptrace platform: a child makes `n` getpid calls, each
/// stopped by `PTRACE_SYSEMU` (so the host kernel skips it) and answered by
/// this process with `PTRACE_GETREGS`/`PTRACE_SETREGS`. Returns ns per call,
/// timed here from the first resume to the child's exit_group.
fn bare_tracer(n: u64) -> Figure {
    // SAFETY: the child runs only raw system calls (async-signal-safe, no
    // allocation or locks), so fork is sound even if threads exist.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if child == 0 {
        // SAFETY: plain system calls in the forked child; it never returns.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::syscall(
                libc::SYS_kill,
                libc::syscall(libc::SYS_getpid),
                libc::SIGSTOP,
            );
            for _ in 0..n {
                libc::syscall(libc::SYS_getpid);
            }
            libc::syscall(libc::SYS_exit_group, 0);
            libc::_exit(0);
        }
    }

    let wait = |what: &str| -> Result<i32, String> {
        let mut status = 0;
        // SAFETY: waitpid writes one int we own.
        if unsafe { libc::waitpid(child, &mut status, libc::__WALL) } < 0 {
            return Err(format!(
                "waitpid ({what}): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(status)
    };
    let kill = || {
        // SAFETY: kill/waitpid on our own child.
        unsafe {
            libc::kill(child, libc::SIGKILL);
            libc::waitpid(child, std::ptr::null_mut(), libc::__WALL);
        }
    };

    let status = wait("initial stop")?;
    if !libc::WIFSTOPPED(status) {
        return Err(format!("tracee did not stop (status {status:#x})"));
    }
    // SAFETY: ptrace on our stopped tracee; options are plain flags.
    unsafe {
        libc::ptrace(
            libc::PTRACE_SETOPTIONS,
            child,
            0,
            libc::PTRACE_O_EXITKILL | libc::PTRACE_O_TRACESYSGOOD,
        );
    }

    let start = Instant::now();
    let mut calls = 0u64;
    let result = loop {
        // SAFETY: resume our tracee until its next syscall entry.
        if unsafe { libc::ptrace(libc::PTRACE_SYSEMU, child, 0, 0) } < 0 {
            break Err(format!(
                "PTRACE_SYSEMU: {}",
                std::io::Error::last_os_error()
            ));
        }
        let status = wait("syscall stop")?;
        if !libc::WIFSTOPPED(status) {
            break Err(format!("tracee ended early (status {status:#x})"));
        }
        if libc::WSTOPSIG(status) != (libc::SIGTRAP | 0x80) {
            continue; // some other stop: not expected, ignore it
        }
        // SAFETY: user_regs_struct is plain data; GETREGS fills it.
        let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        // SAFETY: GETREGS writes one user_regs_struct we own.
        unsafe { libc::ptrace(libc::PTRACE_GETREGS, child, 0, &mut regs) };
        match i64::try_from(regs.orig_rax).unwrap_or(-1) {
            libc::SYS_getpid => {
                calls += 1;
                regs.rax = 4242; // the emulated pid
            }
            libc::SYS_exit_group | libc::SYS_exit => break Ok(start.elapsed()),
            // Anything else (none expected) fails with ENOSYS.
            _ => regs.rax = u64::try_from(libc::ENOSYS).unwrap_or(38).wrapping_neg(),
        }
        // SAFETY: SETREGS reads the struct we filled.
        unsafe { libc::ptrace(libc::PTRACE_SETREGS, child, 0, &regs) };
    };
    kill();
    let elapsed = result?;
    if calls != n {
        return Err(format!("saw {calls} getpid calls, expected {n}"));
    }
    #[allow(clippy::cast_precision_loss)] // exact enough for a timing
    Ok(elapsed.as_nanos() as f64 / n as f64)
}

// ---------------------------------------------------------------- start-up

struct Startup {
    mean_ms: f64,
    min_ms: f64,
    wait4_kib: i64,
    tree_kib: i64,
    failures: usize,
    /// Processes of the tree that outlived their parent and were reaped by
    /// the helper (a sandbox should leave none).
    orphans: usize,
}

fn startup_section(cfg: &Config, sandbox: Option<&Path>, runsc: Option<&[String]>) {
    let mut peers: Vec<(&str, Result<Startup, String>)> =
        vec![("native", measure_startup(cfg, &["/bin/true".into()]))];
    let sandboxed = match sandbox {
        Some(s) => measure_startup(
            cfg,
            &[
                s.display().to_string(),
                "run".into(),
                "--".into(),
                "/bin/true".into(),
            ],
        ),
        None => Err("not built".into()),
    };
    peers.push(("sandbox run", sandboxed));
    peers.push((
        "runsc --platform=ptrace do",
        match runsc {
            Some(prefix) => {
                let mut argv = prefix.to_vec();
                argv.push("/bin/true".into());
                measure_startup(cfg, &argv)
            }
            None => Err("not installed".into()),
        },
    ));

    println!(
        "start-up of /bin/true ({} runs; peak RSS: see the header of bench.rs)",
        cfg.startup_runs
    );
    println!(
        "  {:<40} {:>10} {:>10} {:>12} {:>12}",
        "", "mean ms", "min ms", "RSS wait4", "RSS tree"
    );
    for (name, r) in &peers {
        match r {
            Ok(s) => {
                let mut notes = String::new();
                if s.failures > 0 {
                    notes += &format!("  {} runs failed", s.failures);
                }
                if s.orphans > 0 {
                    notes += &format!("  {} orphaned processes", s.orphans);
                }
                println!(
                    "  {:<40} {:>10.1} {:>10.1} {:>8.1} MiB {:>8.1} MiB{notes}",
                    name,
                    s.mean_ms,
                    s.min_ms,
                    mib(s.wait4_kib),
                    mib(s.tree_kib)
                );
            }
            Err(e) => println!("  {:<40} {:>10}   {}", name, "n/a", one_line(e)),
        }
    }
    let sb = &peers[1].1;
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    match sb {
        Ok(s) if s.failures == 0 => {
            println!(
                "  target: {:<44} {:.1} ms → {}",
                "sandbox start-up ≤ 50 ms (mean)",
                s.mean_ms,
                verdict(s.mean_ms <= TARGET_STARTUP_MS)
            );
            let peak = mib(s.tree_kib.max(s.wait4_kib));
            println!(
                "  target: {:<44} {:.1} MiB → {}",
                "sandbox peak RSS ≤ 15 MiB",
                peak,
                verdict(peak <= TARGET_RSS_MIB)
            );
        }
        _ => {
            println!(
                "  target: {:<44} MISS (no sandbox figure)",
                "sandbox start-up ≤ 50 ms (mean)"
            );
            println!(
                "  target: {:<44} MISS (no sandbox figure)",
                "sandbox peak RSS ≤ 15 MiB"
            );
        }
    }
}

#[allow(clippy::cast_precision_loss)] // KiB counts are far below 2^52
fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

/// Runs `bench __startup RUNS -- ARGV...` (a fresh process, so its
/// RUSAGE_CHILDREN holds only this peer) and parses its one line.
fn measure_startup(cfg: &Config, argv: &[String]) -> Result<Startup, String> {
    measure_runs(cfg.startup_runs, argv, false)
}

/// [`measure_startup`] with `runs` runs; with `clean_env`, the helper and
/// so the command get only `PATH` and `HOME`, as inside the sandbox.
fn measure_runs(runs: usize, argv: &[String], clean_env: bool) -> Result<Startup, String> {
    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(me);
    if clean_env {
        clean_environment(&mut cmd);
    }
    cmd.arg("__startup")
        .arg(runs.to_string())
        .arg("--")
        .args(argv);
    let out = run_with_timeout(&mut cmd, PEER_TIMEOUT).map_err(|e| e.to_string())?;
    let text = out.stdout_str();
    let f: Vec<&str> = text.split_whitespace().collect();
    let parsed = (|| {
        Some(Startup {
            mean_ms: f.first()?.parse().ok()?,
            min_ms: f.get(1)?.parse().ok()?,
            wait4_kib: f.get(2)?.parse().ok()?,
            tree_kib: f.get(3)?.parse().ok()?,
            failures: f.get(4)?.parse().ok()?,
            orphans: f.get(5)?.parse().ok()?,
        })
    })();
    match parsed {
        Some(s) if out.code() == Some(0) && s.failures < runs => Ok(s),
        Some(_) => Err(format!("every run failed: {}", out.stderr_str().trim())),
        None => Err(format!(
            "{}: {}",
            out.status_text(),
            out.stderr_str().trim()
        )),
    }
}

/// `bench __startup RUNS -- ARGV...`: runs ARGV RUNS times with output to
/// /dev/null and prints "mean_ms min_ms wait4_maxrss_kib tree_maxrss_kib
/// failed_runs orphans". Until a run fails, the runs' stderr is ours, so
/// the first failure says why.
fn startup_helper(args: &[String]) {
    let runs: usize = args.first().and_then(|r| r.parse().ok()).unwrap_or(20);
    let argv: Vec<&String> = args.iter().skip_while(|a| *a != "--").skip(1).collect();
    if argv.is_empty() {
        eprintln!("usage: bench __startup RUNS -- PROGRAM ARGS...");
        std::process::exit(2);
    }
    // Orphans of the command become our children, so we reap them and their
    // peak RSS lands in RUSAGE_CHILDREN.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };

    let mut times = Vec::new();
    let mut wait4_kib = 0i64;
    let mut failures = 0;
    let mut orphans = 0;
    let me = i32::try_from(std::process::id()).expect("pid fits i32");
    for _ in 0..runs {
        let start = Instant::now();
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(if failures == 0 {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn();
        let Ok(child) = child else {
            eprintln!("cannot run {}", argv[0]);
            std::process::exit(1);
        };
        let pid = i32::try_from(child.id()).expect("pid fits i32");
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on our own child, writing into locals.
        unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        times.push(start.elapsed());
        wait4_kib = wait4_kib.max(usage.ru_maxrss);
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            failures += 1;
        }
        // Reap orphans that already exited.
        // SAFETY: waitpid with a null status pointer.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {
            orphans += 1;
        }
        drop(child); // already reaped by wait4; dropping a Child does not wait
    }

    // Orphans still running: give them 5 s to finish, then kill them.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // SAFETY: waitpid with a null status pointer.
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if r > 0 {
            orphans += 1;
            continue;
        }
        if r < 0 {
            break; // ECHILD: none left
        }
        if Instant::now() >= deadline {
            for pid in sandbox_tests::children_of(me) {
                // SAFETY: kill(2) on our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    // SAFETY: rusage is plain data that getrusage fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into a local.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    let min = ms.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "{mean:.3} {min:.3} {wait4_kib} {} {failures} {orphans}",
        usage.ru_maxrss
    );
}

// ---------------------------------------------------------------- peers

/// Gives `cmd` the sandbox's environment: `PATH` and `HOME` only.
fn clean_environment(cmd: &mut Command) {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/".into());
    cmd.env_clear().env("PATH", STD_PATH).env("HOME", home);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    Native,
    Sandbox,
    Runsc,
}

const PEERS: [Peer; 3] = [Peer::Native, Peer::Sandbox, Peer::Runsc];

/// Where the sandbox and runsc are, when they are.
struct Peers<'a> {
    sandbox: Option<&'a Path>,
    runsc: Option<&'a [String]>,
}

impl Peers<'_> {
    /// The command line that runs `cmd` as `peer`; `volumes` are `-v`
    /// arguments for the sandbox (runsc's `do` has no such flag).
    fn argv(&self, peer: Peer, volumes: &[String], cmd: &[&str]) -> Result<Vec<String>, String> {
        let cmd = cmd.iter().map(|a| (*a).to_string());
        match peer {
            Peer::Native => Ok(cmd.collect()),
            Peer::Sandbox => {
                let s = self.sandbox.ok_or(NOT_BUILT)?;
                let mut argv = vec![s.display().to_string(), "run".into()];
                for v in volumes {
                    argv.extend(["-v".into(), v.clone()]);
                }
                argv.push("--".into());
                argv.extend(cmd);
                Ok(argv)
            }
            Peer::Runsc => {
                let mut argv = self.runsc.ok_or(NOT_INSTALLED)?.to_vec();
                argv.extend(cmd);
                Ok(argv)
            }
        }
    }
}

// The errors of an absent peer: the header already says so, rows print "-".
const NOT_BUILT: &str = "not built";
const NOT_INSTALLED: &str = "not installed";

// ---------------------------------------------------------------- tables

/// One workload: its figure natively, under the sandbox and under runsc.
struct Row {
    name: String,
    unit: &'static str,
    /// MB/s rather than a time: ratios are inverted to stay time ratios.
    higher_is_better: bool,
    figs: [Figure; 3],
    notes: Vec<String>,
}

impl Row {
    fn new(name: impl Into<String>, unit: &'static str, higher_is_better: bool) -> Row {
        Row {
            name: name.into(),
            unit,
            higher_is_better,
            figs: [Err(String::new()), Err(String::new()), Err(String::new())],
            notes: Vec::new(),
        }
    }

    fn fig(&self, peer: Peer) -> &Figure {
        &self.figs[peer as usize]
    }

    fn set(&mut self, peer: Peer, fig: Figure) {
        self.figs[peer as usize] = fig;
    }

    /// How many times longer `a` takes than `b` (a time ratio).
    fn slower(&self, a: Peer, b: Peer) -> Option<f64> {
        match (self.fig(a), self.fig(b)) {
            (Ok(x), Ok(y)) if *x > 0.0 && *y > 0.0 => {
                Some(if self.higher_is_better { y / x } else { x / y })
            }
            _ => None,
        }
    }
}

/// "1234", "123.4", "12.34", "1.234".
fn num(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 100.0 {
        format!("{v:.1}")
    } else if v >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn cell(f: &Figure) -> String {
    match f {
        Ok(v) => num(*v),
        Err(e) if e == NOT_BUILT || e == NOT_INSTALLED => "-".into(),
        Err(_) => "n/a".into(),
    }
}

fn opt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}")).unwrap_or_default()
}

fn peer_name(peer: Peer) -> &'static str {
    match peer {
        Peer::Native => "native",
        Peer::Sandbox => "sandbox",
        Peer::Runsc => "runsc",
    }
}

/// A target on row `row`: the sandbox at most `factor` × native (in time).
struct Target {
    name: &'static str,
    row: usize,
    factor: f64,
}

fn print_table(title: &str, rows: &[Row], targets: &[Target]) {
    println!("{title}");
    println!(
        "  {:<58} {:>7} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8}",
        "", "unit", "native", "sandbox", "×native", "runsc", "×native", "sb÷runsc"
    );
    for r in rows {
        println!(
            "  {:<58} {:>7} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8}",
            r.name,
            r.unit,
            cell(r.fig(Peer::Native)),
            cell(r.fig(Peer::Sandbox)),
            opt_ratio(r.slower(Peer::Sandbox, Peer::Native)),
            cell(r.fig(Peer::Runsc)),
            opt_ratio(r.slower(Peer::Runsc, Peer::Native)),
            opt_ratio(r.slower(Peer::Sandbox, Peer::Runsc)),
        );
    }
    for t in targets {
        let r = &rows[t.row];
        let verdict = match (r.fig(Peer::Sandbox), r.slower(Peer::Sandbox, Peer::Native)) {
            (_, Some(x)) => format!("{x:.2}× → {}", if x <= t.factor { "PASS" } else { "MISS" }),
            (Err(_), _) => "MISS (no sandbox figure)".into(),
            (Ok(_), None) => "n/a (no native figure)".into(),
        };
        println!("  target: {:<58} {verdict}", t.name);
    }
    // Why a figure is missing, then what else the reader should know.
    for r in rows {
        for peer in PEERS {
            if let Err(e) = r.fig(peer) {
                if !(e.is_empty() || e == NOT_BUILT || e == NOT_INSTALLED) {
                    println!("  n/a: {} ({}): {}", r.name, peer_name(peer), one_line(e));
                }
            }
        }
    }
    for r in rows {
        for n in &r.notes {
            println!("  note: {n}");
        }
    }
}

// ---------------------------------------------------------------- processes

/// Runs `bin ARGS...` as each peer and fills `row` with its one number.
fn helper_row(
    mut row: Row,
    peers: &Peers,
    bin: &Result<String, String>,
    args: impl Fn(Peer) -> Vec<String>,
) -> Row {
    for peer in PEERS {
        let fig = bin.clone().and_then(|bin| {
            let args = args(peer);
            let mut cmd = vec![bin.as_str()];
            cmd.extend(args.iter().map(String::as_str));
            let argv = peers.argv(peer, &[], &cmd)?;
            run_number(&argv, ROW_TIMEOUT)
        });
        row.set(peer, fig);
    }
    row
}

fn process_section(
    cfg: &Config,
    peers: &Peers,
    scratch: &Path,
    forkexec: &Result<String, String>,
    pipe: &Result<String, String>,
    futex: &Result<String, String>,
) {
    let mut rows = Vec::new();

    // fork+exec+wait of /bin/true.
    let mut row = helper_row(
        Row::new(
            format!(
                "fork+exec+wait /bin/true (×{}; runsc ×{})",
                cfg.forkexec_iters, cfg.forkexec_iters_runsc
            ),
            "µs/iter",
            false,
        ),
        peers,
        forkexec,
        |peer| {
            let n = if peer == Peer::Runsc {
                cfg.forkexec_iters_runsc
            } else {
                cfg.forkexec_iters
            };
            vec![n.to_string(), "/bin/true".into()]
        },
    );
    if cfg.forkexec_iters_runsc != cfg.forkexec_iters && peers.runsc.is_some() {
        row.notes.push(format!(
            "fork+exec+wait: runsc makes {} iterations instead of {}, to keep its run to a few \
             seconds; the figure is per iteration, so the ratios hold",
            cfg.forkexec_iters_runsc, cfg.forkexec_iters
        ));
    }
    rows.push(row);

    // Pipe throughput.
    rows.push(helper_row(
        Row::new(
            format!("pipe: {} MiB in 64 KiB writes to a child", cfg.pipe_mib),
            "MB/s",
            true,
        ),
        peers,
        pipe,
        |_| vec![cfg.pipe_mib.to_string()],
    ));

    // Futex ping-pong.
    rows.push(helper_row(
        Row::new(
            format!(
                "futex ping-pong, 2 threads (×{} round trips)",
                cfg.futex_rounds
            ),
            "µs/rt",
            false,
        ),
        peers,
        futex,
        |_| vec![cfg.futex_rounds.to_string()],
    ));

    // python3 -c pass, the whole command's wall time.
    let mut row = Row::new(
        format!("python3 -c pass (wall, mean of {})", cfg.python_runs),
        "ms",
        false,
    );
    for peer in PEERS {
        let fig = peers
            .argv(peer, &[], &[PYTHON, "-c", "pass"])
            .and_then(|argv| measure_runs(cfg.python_runs, &argv, true))
            .and_then(|s| {
                if s.failures > 0 {
                    Err(format!("{} of {} runs failed", s.failures, cfg.python_runs))
                } else {
                    Ok(s.mean_ms)
                }
            });
        row.set(peer, fig);
    }
    rows.push(row);

    // make -j1 of a small C project.
    let mut row = Row::new(
        format!(
            "make -j1, gcc -O2: 4 .c files + link (mean of {})",
            cfg.make_runs
        ),
        "ms",
        false,
    );
    let native_dir = scratch.join("make-project");
    for peer in PEERS {
        let dir = match peer {
            Peer::Native => native_dir.display().to_string(),
            // Inside: the sandbox's private tmpfs; runsc's overlay over the
            // host's /tmp (its writes stay in runsc's memory).
            _ => format!("/tmp/sandbox-bench-make-{}", std::process::id()),
        };
        let runs = cfg.make_runs.to_string();
        let fig = peers
            .argv(
                peer,
                &[],
                &["/bin/sh", "-c", MAKE_SCRIPT, "sh", &dir, &runs],
            )
            .and_then(|argv| run_make(&argv));
        row.set(peer, fig);
    }
    row.notes.push(
        "make: a shell script inside each peer (sandbox, runsc: in their own /tmp) writes the \
         project (4 .c files, a header, a Makefile) and times `make -j1` from clean with \
         `date +%s%N`"
            .into(),
    );
    rows.push(row);

    print_table(
        "processes, threads and IPC (issue 4); ×native = time ÷ native time (for MB/s: native ÷ \
         peer); sb÷runsc = sandbox time ÷ runsc time",
        &rows,
        &[
            Target {
                name: "sandbox python3 -c pass ≤ 3 × native",
                row: 3,
                factor: TARGET_PYTHON_VS_NATIVE,
            },
            Target {
                name: "sandbox make+gcc build ≤ 1.5 × native",
                row: 4,
                factor: TARGET_MAKE_VS_NATIVE,
            },
        ],
    );
}

/// `sh -c MAKE_SCRIPT sh DIR RUNS`: writes a four-file C project into DIR
/// (removed first), then RUNS times runs `make clean` and times `make -j1`,
/// printing "ns N" per run; finally runs the program, which prints
/// [`MAKE_EXPECTED`], and removes DIR.
const MAKE_SCRIPT: &str = r##"set -e
dir="$1"; runs="$2"
rm -rf "$dir"; mkdir -p "$dir"; cd "$dir"
cat > util.h <<'END'
unsigned long fib(unsigned n);
unsigned long sum_to(unsigned n);
int is_prime(unsigned long n);
END
cat > fib.c <<'END'
#include "util.h"
unsigned long fib(unsigned n)
{
	unsigned long a = 0, b = 1;
	while (n--) {
		unsigned long t = a + b;
		a = b;
		b = t;
	}
	return a;
}
END
cat > sum.c <<'END'
#include "util.h"
unsigned long sum_to(unsigned n)
{
	unsigned long s = 0;
	for (unsigned i = 1; i <= n; i++)
		s += i;
	return s;
}
END
cat > prime.c <<'END'
#include "util.h"
int is_prime(unsigned long n)
{
	if (n < 2)
		return 0;
	for (unsigned long d = 2; d * d <= n; d++)
		if (n % d == 0)
			return 0;
	return 1;
}
END
cat > main.c <<'END'
#include <stdio.h>
#include "util.h"
int main(void)
{
	printf("%lu %lu %d\n", fib(40), sum_to(100), is_prime(fib(40)));
	return 0;
}
END
printf 'CC = gcc\nCFLAGS = -O2 -Wall\nOBJS = main.o fib.o sum.o prime.o\napp: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n%%.o: %%.c util.h\n\t$(CC) $(CFLAGS) -c $<\nclean:\n\trm -f app $(OBJS)\n' > Makefile
i=0
while [ "$i" -lt "$runs" ]; do
	make clean >/dev/null
	t0=$(date +%s%N)
	make -j1 >/dev/null
	t1=$(date +%s%N)
	echo "ns $((t1 - t0))"
	i=$((i + 1))
done
./app
cd /
rm -rf "$dir"
"##;

/// What the built program prints.
const MAKE_EXPECTED: &str = "102334155 5050 0";

/// Runs the make script (with the sandbox's environment); the mean of its
/// "ns N" lines, in ms.
fn run_make(argv: &[String]) -> Figure {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    clean_environment(&mut cmd);
    let out = run_with_timeout(&mut cmd, ROW_TIMEOUT).map_err(|e| format!("{}: {e}", argv[0]))?;
    let text = out.stdout_str();
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ns "))
        .filter_map(|n| n.trim().parse::<f64>().ok())
        .collect();
    let built = text.lines().any(|l| l.trim() == MAKE_EXPECTED);
    if out.code() != Some(0) || times.is_empty() || !built {
        return Err(format!(
            "{}; stdout: {}; stderr: {}",
            out.status_text(),
            text.trim(),
            out.stderr_str().trim()
        ));
    }
    #[allow(clippy::cast_precision_loss)] // a handful of runs
    Ok(times.iter().sum::<f64>() / times.len() as f64 / 1e6)
}

// ---------------------------------------------------------------- files

/// A `file_ops` row: natively and under runsc on `host_path`; in the
/// sandbox on `guest_path`, with the data directory bind-mounted when
/// `bind`.
struct FileOp<'a> {
    name: String,
    unit: &'static str,
    higher_is_better: bool,
    args: [&'a str; 2],
    host_path: &'a str,
    guest_path: &'a str,
    bind: bool,
}

fn file_section(cfg: &Config, peers: &Peers, scratch: &Path, file_ops: &Result<String, String>) {
    // The bind-mounted directory: a small file and the big one.
    let data = scratch.join("data");
    let prepared = prepare_data(&data, cfg.big_file_bytes);
    let volume = vec![format!("{}:/data:ro", data.display())];
    let host_small = data.join("small").display().to_string();
    let host_big = data.join("big").display().to_string();
    let n = cfg.file_ops.to_string();
    let passes = cfg.read_passes.to_string();

    let ops = [
        FileOp {
            name: format!("stat /etc/hostname (×{n})"),
            unit: "µs/op",
            higher_is_better: false,
            args: ["stat", &n],
            host_path: "/etc/hostname",
            guest_path: "/etc/hostname",
            bind: false,
        },
        FileOp {
            name: format!("open+read+close /etc/hostname (×{n})"),
            unit: "µs/op",
            higher_is_better: false,
            args: ["open", &n],
            host_path: "/etc/hostname",
            guest_path: "/etc/hostname",
            bind: false,
        },
        FileOp {
            name: format!("stat of a small file on a bind mount (×{n})"),
            unit: "µs/op",
            higher_is_better: false,
            args: ["stat", &n],
            host_path: &host_small,
            guest_path: "/data/small",
            bind: true,
        },
        FileOp {
            name: format!("open+read+close of it (×{n})"),
            unit: "µs/op",
            higher_is_better: false,
            args: ["open", &n],
            host_path: &host_small,
            guest_path: "/data/small",
            bind: true,
        },
        FileOp {
            name: format!(
                "sequential read, {} MB, 128 KiB reads (bind mount)",
                cfg.big_file_bytes / 1_000_000
            ),
            unit: "MB/s",
            higher_is_better: true,
            args: ["read", &passes],
            host_path: &host_big,
            guest_path: "/data/big",
            bind: true,
        },
    ];
    let mut rows = Vec::new();
    for op in ops {
        let mut row = Row::new(op.name, op.unit, op.higher_is_better);
        for peer in PEERS {
            let fig = file_ops.clone().and_then(|bin| {
                if op.bind {
                    prepared.clone()?;
                }
                let (vols, path) = if peer == Peer::Sandbox && op.bind {
                    (volume.as_slice(), op.guest_path)
                } else {
                    (&[][..], op.host_path)
                };
                let argv = peers.argv(peer, vols, &[&bin, op.args[0], op.args[1], path])?;
                run_number(&argv, ROW_TIMEOUT)
            });
            row.set(peer, fig);
        }
        rows.push(row);
    }
    rows[4].notes.push(format!(
        "bind mount: the sandbox gets `-v {}:/data:ro`; natively and under runsc (`runsc do` has \
         no volume flag) the same files are used at their host path, under runsc through its \
         root file system",
        data.display()
    ));
    rows[4].notes.push(format!(
        "sequential read: one warm-up pass, then the mean of {} passes; the file was just \
         written, so it is in the host's page cache",
        cfg.read_passes
    ));

    rows.push(find_row(cfg, peers));

    print_table(
        "files (issue 3); ×native = time ÷ native time (for MB/s: native ÷ peer); sb÷runsc = \
         sandbox time ÷ runsc time",
        &rows,
        &[
            Target {
                name: "sandbox small-file stat ≤ 20 × native (root)",
                row: 0,
                factor: TARGET_STAT_VS_NATIVE,
            },
            Target {
                name: "sandbox small-file stat ≤ 20 × native (bind mount)",
                row: 2,
                factor: TARGET_STAT_VS_NATIVE,
            },
            Target {
                name: "sandbox sequential read ≤ 1.5 × native",
                row: 4,
                factor: TARGET_SEQ_READ_VS_NATIVE,
            },
        ],
    );
}

/// Writes `dir/small` (a few bytes, like /etc/hostname) and `dir/big`
/// (`size` bytes of a pseudo-random pattern, so no layer can treat it as
/// sparse or zero).
fn prepare_data(dir: &Path, size: usize) -> Result<(), String> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    std::fs::write(dir.join("small"), "sandbox-bench\n")
        .map_err(|e| format!("write small file: {e}"))?;
    let path = dir.join("big");
    let mut f =
        std::fs::File::create(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
    let mut chunk = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in &mut chunk {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *b = x.to_be_bytes()[0];
    }
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n])
            .map_err(|e| format!("write {}: {e}", path.display()))?;
        chunk.rotate_left(1); // no two chunks alike
        left -= n;
    }
    Ok(())
}

/// `find /usr -xdev | wc -l`: wall time (natively the mean of several
/// runs), with the count checked against the native one.
fn find_row(cfg: &Config, peers: &Peers) -> Row {
    let mut row = Row::new(
        format!(
            "find /usr -xdev | wc -l (wall; native mean of {}, others 1)",
            cfg.find_native_runs
        ),
        "ms",
        false,
    );
    // A first, untimed walk natively, so no peer pays for a cold dentry
    // cache.
    let _ = find_once(&[
        "/bin/sh".into(),
        "-c".into(),
        "find /usr -xdev | wc -l".into(),
    ]);
    let mut native_count = None;
    for peer in PEERS {
        let runs = if peer == Peer::Native {
            cfg.find_native_runs.max(1)
        } else {
            1
        };
        let mut times = Vec::new();
        let mut failed = None;
        for _ in 0..runs {
            let run = peers
                .argv(peer, &[], &["/bin/sh", "-c", "find /usr -xdev | wc -l"])
                .and_then(|argv| find_once(&argv));
            let (ms, count, stderr) = match run {
                Ok(r) => r,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            times.push(ms);
            let who = peer_name(peer);
            if peer == Peer::Native {
                native_count = Some(count);
            } else if let Some(want) = native_count.filter(|&c| c != count) {
                row.notes.push(format!(
                    "find: {who} counted {count} entries, native {want}, so its time is for \
                     different work"
                ));
            }
            if !stderr.is_empty() {
                row.notes
                    .push(format!("find: {who}'s stderr: {}", one_line(&stderr)));
            }
        }
        #[allow(clippy::cast_precision_loss)] // a handful of runs
        let fig = match failed {
            Some(e) => Err(e),
            None => Ok(times.iter().sum::<f64>() / times.len().max(1) as f64),
        };
        row.set(peer, fig);
    }
    row
}

/// One run of the find pipeline: (wall ms, count, its first stderr lines).
fn find_once(argv: &[String]) -> Result<(f64, u64, String), String> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    let out = run_with_timeout(&mut cmd, ROW_TIMEOUT).map_err(|e| format!("{}: {e}", argv[0]))?;
    let count = out.stdout_str().trim().parse::<u64>();
    match (out.code(), count) {
        (Some(0), Ok(c)) => {
            let stderr = out.stderr_str();
            let lines = stderr.lines().count();
            let mut text = stderr.lines().take(2).collect::<Vec<_>>().join("\n");
            if lines > 2 {
                text += &format!("\n(+{} more lines)", lines - 2);
            }
            Ok((out.elapsed.as_secs_f64() * 1000.0, c, text))
        }
        _ => Err(format!(
            "{}; stdout: {}; stderr: {}",
            out.status_text(),
            out.stdout_str().trim(),
            out.stderr_str().trim()
        )),
    }
}
