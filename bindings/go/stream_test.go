package nsmon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestStreamTypedEventsWithDump(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t, "stream")
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.KeepRaw(true); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("blue", Named(ns), StreamOptions{Dump: true}); err != nil {
		t.Fatal(err)
	}
	seen := readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == Synced && ev.Key == "blue" })
	lo := false
	for _, ev := range seen {
		if ev.Kind == NewLink && ev.Link.Name == "lo" && ev.Link.Index == 1 && len(ev.Raw) > 16 && ev.Nsid == -1 {
			lo = true
		}
	}
	if !lo {
		t.Fatalf("no lo in the dump: %v", seen)
	}
	// Without KeepRaw, message events carry no copy of their bytes.
	if err := s.KeepRaw(false); err != nil {
		t.Fatal(err)
	}
	ipn(t, ns, "link add nsmon-br0 type bridge")
	ev := readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == NewLink && ev.Link.Name == "nsmon-br0" })
	if raw := ev[len(ev)-1].Raw; raw != nil {
		t.Fatalf("Raw copied without KeepRaw: %d bytes", len(raw))
	}
	link := ev[len(ev)-1].Link
	if link.Kind != "bridge" || len(link.MAC) != 6 || link.MTU == 0 {
		t.Fatalf("link fields: %+v", link)
	}
	ipn(t, ns, "link set nsmon-br0 up")
	ipn(t, ns, "addr add 198.51.100.1/24 dev nsmon-br0")
	ev = readUntil(t, s, func(ev StreamEvent) bool {
		return ev.Kind == NewAddr && ev.Addr.Addr.Equal(net.ParseIP("198.51.100.1"))
	})
	if a := ev[len(ev)-1].Addr; a.PrefixLen != 24 || a.Index != link.Index {
		t.Fatalf("addr fields: %+v", a)
	}
	ipn(t, ns, "route add 203.0.113.0/24 via 198.51.100.254 table 100")
	ev = readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == NewRoute && ev.Route.Table == 100 })
	r := ev[len(ev)-1].Route
	if !r.Dst.Equal(net.ParseIP("203.0.113.0")) || r.DstLen != 24 || !r.Gateway.Equal(net.ParseIP("198.51.100.254")) || r.Oif != link.Index {
		t.Fatalf("route fields: %+v", r)
	}
	ipn(t, ns, "neigh add 198.51.100.7 lladdr 02:00:00:00:00:07 dev nsmon-br0")
	ev = readUntil(t, s, func(ev StreamEvent) bool {
		return ev.Kind == NewNeigh && ev.Neigh.Dst.Equal(net.ParseIP("198.51.100.7"))
	})
	if n := ev[len(ev)-1].Neigh; n.LLAddr.String() != "02:00:00:00:00:07" {
		t.Fatalf("neigh fields: %+v", n)
	}
	run(t, "tc", "-n", ns, "qdisc", "add", "dev", "nsmon-br0", "root", "handle", "1:", "htb")
	ev = readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == NewQdisc && ev.TC.Kind == "htb" })
	if q := ev[len(ev)-1].TC; q.Handle != 0x10000 || q.Index != link.Index {
		t.Fatalf("qdisc fields: %+v", q)
	}
	if found, err := s.Contains("blue"); !found || err != nil {
		t.Fatal("Contains", found, err)
	}
	if removed, err := s.Remove("blue"); !removed || err != nil {
		t.Fatal("Remove", removed, err)
	}
	if removed, _ := s.Remove("blue"); removed {
		t.Fatal("removed twice")
	}
	if n, _ := s.Len(); n != 0 {
		t.Fatalf("Len %d", n)
	}
}

func threadNamespace(t *testing.T) string {
	link, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return link
}

