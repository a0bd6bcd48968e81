//! The id API as a trait, shared by [`Market`] and
//! [`MutexMarket`](crate::baseline::MutexMarket), and the statistics snapshot.

use super::{CartId, IdError, Market, ProducerId, PublishError};

/// A snapshot of a market's counters (see [`Market::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Items on sale per producer, in registration order (returns may push a count above the
    /// limit).
    pub on_sale: Vec<(ProducerId, usize)>,
    /// Items in carts.
    pub in_carts: usize,
    /// Items handed out by orders so far.
    pub ordered: u64,
    /// Item slots allocated (on sale or free for reuse): the market's live storage.
    pub slots: usize,
    /// Producer and cart entries allocated (in use, retired with items still in the market,
    /// or free for reuse): the storage behind the ids.
    pub entries: usize,
}

impl Stats {
    /// Items on sale, all producers together.
    pub fn total_on_sale(&self) -> usize {
        self.on_sale.iter().map(|&(_, n)| n).sum()
    }
}

/// The marketplace operations of the original design, by id, so that tests and benchmarks
/// run the same code against every implementation.
///
/// # Examples
///
/// ```
/// use ringmarket::{baseline::MutexMarket, Market, Marketplace};
///
/// fn sell_one<M: Marketplace<&'static str>>(m: &M) -> Vec<&'static str> {
///     let p = m.register_producer_id();
///     let c = m.new_cart_id();
///     m.publish(p, "soap").unwrap();
///     assert_eq!(m.add_to_cart(c, &"soap"), Ok(true));
///     m.place_order(c).unwrap()
/// }
///
/// assert_eq!(sell_one(&Market::new(1).unwrap()), vec!["soap"]);
/// assert_eq!(sell_one(&MutexMarket::new(1).unwrap()), vec!["soap"]);
/// ```
pub trait Marketplace<T>: Send + Sync {
    /// Registers a producer.
    fn register_producer_id(&self) -> ProducerId;
    /// Puts `item` on sale under `producer`.
    ///
    /// # Errors
    ///
    /// [`PublishError::Full`] when the producer has its limit of items on sale,
    /// [`PublishError::Id`] for an unknown or busy id; the item is handed back either way.
    fn publish(&self, producer: ProducerId, item: T) -> Result<(), PublishError<T>>;
    /// Opens a cart.
    fn new_cart_id(&self) -> CartId;
    /// Reserves an on-sale item equal to `item` into `cart`; `Ok(false)` when none is on sale.
    ///
    /// # Errors
    ///
    /// [`IdError`] for an unknown or busy cart.
    fn add_to_cart(&self, cart: CartId, item: &T) -> Result<bool, IdError>;
    /// Returns the most recently added equal item from `cart` to sale under its producer.
    ///
    /// # Errors
    ///
    /// [`IdError`] for an unknown or busy cart.
    fn remove_from_cart(&self, cart: CartId, item: &T) -> Result<bool, IdError>;
    /// Empties `cart`, returning its items in the order added.
    ///
    /// # Errors
    ///
    /// [`IdError`] for an unknown or busy cart.
    fn place_order(&self, cart: CartId) -> Result<Vec<T>, IdError>;
    /// Empties `cart`, appending its items to `out` in the order added. The default returns
    /// them through [`place_order`](Marketplace::place_order) (one `Vec` per order);
    /// implementations that can move them straight into `out` do.
    ///
    /// # Errors
    ///
    /// [`IdError`] for an unknown or busy cart; `out` is unchanged then.
    fn place_order_into(&self, cart: CartId, out: &mut Vec<T>) -> Result<(), IdError> {
        out.append(&mut self.place_order(cart)?);
        Ok(())
    }
    /// Copies of the items in `cart`, in the order added.
    ///
    /// # Errors
    ///
    /// [`IdError`] for an unknown or busy cart.
    fn cart_contents(&self, cart: CartId) -> Result<Vec<T>, IdError>
    where
        T: Clone;
    /// A snapshot of the counters.
    fn stats(&self) -> Stats;
}

impl<T: Send> Marketplace<T> for Market<T> {
    fn register_producer_id(&self) -> ProducerId {
        Market::register_producer_id(self)
    }
    fn publish(&self, producer: ProducerId, item: T) -> Result<(), PublishError<T>> {
        Market::publish(self, producer, item)
    }
    fn new_cart_id(&self) -> CartId {
        Market::new_cart_id(self)
    }
    fn add_to_cart(&self, cart: CartId, item: &T) -> Result<bool, IdError> {
        Market::add_to_cart(self, cart, item)
    }
    fn remove_from_cart(&self, cart: CartId, item: &T) -> Result<bool, IdError> {
        Market::remove_from_cart(self, cart, item)
    }
    fn place_order(&self, cart: CartId) -> Result<Vec<T>, IdError> {
        Market::place_order(self, cart)
    }
    fn place_order_into(&self, cart: CartId, out: &mut Vec<T>) -> Result<(), IdError> {
        Market::place_order_into(self, cart, out)
    }
    fn cart_contents(&self, cart: CartId) -> Result<Vec<T>, IdError>
    where
        T: Clone,
    {
        Market::cart_contents(self, cart)
    }
    fn stats(&self) -> Stats {
        Market::stats(self)
    }
}
