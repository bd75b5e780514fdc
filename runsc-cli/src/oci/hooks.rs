//! OCI hooks: host programs run at points of a container's life, each given the state
//! document on standard input.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::spec::Hook;

/// Runs `hooks` in order; the first failure stops them and is returned, naming the phase.
pub fn run(phase: &str, hooks: &[Hook], state: &serde_json::Value) -> Result<(), String> {
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, state).map_err(|e| format!("{phase} hook #{i} ({}): {e}", hook.path))?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state: &serde_json::Value) -> Result<(), String> {
    let mut cmd = Command::new(&hook.path);
    if let Some((arg0, rest)) = hook.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for e in &hook.env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its input: that is not an error.
        let _ = stdin.write_all(state.to_string().as_bytes());
    }
    let deadline = hook.timeout.and_then(|t| u64::try_from(t).ok()).filter(|&t| t > 0).map(|t| Instant::now() + Duration::from_secs(t));
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            if status.success() {
                return Ok(());
            }
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if text.is_empty() {
                text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            }
            return Err(format!("{status}{}{text}", if text.is_empty() { "" } else { ": " }));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("timed out".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(args: &[&str], timeout: Option<i64>) -> Hook {
        Hook { path: "/bin/sh".into(), args: args.iter().map(|s| s.to_string()).collect(), env: vec!["X=1".into()], timeout }
    }

    #[test]
    fn hooks_read_the_state_and_report_failures() {
        let state = serde_json::json!({"id": "c1"});
        run("prestart", &[hook(&["sh", "-c", "grep -q '\"id\":\"c1\"' && [ \"$X\" = 1 ]"], None)], &state).unwrap();
        let err = run("poststop", &[hook(&["sh", "-c", "echo broken >&2; exit 3"], None)], &state).unwrap_err();
        assert!(err.starts_with("poststop hook #0 (/bin/sh): exit status: 3: broken"), "{err}");
        let err = run("prestart", &[hook(&["sh", "-c", "sleep 5"], Some(1))], &state).unwrap_err();
        assert!(err.ends_with("timed out"), "{err}");
    }
}
