//! The bundle's `config.json`: the part of the OCI runtime specification a container runtime
//! acts on, read with serde, checked by [`Spec::validate`], plus what `sandbox spec` writes
//! ([`default_spec`]) and what `sandbox features` prints ([`features`]).
//!
//! Parsing is lenient where the format allows it: unknown fields (Docker, Podman and
//! Kubernetes write many we do not use) are ignored, every field may be missing, and a `null`
//! list or map reads as empty. What the runtime cannot do without is then checked by
//! [`Spec::validate`], whose errors start with the JSON path of the offending field, such as
//! `process.args: must not be empty` or `mounts[2].destination: must be an absolute path`.
//!
//! Serialisation leaves out empty and absent fields, so a written spec has no `null`s and looks
//! like what other runtimes write.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

/// The runtime-spec version [`default_spec`] writes, and the newest one we claim to support.
pub const OCI_VERSION: &str = "1.1.0";

/// The oldest runtime-spec version we claim to support (in [`features`]).
pub const OCI_VERSION_MIN: &str = "1.0.0";

/// The namespace types `linux.namespaces[].type` may name.
pub const NAMESPACES: [&str; 8] = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"];

/// The lifecycle hooks `hooks` may hold, by their JSON names.
pub const HOOKS: [&str; 6] =
    ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

/// The Linux capabilities, each at the index of its number (`CAP_CHOWN` is 0).
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The flag-style mount options we accept in `mounts[].options` (listed by [`features`]).
/// Other options, such as `mode=755` or `size=64k`, are passed to the filesystem as data.
pub const MOUNT_OPTIONS: [&str; 41] = [
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

/// The values `linux.rootfsPropagation` may take.
const ROOTFS_PROPAGATIONS: [&str; 8] =
    ["shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable"];

/// The whole `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Spec {
    /// The runtime-spec version the file follows, such as `1.0.2-dev`.
    pub oci_version: String,
    /// The container's first process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// The root filesystem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    /// The container's hostname (needs a UTS namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Mounts made on top of the root filesystem, in order.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub mounts: Vec<Mount>,
    /// Programs run at points of the container's life.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    /// Free-form key/value metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    /// The Linux-specific settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
}

/// `process`: what runs in the container, and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Process {
    /// Whether the process gets a pseudo-terminal.
    #[serde(skip_serializing_if = "is_false")]
    pub terminal: bool,
    /// The terminal's initial size, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<ConsoleSize>,
    /// Who it runs as.
    #[serde(deserialize_with = "null_as_default")]
    pub user: User,
    /// The program and its arguments (`args[0]` is looked up in the container's PATH).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub args: Vec<String>,
    /// The environment, as `KEY=value` strings.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    /// The working directory, absolute, inside the container.
    pub cwd: String,
    /// The capability sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Resource limits, set with setrlimit.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub rlimits: Vec<Rlimit>,
    /// Whether the process (and its children) may never gain privileges.
    #[serde(skip_serializing_if = "is_false")]
    pub no_new_privileges: bool,
    /// The AppArmor profile (not enforced: the sandbox is the confinement).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    /// The OOM-killer adjustment, -1000 to 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    /// The SELinux label (not enforced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selinux_label: Option<String>,
}

/// `process.consoleSize`: a terminal size in characters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsoleSize {
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
}

/// `process.user`: the ids the process runs with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    /// The user id, in the container's user namespace.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
    /// The file mode creation mask, if not the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    /// Supplementary group ids.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub additional_gids: Vec<u32>,
}

/// `process.capabilities`: capability names (`CAP_…`) in each set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Capabilities {
    /// The bounding set.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub bounding: Vec<String>,
    /// The effective set.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub effective: Vec<String>,
    /// The inheritable set.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub inheritable: Vec<String>,
    /// The permitted set.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub permitted: Vec<String>,
    /// The ambient set.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub ambient: Vec<String>,
}

/// `process.rlimits[]`: one resource limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rlimit {
    /// The resource, such as `RLIMIT_NOFILE` (see [`rlimit_resource`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// The hard limit.
    pub hard: u64,
    /// The soft limit.
    pub soft: u64,
}

/// `root`: the root filesystem.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Root {
    /// The directory, absolute or relative to the bundle (see [`Spec::rootfs`]).
    pub path: String,
    /// Whether the container sees it read-only.
    #[serde(skip_serializing_if = "is_false")]
    pub readonly: bool,
}

/// `mounts[]`: one mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Mount {
    /// Where it goes, an absolute path inside the container.
    pub destination: String,
    /// The filesystem type, such as `proc`, `tmpfs` or `bind` (or `none` for a bind mount).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What is mounted: a host path for bind mounts, a device or a name otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Mount options, flag-style ([`MOUNT_OPTIONS`]) or filesystem data such as `mode=755`.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub options: Vec<String>,
}

impl Mount {
    /// Whether `options` holds `o` exactly.
    pub fn has_option(&self, o: &str) -> bool {
        self.options.iter().any(|x| x == o)
    }
}

