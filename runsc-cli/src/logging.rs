//! Logs through `tracing`: errors on stderr by default; `--debug` for more, `--log FILE` to keep
//! them out of the workload's stderr, `--log-format json` for machines.
//!
//! The JSON lines have runc's shape, `{"level":"error","msg":"…","time":"…"}`: container
//! engines show the user the `msg` of the last error line a runtime wrote to its `--log`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The logging flags, passed on to the roles `sandbox` re-executes itself as.
#[derive(Clone, Debug)]
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
        (Some(f), Format::Json) => builder.event_format(RuncJson).with_writer(std::sync::Mutex::new(f)).init(),
        (Some(f), Format::Text) => builder.with_ansi(false).with_writer(std::sync::Mutex::new(f)).init(),
        (None, Format::Json) => builder.event_format(RuncJson).with_writer(std::io::stderr).init(),
        (None, Format::Text) => {
            use std::io::IsTerminal;
            builder.with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).init()
        }
    }
}

/// One JSON object per line: `level`, `msg` (the message, then any other fields as
/// `key=value`), and `time` in RFC 3339.
struct RuncJson;

impl<S, N> FormatEvent<S, N> for RuncJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let mut msg = Message::default();
        event.record(&mut msg);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let line = serde_json::json!({ "level": level, "msg": msg.text, "time": rfc3339_now() });
        writeln!(writer, "{line}")
    }
}

/// The message of an event, with its other fields appended.
#[derive(Default)]
struct Message {
    text: String,
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let fields = std::mem::take(&mut self.text);
            let _ = write!(self.text, "{value:?}");
            self.text.push_str(&fields);
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.insert_str(0, value);
        } else {
            let _ = write!(self.text, " {}={value}", field.name());
        }
    }
}

/// The current time as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rfc3339(now.as_secs(), now.subsec_nanos())
}

/// Formats seconds since the epoch (UTC) in RFC 3339.
pub fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// The proleptic Gregorian date of a day number counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_rfc3339() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_795_441_528, 0), "2026-11-23T13:45:28.000000000Z");
    }
}
