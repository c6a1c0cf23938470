// Package nsmon watches Linux network namespaces: named namespaces appearing and disappearing
// (Watcher), namespace ids being assigned and released (Nsid), and link, address, route,
// neighbour and traffic-control events from many namespaces at once (Stream).
//
// It wraps libnsmon's C ABI through cgo. Each handle has one file descriptor; its blocking
// Read waits on that descriptor first in a short blocking poll (at most 5 ms, while events
// keep coming: a wake-up then costs what it costs in C), then through Go's own poller, so no
// OS thread sits blocked for a quiet handle; a context or a Close from another goroutine ends
// either wait. Next never blocks. Each handle holds two more file descriptors of its own (an
// epoll fd in Go's poller and an eventfd).
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
	"sync/atomic"
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

// poller is the Go side of a handle: a gate over the handle's fd in Go's poller, an eventfd
// to end a blocking wait, and a mutex that serialises calls into the library.
type poller struct {
	mu     sync.Mutex
	closed bool
	file   *os.File
	raw    syscall.RawConn
	// fd is the handle's own fd, which a blocking wait polls beside wake, an eventfd that is
	// readable once the handle is closed or a watchdog has fired (see waitBlocking). blocked
	// says whether a Read is in that wait; Close waits on left until it is not, so that neither
	// fd is closed under it. wakeMu keeps wake from being closed while a watchdog writes it.
	fd      int
	wake    int
	wakeMu  sync.Mutex
	blocked bool
	left    *sync.Cond
	// gate is file's fd (see newPoller): armed while netWaiting Reads wait in Go's poller
	// (and after, until a blocking wait).
	gate       int
	armed      bool
	netWaiting int
	yielded    time.Time
	// slot lets one Read at a time wait in Go's poller (see wait); done is closed by close.
	slot chan struct{}
	done chan struct{}
	// netMu guards netDone, the Done channel of the context of the Read in Go's poller (nil
	// when none is there), and deadline, whether a watchdog has set file's read deadline
	// (for that Read, or for one before it) since a Read last cleared it (see cut and enter).
	netMu    sync.Mutex
	netDone  <-chan struct{}
	deadline bool
	// reading counts the Reads waiting now; watch is the watchdog kept for the context the
	// last lone Read waited with (see watchdog).
	reading int
	watch   *watchdog
}

// watchdog ends the wait of a Read with ctx when it is done: it kicks wake, which ends a
// blocking wait, and cuts the wait in Go's poller short if the Read there is one whose
// context is done (see cut). A Read waiting for the poller's slot sees its context itself. A
// caller reading in a loop with one context gets one watchdog for the whole loop,
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
			p.cut()
			p.kick()
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
	// The gate: an epoll fd of our own holding the handle's fd, put into Go's poller. It
	// passes the handle's readiness on only while armed (see netWait), so that events
	// arriving during a blocking wait do not also wake the runtime's netpoll thread.
	gate, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, &Error{Op: "epoll_create1", Code: -int(err.(syscall.Errno)), Message: err.Error()}
	}
	if err := syscall.EpollCtl(gate, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{}); err != nil {
		syscall.Close(gate)
		return nil, &Error{Op: "epoll_ctl", Code: -int(err.(syscall.Errno)), Message: err.Error()}
	}
	// Non-blocking, so that os.NewFile puts it into Go's poller.
	if err := syscall.SetNonblock(gate, true); err != nil {
		syscall.Close(gate)
		return nil, err
	}
	wake, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		syscall.Close(gate)
		return nil, &Error{Op: "eventfd", Code: -int(errno), Message: errno.Error()}
	}
	file := os.NewFile(uintptr(gate), "nsmon")
	raw, err := file.SyscallConn()
	if err != nil {
		file.Close()
		syscall.Close(int(wake))
		return nil, err
	}
	p := &poller{file: file, raw: raw, fd: fd, gate: gate, wake: int(wake),
		slot: make(chan struct{}, 1), done: make(chan struct{})}
	p.left = sync.NewCond(&p.mu)
	return p, nil
}

// arm (under the mutex) opens or shuts the gate: one epoll_ctl when that changes it.
func (p *poller) arm(on bool) {
	if p.closed || p.armed == on {
		return
	}
	ev := syscall.EpollEvent{}
	if on {
		ev.Events = syscall.EPOLLIN
	}
	syscall.EpollCtl(p.gate, syscall.EPOLL_CTL_MOD, p.fd, &ev)
	p.armed = on
}

