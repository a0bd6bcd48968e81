//! Random single-threaded operation sequences, run in lock-step on `Market`, `MutexMarket`
//! and the sequential model; where the specification allows a choice (which equal item a
//! reservation takes), the implementation's choice is read back and checked against the model.

use proptest::prelude::*;
use ringmarket::baseline::MutexMarket;
use ringmarket::market::PublishError;
use ringmarket::model::Model;
use ringmarket::{CartId, Market, Marketplace, ProducerId};

mod common;

/// Equal (and hashed) by `key` only; `serial` tells equal items apart.
type Item = common::Keyed<u8, u32>;

/// One operation; `OrderInto` is `place_order_into` an `out` that already holds `before` items.
#[derive(Clone, Debug)]
enum Op {
    RegisterProducer,
    NewCart,
    Publish { producer: usize, key: u8 },
    Add { cart: usize, key: u8 },
    Remove { cart: usize, key: u8 },
    Order { cart: usize },
    OrderInto { cart: usize, before: usize },
    UnknownIds,
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..4;
    prop_oneof![
        1 => Just(Op::RegisterProducer),
        1 => Just(Op::NewCart),
        8 => (0usize..8, key.clone()).prop_map(|(producer, key)| Op::Publish { producer, key }),
        8 => (0usize..8, key.clone()).prop_map(|(cart, key)| Op::Add { cart, key }),
        3 => (0usize..8, key).prop_map(|(cart, key)| Op::Remove { cart, key }),
        2 => (0usize..8).prop_map(|cart| Op::Order { cart }),
        2 => (0usize..8, 0usize..3).prop_map(|(cart, before)| Op::OrderInto { cart, before }),
        1 => Just(Op::UnknownIds),
    ]
}

/// One implementation and the model instance that replays its choices.
struct Lane<M> {
    name: &'static str,
    market: M,
    model: Model<Item>,
    producers: Vec<ProducerId>,
    carts: Vec<CartId>,
}

impl<M: Marketplace<Item>> Lane<M> {
    fn new(name: &'static str, market: M, capacity: usize) -> Self {
        let mut lane = Self {
            name,
            market,
            model: Model::new(capacity).unwrap(),
            producers: Vec::new(),
            carts: Vec::new(),
        };
        for _ in 0..2 {
            lane.step(&Op::RegisterProducer, 0);
            lane.step(&Op::NewCart, 0);
        }
        lane
    }

