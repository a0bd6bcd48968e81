//! The sequential specification of the marketplace, used as the test oracle.
//!
//! [`Model`] is the marketplace written as plainly as possible: one owner, no threads, plain
//! `Vec`s. Every concurrent implementation ([`Market`](crate::Market),
//! [`MutexMarket`](crate::baseline::MutexMarket)) must behave, operation by operation, like
//! some run of this model. Where the specification leaves a choice open (which of several
//! equal items a reservation takes), the model lets the caller name the choice
//! ([`Model::add_to_cart_chosen`]) and refuses choices the specification does not allow.
//!
//! Producers and carts are numbered `0, 1, 2, ...` in the order they were created.
//!
//! # Examples
//!
//! ```
//! use ringmarket::model::Model;
//!
//! let mut m = Model::new(1).unwrap();
//! let p = m.register_producer();
//! let c = m.new_cart();
//! assert!(m.publish(p, "tea").is_ok());
//! assert!(m.publish(p, "tea").is_err()); // one item on sale is the limit
//! assert!(m.add_to_cart(c, &"tea"));
//! assert!(m.publish(p, "cake").is_ok()); // the reservation freed the producer's room
//! assert_eq!(m.place_order(c), vec!["tea"]);
//! ```

use crate::{Full, ZeroCapacity};

/// A reservation named a choice that the specification does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAllowed;

/// The sequential marketplace.
#[derive(Clone, Debug)]
pub struct Model<T> {
    /// Most items a producer may have on sale when it publishes.
    capacity: usize,
    /// `on_sale_of[p]`: how many items of producer `p` are on sale (returns may push it above
    /// `capacity`). Always equals the number of entries of `on_sale` tagged with `p`.
    on_sale_of: Vec<usize>,
    /// The items on sale, each with the producer it counts against, oldest first.
    on_sale: Vec<(T, usize)>,
    /// The carts' contents, each item with the producer it came from, in the order added.
    carts: Vec<Vec<(T, usize)>>,
    /// Items handed out by orders so far.
    ordered: u64,
}

impl<T: Eq> Model<T> {
    /// A model whose producers may each have `capacity` items on sale.
    ///
    /// # Errors
    ///
    /// [`ZeroCapacity`] when `capacity` is zero.
    pub fn new(capacity: usize) -> Result<Self, ZeroCapacity> {
        if capacity == 0 {
            return Err(ZeroCapacity);
        }
        Ok(Self {
            capacity,
            on_sale_of: Vec::new(),
            on_sale: Vec::new(),
            carts: Vec::new(),
            ordered: 0,
        })
    }

    /// The per-producer limit given to [`Model::new`].
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Registers a producer and returns its number.
    pub fn register_producer(&mut self) -> usize {
        self.on_sale_of.push(0);
        self.on_sale_of.len() - 1
    }

    /// Opens a cart and returns its number.
    pub fn new_cart(&mut self) -> usize {
        self.carts.push(Vec::new());
        self.carts.len() - 1
    }

    /// How many producers exist.
    pub fn producers(&self) -> usize {
        self.on_sale_of.len()
    }

    /// How many carts exist.
    pub fn carts(&self) -> usize {
        self.carts.len()
    }

    /// Puts `item` on sale under `producer`.
    ///
    /// # Errors
    ///
    /// [`Full`] with the item when the producer already has `capacity` (or more) items on sale.
    ///
    /// # Panics
    ///
    /// When `producer` was never registered (the model is an oracle; callers check ids).
    pub fn publish(&mut self, producer: usize, item: T) -> Result<(), Full<T>> {
        if self.on_sale_of[producer] >= self.capacity {
            return Err(Full(item));
        }
        self.on_sale_of[producer] += 1;
        self.on_sale.push((item, producer));
        Ok(())
    }

    /// Whether an item equal to `item` is on sale.
    pub fn is_on_sale(&self, item: &T) -> bool {
        self.on_sale.iter().any(|(x, _)| x == item)
    }

    /// Reserves the oldest on-sale item equal to `item` into `cart`; `false` when none is on
    /// sale.
    ///
    /// # Panics
    ///
    /// When `cart` does not exist.
    pub fn add_to_cart(&mut self, cart: usize, item: &T) -> bool {
        self.add_to_cart_chosen(cart, item, |_, _| true)
            .expect("the first equal item is always allowed")
    }

