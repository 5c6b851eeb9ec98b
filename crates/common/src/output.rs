//! Logging set-up and small output helpers shared by the binaries.

use crate::cli::CommonArgs;
use std::io::{IsTerminal, Write};

/// Initialise env_logger. `RUST_LOG` wins; otherwise -q → error, default → warn,
/// -v → info, -vv → debug. Every line passes through [`crate::secret::redact`].
pub fn init_logging(args: &CommonArgs) {
    let default = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let env = env_logger::Env::default().default_filter_or(default);
    let _ = env_logger::Builder::from_env(env)
        .format(|buf, record| {
            let msg = crate::secret::redact(&record.args().to_string());
            writeln!(buf, "[{} {}] {}", record.level(), record.target(), msg)
        })
        .try_init();
}

/// Whether progress output (spinners, "waiting for quorum…") should be shown.
pub fn show_progress(args: &CommonArgs) -> bool {
    !args.json && !args.quiet && std::io::stderr().is_terminal()
}

/// Print a line to stderr unless quiet/json; secrets scrubbed. For progress and notes.
pub fn note(args: &CommonArgs, msg: &str) {
    if !args.quiet && !args.json {
        eprintln!("{}", crate::secret::redact(msg));
    }
}
