//! The original design behind one lock, as a yardstick: [`MutexMarket`].

use crate::market::{CartId, IdError, MarketTag, Marketplace, ProducerId, PublishError, Stats};
use crate::sync::{Mutex, MutexGuard};
use crate::ZeroCapacity;

/// The marketplace as first designed: one lock around a list of (product, producer) pairs, the
/// per-producer counts and the carts. A reservation scans the list for the first equal item.
///
/// Same semantics as [`Market`](crate::Market) (both implement [`Marketplace`]); every
/// operation takes the one lock, so nothing is ever `Busy`.
///
/// # Examples
///
/// ```
/// use ringmarket::{baseline::MutexMarket, Marketplace};
///
/// let m = MutexMarket::new(1).unwrap();
/// let p = m.register_producer_id();
/// let c = m.new_cart_id();
/// m.publish(p, 'k').unwrap();
/// assert!(m.publish(p, 'l').is_err());
/// assert_eq!(m.add_to_cart(c, &'k'), Ok(true));
/// assert_eq!(m.place_order(c), Ok(vec!['k']));
/// ```
pub struct MutexMarket<T> {
    capacity: usize,
    /// Carried by every id this market hands out; an id with another tag is unknown here.
    tag: MarketTag,
    state: Mutex<State<T>>,
}

struct State<T> {
    /// Items on sale with the index of their producer, oldest first.
    on_sale: Vec<(T, usize)>,
    /// `counts[p]`: items of producer `p` in `on_sale`.
    counts: Vec<usize>,
    /// Each cart's items with their producers, in the order added.
    carts: Vec<Vec<(T, usize)>>,
    ordered: u64,
}

impl<T> core::fmt::Debug for MutexMarket<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MutexMarket")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<T: Eq> MutexMarket<T> {
    /// A market whose producers may each have `capacity` items on sale.
    ///
    /// # Errors
    ///
    /// [`ZeroCapacity`] when `capacity` is 0.
    pub fn new(capacity: usize) -> Result<Self, ZeroCapacity> {
        if capacity == 0 {
            return Err(ZeroCapacity);
        }
        Ok(Self {
            capacity,
            tag: MarketTag::unique(),
            state: Mutex::new(State {
                on_sale: Vec::new(),
                counts: Vec::new(),
                carts: Vec::new(),
                ordered: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic in user `Eq` code while locked leaves the state consistent (every update
        // below is done after the comparisons), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> MutexMarket<T> {
    /// The index of `cart` in `s.carts`, if this market handed it out.
    fn cart_index(&self, s: &State<T>, cart: CartId) -> Result<usize, IdError> {
        cart.number_in(self.tag)
            .filter(|&c| c < s.carts.len())
            .ok_or(IdError::UnknownCart(cart))
    }
}

impl<T: Eq + Send> Marketplace<T> for MutexMarket<T> {
    fn register_producer_id(&self) -> ProducerId {
        let mut s = self.lock();
        s.counts.push(0);
        ProducerId::tagged(self.tag, s.counts.len() - 1)
    }

    fn publish(&self, producer: ProducerId, item: T) -> Result<(), PublishError<T>> {
        let mut s = self.lock();
        let Some((p, count)) = producer
            .number_in(self.tag)
            .and_then(|p| Some((p, s.counts.get_mut(p)?)))
        else {
            return Err(PublishError::Id(IdError::UnknownProducer(producer), item));
        };
        if *count >= self.capacity {
            return Err(PublishError::Full(item));
        }
        *count += 1;
        s.on_sale.push((item, p));
        Ok(())
    }

    fn new_cart_id(&self) -> CartId {
        let mut s = self.lock();
        s.carts.push(Vec::new());
        CartId::tagged(self.tag, s.carts.len() - 1)
    }

    fn add_to_cart(&self, cart: CartId, item: &T) -> Result<bool, IdError> {
        let mut s = self.lock();
        let c = self.cart_index(&s, cart)?;
        let Some(at) = s.on_sale.iter().position(|(x, _)| x == item) else {
            return Ok(false);
        };
        let (x, p) = s.on_sale.remove(at);
        s.counts[p] -= 1;
        s.carts[c].push((x, p));
        Ok(true)
    }

    fn remove_from_cart(&self, cart: CartId, item: &T) -> Result<bool, IdError> {
        let mut s = self.lock();
        let c = self.cart_index(&s, cart)?;
        let items = &mut s.carts[c];
        let Some(at) = items.iter().rposition(|(x, _)| x == item) else {
            return Ok(false);
        };
        let (x, p) = items.remove(at);
        s.counts[p] += 1;
        s.on_sale.push((x, p));
        Ok(true)
    }

    fn place_order(&self, cart: CartId) -> Result<Vec<T>, IdError> {
        let mut s = self.lock();
        let c = self.cart_index(&s, cart)?;
        let items = core::mem::take(&mut s.carts[c]);
        s.ordered += items.len() as u64;
        Ok(items.into_iter().map(|(x, _)| x).collect())
    }

    fn place_order_into(&self, cart: CartId, out: &mut Vec<T>) -> Result<(), IdError> {
        let mut s = self.lock();
        let c = self.cart_index(&s, cart)?;
        let items = &mut s.carts[c];
        let n = items.len();
        out.extend(items.drain(..).map(|(x, _)| x));
        s.ordered += n as u64;
        Ok(())
    }

    fn cart_contents(&self, cart: CartId) -> Result<Vec<T>, IdError>
    where
        T: Clone,
    {
        let s = self.lock();
        let items = &s.carts[self.cart_index(&s, cart)?];
        Ok(items.iter().map(|(x, _)| x.clone()).collect())
    }

    fn stats(&self) -> Stats {
        let s = self.lock();
        Stats {
            on_sale: s
                .counts
                .iter()
                .enumerate()
                .map(|(p, &n)| (ProducerId::tagged(self.tag, p), n))
                .collect(),
            in_carts: s.carts.iter().map(Vec::len).sum(),
            ordered: s.ordered,
            slots: s.on_sale.capacity(),
            entries: s.counts.len() + s.carts.len(),
        }
    }
}
