//! `sandbox`: runs untrusted Linux programs in a user-space kernel.
//!
//! One binary plays every role: the commands people and container engines call (`run`, and the
//! runc-compatible OCI runtime commands), and the internal roles it re-executes itself as
//! (`boot` and `container-boot`, the sentry; `gofer`, the file server).

mod commands;
mod oci;
mod logging;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Runs untrusted Linux x86_64 programs in a user-space kernel (the sentry). Every system call
/// of the program is answered by the sentry; host files are reached only through a separate
/// gofer process.
#[derive(Parser)]
#[command(name = "sandbox", version, propagate_version = true)]
struct Cli {
    /// Log debug messages (to the --log file, or to stderr).
    #[arg(long, global = true)]
    debug: bool,
    /// Write logs to this file instead of stderr.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<std::path::PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: logging::Format,
    /// Directory for the containers' state (OCI runtime commands).
    #[arg(long, value_name = "DIR", default_value = "/run/sandbox")]
    root: std::path::PathBuf,
    /// Accepted for runc compatibility: cgroups are managed through cgroupfs (a systemd-style
    /// cgroupsPath "slice:prefix:name" is mapped onto it).
    #[arg(long)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility.
    #[arg(long)]
    rootless: Option<String>,
    /// Platform that runs container workloads' threads: `systrap` or `ptrace` (see `run --help`).
    #[arg(long, value_name = "NAME", default_value = "systrap", value_parser = sentry::PlatformKind::NAMES)]
    platform: String,
    /// Write each container sentry's debug log to DIR/ID.log (OCI runtime commands).
    #[arg(long, value_name = "DIR")]
    debug_log: Option<std::path::PathBuf>,
    /// Print every system call of container workloads to the log (OCI runtime commands).
    #[arg(long = "strace", id = "global_strace")]
    strace: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(commands::run::RunArgs),
    Boot(commands::boot::BootArgs),
    Gofer(commands::gofer::GoferArgs),
    Syscalls(commands::syscalls::SyscallsArgs),
    Create(oci::lifecycle::CreateArgs),
    Start(oci::lifecycle::IdArgs),
    State(oci::lifecycle::IdArgs),
    Kill(oci::lifecycle::KillArgs),
    Delete(oci::lifecycle::DeleteArgs),
    Exec(oci::exec::ExecArgs),
    Ps(oci::lifecycle::PsArgs),
    List(oci::lifecycle::ListArgs),
    Pause(oci::lifecycle::IdArgs),
    Resume(oci::lifecycle::IdArgs),
    Events(oci::lifecycle::EventsArgs),
    Spec(oci::lifecycle::SpecArgs),
    /// Print the features this runtime supports (runtime-spec features document).
    Features,
    ContainerBoot(oci::boot::ContainerBootArgs),
    #[command(hide = true)]
    OciRun(oci::lifecycle::RunArgs),
}

/// `run` has two forms: ours, `run [OPTIONS] -- PROGRAM`, and runc's, `run [OPTIONS] ID`,
/// told apart by the `--` that ours requires; runc's is parsed as the hidden `oci-run`.
fn command_line() -> Vec<std::ffi::OsString> {
    // The global flags that take a separate value.
    const WITH_VALUE: [&str; 6] = ["--root", "--log", "--log-format", "--platform", "--debug-log", "--rootless"];
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut i = 1;
    while let Some(arg) = argv.get(i).map(|a| a.to_string_lossy().into_owned()) {
        if !arg.starts_with('-') {
            break;
        }
        i += if WITH_VALUE.contains(&arg.as_str()) { 2 } else { 1 };
    }
    let rest = argv.get(i + 1..).unwrap_or_default();
    let runc_form = !rest.is_empty() && !rest.iter().any(|a| a == "--" || a == "--help" || a == "-h");
    if runc_form && argv[i] == "run" {
        argv[i] = "oci-run".into();
    }
    argv
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(command_line());
    logging::init(cli.debug, cli.log.as_deref(), cli.log_format);
    let logs = logging::Settings { debug: cli.debug, log: cli.log.clone(), format: cli.log_format };
    let g = oci::Global { root: cli.root, logs: logs.clone(), strace: cli.strace, debug_log: cli.debug_log, platform: cli.platform };
    let done = |r: Result<(), String>| oci::report(r.map(|()| 0), &logs);
    let code = match cli.command {
        Command::OciRun(args) => oci::report(oci::lifecycle::run(&g, args), &logs),
        Command::Run(args) => commands::run::main(args, &logs),
        Command::Boot(args) => commands::boot::main(args),
        Command::Gofer(args) => commands::gofer::main(args),
        Command::Syscalls(args) => commands::syscalls::main(args),
        Command::Create(args) => done(oci::lifecycle::create(&g, args)),
        Command::Start(args) => done(oci::lifecycle::start(&g, args)),
        Command::State(args) => done(oci::lifecycle::state(&g, args)),
        Command::Kill(args) => done(oci::lifecycle::kill(&g, args)),
        Command::Delete(args) => done(oci::lifecycle::delete(&g, args)),
        Command::Exec(args) => oci::report(oci::exec::exec(&g, args), &logs),
        Command::Ps(args) => done(oci::lifecycle::ps(&g, args)),
        Command::List(args) => done(oci::lifecycle::list(&g, args)),
        Command::Pause(args) => done(oci::lifecycle::pause(&g, args)),
        Command::Resume(args) => done(oci::lifecycle::resume(&g, args)),
        Command::Events(args) => done(oci::lifecycle::events(&g, args)),
        Command::Spec(args) => done(oci::lifecycle::spec_cmd(args)),
        Command::Features => done(oci::lifecycle::features()),
        Command::ContainerBoot(args) => oci::boot::main(args, &logs),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(255))
}