/// `hooks`: the programs run at each point of the container's life.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Hooks {
    /// Run after the container's namespaces exist, before pivoting to its root (deprecated by
    /// the spec in favour of the next three, but Docker uses it).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub prestart: Vec<Hook>,
    /// Run in the runtime's namespaces during `create`, after the environment exists.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub create_runtime: Vec<Hook>,
    /// Run in the container's namespaces during `create`, before pivoting to its root.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub create_container: Vec<Hook>,
    /// Run in the container during `start`, before the user's program.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub start_container: Vec<Hook>,
    /// Run after the user's program has started.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub poststart: Vec<Hook>,
    /// Run after the container is deleted.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub poststop: Vec<Hook>,
}

impl Hooks {
    /// Each hook list with its JSON name, in [`HOOKS`] order.
    pub fn lists(&self) -> [(&'static str, &[Hook]); 6] {
        [
            ("prestart", &self.prestart),
            ("createRuntime", &self.create_runtime),
            ("createContainer", &self.create_container),
            ("startContainer", &self.start_container),
            ("poststart", &self.poststart),
            ("poststop", &self.poststop),
        ]
    }
}

/// `hooks.*[]`: one hook program. It gets the container's state as JSON on its stdin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Hook {
    /// The program, an absolute path in the runtime's mount namespace.
    pub path: String,
    /// Its argv, `args[0]` included.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub args: Vec<String>,
    /// Its environment, as `KEY=value` strings.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    /// Seconds after which it is killed and counts as failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

/// `linux`: the Linux-specific settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Linux {
    /// User-id mappings of the user namespace.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub uid_mappings: Vec<IdMapping>,
    /// Group-id mappings of the user namespace.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub gid_mappings: Vec<IdMapping>,
    /// Kernel parameters to set, such as `net.ipv4.ip_forward`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_default")]
    pub sysctl: BTreeMap<String, String>,
    /// Cgroup resource limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// The cgroup: a path (`/docker/ID`) or, for systemd, `slice:prefix:name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    /// Namespaces to create, or to join when `path` is given.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub namespaces: Vec<Namespace>,
    /// Device nodes to create in the container, kept as JSON.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub devices: Vec<serde_json::Value>,
    /// The seccomp profile, kept as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<serde_json::Value>,
    /// Mount propagation of the root: `private`, `rslave`, and so on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootfs_propagation: Option<String>,
    /// Paths made inaccessible in the container.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub masked_paths: Vec<String>,
    /// Paths made read-only in the container.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub readonly_paths: Vec<String>,
    /// The SELinux context of the container's mounts (not enforced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_label: Option<String>,
}

/// `linux.namespaces[]`: one namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Namespace {
    /// The type, one of [`NAMESPACES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// An existing namespace to join (such as `/proc/PID/ns/net`) instead of a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `linux.uidMappings[]` and `linux.gidMappings[]`: one range of ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdMapping {
    /// The first id inside the container.
    #[serde(rename = "containerID")]
    pub container_id: u32,
    /// The id it maps to on the host.
    #[serde(rename = "hostID")]
    pub host_id: u32,
    /// How many ids the range covers.
    pub size: u32,
}

/// `linux.resources`: cgroup limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resources {
    /// Memory limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// CPU limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// Process-count limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
    /// The device cgroup's allow and deny rules, kept as JSON.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub devices: Vec<serde_json::Value>,
}

/// `linux.resources.memory`: in bytes; -1 means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Memory {
    /// The hard limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The soft limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    /// The limit on memory plus swap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
}

/// `linux.resources.cpu`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Cpu {
    /// Relative weight against other cgroups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    /// Microseconds of CPU time allowed per `period` (-1: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    /// The quota's period in microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// The CPUs allowed, as a list such as `0-3,7`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    /// The memory nodes allowed, as a list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mems: Option<String>,
}

/// `linux.resources.pids`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Pids {
    /// The most tasks the cgroup may hold; 0 or less means no limit.
    pub limit: i64,
}

/// Reads `field` as its type's default when the JSON holds `null` (as some generators write
/// for empty lists).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// For `skip_serializing_if` on booleans that are omitted when false.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

/// An I/O error's text without the ` (os error N)` suffix.
fn io_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Reads and checks `BUNDLE/config.json`.
///
/// A missing or unreadable file gives `BUNDLE/config.json: No such file or directory`,
/// malformed JSON `config.json: line L column C: MESSAGE`, and a spec that does not pass
/// [`Spec::validate`] that function's error.
pub fn load(bundle: &Path) -> Result<Spec, String> {
    let path = bundle.join("config.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {}", path.display(), io_message(&e)))?;
    let spec = parse(&text)?;
    spec.validate(bundle)?;
    Ok(spec)
}

/// Parses the text of a `config.json` without checking it; errors read
/// `config.json: line L column C: MESSAGE`.
pub fn parse(text: &str) -> Result<Spec, String> {
    serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full);
        format!("config.json: line {} column {}: {}", e.line(), e.column(), message)
    })
}

/// Whether `p` is an absolute path.
fn is_absolute(p: &str) -> bool {
    p.starts_with('/')
}

