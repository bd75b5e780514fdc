//! `sandbox`: runs untrusted Linux programs in a user-space kernel.
//!
//! One binary plays every role: the commands people and container engines call (`run`, and the
//! OCI runtime commands to come), and the internal roles it re-executes itself as (`boot`, the
//! sentry; `gofer`, the file server).

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(commands::run::RunArgs),
    Boot(commands::boot::BootArgs),
    Gofer(commands::gofer::GoferArgs),
    Syscalls(commands::syscalls::SyscallsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.debug, cli.log.as_deref(), cli.log_format);
    let code = match cli.command {
        Command::Run(args) => commands::run::main(args, &logging::Settings { debug: cli.debug, log: cli.log.clone(), format: cli.log_format }),
        Command::Boot(args) => commands::boot::main(args),
        Command::Gofer(args) => commands::gofer::main(args),
        Command::Syscalls(args) => commands::syscalls::main(args),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(255))
}
