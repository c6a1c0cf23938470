//! The model's rules, driven by a fake kernel.

use super::*;

/// A kernel where inode N is namespace id N (or `ids` says otherwise), alive while `dead`
/// does not hold it.
#[derive(Default)]
struct Fake {
    ids: HashMap<u64, u64>,
    dead: BTreeSet<u64>,
    gone_holders: BTreeSet<PathBuf>,
}

impl Kernel for Fake {
    fn identify(&mut self, path: &Path, ino: u64) -> Option<Identified> {
        if self.gone_holders.contains(path) {
            return None;
        }
        let id = *self.ids.get(&ino).unwrap_or(&ino);
        Some(Identified {
            id: NetnsId {
                id: Some(id),
                dev: 4,
                ino,
            },
            handle: Some(NsHandle::fake(id)),
        })
    }
    fn alive(&mut self, handle: &NsHandle) -> Option<bool> {
        Some(!self.dead.contains(&handle.fake_id()))
    }
}

fn kinds(events: &[InventoryEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            InventoryEvent::Appeared { ns } => format!(
                "+{} pids={:?} names={:?}",
                ns.id.id.unwrap(),
                ns.pids,
                ns.names
            ),
            InventoryEvent::Gone { id } => format!("-{}", id.id.unwrap()),
            InventoryEvent::Unheld { id } => format!("~{}", id.id.unwrap()),
            InventoryEvent::NameAdded { id, path } => {
                format!("name+{} {}", id.id.unwrap(), path.display())
            }
            InventoryEvent::NameRemoved { id, path } => {
                format!("name-{} {}", id.id.unwrap(), path.display())
            }
            other => format!("{other:?}"),
        })
        .collect()
}

fn batch(
    model: &mut Model,
    k: &mut Fake,
    f: impl FnOnce(&mut Model, &mut Fake, &mut Vec<InventoryEvent>),
) -> Vec<String> {
    let mut out = Vec::new();
    f(model, k, &mut out);
    let _ = model.settle(k, &mut out);
    kinds(&out)
}

#[test]
fn a_namespace_appears_once_with_all_its_holders_and_goes_with_the_last() {
    let (mut m, mut k) = (Model::default(), Fake::default());
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 10, vec![(10, 1)], out);
        m.set_process(k, 11, vec![(11, 1)], out);
        m.set_process(k, 12, vec![(12, 2)], out);
    });
    assert_eq!(
        events,
        ["+1 pids=[10, 11] names=[]", "+2 pids=[12] names=[]"]
    );
    // One of two holders goes: nothing; the last goes and the kernel says gone: Gone.
    let events = batch(&mut m, &mut k, |m, k, out| m.set_task(k, 10, 10, None, out));
    assert!(events.is_empty(), "{events:?}");
    k.dead.insert(1);
    let events = batch(&mut m, &mut k, |m, k, out| m.set_task(k, 11, 11, None, out));
    assert_eq!(events, ["-1"]);
    assert_eq!(m.len(), 1);
}

#[test]
fn a_namespace_the_kernel_still_has_stays_without_holders_until_a_rescan_finds_it_gone() {
    let (mut m, mut k) = (Model::default(), Fake::default());
    batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 10, vec![(10, 5)], out)
    });
    // Its process goes, but something nsmon cannot see (a socket) still holds it.
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 10, vec![], out)
    });
    assert_eq!(events, ["~5"]);
    assert_eq!(m.namespaces().len(), 1);
    let mut out = Vec::new();
    assert!(m.recheck(&mut k, &mut out), "still there");
    assert!(out.is_empty());
    k.dead.insert(5);
    assert!(!m.recheck(&mut k, &mut out));
    assert_eq!(kinds(&out), ["-5"]);
    // Back, then gone at a rescan.
    batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 11, vec![(11, 6)], out)
    });
    batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 11, vec![], out)
    });
    k.dead.insert(6);
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.apply_scan(
            k,
            HashMap::new(),
            Some(HashMap::new()),
            None,
            HashMap::new(),
            out,
        )
    });
    assert_eq!(events, ["-6"]);
}

#[test]
fn an_inode_taken_by_a_new_namespace_is_the_old_one_gone_and_a_new_one() {
    let (mut m, mut k) = (Model::default(), Fake::default());
    batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 10, vec![(10, 7)], out)
    });
    batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 10, vec![], out)
    });
    // Still there for the kernel, say, when its last holder went; then freed, and its
    // inode number taken by a new namespace (id 70) that a new process is in.
    k.ids.insert(7, 70);
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 20, vec![(20, 7)], out)
    });
    assert_eq!(events, ["-7", "+70 pids=[20] names=[]"]);
}