func TestStreamAddManyAllNsidAndTheCallersThread(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadNamespace(t)
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var targets []StreamTarget
	var names []string
	for i := 0; i < 20; i++ {
		name := newNetns(t, "many")
		names = append(names, name)
		targets = append(targets, StreamTarget{fmt.Sprintf("k%d", i), Named(name)})
	}
	targets = append(targets,
		StreamTarget{"k0", Current()},                    // repeated key
		StreamTarget{"bad", Named("a/b")},                // bad name
		StreamTarget{"nul\x00", Current()},               // NUL in the key
		StreamTarget{"pid", Pid(os.Getpid())},            // the caller's own, by pid
		StreamTarget{"gone", Named("nsmon-t-go-nosuch")}, // missing
	)
	errs, err := s.AddMany(targets, StreamOptions{Groups: GroupIPv4Route})
	if err != nil {
		t.Fatal(err)
	}
	if after := threadNamespace(t); after != before {
		t.Fatalf("the calling thread moved from %s to %s", before, after)
	}
	for i, e := range errs {
		var want error
		switch targets[i].Key {
		case "bad", "nul\x00":
			want = ErrInvalidArgument
		case "gone":
			want = ErrNotFound
		}
		if i == 20 {
			want = ErrInvalidArgument
		}
		if (want == nil) != (e == nil) || (want != nil && !errors.Is(e, want)) {
			t.Errorf("entry %d (%q): %v, want %v", i, targets[i].Key, e, want)
		}
	}
	if n, _ := s.Len(); n != 21 {
		t.Fatalf("Len %d, want 21", n)
	}
	for i, name := range names {
		ipn(t, name, "link set lo up")
		ipn(t, name, fmt.Sprintf("route add 203.0.113.%d/32 dev lo", i))
	}
	got := map[string]bool{}
	readUntil(t, s, func(ev StreamEvent) bool {
		if ev.Kind == NewRoute && ev.Route.DstLen == 32 && ev.Route.Dst.To4() != nil && ev.Route.Dst.To4()[2] == 113 {
			if want := fmt.Sprintf("k%d", ev.Route.Dst.To4()[3]); ev.Key != want {
				t.Fatalf("route of %s tagged %s", want, ev.Key)
			}
			got[ev.Key] = true
		}
		return len(got) == len(names)
	})

	// All-nsid: a namespace with an id is heard through the caller's namespace, tagged with
	// its key and its id.
	id, err := SetNsid(Current(), Named(names[0]), NsidAuto)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddAllNsid("all", Current(), StreamOptions{Groups: GroupLink}); err != nil {
		t.Fatal(err)
	}
	ipn(t, names[0], "link add nsmon-go-all type bridge")
	ev := readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == NewLink && ev.Link.Name == "nsmon-go-all" })
	if last := ev[len(ev)-1]; last.Key != "k0" || last.Nsid != id {
		t.Fatalf("all-nsid event: key %q nsid %d, want k0 %d", last.Key, last.Nsid, id)
	}
	if after := threadNamespace(t); after != before {
		t.Fatalf("the calling thread moved from %s to %s", before, after)
	}
}

func TestStreamCloseContextAndBadInput(t *testing.T) {
	requireRoot(t)
	fds := fdCount(t)
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	ns := newNetns(t, "close")
	if err := s.Add("n", Named(ns), StreamOptions{Groups: GroupLink}); err != nil {
		t.Fatal(err)
	}
	// A context ends a wait; the stream still works afterwards.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v", err)
	}
	ipn(t, ns, "link add nsmon-go-ctx type bridge")
	readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == NewLink && ev.Link.Name == "nsmon-go-ctx" })

	for _, c := range []struct {
		key  string
		ns   Netns
		opts StreamOptions
		want error
	}{
		{"n", Current(), StreamOptions{}, ErrInvalidArgument},
		{"\xff", Current(), StreamOptions{}, ErrUTF8},
		{"x\x00", Current(), StreamOptions{}, ErrInvalidArgument},
		{"x", Path("/etc/hostname"), StreamOptions{}, ErrInvalidArgument},
		{"x", Named("nsmon-t-go-nosuch"), StreamOptions{}, ErrNotFound},
		{"x", Pid(2147483000), StreamOptions{}, ErrNoProcess},
		{"x", Fd(-3), StreamOptions{}, ErrInvalidArgument},
		{"x", Current(), StreamOptions{Groups: 1 << 20}, ErrInvalidArgument},
	} {
		if err := s.Add(c.key, c.ns, c.opts); !errors.Is(err, c.want) {
			t.Errorf("Add(%q, %v): %v, want %v", c.key, c.ns, err, c.want)
		}
	}
	if n, _ := s.Len(); n != 1 {
		t.Fatalf("bad input changed the stream: Len %d", n)
	}
	if _, err := s.Contains("\xff"); !errors.Is(err, ErrUTF8) {
		t.Fatalf("Contains bad UTF-8: %v", err)
	}

	closeEndsBlockedRead(t, func(ctx context.Context) error {
		_, err := s.Read(ctx)
		return err
	}, s.Close)
	if err := s.Add("y", Current(), StreamOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	if _, _, err := s.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if _, err := s.AddMany([]StreamTarget{{"z", Current()}}, StreamOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddMany after Close: %v", err)
	}
	if after := fdCount(t); after != fds {
		t.Fatalf("fds: %d before, %d after Close", fds, after)
	}
}

