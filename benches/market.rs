//! `ringmarket::Market` against the one-lock `MutexMarket`, a `Mutex<HashMap<T,
//! VecDeque<..>>>` peer, a sharded-lock `DashMap` peer and `SpscFedMarket` (per-producer
//! `spsc` rings feeding one locked index), side by side in one run, through the same
//! `Marketplace` code.
//!
//! Threaded groups (`mix/{threads}+{threads}/products{D}/queue{Q}`): `threads` producers each
//! publish products `0, 1, 2, ... (mod D)` and as many consumers each want the same sequence:
//! a consumer retries until it gets the product it wants, returns every tenth item it got (and
//! then wants it again), and orders every four items; a producer retries while it is full.
//! Every contender waits the same way between retries (`Backoff`): spin a little, then yield,
//! while the threads fit the machine's cores; yield at once when they outnumber them. One criterion iteration is one item published, reserved
//! and ordered per producer; the timer runs from a common `Barrier` until every item has been
//! ordered. `Market` runs through the same `Marketplace` (id API) code as the two lock-based
//! markets; `Market-handles` runs the same mix through `Producer`/`Cart` handles.
//!
//! `cycle`: one thread doing publish -> reserve -> place order, next to one `ArrayQueue`
//! push + pop pair.
//!
//! ```text
//! cargo bench --bench market -- --warm-up-time 1 --measurement-time 3
//! cargo bench --bench market -- alternating 31   # every contender once per round, 31 rounds
//! RINGMARKET_BENCH_THREADS=1,2 cargo bench --bench market   # thread pairs (default 1,2,4)
//! cargo bench --bench market -- scaling 1,2,4 docs/scaling/market.csv 5
//! ```
//!
//! `scaling` runs the mix at products 1 and 1024, queue 1024, for each count of thread pairs,
//! every contender once per round, and writes the median items ordered per second of each
//! (with its ratio to `MutexMarket`'s) as CSV rows (`scripts/scaling.sh` runs it).
//!
//! Criterion measures one contender after another, and on a small, shared machine the load
//! changes between them: the ratio of two such figures swings by more than the contenders
//! differ. The `alternating` mode runs every contender once per round on each case (in an
//! order that rotates), and reports the median of the per-round ratios and how many rounds
//! `Market` won.

mod common;

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use dashmap::DashMap;
use ringmarket::baseline::MutexMarket;
use ringmarket::market::{IdError, PublishError, Stats};
use ringmarket::model::Model;
use ringmarket::{spsc, CartId, Market, Marketplace, ProducerId};

/// The fairer lock-based peer: one lock around a hash map from product to the equal items on
/// sale (with their producers), the per-producer counts and the carts.
struct HashMapMarket {
    capacity: usize,
    state: Mutex<HashMapState>,
}

#[derive(Default)]
struct HashMapState {
    on_sale: HashMap<u64, VecDeque<(u64, usize)>>,
    counts: Vec<usize>,
    carts: Vec<Vec<(u64, usize)>>,
}

impl HashMapMarket {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(HashMapState::default()),
        }
    }
}

