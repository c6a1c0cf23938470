//! Command-line parsing: small enough to write by hand, which keeps the command's dependencies
//! at zero beyond the library's own.

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
nsmon: watch Linux network namespaces; prints one JSON object per line.

Usage:
  nsmon watch [--dir DIR] [--list] [--any-file] [--dir-events]
  nsmon --help | --version

nsmon watch
  Reports named network namespaces appearing and disappearing in DIR
  (default /var/run/netns, where `ip netns` keeps them):
    {\"source\":\"watcher\",\"event\":\"created\",\"name\":\"blue\"}
    {\"source\":\"watcher\",\"event\":\"deleted\",\"name\":\"blue\"}
  A namespace is reported once it is mounted, so it can be entered at once.
  {\"source\":\"nsmon\",\"event\":\"ready\"} is printed once the watch is in place.
  Other events: dir_created, dir_deleted (with --dir-events; they carry \"dir\"),
  overflow (events were lost; the directory was listed again and the created and
  deleted lines that follow are exactly the difference).

  --dir DIR      watch DIR instead of /var/run/netns (it need not exist yet)
  --list         first report the namespaces already present, as created
  --any-file     report any file, without waiting for a namespace to be mounted
  --dir-events   report the directory itself appearing and disappearing

Output is flushed after every line. nsmon exits 0 on SIGINT or SIGTERM, and
quietly when its output is closed. Bad arguments: exit code 2.
";

/// What to run.
#[derive(Debug)]
pub enum Command {
    Help,
    Version,
    Watch(WatchArgs),
}

/// `nsmon watch` options.
#[derive(Debug, Default)]
pub struct WatchArgs {
    pub dir: Option<PathBuf>,
    pub list: bool,
    pub any_file: bool,
    pub dir_events: bool,
}

/// Parses the arguments after the program name; `Err` is a message for stderr (exit code 2).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        return Err("missing command (try 'nsmon watch')".into());
    };
    match first.to_str() {
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        Some("-V" | "--version") => Ok(Command::Version),
        Some("watch") => parse_watch(args).map(Command::Watch),
        _ => Err(format!("unknown command {first:?}")),
    }
}

fn parse_watch(mut args: impl Iterator<Item = OsString>) -> Result<WatchArgs, String> {
    let mut watch = WatchArgs::default();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(OsString::from(value))),
            _ => (text, None),
        };
        let no_value = |set: &mut bool| match inline {
            Some(_) => Err(format!("{flag} takes no value")),
            None => {
                *set = true;
                Ok(())
            }
        };
        match flag {
            "--dir" => {
                let value = match inline {
                    Some(v) => v,
                    None => args.next().ok_or("--dir needs a directory")?,
                };
                if value.is_empty() {
                    return Err("--dir needs a non-empty directory".into());
                }
                watch.dir = Some(PathBuf::from(value));
            }
            "--list" => no_value(&mut watch.list)?,
            "--any-file" => no_value(&mut watch.any_file)?,
            "--dir-events" => no_value(&mut watch.dir_events)?,
            "-h" | "--help" => return Err("use 'nsmon --help'".into()),
            _ => return Err(format!("unknown option {text:?} for 'nsmon watch'")),
        }
    }
    Ok(watch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn parses_watch_flags() {
        let Command::Watch(w) = parse_strs(&[
            "watch",
            "--dir",
            "/tmp/x",
            "--list",
            "--any-file",
            "--dir-events",
        ])
        .unwrap() else {
            panic!("not watch")
        };
        assert_eq!(w.dir.as_deref(), Some(std::path::Path::new("/tmp/x")));
        assert!(w.list && w.any_file && w.dir_events);
        let Command::Watch(w) = parse_strs(&["watch", "--dir=/tmp/y"]).unwrap() else {
            panic!("not watch")
        };
        assert_eq!(w.dir.as_deref(), Some(std::path::Path::new("/tmp/y")));
    }

    #[test]
    fn rejects_bad_arguments() {
        for bad in [
            &[][..],
            &["bogus"],
            &["watch", "--bogus"],
            &["watch", "--dir"],
            &["watch", "--dir="],
            &["watch", "--list=yes"],
            &["watch", "extra"],
        ] {
            assert!(parse_strs(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