func TestHandlesLeakNoFds(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t, "leak")
	fds := fdCount(t)
	for i := 0; i < 200; i++ {
		w, err := NewWatcher(WatcherOptions{Dir: t.TempDir(), AnyFile: true})
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		n, err := NewNsidSubscriber(NsidOptions{Observer: Named(ns)})
		if err != nil {
			t.Fatal(err)
		}
		n.Close()
		s, err := NewStream()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add("n", Named(ns), StreamOptions{Dump: i%10 == 0}); err != nil {
			t.Fatal(err)
		}
		// A callback may close its own stream.
		s.Dispatch(func(StreamEvent) bool { s.Close(); return true })
		s.Close()
	}
	if after := fdCount(t); after != fds {
		t.Fatalf("fds: %d before, %d after", fds, after)
	}
}

func TestErrorsCarryErrnoAndMessage(t *testing.T) {
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Add("x", Named("a/b"), StreamOptions{})
	var e *Error
	if !errors.As(err, &e) || e.Code != -int(syscall.EINVAL) || e.Message == "" {
		t.Fatalf("%#v", err)
	}
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatal("not EINVAL")
	}
}

func TestFinalizerFreesAForgottenHandle(t *testing.T) {
	fds := fdCount(t)
	for i := 0; i < 50; i++ {
		if _, err := NewStream(); err != nil {
			t.Fatal(err)
		}
		if _, err := NewWatcher(WatcherOptions{Dir: t.TempDir(), AnyFile: true}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for fdCount(t) > fds && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if after := fdCount(t); after > fds {
		t.Fatalf("forgotten handles were never freed: %d fds before, %d after", fds, after)
	}
}

// sameStrings says whether got and want hold the same strings in the same order, and if not,
// where they first differ.
func sameStrings(got, want []string) (bool, string) {
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			return false, fmt.Sprintf("%d of %d: %q is missing", len(got), len(want), want[i])
		case i >= len(want):
			return false, fmt.Sprintf("%d, want %d: %q is extra", len(got), len(want), got[i])
		case got[i] != want[i]:
			return false, fmt.Sprintf("[%d] is %q, want %q", i, got[i], want[i])
		}
	}
	return true, ""
}

// checkHostileObjects checks the link events in seen (the last one of each name, of the link
// itself: not a bridge's AF_BRIDGE notice about a port) and the address events against the
// fixture, byte for byte: every name is there, no other name (but those allowed), and
// nsmon-many has all its alternative names when allAltNames (else those it has are the first of
// them, in order).
func checkHostileObjects(t *testing.T, seen []StreamEvent, want hostile, allAltNames bool, allowed ...string) {
	t.Helper()
	links := map[string]*Link{}
	known := map[string]bool{}
	for _, name := range append(want.names, allowed...) {
		known[name] = true
	}
	for _, ev := range seen {
		if ev.Kind == NewLink {
			if ev.Link.Family == 0 {
				links[ev.Link.Name] = ev.Link
			}
			if !known[ev.Link.Name] {
				t.Errorf("a link named %q (%x), which the fixture did not make", ev.Link.Name, ev.Link.Name)
			}
		}
	}
	for _, name := range want.names {
		l := links[name]
		if l == nil {
			t.Errorf("no link named %q (%x)", name, name)
			continue
		}
		if l.Kind != "bridge" {
			t.Errorf("link %q: kind %q (%x)", name, l.Kind, l.Kind)
		}
		if name != "nsmon-many" && l.AltNames != nil {
			t.Errorf("link %q: alternative names %q", name, l.AltNames)
		}
	}
	// Each event of nsmon-many has the first of its alternative names, exactly and in order
	// (all of them in a dump; live, as many as it had when the kernel notified).
	for _, ev := range seen {
		if ev.Kind == NewLink && ev.Link.Name == "nsmon-many" {
			n := len(ev.Link.AltNames)
			if n > len(want.altNames) {
				n = len(want.altNames)
			}
			if ok, diff := sameStrings(ev.Link.AltNames, want.altNames[:n]); !ok {
				t.Errorf("nsmon-many's alternative names: %s", diff)
			}
		}
	}
	if many := links["nsmon-many"]; many != nil && allAltNames {
		if ok, diff := sameStrings(many.AltNames, want.altNames); !ok {
			t.Errorf("nsmon-many's alternative names (its last event): %s", diff)
		}
	}
	labelled := false
	for _, ev := range seen {
		if ev.Kind == NewAddr && ev.Addr.Addr.Equal(net.ParseIP("198.51.100.1")) {
			lbl := links["nsmon-lbl"]
			if ev.Addr.Label != want.label || ev.Addr.PrefixLen != 24 || lbl == nil || ev.Addr.Index != lbl.Index {
				t.Errorf("the address: label %q (%x), want %q (%x); %+v", ev.Addr.Label, ev.Addr.Label, want.label, want.label, ev.Addr)
			}
			labelled = true
		}
	}
	if !labelled {
		t.Error("no event for 198.51.100.1 (the labelled address)")
	}
}

