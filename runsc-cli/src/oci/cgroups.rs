//! Host cgroups for OCI containers.
//!
//! Every host process of one sandbox (the sentry, its gofer, its ptrace stubs) goes into one
//! cgroup per container, so that config.json's `linux.resources` bound the sandbox as a whole.
//! This module makes that cgroup, writes the limits, moves processes in, freezes and thaws
//! it, reads its statistics and finally kills what is left and removes it.
//!
//! Hierarchies are found by parsing `/proc/self/mountinfo`; nothing is hard-coded. Each
//! controller is served by the cgroup v1 hierarchy that has it if there is one, else by the
//! cgroup v2 (unified) hierarchy. That covers both hosts we run on:
//!
//! * v1 *hybrid* mode: one v1 hierarchy per controller (`memory`, `cpu,cpuacct`, `pids`,
//!   `freezer`, ...) plus a cgroup2 mount with no controllers. We make a directory in each
//!   v1 hierarchy we use and one in the cgroup2 hierarchy, so that a process's membership is
//!   the same everywhere.
//! * pure cgroup v2: one directory, with the needed controllers enabled in the
//!   `cgroup.subtree_control` of every ancestor.
//!
//! A [`Cgroup`] is plain data (serde), so `create` can save it in the container's state and
//! `delete`, `pause` or `events` can reopen it later.

// The OCI commands that use this module are being written alongside it; until every item is
// called from them, the binary crate would warn about unused ones.

use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where the mounts of this process's mount namespace are listed.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The parent of a container's cgroup when config.json gives no `linux.cgroupsPath`.
const DEFAULT_PARENT: &str = "/sandbox";

/// How long `destroy` waits for the killed processes to leave the cgroup.
const DESTROY_WAIT: Duration = Duration::from_secs(2);

/// How long `freeze` and `thaw` wait for the kernel to report the new state.
const FREEZE_WAIT: Duration = Duration::from_secs(5);

/// The kernel reports `cpuacct.stat` in USER_HZ ticks, which is 100 per second on every
/// architecture Linux exposes it on.
const NANOS_PER_USER_HZ_TICK: u64 = 10_000_000;

/// Limits from config.json's `linux.resources` (already parsed by the caller).
///
/// As in runc, a zero means "not set" for the memory and cpu values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Memory limit in bytes; -1 means unlimited.
    pub memory: Option<i64>,
    /// Memory plus swap limit in bytes (the v1 `memsw` meaning); -1 means unlimited.
    pub memory_swap: Option<i64>,
    /// Relative CPU weight in v1 `cpu.shares` units (2..=262144).
    pub cpu_shares: Option<u64>,
    /// CPU time allowed per period, in microseconds; -1 means unlimited.
    pub cpu_quota: Option<i64>,
    /// Length of a CPU accounting period, in microseconds.
    pub cpu_period: Option<u64>,
    /// CPUs the container may run on, in the kernel's list format ("0-3,6").
    pub cpuset_cpus: Option<String>,
    /// Maximum number of tasks; zero or less means unlimited.
    pub pids: Option<i64>,
}

/// One container's cgroup, in every hierarchy it uses.
///
/// It holds the absolute directories it made or joined, so that a later command (delete,
/// pause, events) can reopen it from the saved state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cgroup {
    /// The cgroup's path below each hierarchy's root, e.g. "/sandbox/abc".
    path: String,
    /// One entry per hierarchy used; v1 hierarchies first, the cgroup2 one last.
    dirs: Vec<Dir>,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Dir {
    /// Absolute directory of the container's cgroup in this hierarchy.
    path: String,
    /// Whether this is the cgroup2 (unified) hierarchy.
    v2: bool,
    /// v1: the controllers bound to the hierarchy; v2: the controllers enabled for us.
    controllers: Vec<String>,
    /// Directories `create` made, parents first (may include `path` itself).
    made: Vec<String>,
}

impl Dir {
    /// The absolute path of `file` in this directory.
    fn file(&self, file: &str) -> PathBuf {
        Path::new(&self.path).join(file)
    }

    /// Whether this directory can serve `ctl`.
    fn serves(&self, ctl: Ctl) -> bool {
        if self.controllers.iter().any(|c| c == ctl.name()) {
            return true;
        }
        // cgroup2 has freezing (cgroup.freeze) and cpu usage (cpu.stat) in its core.
        self.v2 && matches!(ctl, Ctl::Freezer | Ctl::Cpuacct)
    }
}

/// The controllers this module knows about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctl {
    Memory,
    Cpu,
    Cpuacct,
    Cpuset,
    Pids,
    Freezer,
}

impl Ctl {
    /// All of them, in the order their directories are listed.
    const ALL: [Ctl; 6] = [Ctl::Memory, Ctl::Cpu, Ctl::Cpuacct, Ctl::Pids, Ctl::Freezer, Ctl::Cpuset];

    /// The kernel's name for the controller.
    fn name(self) -> &'static str {
        match self {
            Ctl::Memory => "memory",
            Ctl::Cpu => "cpu",
            Ctl::Cpuacct => "cpuacct",
            Ctl::Cpuset => "cpuset",
            Ctl::Pids => "pids",
            Ctl::Freezer => "freezer",
        }
    }

    /// The controller called `name`, if we know it.
    fn from_name(name: &str) -> Option<Ctl> {
        Ctl::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The `linux.resources` field that needs this controller, if `limits` set one.
    fn needed_by(self, limits: &Limits) -> Option<&'static str> {
        let set = |v: Option<i64>| v.is_some_and(|v| v > 0);
        match self {
            Ctl::Memory if set(limits.memory) => Some("memory.limit"),
            Ctl::Memory if set(limits.memory_swap) => Some("memory.swap"),
            Ctl::Cpu if limits.cpu_shares.is_some_and(|v| v > 0) => Some("cpu.shares"),
            Ctl::Cpu if set(limits.cpu_quota) => Some("cpu.quota"),
            Ctl::Cpu if limits.cpu_period.is_some_and(|v| v > 0) => Some("cpu.period"),
            Ctl::Cpuset if cpuset_cpus(limits).is_some() => Some("cpu.cpus"),
            Ctl::Pids if set(limits.pids) => Some("pids.limit"),
            _ => None,
        }
    }

    /// Whether the cgroup uses this controller at all for `limits`.
    fn wanted(self, limits: &Limits) -> bool {
        // cpuset directories need populating before a task can join, so only when asked.
        self != Ctl::Cpuset || self.needed_by(limits).is_some()
    }
}

/// The requested cpuset, if any.
fn cpuset_cpus(limits: &Limits) -> Option<&str> {
    limits.cpuset_cpus.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A cgroup hierarchy mounted in this mount namespace.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    /// The mount point.
    point: String,
    /// Whether it is cgroup2.
    v2: bool,
    /// v1: the controllers (and `name=` of a named hierarchy) bound to it.
    controllers: Vec<String>,
}

