// The mix's sides for `Market`'s handles and the single-thread cycle through them, shared
// with the side-by-side comparison of two revisions (`scripts/bench-ab/main.rs`), which
// includes this file in a module where `ringmarket` names the revision and `Seller`,
// `Shopper`, `black_box`, `Duration` and `Instant` are in scope.

/// `Market`'s handle API.
impl Seller for ringmarket::market::Producer<u64> {
    fn sell(&mut self, item: u64) -> Result<(), u64> {
        self.publish(item).map_err(|e| e.into_inner())
    }
}

impl Shopper for ringmarket::market::Cart<u64> {
    fn add(&mut self, item: &u64) -> bool {
        ringmarket::market::Cart::add(self, item)
    }
    fn remove(&mut self, item: &u64) -> bool {
        ringmarket::market::Cart::remove(self, item)
    }
    fn order(&mut self) -> usize {
        black_box(self.place_order()).len()
    }
}

/// `n` single-thread cycles (publish, reserve, place the order) through `Market`'s handles;
/// the set-up is not timed.
pub fn handles_cycle(n: u64) -> Duration {
    let market = ringmarket::market::Market::new(8).unwrap();
    let mut p = market.register_producer();
    let mut cart = market.new_cart();
    let start = Instant::now();
    for _ in 0..n {
        p.publish(black_box(42_u64)).unwrap();
        assert!(cart.add(black_box(&42)));
        black_box(cart.place_order());
    }
    start.elapsed()
}
