//! Section 5 of the benchmark: the OCI runtime's container life cycle, as containerd's shim
//! drives it — `create --bundle --pid-file`, `start`, wait for the container's init to exit,
//! `delete` — for a busybox `true` container, under sandbox, runc (the peer for start-up)
//! and runsc when installed (through its `run`, which does the same steps). The bench is a child subreaper, as the shim is, so it waits for
//! each container's init itself.
//!
//! Then the same container through Docker: `docker run --rm --network none IMAGE true`
//! (client, dockerd, containerd, shim, runtime, removal) under sandbox and under runc, both
//! added to one private dockerd (`sandbox_tests::engines`, shared with the engine tests),
//! one warm-up run each, and sandbox ÷ runc of the means.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_tests::engines::{self, Docker, Image, Scene, DOCKER_IMAGE};

const RUNC: &str = "/usr/sbin/runc";
const RUNSC: &str = "/usr/bin/runsc";
const TARGET_VS_RUNC: f64 = 1.5;
const TARGET_MS: f64 = 100.0;

/// A runtime under test: its binary and the global flags it needs.
struct Runtime {
    name: &'static str,
    argv: Vec<String>,
}

pub fn section(runs: usize, scratch: &Path, sandbox: Option<&Path>) {
    println!("OCI runtime: create + start + wait + delete of a busybox `true` container (ms, mean and min of {runs})");
    let bundle = match make_bundle(scratch) {
        Ok(b) => b,
        Err(e) => {
            println!("  n/a: cannot make the bundle: {e}");
            return;
        }
    };
    // SAFETY: prctl with integer arguments; makes the containers' inits our children.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1)
    };
    let state = |name: &str| scratch.join(format!("oci-state-{name}")).display().to_string();
    let mut runtimes = Vec::new();
    if let Some(s) = sandbox {
        runtimes.push(Runtime { name: "sandbox", argv: vec![s.display().to_string(), "--root".into(), state("sandbox")] });
    }
    if Path::new(RUNC).is_file() {
        runtimes.push(Runtime { name: "runc", argv: vec![RUNC.into(), "--root".into(), state("runc")] });
    }
    if Path::new(RUNSC).is_file() {
        let argv = [RUNSC, "--root", &state("runsc"), "--network=none", "--platform=ptrace"].map(String::from).to_vec();
        runtimes.push(Runtime { name: "runsc", argv });
    }
    let mut results = Vec::new();
    for rt in &runtimes {
        let r = measure(rt, &bundle, runs);
        match &r {
            Ok((mean, min)) => println!("  {:<8} {mean:>8.1} {min:>8.1}", rt.name),
            Err(e) => println!("  {:<8} n/a: {e}", rt.name),
        }
        results.push((rt.name, r));
    }
    let mean = |name: &str| results.iter().find(|(n, _)| *n == name).and_then(|(_, r)| r.as_ref().ok()).map(|&(m, _)| m);
    match (mean("sandbox"), mean("runc")) {
        (Some(s), Some(r)) => {
            let x = s / r;
            println!("  target: sandbox within {TARGET_VS_RUNC}× runc            {x:.2}× → {}", if x <= TARGET_VS_RUNC { "PASS" } else { "MISS" });
        }
        _ => println!("  target: sandbox within {TARGET_VS_RUNC}× runc            n/a"),
    }
    if let Some(s) = mean("sandbox") {
        println!("  target: sandbox under {TARGET_MS} ms                 {s:.1} ms → {}", if s < TARGET_MS { "PASS" } else { "MISS" });
    }
    docker_section(runs, sandbox);
}

/// `docker run --rm` of a busybox `true` container under sandbox and runc (see the module
/// comment); a one-line "n/a" when docker is missing or its daemons do not start.
fn docker_section(runs: usize, sandbox: Option<&Path>) {
    println!("Docker: `docker run --rm --network none` of a busybox `true` container (ms, mean and min of {runs})");
    // The shims daemonise: as a subreaper (set above) we would inherit them and keep them as
    // zombies.
    // SAFETY: prctl with integer arguments.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0)
    };
    if let Err(e) = docker_rows(runs, sandbox) {
        println!("  n/a: {}", one_line(&e));
    }
}

fn docker_rows(runs: usize, sandbox: Option<&Path>) -> Result<(), String> {
    let missing = engines::missing(&engines::DOCKER_TOOLS);
    if !missing.is_empty() {
        return Err(format!("not installed: {}", missing.join(", ")));
    }
    // (label, name given to dockerd, binary). runc by path, as in the table above, rather than
    // dockerd's built-in `runc` (whichever PATH finds).
    let mut runtimes = Vec::new();
    if let Some(s) = sandbox {
        let bin = std::fs::canonicalize(s).map_err(|e| format!("{}: {e}", s.display()))?;
        runtimes.push(("sandbox", "sandbox", bin));
    }
    runtimes.push(("runc", "runc-peer", PathBuf::from(RUNC)));
    let mut scene = Scene::new("bench-docker")?;
    let added: Vec<(&str, &Path)> = runtimes.iter().map(|(_, name, bin)| (*name, bin.as_path())).collect();
    let docker = scene.start_docker(&added)?;
    let image = Image::build(scene.dir.path())?;
    engines::run_ok(docker.cmd().arg("import").arg(&image.tar).arg(DOCKER_IMAGE))?;
    scene.image = Some(image);
    let mut means = Vec::new();
    for (label, name, _) in &runtimes {
        match docker_measure(&docker, name, runs) {
            Ok((mean, min)) => {
                println!("  {label:<8} {mean:>8.1} {min:>8.1}");
                means.push((*label, mean));
            }
            Err(e) => println!("  {label:<8} n/a: {}", one_line(&e)),
        }
    }
    if let [("sandbox", s), ("runc", r)] = means[..] {
        println!("  sandbox ÷ runc {:>9.2}×", s / r);
    }
    Ok(())
}

