// The market mix of `benches/market.rs`, shared with the side-by-side comparison of two
// revisions (`scripts/bench-ab/main.rs`), which includes this file: the includer provides
// `Arc`, `Barrier`, `Duration`, `Instant` and `thread` in scope.

/// How a thread of the mix waits when it cannot go on (a producer full, a consumer finding
/// nothing): the same for every contender. While every thread has a core of its own it spins
/// `spin_limit` times, then yields; when the threads outnumber the cores (4+4 threads on a
/// 2-core machine) spinning only burns the time slice the thread it waits for needs, so it
/// yields at once.
#[derive(Clone, Copy)]
struct Backoff {
    spin_limit: u32,
}

impl Backoff {
    fn for_threads(threads: usize) -> Self {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            spin_limit: if threads > cores { 0 } else { 64 },
        }
    }

    #[inline]
    fn wait(self, spins: &mut u32) {
        if *spins < self.spin_limit {
            *spins += 1;
            std::hint::spin_loop();
        } else {
            *spins = 0;
            thread::yield_now();
        }
    }
}

/// A producer's side of the mix, whatever the API.
trait Seller: Send + 'static {
    /// Publishes `item`, handing it back when full.
    fn sell(&mut self, item: u64) -> Result<(), u64>;
}

/// A consumer's side of the mix, whatever the API.
trait Shopper: Send + 'static {
    fn add(&mut self, item: &u64) -> bool;
    fn remove(&mut self, item: &u64) -> bool;
    fn order(&mut self) -> usize;
}

/// One timed run of the mix: `sellers.len()` producers and as many consumers, `iters` items
/// each. Every producer publishes products `0, 1, 2, ... (mod products)`; every consumer
/// wants the same sequence, so each product is published and wanted once per thread pair.
/// A consumer retries (with back-off) until it gets the product it wants, returns every
/// tenth item it got (and then wants it again), and orders every four items.
fn mix<S: Seller, C: Shopper>(
    sellers: Vec<S>,
    shoppers: Vec<C>,
    products: u64,
    iters: u64,
) -> Duration {
    let threads = sellers.len();
    let backoff = Backoff::for_threads(2 * threads);
    let barrier = Arc::new(Barrier::new(2 * threads + 1));
    let mut handles = Vec::new();
    for mut seller in sellers {
        let barrier = barrier.clone();
        handles.push(thread::spawn(move || {
            barrier.wait();
            let mut spins = 0;
            for n in 0..iters {
                let mut item = n % products;
                while let Err(back) = seller.sell(item) {
                    item = back;
                    backoff.wait(&mut spins);
                }
            }
            0
        }));
    }
    for mut shopper in shoppers {
        let barrier = barrier.clone();
        handles.push(thread::spawn(move || {
            barrier.wait();
            let (mut got, mut ordered, mut spins) = (0u64, 0, 0);
            let mut n = 0;
            while n < iters {
                let want = n % products;
                if !shopper.add(&want) {
                    backoff.wait(&mut spins);
                    continue;
                }
                got += 1;
                if got % 10 == 0 {
                    assert!(shopper.remove(&want));
                    continue;
                }
                n += 1;
                if n % 4 == 0 {
                    ordered += shopper.order();
                }
            }
            ordered + shopper.order()
        }));
    }
    barrier.wait();
    let start = Instant::now();
    let ordered: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let elapsed = start.elapsed();
    assert_eq!(ordered as u64, threads as u64 * iters, "items lost");
    elapsed
}
