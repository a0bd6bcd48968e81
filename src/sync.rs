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
        atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread,
};

#[cfg(not(loom))]
pub(crate) use std::{
    hint,
    sync::{
        atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread,
};

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

// The marketplace's extra atomics (kept apart from the list above).
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU8};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU8};

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
