//! The command line, in one grammar for every subcommand (lexopt's): `--x=v` and `--x v` alike,
//! `--` ends the options, `-h`/`--help` anywhere asks for the help. Each kind of value has one
//! parser, so that a value means the same and is refused with the same message everywhere;
//! paths stay as the OS gives them (any bytes), names are text (as the library takes them).

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::{Arg, Parser};

/// What to run.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    Watch(WatchArgs),
    Ls { json: bool, sockets: bool },
    Nsid(NsidArgs),
    Events(EventsArgs),
}

/// `nsmon events ...`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EventsArgs {
    pub targets: Vec<Target>,
    /// The caller's own namespace.
    pub default: bool,
    /// One socket hearing every namespace with an id.
    pub all_nsid: bool,
    pub follow: bool,
    /// The folders `--follow` follows (none: the default one).
    pub dirs: Vec<PathBuf>,
    /// `--follow` follows the runtimes' folders too.
    pub runtimes: bool,
    /// `--follow` follows every namespace of the host (the inventory).
    pub all: bool,
    /// Group names, validated.
    pub groups: Vec<String>,
    pub dump: bool,
}

/// The group names `--groups` accepts.
pub const GROUP_NAMES: [&str; 5] = ["link", "addr", "route", "neigh", "tc"];

/// A namespace named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Name(String),
    Pid(u32),
    Path(PathBuf),
}

/// `nsmon nsid ...`.
#[derive(Debug, PartialEq, Eq)]
pub enum NsidArgs {
    Follow {
        observer: Option<String>,
    },
    Get {
        target: Target,
        observer: Option<String>,
    },
    Set {
        name: String,
        id: Option<u32>,
        observer: Option<String>,
    },
}

/// `nsmon watch` options.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WatchArgs {
    /// Every network namespace of the host (the inventory), not folders.
    pub all: bool,
    pub dirs: Vec<PathBuf>,
    pub runtimes: bool,
    pub list: bool,
    pub any_file: bool,
    pub dir_events: bool,
}

/// Why parsing ended without a command to run.
#[derive(Debug)]
enum Stop {
    /// `-h` or `--help`, wherever it stood.
    Help,
    /// A message for stderr (exit status 2).
    Usage(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Self {
        Stop::Usage(message)
    }
}

impl From<&str> for Stop {
    fn from(message: &str) -> Self {
        Stop::Usage(message.into())
    }
}

/// Parses the arguments after the program name; `Err` is a message for stderr (exit code 2).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    match parse_command(&mut Parser::from_args(args)) {
        Ok(command) => Ok(command),
        Err(Stop::Help) => Ok(Command::Help),
        Err(Stop::Usage(message)) => Err(message),
    }
}

fn parse_command(parser: &mut Parser) -> Result<Command, Stop> {
    let Some(first) = next(parser)? else {
        return Err("missing command (try 'nsmon watch')".into());
    };
    let word = match first {
        Arg::Short('V') | Arg::Long("version") => return Ok(Command::Version),
        Arg::Value(word) => word,
        other => return Err(refuse(None, other)),
    };
    match word.to_str() {
        Some("help") => Ok(Command::Help),
        Some("watch") => parse_watch(parser).map(Command::Watch),
        Some("ls") => parse_ls(parser),
        Some("nsid") => parse_nsid(parser).map(Command::Nsid),
        Some("events") => parse_events(parser).map(Command::Events),
        _ => Err(format!("unknown command {word:?}").into()),
    }
}

/// The next argument; a value given to an option that takes none (`--list=1`) is refused here,
/// where lexopt finds it.
fn next(parser: &mut Parser) -> Result<Option<Arg<'_>>, Stop> {
    parser.next().map_err(|e| match e {
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} takes no value").into(),
        other => Stop::Usage(other.to_string()),
    })
}