impl Spec {
    /// Checks what the runtime spec requires and what we need. The error starts with the JSON
    /// path of the field at fault, e.g. `process.args: must not be empty`,
    /// `root.path: /x/rootfs: No such file or directory`, `process.cwd: must be an absolute
    /// path`.
    pub fn validate(&self, bundle: &Path) -> Result<(), String> {
        self.check_version()?;
        self.check_root(bundle)?;
        let process = self.process.as_ref().ok_or("process: missing")?;
        check_process(process)?;
        for (i, m) in self.mounts.iter().enumerate() {
            if !is_absolute(&m.destination) {
                return Err(format!("mounts[{i}].destination: must be an absolute path"));
            }
        }
        if let Some(hooks) = &self.hooks {
            check_hooks(hooks)?;
        }
        if let Some(linux) = &self.linux {
            check_linux(linux)?;
        }
        Ok(())
    }

    /// `ociVersion` must be present and of major version 1.
    fn check_version(&self) -> Result<(), String> {
        let v = self.oci_version.trim();
        if v.is_empty() {
            return Err("ociVersion: must not be empty".into());
        }
        let major = v.split(['.', '-', '+']).next().unwrap_or(v);
        if major != "1" {
            return Err(format!(
                "ociVersion: unsupported version {v:?} (supported: {OCI_VERSION_MIN} to {OCI_VERSION} and \
                 other 1.x versions)"
            ));
        }
        Ok(())
    }

    /// `root` must be present and name an existing directory.
    fn check_root(&self, bundle: &Path) -> Result<(), String> {
        let root = self.root.as_ref().ok_or("root: missing")?;
        if root.path.is_empty() {
            return Err("root.path: must not be empty".into());
        }
        let dir = self.rootfs(bundle);
        match std::fs::metadata(&dir) {
            Err(e) => Err(format!("root.path: {}: {}", dir.display(), io_message(&e))),
            Ok(md) if !md.is_dir() => Err(format!("root.path: {}: Not a directory", dir.display())),
            Ok(_) => Ok(()),
        }
    }

    /// The root filesystem directory: `root.path`, relative to the bundle if not absolute
    /// (`BUNDLE/rootfs` if there is no `root`, which [`Spec::validate`] rejects).
    pub fn rootfs(&self, bundle: &Path) -> PathBuf {
        let path = self.root.as_ref().map_or("rootfs", |r| r.path.as_str());
        bundle.join(path) // an absolute `path` replaces `bundle`
    }

    /// The process to run.
    ///
    /// # Panics
    ///
    /// If there is none, which [`Spec::validate`] rules out.
    pub fn process(&self) -> &Process {
        self.process.as_ref().expect("config.json has no process (the spec was not validated)")
    }
}

/// The checks on `process`.
fn check_process(p: &Process) -> Result<(), String> {
    if p.args.is_empty() {
        return Err("process.args: must not be empty".into());
    }
    if !is_absolute(&p.cwd) {
        return Err("process.cwd: must be an absolute path".into());
    }
    let mut seen = BTreeSet::new();
    for (i, r) in p.rlimits.iter().enumerate() {
        if rlimit_resource(&r.kind).is_none() {
            let kind = if r.kind.is_empty() { "(empty)" } else { r.kind.as_str() };
            return Err(format!("process.rlimits[{i}].type: unknown {kind}"));
        }
        if !seen.insert(r.kind.as_str()) {
            return Err(format!("process.rlimits[{i}].type: duplicate {}", r.kind));
        }
        if r.soft > r.hard {
            return Err(format!(
                "process.rlimits[{i}]: soft limit {} is above hard limit {}",
                r.soft, r.hard
            ));
        }
    }
    if let Some(adj) = p.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return Err(format!("process.oomScoreAdj: {adj} is outside -1000 to 1000"));
        }
    }
    Ok(())
}

/// The checks on `hooks`.
fn check_hooks(hooks: &Hooks) -> Result<(), String> {
    for (name, list) in hooks.lists() {
        for (i, h) in list.iter().enumerate() {
            if !is_absolute(&h.path) {
                return Err(format!("hooks.{name}[{i}].path: must be an absolute path"));
            }
            if let Some(t) = h.timeout {
                if t <= 0 {
                    return Err(format!("hooks.{name}[{i}].timeout: must be greater than zero"));
                }
            }
        }
    }
    Ok(())
}

/// The checks on `linux`.
fn check_linux(linux: &Linux) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for (i, ns) in linux.namespaces.iter().enumerate() {
        if !NAMESPACES.contains(&ns.kind.as_str()) {
            return Err(format!("linux.namespaces[{i}].type: unknown namespace type {:?}", ns.kind));
        }
        if !seen.insert(ns.kind.as_str()) {
            return Err(format!("linux.namespaces[{i}].type: duplicate namespace type {:?}", ns.kind));
        }
        if let Some(path) = &ns.path {
            if !is_absolute(path) {
                return Err(format!("linux.namespaces[{i}].path: must be an absolute path"));
            }
        }
    }
    for (field, paths) in [("maskedPaths", &linux.masked_paths), ("readonlyPaths", &linux.readonly_paths)] {
        for (i, p) in paths.iter().enumerate() {
            if !is_absolute(p) {
                return Err(format!("linux.{field}[{i}]: must be an absolute path"));
            }
        }
    }
    if let Some(prop) = &linux.rootfs_propagation {
        if !prop.is_empty() && !ROOTFS_PROPAGATIONS.contains(&prop.as_str()) {
            return Err(format!("linux.rootfsPropagation: unknown propagation {prop:?}"));
        }
    }
    Ok(())
}