/// Mount options of v1 cgroup mounts that are not controllers.
const V1_NON_CONTROLLER_OPTIONS: [&str; 7] =
    ["rw", "ro", "clone_children", "noprefix", "xattr", "nsdelay", "cpuset_v2_mode"];

/// The cgroup hierarchies in mountinfo `text`, each once (first mount wins).
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut out: Vec<(String, Mount)> = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (Some(dev), Some(point), Some(fstype)) = (left.get(2), left.get(4), right.first()) else {
            continue;
        };
        let v2 = match *fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let controllers = if v2 {
            Vec::new()
        } else {
            right.get(2).map_or_else(Vec::new, |opts| {
                opts.split(',')
                    .filter(|o| !V1_NON_CONTROLLER_OPTIONS.contains(o))
                    .filter(|o| !o.contains('=') || o.starts_with("name="))
                    .map(str::to_owned)
                    .collect()
            })
        };
        // One hierarchy may be mounted more than once; its device number identifies it.
        if out.iter().any(|(d, m)| d == dev || (v2 && m.v2)) {
            continue;
        }
        out.push(((*dev).to_owned(), Mount { point: unescape_octal(point), v2, controllers }));
    }
    out.into_iter().map(|(_, m)| m).collect()
}

/// Undoes mountinfo's `\ooo` escaping of spaces, tabs, newlines and backslashes.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let digits = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match digits.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A hierarchy `create` will make a directory in.
#[derive(Debug, Clone, PartialEq)]
struct Planned {
    /// The hierarchy's mount point.
    point: String,
    /// Whether it is cgroup2.
    v2: bool,
    /// v1: the hierarchy's controllers; v2: the controllers to enable.
    controllers: Vec<String>,
    /// Whether failing to make the directory may be ignored (a hybrid host's cgroup2
    /// hierarchy that serves no controller).
    optional: bool,
}

/// Picks the hierarchies for `limits` from `mounts`; `v2_available` lists the controllers
/// the cgroup2 root offers (its cgroup.controllers).
fn plan(mounts: &[Mount], v2_available: &[String], limits: &Limits) -> Result<Vec<Planned>, String> {
    let unified = mounts.iter().find(|m| m.v2);
    let mut v1: Vec<Planned> = Vec::new();
    let mut v2_controllers: Vec<String> = Vec::new();
    for ctl in Ctl::ALL.into_iter().filter(|c| c.wanted(limits)) {
        if let Some(m) = mounts.iter().find(|m| !m.v2 && m.controllers.iter().any(|c| c == ctl.name())) {
            if !v1.iter().any(|p| p.point == m.point) {
                v1.push(Planned {
                    point: m.point.clone(),
                    v2: false,
                    controllers: m.controllers.clone(),
                    optional: false,
                });
            }
        } else if unified.is_some() && matches!(ctl, Ctl::Freezer | Ctl::Cpuacct) {
            // Part of cgroup2's core: nothing to enable.
        } else if unified.is_some() && v2_available.iter().any(|c| c == ctl.name()) {
            v2_controllers.push(ctl.name().to_owned());
        } else if let Some(field) = ctl.needed_by(limits) {
            return Err(format!(
                "cgroup: the {} controller is not available on this host, but linux.resources.{field} needs it",
                ctl.name()
            ));
        }
    }
    let mut out = v1;
    if let Some(m) = unified {
        let optional = v2_controllers.is_empty() && !out.is_empty();
        out.push(Planned { point: m.point.clone(), v2: true, controllers: v2_controllers, optional });
    }
    if out.is_empty() {
        return Err(format!("cgroup: no cgroup hierarchy is mounted (see {MOUNTINFO})"));
    }
    Ok(out)
}

/// The cgroup path (below each hierarchy root) for config.json's `linux.cgroupsPath`.
///
/// * None or "": "/sandbox/<id>".
/// * "/a/b": as given.
/// * "a/b": also below the hierarchy root. runc puts relative paths below the runtime's own
///   cgroup; we choose the root so that the result does not depend on where the runtime was
///   started from.
/// * "slice:prefix:name" (systemd form; systemd is not used): the cgroupfs path systemd would
///   use, "/<expanded slice>/<prefix>-<name>.scope".
fn resolve_path(path: Option<&str>, id: &str) -> Result<String, String> {
    let raw = match path.filter(|p| !p.is_empty()) {
        None => {
            if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                return Err(format!("cgroup: container id {id:?} cannot name a cgroup"));
            }
            format!("{DEFAULT_PARENT}/{id}")
        }
        Some(p) if !p.starts_with('/') && p.split(':').count() == 3 => {
            let mut parts = p.split(':');
            let (slice, prefix, name) =
                (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            systemd_path(slice, prefix, name)?
        }
        Some(p) => p.to_owned(),
    };
    normalize(&raw)
}

/// "/a//./b/" -> "/a/b"; refuses "..", NUL bytes and the root itself.
fn normalize(raw: &str) -> Result<String, String> {
    let mut out = String::new();
    for comp in raw.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if comp == ".." || comp.contains('\0') {
            return Err(format!("cgroup: path {raw:?} may not contain {comp:?}"));
        }
        out.push('/');
        out.push_str(comp);
    }
    if out.is_empty() {
        return Err(format!("cgroup: path {raw:?} names a hierarchy's root cgroup"));
    }
    Ok(out)
}

/// The cgroupfs path of systemd unit `<prefix>-<name>.scope` in `slice` (default
/// system.slice). A `name` that is itself a slice names that slice.
fn systemd_path(slice: &str, prefix: &str, name: &str) -> Result<String, String> {
    if name.is_empty() || name.contains('/') {
        return Err(format!("cgroup: systemd unit name {name:?} is invalid"));
    }
    if name.ends_with(".slice") {
        return expand_slice(name);
    }
    let unit = if prefix.is_empty() { format!("{name}.scope") } else { format!("{prefix}-{name}.scope") };
    let parent = expand_slice(if slice.is_empty() { "system.slice" } else { slice })?;
    Ok(format!("{parent}/{unit}"))
}

/// "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" (the root slice) -> "".
fn expand_slice(slice: &str) -> Result<String, String> {
    if slice == "-.slice" {
        return Ok(String::new());
    }
    let bad = || format!("cgroup: systemd slice {slice:?} is invalid");
    let base = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if base.is_empty() || base.contains('/') || base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return Err(bad());
    }
    let mut path = String::new();
    let mut unit = String::new();
    for part in base.split('-') {
        if !unit.is_empty() {
            unit.push('-');
        }
        unit.push_str(part);
        path.push('/');
        path.push_str(&unit);
        path.push_str(".slice");
    }
    Ok(path)
}

