//! Logs through `tracing`: errors on stderr by default; `--debug` for more, `--log FILE` to keep
//! them out of the workload's stderr, `--log-format json` for machines.

use std::path::{Path, PathBuf};

use tracing_subscriber::filter::LevelFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The logging flags, passed on to the roles `sandbox` re-executes itself as.
pub struct Settings {
    pub debug: bool,
    pub log: Option<PathBuf>,
    pub format: Format,
}

impl Settings {
    /// The global flags that reproduce these settings.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.debug {
            args.push("--debug".into());
        }
        if let Some(log) = &self.log {
            args.push("--log".into());
            args.push(log.display().to_string());
        }
        if self.format == Format::Json {
            args.push("--log-format=json".into());
        }
        args
    }
}

pub fn init(debug: bool, log: Option<&Path>, format: Format) {
    // Warnings (such as unimplemented system calls) would mix with the workload's own stderr,
    // so stderr shows only errors unless asked; a log file gets everything from info up.
    let level = match (debug, log.is_some()) {
        (true, _) => LevelFilter::DEBUG,
        (false, true) => LevelFilter::INFO,
        (false, false) => LevelFilter::ERROR,
    };
    let builder = tracing_subscriber::fmt().with_max_level(level).with_target(false);
    let file = log.and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok());
    match (file, format) {
        (Some(f), Format::Json) => builder.json().with_writer(std::sync::Mutex::new(f)).init(),
        (Some(f), Format::Text) => builder.with_ansi(false).with_writer(std::sync::Mutex::new(f)).init(),
        (None, Format::Json) => builder.json().with_writer(std::io::stderr).init(),
        (None, Format::Text) => {
            use std::io::IsTerminal;
            builder.with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).init()
        }
    }
}