/// Converts a libc constant (whose type differs between C libraries) to `u32`.
fn to_u32<T: TryInto<u32>>(v: T) -> Option<u32> {
    v.try_into().ok()
}

/// The resource number (for setrlimit) of an `RLIMIT_*` name, or `None` if it is not one.
pub fn rlimit_resource(name: &str) -> Option<u32> {
    match name {
        "RLIMIT_AS" => to_u32(libc::RLIMIT_AS),
        "RLIMIT_CORE" => to_u32(libc::RLIMIT_CORE),
        "RLIMIT_CPU" => to_u32(libc::RLIMIT_CPU),
        "RLIMIT_DATA" => to_u32(libc::RLIMIT_DATA),
        "RLIMIT_FSIZE" => to_u32(libc::RLIMIT_FSIZE),
        "RLIMIT_LOCKS" => to_u32(libc::RLIMIT_LOCKS),
        "RLIMIT_MEMLOCK" => to_u32(libc::RLIMIT_MEMLOCK),
        "RLIMIT_MSGQUEUE" => to_u32(libc::RLIMIT_MSGQUEUE),
        "RLIMIT_NICE" => to_u32(libc::RLIMIT_NICE),
        "RLIMIT_NOFILE" => to_u32(libc::RLIMIT_NOFILE),
        "RLIMIT_NPROC" => to_u32(libc::RLIMIT_NPROC),
        "RLIMIT_RSS" => to_u32(libc::RLIMIT_RSS),
        "RLIMIT_RTPRIO" => to_u32(libc::RLIMIT_RTPRIO),
        "RLIMIT_RTTIME" => to_u32(libc::RLIMIT_RTTIME),
        "RLIMIT_SIGPENDING" => to_u32(libc::RLIMIT_SIGPENDING),
        "RLIMIT_STACK" => to_u32(libc::RLIMIT_STACK),
        _ => None,
    }
}

/// The config.json `sandbox spec` writes: a shell (`sh`) on a terminal, in the read-only
/// `rootfs` directory of the bundle, with the usual kernel filesystems mounted, the usual
/// masked and read-only paths, and new pid, network, ipc, uts, mount and cgroup namespaces.
///
/// `rootless` makes it usable without root: a user namespace mapping root in the container to
/// the current user, no network namespace, the host's `/sys` bind-mounted (sysfs cannot be
/// mounted without a network namespace), no cgroup mount or cgroup limits, and no `uid=` or
/// `gid=` mount options (such ids are not mapped).
pub fn default_spec(rootless: bool) -> Spec {
    let (uid, gid) = if rootless { current_ids() } else { (0, 0) };
    default_spec_for(rootless, uid, gid)
}

/// The effective uid and gid of this process, from `/proc/self/status` (without unsafe
/// code); the owner of `/proc/self` if that cannot be read.
fn current_ids() -> (u32, u32) {
    let effective = |status: &str, key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok())
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    match (effective(&status, "Uid:"), effective(&status, "Gid:")) {
        (Some(u), Some(g)) => (u, g),
        _ => {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self").map_or((0, 0), |m| (m.uid(), m.gid()))
        }
    }
}

/// A mount entry from string slices.
fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Mount {
    Mount {
        destination: destination.into(),
        kind: Some(kind.into()),
        source: Some(source.into()),
        options: strings(options),
    }
}

