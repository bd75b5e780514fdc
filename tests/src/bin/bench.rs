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
//!    under `sandbox run --platform ptrace`; under gVisor's
//!    `runsc --platform=ptrace do` (Debian package `runsc`) and
//!    `strace -f` when installed.
//! 2. **start-up** of `/bin/true`: wall time (mean and min over the runs) and
//!    peak RSS, natively, under `sandbox run` and under `runsc do`.
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

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_tests::{build_c, run_with_timeout, sandbox_bin_if_present, truncate, TempDir};

const RUNSC: &str = "/usr/bin/runsc";
const STRACE: &str = "/usr/bin/strace";
/// A peer run longer than this is killed and reported as n/a.
const PEER_TIMEOUT: Duration = Duration::from_secs(300);

// Targets (see the project's plan): the sandbox against its peers.
const TARGET_VS_RUNSC: f64 = 0.5;
const TARGET_VS_TRACER: f64 = 1.25;
const TARGET_STARTUP_MS: f64 = 50.0;
const TARGET_RSS_MIB: f64 = 15.0;

struct Config {
    native_iters: u64,
    traced_iters: u64,
    repeats: usize,
    startup_runs: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__startup") {
        startup_helper(&args[2..]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: bench [--quick]   (set SANDBOX_BIN to bench another binary)");
        return;
    }
    let cfg = if quick {
        Config {
            native_iters: 200_000,
            traced_iters: 5_000,
            repeats: 1,
            startup_runs: 5,
        }
    } else {
        Config {
            native_iters: 2_000_000,
            traced_iters: 50_000,
            repeats: 3,
            startup_runs: 20,
        }
    };

    let scratch = TempDir::new("sandbox-bench").expect("temp dir");
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

    getpid_section(&cfg, &loop_bin, sandbox.as_deref(), runsc.as_deref());
    println!();
    startup_section(&cfg, sandbox.as_deref(), runsc.as_deref());
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
    let sandboxed = match sandbox {
        Some(s) => {
            let s = s.to_str().unwrap_or_default();
            best_of(cfg.repeats, || {
                run_loop(&[s, "run", "--platform", "ptrace", "--", &bin, &n_traced])
            })
        }
        None => Err("not built".into()),
    };
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
    let rows: [(&str, &Figure); 5] = [
        ("native", &native),
        ("bare PTRACE_SYSEMU tracer (floor)", &tracer),
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
        &sandboxed,
        &runsc_fig,
        TARGET_VS_RUNSC,
    );
    target(
        "sandbox getpid ≤ 1.25 × bare tracer",
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
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    let out = run_with_timeout(&mut cmd, PEER_TIMEOUT).map_err(|e| format!("{}: {e}", argv[0]))?;
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
    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(me);
    cmd.arg("__startup")
        .arg(cfg.startup_runs.to_string())
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
        Some(s) if out.code() == Some(0) && s.failures < cfg.startup_runs => Ok(s),
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
