// Command follow prints link, address, route, neighbour and tc events from every named network
// namespace: those present at start and those created later (until they are deleted). It puts
// a Watcher beside a Stream: each Created namespace is added to the stream under its name, each
// Deleted one removed.
//
//	go run ./examples/follow            # Ctrl-C to stop
//	go run ./examples/follow -groups 9  # links and IPv4 routes only (NSMON_GROUP_* bits)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	nsmon "github.com/nsmon/nsmon/bindings/go"
)

func main() {
	groups := flag.Uint("groups", 0, "NSMON_GROUP_* bits to follow (0: all)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := follow(ctx, nsmon.StreamOptions{Groups: nsmon.Groups(*groups)}); err != nil {
		fmt.Fprintln(os.Stderr, "follow:", err)
		os.Exit(1)
	}
}

func follow(ctx context.Context, opts nsmon.StreamOptions) error {
	watcher, err := nsmon.NewWatcher(nsmon.WatcherOptions{ListExisting: true})
	if err != nil {
		return err
	}
	defer watcher.Close()
	stream, err := nsmon.NewStream()
	if err != nil {
		return err
	}
	defer stream.Close()

	// The watcher's goroutine adds and removes namespaces while the main one reads events:
	// the stream serialises the calls, and a Read waiting in Go's poller holds no lock.
	go func() {
		for {
			ev, err := watcher.Read(ctx)
			if err != nil {
				return
			}
			switch ev.Kind {
			case nsmon.Created:
				if err := stream.Add(ev.Name, nsmon.Named(ev.Name), opts); err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", ev.Name, err)
					continue
				}
				fmt.Printf("[%s] following\n", ev.Name)
			case nsmon.Deleted:
				if removed, _ := stream.Remove(ev.Name); removed {
					fmt.Printf("[%s] gone\n", ev.Name)
				}
			}
		}
	}()

	for {
		ev, err := stream.Read(ctx)
		if err == context.Canceled {
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Printf("[%s] %s %s\n", ev.Key, ev.Kind, describe(ev))
	}
}

func describe(ev nsmon.StreamEvent) string {
	switch {
	case ev.Link != nil:
		return fmt.Sprintf("link %d %s kind=%s mtu=%d", ev.Link.Index, ev.Link.Name, ev.Link.Kind, ev.Link.MTU)
	case ev.Addr != nil:
		return fmt.Sprintf("addr %s/%d dev %d", ev.Addr.Addr, ev.Addr.PrefixLen, ev.Addr.Index)
	case ev.Route != nil:
		dst := "default"
		if ev.Route.Dst != nil {
			dst = fmt.Sprintf("%s/%d", ev.Route.Dst, ev.Route.DstLen)
		}
		return fmt.Sprintf("route %s table %d oif %d", dst, ev.Route.Table, ev.Route.Oif)
	case ev.Neigh != nil:
		return fmt.Sprintf("neigh %s lladdr %s dev %d", ev.Neigh.Dst, ev.Neigh.LLAddr, ev.Neigh.Index)
	case ev.TC != nil:
		return fmt.Sprintf("tc %x:%x parent %x kind %s dev %d", ev.TC.Handle>>16, ev.TC.Handle&0xffff, ev.TC.Parent, ev.TC.Kind, ev.TC.Index)
	case ev.Err != nil:
		return ev.Err.Error()
	}
	return ""
}