impl Marketplace<u64> for HashMapMarket {
    fn register_producer_id(&self) -> ProducerId {
        let mut s = self.state.lock().unwrap();
        s.counts.push(0);
        ProducerId::new(s.counts.len() - 1)
    }
    fn publish(&self, producer: ProducerId, item: u64) -> Result<(), PublishError<u64>> {
        let mut s = self.state.lock().unwrap();
        let p = producer.index();
        match s.counts.get_mut(p) {
            None => return Err(PublishError::Id(IdError::UnknownProducer(producer), item)),
            Some(n) if *n >= self.capacity => return Err(PublishError::Full(item)),
            Some(n) => *n += 1,
        }
        s.on_sale.entry(item).or_default().push_back((item, p));
        Ok(())
    }
    fn new_cart_id(&self) -> CartId {
        let mut s = self.state.lock().unwrap();
        s.carts.push(Vec::new());
        CartId::new(s.carts.len() - 1)
    }
    fn add_to_cart(&self, cart: CartId, item: &u64) -> Result<bool, IdError> {
        let mut s = self.state.lock().unwrap();
        let s = &mut *s;
        let c = s
            .carts
            .get_mut(cart.index())
            .ok_or(IdError::UnknownCart(cart))?;
        let Some((x, p)) = s.on_sale.get_mut(item).and_then(VecDeque::pop_front) else {
            return Ok(false);
        };
        s.counts[p] -= 1;
        c.push((x, p));
        Ok(true)
    }
    fn remove_from_cart(&self, cart: CartId, item: &u64) -> Result<bool, IdError> {
        let mut s = self.state.lock().unwrap();
        let s = &mut *s;
        let c = s
            .carts
            .get_mut(cart.index())
            .ok_or(IdError::UnknownCart(cart))?;
        let Some(at) = c.iter().rposition(|(x, _)| x == item) else {
            return Ok(false);
        };
        let (x, p) = c.remove(at);
        s.counts[p] += 1;
        s.on_sale.entry(x).or_default().push_back((x, p));
        Ok(true)
    }
    fn place_order(&self, cart: CartId) -> Result<Vec<u64>, IdError> {
        let mut s = self.state.lock().unwrap();
        let c = s
            .carts
            .get_mut(cart.index())
            .ok_or(IdError::UnknownCart(cart))?;
        Ok(c.drain(..).map(|(x, _)| x).collect())
    }
    fn cart_contents(&self, cart: CartId) -> Result<Vec<u64>, IdError> {
        let s = self.state.lock().unwrap();
        let c = s
            .carts
            .get(cart.index())
            .ok_or(IdError::UnknownCart(cart))?;
        Ok(c.iter().map(|&(x, _)| x).collect())
    }
    fn stats(&self) -> Stats {
        Stats::default()
    }
}

/// The sharded-lock peer a user would write with `dashmap`: the equal items on sale per
/// product (their producers, oldest first), an atomic count per producer and the carts, each
/// in a `DashMap`, so that operations on different products, producers and carts take
/// different shard locks. Locks are taken in one order (a cart's shard, then a product's).
struct DashMapMarket {
    capacity: usize,
    on_sale: DashMap<u64, VecDeque<usize>>,
    counts: DashMap<usize, AtomicUsize>,
    carts: DashMap<usize, Vec<(u64, usize)>>,
    next_producer: AtomicUsize,
    next_cart: AtomicUsize,
}