// netWait marks a wait in Go's poller, which needs the gate open, until done is called. The
// gate is left open after it: a blocking wait shuts it (when no Read is in Go's poller), so
// that a reader that never waits that way (GOMAXPROCS=1) pays no epoll_ctl per wake-up.
func (p *poller) netWait() (done func()) {
	p.mu.Lock()
	p.netWaiting++
	p.arm(true)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.netWaiting--
		p.mu.Unlock()
	}
}

// cut ends the wait of the Read in Go's poller, by a read deadline in the past, if that Read's
// own context is done (whichever context's watchdog calls it). The deadline is on the file
// every Read shares, so it is set only for a Read that must end: any other would be woken
// from a live wait. The one Read there clears it before it waits (enter), under netMu, so
// that no clear can undo a deadline set for another Read.
func (p *poller) cut() {
	p.netMu.Lock()
	if p.netDone != nil && !p.deadline {
		select {
		case <-p.netDone:
			p.file.SetReadDeadline(time.Unix(1, 0))
			p.deadline = true
		default:
		}
	}
	p.netMu.Unlock()
}

// enter marks the Read holding the slot as the one in Go's poller, with its context's done
// channel, and clears a deadline left from an earlier Read. A watchdog that fires before
// enter does not cut this Read's wait, so the caller looks at its context after enter.
func (p *poller) enter(done <-chan struct{}) error {
	p.netMu.Lock()
	defer p.netMu.Unlock()
	p.netDone = done
	if p.deadline {
		p.deadline = false
		return p.file.SetReadDeadline(time.Time{})
	}
	return nil
}

// leave is the Read holding the slot leaving Go's poller; a deadline set for it stays until
// the next Read there clears it.
func (p *poller) leave() {
	p.netMu.Lock()
	p.netDone = nil
	p.netMu.Unlock()
}

