//! Connection slots: who holds them, per source address, and which to give up when they run
//! short.
//!
//! A server serves a bounded number of connections. Idle ones must not hold the slots real
//! clients need: each source address (an IPv6 /64 counting as one) may hold only so many, and
//! when every slot is taken a new connection evicts the one whose last request is the oldest
//! (a connection in the middle of a slow request counts from its previous one, so a client
//! dripping a request is the first to go). A connection carrying out a request is never
//! evicted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::Notify;

use crate::throttle::address_key;

#[derive(Debug)]
struct Slot {
    address: IpAddr,
    /// When the last request arrived (or the connection opened).
    last_request: Instant,
    /// Carrying out a request: not to be evicted.
    busy: bool,
    /// Asked to close already.
    evicted: bool,
    evict: Arc<Notify>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    slots: HashMap<u64, Slot>,
    per_address: HashMap<IpAddr, usize>,
}

/// The connections a server holds.
#[derive(Debug)]
pub struct Slots {
    per_address: usize,
    state: Mutex<State>,
}

/// A connection's slot; dropping it gives the slot up.
#[derive(Debug)]
pub struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
    /// Notified when the server wants this slot back.
    pub evict: Arc<Notify>,
}

impl Slots {
    /// No slots held yet; each address may hold at most `per_address`.
    pub fn new(per_address: usize) -> Slots {
        Slots {
            per_address: per_address.max(1),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Each critical section leaves the maps consistent, also when it panics.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `ip` already holds as many slots as an address may.
    pub fn address_full(&self, ip: IpAddr) -> bool {
        self.state()
            .per_address
            .get(&address_key(ip))
            .is_some_and(|&n| n >= self.per_address)
    }

    /// Records a connection from `ip` (the caller holds one of the server's permits).
    pub fn register(self: &Arc<Slots>, ip: IpAddr) -> SlotGuard {
        let address = address_key(ip);
        let evict = Arc::new(Notify::new());
        let mut state = self.state();
        let id = state.next_id;
        state.next_id += 1;
        *state.per_address.entry(address).or_default() += 1;
        state.slots.insert(
            id,
            Slot {
                address,
                last_request: Instant::now(),
                busy: false,
                evicted: false,
                evict: Arc::clone(&evict),
            },
        );
        SlotGuard {
            slots: Arc::clone(self),
            id,
            evict,
        }
    }

    /// Asks the connection whose last request is the oldest, among those not carrying one
    /// out, to close, unless one asked before is still closing; `false` when there is none
    /// to ask. Looks at every slot: called only when all are taken.
    pub fn evict_idlest(&self) -> bool {
        let mut state = self.state();
        if state.slots.values().any(|slot| slot.evicted) {
            return true;
        }
        let idlest = state
            .slots
            .values_mut()
            .filter(|slot| !slot.busy && !slot.evicted)
            .min_by_key(|slot| slot.last_request);
        match idlest {
            Some(slot) => {
                slot.evicted = true;
                slot.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

impl SlotGuard {
    /// A request arrived: the connection is busy until [`SlotGuard::done`].
    pub fn busy(&self) {
        if let Some(slot) = self.slots.state().slots.get_mut(&self.id) {
            slot.last_request = Instant::now();
            slot.busy = true;
        }
    }

    /// The request is carried out.
    pub fn done(&self) {
        if let Some(slot) = self.slots.state().slots.get_mut(&self.id) {
            slot.busy = false;
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut state = self.slots.state();
        if let Some(slot) = state.slots.remove(&self.id) {
            if let Some(n) = state.per_address.get_mut(&slot.address) {
                *n -= 1;
                if *n == 0 {
                    state.per_address.remove(&slot.address);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idlest_free_connection_is_evicted_and_addresses_are_capped() {
        let slots = Arc::new(Slots::new(2));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = slots.register(a);
        let second = slots.register(a);
        assert!(slots.address_full(a));
        assert!(!slots.address_full(b));
        let third = slots.register(b);
        // The oldest request is `first`'s, but it is busy: `second` goes.
        first.busy();
        assert!(slots.evict_idlest());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let asked = runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::ZERO, second.evict.notified()).await
        });
        assert!(asked.is_ok());
        // One eviction at a time: no other is asked while `second` is closing.
        assert!(slots.evict_idlest());
        assert!(!slots
            .state()
            .slots
            .values()
            .any(|s| s.evicted && s.address == b));
        drop(second);
        assert!(!slots.address_full(a));
        // Both others are busy: nobody to ask.
        third.busy();
        assert!(!slots.evict_idlest());
        first.done();
        assert!(slots.evict_idlest());
        drop((first, third));
        assert!(slots.state().slots.is_empty() && slots.state().per_address.is_empty());
    }
}