/// Mean and min, in ms, of `runs` `docker run --rm` with runtime `name` (after one warm-up).
/// The command runner polls for the client's exit every 5 ms, small beside ~350 ms.
fn docker_measure(docker: &Docker, name: &str, runs: usize) -> Result<(f64, f64), String> {
    let mut times = Vec::new();
    for i in 0..=runs {
        let out = engines::run(&mut docker.run(name, &["--rm", DOCKER_IMAGE, "true"]))?;
        if out.code() != Some(0) {
            return Err(format!("{}: {}", out.status_text(), out.stderr_str()));
        }
        if i > 0 {
            times.push(out.elapsed.as_secs_f64() * 1000.0);
        }
    }
    Ok(mean_min(&times))
}

/// An error message on one line, shortened.
fn one_line(e: &str) -> String {
    sandbox_tests::truncate(&e.split_whitespace().collect::<Vec<_>>().join(" "), 300)
}

/// Mean and min of `times`.
fn mean_min(times: &[f64]) -> (f64, f64) {
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    (mean, times.iter().copied().fold(f64::INFINITY, f64::min))
}

/// A bundle whose rootfs is busybox and whose process is `true`.
fn make_bundle(scratch: &Path) -> Result<PathBuf, String> {
    let bundle = scratch.join("oci-bundle");
    let bin = bundle.join("rootfs/bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    std::fs::copy("/bin/busybox", bin.join("busybox")).map_err(|e| format!("/bin/busybox: {e}"))?;
    for applet in ["sh", "true"] {
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    let config = r#"{
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
              "env": ["PATH=/bin"], "cwd": "/"},
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "bench",
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
  "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}]}
}
"#;
    std::fs::write(bundle.join("config.json"), config).map_err(|e| e.to_string())?;
    Ok(bundle)
}

/// Mean and min, in ms, of `runs` life cycles (after one warm-up).
fn measure(rt: &Runtime, bundle: &Path, runs: usize) -> Result<(f64, f64), String> {
    let mut times = Vec::new();
    for i in 0..=runs {
        let id = format!("bench-{}-{i}", std::process::id());
        let start = Instant::now();
        let r = life_cycle(rt, bundle, &id);
        let elapsed = start.elapsed();
        let _ = runtime(rt, &["delete", "--force", &id]);
        r?;
        if i > 0 {
            times.push(elapsed.as_secs_f64() * 1000.0);
        }
    }
    Ok(mean_min(&times))
}

fn life_cycle(rt: &Runtime, bundle: &Path, id: &str) -> Result<(), String> {
    if rt.name == "runsc" {
        // runsc's pid file names a process whose status it wants to collect itself: its
        // `run` does create, start and wait in one, and removes the container.
        return runtime(rt, &["run", "--bundle", &bundle.display().to_string(), id]);
    }
    let pid_file = bundle.join(format!("{id}.pid"));
    runtime(rt, &["create", "--bundle", &bundle.display().to_string(), "--pid-file", &pid_file.display().to_string(), id])?;
    let pid: i32 = std::fs::read_to_string(&pid_file).map_err(|e| format!("pid file: {e}"))?.trim().parse().map_err(|e| format!("pid file: {e}"))?;
    let _ = std::fs::remove_file(&pid_file);
    runtime(rt, &["start", id])?;
    let mut status = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // SAFETY: polls for our (adopted) child; `status` is a valid out pointer.
        #[allow(unsafe_code)]
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if r < 0 || Instant::now() > deadline {
            return Err(format!("init {pid} was not reaped"));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(format!("container exited with wait status {status:#x}"));
    }
    runtime(rt, &["delete", id])
}

/// Runs one runtime command. Its stderr goes to a file: the container's init inherits it, so
/// a pipe would stay open for as long as the container runs.
fn runtime(rt: &Runtime, args: &[&str]) -> Result<(), String> {
    let err_path = std::env::temp_dir().join(format!("bench-oci-{}.err", std::process::id()));
    let err = std::fs::File::create(&err_path).map_err(|e| e.to_string())?;
    let status = Command::new(&rt.argv[0])
        .args(&rt.argv[1..])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .status()
        .map_err(|e| format!("{}: {e}", rt.argv[0]))?;
    let text = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} {}: {}", rt.name, args[0], text.trim()))
    }
}
