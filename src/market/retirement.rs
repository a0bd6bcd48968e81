//! Retiring handles: a cart's entry is reused as soon as its handle is dropped; a producer's
//! once its handle is dropped and every item it published has left the market
//! (docs/DESIGN.md, "Reusing registry entries").

use super::account::Account;
use super::cart::CartShared;
use super::handle::Handle;
use super::inner::Inner;
use super::producer::ProducerShared;
use super::registry::{Keeper, Retiring};
use crate::sync::Ordering;

impl<T> Inner<T> {
    /// Ends a cart handle, whose held entry `cart` is: drops its items, orphans its shelf,
    /// retires the id.
    fn close_cart(&self, mut cart: Retiring<'_, CartShared<T>>) {
        let l = cart.guard().cart_mut();
        l.shelf.orphan();
        // The items leave the market (their values refer to no producer).
        self.count_departed(&l.from);
        l.from.clear();
        let items = core::mem::take(&mut l.items);
        // Relaxed: a statistic.
        cart.guard().value().len.store(0, Ordering::Relaxed);
        // Nothing refers to a cart's entry but its handle: it is reused at once.
        self.carts.vacate_held(cart);
        drop(items);
    }

    /// Counts the items whose producers' accounts are `from` as departed from the market, and
    /// reuses the entry of each such producer that is retired and has no item left.
    pub(super) fn count_departed(&self, from: &[*const Account]) {
        for run in from.chunk_by(|a, b| a == b) {
            // SAFETY: `from` points into the producer registry, which outlives `self`; the
            // entry is not reused before this count, which accounts for items we hold.
            let account = unsafe { &*run[0] };
            let (retirement, published) = (&account.retirement, &account.published);
            // ORDERING: AcqRel, one side of the handshake with `close_producer` (which stores
            // `retired`, then reads `departed` with a read-modify-write): either it sees this
            // count, or this reads from its read-modify-write and we see it retired below.
            // The Release half orders our uses of the account (the takes, the returns) before
            // the entry's reuse.
            let departed = retirement
                .departed
                .fetch_add(run.len(), Ordering::AcqRel)
                .wrapping_add(run.len());
            // Relaxed: see `Account::registered`. A producer of the id API never retires.
            if !retirement.handle.load(Ordering::Relaxed) {
                continue;
            }
            // ORDERING: Acquire pairs with `close_producer`'s Release store, made after the
            // producer's last write of `published`.
            let retired = retirement.retired.load(Ordering::Acquire);
            // Relaxed: final once the producer is retired (see above).
            if retired != 0 && published.load(Ordering::Relaxed) == departed {
                // Relaxed: set before the producer published anything.
                let slot = retirement.slot.load(Ordering::Relaxed);
                self.recycle_producer(slot, retired);
            }
        }
    }

    /// Reuses the entry of the producer in `slot`, retired with state word `retired`, once
    /// every item it published has departed (at most one caller succeeds).
    fn recycle_producer(&self, slot: usize, retired: u64) {
        let Some(entry) = self.producers.slot_entry(slot) else {
            return;
        };
        self.producers.recycle(entry, retired, |p| {
            // Relaxed: published to the next owner by the registry's free stack (Release).
            p.account.retirement.retired.store(0, Ordering::Relaxed);
        });
    }

    /// Ends a producer handle, whose held entry `producer` is: orphans its shelf, retires
    /// the id.
    fn close_producer(&self, mut producer: Retiring<'_, ProducerShared<T>>) {
        producer.guard().shelf_mut().orphan();
        let (slot, account) = (producer.guard().slot(), &producer.guard().value().account);
        let retired = producer.retire();
        let retirement = &account.retirement;
        // ORDERING: Release publishes our last `published` to the carts that see it.
        retirement.retired.store(retired, Ordering::Release);
        // ORDERING: a read-modify-write (adding nothing) reads the latest `departed`: with the
        // carts' read-modify-writes in `count_departed` it is a store-buffering handshake in
        // which one side sees the other (docs/DESIGN.md, "Reusing registry entries"). The
        // Acquire half pairs with the carts' counts, so their uses of the account happen
        // before reuse.
        let departed = retirement.departed.fetch_add(0, Ordering::AcqRel);
        // Relaxed: our own last write.
        if account.published.load(Ordering::Relaxed) == departed {
            self.recycle_producer(slot, retired);
        }
    }
}

/// A cart handle's end: [`Inner::close_cart`].
impl<T> Keeper<CartShared<T>> for Handle<T> {
    fn end(&self, cart: Retiring<'_, CartShared<T>>) {
        self.close_cart(cart);
    }
}

/// A producer handle's end: [`Inner::close_producer`].
impl<T> Keeper<ProducerShared<T>> for Handle<T> {
    fn end(&self, producer: Retiring<'_, ProducerShared<T>>) {
        self.close_producer(producer);
    }
}
