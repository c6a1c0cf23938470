package nsmon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// requireRoot skips without root, except under CI=true, where a test that cannot get what it
// needs fails.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root (CI=true: not skipping)")
	}
	t.Skip("needs root")
}

var counter int64

// newNetns creates a namespace nsmon-t-go-PID-TAG-N, removed when the test ends (even if it
// fails or panics).
func newNetns(t *testing.T, tag string) string {
	t.Helper()
	name := fmt.Sprintf("nsmon-t-go-%d-%s-%d", os.Getpid(), tag, atomic.AddInt64(&counter, 1))
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return name
}

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func ipn(t *testing.T, ns string, args string) {
	t.Helper()
	run(t, append([]string{"ip", "-n", ns}, strings.Fields(args)...)...)
}

func fdCount(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readUntil reads stream events until match returns true; fails on timeout.
func readUntil(t *testing.T, s *Stream, match func(StreamEvent) bool) []StreamEvent {
	t.Helper()
	ctx := timeout(t)
	var seen []StreamEvent
	for {
		ev, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for an event: %v (seen %v)", err, seen)
		}
		seen = append(seen, ev)
		if match(ev) {
			return seen
		}
	}
}

// closeEndsBlockedRead checks that Close from another goroutine ends a Read blocked on an
// idle handle with ErrClosed, and that a second Close is harmless.
func closeEndsBlockedRead(t *testing.T, read func(context.Context) error, close func() error) {
	t.Helper()
	done := make(chan error)
	go func() { done <- read(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	if err := close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a blocked Read")
	}
	if err := close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// hostileFixture is the path of tests/fixtures/hostile.sh, the hostile objects every layer's
// tests share (links named with invalid UTF-8, control characters and quotes, an address label
// of invalid UTF-8, a link with 490 alternative names, then nsmon-ok).
func hostileFixture(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "tests", "fixtures", "hostile.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the fixture: %v", err)
	}
	return path
}

// hostile is what hostile.sh says it makes, as exact bytes.
type hostile struct {
	names    []string // the link names, in creation order (nsmon-ok last)
	label    string   // the address label (on nsmon-lbl, 198.51.100.1/24)
	altNames []string // nsmon-many's alternative names, in the order they were added
}

// hostileWant runs the fixture's printing commands and decodes what they print.
func hostileWant(t *testing.T) hostile {
	t.Helper()
	fixture := hostileFixture(t)
	lines := func(arg string) []string {
		out, err := exec.Command(fixture, arg).Output()
		if err != nil {
			t.Fatalf("%s %s: %v", fixture, arg, err)
		}
		return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	}
	unhex := func(lines []string) []string {
		var out []string
		for _, l := range lines {
			b, err := hex.DecodeString(l)
			if err != nil {
				t.Fatalf("the fixture printed %q: %v", l, err)
			}
			out = append(out, string(b))
		}
		return out
	}
	h := hostile{names: unhex(lines("names")), altNames: lines("altnames")}
	labels := unhex(lines("label"))
	if len(labels) != 1 || len(h.names) < 2 || h.names[len(h.names)-1] != "nsmon-ok" || len(h.altNames) != 490 {
		t.Fatalf("the fixture describes %d names (%q), %d labels, %d alternative names", len(h.names), h.names, len(labels), len(h.altNames))
	}
	h.label = labels[0]
	return h
}

// createHostile makes the fixture's objects in namespace ns.
func createHostile(t *testing.T, ns string) {
	t.Helper()
	run(t, hostileFixture(t), "create", ns)
}
