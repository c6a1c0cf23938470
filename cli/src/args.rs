//! Command-line parsing: small enough to write by hand, which keeps the command's dependencies
//! at zero beyond the library's own.

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
nsmon: watch Linux network namespaces; prints one JSON object per line.

Names (of links, labels, kinds, namespaces, directories) are bytes: a name that
is UTF-8 is its field's string; one that is not is its lossy text there, and its
exact bytes in hex in the same key plus _hex (\"name\":\"x\\ufffd\",\"name_hex\":\"78ff\").

Usage:
  nsmon watch [--dir DIR]... [--runtimes] [--list] [--any-file] [--dir-events]
  nsmon watch --all
  nsmon ls [--json] [--sockets]
  nsmon nsid [--ns NAME]
  nsmon nsid get (NAME | --pid PID | --path PATH) [--ns NAME]
  nsmon nsid set NAME (auto | ID) [--ns NAME]
  nsmon events [--default] [--ns NAME]... [--path PATH]... [--pid PID]...
               [--all-nsid] [--follow [--dir DIR]... [--runtimes] | --follow --all]
               [--groups link,addr,route,neigh,tc] [--dump]
  nsmon --help | --version

nsmon watch
  Reports named network namespaces appearing and disappearing in each DIR
  (default /var/run/netns, where `ip netns` keeps them), with the folder, the
  namespace's never-reused id (NS_GET_ID; null on kernels without it) and inode:
    {\"source\":\"watcher\",\"event\":\"created\",\"dir\":\"/var/run/netns\",
     \"name\":\"blue\",\"netns_id\":8193,\"inode\":4026532290}
    {\"source\":\"watcher\",\"event\":\"deleted\",\"dir\":\"/var/run/netns\",
     \"name\":\"blue\",\"netns_id\":8193,\"inode\":4026532290}
  A namespace is reported once it is mounted, so it can be entered at once, and
  deleted as soon as it is unmounted, even if its file stays; another namespace
  mounted on the same name is deleted and created again, with its own id.
  {\"source\":\"nsmon\",\"event\":\"ready\"} is printed once the watch is in place.
  dir_unavailable: DIR cannot be watched now (a loop of symbolic links, no
  permission; \"reason\" says why): it is waited for, and taken up once it can be.
  DIR may be a symbolic link: nsmon follows it as it is re-pointed.
  Other events: dir_created, dir_deleted (with --dir-events; they carry \"dir\"),
  overflow (events were lost; the directory was listed again and the created and
  deleted lines that follow are exactly the difference).

  --dir DIR      watch DIR instead of /var/run/netns (it need not exist yet);
                 repeat it for more folders (each watched once, however spelt);
                 a component * stands for every subdirectory (/run/user/*/netns)
  --runtimes     also watch the container runtimes' folders: /var/run/netns,
                 /run/netns (Podman), /var/run/docker/netns (Docker),
                 /run/containerd/io.containerd.grpc.v1.cri/netns (containerd),
                 /run/user/*/netns (rootless Podman), now or when they appear
  --list         first report the namespaces already present, as created
  --any-file     report any file, without waiting for a namespace to be mounted
  --dir-events   report the directory itself appearing and disappearing

nsmon ls
  Lists every network namespace of the host, named or not: held by a process or
  thread, mounted anywhere (its names), or held open by an fd. Columns: NETNS_ID
  (NS_GET_ID), INODE, NSID (as this namespace sees it), PROCS (processes whose
  main thread is in it), PID and COMMAND of one holder, NAMES. --json: one line
  each, {\"netns_id\":N,\"inode\":N,\"nsid\":N|null,\"names\":[...],\"pids\":[...],
  \"threads\":[...],\"fds\":[[PID,FD],...],\"processes\":N,\"pid\":N,\"command\":...}.
  \"sockets\":[[PID,FD],...] with --sockets, which also finds a namespace held
  only by a socket (each socket of the host is asked, as lsns does: costly).

nsmon watch --all
  Reports every network namespace of the host as it appears and goes:
    {\"source\":\"inventory\",\"event\":\"appeared\",\"netns_id\":N,\"inode\":N,
     \"names\":[...],\"pids\":[...],\"threads\":[...],\"fds\":[[PID,FD],...]}
    {\"source\":\"inventory\",\"event\":\"gone\",\"netns_id\":N,\"inode\":N}
  name_added, name_removed (\"path\": a mount of it came or went); unheld (it lost
  its last visible holder but still exists: a socket or a lazy unmount holds it);
  degraded (\"reason\": no proc connector without CAP_NET_ADMIN: changes are found
  by the rescan every 5 s); overrun, then rescanned (events were lost and the
  lines between are exactly the difference).

nsmon nsid
  Reports namespace ids being assigned and released (as seen from the
  caller's namespace, or from namespace NAME with --ns):
    {\"source\":\"nsid\",\"event\":\"new_nsid\",\"nsid\":3,\"pid\":null}
    {\"source\":\"nsid\",\"event\":\"del_nsid\",\"nsid\":3}
  overrun: the kernel dropped messages (\"lost\": how many, or null when the kernel
  does not say); nsmon goes on. unparsed: a message nsmon could not read
  (\"reason\", \"raw\" as hex).
  A named namespace gets an id only when one is assigned (nsmon nsid set,
  ip netns set) or the kernel needs one (e.g. a veth peer in another namespace).

nsmon nsid get NAME | --pid PID | --path PATH
  Prints the namespace's id: {\"name\":\"blue\",\"nsid\":3}, or \"nsid\":null when
  none is assigned (exit code 0 either way).

nsmon nsid set NAME auto | ID
  Assigns an id (auto: the kernel picks) and prints it as `get` does.

nsmon events
  Reports links, addresses, routes, neighbours and tc objects changing in each
  namespace given (the caller's own with --default, or when nothing is given),
  tagged with \"ns\": the name, \"default\", the path, or \"pid:N\":
    {\"source\":\"stream\",\"event\":\"new_route\",\"ns\":\"blue\",\"family\":\"inet\",
     \"table\":254,\"dst\":\"10.1.2.0/24\",\"gateway\":\"10.0.0.1\",\"oif\":2,...}
  Events: new_/del_ link, addr, route, neigh, qdisc, class, filter; synced (after
  --dump: the dump was complete and consistent), sync_failed (it was not:
  \"reason\"), overrun (\"lost\" messages were dropped; a dump follows, then
  synced), unparsed (a message nsmon could not type: \"reason\", \"type\", \"raw\"
  as hex; the namespace goes on), error (that namespace's socket failed and it
  was dropped).
  --all-nsid     one socket hearing this namespace and every namespace that has
                 an id in it; those events carry \"nsid\", and \"ns\" is the key the
                 namespace was added under (e.g. by --ns or --follow), else
                 \"all-nsid\". They share one receive buffer: an overrun of
                 \"all-nsid\" may have lost events of any of them.
  --follow       also follow every named namespace, as it appears and goes
                 (what changes in one before it is subscribed is not reported:
                 with --dump, its objects are listed once it is). A namespace
                 that cannot be followed gets an error line; then a line
                 {\"source\":\"nsmon\",\"event\":\"incomplete\",\"added\":N,\"failed\":M,
                 \"monitored\":K,\"error\":...} says how far it got and why (e.g. the
                 open-file limit, RLIMIT_NOFILE: as many as fit are followed).
                 --dir and --runtimes choose the folders, as for nsmon watch;
                 --all follows every network namespace of the host instead,
                 named or not (from the inventory, as nsmon watch --all): each
                 as it appears, keyed \"ns\":\"netns:ID\" with \"netns_id\" and its
                 \"names\" on every line; its socket is released as soon as
                 nothing else visible holds it (so following never keeps a
                 namespace alive).
                 A namespace in /var/run/netns is \"ns\":NAME; one in another
                 folder is \"ns\":\"FOLDER/NAME\" (its path), with \"dir\":FOLDER.
  --groups LIST  only these kinds (default all)
  --dump         first report what exists, then synced

Output is written line by line, as fast as its reader takes it; SIGINT and
SIGTERM end nsmon at once in every state, a stalled reader included.
Exit status: 0 on SIGINT or SIGTERM, and when the reader of the output goes away
(quietly, at once, even with no event to write); 2 for an invalid argument,
whether parsing or its use finds it (a bad name, a path that is not a network
namespace); 1 for any other failure (a namespace that does not exist now, an
output error such as a full disk).
";

/// What to run.
#[derive(Debug)]
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
#[derive(Debug, Default)]
pub struct WatchArgs {
    /// Every network namespace of the host (the inventory), not folders.
    pub all: bool,
    pub dirs: Vec<PathBuf>,
    pub runtimes: bool,
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
        Some("ls") => parse_ls(args),
        Some("nsid") => parse_nsid(args).map(Command::Nsid),
        Some("events") => parse_events(args).map(Command::Events),
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
                watch.dirs.push(PathBuf::from(value));
            }
            "--runtimes" => no_value(&mut watch.runtimes)?,
            "--all" => no_value(&mut watch.all)?,
            "--list" => no_value(&mut watch.list)?,
            "--any-file" => no_value(&mut watch.any_file)?,
            "--dir-events" => no_value(&mut watch.dir_events)?,
            "-h" | "--help" => return Err("use 'nsmon --help'".into()),
            _ => return Err(format!("unknown option {text:?} for 'nsmon watch'")),
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

fn parse_ls(args: impl Iterator<Item = OsString>) -> Result<Command, String> {
    let (mut json, mut sockets) = (false, false);
    for arg in args {
        match arg.to_str() {
            Some("--json") => json = true,
            Some("--sockets") => sockets = true,
            _ => return Err(format!("unknown option {arg:?} for 'nsmon ls'")),
        }
    }
    Ok(Command::Ls { json, sockets })
}

fn utf8(arg: OsString, what: &str) -> Result<String, String> {
    arg.into_string()
        .map_err(|a| format!("{what} {a:?} is not valid UTF-8"))
}

fn parse_events(args: impl Iterator<Item = OsString>) -> Result<EventsArgs, String> {
    let mut out = EventsArgs::default();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let text = utf8(arg, "argument")?;
        let (flag, inline) = match text.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (text.clone(), None),
        };
        let mut value = |flag: &str| -> Result<String, String> {
            let v = match inline.clone() {
                Some(v) => v,
                None => utf8(args.next().ok_or(format!("{flag} needs a value"))?, flag)?,
            };
            if v.is_empty() {
                return Err(format!("{flag} needs a non-empty value"));
            }
            Ok(v)
        };
        match flag.as_str() {
            "--ns" => out.targets.push(Target::Name(value("--ns")?)),
            "--path" => out
                .targets
                .push(Target::Path(PathBuf::from(value("--path")?))),
            "--pid" => {
                let v = value("--pid")?;
                let pid = v
                    .parse::<u32>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or(format!("--pid {v:?} is not a process id"))?;
                out.targets.push(Target::Pid(pid));
            }
            "--groups" => {
                for group in value("--groups")?.split(',') {
                    if !GROUP_NAMES.contains(&group) {
                        return Err(format!(
                            "unknown group {group:?} (known: {})",
                            GROUP_NAMES.join(",")
                        ));
                    }
                    out.groups.push(group.to_string());
                }
            }
            "--dir" => out.dirs.push(PathBuf::from(value("--dir")?)),
            "--default" | "--all-nsid" | "--follow" | "--dump" | "--runtimes" | "--all"
                if inline.is_some() =>
            {
                return Err(format!("{flag} takes no value"))
            }
            "--runtimes" => out.runtimes = true,
            "--all" => out.all = true,
            "--default" => out.default = true,
            "--all-nsid" => out.all_nsid = true,
            "--follow" => out.follow = true,
            "--dump" => out.dump = true,
            _ => return Err(format!("unknown option {text:?} for 'nsmon events'")),
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

fn parse_nsid(args: impl Iterator<Item = OsString>) -> Result<NsidArgs, String> {
    let mut observer = None;
    let mut words = Vec::new();
    let mut pid = None;
    let mut path = None;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let text = utf8(arg, "argument")?;
        let mut value = |flag: &str| -> Result<String, String> {
            let v = utf8(args.next().ok_or(format!("{flag} needs a value"))?, flag)?;
            if v.is_empty() {
                return Err(format!("{flag} needs a non-empty value"));
            }
            Ok(v)
        };
        match text.as_str() {
            "--ns" => observer = Some(value("--ns")?),
            "--pid" => {
                let v = value("--pid")?;
                pid = Some(
                    v.parse::<u32>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or(format!("--pid {v:?} is not a process id"))?,
                );
            }
            "--path" => path = Some(PathBuf::from(value("--path")?)),
            flag if flag.starts_with('-') => {
                return Err(format!("unknown option {flag:?} for 'nsmon nsid'"))
            }
            _ => words.push(text),
        }
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match (words.as_slice(), pid, path) {
        ([], None, None) => Ok(NsidArgs::Follow { observer }),
        (["get", name], None, None) => Ok(NsidArgs::Get {
            target: Target::Name(name.to_string()),
            observer,
        }),
        (["get"], Some(pid), None) => Ok(NsidArgs::Get {
            target: Target::Pid(pid),
            observer,
        }),
        (["get"], None, Some(path)) => Ok(NsidArgs::Get {
            target: Target::Path(path),
            observer,
        }),
        (["get", ..], _, _) => {
            Err("'nsmon nsid get' takes exactly one of NAME, --pid PID, --path PATH".into())
        }
        (["set", name, id], None, None) => {
            let id = match *id {
                "auto" => None,
                n => Some(
                    n.parse::<u32>()
                        .ok()
                        .filter(|n| *n <= i32::MAX as u32)
                        .ok_or(format!(
                            "nsid {n:?} is neither 'auto' nor a number from 0 to 2147483647"
                        ))?,
                ),
            };
            Ok(NsidArgs::Set {
                name: name.to_string(),
                id,
                observer,
            })
        }
        (["set", ..], _, _) => Err("usage: nsmon nsid set NAME (auto | ID)".into()),
        ([word, ..], _, _) => Err(format!("unknown 'nsmon nsid' command {word:?}")),
        ([], _, _) => Err("--pid and --path go with 'nsmon nsid get'".into()),
    }
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
        assert_eq!(w.dirs, vec![PathBuf::from("/tmp/x")]);
        assert!(w.list && w.any_file && w.dir_events && !w.runtimes);
        let Command::Watch(w) =
            parse_strs(&["watch", "--dir=/tmp/y", "--runtimes", "--dir", "z"]).unwrap()
        else {
            panic!("not watch")
        };
        assert_eq!(w.dirs, vec![PathBuf::from("/tmp/y"), PathBuf::from("z")]);
        assert!(w.runtimes);
    }

    #[test]
    fn parses_nsid_commands() {
        let nsid = |args: &[&str]| match parse_strs(args) {
            Ok(Command::Nsid(n)) => Ok(n),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(
            nsid(&["nsid", "--ns", "o"]).unwrap(),
            NsidArgs::Follow {
                observer: Some("o".into())
            }
        );
        assert_eq!(
            nsid(&["nsid", "get", "--pid", "12"]).unwrap(),
            NsidArgs::Get {
                target: Target::Pid(12),
                observer: None
            }
        );
        assert_eq!(
            nsid(&["nsid", "set", "blue", "auto"]).unwrap(),
            NsidArgs::Set {
                name: "blue".into(),
                id: None,
                observer: None
            }
        );
        for bad in [
            &["nsid", "get"][..],
            &["nsid", "get", "a", "--pid", "1"],
            &["nsid", "get", "--pid", "0"],
            &["nsid", "get", "--pid", "x"],
            &["nsid", "set", "blue"],
            &["nsid", "set", "blue", "-1"],
            &["nsid", "set", "blue", "4294967295"],
            &["nsid", "frob"],
            &["nsid", "--pid", "1"],
            &["nsid", "--bogus"],
            &["nsid", "--ns"],
        ] {
            assert!(nsid(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn parses_events_flags() {
        let Command::Events(e) = parse_strs(&[
            "events",
            "--ns",
            "a",
            "--pid",
            "7",
            "--path=/p",
            "--default",
            "--all-nsid",
            "--follow",
            "--groups",
            "link,route",
            "--dump",
            "--dir=/d",
            "--runtimes",
        ])
        .unwrap() else {
            panic!("not events")
        };
        assert_eq!(
            e.targets,
            vec![
                Target::Name("a".into()),
                Target::Pid(7),
                Target::Path("/p".into())
            ]
        );
        assert!(e.default && e.all_nsid && e.follow && e.dump && e.runtimes);
        assert_eq!(e.groups, vec!["link", "route"]);
        assert_eq!(e.dirs, vec![PathBuf::from("/d")]);
        for bad in [
            &["events", "--groups", "link,bogus"][..],
            &["events", "--ns"],
            &["events", "--pid", "0"],
            &["events", "--dump=yes"],
            &["events", "stray"],
            &["events", "--dir", "/d"],
            &["events", "--runtimes"],
            &["events", "--follow", "--runtimes=1"],
        ] {
            assert!(parse_strs(bad).is_err(), "{bad:?} should be refused");
        }
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
            &["watch", "--all", "--dir", "/x"],
            &["watch", "--all", "--runtimes"],
            &["watch", "--all=1"],
            &["ls", "--bogus"],
            &["ls", "extra"],
            &["events", "--all"],
            &["events", "--follow", "--all", "--dir", "/x"],
            &["events", "--follow", "--all=1"],
        ] {
            assert!(parse_strs(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn parses_ls_and_the_all_forms() {
        match parse_strs(&["ls", "--json", "--sockets"]).unwrap() {
            Command::Ls { json, sockets } => assert!(json && sockets),
            other => panic!("{other:?}"),
        }
        match parse_strs(&["ls"]).unwrap() {
            Command::Ls { json, sockets } => assert!(!json && !sockets),
            other => panic!("{other:?}"),
        }
        let Command::Watch(w) = parse_strs(&["watch", "--all"]).unwrap() else {
            panic!("not watch")
        };
        assert!(w.all);
        let Command::Events(e) = parse_strs(&["events", "--follow", "--all"]).unwrap() else {
            panic!("not events")
        };
        assert!(e.follow && e.all);
    }
}
