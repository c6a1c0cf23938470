//! `nsmon`: prints network-namespace events as JSON lines. See `nsmon --help`.

mod args;
mod events;
mod follow;
mod json;
mod nsid;
mod os;
mod watch;

use std::io;
use std::process::ExitCode;

use args::Command;

/// A run-time failure: a message for stderr, or a closed stdout (a quiet, successful end, as
/// when piped into `head`).
enum Failure {
    Message(String),
    StdoutClosed,
}

impl From<nsmon::Error> for Failure {
    fn from(e: nsmon::Error) -> Self {
        Failure::Message(e.to_string())
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

fn main() -> ExitCode {
    let command = match args::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("nsmon: {message}\nTry 'nsmon --help' for more information.");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            print!("{}", args::USAGE);
            Ok(())
        }
        Command::Version => {
            println!("nsmon {}", nsmon::VERSION);
            Ok(())
        }
        Command::Watch(options) => watch::run(options),
        Command::Nsid(options) => nsid::run(options),
        Command::Events(options) => events::run(options),
    };
    match result {
        Ok(()) | Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
        Err(Failure::Message(message)) => {
            eprintln!("nsmon: {message}");
            ExitCode::FAILURE
        }
    }
}
