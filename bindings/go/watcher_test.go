package nsmon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatcherReportsNamedNamespaces(t *testing.T) {
	requireRoot(t)
	w, err := NewWatcher(WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Fd() < 0 {
		t.Fatalf("fd %d", w.Fd())
	}
	name := newNetns(t, "watch")
	ctx := timeout(t)
	for {
		ev, err := w.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == Created && ev.Name == name {
			break
		}
	}
	run(t, "ip", "netns", "del", name)
	for {
		ev, err := w.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == Deleted && ev.Name == name {
			if ev.Kind.String() != "deleted" {
				t.Fatalf("kind %q", ev.Kind)
			}
			break
		}
	}
}

func TestWatcherListsExistingAndDispatches(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w, err := NewWatcher(WatcherOptions{Dir: dir, ListExisting: true, AnyFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	names := map[string]bool{}
	ctx := timeout(t)
	for len(names) < 2 {
		ev, err := w.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names[ev.Name] = ev.Kind == Created
	}
	if !names["a"] || !names["b"] {
		t.Fatalf("listed %v", names)
	}
	if _, ok, err := w.Next(); ok || err != nil {
		t.Fatalf("Next with nothing queued: %v %v", ok, err)
	}
	os.WriteFile(filepath.Join(dir, "c"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "d"), nil, 0o600)
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		if _, err := w.Dispatch(func(ev WatchEvent) bool {
			got = append(got, ev.Name)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(got) != 2 || got[0] != "c" || got[1] != "d" {
		t.Fatalf("dispatched %v", got)
	}
}

func TestWatcherBadInputAndClose(t *testing.T) {
	if _, err := NewWatcher(WatcherOptions{Dir: "a\x00b"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL in dir: %v", err)
	}
	if _, err := NewWatcher(WatcherOptions{Dir: "\xff"}); !errors.Is(err, ErrUTF8) {
		t.Fatalf("bad UTF-8 dir: %v", err)
	}
	var e *Error
	if _, err := NewWatcher(WatcherOptions{Dir: "\xff"}); !errors.As(err, &e) || e.Message == "" {
		t.Fatalf("no detailed message: %#v", err)
	}
	w, err := NewWatcher(WatcherOptions{Dir: t.TempDir(), AnyFile: true})
	if err != nil {
		t.Fatal(err)
	}
	closeEndsBlockedRead(t, func(ctx context.Context) error {
		_, err := w.Read(ctx)
		return err
	}, w.Close)
	if _, _, err := w.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if _, err := w.Dispatch(func(WatchEvent) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dispatch after Close: %v", err)
	}
}

func TestValidateName(t *testing.T) {
	if err := ValidateName("blue"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", ".", "..", "a/b", "x\x00y", "\xff"} {
		if err := ValidateName(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if Version() == "" {
		t.Fatal("no version")
	}
}
