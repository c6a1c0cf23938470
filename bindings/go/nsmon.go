// Package nsmon watches Linux network namespaces: named namespaces appearing and disappearing
// (Watcher), namespace ids being assigned and released (Nsid), and link, address, route,
// neighbour and traffic-control events from many namespaces at once (Stream).
//
// It wraps libnsmon's C ABI through cgo. Each handle has one file descriptor; its blocking
// Read waits on that descriptor through Go's own poller, so no OS thread sits blocked in C, and
// a context or a Close from another goroutine ends the wait. Next never blocks.
//
// The library never changes the network namespace of the calling OS thread: sockets inside
// other namespaces are created by a short-lived helper thread inside libnsmon, so goroutines
// may call it from any thread without runtime.LockOSThread.
//
// Handles are safe for use from several goroutines (calls are serialised by a mutex). Close
// is idempotent; a finalizer closes a handle that was dropped without Close, as a safety net
// only.
package nsmon

/*
#include <stdlib.h>
#include <nsmon.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Errors that errors.Is matches against any error this package returns. The OS error codes
// are the syscall.Errno values themselves, so errors.Is(err, syscall.ENOENT) works as well.
var (
	// ErrClosed: the handle was closed.
	ErrClosed = errors.New("nsmon: handle is closed")
	// ErrInvalidArgument: a bad name, key, option or namespace (EINVAL).
	ErrInvalidArgument error = syscall.EINVAL
	// ErrNotFound: no such named namespace or path (ENOENT).
	ErrNotFound error = syscall.ENOENT
	// ErrNoProcess: no such process (ESRCH).
	ErrNoProcess error = syscall.ESRCH
	// ErrExists: the namespace has another id, or the id is taken (EEXIST).
	ErrExists error = syscall.EEXIST
	// ErrTooManyFiles: the process's file descriptor limit was reached (EMFILE).
	ErrTooManyFiles error = syscall.EMFILE
	// ErrPermission: the operation needs privileges (EPERM).
	ErrPermission error = syscall.EPERM
	// ErrUTF8: a key or a namespace name passed to the library is not valid UTF-8 (paths,
	// Path and WatcherOptions.Dir, may be any bytes).
	ErrUTF8 = errors.New("nsmon: not valid UTF-8")
	// ErrInternal: the library caught an internal error (a panic); the handle is unusable.
	ErrInternal = errors.New("nsmon: internal error")
)

// Error is a failure reported by libnsmon: its code (a negative errno or NSMON_ERR_*), and
// the library's detailed message.
type Error struct {
	// Op is the call that failed, e.g. "stream add".
	Op string
	// Code is the library's return code.
	Code int
	// Message is the library's description (nsmon_last_error).
	Message string
}

// Error is "nsmon: OP: MESSAGE".
func (e *Error) Error() string {
	return fmt.Sprintf("nsmon: %s: %s", e.Op, e.Message)
}

// Unwrap gives the syscall.Errno for OS error codes, or the matching package sentinel.
func (e *Error) Unwrap() error {
	switch e.Code {
	case int(C.NSMON_ERR_UTF8):
		return ErrUTF8
	case int(C.NSMON_ERR_PANIC):
		return ErrInternal
	case int(C.NSMON_ERR_NULL):
		return syscall.EINVAL
	}
	if e.Code < 0 && e.Code > -4096 {
		return syscall.Errno(-e.Code)
	}
	return nil
}

// call runs f, a libnsmon call, on a locked OS thread so that a failure's message (kept per
// thread by the library) is read from the thread that set it.
func call(op string, f func() C.int) (int, error) {
	runtime.LockOSThread()
	rc := f()
	var err error
	if rc < 0 {
		err = &Error{Op: op, Code: int(rc), Message: C.GoString(C.nsmon_last_error())}
	}
	runtime.UnlockOSThread()
	return int(rc), err
}

// cString converts s for C; the caller frees it. Strings with a NUL byte would be cut short
// silently by C, so they are refused.
func cString(what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, &Error{Op: what, Code: -int(syscall.EINVAL), Message: what + " contains a NUL byte"}
	}
	return C.CString(s), nil
}

// Version is the version of the libnsmon in use.
func Version() string {
	return C.GoString(C.nsmon_version())
}

// ValidateName checks a namespace name as `ip netns` would accept it (no "/", not "." or
// "..", not empty, not too long).
func ValidateName(name string) error {
	c, err := cString("name", name)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(c))
	_, err = call("validate name", func() C.int { return C.nsmon_validate_name(c) })
	return err
}

// poller is the Go side of a handle: a duplicate of the handle's fd in Go's poller, and a
// mutex that serialises calls into the library.
type poller struct {
	mu     sync.Mutex
	closed bool
	file   *os.File
	raw    syscall.RawConn
	// reading counts the Reads waiting now; watch is the watchdog kept for the context the
	// last lone Read waited with (see watchdog).
	reading int
	watch   *watchdog
}

// watchdog ends the waits of the Reads with ctx when it is done, by setting a deadline in the
// past. A caller reading in a loop with one context gets one watchdog for the whole loop,
// rather than a goroutine started and stopped for every wait: that cost a third of an event's
// time from Go when each wake-up brings one event.
type watchdog struct {
	ctx  context.Context
	stop chan struct{}
	done chan struct{}
}

func (p *poller) startWatchdog(ctx context.Context) *watchdog {
	w := &watchdog{ctx: ctx, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		select {
		case <-ctx.Done():
			p.file.SetReadDeadline(time.Unix(1, 0))
		case <-w.stop:
		}
	}()
	return w
}

// end stops the watchdog and waits until it has, so that it cannot cut a later wait short.
func (w *watchdog) end() {
	close(w.stop)
	<-w.done
}

// guard makes sure a watchdog watches ctx for a wait that starts now; the returned function
// ends what guard started for this wait alone. A lone Read keeps one watchdog per context
// across calls; a Read beside another one gets a watchdog of its own, ended when it returns.
func (p *poller) guard(ctx context.Context) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reading++
	if p.reading > 1 {
		w := p.startWatchdog(ctx)
		return func() { w.end(); p.doneReading() }
	}
	if p.watch == nil || p.watch.ctx != ctx {
		if p.watch != nil {
			p.watch.end()
		}
		p.watch = p.startWatchdog(ctx)
	}
	return p.doneReading
}

func (p *poller) doneReading() {
	p.mu.Lock()
	p.reading--
	p.mu.Unlock()
}

func newPoller(fd int) (*poller, error) {
	dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return nil, &Error{Op: "dup", Code: -int(errno), Message: errno.Error()}
	}
	// Non-blocking, so that os.NewFile puts it into Go's poller. (The handle's fd is an epoll
	// fd: the flag changes nothing for the library.)
	if err := syscall.SetNonblock(int(dup), true); err != nil {
		syscall.Close(int(dup))
		return nil, err
	}
	file := os.NewFile(dup, "nsmon")
	raw, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, err
	}
	return &poller{file: file, raw: raw}, nil
}

// with runs f under the mutex, or returns ErrClosed.
func (p *poller) with(f func() error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	return f()
}

// close marks the handle closed, wakes any Read, and runs free once. Later calls do nothing.
func (p *poller) close(free func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.watch != nil {
		p.watch.end()
		p.watch = nil
	}
	p.file.Close()
	free()
}

// ctxErr is ctx.Err() without its mutex while ctx is not done (a non-blocking look at Done):
// Read looks at its context once per event.
func ctxErr(ctx context.Context) error {
	done := ctx.Done()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return ctx.Err()
	default:
		return nil
	}
}

// wait calls try (a non-blocking take, under the mutex) until it has an event, waiting for
// the fd in Go's poller in between. ctx or Close end the wait. The caller has just found
// nothing ready (see events.Read).
func (p *poller) wait(ctx context.Context, try func() (bool, error)) error {
	if ctx.Done() != nil {
		defer p.guard(ctx)()
	}
	if err := p.file.SetReadDeadline(time.Time{}); err != nil {
		return ErrClosed
	}
	// A watchdog that fired before the deadline was cleared has been undone by it: the
	// context is looked at again, after.
	if err := ctx.Err(); err != nil {
		return err
	}
	var inner error
	err := p.raw.Read(func(uintptr) bool {
		got := false
		e := p.with(func() error {
			var e error
			got, e = try()
			return e
		})
		if e != nil {
			inner = e
			return true
		}
		return got
	})
	switch {
	case inner != nil:
		return inner
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		return ctx.Err()
	case p.with(func() error { return nil }) == ErrClosed:
		// The poller reports its own "use of closed file" for a Close during the wait.
		return ErrClosed
	default:
		return err
	}
}

// Netns names a network namespace. The zero value is the caller's own namespace.
type Netns struct {
	kind C.uint32_t
	str  string
	num  int
}

// Current is the caller's namespace.
func Current() Netns { return Netns{kind: C.NSMON_NETNS_CURRENT} }

// Named is /var/run/netns/NAME (the name is validated, and must be UTF-8: for other names,
// use Path("/var/run/netns/" + name)).
func Named(name string) Netns { return Netns{kind: C.NSMON_NETNS_NAME, str: name} }

// Path is any nsfs file of a network namespace (a bind mount, /proc/PID/ns/net, ...). The path
// is bytes: it need not be UTF-8 (but holds no NUL).
func Path(path string) Netns { return Netns{kind: C.NSMON_NETNS_PATH, str: path} }

// Pid is the namespace of process pid.
func Pid(pid int) Netns { return Netns{kind: C.NSMON_NETNS_PID, num: pid} }

// Fd is an open namespace fd; it is borrowed for the call, not closed.
func Fd(fd int) Netns { return Netns{kind: C.NSMON_NETNS_FD, num: fd} }

// String describes the namespace: the name, the path, "pid:N", "fd:N" or "current".
func (n Netns) String() string {
	switch n.kind {
	case C.NSMON_NETNS_NAME, C.NSMON_NETNS_PATH:
		return n.str
	case C.NSMON_NETNS_PID:
		return fmt.Sprintf("pid:%d", n.num)
	case C.NSMON_NETNS_FD:
		return fmt.Sprintf("fd:%d", n.num)
	}
	return "current"
}

// cRef is a Netns in C memory; free releases it.
type cRef struct {
	ref *C.nsmon_netns_ref
}

func (n Netns) toC(what string) (cRef, error) {
	ref := (*C.nsmon_netns_ref)(C.calloc(1, C.size_t(unsafe.Sizeof(C.nsmon_netns_ref{}))))
	ref.kind = n.kind
	ref.num = C.int(n.num)
	if n.num != int(ref.num) {
		C.free(unsafe.Pointer(ref))
		return cRef{}, &Error{Op: what, Code: -int(syscall.EINVAL), Message: fmt.Sprintf("%d is out of range", n.num)}
	}
	if n.kind == C.NSMON_NETNS_NAME || n.kind == C.NSMON_NETNS_PATH {
		s, err := cString(what, n.str)
		if err != nil {
			C.free(unsafe.Pointer(ref))
			return cRef{}, err
		}
		ref.str = s
	}
	return cRef{ref}, nil
}

func (r cRef) free() {
	if r.ref != nil {
		C.free(unsafe.Pointer(r.ref.str))
		C.free(unsafe.Pointer(r.ref))
	}
}

// events is what every handle shares: the poller, the fd, and Next, Read, Dispatch, Fd and
// Close over take, which fills one event from the library (under the handle's mutex). A handle
// with batch takes what is ready in one call for Read and Dispatch (one cgo crossing for many
// events); what it took and has not handed out yet waits in pending, ahead of the library.
type events[E any] struct {
	p       *poller
	fd      int
	take    func(*E) (bool, error)
	batch   func([]E) ([]E, error)
	pending []E
	next    int
	free    func()
}

// takeOne hands out the next pending event, else takes one from the library (under the mutex).
// The event is returned, not written through a pointer: Read's and Next's events then stay off
// the heap.
func (h *events[E]) takeOne() (E, bool, error) {
	if h.next < len(h.pending) {
		ev := h.pending[h.next]
		var zero E
		h.pending[h.next] = zero // the slot keeps no reference to what was handed out
		h.next++
		return ev, true, nil
	}
	var ev E // on the heap (h.take is a function value), but only on this path
	ok, err := h.take(&ev)
	return ev, ok, err
}

// takeBatch refills pending with one batch call when it is empty, then hands out its next
// event (under the mutex). Without a batch call it is takeOne.
func (h *events[E]) takeBatch() (E, bool, error) {
	if h.batch != nil && h.next >= len(h.pending) {
		var err error
		h.pending, err = h.batch(h.pending[:0])
		h.next = 0
		if len(h.pending) == 0 {
			var zero E
			return zero, false, err
		}
	}
	return h.takeOne()
}

// locked is takeBatch (or, without batch, takeOne) under the mutex, or ErrClosed: without a
// closure, so that it costs no allocation per event.
func (h *events[E]) locked(batch bool) (E, bool, error) {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	if h.p.closed {
		var zero E
		return zero, false, ErrClosed
	}
	if batch {
		return h.takeBatch()
	}
	return h.takeOne()
}

func newEvents[E any](fd int, take func(*E) (bool, error), free func()) (events[E], error) {
	p, err := newPoller(fd)
	if err != nil {
		free()
		return events[E]{}, err
	}
	return events[E]{p: p, fd: fd, take: take, free: free}, nil
}

// Fd is the handle's pollable fd (readable while Next has an event), for callers with their
// own poll loop. It belongs to the handle: do not close it.
func (h *events[E]) Fd() int { return h.fd }

// Next takes the next event without blocking; ok is false when there is none now. It takes
// one event at a time from the library, so the fd stays readable exactly while Next has one.
func (h *events[E]) Next() (ev E, ok bool, err error) {
	return h.locked(false)
}

// Read waits for the next event (in Go's poller: no OS thread blocked) until ctx is done
// (ctx.Err()) or the handle is closed (ErrClosed). Where the library has a batch call (the
// stream), Read takes every event ready in one call and hands them out one by one: after Read,
// call Next until ok is false before waiting on Fd yourself.
func (h *events[E]) Read(ctx context.Context) (E, error) {
	if err := ctxErr(ctx); err != nil {
		var zero E
		return zero, err
	}
	// An event ready now needs no poller, deadline or watchdog goroutine: the common case
	// under load, where they cost more than the event.
	ev, ok, err := h.locked(true)
	if err != nil || ok {
		return ev, err
	}
	return h.wait(ctx)
}

// wait is Read once nothing was ready.
func (h *events[E]) wait(ctx context.Context) (ev E, err error) {
	err = h.p.wait(ctx, func() (bool, error) {
		var ok bool
		var e error
		ev, ok, e = h.takeBatch()
		return ok, e
	})
	return ev, err
}

// Dispatch calls fn for each event ready now, until none is left or fn returns false, and
// returns how many it delivered. The events are taken under the handle's lock but fn runs
// outside it, not from inside a C callback, so fn may call any method of the handle, Close
// included. Events taken in a batch and not delivered (fn returned false) are Next's.
func (h *events[E]) Dispatch(fn func(E) bool) (int, error) {
	n := 0
	for {
		ev, ok, err := h.locked(true)
		if err != nil || !ok {
			return n, err
		}
		n++
		if !fn(ev) {
			return n, nil
		}
	}
}

// Close frees the handle. Idempotent; a Read in progress returns ErrClosed, and so does every
// later call.
func (h *events[E]) Close() error {
	h.p.close(h.free)
	return nil
}

// NetnsID says who a network namespace is. ID is the kernel's 64-bit namespace id (NS_GET_ID),
// never reused while the system runs, valid when HasID; kernels without NS_GET_ID give only the
// device and inode of its nsfs file, which the kernel reuses once a namespace is freed. Two
// NetnsID values are the same namespace exactly when they are equal (==).
type NetnsID struct {
	// HasID says whether ID is set.
	HasID bool
	// ID is NS_GET_ID's id.
	ID uint64
	// Dev and Ino are the device and inode of the namespace's nsfs file (Ino is the number in
	// "net:[INODE]").
	Dev, Ino uint64
}

func netnsID(c *C.nsmon_netns_id) NetnsID {
	return NetnsID{HasID: bool(c.has_id), ID: uint64(c.id), Dev: uint64(c.dev), Ino: uint64(c.ino)}
}

// Identify says who the namespace that target names is now.
func Identify(target Netns) (NetnsID, error) {
	t, err := target.toC("target")
	if err != nil {
		return NetnsID{}, err
	}
	defer t.free()
	var c C.nsmon_netns_id
	if _, err := call("identify", func() C.int { return C.nsmon_netns_identify(t.ref, &c) }); err != nil {
		return NetnsID{}, err
	}
	return netnsID(&c), nil
}