// abnormal lists the events that say the namespace was not followed whole.
func abnormal(seen []StreamEvent) []string {
	var bad []string
	for _, ev := range seen {
		switch ev.Kind {
		case Failed:
			bad = append(bad, fmt.Sprintf("%s: %v", ev.Kind, ev.Err))
		case Unparsed, SyncFailed:
			bad = append(bad, fmt.Sprintf("%s (%d bytes): %s", ev.Kind, len(ev.Raw), ev.Reason))
		case Overrun:
			bad = append(bad, fmt.Sprintf("%s: lost %d", ev.Kind, ev.Lost))
		}
	}
	return bad
}

// The dump of a namespace full of hostile names reports each byte for byte (the 490
// alternative names included, in a link message over 64 KiB), then Synced, and the namespace is
// still followed afterwards.
func TestStreamDumpReportsHostileNamesExactly(t *testing.T) {
	requireRoot(t)
	want := hostileWant(t)
	ns := newNetns(t, "hostile-dump")
	createHostile(t, ns)
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("h", Named(ns), StreamOptions{Groups: GroupLink | GroupIPv4Addr, Dump: true}); err != nil {
		t.Fatal(err)
	}
	seen := readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == Synced || ev.Kind == SyncFailed || ev.Kind == Failed })
	if last := seen[len(seen)-1]; last.Kind != Synced || last.Key != "h" {
		t.Fatalf("the dump ended in %s (key %q): %v", last.Kind, last.Key, abnormal(seen))
	}
	if bad := abnormal(seen); len(bad) > 0 {
		t.Fatalf("during the dump: %q", bad)
	}
	checkHostileObjects(t, seen, want, true, "lo")
	t.Logf("dump: %d events, then synced", len(seen))

	ipn(t, ns, "link add nsmon-after type bridge")
	after := readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == NewLink && ev.Link.Name == "nsmon-after" })
	if bad := abnormal(after); len(bad) > 0 {
		t.Fatalf("after the dump: %q", bad)
	}
	if ok, err := s.Contains("h"); !ok || err != nil {
		t.Fatalf("Contains after the dump: %v %v", ok, err)
	}
}

// A stream subscribed before the hostile objects are made hears each of them live, byte for
// byte, nsmon-ok last, with no Failed, Unparsed or Overrun event: every notification is read
// whole, nsmon-many's with the alternative names it had (all 490, over 64 KiB, once it is up).
// The 8 MiB receive buffer holds the fixture's burst; the test relies on seeing every
// notification, so an Overrun fails it rather than being resynced over.
func TestStreamLiveReportsHostileNamesExactly(t *testing.T) {
	requireRoot(t)
	want := hostileWant(t)
	ns := newNetns(t, "hostile-live")
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("h", Named(ns), StreamOptions{Groups: GroupLink | GroupIPv4Addr, ReceiveBuffer: 8 << 20}); err != nil {
		t.Fatal(err)
	}
	createHostile(t, ns)
	seen := readUntil(t, s, func(ev StreamEvent) bool {
		return ev.Kind == Failed || ev.Kind == NewLink && ev.Link.Name == "nsmon-ok"
	})
	// Whatever else is queued (nothing should say the namespace was not followed whole).
	for {
		ev, ok, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		seen = append(seen, ev)
	}
	if bad := abnormal(seen); len(bad) > 0 {
		t.Fatalf("live: %q", bad)
	}
	first := map[string]int{}
	up := -1 // nsmon-many's last event as up, before nsmon-ok
	links := 0
	for i, ev := range seen {
		if ev.Kind != NewLink {
			continue
		}
		links++
		if _, ok := first[ev.Link.Name]; !ok {
			first[ev.Link.Name] = i
		}
		if _, ok := first["nsmon-ok"]; !ok && ev.Link.Name == "nsmon-many" && ev.Link.Family == 0 && ev.Link.Flags&syscall.IFF_UP != 0 {
			up = i
		}
	}
	okAt := first["nsmon-ok"]
	for _, name := range want.names[:len(want.names)-1] {
		if i, seen := first[name]; seen && i > okAt {
			t.Errorf("%q (%x) first reported at %d, after nsmon-ok (%d)", name, name, i, okAt)
		}
	}
	// The kernel notifies a link's changes only while it is up: if the fixture sets nsmon-many
	// up after naming it, that notification (over 64 KiB) has all 490 alternative names; if it
	// leaves it down, live events have none of them (the dump test sees them all).
	if up >= 0 {
		if ok, diff := sameStrings(seen[up].Link.AltNames, want.altNames); !ok {
			t.Errorf("nsmon-many, up, before nsmon-ok: alternative names %s", diff)
		}
	}
	checkHostileObjects(t, seen, want, false)
	if up >= 0 {
		t.Logf("live: %d events, %d of them new_link; nsmon-many reported up with %d alternative names",
			len(seen), links, len(seen[up].Link.AltNames))
	} else {
		t.Logf("live: %d events, %d of them new_link; nsmon-many never reported up (the fixture leaves it down)",
			len(seen), links)
	}
}