impl DashMapMarket {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            on_sale: DashMap::new(),
            counts: DashMap::new(),
            carts: DashMap::new(),
            next_producer: AtomicUsize::new(0),
            next_cart: AtomicUsize::new(0),
        }
    }

    /// Changes producer `p`'s count of items on sale by one, up or down.
    fn count(&self, p: usize, up: bool) {
        // The count is only a limit: the shard locks order the items themselves.
        let n = self.counts.get(&p).expect("a registered producer");
        if up {
            n.fetch_add(1, Ordering::Relaxed);
        } else {
            n.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Marketplace<u64> for DashMapMarket {
    fn register_producer_id(&self) -> ProducerId {
        let p = self.next_producer.fetch_add(1, Ordering::Relaxed);
        self.counts.insert(p, AtomicUsize::new(0));
        ProducerId::new(p)
    }
    fn publish(&self, producer: ProducerId, item: u64) -> Result<(), PublishError<u64>> {
        let p = producer.index();
        let Some(n) = self.counts.get(&p) else {
            return Err(PublishError::Id(IdError::UnknownProducer(producer), item));
        };
        // Relaxed: the count is only a limit (see `count`).
        let (cap, relaxed) = (self.capacity, Ordering::Relaxed);
        if n.fetch_update(relaxed, relaxed, |n| (n < cap).then_some(n + 1))
            .is_err()
        {
            return Err(PublishError::Full(item));
        }
        drop(n);
        self.on_sale.entry(item).or_default().push_back(p);
        Ok(())
    }
    fn new_cart_id(&self) -> CartId {
        let c = self.next_cart.fetch_add(1, Ordering::Relaxed);
        self.carts.insert(c, Vec::new());
        CartId::new(c)
    }
    fn add_to_cart(&self, cart: CartId, item: &u64) -> Result<bool, IdError> {
        let mut c = (self.carts.get_mut(&cart.index())).ok_or(IdError::UnknownCart(cart))?;
        let Some(p) = self.on_sale.get_mut(item).and_then(|mut q| q.pop_front()) else {
            return Ok(false);
        };
        self.count(p, false);
        c.push((*item, p));
        Ok(true)
    }
    fn remove_from_cart(&self, cart: CartId, item: &u64) -> Result<bool, IdError> {
        let mut c = (self.carts.get_mut(&cart.index())).ok_or(IdError::UnknownCart(cart))?;
        let Some(at) = c.iter().rposition(|(x, _)| x == item) else {
            return Ok(false);
        };
        let (x, p) = c.remove(at);
        self.count(p, true);
        self.on_sale.entry(x).or_default().push_back(p);
        Ok(true)
    }
    fn place_order(&self, cart: CartId) -> Result<Vec<u64>, IdError> {
        let mut c = (self.carts.get_mut(&cart.index())).ok_or(IdError::UnknownCart(cart))?;
        Ok(c.drain(..).map(|(x, _)| x).collect())
    }
    fn cart_contents(&self, cart: CartId) -> Result<Vec<u64>, IdError> {
        let c = (self.carts.get(&cart.index())).ok_or(IdError::UnknownCart(cart))?;
        Ok(c.iter().map(|&(x, _)| x).collect())
    }
    fn stats(&self) -> Stats {
        Stats::default()
    }
}

/// The literal reading of "per-producer bounded single-producer rings built on atomics feed a
/// marketplace index": every producer owns the `Producer` end of a `ringmarket::spsc` ring of
/// `capacity` slots (its bounded storage) and an atomic count of its items on sale; the
/// `Consumer` ends of all the rings sit with the index, a `HashMap` from product to the
/// producers of its equal items on sale (oldest first), behind one lock. A reservation takes
/// that lock, first moves every item published since the last reservation from every ring
/// into the index (a ring has one consumer: the lock makes the reservers one), then takes an
/// equal item from the index. A returned item goes straight into the index, counted under its
/// producer again. It exists to measure that shape next to `Market`, which does not keep its
/// items in FIFO rings because a reservation wants an equal item, not the oldest one.
///
/// A ring end needs `&mut` and the id API gives `&self`, so each shelf keeps its end in a
/// `Mutex`: one uncontended lock and unlock per publish in the mix (one thread per producer).
/// The shelves and carts are tables sized at construction (no lock to find one); registering
/// more producers or carts than that panics.
struct SpscFedMarket {
    capacity: usize,
    /// `shelves[p]`: producer `p`'s ring end and count, set once, when it registers.
    shelves: Box<[OnceLock<CachePadded<Shelf>>]>,
    index: Mutex<SpscIndex>,
    /// `carts[c]`: cart `c`, set once, when it opens.
    carts: Box<[OnceLock<Mutex<CartItems>>]>,
    next_cart: AtomicUsize,
}

/// A cart's items with their producers, in the order added.
type CartItems = Vec<(u64, usize)>;

struct Shelf {
    /// Items of this producer on sale, in its ring or in the index: at most `capacity` after
    /// a publish (returns may push it above), so the ring, which holds a part of them, never
    /// fills.
    on_sale: AtomicUsize,
    ring: Mutex<spsc::Producer<u64>>,
}

struct SpscIndex {
    /// `rings[p]`: the consumer end of producer `p`'s ring.
    rings: Vec<spsc::Consumer<u64>>,
    /// The producers of the equal items on sale that have left their rings, per product,
    /// oldest first.
    on_sale: HashMap<u64, VecDeque<usize>>,
}

impl SpscFedMarket {
    /// A market whose producers may each have `capacity` items on sale, for at most `handles`
    /// producers and `handles` carts.
    fn new(capacity: usize, handles: usize) -> Self {
        Self {
            capacity,
            shelves: (0..handles).map(|_| OnceLock::new()).collect(),
            index: Mutex::new(SpscIndex {
                rings: Vec::new(),
                on_sale: HashMap::new(),
            }),
            carts: (0..handles).map(|_| OnceLock::new()).collect(),
            next_cart: AtomicUsize::new(0),
        }
    }

    fn cart(&self, cart: CartId) -> Result<MutexGuard<'_, CartItems>, IdError> {
        let c = self.carts.get(cart.index()).and_then(OnceLock::get);
        Ok(c.ok_or(IdError::UnknownCart(cart))?.lock().unwrap())
    }
}

impl Marketplace<u64> for SpscFedMarket {
    fn register_producer_id(&self) -> ProducerId {
        let (ring, consumer) =
            spsc::ring(self.capacity).expect("the market was made with a capacity of 1 or more");
        let mut index = self.index.lock().unwrap();
        let p = index.rings.len();
        let shelf = self
            .shelves
            .get(p)
            .expect("more producers than the market was sized for");
        index.rings.push(consumer);
        let _ = shelf.set(CachePadded::new(Shelf {
            on_sale: AtomicUsize::new(0),
            ring: Mutex::new(ring),
        }));
        ProducerId::new(p)
    }
    fn publish(&self, producer: ProducerId, item: u64) -> Result<(), PublishError<u64>> {
        let Some(shelf) = self.shelves.get(producer.index()).and_then(OnceLock::get) else {
            return Err(PublishError::Id(IdError::UnknownProducer(producer), item));
        };
        // ORDERING: Acquire pairs with the Release decrement of `add_to_cart` (every change of
        // the count is a read-modify-write, so this reads the end of a release sequence of
        // each earlier decrement): the pops that emptied the ring slots of the reserved items
        // happen before this push. The ring holds at most the count read here, which is below
        // `capacity`, so the push cannot fail. A refused publish reads nothing: Relaxed.
        let cap = self.capacity;
        let counted = (shelf.on_sale).fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
            (n < cap).then_some(n + 1)
        });
        if counted.is_err() {
            return Err(PublishError::Full(item));
        }
        let pushed = shelf.ring.lock().unwrap().push(item);
        pushed.expect("the count keeps the ring from filling");
        Ok(())
    }
    fn new_cart_id(&self) -> CartId {
        let c = self.next_cart.fetch_add(1, Ordering::Relaxed);
        let cart = self
            .carts
            .get(c)
            .expect("more carts than the market was sized for");
        let _ = cart.set(Mutex::new(Vec::new()));
        CartId::new(c)
    }
    fn add_to_cart(&self, cart: CartId, item: &u64) -> Result<bool, IdError> {
        let mut c = self.cart(cart)?;
        let mut index = self.index.lock().unwrap();
        let SpscIndex { rings, on_sale } = &mut *index;
        for (p, ring) in rings.iter_mut().enumerate() {
            for x in ring.read_chunk(usize::MAX) {
                on_sale.entry(x).or_default().push_back(p);
            }
        }
        let Some(p) = on_sale.get_mut(item).and_then(VecDeque::pop_front) else {
            return Ok(false);
        };
        // Under the index lock, so that the count and the index change together.
        let shelf = self.shelves[p].get().expect("a registered producer");
        // ORDERING: Release pairs with the Acquire of `publish`: the pop that took this item
        // out of its ring (this reservation's or an earlier one's, ordered before it by the
        // index lock) comes before the producer's next push into the slot it emptied.
        shelf.on_sale.fetch_sub(1, Ordering::Release);
        drop(index);
        c.push((*item, p));
        Ok(true)
    }
    fn remove_from_cart(&self, cart: CartId, item: &u64) -> Result<bool, IdError> {
        let mut c = self.cart(cart)?;
        let Some(at) = c.iter().rposition(|(x, _)| x == item) else {
            return Ok(false);
        };
        let (x, p) = c.remove(at);
        let shelf = self.shelves[p].get().expect("a registered producer");
        let mut index = self.index.lock().unwrap();
        // Relaxed: the item goes into the index, not the ring, so no slot changes hands; the
        // index lock orders the item's later reservation (and its decrement) after this.
        shelf.on_sale.fetch_add(1, Ordering::Relaxed);
        index.on_sale.entry(x).or_default().push_back(p);
        Ok(true)
    }
    fn place_order(&self, cart: CartId) -> Result<Vec<u64>, IdError> {
        Ok(self.cart(cart)?.drain(..).map(|(x, _)| x).collect())
    }
    fn cart_contents(&self, cart: CartId) -> Result<Vec<u64>, IdError> {
        Ok(self.cart(cart)?.iter().map(|&(x, _)| x).collect())
    }
    /// Only the on-sale counts (what the self-check compares with the model).
    fn stats(&self) -> Stats {
        let counts = self.shelves.iter().map_while(OnceLock::get).enumerate();
        // Relaxed: a snapshot of counters, ordered with nothing else.
        Stats {
            on_sale: counts
                .map(|(p, s)| (ProducerId::new(p), s.on_sale.load(Ordering::Relaxed)))
                .collect(),
            ..Stats::default()
        }
    }
}

