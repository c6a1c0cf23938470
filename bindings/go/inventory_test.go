package nsmon

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestInventorySeesAnUnnamedNamespaceComeAndGo(t *testing.T) {
	requireRoot(t)
	inv, err := NewInventory(InventoryOptions{RescanInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	own, err := Identify(Current())
	if err != nil {
		t.Fatal(err)
	}
	all, err := inv.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ns := range all {
		if ns.ID == own {
			found = true
			if !contains(ns.Pids, uint32(os.Getpid())) {
				t.Fatalf("this process is not among %v", ns.Pids)
			}
		}
	}
	if !found {
		t.Fatalf("own namespace %+v not in %d namespaces", own, len(all))
	}
	sleeper := exec.Command("unshare", "-n", "sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	pid := uint32(sleeper.Process.Pid)
	ctx := timeout(t)
	var id NetnsID
	for {
		ev, err := inv.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == Appeared && contains(ev.Pids, pid) && ev.ID != own {
			if len(ev.Names) != 0 || len(ev.Fds) != 0 || !ev.ID.HasID {
				t.Fatalf("appeared %+v", ev)
			}
			id = ev.ID
			break
		}
	}
	sleeper.Process.Kill()
	sleeper.Wait()
	for {
		ev, err := inv.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == Gone && ev.ID == id {
			if ev.Kind.String() != "gone" {
				t.Fatalf("kind %q", ev.Kind)
			}
			break
		}
	}
	inv.Close()
	if _, err := inv.Namespaces(); err != ErrClosed {
		t.Fatalf("after Close: %v", err)
	}
}

func TestInventoryNamesANamespaceMountedAnywhere(t *testing.T) {
	requireRoot(t)
	dir, err := os.MkdirTemp("", "nsmon-t-go-inv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	inv, err := NewInventory(InventoryOptions{NoFds: true})
	if err != nil {
		t.Fatal(err)
	}
	defer inv.Close()
	file := mountedNetns(t, dir, "held")
	want, err := Identify(Path(file))
	if err != nil {
		t.Fatal(err)
	}
	ctx := timeout(t)
	for {
		ev, err := inv.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == Appeared && ev.ID == want {
			if fmt.Sprint(ev.Names) != fmt.Sprint([]string{file}) || len(ev.Pids) != 0 {
				t.Fatalf("appeared %+v, want named %s", ev, file)
			}
			break
		}
	}
	run(t, "umount", file)
	for {
		ev, err := inv.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == NameRemoved && ev.ID == want && ev.Path != file {
			t.Fatalf("name removed %+v", ev)
		}
		if ev.Kind == Gone && ev.ID == want {
			break
		}
	}
}

func contains(list []uint32, v uint32) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
