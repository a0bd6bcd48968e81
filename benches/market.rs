//! `ringmarket::Market` against the one-lock `MutexMarket` and a `Mutex<HashMap<T,
//! VecDeque<..>>>` peer, side by side in one run, through the same `Marketplace` code.
//!
//! Threaded groups (`mix/{threads}+{threads}/products{D}/queue{Q}`): `threads` producers each
//! publish their share of the items (product `n % D`), and as many consumers shop: each picks
//! products round-robin from its own starting point, reserves, returns every tenth item it
//! got, and places an order when its cart holds four items or a reservation failed. One
//! criterion iteration is one item published, reserved and ordered per producer; the timer
//! runs from a common `Barrier` until every item has been ordered.
//!
//! `cycle`: one thread doing publish -> reserve -> place order, next to one `ArrayQueue`
//! push + pop pair.
//!
//! ```text
//! cargo bench --bench market -- --warm-up-time 1 --measurement-time 3
//! ```

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use ringmarket::baseline::MutexMarket;
use ringmarket::market::{IdError, PublishError, Stats};
use ringmarket::{CartId, Market, Marketplace, ProducerId};

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

/// Spins a little, then yields the core (4+4 threads oversubscribe a small machine).
#[inline]
fn wait(spins: &mut u32) {
    if *spins < 64 {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        *spins = 0;
        thread::yield_now();
    }
}

/// One timed run of the mix: `threads` producers with `iters` items each, `threads` consumers.
fn mix<M: Marketplace<u64> + 'static>(
    market: Arc<M>,
    threads: usize,
    products: u64,
    iters: u64,
) -> Duration {
    let total = threads as u64 * iters;
    let ordered = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(2 * threads + 1));
    let mut handles = Vec::new();
    for t in 0..threads {
        let (market, barrier) = (market.clone(), barrier.clone());
        let id = market.register_producer_id();
        handles.push(thread::spawn(move || {
            barrier.wait();
            let mut spins = 0;
            for n in 0..iters {
                let mut item = (n + t as u64) % products;
                while let Err(e) = market.publish(id, item) {
                    item = e.into_inner();
                    wait(&mut spins);
                }
            }
        }));
    }
    for t in 0..threads {
        let (market, barrier, ordered) = (market.clone(), barrier.clone(), ordered.clone());
        let cart = market.new_cart_id();
        handles.push(thread::spawn(move || {
            barrier.wait();
            let mut k = (t as u64 * 7919) % products;
            let (mut in_cart, mut got, mut spins) = (0, 0u64, 0);
            while ordered.load(Ordering::Relaxed) < total {
                k = (k + 1) % products;
                let hit = market.add_to_cart(cart, &k).unwrap();
                if hit {
                    got += 1;
                    in_cart += 1;
                    if got % 10 == 0 {
                        assert!(market.remove_from_cart(cart, &k).unwrap());
                        in_cart -= 1;
                    }
                } else {
                    wait(&mut spins);
                }
                if in_cart >= 4 || (!hit && in_cart > 0) {
                    let n = black_box(market.place_order(cart).unwrap()).len();
                    ordered.fetch_add(n as u64, Ordering::Relaxed);
                    in_cart = 0;
                }
            }
        }));
    }
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    assert_eq!(ordered.load(Ordering::Relaxed), total, "items lost");
    elapsed
}

fn threaded(c: &mut Criterion) {
    for threads in [1usize, 2, 4] {
        for products in [1u64, 16, 1024] {
            for queue in [8usize, 1024] {
                let name = format!("mix/{threads}+{threads}/products{products}/queue{queue}");
                let mut g = c.benchmark_group(name);
                g.throughput(Throughput::Elements(threads as u64));
                g.sample_size(10);
                g.bench_function("Market", |b| {
                    b.iter_custom(|iters| {
                        mix(
                            Arc::new(Market::new(queue).unwrap()),
                            threads,
                            products,
                            iters,
                        )
                    })
                });
                g.bench_function("MutexMarket", |b| {
                    b.iter_custom(|iters| {
                        mix(
                            Arc::new(MutexMarket::new(queue).unwrap()),
                            threads,
                            products,
                            iters,
                        )
                    })
                });
                g.bench_function("HashMapMarket", |b| {
                    b.iter_custom(|iters| {
                        mix(
                            Arc::new(HashMapMarket::new(queue)),
                            threads,
                            products,
                            iters,
                        )
                    })
                });
                g.finish();
            }
        }
    }
}

fn cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("cycle");
    g.throughput(Throughput::Elements(1));
    {
        let market = Market::new(8).unwrap();
        let mut p = market.register_producer();
        let mut cart = market.new_cart();
        g.bench_function(BenchmarkId::new("Market", "handles"), |b| {
            b.iter(|| {
                p.publish(black_box(42_u64)).unwrap();
                assert!(cart.add(black_box(&42)));
                black_box(cart.place_order());
            })
        });
    }
    fn ids<M: Marketplace<u64>>(m: &M) -> impl FnMut() + '_ {
        let p = m.register_producer_id();
        let cart = m.new_cart_id();
        move || {
            m.publish(p, black_box(42)).unwrap();
            assert!(m.add_to_cart(cart, black_box(&42)).unwrap());
            black_box(m.place_order(cart).unwrap());
        }
    }
    let market = Market::new(8).unwrap();
    let mut f = ids(&market);
    g.bench_function(BenchmarkId::new("Market", "ids"), |b| b.iter(&mut f));
    let baseline = MutexMarket::new(8).unwrap();
    let mut f = ids(&baseline);
    g.bench_function(BenchmarkId::new("MutexMarket", "ids"), |b| b.iter(&mut f));
    let peer = HashMapMarket::new(8);
    let mut f = ids(&peer);
    g.bench_function(BenchmarkId::new("HashMapMarket", "ids"), |b| b.iter(&mut f));
    let queue = ArrayQueue::new(8);
    g.bench_function("ArrayQueue push+pop", |b| {
        b.iter(|| {
            queue.push(black_box(42_u64)).unwrap();
            black_box(queue.pop().unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, cycle, threaded);
criterion_main!(benches);
