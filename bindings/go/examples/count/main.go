// Command count is the fleet benchmark's Go consumer (scripts/bench.sh): one Stream over the
// named namespaces given (added in one batch), IPv4 routes only, counting route events.
//
//	count read|next|dispatch EXPECTED NAME...
//
// read: a loop of Read alone (each takes what is ready in one batch call and hands it out);
// next: Read, then Next until nothing is ready; dispatch: Read, then Dispatch.
//
// Prints "ready" once subscribed, then, when EXPECTED route events were counted or none came
// for 3 s, "COUNT OVERRUNS CPU_US" (user + system CPU of this process).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	nsmon "github.com/nsmon/nsmon/bindings/go"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: count read|next|dispatch EXPECTED NAME...")
		os.Exit(2)
	}
	mode := os.Args[1]
	expected, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "EXPECTED:", err)
		os.Exit(2)
	}
	s, err := nsmon.NewStream()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer s.Close()
	var targets []nsmon.StreamTarget
	for _, name := range os.Args[3:] {
		targets = append(targets, nsmon.StreamTarget{Key: name, Target: nsmon.Named(name)})
	}
	errs, err := s.AddMany(targets, nsmon.StreamOptions{Groups: nsmon.GroupIPv4Route})
	for _, e := range append(errs, err) {
		if e != nil {
			fmt.Fprintln(os.Stderr, e)
			os.Exit(1)
		}
	}
	fmt.Println("ready")

	count, overruns := 0, 0
	take := func(ev nsmon.StreamEvent) bool {
		switch ev.Kind {
		case nsmon.NewRoute, nsmon.DelRoute:
			count++
		case nsmon.Overrun:
			overruns++
		}
		return true
	}
	// One watchdog for the whole run ends the wait once no event came for 3 s (60 s before
	// the first): a context per Read would cost a timer each.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen int64
	go func() {
		last, idle := int64(-1), 60*time.Second
		for {
			time.Sleep(idle)
			now := atomic.LoadInt64(&seen)
			if now == last {
				cancel()
				return
			}
			last, idle = now, 3*time.Second
		}
	}()
	for count < expected {
		ev, err := s.Read(ctx)
		if err != nil {
			break // idle: the load is over
		}
		take(ev)
		switch mode {
		case "read":
		case "dispatch":
			_, err = s.Dispatch(take)
		default:
			for {
				ev, ok, e := s.Next()
				if e != nil || !ok {
					err = e
					break
				}
				take(ev)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		atomic.StoreInt64(&seen, int64(count))
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := ru.Utime.Sec*1e6 + ru.Utime.Usec + ru.Stime.Sec*1e6 + ru.Stime.Usec
	fmt.Println(count, overruns, cpu)
}
