//! `nsmon`: prints network-namespace events as JSON lines. See `nsmon --help`.

mod args;
mod events;
mod follow_all;
mod follow_named;
mod inventory;
mod json;
mod nsid;
mod output;
mod print_loop;
mod stream_json;
mod sys;
mod usage;
mod watch;

use std::io::{self, Write};
use std::process::ExitCode;

use args::Command;

/// How a run ends other than by finishing. The exit status follows one rule: 2 for an invalid
/// argument, whether the parser or the library found it; 1 for any other failure; 0 for a
/// termination signal or a reader of stdout that went away (as when piped into `head`).
enum Failure {
    /// A run-time failure, for stderr (status 1).
    Message(String),
    /// An argument that cannot be used (status 2).
    Usage(String),
    /// Stdout's reader has gone away (status 0).
    StdoutClosed,
    /// SIGINT or SIGTERM (status 0).
    Signalled,
}

impl From<nsmon::Error> for Failure {
    fn from(e: nsmon::Error) -> Self {
        match e {
            // What the caller named is not usable: a bad name, not a network namespace, ...
            nsmon::Error::InvalidName { .. } | nsmon::Error::InvalidArgument(_) => {
                Failure::Usage(e.to_string())
            }
            _ => Failure::Message(e.to_string()),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::StdoutClosed
        } else {
            Failure::Message(format!("writing output: {e}"))
        }
    }
}

/// Writes to stderr; a stderr that cannot be written to is no reason to panic or to fail.
fn complain(message: &str) {
    let _ = writeln!(io::stderr(), "nsmon: {message}");
}

/// Prints `text` whole, or says why not.
fn print(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    let result = match args::parse(std::env::args_os().skip(1)) {
        Err(message) => Err(Failure::Usage(message)),
        Ok(Command::Help) => print(usage::USAGE),
        Ok(Command::Version) => print(&format!("nsmon {}\n", nsmon::VERSION)),
        Ok(Command::Watch(options)) if options.all => inventory::watch_all(),
        Ok(Command::Watch(options)) => watch::run(options),
        Ok(Command::Ls { json, sockets }) => inventory::ls(json, sockets),
        Ok(Command::Nsid(options)) => nsid::run(options),
        Ok(Command::Events(options)) => events::run(options),
    };
    match result {
        Ok(()) | Err(Failure::StdoutClosed | Failure::Signalled) => ExitCode::SUCCESS,
        Err(Failure::Message(message)) => {
            complain(&message);
            ExitCode::FAILURE
        }
        Err(Failure::Usage(message)) => {
            complain(&format!(
                "{message}\nTry 'nsmon --help' for more information."
            ));
            ExitCode::from(2)
        }
    }
}