// Loss is counted exactly: with a small receive buffer and nothing read while N routes are
// added, the route events received plus what the Overrun events say was lost are N.
func TestStreamOverrunCountsEveryLostRoute(t *testing.T) {
	requireRoot(t)
	for _, n := range []int{300, 2000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { exactLoss(t, n) })
	}
}

func exactLoss(t *testing.T, n int) {
	ns := newNetns(t, fmt.Sprintf("loss%d", n))
	ipn(t, ns, "link add nsmon-br type bridge")
	ipn(t, ns, "link set nsmon-br up")
	ipn(t, ns, "addr add 198.51.100.1/24 dev nsmon-br")
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("loss", Named(ns), StreamOptions{Groups: GroupIPv4Route, ReceiveBuffer: 4096}); err != nil {
		t.Fatal(err)
	}
	// Nothing is pending from the setup: every route event to come is one of the N.
	time.Sleep(100 * time.Millisecond)
	if ev, ok, err := s.Next(); ok || err != nil {
		t.Fatalf("before the routes: %v %v %+v", ok, err, ev)
	}
	// 250 host routes per table, tables 100 and up.
	var batch bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&batch, "route add 203.0.113.%d/32 dev nsmon-br table %d\n", 1+i%250, 100+i/250)
	}
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = &batch
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v: %s", err, out)
	}
	received, lost, overruns := 0, int64(0), 0
	distinct := map[string]bool{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ev, err := s.Read(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break // read everything: nothing more for a second
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case NewRoute:
			r := ev.Route
			if r.Dst.To4() == nil || r.Dst.To4()[2] != 113 || r.DstLen != 32 || r.Table < 100 {
				t.Fatalf("a route event that is not one of the N: %+v", r)
			}
			distinct[fmt.Sprintf("%s/%d", r.Dst, r.Table)] = true
			received++
		case Overrun:
			if ev.Lost < 0 {
				t.Fatalf("Overrun with an unknown count (Lost %d): the test relies on the kernel's count", ev.Lost)
			}
			lost += ev.Lost
			overruns++
		default:
			t.Fatalf("unexpected %s event: %+v", ev.Kind, ev)
		}
	}
	t.Logf("N=%d: %d route events received, %d lost in %d Overrun events", n, received, lost, overruns)
	if overruns == 0 {
		t.Fatalf("no Overrun with a 4096-byte receive buffer (%d of %d received)", received, n)
	}
	if len(distinct) != received {
		t.Fatalf("%d route events for %d distinct routes", received, len(distinct))
	}
	if int64(received)+lost != int64(n) {
		t.Fatalf("received %d + lost %d = %d, want %d", received, lost, int64(received)+lost, n)
	}
}

// A message nsmon does not type (a tc chain) is Unparsed, with its bytes and a reason, and
// the namespace goes on.
func TestStreamUnparsedKeepsTheNamespace(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t, "unparsed")
	ipn(t, ns, "link add nsmon-br type bridge")
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("u", Named(ns), StreamOptions{Groups: GroupTC}); err != nil {
		t.Fatal(err)
	}
	run(t, "tc", "-n", ns, "qdisc", "add", "dev", "nsmon-br", "ingress")
	run(t, "tc", "-n", ns, "chain", "add", "dev", "nsmon-br", "ingress", "chain", "7")
	seen := readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == Unparsed || ev.Kind == Failed })
	ev := seen[len(seen)-1]
	const rtmNewChain = 100 // RTM_NEWCHAIN
	// The raw bytes are one whole message: a struct nlmsghdr (host byte order) leads them.
	if ev.Kind != Unparsed || ev.Key != "u" || ev.Reason == "" || len(ev.Raw) < 16 ||
		hostUint16(ev.Raw[4:6]) != rtmNewChain || int(hostUint32(ev.Raw[0:4])) != len(ev.Raw) ||
		ev.Link != nil || ev.TC != nil || ev.Err != nil {
		t.Fatalf("%s %q reason %q raw %x", ev.Kind, ev.Key, ev.Reason, ev.Raw)
	}
	t.Logf("unparsed: %d bytes, reason %q", len(ev.Raw), ev.Reason)
	run(t, "tc", "-n", ns, "qdisc", "add", "dev", "nsmon-br", "root", "handle", "1:", "htb")
	readUntil(t, s, func(ev StreamEvent) bool {
		if ev.Kind == Failed {
			t.Fatalf("after Unparsed: %v", ev.Err)
		}
		return ev.Kind == NewQdisc && ev.TC.Kind == "htb"
	})
}