// kick makes wake readable (until drained), ending a blocking wait.
func (p *poller) kick() {
	one := uint64(1)
	p.wakeMu.Lock()
	if p.wake >= 0 {
		syscall.Write(p.wake, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
	p.wakeMu.Unlock()
}

// blockingWaits counts the Reads of the process in a blocking wait now; blockingWait is how
// long one waits at most before it parks in Go's poller instead: under the 10 ms after which
// sysmon takes the P of a thread in a system call, and longer than a kernel tick at HZ=250 (a
// shorter timeout is the CPU's next timer event, reprogrammed when the wait starts and again
// when it ends: with 2 ms, a wake-up cost twice what it cost with 4 ms or more in a VM).
var (
	blockingWaits atomic.Int32
	blockingWait  = 5 * time.Millisecond
)

// pollFd is struct pollfd.
type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

const pollIn = 0x1

// waitBlocking is the first part of a wait: the handle's fd and wake polled in a plain
// blocking system call (ppoll), for at most blockingWait. A wake-up then costs what it costs
// a C poll loop: the thread sleeps in the kernel and goes on where it stopped, one context
// switch. Parking the goroutine in Go's poller instead costs a scheduler round trip per
// wake-up: the M looks for other work and sleeps in epoll_pwait, is woken, readies the
// goroutine and wakes another M to spin (wakep), and sysmon, which sleeps deeply whenever
// every P is idle, is woken again by the next cgo call (about 3 context switches, 2 futex
// calls and an epoll_pwait per wake-up on the fleet load; a wake-up cost 6 to 10 times a C
// poll loop's, timed alone on a pipe).
//
// The thread is blocked only while events keep coming: a quiet handle's Read moves to Go's
// poller after blockingWait, so an event on a quiet stream wakes its reader as it did, and an
// event during the wait at once. The runtime takes the P of a thread blocked here for other
// goroutines as it does for any system call. One Read per handle, and at most GOMAXPROCS-1 in
// the whole process, wait here (none with GOMAXPROCS=1, where sysmon would take the only P
// from every wait); others go straight to Go's poller.
//
// It reports whether the Read is over (an event taken, an error, ctx done, Close); false
// leaves the rest of the wait to Go's poller.
func (p *poller) waitBlocking(ctx context.Context, try func() (bool, error)) (bool, error) {
	if blockingWait <= 0 {
		return false, nil
	}
	if blockingWaits.Add(1) > int32(runtime.GOMAXPROCS(0)-1) {
		blockingWaits.Add(-1)
		return false, nil
	}
	defer blockingWaits.Add(-1)
	p.mu.Lock()
	if p.closed || p.blocked {
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return true, ErrClosed
		}
		return false, nil
	}
	p.blocked = true
	if p.netWaiting == 0 {
		p.arm(false)
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.blocked = false
		p.left.Broadcast()
		p.mu.Unlock()
	}()
	// A goroutine that never parks looks to sysmon like one running for too long (its P's
	// schedtick does not move): after 10 ms sysmon takes the P from every system call it
	// finds, this one included, hands it to another M to spin, then sleeps deeply and is woken
	// by the next call: three or four thread wake-ups per wake-up. A yield now and then (it
	// wakes no thread) keeps the goroutine a well-behaved one. (p.yielded is the blocked
	// Read's alone.)
	if now := time.Now(); now.Sub(p.yielded) >= time.Millisecond {
		p.yielded = now
		runtime.Gosched()
	}
	// ppoll writes the time left back into ts: a wait cut short goes on with what is left.
	ts := syscall.NsecToTimespec(int64(blockingWait))
	for {
		if err := ctxErr(ctx); err != nil {
			return true, err
		}
		fds := [2]pollFd{{fd: int32(p.fd), events: pollIn}, {fd: int32(p.wake), events: pollIn}}
		n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 2,
			uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0 || n == 0:
			return false, nil
		}
		if fds[1].revents != 0 {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return true, ErrClosed
			}
			if err := ctxErr(ctx); err != nil {
				return true, err
			}
			// Another context's watchdog (of a Read before or beside this one): not ours.
			var b [8]byte
			syscall.Read(p.wake, b[:])
		}
		if fds[0].revents != 0 {
			got := false
			err := p.with(func() error {
				var e error
				got, e = try()
				return e
			})
			if err != nil || got {
				return true, err
			}
		}
	}
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
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.kick()
	for p.blocked {
		p.left.Wait()
	}
	if p.watch != nil {
		p.watch.end()
		p.watch = nil
	}
	free()
	p.mu.Unlock()
	// Outside the mutex: closing the file waits until the Read in Go's poller has left it,
	// and that Read may be waiting for the mutex (to try again, and find the handle closed).
	p.file.Close()
	p.wakeMu.Lock()
	syscall.Close(p.wake)
	p.wake = -1
	p.wakeMu.Unlock()
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
//
// One Read at a time waits in Go's poller, the one holding slot; the others wait for the slot,
// where their own context or Close ends their wait at once. (In the poller they would queue
// on the file's read lock, which nothing but the Read ahead of them leaving ends.) So the
// read deadline that ends a wait there is only ever set for the one Read there, and only when
// its own context is done (see cut). The Read holding the slot tries again before it waits,
// so an event that the one before it left pending is not missed.
func (p *poller) wait(ctx context.Context, try func() (bool, error)) error {
	if ctx.Done() != nil {
		defer p.guard(ctx)()
	}
	if done, err := p.waitBlocking(ctx, try); done {
		return err
	}
	select {
	case p.slot <- struct{}{}:
	default:
		select {
		case p.slot <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return ErrClosed
		}
	}
	defer func() {
		p.leave()
		<-p.slot
	}()
	defer p.netWait()()
	var inner error
	read := func(uintptr) bool {
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
	}
	for {
		if err := p.enter(ctx.Done()); err != nil {
			return ErrClosed
		}
		// A watchdog that fired before enter left this wait alone: the context is looked at
		// again, after.
		if err := ctxErr(ctx); err != nil {
			return err
		}
		err := p.raw.Read(read)
		switch {
		case inner != nil:
			return inner
		case err == nil:
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			if err := ctx.Err(); err != nil {
				return err
			}
			// Not this Read's deadline (cut sets none for a live Read): enter clears it.
			continue
		case p.with(func() error { return nil }) == ErrClosed:
			// The poller reports its own "use of closed file" for a Close during the wait.
			return ErrClosed
		default:
			return err
		}
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

// Read waits for the next event (a short blocking poll, then Go's poller: see the package
// documentation) until ctx is done (ctx.Err()) or the handle is closed (ErrClosed). Where the
// library has a batch call (the stream), Read takes every event ready in one call and hands
// them out one by one: after Read, call Next until ok is false before waiting on Fd yourself.
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