include!("common/mix.rs");

/// The `Marketplace` (id API) sides: every implementation through the same code.
struct ById<M, I>(Arc<M>, I);

impl<M: Marketplace<u64> + 'static> Seller for ById<M, ProducerId> {
    fn sell(&mut self, item: u64) -> Result<(), u64> {
        self.0
            .publish(self.1, item)
            .map_err(PublishError::into_inner)
    }
}

impl<M: Marketplace<u64> + 'static> Shopper for ById<M, CartId> {
    fn add(&mut self, item: &u64) -> bool {
        self.0.add_to_cart(self.1, item).unwrap()
    }
    fn remove(&mut self, item: &u64) -> bool {
        self.0.remove_from_cart(self.1, item).unwrap()
    }
    fn order(&mut self) -> usize {
        black_box(self.0.place_order(self.1).unwrap()).len()
    }
}

include!("common/market_handles.rs");

/// The mix on a `Marketplace` through the id API.
fn mix_ids<M: Marketplace<u64> + 'static>(
    m: M,
    threads: usize,
    products: u64,
    iters: u64,
) -> Duration {
    let m = Arc::new(m);
    let sellers = (0..threads)
        .map(|_| ById(m.clone(), m.register_producer_id()))
        .collect();
    let shoppers: Vec<_> = (0..threads)
        .map(|_| ById(m.clone(), m.new_cart_id()))
        .collect();
    mix(sellers, shoppers, products, iters)
}

