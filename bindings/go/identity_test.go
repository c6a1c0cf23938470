package nsmon

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestIdentityIsOneForEveryWayOfNamingANamespace(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t, "ident")
	byName, err := Identify(Named(ns))
	if err != nil {
		t.Fatal(err)
	}
	if !byName.HasID || byName.Ino == 0 {
		t.Fatalf("no NS_GET_ID id on this kernel, or no inode: %+v", byName)
	}
	byPath, err := Identify(Path("/var/run/netns/" + ns))
	if err != nil || byPath != byName {
		t.Fatalf("by path %+v (%v), by name %+v", byPath, err, byName)
	}
	own, err := Identify(Current())
	if err != nil || own == byName {
		t.Fatalf("own %+v (%v) is %+v", own, err, byName)
	}
	if _, err := Identify(Named("../x")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a bad name: %v", err)
	}
	s, err := NewStream()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("k", Named(ns), StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	id, ok, err := s.Identity("k")
	if err != nil || !ok || id != byName {
		t.Fatalf("stream identity %+v %v %v, want %+v", id, ok, err, byName)
	}
	if _, ok, err := s.Identity("missing"); ok || err != nil {
		t.Fatalf("a missing key: %v %v", ok, err)
	}
}

// mountedNetns makes a new namespace bind-mounted at dir/name (no name in /var/run/netns),
// unmounted and removed at the end of the test.
func mountedNetns(t *testing.T, dir, name string) string {
	t.Helper()
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "unshare", "--net="+file, "true")
	t.Cleanup(func() {
		exec.Command("umount", file).Run()
		os.Remove(file)
	})
	return file
}

func TestWatcherOverTwoFoldersSaysEachEventsFolderAndIdentity(t *testing.T) {
	requireRoot(t)
	var dirs []string
	for _, tag := range []string{"a", "b"} {
		dir, err := os.MkdirTemp("", "nsmon-t-go-dirs-"+tag)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		dirs = append(dirs, dir)
	}
	w, err := NewWatcher(WatcherOptions{Dirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := timeout(t)
	for i, dir := range dirs {
		file := mountedNetns(t, dir, fmt.Sprintf("ns%d", i))
		want, err := Identify(Path(file))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := w.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != Created || ev.Dir != dir || ev.Name != filepath.Base(file) ||
			!ev.HasID || ev.ID != want {
			t.Fatalf("got %+v, want created %s in %s with %+v", ev, filepath.Base(file), dir, want)
		}
		run(t, "umount", file)
		ev, err = w.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Unmounted, its file left in place: gone at once, with the identity it had.
		if ev.Kind != Deleted || ev.Dir != dir || ev.ID != want {
			t.Fatalf("got %+v, want deleted in %s with %+v", ev, dir, want)
		}
	}
}
