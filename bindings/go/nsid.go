package nsmon

/*
#include <stdlib.h>
#include <nsmon.h>
*/
import "C"

import (
	"runtime"
	"syscall"
	"unsafe"
)

// NsidKind says what an NsidEvent reports.
type NsidKind int

// What an Nsid subscriber reports.
const (
	// NewNsid: a namespace was given id Nsid.
	NewNsid NsidKind = C.NSMON_NSID_EVENT_KIND_NEW_NSID
	// DelNsid: the namespace with id Nsid was destroyed; the id is free again.
	DelNsid NsidKind = C.NSMON_NSID_EVENT_KIND_DEL_NSID
	// NsidOverrun: the kernel dropped messages (receive buffer full); Lost says how many (-1:
	// the kernel does not say). The subscriber goes on.
	NsidOverrun NsidKind = C.NSMON_NSID_EVENT_KIND_OVERRUN
	// NsidUnparsed: an NSID message nsmon could not read; Raw has its bytes, Reason says why.
	// The subscriber goes on.
	NsidUnparsed NsidKind = C.NSMON_NSID_EVENT_KIND_UNPARSED
)

// String is the kind's name ("new_nsid", "del_nsid", "overrun", "unparsed"), or "unknown".
func (k NsidKind) String() string {
	switch k {
	case NewNsid:
		return "new_nsid"
	case DelNsid:
		return "del_nsid"
	case NsidOverrun:
		return "overrun"
	case NsidUnparsed:
		return "unparsed"
	}
	return "unknown"
}

// NsidEvent is one namespace-id event.
type NsidEvent struct {
	// Kind says what happened.
	Kind NsidKind
	// Nsid is the id, as seen from the subscriber's observer namespace (-1 for NsidOverrun
	// and NsidUnparsed).
	Nsid int
	// Pid and Fd are what the kernel sent with the id, -1 when absent (the usual case).
	Pid, Fd int
	// Lost is, for NsidOverrun, how many messages were lost, or -1 when the kernel does not
	// say; 0 for other kinds.
	Lost int64
	// Raw is, for NsidUnparsed, the bytes that could not be read (a copy); nil otherwise.
	Raw []byte
	// Reason says why, for NsidUnparsed ("" otherwise).
	Reason string
}

// NsidOptions configures an NsidSubscriber. The zero value observes the caller's namespace.
type NsidOptions struct {
	// Observer is the namespace whose ids are reported (zero value: the caller's).
	Observer Netns
	// ReceiveBuffer is the socket's receive buffer in bytes (0: the kernel's default).
	ReceiveBuffer int
}

// NsidSubscriber reports namespace ids being assigned and released.
type NsidSubscriber struct {
	events[NsidEvent]
	ptr *C.nsmon_nsid
}

// NewNsidSubscriber subscribes to namespace-id events.
func NewNsidSubscriber(opts NsidOptions) (*NsidSubscriber, error) {
	var o *C.nsmon_nsid_options
	if _, err := call("nsid options", func() C.int { return C.nsmon_nsid_options_new(&o) }); err != nil {
		return nil, err
	}
	defer C.nsmon_nsid_options_free(o)
	observer, err := opts.Observer.toC("observer")
	if err != nil {
		return nil, err
	}
	defer observer.free()
	if _, err := call("nsid observer", func() C.int { return C.nsmon_nsid_options_set_observer(o, observer.ref) }); err != nil {
		return nil, err
	}
	if opts.ReceiveBuffer > 0 {
		C.nsmon_nsid_options_set_receive_buffer(o, C.size_t(opts.ReceiveBuffer))
	}
	n := &NsidSubscriber{}
	if _, err := call("nsid new", func() C.int { return C.nsmon_nsid_new(o, &n.ptr) }); err != nil {
		return nil, err
	}
	ptr := n.ptr // not n: see NewWatcher
	n.events, err = newEvents(int(C.nsmon_nsid_fd(ptr)), nsidTake(ptr), func() { C.nsmon_nsid_free(ptr) })
	if err != nil {
		return nil, err
	}
	runtime.SetFinalizer(n, func(n *NsidSubscriber) { n.Close() })
	return n, nil
}

func nsidTake(ptr *C.nsmon_nsid) func(*NsidEvent) (bool, error) {
	return func(ev *NsidEvent) (bool, error) {
		var c C.nsmon_nsid_event
		rc, err := call("nsid next", func() C.int { return C.nsmon_nsid_next(ptr, &c) })
		if rc != 1 {
			return false, err
		}
		// raw and reason point into the subscriber until the next call: copied here, under
		// the handle's mutex.
		*ev = NsidEvent{
			Kind: NsidKind(c.kind), Nsid: int(c.nsid), Pid: int(c.pid), Fd: int(c.fd),
			Lost: int64(c.lost),
		}
		if ev.Kind == NsidUnparsed {
			ev.Raw = C.GoBytes(unsafe.Pointer(c.raw), C.int(c.raw_len))
			ev.Reason = C.GoString(c.reason)
		}
		return true, nil
	}
}

// NsidAuto asks SetNsid to let the kernel choose the id.
const NsidAuto = -1

// GetNsid is the id of target as seen from observer: ok is false when none is assigned (an
// answer, not an error).
func GetNsid(observer, target Netns) (id int, ok bool, err error) {
	o, err := observer.toC("observer")
	if err != nil {
		return 0, false, err
	}
	defer o.free()
	t, err := target.toC("target")
	if err != nil {
		return 0, false, err
	}
	defer t.free()
	rc, err := call("nsid get", func() C.int { return C.nsmon_nsid_get(o.ref, t.ref) })
	if rc == C.NSMON_NSID_NOT_ASSIGNED {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return rc, true, nil
}

// SetNsid assigns id (or NsidAuto) to target as seen from observer, as `ip netns set` does,
// and returns the id it has afterwards. ErrExists when it has another id or the id is taken.
func SetNsid(observer, target Netns, id int) (int, error) {
	o, err := observer.toC("observer")
	if err != nil {
		return 0, err
	}
	defer o.free()
	t, err := target.toC("target")
	if err != nil {
		return 0, err
	}
	defer t.free()
	if id < NsidAuto || id != int(C.int(id)) {
		return 0, &Error{Op: "nsid set", Code: -int(syscall.EINVAL), Message: "the id must be NsidAuto or 0 to 2147483647"}
	}
	return call("nsid set", func() C.int { return C.nsmon_nsid_set(o.ref, t.ref, C.int(id)) })
}