// hostUint16 and hostUint32 read netlink's host-byte-order integers.
func hostUint16(b []byte) uint16 {
	var v uint16
	copy((*[2]byte)(unsafe.Pointer(&v))[:], b)
	return v
}

func hostUint32(b []byte) uint32 {
	var v uint32
	copy((*[4]byte)(unsafe.Pointer(&v))[:], b)
	return v
}

func TestKindNames(t *testing.T) {
	for k, want := range map[fmt.Stringer]string{
		Unparsed: "unparsed", SyncFailed: "sync_failed", Overrun: "overrun", Failed: "error",
		Synced: "synced", StreamKind(999): "unknown", NsidUnparsed: "unparsed",
		NsidOverrun: "overrun", NsidKind(999): "unknown",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d: %q, want %q", k, got, want)
		}
	}
}

// A one-second window: what comes after the first event was taken waits for the window's end
// (checked right after `ip` returns: the kernel queues the notification before that), then one
// wake-up brings all of it.
func TestStreamCoalescingHoldsEventsForOneWakeUp(t *testing.T) {
	requireRoot(t)
	for _, window := range []time.Duration{0, 500 * time.Nanosecond, -time.Second, 100 * time.Hour} {
		if _, err := NewStreamCoalescing(window); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("NewStreamCoalescing(%v): %v, want ErrInvalidArgument", window, err)
		}
	}
	s, err := NewStreamCoalescing(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns := newNetns(t, "coalesce")
	if err := s.Add("co", Named(ns), StreamOptions{Groups: GroupIPv4Route}); err != nil {
		t.Fatal(err)
	}
	ipn(t, ns, "link set lo up")
	ipn(t, ns, "route add 198.51.100.1/32 dev lo")
	hostRoute := func(ev StreamEvent) bool {
		return ev.Kind == NewRoute && ev.Route.DstLen == 32 && ev.Route.Dst.To4() != nil && ev.Route.Dst.To4()[0] == 198
	}
	readUntil(t, s, hostRoute)
	for {
		if _, ok, err := s.Next(); err != nil {
			t.Fatal(err)
		} else if !ok {
			break
		}
	}
	ipn(t, ns, "route add 198.51.100.2/32 dev lo")
	ipn(t, ns, "route add 198.51.100.3/32 dev lo")
	if ev, ok, err := s.Next(); err != nil || ok {
		t.Fatalf("inside a window Next gave %v, %v, %v", ev, ok, err)
	}
	first := readUntil(t, s, hostRoute)
	second, ok, err := s.Next()
	if err != nil || !ok || !hostRoute(second) {
		t.Fatalf("the window's second route did not come with the first: %v (after %v), %v, %v", second, first, ok, err)
	}
}

// Read takes what is ready in one batch; Next hands out the rest before the library's next
// events, in order, and Dispatch goes on from there.
func TestStreamReadBatchesAndNextHandsOutTheRest(t *testing.T) {
	requireRoot(t)
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns := newNetns(t, "batch")
	if err := s.Add("b", Named(ns), StreamOptions{Groups: GroupIPv4Route}); err != nil {
		t.Fatal(err)
	}
	ipn(t, ns, "link set lo up")
	hostRoute := func(ev StreamEvent) bool {
		return ev.Kind == NewRoute && ev.Route.DstLen == 32 && ev.Route.Table == 254
	}
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, fmt.Sprintf("route add 198.51.100.%d/32 dev lo", i))
	}
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v: %s", err, out)
	}
	var got []byte
	take := func(ev StreamEvent) {
		if hostRoute(ev) {
			got = append(got, ev.Route.Dst.To4()[3])
		}
	}
	for _, ev := range readUntil(t, s, hostRoute) {
		take(ev)
	}
	for len(got) < 10 {
		ev, ok, err := s.Next()
		if err != nil || !ok {
			t.Fatalf("Next after Read: %v, %v (got %v)", ok, err, got)
		}
		take(ev)
	}
	for len(got) < 30 {
		if _, err := s.Dispatch(func(ev StreamEvent) bool { take(ev); return true }); err != nil {
			t.Fatal(err)
		}
		if len(got) < 30 {
			for _, ev := range readUntil(t, s, func(StreamEvent) bool { return true }) {
				take(ev)
			}
		}
	}
	for i, b := range got {
		if int(b) != i+1 {
			t.Fatalf("routes out of order or lost: %v", got)
		}
	}
}

