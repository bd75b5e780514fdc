//! Python's own regression tests (Debian's `libpython3.11-testsuite`) run inside the sandbox.
//!
//! Every module of [`MODULES`] runs as `sandbox run -- python3 -m test -v MODULE`. Each test
//! case that fails or errors there must be listed in `tests/python/known-failures` with the
//! reason, and each listed case must still fail: a listed case that passes is reported, so the
//! list only ever shrinks (cases whose reason starts with `flaky` may pass). A module that dies
//! before reporting its cases counts as the case `MODULE`.
//!
//! The modules run two at a time, longest first; the whole takes a few minutes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use sandbox_tests::{lock, run_with_timeout, sandbox_command, truncate};

/// The modules the issues name, slowest first (files, then processes, signals and IPC).
const MODULES: &[&str] = &[
    "test_subprocess",
    "test_multiprocessing_fork",
    "test_signal",
    "test_threading",
    "test_os",
    "test_wait4",
    "test_posix",
    "test_time",
    "test_pathlib",
    "test_tempfile",
    "test_shutil",
    "test_select",
    "test_glob",
    "test_thread",
    "test_selectors",
    "test_epoll",
    "test_fcntl",
    "test_pty",
    "test_posixpath",
    "test_fileio",
    "test_stat",
];

const PYTHON: &str = "/usr/bin/python3";
const TESTSUITE: &str = "/usr/lib/python3.11/test/regrtest.py";
const MODULE_TIMEOUT: Duration = Duration::from_secs(900);
const PARALLEL: usize = 2;

/// `tests/python/known-failures`: test id → reason. One case per line, `ID REASON…`; `#`
/// starts a comment line.
fn known_failures() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/known-failures");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (id, reason) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            assert!(!reason.trim().is_empty(), "{}: {id} has no reason", path.display());
            (id.to_string(), reason.trim().to_string())
        })
        .collect()
}

/// What one module's run reported: the ids of failed or errored cases, or the module's own
/// name when it ended without a report of its cases.
fn failures(module: &str, stdout: &str, ok: bool) -> BTreeSet<String> {
    // regrtest repeats every failure at the end as `FAIL: name (test.module.Class.name)`.
    let mut failed: BTreeSet<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL: ").or_else(|| l.strip_prefix("ERROR: ")))
        .filter_map(|rest| Some(rest.split_once(" (")?.1.split_once(')')?.0.to_string()))
        .collect();
    let succeeded = stdout.lines().any(|l| l == "Tests result: SUCCESS");
    if failed.is_empty() && !(ok && succeeded) {
        failed.insert(module.to_string());
    }
    failed
}

fn run_module(module: &str) -> (BTreeSet<String>, String) {
    let mut cmd = sandbox_command(None, &[PYTHON, "-m", "test", "-v", module]);
    let out = run_with_timeout(&mut cmd, MODULE_TIMEOUT).unwrap_or_else(|e| panic!("running {module}: {e}"));
    let stdout = out.stdout_str();
    let failed = failures(module, &stdout, out.code() == Some(0));
    let tail: Vec<&str> = stdout.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    let summary = format!("{module}: {}\n{}\n{}", out.status_text(), tail.join("\n"), truncate(&out.stderr_str(), 2000));
    (failed, summary)
}

#[test]
fn python_regression_tests_fail_only_where_listed() {
    assert!(
        Path::new(TESTSUITE).exists(),
        "{TESTSUITE} is missing: install Debian's libpython3.11-testsuite (tools/install-deps does)"
    );
    let known = known_failures();
    let queue = Mutex::new(MODULES.iter());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| loop {
                let Some(module) = lock(&queue).next() else { break };
                let r = run_module(module);
                lock(&results).push((*module, r));
            });
        }
    });
    let mut problems = Vec::new();
    for (module, (failed, summary)) in results.into_inner().unwrap() {
        let prefix = format!("test.{module}.");
        let unexpected: Vec<&String> = failed.iter().filter(|id| !known.contains_key(*id)).collect();
        let passing: Vec<&String> = known
            .iter()
            .filter(|(id, reason)| {
                (id.starts_with(&prefix) || id.as_str() == module) && !reason.starts_with("flaky") && !failed.contains(*id)
            })
            .map(|(id, _)| id)
            .collect();
        if !unexpected.is_empty() {
            problems.push(format!("{module}: failed, not in tests/python/known-failures: {unexpected:?}\n{summary}"));
        }
        if !passing.is_empty() {
            problems.push(format!("{module}: listed in tests/python/known-failures but passed (remove them): {passing:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn failures_are_read_from_the_report() {
    let report = "test_a (test.test_x.T.test_a) ... FAIL\n\
                  ======\n\
                  FAIL: test_a (test.test_x.T.test_a)\n\
                  ERROR: test_b (test.test_x.T.test_b) (sub=1)\n\
                  Tests result: FAILURE\n";
    let got = failures("test_x", report, false);
    assert_eq!(got.into_iter().collect::<Vec<_>>(), ["test.test_x.T.test_a", "test.test_x.T.test_b"]);
    // A module that died before its report is one failure, named after it.
    assert_eq!(failures("test_y", "Traceback…\n", false).into_iter().collect::<Vec<_>>(), ["test_y"]);
    assert!(failures("test_z", "Tests result: SUCCESS\n", true).is_empty());
}
