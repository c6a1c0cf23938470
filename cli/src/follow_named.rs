//! `nsmon events --follow`: every named namespace followed, from the watcher; each added to the
//! stream as it appears, removed when it goes. Also the stream keys of followed namespaces.

use std::collections::HashSet;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nsmon::{
    Name, NetnsRef, Stream, StreamOptions, WatchEvent, Watcher, WatcherOptions, DEFAULT_NETNS_DIR,
};

use crate::args::EventsArgs;
use crate::json::Object;
use crate::output::Output;
use crate::stream_json::stream_line;
use crate::Failure;

/// The watcher beside the stream, and what following added to it.
pub struct Follower {
    pub watcher: Watcher,
    /// Keys added by following (explicit `--ns` keys are never removed by it).
    followed: HashSet<String>,
}

/// A namespace the watcher reports, as the stream follows it.
struct Named {
    key: String,
    path: PathBuf,
    /// Its name, when it is in the default folder and UTF-8 (opened as `ip netns` would).
    name: Option<String>,
}

impl Named {
    fn new(dir: &Path, name: &Name) -> Self {
        let default = dir == Path::new(DEFAULT_NETNS_DIR);
        Named {
            key: follow_key(dir, name),
            path: dir.join(name.as_os_str()),
            name: name.to_str().filter(|_| default).map(str::to_string),
        }
    }

    fn netns(&self) -> NetnsRef<'_> {
        match &self.name {
            Some(name) => NetnsRef::Name(name),
            None => NetnsRef::Path(&self.path),
        }
    }
}

/// The stream key of a followed namespace: its name in the default folder, its path in any
/// other (a name holds no `/`, so the two never meet); as UTF-8, or else a NUL (which no name
/// or path holds, so no other key collides) and the bytes in hex. [`key_bytes`] turns it back.
fn follow_key(dir: &Path, name: &Name) -> String {
    let bytes = match dir == Path::new(DEFAULT_NETNS_DIR) {
        true => name.as_bytes().to_vec(),
        false => dir.join(name.as_os_str()).into_os_string().into_vec(),
    };
    match std::str::from_utf8(&bytes) {
        Ok(text) => text.to_string(),
        Err(_) => format!("\0{}", crate::json::hex(&bytes)),
    }
}

/// The name or path behind a stream key (see [`follow_key`]).
pub fn key_bytes(key: &str) -> Name {
    let Some(hex) = key.strip_prefix('\0') else {
        return Name::from(key);
    };
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    bytes.map_or_else(|| Name::from(key), Name::from)
}

impl Follower {
    /// Watches the folders `--dir` and `--runtimes` chose (the default one when none), listing
    /// what is there now.
    pub fn new(args: &EventsArgs) -> Result<Self, Failure> {
        let options = args.dirs.iter().fold(
            WatcherOptions::new()
                .runtimes(args.runtimes)
                .list_existing(true),
            |options, dir| options.dir(dir),
        );
        Ok(Follower {
            watcher: Watcher::new(options)?,
            followed: HashSet::new(),
        })
    }

    /// The stream dropped `key` (its socket failed): following no longer owns it.
    pub fn forget(&mut self, key: &str) {
        self.followed.remove(key);
    }

    /// Applies what the watcher reports; the namespaces that appeared are added in one batch
    /// at the end (one helper thread for all of them, not one each).
    pub fn drain(
        &mut self,
        stream: &mut Stream,
        options: StreamOptions,
        out: &mut Output,
    ) -> Result<(), Failure> {
        let mut appeared: Vec<Named> = Vec::new();
        while let Some(event) = self.watcher.next()? {
            match &event {
                WatchEvent::Created { dir, name, .. } => {
                    let named = Named::new(dir, name);
                    if !stream.contains(&named.key) && !appeared.iter().any(|a| a.key == named.key)
                    {
                        appeared.push(named);
                    }
                }
                WatchEvent::Deleted { dir, name, .. } => {
                    let key = follow_key(dir, name);
                    appeared.retain(|a| a.key != key);
                    if self.followed.remove(&key) {
                        stream.remove(&key);
                    }
                }
                WatchEvent::Overflow => appeared = self.resync(stream),
                WatchEvent::DirectoryUnavailable { .. } => {
                    out.line(&crate::watch::to_json(&event))?;
                }
                _ => {}
            }
        }
        self.add(&appeared, stream, options, out)
    }

    /// After an overflow the watcher's set is exact again: drops what is gone, and returns what
    /// is missing.
    fn resync(&mut self, stream: &mut Stream) -> Vec<Named> {
        let present: Vec<Named> = self
            .watcher
            .namespaces()
            .iter()
            .map(|n| Named::new(&n.dir, &n.name))
            .collect();
        let keys: HashSet<&String> = present.iter().map(|n| &n.key).collect();
        let gone: Vec<String> = self
            .followed
            .iter()
            .filter(|k| !keys.contains(k))
            .cloned()
            .collect();
        for key in gone {
            self.followed.remove(&key);
            stream.remove(&key);
        }
        present
            .into_iter()
            .filter(|n| !stream.contains(&n.key))
            .collect()
    }

    /// Adds `appeared` to the stream in one batch; each that fails gets an error line, and then
    /// one `incomplete` line says how far following got and what stopped it.
    fn add(
        &mut self,
        appeared: &[Named],
        stream: &mut Stream,
        options: StreamOptions,
        out: &mut Output,
    ) -> Result<(), Failure> {
        let batch: Vec<(&str, NetnsRef<'_>)> = appeared
            .iter()
            .map(|named| (named.key.as_str(), named.netns()))
            .collect();
        let mut failed = 0;
        let mut first_error = None;
        for (named, result) in appeared.iter().zip(stream.add_many(&batch, options)) {
            match result {
                Ok(()) => {
                    self.followed.insert(named.key.clone());
                }
                // Gone again already, or refused: say so and go on with the others.
                Err(e) => {
                    let line = stream_line("error", &named.key)
                        .field("error", &e.to_string())
                        .line();
                    out.line(&line)?;
                    failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(error) = first_error {
            // A limit names itself in the error (EMFILE: RLIMIT_NOFILE).
            let line = Object::new("nsmon", "incomplete")
                .number("added", (appeared.len() - failed) as i64)
                .number("failed", failed as i64)
                .number("monitored", stream.len() as i64)
                .field("error", &error.to_string())
                .line();
            out.line(&line)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_keys_turn_back_into_their_names_and_paths() {
        let default = Path::new(DEFAULT_NETNS_DIR);
        let docker = Path::new("/var/run/docker/netns");
        for name in [&b"blue"[..], b"x\xfe", b"\xff\xff", b""] {
            let name = Name::from(name);
            assert_eq!(key_bytes(&follow_key(default, &name)), name);
            let path = docker.join(name.as_os_str());
            assert_eq!(
                key_bytes(&follow_key(docker, &name)),
                Name::from(path.as_os_str())
            );
        }
        assert_eq!(follow_key(default, &Name::from(&b"x\xfe"[..])), "\x0078fe");
        assert_eq!(
            follow_key(docker, &Name::from("abc")),
            "/var/run/docker/netns/abc"
        );
    }
}