/// The thread pairs of the threaded groups and the alternating mode (see
/// `common::bench_threads`).
const THREADS: [usize; 3] = [1, 2, 4];

fn threaded(c: &mut Criterion) {
    for threads in common::bench_threads(&THREADS) {
        for products in [1u64, 16, 1024] {
            for queue in [8usize, 1024] {
                let name = format!("mix/{threads}+{threads}/products{products}/queue{queue}");
                let mut g = c.benchmark_group(name);
                g.throughput(Throughput::Elements(threads as u64));
                g.sample_size(10);
                for (which, contender) in MIX.into_iter().enumerate() {
                    g.bench_function(contender, |b| {
                        b.iter_custom(|iters| mix_run(which, threads, products, queue, iters))
                    });
                }
                g.finish();
            }
        }
    }
}

fn cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("cycle");
    g.throughput(Throughput::Elements(1));
    for (which, contender) in CYCLE.into_iter().enumerate() {
        g.bench_function(contender, |b| b.iter_custom(|n| cycle_run(which, n)));
    }
    g.finish();
}

criterion_group!(benches, cycle, threaded);

/// The mix's contenders, by the `which` of [`mix_run`].
const MIX: [&str; 6] = [
    "Market",
    "Market-handles",
    "MutexMarket",
    "HashMapMarket",
    "DashMapMarket",
    "SpscFedMarket",
];

/// One run of the mix with `iters` items per producer for contender `MIX[which]`.
fn mix_run(which: usize, threads: usize, products: u64, queue: usize, iters: u64) -> Duration {
    match which {
        0 => mix_ids(Market::new(queue).unwrap(), threads, products, iters),
        1 => {
            let m = Market::new(queue).unwrap();
            let sellers = (0..threads).map(|_| m.register_producer()).collect();
            let shoppers: Vec<_> = (0..threads).map(|_| m.new_cart()).collect();
            mix(sellers, shoppers, products, iters)
        }
        2 => mix_ids(MutexMarket::new(queue).unwrap(), threads, products, iters),
        3 => mix_ids(HashMapMarket::new(queue), threads, products, iters),
        4 => mix_ids(DashMapMarket::new(queue), threads, products, iters),
        _ => {
            let m = SpscFedMarket::new(queue, threads);
            mix_ids(m, threads, products, iters)
        }
    }
}

