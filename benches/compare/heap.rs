//! Live heap bytes, for the memory rows: RSS moves in pages and keeps what was freed earlier in
//! the run, so a few hundred bytes per folder or watcher never show in it. Counting is off
//! unless a measurement turns it on, so the consumers' CPU rows pay one relaxed load per
//! allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ON.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// The heap bytes `f` leaves allocated (what it returns is kept alive while counting).
pub fn retained<T>(f: impl FnOnce() -> T) -> (T, isize) {
    ON.store(true, Ordering::SeqCst);
    let before = LIVE.load(Ordering::SeqCst);
    let value = f();
    let bytes = LIVE.load(Ordering::SeqCst) - before;
    ON.store(false, Ordering::SeqCst);
    (value, bytes)
}