    fn step(&mut self, op: &Op, serial: u32) {
        let name = self.name;
        match *op {
            Op::RegisterProducer => {
                self.producers.push(self.market.register_producer_id());
                self.model.register_producer();
            }
            Op::NewCart => {
                self.carts.push(self.market.new_cart_id());
                self.model.new_cart();
            }
            Op::Publish { producer, key } => {
                let p = producer % self.producers.len();
                let item = Item { key, serial };
                let got = self.market.publish(self.producers[p], item.clone());
                let want = self.model.publish(p, item);
                match (got, want) {
                    (Ok(()), Ok(())) => {}
                    (Err(PublishError::Full(back)), Err(full)) => {
                        assert_eq!(back.serial, full.0.serial, "{name}: wrong item handed back")
                    }
                    (got, want) => panic!("{name}: publish {got:?}, model {want:?}"),
                }
            }
            Op::Add { cart, key } => {
                let c = cart % self.carts.len();
                let query = Item {
                    key,
                    serial: u32::MAX,
                };
                let got = self.market.add_to_cart(self.carts[c], &query).unwrap();
                if got {
                    let contents = self.market.cart_contents(self.carts[c]).unwrap();
                    let taken = contents.last().expect("a reserved item is in the cart");
                    assert_eq!(taken.key, key, "{name}: reserved an unequal item");
                    let chosen = self
                        .model
                        .add_to_cart_chosen(c, &query, |x, _| x.serial == taken.serial);
                    assert_eq!(chosen, Ok(true), "{name}: reserved an item not on sale");
                } else {
                    assert!(
                        !self.model.is_on_sale(&query),
                        "{name}: spurious false for key {key}"
                    );
                }
            }
            Op::Remove { cart, key } => {
                let c = cart % self.carts.len();
                let query = Item {
                    key,
                    serial: u32::MAX,
                };
                let got = self.market.remove_from_cart(self.carts[c], &query).unwrap();
                assert_eq!(
                    got,
                    self.model.remove_from_cart(c, &query),
                    "{name}: remove"
                );
            }
            Op::Order { cart } => {
                let c = cart % self.carts.len();
                let got = self.market.place_order(self.carts[c]).unwrap();
                let want = self.model.place_order(c);
                let serials = |v: &[Item]| v.iter().map(|x| x.serial).collect::<Vec<_>>();
                assert_eq!(serials(&got), serials(&want), "{name}: order");
            }
            Op::OrderInto { cart, before } => {
                let c = cart % self.carts.len();
                let kept: Vec<Item> = (0..before)
                    .map(|k| Item {
                        key: 9,
                        serial: u32::MAX - k as u32,
                    })
                    .collect();
                let mut out = kept.clone();
                self.market
                    .place_order_into(self.carts[c], &mut out)
                    .unwrap();
                let mut want = kept;
                want.extend(self.model.place_order(c));
                let serials = |v: &[Item]| v.iter().map(|x| x.serial).collect::<Vec<_>>();
                assert_eq!(serials(&out), serials(&want), "{name}: order into");
            }
            Op::UnknownIds => {
                let p = ProducerId::new(self.producers.len() + 3);
                let c = CartId::new(self.carts.len() + 3);
                let item = Item { key: 0, serial };
                assert!(matches!(
                    self.market.publish(p, item),
                    Err(PublishError::Id(_, Item { serial: s, .. })) if s == serial
                ));
                assert!(self
                    .market
                    .add_to_cart(c, &Item { key: 0, serial })
                    .is_err());
                assert!(self
                    .market
                    .remove_from_cart(c, &Item { key: 0, serial })
                    .is_err());
                assert!(self.market.place_order(c).is_err());
                let mut out = vec![Item { key: 0, serial }];
                assert!(self.market.place_order_into(c, &mut out).is_err());
                assert_eq!(out.len(), 1, "{name}: out changed by a refused order");
            }
        }
        self.check();
    }

    /// Everything observable agrees with the model.
    fn check(&self) {
        let name = self.name;
        let stats = self.market.stats();
        let counts: Vec<usize> = stats.on_sale.iter().map(|&(_, n)| n).collect();
        let want: Vec<usize> = (0..self.model.producers())
            .map(|p| self.model.on_sale_of(p))
            .collect();
        assert_eq!(counts, want, "{name}: on-sale counts");
        let in_carts: usize = (0..self.model.carts())
            .map(|c| self.model.cart(c).len())
            .sum();
        assert_eq!(stats.in_carts, in_carts, "{name}: items in carts");
        assert_eq!(stats.ordered, self.model.ordered(), "{name}: items ordered");
        for (c, &id) in self.carts.iter().enumerate() {
            let got: Vec<u32> = self
                .market
                .cart_contents(id)
                .unwrap()
                .iter()
                .map(|x| x.serial)
                .collect();
            let want: Vec<u32> = self.model.cart(c).iter().map(|(x, _)| x.serial).collect();
            assert_eq!(got, want, "{name}: cart {c}");
        }
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 1000 },
        // Miri's isolation forbids the file system that regression files need.
        failure_persistence: if cfg!(miri) {
            None
        } else {
            ProptestConfig::default().failure_persistence
        },
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn market_and_baseline_follow_the_model(
        capacity in 1usize..4,
        buckets in prop_oneof![Just(1usize), Just(2), Just(1024)],
        ops in prop::collection::vec(op(), 0..if cfg!(miri) { 20 } else { 80 }),
    ) {
        let mut market = Lane::new("Market", Market::with_buckets(capacity, buckets).unwrap(), capacity);
        let mut baseline = Lane::new("MutexMarket", MutexMarket::new(capacity).unwrap(), capacity);
        for (serial, op) in ops.iter().enumerate() {
            market.step(op, serial as u32);
            baseline.step(op, serial as u32);
        }
    }
}
