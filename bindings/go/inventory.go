package nsmon

/*
#include <stdlib.h>
#include <nsmon.h>
*/
import "C"

import (
	"runtime"
	"time"
	"unsafe"
)

// InventoryKind says what an InventoryEvent reports.
type InventoryKind int

const (
	// Appeared: a network namespace is there that was not (with what holds it now).
	Appeared InventoryKind = C.NSMON_INVENTORY_EVENT_KIND_APPEARED
	// NameAdded: the namespace was mounted at Path.
	NameAdded InventoryKind = C.NSMON_INVENTORY_EVENT_KIND_NAME_ADDED
	// NameRemoved: the namespace's mount at Path went.
	NameRemoved InventoryKind = C.NSMON_INVENTORY_EVENT_KIND_NAME_REMOVED
	// Unheld: the namespace lost its last visible holder but is still there (a socket holds
	// it, or the kernel frees it a moment later). A program holding a socket in it only to
	// follow it should let go now.
	Unheld InventoryKind = C.NSMON_INVENTORY_EVENT_KIND_UNHELD
	// Gone: the namespace is gone.
	Gone InventoryKind = C.NSMON_INVENTORY_EVENT_KIND_GONE
	// InventoryOverrun: the proc connector dropped events; the host is read again and
	// Rescanned follows the difference.
	InventoryOverrun InventoryKind = C.NSMON_INVENTORY_EVENT_KIND_OVERRUN
	// Rescanned: after InventoryOverrun, the events since are exactly the difference.
	Rescanned InventoryKind = C.NSMON_INVENTORY_EVENT_KIND_RESCANNED
	// Degraded: a source is unavailable (Reason); the rescans find what it would have told.
	Degraded InventoryKind = C.NSMON_INVENTORY_EVENT_KIND_DEGRADED
)

// String is the kind's name as the nsmon command prints it.
func (k InventoryKind) String() string {
	switch k {
	case Appeared:
		return "appeared"
	case NameAdded:
		return "name_added"
	case NameRemoved:
		return "name_removed"
	case Unheld:
		return "unheld"
	case Gone:
		return "gone"
	case InventoryOverrun:
		return "overrun"
	case Rescanned:
		return "rescanned"
	case Degraded:
		return "degraded"
	}
	return "unknown"
}

// NetnsFd is an open fd of a namespace: fd Fd of process Pid.
type NetnsFd struct {
	Pid, Fd uint32
}

// InventoryEvent is one inventory event. The holder lists are set for Appeared (and for the
// namespaces Namespaces returns).
type InventoryEvent struct {
	// Kind says what happened.
	Kind InventoryKind
	// ID is the namespace (not for InventoryOverrun, Rescanned, Degraded).
	ID NetnsID
	// Names are its mount points (paths are bytes, copied exactly).
	Names []string
	// Pids are the processes whose main thread is in it.
	Pids []uint32
	// Threads are other threads in it, of processes whose main thread is elsewhere.
	Threads []uint32
	// Fds are open fds of it.
	Fds []NetnsFd
	// Sockets are sockets living in it (with InventoryOptions.Sockets).
	Sockets []NetnsFd
	// Path is the mount point that came or went (NameAdded, NameRemoved).
	Path string
	// Reason says why a source is unavailable (Degraded).
	Reason string
}

// InventoryOptions configures an Inventory. The zero value rescans every 5 s, counts fds as
// holders and uses the proc connector.
type InventoryOptions struct {
	// RescanInterval is how often everything is read again (0: 5 s; at least 10 ms): the
	// worst delay for what no event announces.
	RescanInterval time.Duration
	// NoFds leaves processes' open namespace fds out of the holders.
	NoFds bool
	// Sockets counts sockets as holders of the namespace they live in (costly: a few system
	// calls a socket of the host). This process's own sockets never count.
	Sockets bool
	// NoProcEvents leaves the proc connector unused: the rescans only.
	NoProcEvents bool
}

// Inventory reports every network namespace of the host, named or not, as they appear and go.
type Inventory struct {
	events[InventoryEvent]
	ptr *C.nsmon_inventory
}