/// Reads a cgroup file, naming it in the error.
fn read_file(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cgroup {}: read: {e}", path.display()))
}

/// Writes `value` to a cgroup file in one write, naming the file and value in the error.
fn write_file(path: &Path, value: &str) -> Result<(), String> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| format!("cgroup {}: write {value}: {e}", path.display()))
}

/// Reads a file holding one number ("max" reads as `u64::MAX`).
fn read_u64(path: &Path) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    match text.trim() {
        "max" => Some(u64::MAX),
        t => t.parse().ok(),
    }
}

/// Reads a flat-keyed file ("key value" lines) such as memory.stat or cpu.stat.
fn read_keyed(path: &Path) -> Map<String, Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), Value::from(v.trim().parse::<u64>().ok()?)))
        })
        .collect()
}

/// Makes `root`/`rel` and any missing parent, recording each directory made in `made`.
fn make_dirs(root: &Path, rel: &str, made: &mut Vec<String>) -> Result<PathBuf, String> {
    let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    let mut restarts = 3;
    let mut path = root.to_path_buf();
    let mut i = 0;
    while let Some(comp) = comps.get(i) {
        let next = path.join(comp);
        match fs::create_dir(&next) {
            Ok(()) => {
                let s = next.to_string_lossy().into_owned();
                if !made.contains(&s) {
                    made.push(s);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound && restarts > 0 => {
                // A parent vanished under us (another container's destroy removed the
                // then-empty parent): start again from the top.
                restarts -= 1;
                path = root.to_path_buf();
                i = 0;
                continue;
            }
            Err(e) => return Err(format!("cgroup {}: mkdir: {e}", next.display())),
        }
        path = next;
        i += 1;
    }
    Ok(path)
}

/// Enables `name` in the cgroup.subtree_control of each of `parents` (top first) lacking it.
fn enable_controller(parents: &[PathBuf], name: &str) -> Result<(), String> {
    for parent in parents {
        let file = parent.join("cgroup.subtree_control");
        if read_file(&file)?.split_whitespace().any(|c| c == name) {
            continue;
        }
        write_file(&file, &format!("+{name}"))?;
    }
    Ok(())
}

/// Gives every directory from below `root` down to `leaf` the parent's cpuset.cpus and
/// cpuset.mems if it has none: a v1 cpuset cgroup with empty sets admits no task.
fn cpuset_v1_prepare(root: &Path, leaf: &Path) -> Result<(), String> {
    let mut levels: Vec<&Path> = leaf.ancestors().take_while(|p| *p != root).collect();
    levels.reverse();
    for dir in levels {
        let Some(parent) = dir.parent() else { continue };
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if read_file(&dir.join(file))?.trim().is_empty() {
                let value = read_file(&parent.join(file))?;
                write_file(&dir.join(file), value.trim())?;
            }
        }
    }
    Ok(())
}

/// cgroup2's cpu.weight for v1 cpu.shares: maps 2..=262144 linearly onto 1..=10000.
fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// Sends SIGKILL to process `pid` (> 0).
#[allow(unsafe_code)]
fn sigkill(pid: i32) {
    if pid <= 0 {
        return;
    }
    // SAFETY: kill(2) only takes integers and touches none of our memory; pid > 0 names a
    // single process, never a process group or "every process".
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// Pids listed in a cgroup.procs file (empty if it cannot be read).
fn read_procs(path: &Path) -> Vec<i32> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|&p| p > 0)
        .collect()
}