// One context across many waits keeps one watchdog: cancelling it still ends a blocked Read,
// and a later Read with another context is not cut short by the first one's watchdog.
func TestStreamReadsWithOneContextThenAnother(t *testing.T) {
	requireRoot(t)
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns := newNetns(t, "ctx")
	if err := s.Add("c", Named(ns), StreamOptions{Groups: GroupIPv4Route}); err != nil {
		t.Fatal(err)
	}
	ipn(t, ns, "link set lo up")
	// ip from another goroutine, while Read waits (t.Errorf, not t.Fatal, off the test's own).
	later := func(delay time.Duration, args string) {
		go func() {
			time.Sleep(delay)
			cmd := exec.Command("ip", append([]string{"-n", ns}, strings.Fields(args)...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("ip %s: %v: %s", args, err, out)
			}
		}()
	}
	first, cancel := context.WithCancel(context.Background())
	for i := 1; i <= 5; i++ {
		later(10*time.Millisecond, fmt.Sprintf("route add 198.51.100.%d/32 dev lo", i))
		for {
			ev, err := s.Read(first)
			if err != nil {
				t.Fatalf("Read %d: %v", i, err)
			}
			if ev.Kind == NewRoute && ev.Route.DstLen == 32 && ev.Route.Dst.To4()[3] == byte(i) {
				break
			}
		}
	}
	done := make(chan error)
	go func() {
		_, err := s.Read(first)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Read after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the context did not end a blocked Read")
	}
	// A new context: the cancelled one's watchdog has fired; it must not end this wait.
	second, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	later(100*time.Millisecond, "route add 198.51.100.9/32 dev lo")
	for {
		ev, err := s.Read(second)
		if err != nil {
			t.Fatalf("Read with a new context: %v", err)
		}
		if ev.Kind == NewRoute && ev.Route.DstLen == 32 && ev.Route.Dst.To4()[3] == 9 {
			break
		}
	}
}

// Parts of events share chunks, never bytes: an address appended to grows into memory of its
// own, and every Route handed out is a value of its own.
func TestSlabsHandOutDistinctParts(t *testing.T) {
	var b byteSlab
	one, two := []byte{198, 51, 100, 1}, []byte{203, 0, 113, 2}
	a := b.copy(unsafe.Pointer(&one[0]), 4)
	c := b.copy(unsafe.Pointer(&two[0]), 4)
	if !bytes.Equal(a, one) || !bytes.Equal(c, two) {
		t.Fatalf("copies %v %v", a, c)
	}
	a = append(a, 9)
	if !bytes.Equal(c, two) {
		t.Fatalf("an append to one copy changed the next: %v", c)
	}
	for i := 0; i < 3*16*slabChunk; i++ { // across chunks
		if got := b.copy(unsafe.Pointer(&one[0]), 4); !bytes.Equal(got, one) || cap(got) != 4 {
			t.Fatalf("copy %d: %v (cap %d)", i, got, cap(got))
		}
	}
	var routes slab[Route]
	given := map[*Route]uint32{}
	for i := 0; i < 3*slabChunk; i++ {
		r := routes.take()
		if _, twice := given[r]; twice {
			t.Fatalf("route %d handed out twice", i)
		}
		given[r] = uint32(i)
		r.Table = uint32(i)
	}
	for r, table := range given {
		if r.Table != table {
			t.Fatalf("route %d was overwritten with %d", table, r.Table)
		}
	}
}

// Either wait of Read (the blocking poll, then Go's poller) delivers an event that arrives
// during it and ends at a cancelled context or a Close, for a lone Read and for two at once
// (only one of them can take the blocking poll).
func TestReadEndsInEitherWait(t *testing.T) {
	requireRoot(t)
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // the blocking poll needs a second P
	}
	saved := blockingWait
	defer func() { blockingWait = saved }()
	for _, c := range []struct {
		name string
		wait time.Duration
	}{{"blocking poll", time.Minute}, {"Go's poller", 0}} {
		t.Run(c.name, func(t *testing.T) {
			blockingWait = c.wait // set before any Read starts, read by them only
			ns := newNetns(t, "wait")
			ipn(t, ns, "link set lo up")
			fds := fdCount(t)
			s, err := NewStream()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Add("w", Named(ns), StreamOptions{Groups: GroupIPv4Route}); err != nil {
				t.Fatal(err)
			}
			// Reads from other goroutines; each sends what it got.
			type result struct {
				ev  StreamEvent
				err error
			}
			reads := func(ctx context.Context, n int) chan result {
				out := make(chan result, n)
				for i := 0; i < n; i++ {
					go func() {
						ev, err := s.Read(ctx)
						out <- result{ev, err}
					}()
				}
				return out
			}
			get := func(out chan result, what string) result {
				t.Helper()
				select {
				case r := <-out:
					return r
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: Read did not return", what)
				}
				return result{}
			}
			// An event during the wait, for one Read, then for each of two.
			for i, n := range []int{1, 2} {
				out := reads(context.Background(), n)
				time.Sleep(20 * time.Millisecond)
				for j := 0; j < n; j++ {
					ipn(t, ns, fmt.Sprintf("route add 198.51.100.%d/32 dev lo", 10*i+j+1))
				}
				for j := 0; j < n; j++ {
					if r := get(out, "an event"); r.err != nil || r.ev.Kind != NewRoute {
						t.Fatalf("Read during an event: %v, %v", r.ev, r.err)
					}
				}
			}
			// A context cancelled during the wait ends each Read with it; the stream goes on.
			for _, n := range []int{1, 2} {
				ctx, cancel := context.WithCancel(context.Background())
				out := reads(ctx, n)
				time.Sleep(20 * time.Millisecond)
				cancel()
				for j := 0; j < n; j++ {
					if r := get(out, "cancel"); !errors.Is(r.err, context.Canceled) {
						t.Fatalf("Read after cancel: %v, %v", r.ev, r.err)
					}
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			if _, err := s.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Read past its deadline: %v", err)
			}
			// Close during the wait ends both Reads, and frees every fd.
			out := reads(context.Background(), 2)
			time.Sleep(20 * time.Millisecond)
			s.Close()
			for j := 0; j < 2; j++ {
				if r := get(out, "Close"); !errors.Is(r.err, ErrClosed) {
					t.Fatalf("Read after Close: %v, %v", r.ev, r.err)
				}
			}
			if after := fdCount(t); after != fds {
				t.Fatalf("fds: %d before, %d after Close", fds, after)
			}
		})
	}
}

// Reads beside each other on one handle keep to their own contexts, wherever each one waits
// (the blocking poll, Go's poller, or queued behind the one in Go's poller): a cancelled one
// ends at once with context.Canceled, and the others go on waiting, undisturbed, for the next
// event. Each case starts its Reads in the order given, a moment apart, so that the first one
// takes the blocking poll (when it has one) and the next ones Go's poller, in turn.
//
// Go's poller alone runs with GOMAXPROCS as it is (with 1, every Read waits there).
func TestConcurrentReadsKeepTheirOwnContexts(t *testing.T) {
	requireRoot(t)
	saved := blockingWait
	defer func() { blockingWait = saved }()
	for _, wait := range []struct {
		name string
		wait time.Duration
	}{{"blocking poll", time.Minute}, {"Go's poller", 0}} {
		for _, order := range []string{"live,cancel", "cancel,live", "live,live,cancel", "live,cancel,live", "cancel,live,live"} {
			t.Run(wait.name+"/"+order, func(t *testing.T) {
				if wait.wait > 0 && runtime.GOMAXPROCS(0) < 2 {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2)) // the blocking poll needs a second P
				}
				blockingWait = wait.wait // set before any Read starts, read by them only
				concurrentReads(t, strings.Split(order, ","))
			})
		}
	}
}