// NewInventory starts: listens to the proc connector, then scans the host. Every namespace
// found comes first as Appeared.
func NewInventory(opts InventoryOptions) (*Inventory, error) {
	var o *C.nsmon_inventory_options
	if _, err := call("inventory options", func() C.int { return C.nsmon_inventory_options_new(&o) }); err != nil {
		return nil, err
	}
	defer C.nsmon_inventory_options_free(o)
	if opts.RescanInterval > 0 {
		ms := opts.RescanInterval.Milliseconds()
		if ms > int64(^uint32(0)) {
			ms = int64(^uint32(0))
		}
		C.nsmon_inventory_options_set_rescan_interval_ms(o, C.uint32_t(ms))
	}
	C.nsmon_inventory_options_set_fds(o, C.bool(!opts.NoFds))
	C.nsmon_inventory_options_set_sockets(o, C.bool(opts.Sockets))
	C.nsmon_inventory_options_set_proc_events(o, C.bool(!opts.NoProcEvents))
	inv := &Inventory{}
	if _, err := call("inventory new", func() C.int { return C.nsmon_inventory_new(o, &inv.ptr) }); err != nil {
		return nil, err
	}
	var err error
	ptr := inv.ptr // held by the closures instead of inv, so that the finalizer can run
	inv.events, err = newEvents(int(C.nsmon_inventory_fd(ptr)), inventoryTake(ptr), func() { C.nsmon_inventory_free(ptr) })
	if err != nil {
		return nil, err
	}
	runtime.SetFinalizer(inv, func(inv *Inventory) { inv.Close() })
	return inv, nil
}

func inventoryTake(ptr *C.nsmon_inventory) func(*InventoryEvent) (bool, error) {
	return func(ev *InventoryEvent) (bool, error) {
		var c C.nsmon_inventory_event
		rc, err := call("inventory next", func() C.int { return C.nsmon_inventory_next(ptr, &c) })
		if rc != 1 {
			return false, err
		}
		*ev = inventoryEvent(&c)
		return true, nil
	}
}

func uint32s(p *C.uint32_t, n C.size_t) []uint32 {
	if n == 0 {
		return nil
	}
	out := make([]uint32, n)
	copy(out, unsafe.Slice((*uint32)(unsafe.Pointer(p)), int(n)))
	return out
}

// inventoryEvent copies a C event into Go memory.
func inventoryEvent(c *C.nsmon_inventory_event) InventoryEvent {
	ev := InventoryEvent{
		Kind:    InventoryKind(c.kind),
		ID:      netnsID(&c.netns_id),
		Pids:    uint32s(c.pids, c.pids_len),
		Threads: uint32s(c.threads, c.threads_len),
	}
	if c.names_len > 0 {
		for _, b := range unsafe.Slice(c.names, int(c.names_len)) {
			ev.Names = append(ev.Names, C.GoStringN((*C.char)(unsafe.Pointer(b.bytes)), C.int(b.len)))
		}
	}
	pairs := uint32s(c.fds, 2*c.fds_len)
	for i := 0; i+1 < len(pairs); i += 2 {
		ev.Fds = append(ev.Fds, NetnsFd{Pid: pairs[i], Fd: pairs[i+1]})
	}
	pairs = uint32s(c.sockets, 2*c.sockets_len)
	for i := 0; i+1 < len(pairs); i += 2 {
		ev.Sockets = append(ev.Sockets, NetnsFd{Pid: pairs[i], Fd: pairs[i+1]})
	}
	if c.path.bytes != nil {
		ev.Path = C.GoStringN((*C.char)(unsafe.Pointer(c.path.bytes)), C.int(c.path.len))
	}
	if c.reason != nil {
		ev.Reason = C.GoString(c.reason)
	}
	return ev
}

// Namespaces returns every namespace known now (as of the events taken so far), each as an
// Appeared event with its holders.
func (inv *Inventory) Namespaces() ([]InventoryEvent, error) {
	var out []InventoryEvent
	err := inv.p.with(func() error {
		n, err := call("inventory snapshot", func() C.int { return C.nsmon_inventory_snapshot(inv.ptr) })
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			var c C.nsmon_inventory_event
			rc, err := call("inventory snapshot get", func() C.int {
				return C.nsmon_inventory_snapshot_get(inv.ptr, C.size_t(i), &c)
			})
			if err != nil {
				return err
			}
			if rc == 1 {
				out = append(out, inventoryEvent(&c))
			}
		}
		return nil
	})
	return out, err
}
