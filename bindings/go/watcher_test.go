package nsmon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
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
	var e *Error
	if _, err := NewWatcher(WatcherOptions{Dir: "a\x00b"}); !errors.As(err, &e) || e.Message == "" {
		t.Fatalf("no detailed message: %#v", err)
	}
	// A directory is a path, and paths are bytes: one that is not UTF-8 is accepted (and
	// watched: see TestWatcherReportsNonUTF8NamesExactly).
	parent, err := os.MkdirTemp("", "nsmon-t-go-dir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if w, err := NewWatcher(WatcherOptions{Dir: filepath.Join(parent, "nsmon-\xff"), AnyFile: true}); err != nil {
		t.Fatalf("a directory that is not UTF-8: %v", err)
	} else {
		w.Close()
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

// A namespace file whose name is not UTF-8 is reported with its exact bytes: a bind mount of
// a namespace in a directory of the test's own, itself not named in UTF-8 (no AnyFile: it must
// be a mounted nsfs file), and one made by `ip netns add` in /var/run/netns (Created, then
// Deleted). Named takes only UTF-8; Path takes the name as reported (paths are bytes), and the
// namespace is followed through it.
func TestWatcherReportsNonUTF8NamesExactly(t *testing.T) {
	requireRoot(t)
	source := newNetns(t, "raw")
	dir, err := os.MkdirTemp("", "nsmon-t-go-watch-\xfe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w, err := NewWatcher(WatcherOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Invalid UTF-8, a control character, a quote, a backslash and a newline.
	name := fmt.Sprintf("nsmon-t-go-%d-\xfe\xff\x01\"\\\n\xc3", os.Getpid())
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	if err := syscall.Mount("/var/run/netns/"+source, path, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(path, syscall.MNT_DETACH) })
	ctx := timeout(t)
	ev, err := w.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != Created || ev.Name != name {
		t.Fatalf("%s %q (%x), want created %q (%x)", ev.Kind, ev.Name, ev.Name, name, name)
	}

	// The name as reported opens the namespace by its path.
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("raw", Path(filepath.Join(dir, ev.Name)), StreamOptions{Groups: GroupLink}); err != nil {
		t.Fatalf("Path of a name that is not UTF-8: %v", err)
	}
	ipn(t, source, "link add nsmon-raw type bridge")
	readUntil(t, s, func(ev StreamEvent) bool { return ev.Kind == NewLink && ev.Link.Name == "nsmon-raw" })

	// ip netns add, in /var/run/netns, watched by the default watcher.
	all, err := NewWatcher(WatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	named := fmt.Sprintf("nsmon-t-go-%d-\xfe\x7f\xc3(", os.Getpid())
	run(t, "ip", "netns", "add", named)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", named).Run() })
	if _, _, err := GetNsid(Current(), Named(named)); !errors.Is(err, ErrUTF8) {
		t.Fatalf("Named of a name that is not UTF-8: %v, want ErrUTF8", err)
	}
	for _, want := range []WatchKind{Created, Deleted} {
		for {
			ev, err := all.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %s %q: %v", want, named, err)
			}
			// Other namespaces may come and go meanwhile; a mangled copy of this one's name
			// would not match and end in the timeout above.
			if ev.Name == named {
				if ev.Kind != want {
					t.Fatalf("%s %q, want %s", ev.Kind, ev.Name, want)
				}
				break
			}
		}
		if want == Created {
			run(t, "ip", "netns", "del", named)
		}
	}
}
