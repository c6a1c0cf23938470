package nsmon

/*
#include <stdlib.h>
#include <nsmon.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// WatchKind says what a WatchEvent reports.
type WatchKind int

// What a watcher reports.
const (
	// Created: a named namespace appeared (and is mounted).
	Created WatchKind = C.NSMON_WATCHER_EVENT_KIND_CREATED
	// Deleted: a named namespace went away.
	Deleted WatchKind = C.NSMON_WATCHER_EVENT_KIND_DELETED
	// DirCreated: the watched directory appeared (with WatcherOptions.DirEvents).
	DirCreated WatchKind = C.NSMON_WATCHER_EVENT_KIND_DIR_CREATED
	// DirDeleted: the watched directory went away (with WatcherOptions.DirEvents).
	DirDeleted WatchKind = C.NSMON_WATCHER_EVENT_KIND_DIR_DELETED
	// Overflow: the kernel's event queue overflowed; the watcher rescanned, and the Created and
	// Deleted events that follow are exactly the difference.
	Overflow WatchKind = C.NSMON_WATCHER_EVENT_KIND_OVERFLOW
	// DirUnavailable: the directory cannot be watched now (a loop of symbolic links, no
	// permission); Reason says why. It is waited for like a missing one and taken up again once
	// it can be. Reported whatever DirEvents says.
	DirUnavailable WatchKind = C.NSMON_WATCHER_EVENT_KIND_DIR_UNAVAILABLE
)

// String is the kind's name ("created", "deleted", "dir_created", "dir_deleted",
// "overflow", "dir_unavailable"), or "unknown".
func (k WatchKind) String() string {
	switch k {
	case Created:
		return "created"
	case Deleted:
		return "deleted"
	case DirCreated:
		return "dir_created"
	case DirDeleted:
		return "dir_deleted"
	case Overflow:
		return "overflow"
	case DirUnavailable:
		return "dir_unavailable"
	}
	return "unknown"
}

// WatchEvent is one watcher event.
type WatchEvent struct {
	// Kind says what happened.
	Kind WatchKind
	// Name is the namespace's name (empty for directory events and Overflow): the file name's
	// bytes, copied exactly. They need not be UTF-8 (any byte but '/' and NUL is allowed).
	// Named and Stream keys take UTF-8 only: to follow a namespace whose name is not, pass
	// Path (the watched directory joined with Name; paths are bytes) under a key of the
	// caller's choosing (e.g. strconv.Quote(Name)).
	Name string
	// Dir is the folder the event is about, absolute, as the watcher watches it (a path's
	// bytes); empty for Overflow, which is about every folder.
	Dir string
	// HasID says whether ID is set: for Created and Deleted (Deleted carries the identity
	// the namespace was created with), unless AnyFile is set.
	HasID bool
	// ID is the namespace's identity.
	ID NetnsID
	// Reason is why the directory is unavailable (DirUnavailable only).
	Reason string
}

// WatcherOptions configures a Watcher. The zero value watches /var/run/netns.
type WatcherOptions struct {
	// Dir is a folder to watch ("": none given). It need not exist yet, nor be UTF-8 (a path is
	// bytes). A component "*" stands for every subdirectory there, now and later
	// ("/run/user/*/netns": one folder per user).
	Dir string
	// Dirs are more folders to watch. Dir and Dirs together replace the default
	// /var/run/netns; a folder given twice (or under two spellings, such as /run/netns where
	// /var/run links to /run) is watched once.
	Dirs []string
	// Runtimes watches the container runtimes' folders too (/var/run/netns, /run/netns,
	// /var/run/docker/netns, /run/containerd/io.containerd.grpc.v1.cri/netns and each user's
	// /run/user/UID/netns), whether they exist now or appear later.
	Runtimes bool
	// ListExisting reports the namespaces present at creation as Created events first.
	ListExisting bool
	// AnyFile reports every file, not only mounted namespaces (for tests and other dirs).
	AnyFile bool
	// DirEvents reports the directory's own creation and deletion.
	DirEvents bool
}

// Watcher reports named network namespaces appearing and disappearing.
type Watcher struct {
	events[WatchEvent]
	ptr *C.nsmon_watcher
}

// NewWatcher starts watching.
func NewWatcher(opts WatcherOptions) (*Watcher, error) {
	var o *C.nsmon_watcher_options
	if _, err := call("watcher options", func() C.int { return C.nsmon_watcher_options_new(&o) }); err != nil {
		return nil, err
	}
	defer C.nsmon_watcher_options_free(o)
	dirs := opts.Dirs
	if opts.Dir != "" {
		dirs = append([]string{opts.Dir}, dirs...)
	}
	for _, d := range dirs {
		dir, err := cString("dir", d)
		if err != nil {
			return nil, err
		}
		_, err = call("watcher dir", func() C.int { return C.nsmon_watcher_options_add_dir(o, dir) })
		C.free(unsafe.Pointer(dir))
		if err != nil {
			return nil, err
		}
	}
	C.nsmon_watcher_options_set_runtimes(o, C.bool(opts.Runtimes))
	C.nsmon_watcher_options_set_list_existing(o, C.bool(opts.ListExisting))
	C.nsmon_watcher_options_set_any_file(o, C.bool(opts.AnyFile))
	C.nsmon_watcher_options_set_dir_events(o, C.bool(opts.DirEvents))
	w := &Watcher{}
	if _, err := call("watcher new", func() C.int { return C.nsmon_watcher_new(o, &w.ptr) }); err != nil {
		return nil, err
	}
	var err error
	ptr := w.ptr // the closures hold the pointer, not w: a cycle through w would keep its
	// finalizer from ever running
	w.events, err = newEvents(int(C.nsmon_watcher_fd(ptr)), watcherTake(ptr), func() { C.nsmon_watcher_free(ptr) })
	if err != nil {
		return nil, err
	}
	runtime.SetFinalizer(w, func(w *Watcher) { w.Close() })
	return w, nil
}

func watcherTake(ptr *C.nsmon_watcher) func(*WatchEvent) (bool, error) {
	return func(ev *WatchEvent) (bool, error) {
		var c C.nsmon_watcher_event
		rc, err := call("watcher next", func() C.int { return C.nsmon_watcher_next(ptr, &c) })
		if rc != 1 {
			return false, err
		}
		*ev = WatchEvent{
			Kind:  WatchKind(c.kind),
			Name:  C.GoStringN(&c.name[0], C.int(c.name_len)),
			HasID: bool(c.has_netns_id),
		}
		if c.dir != nil {
			ev.Dir = C.GoStringN(c.dir, C.int(c.dir_len))
		}
		if ev.HasID {
			ev.ID = netnsID(&c.netns_id)
		}
		if c.reason != nil {
			ev.Reason = C.GoString(c.reason)
		}
		return true, nil
	}
}
