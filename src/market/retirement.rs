//! Retiring handles: a cart's entry is reused as soon as its handle is dropped; a producer's
//! once its handle is dropped and every item it published has left the market
//! (docs/DESIGN.md, "Reusing registry entries").

use super::account::Counts;
use super::cart::CartShared;
use super::inner::Inner;
use super::producer::ProducerShared;
use super::registry::Guard;
use crate::sync::Ordering;

impl<T> Inner<T> {
    /// Ends a cart handle, whose held entry `cart` is: drops its items, orphans its stall,
    /// retires the id.
    pub(super) fn close_cart(&self, mut cart: Guard<'_, CartShared<T>>) {
        let l = cart.cart_mut();
        l.stall.orphan();
        // The items leave the market (their values refer to no producer).
        self.count_gone(&l.from);
        l.from.clear();
        let items = core::mem::take(&mut l.items);
        // Relaxed: a statistic.
        cart.value().len.store(0, Ordering::Relaxed);
        // Nothing refers to a cart's entry but its handle: it is reused at once.
        self.carts.vacate_held(cart);
        drop(items);
    }

    /// Counts the items whose producers' counts are `from` as gone from the market, and
    /// reuses the entry of each such producer that is retired and has no item left.
    pub(super) fn count_gone(&self, from: &[*const Counts]) {
        for run in from.chunk_by(|a, b| a == b) {
            // SAFETY: `from` points into the producer registry, which outlives `self`; the
            // entry is not reused before this count, which accounts for items we hold.
            let counts = unsafe { &*run[0] };
            let (life, published) = (&counts.life, &counts.published);
            // ORDERING: AcqRel, one side of the handshake with `close_producer` (which stores
            // `retired`, then reads `gone` with a read-modify-write): either it sees this
            // count, or this reads from its read-modify-write and we see it retired below.
            // The Release half orders our uses of the counts (the takes, the returns) before
            // the entry's reuse.
            let gone = life
                .gone
                .fetch_add(run.len(), Ordering::AcqRel)
                .wrapping_add(run.len());
            // Relaxed: see `Counts::registered`. A producer of the id API never retires.
            if !life.handle.load(Ordering::Relaxed) {
                continue;
            }
            // ORDERING: Acquire pairs with `close_producer`'s Release store, made after the
            // producer's last write of `published`.
            let retired = life.retired.load(Ordering::Acquire);
            // Relaxed: final once the producer is retired (see above).
            if retired != 0 && published.load(Ordering::Relaxed) == gone {
                // Relaxed: set before the producer published anything.
                let slot = life.slot.load(Ordering::Relaxed);
                self.recycle_producer(slot, retired);
            }
        }
    }

    /// Reuses the entry of the producer in `slot`, retired with state word `retired`, once
    /// every item it published is gone (at most one caller succeeds).
    fn recycle_producer(&self, slot: usize, retired: u64) {
        let Some(entry) = self.producers.slot_entry(slot) else {
            return;
        };
        self.producers.recycle(entry, retired, |p| {
            // Relaxed: published to the next owner by the registry's free stack (Release).
            p.counts.life.retired.store(0, Ordering::Relaxed);
        });
    }

    /// Ends a producer handle, whose held entry `producer` is: orphans its stall, retires
    /// the id.
    pub(super) fn close_producer(&self, mut producer: Guard<'_, ProducerShared<T>>) {
        producer.stall_mut().orphan();
        let (slot, counts) = (producer.slot(), &producer.value().counts);
        let retired = producer.retire();
        // ORDERING: Release publishes our last `published` to the carts that see it.
        counts.life.retired.store(retired, Ordering::Release);
        // ORDERING: a read-modify-write (adding nothing) reads the latest `gone`. If a cart's
        // count comes before it in `gone`'s modification order, we see that count; if after,
        // the cart's read-modify-write reads from ours (AcqRel: Release here, Acquire there),
        // so our store of `retired` happens before the cart's load of it. Either way one of
        // us sees the other (a store-buffering handshake without a fence). The Acquire half
        // pairs with the carts' counts, so their uses of the counts happen before reuse.
        let gone = counts.life.gone.fetch_add(0, Ordering::AcqRel);
        // Relaxed: our own last write.
        if counts.published.load(Ordering::Relaxed) == gone {
            self.recycle_producer(slot, retired);
        }
    }
}