#[test]
fn names_come_and_go_between_appeared_and_gone() {
    let (mut m, mut k) = (Model::default(), Fake::default());
    let a = PathBuf::from("/run/a");
    let b = PathBuf::from("/srv/b");
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_mounts(k, HashMap::from([(a.clone(), 3)]), out)
    });
    assert_eq!(events, ["+3 pids=[] names=[\"/run/a\"]"]);
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_mounts(k, HashMap::from([(a.clone(), 3), (b.clone(), 3)]), out)
    });
    assert_eq!(events, ["name+3 /srv/b"]);
    k.dead.insert(3);
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_mounts(k, HashMap::new(), out)
    });
    assert_eq!(events, ["name-3 /run/a", "name-3 /srv/b", "-3"]);
}

#[test]
fn a_holder_that_went_before_it_was_identified_is_not_recorded() {
    let (mut m, mut k) = (Model::default(), Fake::default());
    k.gone_holders
        .insert(PathBuf::from("/proc/30/task/30/ns/net"));
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 30, vec![(30, 9)], out)
    });
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(m.len(), 0);
}

#[test]
fn fds_hold_a_namespace_after_its_processes_and_go_with_their_process() {
    let (mut m, mut k) = (Model::default(), Fake::default());
    batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 40, vec![(40, 8)], out);
        m.set_process(k, 41, vec![(41, 1)], out);
        m.set_fds(k, 41, vec![(3, 8)], out);
    });
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 40, vec![], out)
    });
    assert!(events.is_empty(), "the fd of 41 holds it: {events:?}");
    k.dead.insert(8);
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 41, vec![], out)
    });
    assert_eq!(events, ["~1", "-8"], "its fd went with process 41");
}

#[test]
fn a_process_whose_only_thread_changes_namespace_keeps_its_fds() {
    let (mut m, mut k) = (Model::default(), Fake::default());
    batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 50, vec![(50, 1)], out);
        m.set_fds(k, 50, vec![(3, 9)], out);
    });
    // setns (or unshare) then execve: the same process, in namespace 2 now.
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_task(k, 50, 50, Some(2), out)
    });
    assert_eq!(
        events,
        ["+2 pids=[50] names=[]", "~1"],
        "its fd still holds 9"
    );
    let nine = m.namespaces().into_iter().find(|n| n.id.ino == 9).unwrap();
    assert_eq!(nine.fds, vec![(50, 3)]);
}

#[test]
fn a_reused_thread_id_belongs_to_its_new_process_and_a_stale_exit_is_ignored() {
    let (mut m, mut k) = (Model::default(), Fake::default());
    batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 60, vec![(60, 1)], out)
    });
    // Process 60 ended unseen; its number is a thread of process 70 now, same namespace.
    batch(&mut m, &mut k, |m, k, out| {
        m.set_task(k, 60, 70, Some(1), out)
    });
    // An exit of tid 60 said to be of another process than the one recorded: stale.
    let events = batch(&mut m, &mut k, |m, k, out| m.set_task(k, 60, 99, None, out));
    assert!(events.is_empty(), "{events:?}");
    // A rescan that finds process 60 gone does not take the thread of process 70 with it.
    k.dead.insert(1);
    let events = batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 60, vec![], out)
    });
    assert!(
        events.is_empty(),
        "the thread of 70 still holds 1: {events:?}"
    );
}

#[test]
fn a_namespace_gone_under_stale_holders_is_gone_and_its_inode_s_new_namespace_appears() {
    let (mut m, mut k) = (Model::default(), Fake::default());
    // Held by an fd of process 80 (and its process is elsewhere).
    batch(&mut m, &mut k, |m, k, out| {
        m.set_process(k, 80, vec![(80, 1)], out);
        m.set_fds(k, 80, vec![(3, 7)], out);
    });
    // The fd was closed (no event), the namespace freed, and its inode number taken by a
    // new namespace (id 70) that process 81 is in.
    k.dead.insert(7);
    k.ids.insert(7, 70);
    let events = batch(&mut m, &mut k, |m, k, out| {
        let tasks = HashMap::from([(80, vec![(80, 1)]), (81, vec![(81, 7)])]);
        m.apply_scan(k, tasks, Some(HashMap::new()), None, HashMap::new(), out)
    });
    assert_eq!(events, ["-7", "+70 pids=[81] names=[]"]);
}
