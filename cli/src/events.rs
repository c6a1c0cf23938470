//! `nsmon events`: rtnetlink events from the namespaces the command line names, and with
//! `--follow` from every named one as it comes and goes (follow_named.rs), or with
//! `--follow --all` from every namespace of the host (follow_all.rs).

use std::collections::HashSet;

use nsmon::{Groups, NetnsRef, Stream, StreamEvent, StreamEventRef, StreamOptions};

use crate::args::{EventsArgs, Target};
use crate::follow_named::Follower;
use crate::output::Output;
use crate::stream_json::ref_to_json;
use crate::sys::raise_nofile_limit;
use crate::{follow_all, Failure};

/// `nsmon events`: until a termination signal, or until stdout's reader goes away.
pub fn run(args: EventsArgs) -> Result<(), Failure> {
    // One socket per namespace: let the command use every fd it is allowed.
    raise_nofile_limit();
    let out = Output::new()?;
    let options = StreamOptions::new()
        .groups(groups(&args.groups))
        .dump(args.dump)
        .resync_on_overrun(true);
    let stream = open_stream(&args, options)?;
    if args.all {
        return follow_all::run(out, stream, options);
    }
    let follower = match args.follow {
        true => Some(Follower::new(&args)?),
        false => None,
    };
    run_loop(out, stream, options, follower)
}

/// The stream, with every namespace the command line names.
fn open_stream(args: &EventsArgs, options: StreamOptions) -> Result<Stream, Failure> {
    let mut stream = Stream::new()?;
    if args.default || (args.targets.is_empty() && !args.follow && !args.all_nsid) {
        stream.add("default", NetnsRef::Current, options)?;
    }
    if args.all_nsid {
        stream.add_all_nsid("all-nsid", NetnsRef::Current, options)?;
    }
    add_targets(&mut stream, &args.targets, options)?;
    Ok(stream)
}

/// Adds `targets` in one batch (one helper thread for all of them, not one each); the first
/// that fails, in command-line order, ends the command as if they had been added one by one:
/// its failure's kind (and so the exit status) stays, the message names the target.
fn add_targets(
    stream: &mut Stream,
    targets: &[Target],
    options: StreamOptions,
) -> Result<(), Failure> {
    let keyed: Vec<(String, NetnsRef<'_>)> = targets.iter().map(key_and_ref).collect();
    // The first of each key goes into the batch; a repeat is added alone once all before it
    // are in, so that it fails as it always has ("already in the stream"), not as a repeat
    // within one batch.
    let mut seen = HashSet::with_capacity(keyed.len());
    let first: Vec<bool> = keyed
        .iter()
        .map(|(key, _)| seen.insert(key.as_str()))
        .collect();
    let batch: Vec<(&str, NetnsRef<'_>)> = keyed
        .iter()
        .zip(&first)
        .filter(|(_, first)| **first)
        .map(|((key, ns), _)| (key.as_str(), *ns))
        .collect();
    let mut results = stream.add_many(&batch, options).into_iter();
    for ((key, ns), first) in keyed.iter().zip(first) {
        let result = match first {
            true => results.next().unwrap_or_else(|| {
                Err(nsmon::Error::Internal(
                    "add_many returned too few results".into(),
                ))
            }),
            false => stream.add(key, *ns, options),
        };
        result.map_err(|e| match Failure::from(e) {
            Failure::Usage(m) => Failure::Usage(format!("{key}: {m}")),
            Failure::Message(m) => Failure::Message(format!("{key}: {m}")),
            other => other,
        })?;
    }
    Ok(())
}

/// The stream key of a target named on the command line, and the namespace it stands for.
fn key_and_ref(target: &Target) -> (String, NetnsRef<'_>) {
    match target {
        Target::Name(name) => (name.clone(), NetnsRef::Name(name)),
        Target::Path(path) => (path.display().to_string(), NetnsRef::Path(path)),
        Target::Pid(pid) => (format!("pid:{pid}"), NetnsRef::Pid(*pid)),
    }
}

/// The loop of `nsmon events`, with `--follow` the watcher's too.
fn run_loop(
    mut out: Output,
    mut stream: Stream,
    options: StreamOptions,
    mut follower: Option<Follower>,
) -> Result<(), Failure> {
    out.add(&mut stream)?;
    if let Some(f) = follower.as_mut() {
        out.add(&mut f.watcher)?;
        // The namespaces present now are subscribed before `ready`.
        f.drain(&mut stream, options, &mut out)?;
    }
    out.ready()?;
    loop {
        if let Some(f) = follower.as_mut() {
            f.drain(&mut stream, options, &mut out)?;
        }
        // Borrowed, a message typed from the stream's buffer rather than copied first; in one
        // call that settles the stream's readiness once for all that is ready.
        let mut failed = None;
        stream.dispatch_ref(|event| {
            if let (StreamEventRef::Other(StreamEvent::Error { key, .. }), Some(f)) =
                (event, follower.as_mut())
            {
                f.forget(key);
            }
            let line = ref_to_json(event);
            let written = out.line(&line);
            crate::json::recycle(line);
            match written {
                Ok(()) => true,
                Err(end) => {
                    failed = Some(end);
                    false
                }
            }
        })?;
        if let Some(end) = failed {
            return Err(end);
        }
        out.wait()?;
    }
}

fn groups(names: &[String]) -> Groups {
    if names.is_empty() {
        return Groups::ALL;
    }
    names.iter().fold(Groups::NONE, |acc, name| {
        acc | match name.as_str() {
            "link" => Groups::LINK,
            "addr" => Groups::ADDR,
            "route" => Groups::ROUTE,
            "neigh" => Groups::NEIGH,
            _ => Groups::TC, // the parser accepts only the five names
        }
    })
}