/// The single-thread cycle's contenders, by the `which` of [`cycle_run`].
const CYCLE: [&str; 9] = [
    "Market/handles",
    "Market/ids",
    "MutexMarket/ids",
    "HashMapMarket/ids",
    "DashMapMarket/ids",
    "ArrayQueue push+pop",
    "SpscFedMarket/ids",
    "Market/handles into",
    "MutexMarket/ids into",
];

/// `n` single-thread cycles (publish, reserve, place the order) for contender `CYCLE[which]`;
/// for `ArrayQueue`, `n` push + pop pairs. The set-up is not timed. The "into" contenders
/// order with `place_order_into` into one `Vec` (cleared after each order), so that neither
/// they nor `ArrayQueue` allocate; the others receive a new `Vec` per order.
fn cycle_run(which: usize, n: u64) -> Duration {
    fn ids<M: Marketplace<u64>>(m: &M, n: u64) -> Duration {
        let p = m.register_producer_id();
        let cart = m.new_cart_id();
        let start = Instant::now();
        for _ in 0..n {
            m.publish(p, black_box(42)).unwrap();
            assert!(m.add_to_cart(cart, black_box(&42)).unwrap());
            black_box(m.place_order(cart).unwrap());
        }
        start.elapsed()
    }
    fn ids_into<M: Marketplace<u64>>(m: &M, n: u64) -> Duration {
        let p = m.register_producer_id();
        let cart = m.new_cart_id();
        let mut out = Vec::new();
        let start = Instant::now();
        for _ in 0..n {
            m.publish(p, black_box(42)).unwrap();
            assert!(m.add_to_cart(cart, black_box(&42)).unwrap());
            m.place_order_into(cart, &mut out).unwrap();
            black_box(&mut out).clear();
        }
        start.elapsed()
    }
    match which {
        0 => handles_cycle(n),
        1 => ids(&Market::new(8).unwrap(), n),
        2 => ids(&MutexMarket::new(8).unwrap(), n),
        3 => ids(&HashMapMarket::new(8), n),
        4 => ids(&DashMapMarket::new(8), n),
        6 => ids(&SpscFedMarket::new(8, 1), n),
        7 => handles_cycle_into(n),
        8 => ids_into(&MutexMarket::new(8).unwrap(), n),
        _ => {
            let queue = ArrayQueue::new(8);
            let start = Instant::now();
            for _ in 0..n {
                queue.push(black_box(42_u64)).unwrap();
                black_box(queue.pop().unwrap());
            }
            start.elapsed()
        }
    }
}

/// As `handles_cycle`, but ordering with `place_order_into` into one `Vec`, cleared after each
/// order: no allocation per cycle.
fn handles_cycle_into(n: u64) -> Duration {
    let market = Market::new(8).unwrap();
    let mut p = market.register_producer();
    let mut cart = market.new_cart();
    let mut out = Vec::new();
    let start = Instant::now();
    for _ in 0..n {
        p.publish(black_box(42_u64)).unwrap();
        assert!(cart.add(black_box(&42)));
        cart.place_order_into(&mut out);
        black_box(&mut out).clear();
    }
    start.elapsed()
}

/// Nanoseconds per unit of `n`.
fn per(time: Duration, n: u64) -> f64 {
    time.as_nanos() as f64 / n as f64
}

/// `num[i] / den[i]` for each round `i`.
fn ratios(num: &[f64], den: &[f64]) -> Vec<f64> {
    num.iter().zip(den).map(|(n, d)| n / d).collect()
}