/// rmdir `path`; a path that is already gone counts as removed.
fn remove_dir(path: &str) -> Result<(), io::Error> {
    match fs::remove_dir(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// A JSON object of the present values among `fields`.
fn object(fields: &[(&str, Option<u64>)]) -> Map<String, Value> {
    fields.iter().filter_map(|(k, v)| Some(((*k).to_owned(), Value::from((*v)?)))).collect()
}

impl Cgroup {
    /// Makes (or reuses, if it exists) the cgroup for `path` and writes the limits.
    ///
    /// `path` is config.json's `linux.cgroupsPath`: "/a/b" absolute under each hierarchy
    /// root, a relative "a/b" also under the root (runc would use the runtime's own cgroup
    /// as the base; we use the root), or the systemd form "slice:prefix:name", mapped to the
    /// cgroupfs path systemd would use ("/<slice expanded>/<prefix>-<name>.scope"). None
    /// means "/sandbox/<id>". Errors name the file and the reason. On error, the
    /// directories made so far are removed.
    pub fn create(path: Option<&str>, id: &str, limits: &Limits) -> Result<Cgroup, String> {
        let rel = resolve_path(path, id)?;
        let mounts = parse_mountinfo(&read_file(Path::new(MOUNTINFO))?);
        let v2_available: Vec<String> = match mounts.iter().find(|m| m.v2) {
            Some(m) => read_file(&Path::new(&m.point).join("cgroup.controllers"))?
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            None => Vec::new(),
        };
        let planned = plan(&mounts, &v2_available, limits)?;
        let mut cg = Cgroup { path: rel, dirs: Vec::new() };
        match cg.build(&planned, limits) {
            Ok(()) => Ok(cg),
            Err(e) => {
                cg.remove_made();
                Err(e)
            }
        }
    }

    /// Makes the directories of `planned`, enables controllers and writes the limits.
    fn build(&mut self, planned: &[Planned], limits: &Limits) -> Result<(), String> {
        for p in planned {
            self.dirs.push(Dir { path: String::new(), v2: p.v2, controllers: p.controllers.clone(), made: Vec::new() });
            let Some(dir) = self.dirs.last_mut() else { continue };
            let root = Path::new(&p.point);
            match make_dirs(root, &self.path, &mut dir.made) {
                Ok(leaf) => dir.path = leaf.to_string_lossy().into_owned(),
                Err(e) if p.optional => {
                    tracing::warn!("{e}; not using the cgroup2 hierarchy");
                    let unused = self.dirs.pop();
                    Self::remove_list(unused.iter().flat_map(|d| d.made.iter().rev()), false);
                    continue;
                }
                Err(e) => return Err(e),
            }
            if p.v2 {
                enable_v2(dir, root, limits)?;
            } else if dir.serves(Ctl::Cpuset) {
                cpuset_v1_prepare(root, Path::new(&dir.path))?;
            }
        }
        self.apply(limits)
    }

    /// Writes `limits` into the directories serving each controller.
    fn apply(&self, limits: &Limits) -> Result<(), String> {
        if let Some(d) = self.dir_with(Ctl::Memory) {
            if d.v2 {
                memory_v2(d, limits)?
            } else {
                memory_v1(d, limits)?
            }
        }
        if let Some(d) = self.dir_with(Ctl::Cpu) {
            if d.v2 {
                cpu_v2(d, limits)?
            } else {
                cpu_v1(d, limits)?
            }
        }
        if let (Some(d), Some(cpus)) = (self.dir_with(Ctl::Cpuset), cpuset_cpus(limits)) {
            write_file(&d.file("cpuset.cpus"), cpus)?;
        }
        if let (Some(d), Some(pids)) = (self.dir_with(Ctl::Pids), limits.pids) {
            let value = if pids <= 0 { "max".to_owned() } else { pids.to_string() };
            write_file(&d.file("pids.max"), &value)?;
        }
        Ok(())
    }

    /// The directory serving `ctl` (v1 hierarchies before cgroup2), if any.
    fn dir_with(&self, ctl: Ctl) -> Option<&Dir> {
        let mut dirs = self.dirs.iter().filter(|d| !d.path.is_empty());
        let v1 = dirs.clone().find(|d| !d.v2 && d.serves(ctl));
        v1.or_else(|| dirs.find(|d| d.v2 && d.serves(ctl)))
    }

    /// The cgroup.procs files (one per hierarchy) that a child must write its pid into,
    /// given as CStrings so that a pre_exec closure can open and write them with only
    /// async-signal-safe calls (writing "0" to cgroup.procs moves the writing process).
    pub fn procs_files(&self) -> Vec<CString> {
        self.dirs
            .iter()
            .filter_map(|d| CString::new(d.file("cgroup.procs").to_string_lossy().into_owned()).ok())
            .collect()
    }

    /// Moves process `pid` into the cgroup in every hierarchy (the runtime itself puts its
    /// sentry in through [`Cgroup::procs_files`] before it runs).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn add(&self, pid: i32) -> Result<(), String> {
        self.dirs.iter().try_for_each(|d| write_file(&d.file("cgroup.procs"), &pid.to_string()))
    }

    /// Every pid in the cgroup (from cgroup.procs of the first hierarchy; sorted,
    /// deduplicated).
    pub fn pids(&self) -> Vec<i32> {
        let mut pids = self.dirs.first().map(|d| read_procs(&d.file("cgroup.procs"))).unwrap_or_default();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Freezes every task: v1 freezer.state FROZEN, waiting until it reads back FROZEN;
    /// cgroup2 cgroup.freeze 1, waiting for "frozen 1" in cgroup.events. Errors if no
    /// freezer is available or the tasks do not freeze in time (they are thawed again).
    pub fn freeze(&self) -> Result<(), String> {
        self.set_frozen(true)
    }

    /// Thaws every task (the reverse of [`Cgroup::freeze`]).
    pub fn thaw(&self) -> Result<(), String> {
        self.set_frozen(false)
    }

    /// Whether the cgroup is frozen (false if there is no freezer).
    pub fn is_frozen(&self) -> bool {
        self.dir_with(Ctl::Freezer).is_some_and(|d| frozen_state(d) == Some(true))
    }

    /// Requests the frozen (`on`) or thawed state and waits for the kernel to reach it.
    fn set_frozen(&self, on: bool) -> Result<(), String> {
        let dir = self
            .dir_with(Ctl::Freezer)
            .ok_or_else(|| format!("cgroup {}: no freezer (neither a v1 freezer hierarchy nor cgroup2)", self.path))?;
        let (file, value) = match (dir.v2, on) {
            (false, true) => ("freezer.state", "FROZEN"),
            (false, false) => ("freezer.state", "THAWED"),
            (true, true) => ("cgroup.freeze", "1"),
            (true, false) => ("cgroup.freeze", "0"),
        };
        let deadline = Instant::now() + FREEZE_WAIT;
        let mut pause = Duration::from_millis(1);
        write_file(&dir.file(file), value)?;
        loop {
            if frozen_state(dir) == Some(on) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                if on {
                    let _ = write_file(&dir.file(file), if dir.v2 { "0" } else { "THAWED" });
                }
                return Err(format!(
                    "cgroup {}: did not become {value} within {}s",
                    dir.file(file).display(),
                    FREEZE_WAIT.as_secs()
                ));
            }
            sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
            // v1 may stop at FREEZING while a task cannot be frozen yet; writing FROZEN
            // again retries it. cgroup2 keeps trying by itself.
            if !dir.v2 {
                write_file(&dir.file(file), value)?;
            }
        }
    }

    /// Statistics for `events --stats`, in runc's JSON shape where we have them:
    /// `{"cpu":{"usage":{"total":ns,"kernel":ns,"user":ns,..},"throttling":{..}},
    /// "memory":{"usage":{"usage":bytes,"limit":..,"max":..,"failcnt":..},"swap":{..},"cache":..,"raw":{..}},
    /// "pids":{"current":n,"limit":n}}` (a pids limit of 0 means unlimited).
    pub fn stats(&self) -> Value {
        let mut out = Map::new();
        if let Some(cpu) = self.cpu_stats() {
            out.insert("cpu".to_owned(), cpu);
        }
        if let Some(memory) = self.dir_with(Ctl::Memory).map(memory_stats) {
            out.insert("memory".to_owned(), memory);
        }
        if let Some(d) = self.dir_with(Ctl::Pids) {
            let limit = read_u64(&d.file("pids.max")).map(|l| if l == u64::MAX { 0 } else { l });
            let pids = object(&[("current", read_u64(&d.file("pids.current"))), ("limit", limit)]);
            out.insert("pids".to_owned(), Value::Object(pids));
        }
        Value::Object(out)
    }

    /// The "cpu" part of [`Cgroup::stats`].
    fn cpu_stats(&self) -> Option<Value> {
        let mut cpu = Map::new();
        if let Some(d) = self.dir_with(Ctl::Cpuacct) {
            cpu.insert("usage".to_owned(), Value::Object(cpu_usage(d)));
        }
        if let Some(d) = self.dir_with(Ctl::Cpu) {
            let stat = read_keyed(&d.file("cpu.stat"));
            let get = |k: &str| stat.get(k).and_then(Value::as_u64);
            let time = if d.v2 { get("throttled_usec").map(|t| t.saturating_mul(1000)) } else { get("throttled_time") };
            let throttling = object(&[
                ("periods", get("nr_periods")),
                ("throttled_periods", get("nr_throttled")),
                ("throttled_time", time),
            ]);
            if !throttling.is_empty() {
                cpu.insert("throttling".to_owned(), Value::Object(throttling));
            }
        }
        (!cpu.is_empty()).then_some(Value::Object(cpu))
    }

    /// Kills every process left (SIGKILL, thawing first if frozen), waits up to ~2 s for
    /// the cgroup to empty, then removes its directories, child first: the container's own
    /// directory always (a leftover of an earlier run is reused by `create`), its parents
    /// only if `create` made them and they are empty. Idempotent; never panics; logs what it
    /// could not remove.
    pub fn destroy(&self) {
        if self.is_frozen() {
            if let Err(e) = self.thaw() {
                tracing::warn!("{e}");
            }
        }
        let deadline = Instant::now() + DESTROY_WAIT;
        self.kill_all(deadline);
        self.remove_dirs(deadline);
    }

    /// SIGKILLs the cgroup's processes until none is left or `deadline` passes.
    fn kill_all(&self, deadline: Instant) {
        // Never kill ourselves, should the runtime have been put into the cgroup.
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        loop {
            let mut pids: Vec<i32> =
                self.dirs.iter().flat_map(|d| read_procs(&d.file("cgroup.procs"))).filter(|&p| p != me).collect();
            pids.sort_unstable();
            pids.dedup();
            if pids.is_empty() {
                return;
            }
            pids.iter().copied().for_each(sigkill);
            if Instant::now() >= deadline {
                tracing::warn!("cgroup {}: processes {pids:?} are still in it", self.path);
                return;
            }
            sleep(Duration::from_millis(10));
        }
    }

    /// Removes the container's directories (retrying while busy until `deadline`) and then
    /// the parents `create` made.
    fn remove_dirs(&self, deadline: Instant) {
        for d in self.dirs.iter().filter(|d| !d.path.is_empty()) {
            loop {
                match remove_dir(&d.path) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                        sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        tracing::warn!("cgroup {}: rmdir: {e}", d.path);
                        break;
                    }
                }
            }
        }
        let parents = self.dirs.iter().flat_map(|d| d.made.iter().rev().filter(move |m| **m != d.path));
        Self::remove_list(parents, true);
    }

    /// Removes the directories `create` made (used when it fails).
    fn remove_made(&self) {
        Self::remove_list(self.dirs.iter().flat_map(|d| d.made.iter().rev()), false);
    }

    /// rmdir each of `dirs` (children before parents). A busy or non-empty directory is
    /// left silently when `shared` (a parent other containers may use), else logged.
    fn remove_list<'a>(dirs: impl Iterator<Item = &'a String>, shared: bool) {
        for dir in dirs {
            match remove_dir(dir) {
                Ok(()) => {}
                Err(e) if shared && matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {}
                Err(e) => tracing::warn!("cgroup {dir}: rmdir: {e}"),
            }
        }
    }
}

