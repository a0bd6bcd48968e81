//! Steady churn does not grow storage: publish, reserve (with a return now and then) and order,
//! repeated 10^7 times in release builds (10^5 in debug builds, fewer under Miri), with the
//! market's allocated slots (`Stats::slots`) measured after a warm-up and at the end.

use ringmarket::Market;

/// Runs `rounds` churn cycles over `products` products and returns the slots allocated after
/// the first `warm_up` cycles and at the end.
fn churn(rounds: u64, warm_up: u64, products: u64) -> (usize, usize) {
    let market = Market::new(4).unwrap();
    let mut producers = [market.register_producer(), market.register_producer()];
    let mut carts = [market.new_cart(), market.new_cart()];
    let mut warm = 0;
    for i in 0..rounds {
        if i == warm_up {
            warm = market.stats().slots;
        }
        let item = i % products;
        let k = (i % 2) as usize;
        producers[k].publish(item).unwrap();
        producers[1 - k].publish(item + 1).unwrap();
        let cart = &mut carts[k];
        assert!(cart.add(&item));
        assert!(cart.add(&(item + 1)));
        if i % 5 == 0 {
            assert!(cart.remove(&item));
            assert!(cart.add(&item));
        }
        let order = cart.place_order();
        assert_eq!(order.len(), 2);
    }
    let s = market.stats();
    assert_eq!(s.total_on_sale(), 0);
    assert_eq!(s.in_carts, 0);
    assert_eq!(s.ordered, 2 * rounds);
    (warm, s.slots)
}

#[test]
fn churn_keeps_storage_constant() {
    let (rounds, warm_up) = if cfg!(miri) {
        (300, 100)
    } else {
        (100_000, 1_000)
    };
    let (warm, end) = churn(rounds, warm_up, 8);
    assert!(warm > 0);
    assert_eq!(warm, end, "storage grew from {warm} to {end} slots");
}

/// 10^7 cycles: release builds only (`cargo test --release --test market_churn`).
#[test]
#[cfg_attr(
    any(debug_assertions, miri),
    ignore = "10^7 cycles: run in release builds"
)]
fn churn_of_ten_million_cycles_keeps_storage_constant() {
    let (warm, end) = churn(10_000_000, 100_000, 8);
    assert!(warm > 0);
    assert_eq!(warm, end, "storage grew from {warm} to {end} slots");
}
