//! The differential conformance harness.
//!
//! Every `tests/conformance/*.c` is built twice (dynamic and, when libc.a is
//! installed, `-static`), run natively, then under `sandbox run` (once per
//! platform in `SANDBOX_PLATFORMS`, default systrap and ptrace), and the outputs are
//! compared line by line:
//!
//! - natively every line must be `ok NAME` and the exit status 0, or the
//!   program itself is wrong;
//! - under the sandbox, the checks listed in `<program>.gaps` must print
//!   `FAIL NAME: …` (an `ok` there is an unexpected pass: remove the name
//!   from the gaps file), and every other line must equal the native line;
//! - the sandboxed exit status must be 0, or 1 when the program has gaps.
//!
//! All differences of all programs are collected and reported once.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sandbox_tests::{
    build_c, platforms, run_with_timeout, sandbox_bin, sandbox_command, static_libc_available,
    truncate, RunOutput, DEFAULT_TIMEOUT,
};

/// Lines of differences shown per run, so one crash does not bury the rest.
const MAX_DIFF_LINES: usize = 30;

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// The C programs, sorted by name.
fn programs() -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = fs::read_dir(conformance_dir())
        .expect("tests/conformance exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    list.sort();
    list
}

/// The check names in `<program>.gaps`: one per line, `#` starts a comment.
fn read_gaps(path: &Path) -> BTreeSet<String> {
    let Ok(text) = fs::read_to_string(path) else {
        return BTreeSet::new();
    };
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks the native run: status 0, only `ok NAME` lines, unique names, and
/// every gap names a real check. Returns the problems.
fn check_native(out: &RunOutput, gaps: &BTreeSet<String>, gaps_file: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if out.code() != Some(0) {
        problems.push(format!(
            "exits with {} natively (must be exit 0)",
            out.status_text()
        ));
    }
    let stdout = out.stdout_str();
    let mut names = BTreeSet::new();
    for line in stdout.lines() {
        match line.strip_prefix("ok ") {
            Some(name) if !name.contains(' ') => {
                if !names.insert(name.to_string()) {
                    problems.push(format!("check name `{name}` is used twice"));
                }
            }
            _ => problems.push(format!("natively: {line}")),
        }
    }
    if names.is_empty() {
        problems.push("prints no checks natively".into());
    }
    for gap in gaps {
        if !names.contains(gap) {
            problems.push(format!(
                "{gaps_file} names `{gap}`, which is not a check of this program"
            ));
        }
    }
    if !problems.is_empty() && !out.stderr.is_empty() {
        problems.push(format!("stderr: {}", truncate(&out.stderr_str(), 2000)));
    }
    problems
}

/// Compares a sandboxed run with the (correct) native one. Returns the
/// differences, readable as a diff.
fn compare(
    native: &RunOutput,
    sandboxed: &RunOutput,
    gaps: &BTreeSet<String>,
    gaps_file: &str,
) -> Vec<String> {
    let mut diffs = Vec::new();
    let native_stdout = native.stdout_str();
    let sandbox_stdout = sandboxed.stdout_str();
    let want: Vec<&str> = native_stdout.lines().collect();
    let got: Vec<&str> = sandbox_stdout.lines().collect();

    for (i, (&w, &g)) in want.iter().zip(&got).enumerate() {
        let gap = w.strip_prefix("ok ").filter(|n| gaps.contains(*n));
        let fine = match gap {
            // A known gap: must fail; an `ok` means the gap is closed.
            Some(name) if g == format!("ok {name}") => {
                diffs.push(format!(
                    "  unexpected pass of `{name}`: remove {name} from {gaps_file}"
                ));
                true // reported already
            }
            Some(name) => g.starts_with(&format!("FAIL {name}:")),
            None => w == g,
        };
        if !fine {
            let note = if gap.is_some() {
                "  [known gap: expected FAIL]"
            } else {
                ""
            };
            diffs.push(format!(
                "  line {:>3}  native:  {w}{note}\n            sandbox: {g}",
                i + 1
            ));
        }
    }
    // One line for a run that stopped early (a crash), not one per check.
    if got.len() < want.len() {
        diffs.push(format!(
            "  sandbox output stops after line {}: {} native lines missing, from `{}`",
            got.len(),
            want.len() - got.len(),
            want[got.len()]
        ));
    }
    for (i, g) in got.iter().enumerate().skip(want.len()).take(5) {
        diffs.push(format!("  line {:>3}  extra under sandbox: {g}", i + 1));
    }
    if diffs.len() > MAX_DIFF_LINES {
        let more = diffs.len() - MAX_DIFF_LINES;
        diffs.truncate(MAX_DIFF_LINES);
        diffs.push(format!("  … and {more} more differing lines"));
    }

    let want_code = if gaps.is_empty() { 0 } else { 1 };
    if sandboxed.code() != Some(want_code) || sandboxed.timed_out {
        diffs.push(format!(
            "  exit status: expected exit {want_code}, sandbox gave {}",
            sandboxed.status_text()
        ));
    }
    if !diffs.is_empty() && !sandboxed.stderr.is_empty() {
        diffs.push(format!(
            "  sandbox stderr:\n{}",
            indent(&truncate(&sandboxed.stderr_str(), 3000))
        ));
    }
    diffs
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    | {l}\n"))
        .collect::<String>()
        .trim_end()
        .to_string()
}

#[test]
fn conformance_programs_match_native() {
    let sandbox = sandbox_bin(); // panics with advice when missing
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    fs::create_dir_all(&out_dir).expect("create build dir");

    let mut variants: Vec<(&str, &[&str])> = vec![("dynamic", &[])];
    if static_libc_available(&out_dir) {
        variants.push(("static", &["-static"]));
    } else {
        println!("note: static libc not available (libc6-dev's libc.a): dynamic builds only");
    }
    let platforms = platforms();

    let mut report = String::new();
    let mut failed_runs = 0;
    let mut total_runs = 0;
    for src in programs() {
        let name = src.file_stem().unwrap().to_string_lossy().into_owned();
        let gaps_path = src.with_extension("gaps");
        let gaps_file = format!("tests/conformance/{name}.gaps");
        let gaps = read_gaps(&gaps_path);

        for (variant, flags) in &variants {
            let label = format!("{name} ({variant})");
            let bin = out_dir.join(if *variant == "dynamic" {
                name.clone()
            } else {
                format!("{name}-{variant}")
            });
            // One run per platform; a program that fails to build or is
            // wrong natively counts as failing all of them.
            total_runs += platforms.len();
            if let Err(e) = build_c(&src, &bin, flags) {
                failed_runs += platforms.len();
                let _ = writeln!(report, "== {label}: does not build\n{}", indent(&e));
                continue;
            }

            let native = match run_with_timeout(&mut Command::new(&bin), DEFAULT_TIMEOUT) {
                Ok(out) => out,
                Err(e) => {
                    failed_runs += platforms.len();
                    let _ = writeln!(report, "== {label}: cannot run natively: {e}");
                    continue;
                }
            };
            let problems = check_native(&native, &gaps, &gaps_file);
            if !problems.is_empty() {
                failed_runs += platforms.len();
                let _ = writeln!(
                    report,
                    "== {label}: wrong natively or in its .gaps file (fix that first)"
                );
                for p in problems {
                    let _ = writeln!(report, "  {p}");
                }
                continue;
            }

            for platform in &platforms {
                let where_ = platform
                    .as_deref()
                    .map_or(String::new(), |p| format!(" --platform {p}"));
                let mut cmd = sandbox_command(platform.as_deref(), &[&bin]);
                let sandboxed = match run_with_timeout(&mut cmd, DEFAULT_TIMEOUT) {
                    Ok(out) => out,
                    Err(e) => {
                        failed_runs += 1;
                        let _ = writeln!(
                            report,
                            "== {label}{where_}: cannot run {}: {e}",
                            sandbox.display()
                        );
                        continue;
                    }
                };
                let diffs = compare(&native, &sandboxed, &gaps, &gaps_file);
                if diffs.is_empty() {
                    println!(
                        "ok   {label}{where_}: {} checks, {} known gaps",
                        native.stdout_str().lines().count(),
                        gaps.len()
                    );
                } else {
                    failed_runs += 1;
                    let _ = writeln!(report, "== {label}{where_}: differs from native");
                    for d in diffs {
                        let _ = writeln!(report, "{d}");
                    }
                }
            }
        }
    }

    assert!(
        failed_runs == 0,
        "{failed_runs} of {total_runs} conformance runs differ (sandbox: {}):\n\n{report}",
        sandbox.display()
    );
}