    /// Reserves into `cart` an on-sale item equal to `item` for which `chosen(item, producer)`
    /// holds: the way a test replays the choice an implementation made.
    ///
    /// Returns `Ok(false)` when no equal item is on sale (then there was nothing to choose).
    ///
    /// # Errors
    ///
    /// [`NotAllowed`] when equal items are on sale but none of them satisfies `chosen`.
    ///
    /// # Panics
    ///
    /// When `cart` does not exist.
    pub fn add_to_cart_chosen(
        &mut self,
        cart: usize,
        item: &T,
        chosen: impl Fn(&T, usize) -> bool,
    ) -> Result<bool, NotAllowed> {
        assert!(cart < self.carts.len(), "unknown cart {cart}");
        if !self.is_on_sale(item) {
            return Ok(false);
        }
        let Some(at) = self
            .on_sale
            .iter()
            .position(|(x, p)| x == item && chosen(x, *p))
        else {
            return Err(NotAllowed);
        };
        let (x, p) = self.on_sale.remove(at);
        self.on_sale_of[p] -= 1;
        self.carts[cart].push((x, p));
        Ok(true)
    }

    /// Returns the most recently added item equal to `item` from `cart` to sale under its
    /// original producer; `false` when the cart holds no equal item.
    ///
    /// # Panics
    ///
    /// When `cart` does not exist.
    pub fn remove_from_cart(&mut self, cart: usize, item: &T) -> bool {
        let items = &mut self.carts[cart];
        let Some(at) = items.iter().rposition(|(x, _)| x == item) else {
            return false;
        };
        let (x, p) = items.remove(at);
        self.on_sale_of[p] += 1;
        self.on_sale.push((x, p));
        true
    }

    /// Empties `cart`, returning its items in the order they were added.
    ///
    /// # Panics
    ///
    /// When `cart` does not exist.
    pub fn place_order(&mut self, cart: usize) -> Vec<T> {
        let items = core::mem::take(&mut self.carts[cart]);
        self.ordered += items.len() as u64;
        items.into_iter().map(|(x, _)| x).collect()
    }

    /// How many items of `producer` are on sale.
    pub fn on_sale_of(&self, producer: usize) -> usize {
        self.on_sale_of[producer]
    }

    /// The items on sale with their producers, oldest first.
    pub fn on_sale(&self) -> &[(T, usize)] {
        &self.on_sale
    }

    /// The contents of `cart` with their producers, in the order added.
    pub fn cart(&self, cart: usize) -> &[(T, usize)] {
        &self.carts[cart]
    }

    /// How many items orders have handed out so far.
    pub fn ordered(&self) -> u64 {
        self.ordered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_capacity_is_refused() {
        assert_eq!(Model::<u8>::new(0).unwrap_err(), ZeroCapacity);
    }

    #[test]
    fn return_goes_back_to_the_original_producer_and_may_exceed_the_limit() {
        let mut m = Model::new(1).unwrap();
        let p = m.register_producer();
        let c = m.new_cart();
        m.publish(p, 1).unwrap();
        assert!(m.add_to_cart(c, &1));
        m.publish(p, 2).unwrap();
        assert!(m.remove_from_cart(c, &1));
        assert_eq!(m.on_sale_of(p), 2);
        assert_eq!(m.publish(p, 3), Err(Full(3)));
        assert!(m.add_to_cart(c, &2));
        assert_eq!(m.publish(p, 3), Err(Full(3)));
        assert!(m.add_to_cart(c, &1));
        assert!(m.publish(p, 3).is_ok());
        assert_eq!(m.place_order(c), vec![2, 1]);
        assert_eq!(m.ordered(), 2);
    }

    #[test]
    fn chosen_reservation_refuses_what_is_not_on_sale() {
        let mut m = Model::new(2).unwrap();
        let p = m.register_producer();
        let q = m.register_producer();
        let c = m.new_cart();
        m.publish(p, 5).unwrap();
        assert_eq!(
            m.add_to_cart_chosen(c, &5, |_, pr| pr == q),
            Err(NotAllowed)
        );
        assert_eq!(m.add_to_cart_chosen(c, &6, |_, _| true), Ok(false));
        assert_eq!(m.add_to_cart_chosen(c, &5, |_, pr| pr == p), Ok(true));
    }
}
