//! The one place that names atomics, `UnsafeCell`, `thread` and `hint`.
//!
//! Every other module imports its synchronisation primitives from here, so that building with
//! `RUSTFLAGS="--cfg loom"` swaps the whole crate onto loom's model-checked versions at once.
//! The std side wraps `UnsafeCell` in the same closure-based API that loom's cell has
//! (`with`/`with_mut`), so the code that uses it is identical under both.

#[cfg(loom)]
pub(crate) use loom::{
    cell::UnsafeCell,
    hint,
    sync::{
        atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        },
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread,
};

#[cfg(not(loom))]
pub(crate) use std::{
    hint,
    sync::{
        atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        },
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread, thread_local,
};

/// Whether this thread is unwinding from a panic. std's under loom too: loom runs its
/// threads on one OS thread, but a panic unwinds on whichever runs it, and the question is
/// whether a second panic there would abort the process.
pub(crate) use std::thread::panicking;

/// `std::cell::UnsafeCell` behind loom's closure API.
///
/// Under loom every access through `with`/`with_mut` is tracked, so a read racing with a write
/// is reported as a data race; under std the closures compile down to plain pointer accesses.
#[cfg(not(loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    #[inline]
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }
}

#[cfg(not(loom))]
impl<T: ?Sized> UnsafeCell<T> {
    /// Runs `f` with a shared pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a mutable pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Per-slot access markers for buffers that hold their items in plain contiguous memory.
///
/// A ring hands out slices of its slots, so the slots cannot each live in loom's
/// `UnsafeCell` (which is not laid out like the `T` it holds). Instead the buffer is plain
/// memory and every access to slot `i` is also announced here: under loom each slot has a
/// zero-sized `UnsafeCell<()>` whose `with`/`with_mut` record the access, so the model checker
/// reports a read and a write of the same slot that are not ordered by happens-before. Under
/// std the markers are an empty struct and every call compiles to nothing.
#[derive(Debug)]
pub(crate) struct SlotMarkers {
    #[cfg(loom)]
    cells: Box<[loom::cell::UnsafeCell<()>]>,
}

impl SlotMarkers {
    /// Markers for `n` slots.
    #[cfg_attr(not(loom), allow(unused_variables))]
    pub(crate) fn new(n: usize) -> Self {
        Self {
            #[cfg(loom)]
            cells: (0..n).map(|_| loom::cell::UnsafeCell::new(())).collect(),
        }
    }

    /// Records a read of slot `i`.
    #[inline(always)]
    #[cfg_attr(not(loom), allow(unused_variables))]
    pub(crate) fn read(&self, i: usize) {
        #[cfg(loom)]
        self.cells[i].with(|_| ());
    }

    /// Records a write (or a move out, or a drop) of slot `i`.
    #[inline(always)]
    #[cfg_attr(not(loom), allow(unused_variables))]
    pub(crate) fn write(&self, i: usize) {
        #[cfg(loom)]
        self.cells[i].with_mut(|_| ());
    }

    /// Records a read of the `n` slots starting at `first`, wrapping around at the end.
    #[inline(always)]
    #[cfg_attr(not(loom), allow(unused_variables))]
    pub(crate) fn read_span(&self, first: usize, n: usize) {
        #[cfg(loom)]
        for k in 0..n {
            self.cells[(first + k) % self.cells.len()].with(|_| ());
        }
    }

    /// Records a write of the `n` slots starting at `first`, wrapping around at the end.
    #[inline(always)]
    #[cfg_attr(not(loom), allow(unused_variables))]
    pub(crate) fn write_span(&self, first: usize, n: usize) {
        #[cfg(loom)]
        for k in 0..n {
            self.cells[(first + k) % self.cells.len()].with_mut(|_| ());
        }
    }
}

/// A `SeqCst` fence under loom; nothing at all under std.
///
/// Loom models `SeqCst` loads, stores and read-modify-writes as if they were `AcqRel` (its
/// README lists this as unsupported), while it models `fence(SeqCst)` in full. Code whose
/// correctness rests on the single total order of `SeqCst` accesses (a `SeqCst` read-modify-write
/// followed by a `SeqCst` load of another location, as in a store-buffering handshake) calls this
/// between the two accesses: under std the C++ memory model already orders them and the call
/// compiles to nothing; under loom the fence gives the model the same order, so loom checks the
/// algorithm rather than reporting a false alarm.
#[inline(always)]
pub(crate) fn loom_seq_cst_fence() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}

/// One step of a polite wait for another thread's short critical step.
///
/// Under std this spins a few times and then yields to the scheduler; under loom it always
/// yields, which is what tells the model checker that this thread cannot progress on its own.
#[inline]
pub(crate) fn wait_step(step: &mut u32) {
    #[cfg(loom)]
    {
        let _ = step;
        thread::yield_now();
    }
    #[cfg(not(loom))]
    {
        if *step < 6 {
            for _ in 0..(1u32 << *step) {
                hint::spin_loop();
            }
            *step += 1;
        } else {
            thread::yield_now();
        }
    }
}

/// A number that no earlier call in this process returned, from 1 on: the tag that tells one
/// market's ids from another's (0 is left for ids of no market).
///
/// A std atomic under loom too: a tag takes part in no interleaving that a model explores
/// (only its uniqueness matters), and a loom atomic cannot live in a `static`. 64 bits do
/// not wrap: a new market every nanosecond would take 584 years to use them up.
pub(crate) fn unique_tag() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    // Relaxed: uniqueness needs only the atomicity of the increment; no data is published
    // with the number.
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
