package nsmon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