/// Enables the planned controllers of cgroup2 directory `dir` (below `root`) in its
/// ancestors. A controller that cannot be enabled is an error if a limit needs it, and is
/// otherwise dropped from `dir.controllers` with a warning.
fn enable_v2(dir: &mut Dir, root: &Path, limits: &Limits) -> Result<(), String> {
    let leaf = PathBuf::from(&dir.path);
    let mut parents: Vec<PathBuf> =
        leaf.ancestors().skip(1).take_while(|p| p.starts_with(root)).map(Path::to_path_buf).collect();
    parents.reverse();
    for name in std::mem::take(&mut dir.controllers) {
        match enable_controller(&parents, &name) {
            Ok(()) => dir.controllers.push(name),
            Err(e) => match Ctl::from_name(&name).and_then(|c| c.needed_by(limits)) {
                Some(field) => return Err(format!("{e} (linux.resources.{field} needs the {name} controller)")),
                None => tracing::warn!("{e}; not using the {name} controller"),
            },
        }
    }
    Ok(())
}

/// Writes the v1 memory limits (memory.limit_in_bytes, memory.memsw.limit_in_bytes).
fn memory_v1(dir: &Dir, limits: &Limits) -> Result<(), String> {
    let mem = limits.memory.filter(|&v| v != 0);
    let memsw_file = dir.file("memory.memsw.limit_in_bytes");
    let swap = limits.memory_swap.filter(|&v| v != 0);
    let swap = match swap {
        Some(s) if !memsw_file.exists() => {
            tracing::warn!("cgroup {}: swap accounting is off; ignoring memory.swap {s}", dir.path);
            None
        }
        s => s,
    };
    let mem_file = dir.file("memory.limit_in_bytes");
    let write_mem = || mem.map_or(Ok(()), |m| write_file(&mem_file, &m.to_string()));
    let write_swap = || swap.map_or(Ok(()), |s| write_file(&memsw_file, &s.to_string()));
    // The kernel keeps memsw >= limit at every step, so a limit above the current memsw
    // (or unlimited) can only be written after memsw was raised.
    let current_memsw = swap.and_then(|_| read_u64(&memsw_file));
    let raise_first = match (mem, current_memsw) {
        (Some(m), Some(cur)) => m < 0 || u64::try_from(m).is_ok_and(|m| m > cur),
        _ => false,
    };
    if raise_first {
        write_swap()?;
        write_mem()
    } else {
        write_mem()?;
        write_swap()
    }
}

/// Writes the cgroup2 memory limits (memory.max, memory.swap.max). OCI's swap value is
/// memory plus swap; cgroup2 limits swap alone.
fn memory_v2(dir: &Dir, limits: &Limits) -> Result<(), String> {
    let max = |v: i64| if v < 0 { "max".to_owned() } else { v.to_string() };
    let mem = limits.memory.filter(|&v| v != 0);
    if let Some(m) = mem {
        write_file(&dir.file("memory.max"), &max(m))?;
    }
    let Some(total) = limits.memory_swap.filter(|&v| v != 0) else { return Ok(()) };
    let swap = match mem {
        _ if total < 0 => -1,
        Some(m) if m > 0 && total < m => {
            return Err(format!("cgroup {}: memory.swap {total} is below memory.limit {m}", dir.path));
        }
        Some(m) if m > 0 => total - m,
        _ => total,
    };
    let file = dir.file("memory.swap.max");
    if !file.exists() {
        tracing::warn!("cgroup {}: swap accounting is off; ignoring memory.swap {total}", dir.path);
        return Ok(());
    }
    write_file(&file, &max(swap))
}

/// Writes the v1 cpu limits (cpu.shares, cpu.cfs_period_us, then cpu.cfs_quota_us).
fn cpu_v1(dir: &Dir, limits: &Limits) -> Result<(), String> {
    if let Some(shares) = limits.cpu_shares.filter(|&v| v != 0) {
        write_file(&dir.file("cpu.shares"), &shares.to_string())?;
    }
    if let Some(period) = limits.cpu_period.filter(|&v| v != 0) {
        write_file(&dir.file("cpu.cfs_period_us"), &period.to_string())?;
    }
    if let Some(quota) = limits.cpu_quota.filter(|&v| v != 0) {
        write_file(&dir.file("cpu.cfs_quota_us"), &quota.max(-1).to_string())?;
    }
    Ok(())
}

