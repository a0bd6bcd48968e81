//! The marketplace against its sequential specification (`ringmarket::model`), on real
//! threads: the lock-free `Market` through its handles and through the id API, and the
//! `MutexMarket` baseline through the id API.

use std::sync::Arc;

use lincheck::specs::{MarketOp, MarketRet, MarketSpec};
use lincheck::{assert_linearizable_with, Config, Target};
use rand::rngs::StdRng;
use rand::Rng;
use ringmarket::baseline::MutexMarket;
use ringmarket::market::{Cart, Producer, PublishError};
use ringmarket::{CartId, Market, Marketplace, ProducerId};

/// Few distinct products, so that equal items from several producers meet in one cart.
const PRODUCTS: u8 = 3;

fn gen(rng: &mut StdRng, thread: usize) -> (usize, MarketOp) {
    let x = rng.random_range(0..PRODUCTS);
    let op = match rng.random_range(0..20) {
        0..=6 => MarketOp::Publish(x),
        7..=13 => MarketOp::Add(x),
        14..=16 => MarketOp::Remove(x),
        _ => MarketOp::Order,
    };
    (thread, op)
}

/// `Market` through its handles: thread `t` owns producer `t` and cart `t`.
struct Handles {
    capacity: usize,
    buckets: usize,
}

impl Target for Handles {
    type Spec = MarketSpec;
    type Handle = (Producer<u8>, Cart<u8>);

    fn setup(&self, threads: usize) -> (MarketSpec, Vec<Self::Handle>) {
        let market = Market::with_buckets(self.capacity, self.buckets).unwrap();
        // Register all producers first, then all carts, in the model's order.
        let producers: Vec<_> = (0..threads).map(|_| market.register_producer()).collect();
        let handles = producers
            .into_iter()
            .map(|p| (p, market.new_cart()))
            .collect();
        (MarketSpec::new(self.capacity, threads), handles)
    }

    fn gen_op(&self, rng: &mut StdRng, thread: usize) -> (usize, MarketOp) {
        gen(rng, thread)
    }

    fn apply(&self, (p, c): &mut Self::Handle, (_, op): &(usize, MarketOp)) -> MarketRet {
        match op {
            MarketOp::Publish(x) => match p.publish(*x) {
                Ok(()) => MarketRet::Published,
                Err(_) => MarketRet::Full,
            },
            MarketOp::Add(x) => MarketRet::Found(c.add(x)),
            MarketOp::Remove(x) => MarketRet::Found(c.remove(x)),
            MarketOp::Order => MarketRet::Ordered(c.place_order()),
        }
    }
}

/// Any `Marketplace` through the id API.
struct Ids<M> {
    capacity: usize,
    make: fn(usize) -> M,
}

impl<M: Marketplace<u8> + 'static> Target for Ids<M> {
    type Spec = MarketSpec;
    type Handle = (Arc<M>, ProducerId, CartId);

    fn setup(&self, threads: usize) -> (MarketSpec, Vec<Self::Handle>) {
        let market = Arc::new((self.make)(self.capacity));
        let producers: Vec<_> = (0..threads)
            .map(|_| market.register_producer_id())
            .collect();
        let handles = producers
            .into_iter()
            .map(|p| (Arc::clone(&market), p, market.new_cart_id()))
            .collect();
        (MarketSpec::new(self.capacity, threads), handles)
    }

    fn gen_op(&self, rng: &mut StdRng, thread: usize) -> (usize, MarketOp) {
        gen(rng, thread)
    }

    fn apply(&self, (m, p, c): &mut Self::Handle, (_, op): &(usize, MarketOp)) -> MarketRet {
        match op {
            MarketOp::Publish(x) => match m.publish(*p, *x) {
                Ok(()) => MarketRet::Published,
                Err(PublishError::Full(_)) => MarketRet::Full,
                Err(PublishError::Id(e, _)) => panic!("producer id refused: {e}"),
            },
            MarketOp::Add(x) => MarketRet::Found(m.add_to_cart(*c, x).expect("own cart")),
            MarketOp::Remove(x) => MarketRet::Found(m.remove_from_cart(*c, x).expect("own cart")),
            MarketOp::Order => MarketRet::Ordered(m.place_order(*c).expect("own cart")),
        }
    }
}

fn share(parts: usize) -> Config {
    let mut c = Config::from_env();
    c.scenarios = c.scenarios.div_ceil(parts);
    c
}

#[test]
fn market_handles_are_linearizable() {
    // Limits 1 and 2; one bucket (every product in one chain) and the default-sized index.
    let mut c = share(4);
    for (capacity, buckets) in [(1, 1), (2, 1), (1, 64), (2, 64)] {
        c.seed = c.seed.wrapping_add(1);
        assert_linearizable_with(
            &format!("Market handles, limit {capacity}, {buckets} buckets"),
            &Handles { capacity, buckets },
            &c,
        );
    }
}

#[test]
fn market_id_api_is_linearizable() {
    let mut c = share(8);
    for capacity in [1, 2] {
        c.seed = c.seed.wrapping_add(1);
        let target = Ids {
            capacity,
            make: |cap| Market::<u8>::new(cap).unwrap(),
        };
        assert_linearizable_with(&format!("Market id API, limit {capacity}"), &target, &c);
    }
}

#[test]
fn mutex_market_is_linearizable() {
    let mut c = share(8);
    for capacity in [1, 2] {
        c.seed = c.seed.wrapping_add(1);
        let target = Ids {
            capacity,
            make: |cap| MutexMarket::<u8>::new(cap).unwrap(),
        };
        assert_linearizable_with(&format!("MutexMarket, limit {capacity}"), &target, &c);
    }
}