func concurrentReads(t *testing.T, order []string) {
	t.Helper()
	ns := newNetns(t, "reads")
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("r", Named(ns), StreamOptions{Groups: GroupLink}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		ev  StreamEvent
		err error
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var live, cancelled []chan result
	for _, what := range order {
		out := make(chan result, 1)
		readCtx := context.Background()
		if what == "cancel" {
			readCtx = ctx
			cancelled = append(cancelled, out)
		} else {
			live = append(live, out)
		}
		go func() {
			ev, err := s.Read(readCtx)
			out <- result{ev, err}
		}()
		time.Sleep(20 * time.Millisecond)
	}
	// None is over before its time: no event has come, no context is done.
	stillWaiting := func(when string) {
		t.Helper()
		for i, out := range live {
			select {
			case r := <-out:
				t.Fatalf("%s: live Read %d of %v returned %v, %v", when, i, order, r.ev, r.err)
			default:
			}
		}
	}
	stillWaiting("before the cancel")
	start := time.Now()
	cancel()
	for _, out := range cancelled {
		select {
		case r := <-out:
			if !errors.Is(r.err, context.Canceled) {
				t.Fatalf("cancelled Read of %v: %v, %v", order, r.ev, r.err)
			}
		case <-time.After(time.Second):
			t.Fatalf("cancelled Read of %v did not end within a second", order)
		}
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Logf("the cancelled Read took %v to end (a loaded machine?)", took)
	}
	time.Sleep(20 * time.Millisecond)
	stillWaiting("after the cancel")
	// One new link each: every live Read gets an event, none an error.
	for i := range live {
		ipn(t, ns, fmt.Sprintf("link add nsmon-t-r%d type bridge", i))
	}
	for i, out := range live {
		select {
		case r := <-out:
			if r.err != nil || r.ev.Kind != NewLink {
				t.Fatalf("live Read %d of %v: %v, %v", i, order, r.ev, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("live Read %d of %v did not return after the event", i, order)
		}
	}
}