/// An argument `command` (`None`: nsmon itself, before any subcommand) has no use for; `-h` and
/// `--help` ask for the help instead.
fn refuse(command: Option<&str>, arg: Arg<'_>) -> Stop {
    let context = command.map_or_else(String::new, |c| format!(" for 'nsmon {c}'"));
    match arg {
        Arg::Short('h') | Arg::Long("help") => Stop::Help,
        Arg::Short(c) => format!("unknown option \"-{c}\"{context}").into(),
        Arg::Long(name) => format!("unknown option {:?}{context}", format!("--{name}")).into(),
        Arg::Value(value) => format!("unexpected argument {value:?}{context}").into(),
    }
}

/// The value of option `flag`, which must be `what` (for the message when it is missing) and
/// not empty: `--flag VALUE` or `--flag=VALUE`.
fn value(parser: &mut Parser, flag: &str, what: &str) -> Result<OsString, String> {
    let value = parser.value().map_err(|_| format!("{flag} needs {what}"))?;
    if value.is_empty() {
        return Err(format!("{flag} needs {what}, not an empty string"));
    }
    Ok(value)
}

/// A path: any bytes but none (as the OS takes them).
fn path(parser: &mut Parser, flag: &str, what: &str) -> Result<PathBuf, String> {
    value(parser, flag, what).map(PathBuf::from)
}

/// Text: a namespace's name (the library takes names as `&str`), a list of groups.
fn text(value: OsString, what: &str) -> Result<String, String> {
    value.into_string().map_err(|value| {
        format!("{what} {value:?} is not valid UTF-8 (names are taken as text; a path need not be)")
    })
}

/// `--ns NAME`: a namespace's name.
fn name(parser: &mut Parser) -> Result<String, String> {
    text(value(parser, "--ns", "a namespace name")?, "--ns")
}

/// `--pid PID`: a process id, above 0.
fn pid(parser: &mut Parser) -> Result<u32, String> {
    let value = value(parser, "--pid", "a process id")?;
    value
        .to_str()
        .and_then(|text| text.parse::<u32>().ok())
        .filter(|pid| *pid > 0)
        .ok_or_else(|| format!("--pid {value:?} is not a process id"))
}

/// `--groups LIST`: comma-separated names from [`GROUP_NAMES`].
fn groups(parser: &mut Parser) -> Result<Vec<String>, String> {
    let list = text(value(parser, "--groups", "a list of groups")?, "--groups")?;
    list.split(',')
        .map(|group| match GROUP_NAMES.contains(&group) {
            true => Ok(group.to_string()),
            false => Err(format!(
                "unknown group {group:?} (known: {})",
                GROUP_NAMES.join(",")
            )),
        })
        .collect()
}

fn parse_watch(parser: &mut Parser) -> Result<WatchArgs, Stop> {
    let mut watch = WatchArgs::default();
    while let Some(arg) = next(parser)? {
        match arg {
            Arg::Long("dir") => watch.dirs.push(path(parser, "--dir", "a directory")?),
            Arg::Long("runtimes") => watch.runtimes = true,
            Arg::Long("all") => watch.all = true,
            Arg::Long("list") => watch.list = true,
            Arg::Long("any-file") => watch.any_file = true,
            Arg::Long("dir-events") => watch.dir_events = true,
            other => return Err(refuse(Some("watch"), other)),
        }
    }
    if watch.all
        && (!watch.dirs.is_empty()
            || watch.runtimes
            || watch.list
            || watch.any_file
            || watch.dir_events)
    {
        return Err("--all watches every namespace, not folders: it takes no other option".into());
    }
    Ok(watch)
}

fn parse_ls(parser: &mut Parser) -> Result<Command, Stop> {
    let (mut json, mut sockets) = (false, false);
    while let Some(arg) = next(parser)? {
        match arg {
            Arg::Long("json") => json = true,
            Arg::Long("sockets") => sockets = true,
            other => return Err(refuse(Some("ls"), other)),
        }
    }
    Ok(Command::Ls { json, sockets })
}

