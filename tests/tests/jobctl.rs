//! Job control at the host terminal: `tests/tty/jobctl.c` run with a
//! pseudo-terminal as its standard streams (util-linux `script` makes one),
//! natively and under `sandbox run -t`. Both runs must pass every check: a
//! background process group that reads gets SIGTTIN, one that writes with
//! TOSTOP or changes the terminal gets SIGTTOU, with Linux's exceptions.

use std::path::{Path, PathBuf};
use std::process::Command;

use sandbox_tests::engines::shell_line;
use sandbox_tests::{build_c, run_with_timeout, sandbox_bin, workspace_volume, RunOutput, DEFAULT_TIMEOUT};

/// util-linux `script`: runs a command with a pseudo-terminal as its stdio.
const SCRIPT: &str = "/usr/bin/script";

fn program() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tty/jobctl.c");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tty/jobctl");
    build_c(&src, &out, &[]).unwrap_or_else(|e| panic!("{e}"));
    out
}

/// Runs `cmd` under `script`; returns its output (terminal line endings).
fn in_pty(cmd: &Command) -> RunOutput {
    let mut wrapped = Command::new(SCRIPT);
    wrapped.args(["-q", "-e", "-c"]).arg(shell_line(cmd)).arg("/dev/null");
    run_with_timeout(&mut wrapped, DEFAULT_TIMEOUT).unwrap_or_else(|e| panic!("running {SCRIPT}: {e}"))
}

/// The check lines of a run, or what went wrong.
fn checks(what: &str, out: &RunOutput) -> Vec<String> {
    let lines: Vec<String> = out
        .stdout_str()
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| l.starts_with("ok ") || l.starts_with("FAIL "))
        .collect();
    let failed: Vec<&String> = lines.iter().filter(|l| !l.starts_with("ok ")).collect();
    assert!(
        out.code() == Some(0) && failed.is_empty() && !lines.is_empty(),
        "{what}: expected every check to pass, got {failed:?}\n{}",
        out.describe()
    );
    lines
}

#[test]
fn background_groups_get_sigttin_and_sigttou() {
    if !Path::new(SCRIPT).exists() {
        println!("skipped: {SCRIPT} (util-linux) is not installed");
        return;
    }
    let bin = program();
    let native = checks("natively", &in_pty(&Command::new(&bin)));
    let mut sandboxed = Command::new(sandbox_bin());
    sandboxed.args(["run", "-t"]).args(workspace_volume()).arg("--").arg(&bin);
    let sandbox = checks("under the sandbox", &in_pty(&sandboxed));
    assert_eq!(native, sandbox, "the same checks ran");
}
