package nsmon

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestNsidEventsAndQueries(t *testing.T) {
	requireRoot(t)
	sub, err := NewNsidSubscriber(NsidOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	name := newNetns(t, "nsid")
	if _, ok, err := GetNsid(Current(), Named(name)); ok || err != nil {
		t.Fatalf("a new namespace has an id? %v %v", ok, err)
	}
	id, err := SetNsid(Current(), Named(name), NsidAuto)
	if err != nil {
		t.Fatal(err)
	}
	ctx := timeout(t)
	for {
		ev, err := sub.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == NewNsid && ev.Nsid == id {
			break
		}
	}
	got, ok, err := GetNsid(Current(), Named(name))
	if err != nil || !ok || got != id {
		t.Fatalf("GetNsid: %d %v %v, want %d", got, ok, err, id)
	}
	// By path, agreeing with the name.
	if got, _, err := GetNsid(Netns{}, Path("/var/run/netns/"+name)); err != nil || got != id {
		t.Fatalf("by path: %d %v", got, err)
	}
	if _, err := SetNsid(Current(), Named(name), id+1000); !errors.Is(err, ErrExists) {
		t.Fatalf("a second id: %v", err)
	}
	run(t, "ip", "netns", "del", name)
	for {
		ev, err := sub.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == DelNsid && ev.Nsid == id {
			break
		}
	}
	closeEndsBlockedRead(t, func(ctx context.Context) error {
		_, err := sub.Read(ctx)
		return err
	}, sub.Close)
	if _, _, err := sub.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

func TestNsidBadInput(t *testing.T) {
	requireRoot(t)
	cases := []struct {
		target Netns
		want   error
	}{
		{Named("a/b"), ErrInvalidArgument},
		{Named(".."), ErrInvalidArgument},
		{Named("x\x00y"), ErrInvalidArgument},
		{Named("\xff"), ErrUTF8},
		{Named("nsmon-t-go-no-such-namespace"), ErrNotFound},
		{Path("/etc/hostname"), ErrInvalidArgument},
		{Pid(2147483000), ErrNoProcess},
		{Pid(-1), ErrInvalidArgument},
		{Fd(-1), ErrInvalidArgument},
		{Pid(1 << 40), ErrInvalidArgument},
	}
	for _, c := range cases {
		if _, _, err := GetNsid(Current(), c.target); !errors.Is(err, c.want) {
			t.Errorf("GetNsid(%v): %v, want %v", c.target, err, c.want)
		}
		if _, err := NewNsidSubscriber(NsidOptions{Observer: c.target}); !errors.Is(err, c.want) {
			t.Errorf("NewNsidSubscriber(%v): %v, want %v", c.target, err, c.want)
		}
	}
	if _, err := SetNsid(Current(), Current(), -5); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("SetNsid -5: %v", err)
	}
}

// NSID loss is counted exactly: ids assigned in an observer namespace of the test's own while
// a subscriber with a small receive buffer does not read are either reported or counted in
// the NsidOverrun events' Lost.
func TestNsidOverrunCountsEveryLostId(t *testing.T) {
	requireRoot(t)
	observer := newNetns(t, "nsid-obs")
	const n = 40
	var targets []string
	for i := 0; i < n; i++ {
		targets = append(targets, newNetns(t, "nsid-loss"))
	}
	sub, err := NewNsidSubscriber(NsidOptions{Observer: Named(observer), ReceiveBuffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ids := map[int]bool{}
	for _, target := range targets {
		id, err := SetNsid(Named(observer), Named(target), NsidAuto)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	received, lost, overruns := 0, int64(0), 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ev, err := sub.Read(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case NewNsid:
			if !ids[ev.Nsid] {
				t.Fatalf("new_nsid %d, not one of those assigned (%v)", ev.Nsid, ids)
			}
			delete(ids, ev.Nsid) // each once
			received++
		case NsidOverrun:
			if ev.Lost < 0 || ev.Nsid != -1 || ev.Raw != nil || ev.Reason != "" {
				t.Fatalf("overrun: %+v (the test relies on the kernel's count)", ev)
			}
			lost += ev.Lost
			overruns++
		default:
			t.Fatalf("unexpected %s: %+v", ev.Kind, ev)
		}
	}
	t.Logf("%d ids: %d new_nsid received, %d lost in %d overruns", n, received, lost, overruns)
	if overruns == 0 || int64(received)+lost != n {
		t.Fatalf("received %d + lost %d (%d overruns), want %d with at least one overrun", received, lost, overruns, n)
	}
}
