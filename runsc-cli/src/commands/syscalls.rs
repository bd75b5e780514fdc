//! `sandbox syscalls`: the support matrix of the sentry's system call table.

/// List every x86_64 system call and how far the sentry supports it.
#[derive(clap::Args)]
pub struct SyscallsArgs {
    /// Only show the calls that are implemented.
    #[arg(long)]
    implemented: bool,
}

pub fn main(args: SyscallsArgs) -> i32 {
    for (nr, name, support) in sentry::syscalls::support_matrix() {
        let status = match support {
            Some(sentry::syscalls::Support::Full) => "supported".to_string(),
            Some(sentry::syscalls::Support::Partial(why)) => format!("partial: {why}"),
            None if args.implemented => continue,
            None => "ENOSYS".to_string(),
        };
        println!("{nr:>3}  {name:<24} {status}");
    }
    0
}