fn parse_events(parser: &mut Parser) -> Result<EventsArgs, Stop> {
    let mut out = EventsArgs::default();
    while let Some(arg) = next(parser)? {
        match arg {
            Arg::Long("ns") => out.targets.push(Target::Name(name(parser)?)),
            Arg::Long("path") => out
                .targets
                .push(Target::Path(path(parser, "--path", "a path")?)),
            Arg::Long("pid") => out.targets.push(Target::Pid(pid(parser)?)),
            Arg::Long("groups") => out.groups.extend(groups(parser)?),
            Arg::Long("dir") => out.dirs.push(path(parser, "--dir", "a directory")?),
            Arg::Long("runtimes") => out.runtimes = true,
            Arg::Long("all") => out.all = true,
            Arg::Long("default") => out.default = true,
            Arg::Long("all-nsid") => out.all_nsid = true,
            Arg::Long("follow") => out.follow = true,
            Arg::Long("dump") => out.dump = true,
            other => return Err(refuse(Some("events"), other)),
        }
    }
    if (!out.dirs.is_empty() || out.runtimes || out.all) && !out.follow {
        return Err(
            "--dir, --runtimes and --all choose what --follow follows: add --follow".into(),
        );
    }
    if out.all && (!out.dirs.is_empty() || out.runtimes) {
        return Err("--all follows every namespace: no folders to choose".into());
    }
    Ok(out)
}

/// `nsmon nsid`: words (`get NAME`, `set NAME ID`) and options, in any order.
fn parse_nsid(parser: &mut Parser) -> Result<NsidArgs, Stop> {
    let (mut observer, mut by_pid, mut by_path) = (None, None, None);
    let mut words = Vec::new();
    while let Some(arg) = next(parser)? {
        match arg {
            Arg::Long("ns") => observer = Some(name(parser)?),
            Arg::Long("pid") => by_pid = Some(pid(parser)?),
            Arg::Long("path") => by_path = Some(path(parser, "--path", "a path")?),
            Arg::Value(word) => words.push(text(word, "NAME")?),
            other => return Err(refuse(Some("nsid"), other)),
        }
    }
    let target = match (by_pid, by_path) {
        (None, None) => None,
        (Some(pid), None) => Some(Target::Pid(pid)),
        (None, Some(path)) => Some(Target::Path(path)),
        (Some(_), Some(_)) => return Err(ONE_TARGET.into()),
    };
    nsid_form(&words, target, observer).map_err(Stop::Usage)
}

const ONE_TARGET: &str = "'nsmon nsid get' takes exactly one of NAME, --pid PID, --path PATH";

/// What the words of `nsmon nsid` ask for, with the `--pid` or `--path` target if one was given.
fn nsid_form(
    words: &[String],
    target: Option<Target>,
    observer: Option<String>,
) -> Result<NsidArgs, String> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match (words.as_slice(), target) {
        ([], None) => Ok(NsidArgs::Follow { observer }),
        (["get", name], None) => Ok(NsidArgs::Get {
            target: Target::Name(name.to_string()),
            observer,
        }),
        (["get"], Some(target)) => Ok(NsidArgs::Get { target, observer }),
        (["get", ..], _) => Err(ONE_TARGET.into()),
        (["set", name, id], None) => Ok(NsidArgs::Set {
            name: name.to_string(),
            id: nsid_request(id)?,
            observer,
        }),
        (["set", ..], _) => Err("usage: nsmon nsid set NAME (auto | ID)".into()),
        ([word, ..], _) => Err(format!("unknown 'nsmon nsid' command {word:?}")),
        ([], Some(_)) => Err("--pid and --path go with 'nsmon nsid get'".into()),
    }
}

/// The ID of `nsmon nsid set`: `auto` (`None`: the kernel picks) or a number the kernel takes.
fn nsid_request(word: &str) -> Result<Option<u32>, String> {
    match word {
        "auto" => Ok(None),
        n => n
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= i32::MAX as u32)
            .map(Some)
            .ok_or(format!(
                "nsid {n:?} is neither 'auto' nor a number from 0 to 2147483647"
            )),
    }
}

#[cfg(test)]
mod tests;
