//! A producer's account: its on-sale count, the waiters for room under it, and what its
//! retirement needs to know.

use crossbeam_utils::CachePadded;

use super::wait;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::wait::WaitList;

/// A producer's account: its on-sale count, split by writer so that publishing needs no
/// read-modify-write (on sale = `published + returns_less_takes`, which may exceed the limit
/// after returns; one load of `returns_less_takes` gives the producer its exact count), the
/// waiters for room under it, and its [`Retirement`].
pub(crate) struct Account {
    /// Items published; written only by the holder of the producer's registry entry.
    pub(super) published: CachePadded<AtomicUsize>,
    /// Items of this producer put back on sale by any cart, minus those reserved by any cart
    /// (wrapping arithmetic).
    pub(super) returns_less_takes: CachePadded<AtomicUsize>,
    /// The producer's thread while it waits for room (`Producer::publish_timeout`).
    pub(super) room: WaitList,
    /// Items of this producer that left the market (ordered, or dropped with a cart), and
    /// whether the producer's handle is gone: see [`Retirement`].
    pub(super) retirement: CachePadded<Retirement>,
}

/// When a retired producer's registry entry may be reused: once every item it published
/// has left the market (`departed == published`), nothing refers to its [`Account`] any more.
pub(crate) struct Retirement {
    /// Items that left the market (wrapping, like `published`); added to by carts.
    pub(super) departed: AtomicUsize,
    /// 0 while the producer lives; its retired registry state word once its handle is
    /// dropped (until the entry is reused).
    pub(super) retired: AtomicU64,
    /// The producer's registry slot (set at registration).
    pub(super) slot: AtomicUsize,
    /// Whether a handle owns the producer (set at registration). Only handles retire, so
    /// only their items need counting when they leave the market.
    pub(super) handle: AtomicBool,
}

impl Account {
    pub(super) fn new() -> Self {
        Self {
            published: CachePadded::new(AtomicUsize::new(0)),
            returns_less_takes: CachePadded::new(AtomicUsize::new(0)),
            room: WaitList::new(),
            retirement: CachePadded::new(Retirement {
                departed: AtomicUsize::new(0),
                retired: AtomicU64::new(0),
                slot: AtomicUsize::new(0),
                handle: AtomicBool::new(false),
            }),
        }
    }

    /// How many items are on sale, as of the load of `returns_less_takes` (the linearization
    /// point of a publish's decision).
    #[inline]
    pub(super) fn on_sale(&self) -> usize {
        // ORDERING: SeqCst. The Acquire half pairs with the Release of `count_take`: every
        // reservation counted in `returns_less_takes` took an item whose `published` or
        // `returns_less_takes` increment happened before it, so the load of `published` below
        // sees at least those and the sum never underflows. SeqCst because a publish makes
        // this load after its SeqCst slot mark (`FreeSlot::prepare`), see there. A plain load
        // on x86.
        let returns_less_takes = self.returns_less_takes.load(Ordering::SeqCst);
        // Relaxed: see above; the producer itself reads its own writes.
        let published = self.published.load(Ordering::Relaxed);
        let on_sale = published.wrapping_add(returns_less_takes);
        debug_assert!(on_sale <= isize::MAX as usize, "count underflow");
        on_sale
    }

    /// Like [`Account::on_sale`], but reading `returns_less_takes` with a read-modify-write,
    /// which reads the latest value in its modification order: the decision of a publish
    /// whose item is prepared (see `Inner::publish`).
    #[inline]
    pub(super) fn on_sale_latest(&self) -> usize {
        // ORDERING: SeqCst read-modify-write (it adds nothing), ordered with every return's
        // `count_return` in the modification order of `returns_less_takes`, so that one of the
        // two sees the other (docs/DESIGN.md, "publish": why step 3 is a read-modify-write).
        // The Acquire half pairs with `count_take` as in `on_sale`.
        let returns_less_takes = self.returns_less_takes.fetch_add(0, Ordering::SeqCst);
        // Relaxed: the producer itself reads its own writes.
        let published = self.published.load(Ordering::Relaxed);
        let on_sale = published.wrapping_add(returns_less_takes);
        debug_assert!(on_sale <= isize::MAX as usize, "count underflow");
        on_sale
    }

    /// Counts a return of one of this producer's items (its linearization point).
    #[inline]
    pub(super) fn count_return(&self) {
        // ORDERING: SeqCst: ordered after the return's SeqCst slot mark (`FreeSlot::prepare`)
        // and before its publish (Release), which the reservation that takes the item
        // acquires, so its `count_take` follows this in the modification order of
        // `returns_less_takes`.
        self.returns_less_takes.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a reservation of one of this producer's items (its linearization point); the
    /// caller then calls [`Account::notify_room`].
    #[inline]
    pub(crate) fn count_take(&self) {
        // ORDERING: SeqCst. The Release half pairs with the Acquire in `on_sale` (see there);
        // the increment of `published` or `returns_less_takes` for this item happened before
        // our claim's
        // Acquire. SeqCst because this is the state change, step (a), of the producer's wait
        // for room (docs/DESIGN.md, "Waits"), which `notify_room` completes; free on x86,
        // where every read-modify-write is SeqCst.
        self.returns_less_takes.fetch_sub(1, Ordering::SeqCst);
    }

    /// Records where the producer is registered, and whether a handle owns it.
    pub(super) fn registered(&self, slot: usize, handle: bool) {
        // Relaxed (both): read by carts only about items this producer publishes afterwards
        // (the publish's Release and the take's Acquire order them).
        self.retirement.slot.store(slot, Ordering::Relaxed);
        self.retirement.handle.store(handle, Ordering::Relaxed);
    }

    /// Wakes the producer if it waits for room.
    #[inline]
    pub(super) fn notify_room(&self) {
        self.room.notify_one(wait::ROOM);
    }
}