/// Writes the cgroup2 cpu limits (cpu.weight, cpu.max "quota period").
fn cpu_v2(dir: &Dir, limits: &Limits) -> Result<(), String> {
    if let Some(shares) = limits.cpu_shares.filter(|&v| v != 0) {
        write_file(&dir.file("cpu.weight"), &shares_to_weight(shares).to_string())?;
    }
    let quota = limits.cpu_quota.filter(|&v| v != 0);
    let period = limits.cpu_period.filter(|&v| v != 0);
    if quota.is_none() && period.is_none() {
        return Ok(());
    }
    // Keep whichever half was not asked for.
    let file = dir.file("cpu.max");
    let current = read_file(&file)?;
    let mut parts = current.split_whitespace();
    let (cur_quota, cur_period) =
        (parts.next().unwrap_or("max").to_owned(), parts.next().unwrap_or("100000").to_owned());
    let quota = quota.map_or(cur_quota, |q| if q < 0 { "max".to_owned() } else { q.to_string() });
    let period = period.map_or(cur_period, |p| p.to_string());
    write_file(&file, &format!("{quota} {period}"))
}

/// What the freezer of `dir` reports: Some(true) frozen, Some(false) thawed, None while
/// changing or unreadable.
fn frozen_state(dir: &Dir) -> Option<bool> {
    if dir.v2 {
        let events = fs::read_to_string(dir.file("cgroup.events")).ok()?;
        let frozen = events.lines().find_map(|l| l.strip_prefix("frozen "))?;
        Some(frozen.trim() == "1")
    } else {
        match fs::read_to_string(dir.file("freezer.state")).ok()?.trim() {
            "FROZEN" => Some(true),
            "THAWED" => Some(false),
            _ => None,
        }
    }
}