/// The alternating comparison: `rounds` rounds; in each, every contender runs once on every
/// case (in an order that rotates from round to round), so that the contenders of a round see
/// much the same machine. Prints, per case, the median time of each contender and the median
/// of the per-round ratios (> 1: `Market` faster), with how many rounds `Market` won.
fn alternating(rounds: usize) {
    /// Items per producer in one run of the mix, and cycles in one run of the cycle: runs of
    /// a few milliseconds.
    const ITEMS: u64 = 100_000;
    const CYCLES: u64 = 200_000;
    println!("load average at start: {}", common::load_average());
    println!(
        "{rounds} alternating rounds; medians of ns per item per producer (mix) or per cycle, \
         and of per-round ratios (contender time / Market time, > 1: Market faster)"
    );
    println!(
        "{:<28} {:>6} {:>7} {:>6} {:>7} {:>7} {:>7} {:>13} {:>15} {:>15} {:>15} {:>15}",
        "case",
        "ids",
        "handles",
        "Mutex",
        "HashMap",
        "DashMap",
        "SpscFed",
        "Mutex ÷ ids/h",
        "HashMap ÷ ids/h",
        "DashMap ÷ ids/h",
        "SpscFed ÷ ids/h",
        "won ids/h (M H D S)"
    );
    let mut cases = Vec::new();
    // `... -- alternating ROUNDS cycle`: the single-thread cycle alone.
    let cycle_only = std::env::args().any(|a| a == "cycle");
    for threads in common::bench_threads(&THREADS)
        .into_iter()
        .filter(|_| !cycle_only)
    {
        for products in [1u64, 16, 1024] {
            for queue in [8usize, 1024] {
                cases.push((threads, products, queue));
            }
        }
    }
    let n = MIX.len();
    for &(threads, products, queue) in &cases {
        let mut ns = common::rotate(rounds, n, |which| {
            per(mix_run(which, threads, products, queue, ITEMS), ITEMS)
        });
        let won = |r: &[f64]| r.iter().filter(|&&x| x > 1.0).count();
        // Each peer (MutexMarket, HashMapMarket, DashMapMarket, SpscFedMarket) over Market's ids and
        // handles: the medians of the per-round ratios, and the rounds Market won.
        let (mut over, mut wins) = (String::new(), Vec::new());
        for peer in 2..n {
            let (mut i, mut h) = (ratios(&ns[peer], &ns[0]), ratios(&ns[peer], &ns[1]));
            wins.push(format!("{}/{}", won(&i), won(&h)));
            let width = if peer == 2 { 6 } else { 7 };
            over += &format!(
                " {:>width$.2}/{:<width$.2}",
                common::median(&mut i),
                common::median(&mut h)
            );
        }
        let times: String = ns
            .iter_mut()
            .zip([6, 7, 6, 7, 7, 7])
            .fold(String::new(), |acc, (xs, width)| {
                acc + &format!(" {:>width$.0}", common::median(xs))
            });
        println!(
            "{:<28}{times}{over} {:>11} of {rounds}",
            format!("{threads}+{threads} products{products} queue{queue}"),
            wins.join(" "),
        );
    }
    let mut ns = common::rotate(rounds, CYCLE.len(), |which| {
        per(cycle_run(which, CYCLES), CYCLES)
    });
    let mut over_queue = ratios(&ns[0], &ns[5]);
    let mut mutex_over = ratios(&ns[2], &ns[0]);
    let mut map_over = ratios(&ns[3], &ns[0]);
    let mut dash_over = ratios(&ns[4], &ns[0]);
    let mut fed_over = ratios(&ns[6], &ns[0]);
    let mut into_over_queue = ratios(&ns[7], &ns[5]);
    let mut mutex_into_over = ratios(&ns[8], &ns[7]);
    println!(
        "single-thread cycle: Market handles {:.1} ns, ids {:.1}, MutexMarket {:.1}, \
         HashMapMarket {:.1}, DashMapMarket {:.1}, SpscFedMarket {:.1}, \
         ArrayQueue push+pop {:.1}; Market handles ÷ ArrayQueue {:.2}, \
         MutexMarket ÷ Market {:.2}, HashMapMarket ÷ Market {:.2}, \
         DashMapMarket ÷ Market {:.2}, SpscFedMarket ÷ Market {:.2} \
         (medians of per-round ratios)",
        common::median(&mut ns[0]),
        common::median(&mut ns[1]),
        common::median(&mut ns[2]),
        common::median(&mut ns[3]),
        common::median(&mut ns[4]),
        common::median(&mut ns[6]),
        common::median(&mut ns[5]),
        common::median(&mut over_queue),
        common::median(&mut mutex_over),
        common::median(&mut map_over),
        common::median(&mut dash_over),
        common::median(&mut fed_over),
    );
    println!(
        "single-thread cycle, ordering into one Vec: Market handles {:.1} ns, MutexMarket {:.1}; \
         Market handles ÷ ArrayQueue {:.2}, MutexMarket ÷ Market {:.2} \
         (medians of per-round ratios)",
        common::median(&mut ns[7]),
        common::median(&mut ns[8]),
        common::median(&mut into_over_queue),
        common::median(&mut mutex_into_over),
    );
    println!("load average at end: {}", common::load_average());
}

