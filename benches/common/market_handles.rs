// The mix's sides for `Market`'s handles, shared with the side-by-side comparison of two
// revisions (`scripts/bench-ab/main.rs`), which includes this file in a module where
// `ringmarket` names the revision and `Seller`, `Shopper` and `black_box` are in scope.

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