/// The "cpu.usage" part of the statistics, in nanoseconds.
fn cpu_usage(dir: &Dir) -> Map<String, Value> {
    if dir.v2 {
        let stat = read_keyed(&dir.file("cpu.stat"));
        let ns = |k: &str| stat.get(k).and_then(Value::as_u64).map(|us| us.saturating_mul(1000));
        return object(&[("total", ns("usage_usec")), ("kernel", ns("system_usec")), ("user", ns("user_usec"))]);
    }
    let ticks = read_keyed(&dir.file("cpuacct.stat"));
    let from_ticks = |k: &str| ticks.get(k).and_then(Value::as_u64).map(|t| t.saturating_mul(NANOS_PER_USER_HZ_TICK));
    let kernel = read_u64(&dir.file("cpuacct.usage_sys")).or_else(|| from_ticks("system"));
    let user = read_u64(&dir.file("cpuacct.usage_user")).or_else(|| from_ticks("user"));
    let mut usage = object(&[("total", read_u64(&dir.file("cpuacct.usage"))), ("kernel", kernel), ("user", user)]);
    let percpu: Vec<Value> = fs::read_to_string(dir.file("cpuacct.usage_percpu"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse::<u64>().ok().map(Value::from))
        .collect();
    if !percpu.is_empty() {
        usage.insert("percpu_usage".to_owned(), Value::Array(percpu));
    }
    usage
}

/// The "memory" part of the statistics. "swap" is memory plus swap, as in v1.
fn memory_stats(dir: &Dir) -> Value {
    let f = |name: &str| read_u64(&dir.file(name));
    let raw = read_keyed(&dir.file("memory.stat"));
    let stat = |k: &str| raw.get(k).and_then(Value::as_u64);
    let mut out = Map::new();
    let entry = |usage, max, limit, failcnt| {
        Value::Object(object(&[("usage", usage), ("max", max), ("limit", limit), ("failcnt", failcnt)]))
    };
    if dir.v2 {
        let failcnt = read_keyed(&dir.file("memory.events")).get("max").and_then(Value::as_u64);
        let (usage, limit) = (f("memory.current"), f("memory.max"));
        out.insert("usage".to_owned(), entry(usage, f("memory.peak"), limit, failcnt));
        if let (Some(su), Some(sl)) = (f("memory.swap.current"), f("memory.swap.max")) {
            let plus = |a: Option<u64>, b: u64| a.map(|a| a.saturating_add(b));
            out.insert("swap".to_owned(), entry(plus(usage, su), None, plus(limit, sl), None));
        }
        if let Some(cache) = stat("file") {
            out.insert("cache".to_owned(), Value::from(cache));
        }
    } else {
        for (key, prefix) in [("usage", "memory."), ("swap", "memory.memsw."), ("kernel", "memory.kmem.")] {
            let usage = f(&format!("{prefix}usage_in_bytes"));
            if usage.is_none() {
                continue;
            }
            let max = f(&format!("{prefix}max_usage_in_bytes"));
            let limit = f(&format!("{prefix}limit_in_bytes"));
            out.insert(key.to_owned(), entry(usage, max, limit, f(&format!("{prefix}failcnt"))));
        }
        if let Some(cache) = stat("total_cache").or_else(|| stat("cache")) {
            out.insert("cache".to_owned(), Value::from(cache));
        }
    }
    if !raw.is_empty() {
        out.insert("raw".to_owned(), Value::Object(raw));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Deref;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, Command};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
90 23 0:32 / /mnt/mem\\040copy rw,relatime - cgroup cgroup rw,memory
";

    const PURE_V2: &str = "\
26 23 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
27 22 0:5 / /proc rw - proc proc rw
";

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_hybrid_mountinfo() {
        let m = parse_mountinfo(HYBRID);
        let points: Vec<&str> = m.iter().map(|m| m.point.as_str()).collect();
        assert_eq!(
            points,
            [
                "/sys/fs/cgroup/cpu,cpuacct",
                "/sys/fs/cgroup/cpuset",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/freezer",
                "/sys/fs/cgroup/pids",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/unified",
            ]
        );
        assert_eq!(m[0].controllers, strings(&["cpu", "cpuacct"]));
        assert_eq!(m[1].controllers, strings(&["cpuset"]));
        assert_eq!(m[5].controllers, strings(&["name=systemd"]));
        assert!(m[6].v2 && m[6].controllers.is_empty());
        assert!(m[..6].iter().all(|m| !m.v2));
    }

    #[test]
    fn parses_pure_v2_mountinfo_and_escapes() {
        let m = parse_mountinfo(PURE_V2);
        assert_eq!(m, [Mount { point: "/sys/fs/cgroup".into(), v2: true, controllers: vec![] }]);
        assert_eq!(unescape_octal(r"/a\040b\011c\134d\0"), "/a b\tc\\d\\0");
    }

    #[test]
    fn plans_hybrid_hierarchies() {
        let mounts = parse_mountinfo(HYBRID);
        let limits = Limits { memory: Some(1 << 26), ..Limits::default() };
        let p = plan(&mounts, &strings(&["hugetlb"]), &limits).unwrap();
        let points: Vec<&str> = p.iter().map(|p| p.point.as_str()).collect();
        // No cpuset directory unless a cpuset is asked for; cpu and cpuacct share one.
        assert_eq!(
            points,
            [
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/cpu,cpuacct",
                "/sys/fs/cgroup/pids",
                "/sys/fs/cgroup/freezer",
                "/sys/fs/cgroup/unified",
            ]
        );
        let last = &p[4];
        assert!(last.v2 && last.optional && last.controllers.is_empty());

        let limits = Limits { cpuset_cpus: Some("0".into()), ..Limits::default() };
        let p = plan(&mounts, &[], &limits).unwrap();
        assert!(p.iter().any(|p| p.point == "/sys/fs/cgroup/cpuset"));
    }

    #[test]
    fn plans_pure_v2_controllers() {
        let mounts = parse_mountinfo(PURE_V2);
        let available = strings(&["cpuset", "cpu", "io", "memory", "pids"]);
        let p = plan(&mounts, &available, &Limits::default()).unwrap();
        assert_eq!(
            p,
            [Planned {
                point: "/sys/fs/cgroup".into(),
                v2: true,
                controllers: strings(&["memory", "cpu", "pids"]),
                optional: false
            }]
        );
        let limits = Limits { cpuset_cpus: Some("0-1".into()), ..Limits::default() };
        let p = plan(&mounts, &available, &limits).unwrap();
        assert_eq!(p[0].controllers, strings(&["memory", "cpu", "pids", "cpuset"]));
    }

    #[test]
    fn missing_controller_is_an_error_only_when_a_limit_needs_it() {
        let mounts = parse_mountinfo(PURE_V2);
        let available = strings(&["memory"]);
        let unlimited = Limits { pids: Some(-1), memory: Some(-1), ..Limits::default() };
        assert!(plan(&mounts, &available, &unlimited).is_ok());
        let e = plan(&mounts, &available, &Limits { pids: Some(10), ..Limits::default() }).unwrap_err();
        assert!(e.contains("pids controller") && e.contains("pids.limit"), "{e}");
        let e = plan(&mounts, &available, &Limits { cpu_quota: Some(5000), ..Limits::default() }).unwrap_err();
        assert!(e.contains("cpu controller"), "{e}");
        let e = plan(&[], &[], &Limits::default()).unwrap_err();
        assert!(e.contains("no cgroup hierarchy"), "{e}");
    }

    #[test]
    fn resolves_cgroups_paths() {
        assert_eq!(resolve_path(None, "abc").unwrap(), "/sandbox/abc");
        assert_eq!(resolve_path(Some(""), "abc").unwrap(), "/sandbox/abc");
        assert_eq!(resolve_path(Some("/a//b/./c/"), "x").unwrap(), "/a/b/c");
        assert_eq!(resolve_path(Some("a/b"), "x").unwrap(), "/a/b");
        assert!(resolve_path(Some("/a/../b"), "x").is_err());
        assert!(resolve_path(Some("/"), "x").is_err());
        assert!(resolve_path(None, "a/b").is_err());
        assert!(resolve_path(None, "").is_err());
    }

    #[test]
    fn maps_systemd_paths() {
        let r = |p| resolve_path(Some(p), "x");
        assert_eq!(
            r("kubepods-besteffort-pod1.slice:cri-containerd:abc").unwrap(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope"
        );
        assert_eq!(r("system.slice:docker:abc").unwrap(), "/system.slice/docker-abc.scope");
        assert_eq!(r(":docker:abc").unwrap(), "/system.slice/docker-abc.scope");
        assert_eq!(r("-.slice::abc").unwrap(), "/abc.scope");
        assert_eq!(r("user.slice:p:my-sub.slice").unwrap(), "/my.slice/my-sub.slice");
        assert!(r("bad:p:abc").is_err());
        assert!(r("a--b.slice:p:abc").is_err());
        assert!(r("a.slice:p:").is_err());
        // An absolute path with colons is a plain path.
        assert_eq!(r("/a:b:c").unwrap(), "/a:b:c");
    }

    #[test]
    fn converts_shares_to_weight() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(0), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1 << 40), 10_000);
    }

    // ---- Tests against this host's cgroups (they need root). ----

    /// A name no other test (or test run) uses.
    fn unique(tag: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        format!("cgtest-{}-{tag}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
    }

    /// Destroys the cgroup however the test ends.
    struct Guard(Cgroup);

    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.destroy();
        }
    }

    impl Deref for Guard {
        type Target = Cgroup;
        fn deref(&self) -> &Cgroup {
            &self.0
        }
    }

    /// A `sleep` child, killed and reaped however the test ends.
    struct Sleeper(Child);

    impl Sleeper {
        fn spawn() -> Sleeper {
            Sleeper(Command::new("sleep").arg("1000").spawn().expect("spawn sleep"))
        }
        fn pid(&self) -> i32 {
            i32::try_from(self.0.id()).unwrap()
        }
    }

    impl Drop for Sleeper {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Creates a cgroup, failing loudly if the host does not let us.
    fn create(path: Option<&str>, id: &str, limits: &Limits) -> Guard {
        match Cgroup::create(path, id, limits) {
            Ok(cg) => Guard(cg),
            Err(e) => panic!("these tests need root and a writable /sys/fs/cgroup (cgroup v1 or v2): {e}"),
        }
    }

    /// The trimmed contents of the file serving `ctl`: `v1` or `v2` by hierarchy.
    fn limit_file(cg: &Cgroup, ctl: Ctl, v1: &str, v2: &str) -> String {
        let d = cg.dir_with(ctl).unwrap_or_else(|| panic!("no {} directory in {cg:?}", ctl.name()));
        let file = d.file(if d.v2 { v2 } else { v1 });
        read_file(&file).unwrap().trim().to_owned()
    }

    /// Every cgroup mount point on this host.
    fn mount_points() -> Vec<String> {
        parse_mountinfo(&fs::read_to_string(MOUNTINFO).unwrap()).into_iter().map(|m| m.point).collect()
    }

    /// The state letter in /proc/PID/stat.
    fn proc_state(pid: i32) -> char {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after_comm = stat.rsplit_once(") ").unwrap().1;
        after_comm.chars().next().unwrap()
    }

    fn assert_gone(cg: &Cgroup) {
        for d in &cg.dirs {
            assert!(!Path::new(&d.path).exists(), "{} was left behind", d.path);
            for m in &d.made {
                assert!(!Path::new(m).exists(), "{m} was left behind");
            }
        }
    }

    #[test]
    fn host_lifecycle() {
        let id = unique("life");
        let limits = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            cpuset_cpus: Some("0".into()),
            pids: Some(64),
        };
        let cg = create(None, &id, &limits);
        assert_eq!(cg.path, format!("/sandbox/{id}"));
        for d in &cg.dirs {
            assert!(d.path.ends_with(&format!("/sandbox/{id}")) && Path::new(&d.path).is_dir(), "{d:?}");
        }
        assert!(cg.dirs.iter().any(|d| d.v2) || !mount_points().is_empty());

        assert_eq!(limit_file(&cg, Ctl::Memory, "memory.limit_in_bytes", "memory.max"), (64 << 20).to_string());
        let swap_v1 = cg.dir_with(Ctl::Memory).unwrap().file("memory.memsw.limit_in_bytes");
        if !cg.dir_with(Ctl::Memory).unwrap().v2 && swap_v1.exists() {
            assert_eq!(read_file(&swap_v1).unwrap().trim(), (128 << 20).to_string());
        }
        let cpu_v2 = cg.dir_with(Ctl::Cpu).unwrap().v2;
        assert_eq!(limit_file(&cg, Ctl::Cpu, "cpu.shares", "cpu.weight"), if cpu_v2 { "20" } else { "512" });
        if cpu_v2 {
            assert_eq!(limit_file(&cg, Ctl::Cpu, "", "cpu.max"), "50000 100000");
        } else {
            assert_eq!(limit_file(&cg, Ctl::Cpu, "cpu.cfs_period_us", ""), "100000");
            assert_eq!(limit_file(&cg, Ctl::Cpu, "cpu.cfs_quota_us", ""), "50000");
        }
        assert_eq!(limit_file(&cg, Ctl::Cpuset, "cpuset.cpus", "cpuset.cpus"), "0");
        assert_eq!(limit_file(&cg, Ctl::Pids, "pids.max", "pids.max"), "64");

        // A process joins every hierarchy.
        let mut child = Sleeper::spawn();
        cg.add(child.pid()).unwrap();
        assert_eq!(cg.pids(), [child.pid()]);
        let files = cg.procs_files();
        assert_eq!(files.len(), cg.dirs.len());
        for f in &files {
            let path = f.to_str().unwrap();
            assert!(path.ends_with("/cgroup.procs"));
            assert_eq!(read_procs(Path::new(path)), [child.pid()], "{path}");
        }

        let stats = cg.stats();
        assert_eq!(stats["pids"]["current"], 1, "{stats}");
        assert_eq!(stats["pids"]["limit"], 64, "{stats}");
        assert!(stats["memory"]["usage"]["usage"].is_u64(), "{stats}");
        assert_eq!(stats["memory"]["usage"]["limit"], 64 << 20, "{stats}");
        assert!(stats["cpu"]["usage"]["total"].is_u64(), "{stats}");

        // Freeze and thaw.
        assert!(!cg.is_frozen());
        cg.freeze().unwrap();
        assert!(cg.is_frozen());
        assert!(!matches!(proc_state(child.pid()), 'S' | 'R'), "state {}", proc_state(child.pid()));
        let fz = cg.dir_with(Ctl::Freezer).unwrap();
        if fz.v2 {
            assert_eq!(read_file(&fz.file("cgroup.freeze")).unwrap().trim(), "1");
        } else {
            assert_eq!(read_file(&fz.file("freezer.state")).unwrap().trim(), "FROZEN");
        }
        cg.thaw().unwrap();
        assert!(!cg.is_frozen());

        // Destroy kills the child (even when frozen) and removes everything.
        cg.freeze().unwrap();
        cg.destroy();
        let status = child.0.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_gone(&cg);
        cg.destroy(); // idempotent
        assert!(cg.pids().is_empty());
    }

    #[test]
    fn host_v2_freezer_and_stats() {
        let full = create(Some(&format!("/{}", unique("v2"))), "x", &Limits::default());
        let Some(v2) = full.dirs.iter().find(|d| d.v2) else {
            eprintln!("no cgroup2 hierarchy on this host; nothing to check");
            return;
        };
        // The same cgroup seen through its cgroup2 directory only, as on a pure v2 host.
        let cg = Cgroup { path: full.path.clone(), dirs: vec![v2.clone()] };
        let mut child = Sleeper::spawn();
        full.add(child.pid()).unwrap();
        assert_eq!(cg.pids(), [child.pid()]);
        cg.freeze().unwrap();
        assert!(cg.is_frozen());
        assert_eq!(read_file(&v2.file("cgroup.freeze")).unwrap().trim(), "1");
        cg.thaw().unwrap();
        assert!(!cg.is_frozen());
        assert!(cg.stats()["cpu"]["usage"]["total"].is_u64(), "{}", cg.stats());
        cg.freeze().unwrap();
        cg.destroy();
        assert_eq!(child.0.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert!(!Path::new(&v2.path).exists());
    }

    #[test]
    fn host_systemd_path() {
        let top = unique("sd").replace('-', "_");
        let slice = format!("{top}-inner.slice");
        let cg = create(Some(&format!("{slice}:sbx:ctr")), "ignored", &Limits::default());
        let want = format!("/{top}.slice/{top}-inner.slice/sbx-ctr.scope");
        assert_eq!(cg.path, want);
        for d in &cg.dirs {
            assert!(d.path.ends_with(&want) && Path::new(&d.path).is_dir(), "{d:?}");
            assert_eq!(d.made.len(), 3, "{d:?}");
        }
        cg.destroy();
        assert_gone(&cg);
    }

    #[test]
    fn host_invalid_value_names_the_file_and_leaves_nothing() {
        let top = unique("bad");
        // The kernel refuses a CFS period under 1 ms.
        let limits = Limits { cpu_period: Some(100), memory: Some(32 << 20), ..Limits::default() };
        let e = Cgroup::create(Some(&format!("/{top}/leaf")), "x", &limits).unwrap_err();
        assert!(e.contains("cpu.cfs_period_us: write 100") || e.contains("cpu.max: write"), "{e}");
        assert!(e.contains(&format!("/{top}/leaf/")), "{e}");
        assert!(e.contains("Invalid argument"), "{e}");
        for point in mount_points() {
            let dir = Path::new(&point).join(&top);
            assert!(!dir.exists(), "{} was left behind", dir.display());
        }
    }

    #[test]
    fn host_reuse_and_saved_state() {
        let path = format!("/{}", unique("reuse"));
        let limits = Limits { pids: Some(10), ..Limits::default() };
        let first = create(Some(&path), "x", &limits);
        // Creating it again reuses the directories and rewrites the limits.
        let again = Cgroup::create(Some(&path), "x", &Limits { pids: Some(20), ..Limits::default() }).unwrap();
        assert!(again.dirs.iter().all(|d| d.made.is_empty()));
        assert_eq!(limit_file(&again, Ctl::Pids, "pids.max", "pids.max"), "20");

        // The saved state reopens the same cgroup, which can destroy it.
        let json = serde_json::to_string(&first.0).unwrap();
        let reopened: Cgroup = serde_json::from_str(&json).unwrap();
        assert_eq!(reopened, first.0);
        let child = Sleeper::spawn();
        reopened.add(child.pid()).unwrap();
        assert_eq!(first.pids(), [child.pid()]);
        reopened.destroy();
        assert_gone(&first);
    }
}
