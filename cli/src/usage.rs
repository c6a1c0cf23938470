//! The help text, `nsmon --help`: every subcommand, option and output line, in one place.

/// What `nsmon --help` prints.
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

Output is written as whole lines, all those ready together, before nsmon waits
again (a reader sees each line as soon as nothing more is ready), as fast as its
reader takes it; SIGINT and SIGTERM end nsmon at once in every state, a stalled
reader included.
Exit status: 0 on SIGINT or SIGTERM, and when the reader of the output goes away
(quietly, at once, even with no event to write); 2 for an invalid argument,
whether parsing or its use finds it (a bad name, a path that is not a network
namespace); 1 for any other failure (a namespace that does not exist now, an
output error such as a full disk).
";
