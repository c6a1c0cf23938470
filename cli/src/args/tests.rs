//! The grammar, form by form: what each subcommand accepts and how it refuses the rest.

use std::os::unix::ffi::OsStrExt;

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

/// `parse` of raw arguments (any bytes).
fn parse_os(args: &[&[u8]]) -> Result<Command, String> {
    use std::os::unix::ffi::OsStringExt;
    parse(args.iter().map(|a| OsString::from_vec(a.to_vec())))
}

#[test]
fn every_option_with_a_value_takes_it_after_an_equals_sign_or_as_the_next_argument() {
    for (command, option, value) in [
        (&["watch"][..], "--dir", "/d"),
        (&["events"], "--ns", "blue"),
        (&["events"], "--path", "/p"),
        (&["events"], "--pid", "7"),
        (&["events"], "--groups", "link,tc"),
        (&["events", "--follow"], "--dir", "/d"),
        (&["nsid"], "--ns", "blue"),
        (&["nsid", "get", "x"], "--ns", "blue"),
        (&["nsid", "get"], "--pid", "7"),
        (&["nsid", "get"], "--path", "/p"),
        (&["nsid", "set", "x", "auto"], "--ns", "blue"),
    ] {
        let apart: Vec<&str> = command.iter().copied().chain([option, value]).collect();
        let joined = format!("{option}={value}");
        let equals: Vec<&str> = command.iter().copied().chain([joined.as_str()]).collect();
        let apart = parse_strs(&apart).unwrap_or_else(|e| panic!("{apart:?}: {e}"));
        assert_eq!(parse_strs(&equals), Ok(apart), "{equals:?}");
    }
    // The value of --ns is the observer in every nsid form.
    assert_eq!(
        parse_strs(&["nsid", "get", "--ns=o", "blue"]),
        Ok(Command::Nsid(NsidArgs::Get {
            target: Target::Name("blue".into()),
            observer: Some("o".into())
        }))
    );
}

#[test]
fn paths_are_any_bytes_and_names_are_text() {
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/x\xff"));
    match parse_os(&[b"events", b"--path", b"/tmp/x\xff"]).unwrap() {
        Command::Events(e) => assert_eq!(e.targets, vec![Target::Path(path.clone())]),
        other => panic!("{other:?}"),
    }
    match parse_os(&[b"nsid", b"get", b"--path=/tmp/x\xff"]).unwrap() {
        Command::Nsid(NsidArgs::Get { target, .. }) => {
            assert_eq!(target, Target::Path(path.clone()))
        }
        other => panic!("{other:?}"),
    }
    match parse_os(&[b"watch", b"--dir=/tmp/x\xff"]).unwrap() {
        Command::Watch(w) => assert_eq!(w.dirs, vec![path.clone()]),
        other => panic!("{other:?}"),
    }
    match parse_os(&[b"events", b"--follow", b"--dir", b"/tmp/x\xff"]).unwrap() {
        Command::Events(e) => assert_eq!(e.dirs, vec![path]),
        other => panic!("{other:?}"),
    }
    for bad in [
        &[&b"events"[..], b"--ns", b"x\xff"][..],
        &[b"nsid", b"--ns=x\xff"],
        &[b"nsid", b"get", b"x\xff"],
    ] {
        let message = parse_os(bad).unwrap_err();
        assert!(message.contains("not valid UTF-8"), "{bad:?}: {message}");
    }
}

#[test]
fn one_pid_parser_refuses_a_bad_pid_with_the_same_message_everywhere() {
    for pid in ["0", "x", "-1", "4294967296", " 1"] {
        let want = Err(format!("--pid {pid:?} is not a process id"));
        let joined = format!("--pid={pid}");
        assert_eq!(parse_strs(&["events", &joined]), want);
        assert_eq!(parse_strs(&["nsid", "get", &joined]), want);
        if !pid.starts_with('-') {
            assert_eq!(parse_strs(&["events", "--pid", pid]), want);
            assert_eq!(parse_strs(&["nsid", "get", "--pid", pid]), want);
        }
    }
}

#[test]
fn refusals_say_what_is_wrong_in_the_same_words_in_every_subcommand() {
    for command in ["watch", "ls", "events", "nsid"] {
        assert_eq!(
            parse_strs(&[command, "--bogus"]),
            Err(format!("unknown option \"--bogus\" for 'nsmon {command}'"))
        );
        assert_eq!(
            parse_strs(&[command, "-x"]),
            Err(format!("unknown option \"-x\" for 'nsmon {command}'"))
        );
        assert_eq!(parse_strs(&[command, "--help"]), Ok(Command::Help));
        assert_eq!(parse_strs(&[command, "-h"]), Ok(Command::Help));
    }
    for (args, message) in [
        (&["watch", "--list=1"][..], "--list takes no value"),
        (&["events", "--dump=yes"], "--dump takes no value"),
        (&["ls", "--json=1"], "--json takes no value"),
        (&["watch", "--dir"], "--dir needs a directory"),
        (&["events", "--ns"], "--ns needs a namespace name"),
        (&["nsid", "--ns"], "--ns needs a namespace name"),
        (&["nsid", "get", "--pid"], "--pid needs a process id"),
        (
            &["events", "--path="],
            "--path needs a path, not an empty string",
        ),
        (
            &["watch", "extra"],
            "unexpected argument \"extra\" for 'nsmon watch'",
        ),
        (&["--bogus"], "unknown option \"--bogus\""),
        (&["bogus"], "unknown command \"bogus\""),
    ] {
        assert_eq!(parse_strs(args), Err(message.to_string()), "{args:?}");
    }
}

#[test]
fn after_a_double_dash_a_word_may_start_with_a_dash() {
    assert_eq!(
        parse_strs(&["nsid", "get", "--", "-blue"]),
        Ok(Command::Nsid(NsidArgs::Get {
            target: Target::Name("-blue".into()),
            observer: None
        }))
    );
}
