package nsmon

/*
#include <stdlib.h>
#include <sys/socket.h>
#include <nsmon.h>
*/
import "C"

import (
	"fmt"
	"math"
	"net"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// Groups is a set of object kinds a stream follows in a namespace; combine with |.
type Groups uint32

// Object kinds.
const (
	GroupLink      Groups = C.NSMON_GROUP_LINK
	GroupIPv4Addr  Groups = C.NSMON_GROUP_IPV4_ADDR
	GroupIPv6Addr  Groups = C.NSMON_GROUP_IPV6_ADDR
	GroupIPv4Route Groups = C.NSMON_GROUP_IPV4_ROUTE
	GroupIPv6Route Groups = C.NSMON_GROUP_IPV6_ROUTE
	GroupNeigh     Groups = C.NSMON_GROUP_NEIGH
	// GroupTC is qdiscs, classes and filters.
	GroupTC    Groups = C.NSMON_GROUP_TC
	GroupAddr         = GroupIPv4Addr | GroupIPv6Addr
	GroupRoute        = GroupIPv4Route | GroupIPv6Route
	GroupAll   Groups = C.NSMON_GROUP_ALL
	// GroupNone joins no group: the namespace is only named (e.g. so that an all-nsid
	// target's events from it carry its key). The zero Groups means GroupAll.
	GroupNone Groups = 1 << 31
)

// StreamOptions configures how a namespace is followed. The zero value follows every group,
// with no dump, no resync and a 1 MiB receive buffer.
type StreamOptions struct {
	// Groups to follow (0: GroupAll).
	Groups Groups
	// Dump lists the namespace's current objects after subscribing, then reports Synced.
	Dump bool
	// ResyncOnOverrun dumps again after an Overrun, then reports Synced.
	ResyncOnOverrun bool
	// ReceiveBuffer is the socket's receive buffer in bytes (0: libnsmon's default, 1 MiB).
	ReceiveBuffer int
}

func (o StreamOptions) toC() (*C.nsmon_stream_options, error) {
	var c *C.nsmon_stream_options
	if _, err := call("stream options", func() C.int { return C.nsmon_stream_options_new(&c) }); err != nil {
		return nil, err
	}
	groups := o.Groups
	switch groups {
	case 0:
		groups = GroupAll
	case GroupNone:
		groups = 0
	}
	if _, err := call("stream groups", func() C.int { return C.nsmon_stream_options_set_groups(c, C.uint32_t(groups)) }); err != nil {
		C.nsmon_stream_options_free(c)
		return nil, err
	}
	C.nsmon_stream_options_set_dump(c, C.bool(o.Dump))
	C.nsmon_stream_options_set_resync_on_overrun(c, C.bool(o.ResyncOnOverrun))
	if o.ReceiveBuffer > 0 {
		C.nsmon_stream_options_set_receive_buffer(c, C.size_t(o.ReceiveBuffer))
	}
	return c, nil
}

// StreamKind says what a StreamEvent reports, and which of its fields is set.
type StreamKind int

// What a stream reports.
const (
	NewLink   StreamKind = C.NSMON_STREAM_EVENT_KIND_NEW_LINK
	DelLink   StreamKind = C.NSMON_STREAM_EVENT_KIND_DEL_LINK
	NewAddr   StreamKind = C.NSMON_STREAM_EVENT_KIND_NEW_ADDR
	DelAddr   StreamKind = C.NSMON_STREAM_EVENT_KIND_DEL_ADDR
	NewRoute  StreamKind = C.NSMON_STREAM_EVENT_KIND_NEW_ROUTE
	DelRoute  StreamKind = C.NSMON_STREAM_EVENT_KIND_DEL_ROUTE
	NewNeigh  StreamKind = C.NSMON_STREAM_EVENT_KIND_NEW_NEIGH
	DelNeigh  StreamKind = C.NSMON_STREAM_EVENT_KIND_DEL_NEIGH
	NewQdisc  StreamKind = C.NSMON_STREAM_EVENT_KIND_NEW_QDISC
	DelQdisc  StreamKind = C.NSMON_STREAM_EVENT_KIND_DEL_QDISC
	NewClass  StreamKind = C.NSMON_STREAM_EVENT_KIND_NEW_CLASS
	DelClass  StreamKind = C.NSMON_STREAM_EVENT_KIND_DEL_CLASS
	NewFilter StreamKind = C.NSMON_STREAM_EVENT_KIND_NEW_FILTER
	DelFilter StreamKind = C.NSMON_STREAM_EVENT_KIND_DEL_FILTER
	// Synced: the namespace's dump (or resync) is complete.
	Synced StreamKind = C.NSMON_STREAM_EVENT_KIND_SYNCED
	// Overrun: the kernel dropped notifications for the namespace (receive buffer full); Lost
	// says how many (-1: the kernel does not say). It is reported after the messages queued
	// before the loss; a resync follows with ResyncOnOverrun, and whenever a dump was running.
	Overrun StreamKind = C.NSMON_STREAM_EVENT_KIND_OVERRUN
	// Failed: the namespace's socket failed and it was removed; Err says why.
	Failed StreamKind = C.NSMON_STREAM_EVENT_KIND_ERROR
	// Unparsed: a message nsmon could not type (malformed, of a type nsmon does not type, or
	// the part of a datagram that could not be split or read whole). Raw has its bytes, Reason
	// says why. The namespace goes on.
	Unparsed StreamKind = C.NSMON_STREAM_EVENT_KIND_UNPARSED
	// SyncFailed: the dump (or resync) ended without a complete, consistent snapshot (a dump
	// failed, or its table kept changing while it was dumped); Reason says which. The objects
	// it listed were delivered, and live events go on.
	SyncFailed StreamKind = C.NSMON_STREAM_EVENT_KIND_SYNC_FAILED
)

var streamKindNames = map[StreamKind]string{
	NewLink: "new_link", DelLink: "del_link", NewAddr: "new_addr", DelAddr: "del_addr",
	NewRoute: "new_route", DelRoute: "del_route", NewNeigh: "new_neigh", DelNeigh: "del_neigh",
	NewQdisc: "new_qdisc", DelQdisc: "del_qdisc", NewClass: "new_class", DelClass: "del_class",
	NewFilter: "new_filter", DelFilter: "del_filter", Synced: "synced", Overrun: "overrun",
	Failed: "error", Unparsed: "unparsed", SyncFailed: "sync_failed",
}

// String is the kind's name as the nsmon command prints it ("new_link", "overrun",
// "sync_failed", ...), or "unknown".
func (k StreamKind) String() string {
	if name, ok := streamKindNames[k]; ok {
		return name
	}
	return "unknown"
}

// Link is a link event's fields. Names are the kernel's bytes, copied exactly: the kernel
// allows any byte in them but '/', ':' and white space, so they need not be UTF-8 (a Go string
// holds any bytes; check utf8.ValidString before treating one as text).
type Link struct {
	// Index is the interface index; Flags its IFF_* flags; MTU and Master (the master
	// device's index) are 0 when absent.
	Index, Flags, MTU, Master uint32
	// Family is AF_UNSPEC (0) for the link itself, AF_BRIDGE for a bridge's notice about a
	// port (which carries no alternative names).
	Family uint8
	// Operstate is the RFC 2863 operational state.
	Operstate uint8
	// MAC is the link-layer address (nil when absent).
	MAC net.HardwareAddr
	// Name is the interface name; Kind the link kind ("bridge", "veth", ...; "" when absent).
	Name, Kind string
	// AltNames are the link's alternative names (`ip link property add ... altname`), in the
	// kernel's order; nil when it has none.
	AltNames []string
}

// Addr is an address event's fields.
type Addr struct {
	// Index is the interface index.
	Index uint32
	// Addr is the address (4 bytes for IPv4, 16 for IPv6).
	Addr net.IP
	// PrefixLen is the prefix length.
	PrefixLen uint8
	// Scope is RT_SCOPE_*.
	Scope uint8
	// Label is the IPv4 label: bytes like a link name, copied exactly (not necessarily
	// UTF-8).
	Label string
}

// Route is a route event's fields. Dst is nil for a default route.
type Route struct {
	// Family is AF_INET or AF_INET6; DstLen the destination's prefix length; Protocol
	// RTPROT_*; Scope RT_SCOPE_*; Type RTN_*.
	Family, DstLen, Protocol, Scope, Type uint8
	// Table is the routing table; Oif the output interface's index (0 when absent).
	Table, Oif uint32
	// Dst is the destination and Gateway the gateway (nil when absent).
	Dst, Gateway net.IP
}

// Neigh is a neighbour event's fields.
type Neigh struct {
	// Family is AF_INET, AF_INET6 or AF_BRIDGE.
	Family uint8
	// State is the NUD_* state bits.
	State uint16
	// Index is the interface index.
	Index uint32
	// Dst is the neighbour's address (nil when absent).
	Dst net.IP
	// LLAddr is its link-layer address (nil when absent).
	LLAddr net.HardwareAddr
}

// TC is a qdisc, class or filter event's fields. Handles are major<<16 | minor.
type TC struct {
	// Index is the interface index; Handle and Parent the handles (Parent 0xffffffff: root).
	Index, Handle, Parent uint32
	// Kind is the qdisc, class or filter kind ("htb", "u32", ...), the kernel's bytes copied
	// exactly.
	Kind string
}

// StreamEvent is one stream event; the field matching Kind is set, the others are nil. The
// event is the caller's, valid for as long as it is kept. Its parts (Route, Link, ..., their
// addresses) are allocated many events at a time, so one event kept keeps its chunk, a few
// KiB at most, from being collected.
type StreamEvent struct {
	// Kind says what happened, and which of the fields below is set.
	Kind StreamKind
	// Key is the namespace's key (for an all-nsid target, see Stream.AddAllNsid).
	Key string
	// Nsid is the source namespace's id for events from an all-nsid target, else -1.
	Nsid int
	// Raw is the netlink message as the kernel sent it, with Stream.KeepRaw(true) (nil
	// otherwise); for Unparsed, always, the bytes that could not be typed (possibly none, when
	// the rest of a datagram was lost). Nil for Synced, SyncFailed, Overrun and Failed.
	Raw []byte
	// Link is set for NewLink and DelLink.
	Link *Link
	// Addr is set for NewAddr and DelAddr.
	Addr *Addr
	// Route is set for NewRoute and DelRoute.
	Route *Route
	// Neigh is set for NewNeigh and DelNeigh.
	Neigh *Neigh
	// TC is set for the qdisc, class and filter kinds.
	TC *TC
	// Reason says why, for Unparsed and SyncFailed ("" otherwise).
	Reason string
	// Lost is, for Overrun, how many notifications were lost, or -1 when the kernel does not
	// say (before Linux 4.12); 0 for other kinds.
	Lost int64
	// Err is why the namespace failed (Failed only).
	Err error
}

func (v *converter) ip(c *C.nsmon_ip) net.IP {
	switch c.family {
	case C.AF_INET:
		return net.IP(v.bytes.copy(unsafe.Pointer(&c.bytes[0]), 4))
	case C.AF_INET6:
		return net.IP(v.bytes.copy(unsafe.Pointer(&c.bytes[0]), 16))
	}
	return nil
}

func (v *converter) hw(b *C.uint8_t, n C.uint8_t) net.HardwareAddr {
	if n == 0 {
		return nil
	}
	return net.HardwareAddr(v.bytes.copy(unsafe.Pointer(b), int(n)))
}

// slab hands out values of T from chunks allocated many at a time: one allocation for many
// events instead of one per event (the garbage collector frees a chunk once no event that
// came from it is referenced).
type slab[T any] struct{ free []T }

// slabChunk is how many values one chunk holds.
const slabChunk = 64

func (s *slab[T]) take() *T {
	if len(s.free) == 0 {
		s.free = make([]T, slabChunk)
	}
	t := &s.free[0]
	s.free = s.free[1:]
	return t
}

// byteSlab copies small byte strings (addresses) into shared chunks; each copy is capped at
// its length, so that an append to it reallocates rather than overwrites its neighbour.
type byteSlab struct{ free []byte }

func (s *byteSlab) copy(p unsafe.Pointer, n int) []byte {
	if len(s.free) < n {
		s.free = make([]byte, 16*slabChunk)
	}
	b := s.free[:n:n]
	copy(b, unsafe.Slice((*byte)(p), n))
	s.free = s.free[n:]
	return b
}

// goName copies a length-delimited name out of a C array: every byte, whatever it is (the
// array's NUL terminator is not what ends it).
func goName(b *C.char, n C.uint8_t) string {
	return C.GoStringN(b, C.int(n))
}

// altNames copies a link's alternative names (they point into the stream).
func altNames(l *C.nsmon_link) []string {
	if l.alt_names == nil || l.alt_names_count == 0 {
		return nil
	}
	c := unsafe.Slice(l.alt_names, int(l.alt_names_count))
	names := make([]string, len(c))
	for i, b := range c {
		names[i] = C.GoStringN((*C.char)(unsafe.Pointer(b.bytes)), C.int(b.len))
	}
	return names
}

// converter turns the library's events into Go ones. Used under the stream's lock.
type converter struct {
	// keys holds each key as a Go string once, so that an event's Key is not a new copy.
	keys map[string]string
	// raw: whether message events carry their bytes (Stream.KeepRaw).
	raw bool
	// Where events' parts are allocated, many at a time: an event kept keeps its chunk (a
	// few KiB at most) alive.
	links  slab[Link]
	addrs  slab[Addr]
	routes slab[Route]
	neighs slab[Neigh]
	tcs    slab[TC]
	bytes  byteSlab
}

// key is the event's key as a Go string, copied the first time it is seen.
func (v *converter) key(c *C.nsmon_stream_event) string {
	b := unsafe.Slice((*byte)(unsafe.Pointer(c.key)), int(c.key_len))
	if k, ok := v.keys[string(b)]; ok { // the compiler makes no string for this lookup
		return k
	}
	k := string(b)
	v.keys[k] = k
	return k
}

// fromC copies an event into Go memory (its pointers are valid only until the next call).
func (v *converter) fromC(c *C.nsmon_stream_event) StreamEvent {
	ev := StreamEvent{
		Kind: StreamKind(c.kind),
		Key:  v.key(c),
		Nsid: int(c.nsid),
	}
	if c.raw != nil && (v.raw || ev.Kind == Unparsed) {
		ev.Raw = C.GoBytes(unsafe.Pointer(c.raw), C.int(c.raw_len))
	}
	switch ev.Kind {
	case NewLink, DelLink:
		l := &c.link
		ev.Link = v.links.take()
		*ev.Link = Link{
			Index: uint32(l.index), Flags: uint32(l.flags), MTU: uint32(l.mtu),
			Master: uint32(l.master), Family: uint8(l.family), Operstate: uint8(l.operstate),
			MAC: v.hw(&l.mac[0], l.mac_len), Name: goName(&l.name[0], l.name_len),
			Kind: goName(&l.kind[0], l.kind_len), AltNames: altNames(l),
		}
	case NewAddr, DelAddr:
		a := &c.addr
		ev.Addr = v.addrs.take()
		*ev.Addr = Addr{
			Index: uint32(a.index), Addr: v.ip(&a.addr), PrefixLen: uint8(a.prefix_len),
			Scope: uint8(a.scope), Label: goName(&a.label[0], a.label_len),
		}
	case NewRoute, DelRoute:
		r := &c.route
		ev.Route = v.routes.take()
		*ev.Route = Route{
			Family: uint8(r.family), DstLen: uint8(r.dst_len), Protocol: uint8(r.protocol),
			Scope: uint8(r.scope), Type: uint8(r.route_type), Table: uint32(r.table),
			Oif: uint32(r.oif), Dst: v.ip(&r.dst), Gateway: v.ip(&r.gateway),
		}
	case NewNeigh, DelNeigh:
		n := &c.neigh
		ev.Neigh = v.neighs.take()
		*ev.Neigh = Neigh{
			Family: uint8(n.family), State: uint16(n.state), Index: uint32(n.index),
			Dst: v.ip(&n.dst), LLAddr: v.hw(&n.lladdr[0], n.lladdr_len),
		}
	case NewQdisc, DelQdisc, NewClass, DelClass, NewFilter, DelFilter:
		t := &c.tc
		ev.TC = v.tcs.take()
		*ev.TC = TC{
			Index: uint32(t.index), Handle: uint32(t.handle), Parent: uint32(t.parent),
			Kind: goName(&t.kind[0], t.kind_len),
		}
	case Overrun:
		ev.Lost = int64(c.lost)
	case Unparsed, SyncFailed:
		ev.Reason = C.GoString(c.reason)
		if ev.Kind == Unparsed && ev.Raw == nil {
			ev.Raw = []byte{}
		}
	case Failed:
		ev.Err = &Error{Op: "stream " + ev.Key, Code: -int(syscall.EIO), Message: C.GoString(c.reason)}
	}
	return ev
}

// Stream reports rtnetlink events from many network namespaces through one fd, each tagged
// with the key the caller added its namespace under.
type Stream struct {
	events[StreamEvent]
	ptr  *C.nsmon_stream
	conv *converter
}

// NewStream creates an empty stream.
func NewStream() (*Stream, error) {
	return newStream(func(out **C.nsmon_stream) C.int { return C.nsmon_stream_new(out) })
}

// NewStreamCoalescing creates an empty stream that trades latency for wake-ups: once the
// caller has taken everything that was ready, what arrives within window waits for the
// window's end, and one wake-up then delivers all of it. The first event after a window that
// brought nothing comes at once (a quiet stream adds no latency); a busy one adds at most
// window (whole microseconds, at least one). Worth it at moderate, steady rates, where a plain
// stream wakes its reader once per event.
func NewStreamCoalescing(window time.Duration) (*Stream, error) {
	us := window.Microseconds()
	if us < 1 || us > math.MaxUint32 {
		return nil, &Error{Op: "stream new", Code: -int(syscall.EINVAL),
			Message: fmt.Sprintf("a coalescing window of %v is not between 1us and %dus", window, uint32(math.MaxUint32))}
	}
	return newStream(func(out **C.nsmon_stream) C.int {
		return C.nsmon_stream_new_coalescing(C.uint32_t(us), out)
	})
}

func newStream(create func(**C.nsmon_stream) C.int) (*Stream, error) {
	s := &Stream{}
	if _, err := call("stream new", func() C.int { return create(&s.ptr) }); err != nil {
		return nil, err
	}
	var err error
	ptr := s.ptr // not s: see NewWatcher
	conv := &converter{keys: map[string]string{}}
	take, batch, release := streamReaders(ptr, conv)
	s.events, err = newEvents(int(C.nsmon_stream_fd(ptr)), take, func() {
		C.nsmon_stream_free(ptr)
		release()
	})
	if err != nil {
		return nil, err
	}
	s.events.batch = batch
	s.conv = conv
	runtime.SetFinalizer(s, func(s *Stream) { s.Close() })
	return s, nil
}

// Add starts following target under key (UTF-8: ErrUTF8 otherwise). Fails (changing nothing)
// when the key is in use or the namespace cannot be opened.
func (s *Stream) Add(key string, target Netns, opts StreamOptions) error {
	return s.add("stream add", key, target, opts, false)
}

// AddAllNsid adds an all-nsid target under key: one socket in observer's namespace hearing
// it and every namespace that has an id in it. Events from those carry their Nsid, and the
// key the caller added that namespace under if it did (else this key). They share one receive
// buffer: an Overrun of this key may have lost events of any of them.
func (s *Stream) AddAllNsid(key string, observer Netns, opts StreamOptions) error {
	return s.add("stream add all-nsid", key, observer, opts, true)
}

func (s *Stream) add(op, key string, ns Netns, opts StreamOptions, allNsid bool) error {
	k, err := cString("key", key)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(k))
	ref, err := ns.toC("target")
	if err != nil {
		return err
	}
	defer ref.free()
	o, err := opts.toC()
	if err != nil {
		return err
	}
	defer C.nsmon_stream_options_free(o)
	return s.p.with(func() error {
		_, err := call(op, func() C.int {
			if allNsid {
				return C.nsmon_stream_add_all_nsid(s.ptr, k, ref.ref, o)
			}
			return C.nsmon_stream_add(s.ptr, k, ref.ref, o)
		})
		return err
	})
}

