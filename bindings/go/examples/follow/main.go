// Command follow prints link, address, route, neighbour and tc events from every named network
// namespace, in every container runtime's folder: those present at start and those created
// later (until they are deleted). It puts a Watcher beside a Stream: each Created namespace is
// added to the stream (under its name in /var/run/netns, its path elsewhere), each Deleted one
// removed. Names are bytes (a link's or a namespace's need not be UTF-8): those
// that are not plain printable text are printed quoted.
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
	"path/filepath"
	"strconv"
	"syscall"
	"unicode"
	"unicode/utf8"

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
	watcher, err := nsmon.NewWatcher(nsmon.WatcherOptions{Runtimes: true, ListExisting: true})
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
			key := text(ev.Name) // keys are UTF-8
			if ev.Dir != "/var/run/netns" {
				key = text(filepath.Join(ev.Dir, ev.Name)) // a path: no name holds '/'
			}
			switch ev.Kind {
			case nsmon.Created:
				if err := add(stream, key, ev.Dir, ev.Name, opts); err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", key, err)
					continue
				}
				fmt.Printf("[%s] following\n", key)
			case nsmon.Deleted:
				if removed, _ := stream.Remove(key); removed {
					fmt.Printf("[%s] gone\n", key)
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

// add follows the namespace DIR/NAME under key: by name when it is in /var/run/netns and UTF-8
// (what Named takes), else by its path (paths are bytes).
func add(stream *nsmon.Stream, key, dir, name string, opts nsmon.StreamOptions) error {
	if dir == "/var/run/netns" && utf8.ValidString(name) {
		return stream.Add(key, nsmon.Named(name), opts)
	}
	return stream.Add(key, nsmon.Path(filepath.Join(dir, name)), opts)
}

// text is s when it is printable UTF-8, else s quoted (names are the kernel's bytes).
func text(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func describe(ev nsmon.StreamEvent) string {
	switch {
	case ev.Link != nil:
		d := fmt.Sprintf("link %d %s kind=%s mtu=%d", ev.Link.Index, text(ev.Link.Name), text(ev.Link.Kind), ev.Link.MTU)
		if n := len(ev.Link.AltNames); n > 0 {
			d += fmt.Sprintf(" altnames=%d", n)
		}
		return d
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
		return fmt.Sprintf("tc %x:%x parent %x kind %s dev %d", ev.TC.Handle>>16, ev.TC.Handle&0xffff, ev.TC.Parent, text(ev.TC.Kind), ev.TC.Index)
	case ev.Err != nil:
		return ev.Err.Error()
	case ev.Kind == nsmon.Unparsed:
		return fmt.Sprintf("%d bytes: %s", len(ev.Raw), ev.Reason)
	case ev.Kind == nsmon.SyncFailed:
		return ev.Reason
	case ev.Kind == nsmon.Overrun && ev.Lost >= 0:
		return fmt.Sprintf("lost %d", ev.Lost)
	case ev.Kind == nsmon.Overrun:
		return "lost an unknown number"
	}
	return ""
}