/// The scaling mode's cases: the mix at products 1 (every thread on one product) and 1024
/// (threads spread over many), queue 1024, for each count of thread pairs.
fn scaling_cases(threads: &[usize]) -> Vec<common::Case> {
    // Items per producer in one run: a few milliseconds to a few hundred, depending on the
    // contender and the machine (`SCALING_QUICK` cuts it for a check of the tooling).
    let items: u64 = if std::env::var_os("SCALING_QUICK").is_some() {
        2_000
    } else {
        100_000
    };
    let mut cases = Vec::new();
    for &t in threads {
        for products in [1u64, 1024] {
            cases.push(common::Case {
                name: format!("products{products}/queue1024"),
                threads: t,
                contenders: &MIX,
                mutex: 2,
                run: Box::new(move |which| {
                    (t as u64 * items, mix_run(which, t, products, 1024, items))
                }),
            });
        }
    }
    cases
}

/// Checks `SpscFedMarket` before it is measured: 2,000 random operations (2 producers with
/// 2 items on sale each, 2 carts, 3 products) in lock-step with the model, the choice of
/// producer each reservation made replayed into the model and every count compared after
/// every operation; then the mix with 2 thread pairs on rings of 1 and 8 slots. Panics on the
/// first difference.
fn check_spsc_fed() {
    let (m, mut model) = (SpscFedMarket::new(2, 2), Model::new(2).unwrap());
    let producers = [m.register_producer_id(), m.register_producer_id()];
    let carts = [m.new_cart_id(), m.new_cart_id()];
    for _ in 0..2 {
        model.register_producer();
        model.new_cart();
    }
    let counts = |m: &SpscFedMarket| -> Vec<usize> {
        m.stats().on_sale.into_iter().map(|(_, n)| n).collect()
    };
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for step in 0..2_000 {
        // xorshift64: a fixed sequence of operations, the same on every run.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (who, x) = ((seed >> 8) as usize % 2, (seed >> 16) % 3);
        match seed % 5 {
            0 | 1 => {
                let got = m.publish(producers[who], x).map_err(|e| match e {
                    PublishError::Full(x) => x,
                    e => panic!("step {step}: {e:?}"),
                });
                assert_eq!(got, model.publish(who, x).map_err(|e| e.0), "step {step}");
            }
            2 => {
                let before = counts(&m);
                let got = m.add_to_cart(carts[who], &x).unwrap();
                let after = counts(&m);
                let from = (0..2).find(|&p| after[p] < before[p]);
                let want = model.add_to_cart_chosen(who, &x, |_, p| Some(p) == from);
                assert_eq!(want, Ok(got), "step {step}: reserved {x} from {from:?}");
            }
            3 => {
                let got = m.remove_from_cart(carts[who], &x).unwrap();
                assert_eq!(got, model.remove_from_cart(who, &x), "step {step}");
            }
            _ => {
                let got = m.place_order(carts[who]).unwrap();
                assert_eq!(got, model.place_order(who), "step {step}");
            }
        }
        let want: Vec<usize> = (0..2).map(|p| model.on_sale_of(p)).collect();
        assert_eq!(counts(&m), want, "step {step}: items on sale per producer");
    }
    for queue in [1, 8] {
        mix_ids(SpscFedMarket::new(queue, 2), 2, 3, 2_000);
    }
}

/// `cargo bench --bench market -- alternating [ROUNDS] [cycle]` runs the alternating comparison
/// (with `cycle`, only its single-thread cycle) and
/// `... -- scaling THREADS_LIST OUT.csv [ROUNDS]` the scaling runs instead of the criterion
/// benchmarks; every mode first checks `SpscFedMarket` (see [`check_spsc_fed`]).
fn main() {
    let scaling = common::Scaling {
        structure: "market",
        cases: scaling_cases,
    };
    check_spsc_fed();
    common::main(15, alternating, Some(scaling), benches);
}