/// Owned copies of string slices.
fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// [`default_spec`] with the ids a rootless spec maps container root to.
fn default_spec_for(rootless: bool, uid: u32, gid: u32) -> Spec {
    let caps = strings(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let process = Process {
        terminal: true,
        user: User::default(),
        args: strings(&["sh"]),
        env: strings(&["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]),
        cwd: "/".into(),
        capabilities: Some(Capabilities {
            bounding: caps.clone(),
            effective: caps.clone(),
            permitted: caps,
            ..Capabilities::default()
        }),
        rlimits: vec![Rlimit { kind: "RLIMIT_NOFILE".into(), hard: 1024, soft: 1024 }],
        no_new_privileges: true,
        ..Process::default()
    };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
        mount("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", "ro"]),
    ];
    let mut namespaces: Vec<Namespace> = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        .iter()
        .map(|k| Namespace { kind: (*k).into(), path: None })
        .collect();
    let mut linux = Linux {
        resources: Some(Resources {
            devices: vec![json!({"allow": false, "access": "rwm"})],
            ..Resources::default()
        }),
        namespaces: Vec::new(),
        masked_paths: strings(&[
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
        ]),
        readonly_paths: strings(&["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]),
        ..Linux::default()
    };
    if rootless {
        namespaces.retain(|ns| ns.kind != "network");
        namespaces.push(Namespace { kind: "user".into(), path: None });
        linux.uid_mappings = vec![IdMapping { container_id: 0, host_id: uid, size: 1 }];
        linux.gid_mappings = vec![IdMapping { container_id: 0, host_id: gid, size: 1 }];
        linux.resources = None;
        mounts.retain(|m| m.kind.as_deref() != Some("cgroup"));
        for m in &mut mounts {
            if m.destination == "/sys" {
                *m = mount("/sys", "none", "/sys", &["rbind", "nosuid", "noexec", "nodev", "ro"]);
            }
            m.options.retain(|o| !o.starts_with("uid=") && !o.starts_with("gid="));
        }
    }
    linux.namespaces = namespaces;
    Spec {
        oci_version: OCI_VERSION.into(),
        process: Some(process),
        root: Some(Root { path: "rootfs".into(), readonly: true }),
        hostname: Some("sandbox".into()),
        mounts,
        linux: Some(linux),
        ..Spec::default()
    }
}

/// The `sandbox features` document, following the runtime-spec "features" schema: the spec
/// versions, hooks, mount options, namespaces, capabilities, cgroup versions and seccomp
/// support this runtime offers.
pub fn features() -> serde_json::Value {
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION,
        "hooks": HOOKS,
        "mountOptions": &MOUNT_OPTIONS[..],
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": &CAPABILITIES[..],
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW",
                    "SCMP_ACT_ERRNO",
                    "SCMP_ACT_KILL",
                    "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD",
                    "SCMP_ACT_LOG",
                    "SCMP_ACT_TRACE",
                    "SCMP_ACT_TRAP",
                ],
                "operators": [
                    "SCMP_CMP_EQ",
                    "SCMP_CMP_GE",
                    "SCMP_CMP_GT",
                    "SCMP_CMP_LE",
                    "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ",
                    "SCMP_CMP_NE",
                ],
                "archs": ["SCMP_ARCH_X86_64"],
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
        },
        "annotations": { "io.github.sandbox.platform": "systrap" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A bundle directory under the system temp dir, removed on drop.
    struct Bundle(PathBuf);

    impl Bundle {
        /// A new empty bundle, with a `rootfs` directory if `rootfs`.
        fn new(rootfs: bool) -> Bundle {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("oci-spec-test-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            if rootfs {
                std::fs::create_dir(dir.join("rootfs")).unwrap();
            }
            Bundle(dir)
        }

        /// Writes `config.json`.
        fn write(&self, text: &str) {
            std::fs::write(self.0.join("config.json"), text).unwrap();
        }
    }

    impl Drop for Bundle {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Whether `linux.namespaces` has one of type `kind`.
    fn has_ns(linux: &Linux, kind: &str) -> bool {
        linux.namespaces.iter().any(|ns| ns.kind == kind)
    }

    /// A config.json shaped like the ones Docker (through containerd) writes, with fields we
    /// do not model left in.
    const DOCKER: &str = r#"{
  "ociVersion": "1.1.0",
  "process": {
    "user": { "uid": 0, "gid": 0, "additionalGids": [0, 1, 2, 3, 4, 6, 10], "username": "" },
    "args": ["/bin/sh", "-c", "echo hello"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=0123456789ab"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                   "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                   "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"],
      "effective": ["CAP_CHOWN", "CAP_KILL"],
      "permitted": ["CAP_CHOWN", "CAP_KILL"]
    },
    "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576 }],
    "apparmorProfile": "docker-default",
    "oomScoreAdj": 0
  },
  "root": { "path": "ROOT" },
  "hostname": "0123456789ab",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"] },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"] },
    { "destination": "/etc/resolv.conf", "type": "bind", "source": "/var/lib/docker/containers/0123/resolv.conf", "options": ["rbind", "rprivate"] },
    { "destination": "/etc/hostname", "type": "bind", "source": "/var/lib/docker/containers/0123/hostname", "options": ["rbind", "rprivate"] }
  ],
  "hooks": {
    "prestart": [{
      "path": "/proc/4242/exe",
      "args": ["libnetwork-setkey", "-exec-root=/var/run/docker", "0123456789abcdef", "fedcba9876543210"]
    }]
  },
  "linux": {
    "sysctl": { "net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647" },
    "resources": {
      "devices": [
        { "allow": false, "access": "rwm" },
        { "allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm" },
        { "allow": true, "type": "c", "major": 136, "access": "rwm" }
      ],
      "memory": { "limit": 536870912, "swap": -1, "reservation": 0, "disableOOMKiller": false },
      "cpu": { "shares": 0, "quota": -1, "period": 100000, "cpus": "0-1", "realtimeRuntime": 0 },
      "pids": { "limit": 100 },
      "blockIO": { "weight": 0 },
      "hugepageLimits": []
    },
    "cgroupsPath": "CGROUPS",
    "namespaces": [
      { "type": "mount" }, { "type": "network" }, { "type": "uts" }, { "type": "pid" }, { "type": "ipc" },
      { "type": "cgroup" }
    ],
    "seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 1,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "syscalls": [
        { "names": ["accept", "read", "write"], "action": "SCMP_ACT_ALLOW" },
        { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
          "args": [{ "index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ" }] }
      ]
    },
    "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                    "/sys/devices/virtual/powercap"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}"#;

    #[test]
    fn docker_config_parses_and_validates() {
        for cgroups in ["system.slice:docker:0123456789abcdef", "/docker/0123456789abcdef"] {
            let bundle = Bundle::new(true);
            let root = bundle.0.join("rootfs");
            bundle.write(&DOCKER.replace("ROOT", root.to_str().unwrap()).replace("CGROUPS", cgroups));
            let spec = load(&bundle.0).unwrap();
            assert_eq!(spec.rootfs(&bundle.0), root);
            let p = spec.process();
            assert_eq!(p.args, ["/bin/sh", "-c", "echo hello"]);
            assert_eq!(p.user.additional_gids.len(), 7);
            assert_eq!(p.apparmor_profile.as_deref(), Some("docker-default"));
            assert_eq!(p.oom_score_adj, Some(0));
            assert_eq!(p.capabilities.as_ref().unwrap().bounding.len(), 14);
            assert_eq!(p.rlimits[0].hard, 1_048_576);
            assert_eq!(spec.mounts.len(), 9);
            assert!(spec.mounts[7].has_option("rbind"));
            assert!(!spec.mounts[7].has_option("rbin"));
            let prestart = &spec.hooks.as_ref().unwrap().prestart;
            assert_eq!(prestart[0].args[0], "libnetwork-setkey");
            let linux = spec.linux.as_ref().unwrap();
            assert_eq!(linux.cgroups_path.as_deref(), Some(cgroups));
            assert_eq!(linux.sysctl["net.ipv4.ip_unprivileged_port_start"], "0");
            assert_eq!(linux.masked_paths.len(), 11);
            assert_eq!(linux.readonly_paths.len(), 5);
            assert!(has_ns(linux, "network"));
            assert!(!has_ns(linux, "user"));
            assert_eq!(linux.seccomp.as_ref().unwrap()["defaultAction"], "SCMP_ACT_ERRNO");
            let res = linux.resources.as_ref().unwrap();
            assert_eq!(res.devices.len(), 3);
            let mem = res.memory.as_ref().unwrap();
            assert_eq!((mem.limit, mem.swap, mem.reservation), (Some(536_870_912), Some(-1), Some(0)));
            let cpu = res.cpu.as_ref().unwrap();
            assert_eq!((cpu.quota, cpu.period, cpu.cpus.as_deref()), (Some(-1), Some(100_000), Some("0-1")));
            assert_eq!(res.pids.as_ref().unwrap().limit, 100);
        }
    }

    #[test]
    fn default_spec_round_trips_and_validates() {
        for rootless in [false, true] {
            let spec = default_spec(rootless);
            let text = serde_json::to_string_pretty(&spec).unwrap();
            assert!(!text.contains("null"), "{text}");
            let back = parse(&text).unwrap();
            assert_eq!(back, spec);
            let bundle = Bundle::new(true);
            bundle.write(&text);
            let loaded = load(&bundle.0).unwrap();
            assert_eq!(loaded.rootfs(&bundle.0), bundle.0.join("rootfs"));
            assert!(loaded.process().terminal);
            assert_eq!(loaded.process().args, ["sh"]);
        }
    }

    #[test]
    fn default_spec_shape() {
        let v = serde_json::to_value(default_spec(false)).unwrap();
        assert_eq!(v["ociVersion"], OCI_VERSION);
        assert_eq!(v["root"], json!({"path": "rootfs", "readonly": true}));
        assert_eq!(v["process"]["user"], json!({"uid": 0, "gid": 0}));
        assert_eq!(v["process"]["noNewPrivileges"], true);
        let dests: Vec<&str> =
            v["mounts"].as_array().unwrap().iter().map(|m| m["destination"].as_str().unwrap()).collect();
        assert_eq!(dests, ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]);
        assert_eq!(v["mounts"][0], json!({"destination": "/proc", "type": "proc", "source": "proc"}));
        let ns: Vec<&str> =
            v["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount", "cgroup"]);
        assert_eq!(v["linux"]["resources"]["devices"], json!([{"allow": false, "access": "rwm"}]));
        assert!(v["linux"].get("uidMappings").is_none());
    }

    #[test]
    fn rootless_default_spec() {
        let spec = default_spec_for(true, 1000, 100);
        assert!(spec.process().terminal);
        let linux = spec.linux.as_ref().unwrap();
        assert!(!has_ns(linux, "network"));
        assert!(has_ns(linux, "user"));
        assert!(linux.resources.is_none());
        assert_eq!(linux.uid_mappings, [IdMapping { container_id: 0, host_id: 1000, size: 1 }]);
        assert_eq!(linux.gid_mappings, [IdMapping { container_id: 0, host_id: 100, size: 1 }]);
        assert!(spec.mounts.iter().all(|m| m.kind.as_deref() != Some("cgroup")));
        let sys = spec.mounts.iter().find(|m| m.destination == "/sys").unwrap();
        assert_eq!(sys.kind.as_deref(), Some("none"));
        assert_eq!(sys.source.as_deref(), Some("/sys"));
        assert!(sys.has_option("rbind") && sys.has_option("ro"));
        let pts = spec.mounts.iter().find(|m| m.destination == "/dev/pts").unwrap();
        assert!(!pts.options.iter().any(|o| o.starts_with("gid=")));
        let v = serde_json::to_value(&spec).unwrap();
        assert_eq!(v["linux"]["uidMappings"], json!([{"containerID": 0, "hostID": 1000, "size": 1}]));
        // The real one maps this process's ids.
        let (uid, gid) = current_ids();
        let real = default_spec(true);
        assert_eq!(real.linux.as_ref().unwrap().uid_mappings[0].host_id, uid);
        assert_eq!(real.linux.as_ref().unwrap().gid_mappings[0].host_id, gid);
    }

    /// The error `validate` gives after `change` is applied to the default spec, in a bundle
    /// with a rootfs.
    fn error_after(change: impl FnOnce(&mut Spec)) -> String {
        let bundle = Bundle::new(true);
        let mut spec = default_spec(false);
        change(&mut spec);
        spec.validate(&bundle.0).unwrap_err()
    }

    fn hook(path: &str) -> Hook {
        Hook { path: path.into(), ..Hook::default() }
    }

    #[test]
    fn validation_errors_name_the_field() {
        fn linux(s: &mut Spec) -> &mut Linux {
            s.linux.as_mut().unwrap()
        }
        fn process(s: &mut Spec) -> &mut Process {
            s.process.as_mut().unwrap()
        }
        assert_eq!(error_after(|s| s.oci_version.clear()), "ociVersion: must not be empty");
        assert!(error_after(|s| s.oci_version = "2.0.0".into())
            .starts_with("ociVersion: unsupported version \"2.0.0\""));
        assert_eq!(error_after(|s| s.process = None), "process: missing");
        assert_eq!(error_after(|s| process(s).args.clear()), "process.args: must not be empty");
        assert_eq!(error_after(|s| process(s).cwd = "home".into()), "process.cwd: must be an absolute path");
        assert_eq!(error_after(|s| process(s).cwd.clear()), "process.cwd: must be an absolute path");
        assert_eq!(
            error_after(|s| process(s).rlimits[0].kind = "RLIMIT_FOO".into()),
            "process.rlimits[0].type: unknown RLIMIT_FOO"
        );
        assert_eq!(
            error_after(|s| {
                let r = process(s).rlimits[0].clone();
                process(s).rlimits.push(r);
            }),
            "process.rlimits[1].type: duplicate RLIMIT_NOFILE"
        );
        assert_eq!(
            error_after(|s| process(s).rlimits[0].soft = 2048),
            "process.rlimits[0]: soft limit 2048 is above hard limit 1024"
        );
        assert_eq!(
            error_after(|s| process(s).oom_score_adj = Some(-1001)),
            "process.oomScoreAdj: -1001 is outside -1000 to 1000"
        );
        assert_eq!(error_after(|s| s.root = None), "root: missing");
        assert_eq!(error_after(|s| s.root.as_mut().unwrap().path.clear()), "root.path: must not be empty");
        assert_eq!(
            error_after(|s| s.mounts[2].destination = "dev/pts".into()),
            "mounts[2].destination: must be an absolute path"
        );
        assert_eq!(
            error_after(|s| s.hooks = Some(Hooks { prestart: vec![hook("setkey")], ..Hooks::default() })),
            "hooks.prestart[0].path: must be an absolute path"
        );
        assert_eq!(
            error_after(|s| {
                s.hooks = Some(Hooks { poststop: vec![hook("/bin/true"), hook("")], ..Hooks::default() });
            }),
            "hooks.poststop[1].path: must be an absolute path"
        );
        assert_eq!(
            error_after(|s| {
                let h = Hook { timeout: Some(0), ..hook("/bin/true") };
                s.hooks = Some(Hooks { create_runtime: vec![h], ..Hooks::default() });
            }),
            "hooks.createRuntime[0].timeout: must be greater than zero"
        );
        assert_eq!(
            error_after(|s| linux(s).namespaces[3].kind = "net".into()),
            "linux.namespaces[3].type: unknown namespace type \"net\""
        );
        assert_eq!(
            error_after(|s| linux(s).namespaces.push(Namespace { kind: "pid".into(), path: None })),
            "linux.namespaces[6].type: duplicate namespace type \"pid\""
        );
        assert_eq!(
            error_after(|s| linux(s).namespaces[1].path = Some("proc/1/ns/net".into())),
            "linux.namespaces[1].path: must be an absolute path"
        );
        assert_eq!(
            error_after(|s| linux(s).masked_paths[1] = "proc".into()),
            "linux.maskedPaths[1]: must be an absolute path"
        );
        assert_eq!(
            error_after(|s| linux(s).rootfs_propagation = Some("sideways".into())),
            "linux.rootfsPropagation: unknown propagation \"sideways\""
        );
    }

    #[test]
    fn root_path_errors() {
        let bundle = Bundle::new(false);
        let spec = default_spec(false);
        let rootfs = bundle.0.join("rootfs");
        assert_eq!(
            spec.validate(&bundle.0).unwrap_err(),
            format!("root.path: {}: No such file or directory", rootfs.display())
        );
        std::fs::write(&rootfs, "").unwrap();
        assert_eq!(
            spec.validate(&bundle.0).unwrap_err(),
            format!("root.path: {}: Not a directory", rootfs.display())
        );
        // An absolute root.path does not depend on the bundle.
        let mut spec = spec;
        spec.root.as_mut().unwrap().path = bundle.0.to_str().unwrap().into();
        assert_eq!(spec.rootfs(Path::new("/elsewhere")), bundle.0);
        spec.validate(Path::new("/elsewhere")).unwrap();
    }

    #[test]
    fn load_errors() {
        let bundle = Bundle::new(true);
        assert_eq!(
            load(&bundle.0).unwrap_err(),
            format!("{}/config.json: No such file or directory", bundle.0.display())
        );
        bundle.write("{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": {\"args\": [\"sh\",]}\n}\n");
        assert_eq!(load(&bundle.0).unwrap_err(), "config.json: line 3 column 29: trailing comma");
        bundle.write("{\"ociVersion\": \"1.0.0\", \"process\": {\"args\": \"sh\"}}");
        let err = load(&bundle.0).unwrap_err();
        assert!(err.starts_with("config.json: line 1 column 48: invalid type: string \"sh\""), "{err}");
        bundle.write("{\"ociVersion\": \"1.0.0\",");
        let err = load(&bundle.0).unwrap_err();
        assert!(err.starts_with("config.json: line 1 column 23: EOF while parsing"), "{err}");
    }

    #[test]
    fn unknown_fields_and_nulls_are_accepted() {
        let text = r#"{
            "ociVersion": "1.0.2-dev",
            "someFutureField": {"x": [1, 2, 3]},
            "process": {"args": ["sh"], "cwd": "/", "env": null, "user": {"uid": 5, "gid": 6, "username": "x"},
                        "scheduler": {"policy": "SCHED_OTHER"}, "ioPriority": {"class": "IOPRIO_CLASS_IDLE"}},
            "root": {"path": "rootfs", "extra": true},
            "mounts": [{"destination": "/tmp", "type": "tmpfs", "options": null, "uidMappings": []}],
            "hooks": {"prestart": null},
            "annotations": null,
            "linux": {"namespaces": [{"type": "pid"}], "personality": {"domain": "LINUX"},
                      "intelRdt": {}, "resources": {"unified": {"memory.high": "1G"}}},
            "windows": {"layerFolders": []}
        }"#;
        let spec = parse(text).unwrap();
        assert_eq!(spec.process().user.uid, 5);
        assert!(spec.process().env.is_empty());
        assert!(spec.mounts[0].options.is_empty());
        assert!(spec.annotations.is_empty());
        let bundle = Bundle::new(true);
        spec.validate(&bundle.0).unwrap();
    }

    #[test]
    fn features_has_the_required_keys() {
        let f = features();
        assert_eq!(f["ociVersionMin"], "1.0.0");
        assert_eq!(f["ociVersionMax"], "1.1.0");
        assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
        assert!(f["mountOptions"].as_array().unwrap().contains(&json!("rbind")));
        let linux = &f["linux"];
        assert_eq!(linux["namespaces"].as_array().unwrap().len(), 8);
        assert_eq!(linux["capabilities"].as_array().unwrap().len(), 41);
        assert_eq!(linux["cgroup"], json!({"v1": true, "v2": true, "systemd": false, "systemdUser": false}));
        assert_eq!(linux["seccomp"]["enabled"], true);
        assert!(!linux["seccomp"]["actions"].as_array().unwrap().is_empty());
        assert!(!linux["seccomp"]["operators"].as_array().unwrap().is_empty());
        assert_eq!(linux["seccomp"]["archs"], json!(["SCMP_ARCH_X86_64"]));
        for off in ["apparmor", "selinux", "intelRdt"] {
            assert_eq!(linux[off]["enabled"], false, "{off}");
        }
        assert_eq!(f["annotations"]["io.github.sandbox.platform"], "systrap");
    }

    #[test]
    fn helpers() {
        assert_eq!(rlimit_resource("RLIMIT_NOFILE"), to_u32(libc::RLIMIT_NOFILE));
        assert_eq!(rlimit_resource("RLIMIT_STACK"), to_u32(libc::RLIMIT_STACK));
        assert_eq!(rlimit_resource("NOFILE"), None);
        assert_eq!(rlimit_resource("rlimit_nofile"), None);
        assert_eq!(CAPABILITIES.iter().position(|c| *c == "CAP_SYS_ADMIN"), Some(21));
        assert_eq!(CAPABILITIES[40], "CAP_CHECKPOINT_RESTORE");
        let m = mount("/dev", "tmpfs", "tmpfs", &["nosuid", "mode=755"]);
        assert!(m.has_option("nosuid") && m.has_option("mode=755") && !m.has_option("mode"));
    }
}
