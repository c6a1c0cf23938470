//! `nsmon nsid`: namespace-id events as they come, or one id got or set.

use nsmon::nsid::{assign_nsid_in, nsid_in};
use nsmon::{Name, NetnsId, NetnsRef, NsidEvent, NsidOptions, NsidRequest, NsidSubscriber};

use crate::args::{NsidArgs, Target};
use crate::json::Object;
use crate::output::Output;
use crate::print_loop::print_each;
use crate::Failure;

/// `nsmon nsid`: follows until a termination signal; `get` and `set` print one line.
pub fn run(args: NsidArgs) -> Result<(), Failure> {
    match args {
        NsidArgs::Follow { observer } => {
            let out = Output::new()?;
            let subscriber = NsidSubscriber::open_in(observer_ref(&observer), NsidOptions::new())?;
            print_each(out, subscriber, |s| Ok(s.next()?.map(|e| to_json(&e))))
        }
        NsidArgs::Get { target, observer } => {
            let id = nsid_in(observer_ref(&observer), target_ref(&target))?;
            print_answer(&target, id, target_ref(&target).identify()?)
        }
        NsidArgs::Set { name, id, observer } => {
            let request = id.map_or(NsidRequest::Auto, NsidRequest::Fixed);
            let id = assign_nsid_in(observer_ref(&observer), NetnsRef::Name(&name), request)?;
            let identity = NetnsRef::Name(&name).identify()?;
            print_answer(&Target::Name(name), Some(id), identity)
        }
    }
}

fn observer_ref(observer: &Option<String>) -> NetnsRef<'_> {
    observer
        .as_deref()
        .map_or(NetnsRef::Current, NetnsRef::Name)
}

fn target_ref(target: &Target) -> NetnsRef<'_> {
    match target {
        Target::Name(name) => NetnsRef::Name(name),
        Target::Pid(pid) => NetnsRef::Pid(*pid),
        Target::Path(path) => NetnsRef::Path(path),
    }
}

/// The answer of `get` and `set`: the target, its nsid (null: none assigned), and who the
/// namespace is: `netns_id` (NS_GET_ID, null on kernels without it) and its nsfs `inode`.
fn print_answer(target: &Target, id: Option<u32>, identity: NetnsId) -> Result<(), Failure> {
    let object = match target {
        Target::Name(name) => Object::plain().field("name", name),
        Target::Pid(pid) => Object::plain().number("pid", i64::from(*pid)),
        Target::Path(path) => Object::plain().name("path", &Name::from(path.as_os_str())),
    };
    let line = object
        .maybe_number("nsid", id.map(i64::from))
        .maybe_unsigned("netns_id", identity.id)
        .maybe_unsigned("inode", Some(identity.ino))
        .line();
    crate::print(&line)
}

fn to_json(event: &NsidEvent) -> String {
    let object = match *event {
        NsidEvent::NewNsid { nsid, pid, .. } => Object::new("nsid", "new_nsid")
            .number("nsid", i64::from(nsid))
            .maybe_number("pid", pid.map(i64::from)),
        NsidEvent::DelNsid { nsid } => {
            Object::new("nsid", "del_nsid").number("nsid", i64::from(nsid))
        }
        NsidEvent::Overrun { lost } => Object::new("nsid", "overrun")
            .maybe_number("lost", lost.map(|n| i64::try_from(n).unwrap_or(i64::MAX))),
        NsidEvent::Unparsed {
            ref reason,
            ref raw,
        } => Object::new("nsid", "unparsed")
            .field("reason", reason)
            .hex("raw", raw),
        // NsidEvent is non-exhaustive: a newer library's event gets a generic line.
        ref other => Object::new("nsid", "unknown").field("debug", &format!("{other:?}")),
    };
    object.line()
}