// StreamTarget is one entry of AddMany.
type StreamTarget struct {
	// Key is what the namespace's events are tagged with (UTF-8).
	Key string
	// Target is the namespace.
	Target Netns
}

// AddMany adds many namespaces at once, all with opts, and returns one error per entry (nil
// for those added): an entry failing leaves the others added. Much faster than one Add each
// (the library creates every socket from one helper thread). The second result is an error
// that concerns the whole call (a closed stream).
func (s *Stream) AddMany(targets []StreamTarget, opts StreamOptions) ([]error, error) {
	errs := make([]error, len(targets))
	if len(targets) == 0 {
		return errs, s.p.with(func() error { return nil })
	}
	// The arrays are in C memory: they hold C pointers and are read by C.
	n := C.size_t(len(targets))
	keys := unsafe.Slice((**C.char)(C.calloc(n, C.size_t(unsafe.Sizeof((*C.char)(nil))))), len(targets))
	refs := unsafe.Slice((*C.nsmon_netns_ref)(C.calloc(n, C.size_t(unsafe.Sizeof(C.nsmon_netns_ref{})))), len(targets))
	results := unsafe.Slice((*C.int)(C.calloc(n, C.size_t(unsafe.Sizeof(C.int(0))))), len(targets))
	var cleanup []cRef
	defer func() {
		for i := range keys {
			C.free(unsafe.Pointer(keys[i]))
		}
		for _, r := range cleanup {
			r.free()
		}
		C.free(unsafe.Pointer(&keys[0]))
		C.free(unsafe.Pointer(&refs[0]))
		C.free(unsafe.Pointer(&results[0]))
	}()
	for i, t := range targets {
		// An entry Go cannot express to C (a NUL byte) is given a NULL key, which the library
		// refuses for that entry alone; its error here is Go's own.
		k, err := cString("key", t.Key)
		if err != nil {
			errs[i] = err
		}
		keys[i] = k
		ref, err := t.Target.toC("target")
		if err != nil {
			errs[i] = err
			C.free(unsafe.Pointer(keys[i]))
			keys[i] = nil
			continue
		}
		cleanup = append(cleanup, ref)
		refs[i] = *ref.ref
	}
	o, err := opts.toC()
	if err != nil {
		return nil, err
	}
	defer C.nsmon_stream_options_free(o)
	err = s.p.with(func() error {
		// The library describes its first failure only: that text goes to the entry when it
		// is the only one that failed; others get their code's general text.
		var detail string
		_, err := call("stream add many", func() C.int {
			rc := C.nsmon_stream_add_many(s.ptr, &keys[0], &refs[0], n, o, &results[0])
			if rc >= 0 && rc < C.int(len(targets)) {
				detail = C.GoString(C.nsmon_last_error())
			}
			return rc
		})
		if err != nil {
			return err
		}
		failed := 0
		for _, rc := range results {
			if rc < 0 {
				failed++
			}
		}
		for i, rc := range results {
			if rc < 0 && errs[i] == nil {
				msg := C.GoString(C.nsmon_strerror(rc))
				if failed == 1 {
					msg = detail
				}
				errs[i] = &Error{Op: "stream add " + targets[i].Key, Code: int(rc), Message: msg}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// Remove stops following key, closing its socket (which releases the namespace). Reports
// whether the key was there.
func (s *Stream) Remove(key string) (bool, error) {
	return s.keyCall("stream remove", key, func(k *C.char) C.int {
		delete(s.conv.keys, key) // keys come and go: the cache keeps only what may still come
		return C.nsmon_stream_remove(s.ptr, k)
	})
}

// Contains reports whether key is followed.
func (s *Stream) Contains(key string) (bool, error) {
	return s.keyCall("stream contains", key, func(k *C.char) C.int { return C.nsmon_stream_contains(s.ptr, k) })
}

// Identity says who the namespace behind key is (ok is false when key is not followed): the
// same namespace, named again after its name was deleted and created, is another identity.
func (s *Stream) Identity(key string) (id NetnsID, ok bool, err error) {
	var c C.nsmon_netns_id
	ok, err = s.keyCall("stream identity", key, func(k *C.char) C.int { return C.nsmon_stream_identity(s.ptr, k, &c) })
	if ok {
		id = netnsID(&c)
	}
	return id, ok, err
}

func (s *Stream) keyCall(op, key string, f func(*C.char) C.int) (found bool, err error) {
	k, err := cString("key", key)
	if err != nil {
		return false, err
	}
	defer C.free(unsafe.Pointer(k))
	err = s.p.with(func() error {
		rc, err := call(op, func() C.int { return f(k) })
		found = rc == 1
		return err
	})
	return found, err
}

// Len is how many namespaces are followed.
func (s *Stream) Len() (n int, err error) {
	err = s.p.with(func() error {
		n, err = call("stream len", func() C.int { return C.nsmon_stream_len(s.ptr) })
		return err
	})
	return n, err
}

// batchSize is how many events one batch call takes at most.
const batchSize = 64

// streamReaders are the stream's take (one event) and batch (what is ready), both into one
// buffer of C events, then copied out (both run under the stream's lock). The buffer is C
// memory, freed with the stream by the returned release: Go memory passed to C is checked for
// Go pointers whole at every call, which for this buffer cost more than the events it brought.
func streamReaders(ptr *C.nsmon_stream, conv *converter) (
	func(*StreamEvent) (bool, error), func([]StreamEvent) ([]StreamEvent, error), func(),
) {
	size := C.size_t(unsafe.Sizeof(C.nsmon_stream_event{})) * batchSize
	mem := (*C.nsmon_stream_event)(C.malloc(size))
	buf := unsafe.Slice(mem, batchSize)
	take := func(ev *StreamEvent) (bool, error) {
		rc, err := call("stream next", func() C.int { return C.nsmon_stream_next(ptr, mem) })
		if rc != 1 {
			return false, err
		}
		*ev = conv.fromC(mem)
		return true, nil
	}
	batch := func(dst []StreamEvent) ([]StreamEvent, error) {
		n, err := call("stream next", func() C.int {
			return C.nsmon_stream_next_batch(ptr, mem, batchSize)
		})
		for i := 0; i < n; i++ {
			dst = append(dst, conv.fromC(&buf[i]))
		}
		return dst, err
	}
	return take, batch, func() { C.free(unsafe.Pointer(mem)) }
}

// KeepRaw says whether message events carry their bytes as the kernel sent them (Raw). Off by
// default, so that each event is not one more copy; Unparsed events always carry theirs.
func (s *Stream) KeepRaw(on bool) error {
	return s.p.with(func() error {
		s.conv.raw = on
		return nil
	})
}
