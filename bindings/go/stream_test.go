package nsmon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestStreamTypedEventsWithDump(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t, "stream")
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	ipn(t, ns, "link add nsmon-br0 type bridge")
	ev := readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == NewLink && ev.Link.Name == "nsmon-br0" })
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
