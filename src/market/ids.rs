//! Producer and cart ids: the market tag they carry and the layout of their numbers (a
//! registry slot and its generation, see `registry.rs`).

use core::fmt;

/// Bits of an id's number that hold the registry slot; the generation is above them.
pub(super) const SLOT_BITS: u32 = usize::BITS / 2;
pub(super) const SLOT_MASK: usize = (1 << SLOT_BITS) - 1;
/// Bits of a generation: the rest of an id's number, shrunk under `cfg(test)` and `cfg(loom)`
/// so that tests and models reach the last generation of an entry.
pub(super) const GEN_BITS: u32 = if cfg!(any(test, loom)) {
    2
} else {
    usize::BITS - SLOT_BITS
};
/// The last generation of an entry: vacating it in this generation spends it (`SPENT`), so
/// that no (slot, generation) pair is ever handed out twice.
pub(super) const GEN_MASK: u64 = (1 << GEN_BITS) - 1;

/// The number of the id of registry slot `slot` in generation `generation`.
pub(super) fn id_number(slot: usize, generation: u64) -> usize {
    debug_assert!(slot <= SLOT_MASK);
    slot | (((generation & GEN_MASK) as usize) << SLOT_BITS)
}

/// Writes an id number as `slot` (generation 0) or `slot.generation`.
fn write_id(f: &mut fmt::Formatter<'_>, what: &str, n: usize) -> fmt::Result {
    let (slot, generation) = (n & SLOT_MASK, n >> SLOT_BITS);
    if generation == 0 {
        write!(f, "{what} {slot}")
    } else {
        write!(f, "{what} {slot}.{generation}")
    }
}

/// The tag of the market that handed out an id: a number unique in the process, so that an
/// id used on another market than its own is refused as unknown instead of naming whatever
/// that market has under the same number. Tag 0 belongs to no market.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct MarketTag(u64);

impl MarketTag {
    /// A tag no other market of this process has.
    pub(crate) fn unique() -> Self {
        Self(crate::sync::unique_tag())
    }
}

/// Identifies a producer of one market.
///
/// An id carries a tag of the market that handed it out: used on another market, it is
/// refused with [`IdError::UnknownProducer`], even where that market has a producer with the
/// same number. `Debug` shows what `Display` shows (`producer 3`, or `producer 3.1` for a
/// reused registry slot); two ids that print alike but come from different markets are not
/// equal.
///
/// [`IdError::UnknownProducer`]: super::IdError::UnknownProducer
///
/// # Examples
///
/// ```
/// use ringmarket::market::{IdError, PublishError};
///
/// let market = ringmarket::Market::<u32>::new(4).unwrap();
/// let a = market.register_producer_id();
/// let b = market.register_producer_id();
/// assert_ne!(a, b);
/// assert_eq!(a.to_string(), "producer 0");
/// assert_eq!(format!("{a:?}"), "producer 0");
///
/// let other = ringmarket::Market::<u32>::new(4).unwrap();
/// let theirs = other.register_producer_id();
/// assert_eq!(theirs.to_string(), "producer 0");
/// assert_ne!(theirs, a);
/// assert!(matches!(
///     market.publish(theirs, 1),
///     Err(PublishError::Id(IdError::UnknownProducer(_), 1))
/// ));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProducerId {
    market: MarketTag,
    number: usize,
}

/// Identifies a cart of one market.
///
/// Like [`ProducerId`], it carries a tag of its market: used on another market, it is
/// refused with [`IdError::UnknownCart`]. `Debug` shows what `Display` shows.
///
/// [`IdError::UnknownCart`]: super::IdError::UnknownCart
///
/// # Examples
///
/// ```
/// use ringmarket::market::IdError;
///
/// let market = ringmarket::Market::<u32>::new(4).unwrap();
/// let cart = market.new_cart_id();
/// assert_eq!(cart.to_string(), "cart 0");
/// assert_eq!(format!("{cart:?}"), "cart 0");
///
/// let other = ringmarket::Market::<u32>::new(4).unwrap();
/// let _their_cart = other.new_cart_id();
/// assert_eq!(other.place_order(cart), Err(IdError::UnknownCart(cart)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CartId {
    market: MarketTag,
    number: usize,
}

impl ProducerId {
    /// The id with number `index` and no market, for other implementations of
    /// [`Marketplace`](crate::Marketplace) that number their ids themselves. Every market of
    /// this crate refuses it ([`IdError::UnknownProducer`]): only the ids a market handed out
    /// name its producers.
    ///
    /// [`IdError::UnknownProducer`]: super::IdError::UnknownProducer
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::ProducerId;
    ///
    /// assert_eq!(ProducerId::new(3).index(), 3);
    /// ```
    pub const fn new(index: usize) -> Self {
        Self::tagged(MarketTag(0), index)
    }

    pub(crate) const fn tagged(market: MarketTag, number: usize) -> Self {
        Self { market, number }
    }

    /// The number of this id if `market` handed it out.
    pub(crate) fn number_in(self, market: MarketTag) -> Option<usize> {
        (self.market == market).then_some(self.number)
    }

    /// The id as a number (without its market). The low half of its bits is a registry slot,
    /// the high half how many times that slot was vacated before (its generation), so ids
    /// stay unique although the slots of retired producers are reused. Producers registered
    /// while none was retired are numbered from 0 in registration order.
    pub fn index(self) -> usize {
        self.number
    }
}

impl CartId {
    /// The id with number `index` and no market, for other implementations of
    /// [`Marketplace`](crate::Marketplace) that number their ids themselves. Every market of
    /// this crate refuses it ([`IdError::UnknownCart`]).
    ///
    /// [`IdError::UnknownCart`]: super::IdError::UnknownCart
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmarket::CartId;
    ///
    /// assert_eq!(CartId::new(3).index(), 3);
    /// ```
    pub const fn new(index: usize) -> Self {
        Self::tagged(MarketTag(0), index)
    }

    pub(crate) const fn tagged(market: MarketTag, number: usize) -> Self {
        Self { market, number }
    }

    /// The number of this id if `market` handed it out.
    pub(crate) fn number_in(self, market: MarketTag) -> Option<usize> {
        (self.market == market).then_some(self.number)
    }

    /// The id as a number (without its market): a registry slot in the low half of its bits,
    /// the slot's generation in the high half (as for [`ProducerId::index`]). Carts opened
    /// while none was dropped are numbered from 0 in creation order.
    pub fn index(self) -> usize {
        self.number
    }
}

/// `producer SLOT`, or `producer SLOT.GENERATION` for a reused slot.
impl fmt::Display for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_id(f, "producer", self.number)
    }
}

/// The same as `Display`.
impl fmt::Debug for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `cart SLOT`, or `cart SLOT.GENERATION` for a reused slot.
impl fmt::Display for CartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_id(f, "cart", self.number)
    }
}

/// The same as `Display`.
impl fmt::Debug for CartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
