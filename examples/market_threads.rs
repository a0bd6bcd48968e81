//! A market with producer and consumer threads that use the blocking waits: producers wait
//! for room with `publish_wait`, carts wait for a product with `add_wait`, and closing the
//! market ends the waits that are left.
//!
//! Run with `cargo run --example market_threads`.

use std::thread;

use ringmarket::market::WaitError;
use ringmarket::Market;

const PRODUCTS: [&str; 3] = ["tea", "coffee", "cocoa"];
const PER_PRODUCT: usize = 200;

fn main() {
    // Each producer may have at most 2 items on sale at once.
    let market = Market::new(2).expect("2 is not zero");

    let orders: Vec<Vec<&str>> = thread::scope(|s| {
        for product in PRODUCTS {
            let mut producer = market.register_producer();
            s.spawn(move || {
                for _ in 0..PER_PRODUCT {
                    // Sleeps while this producer is at its limit, until a cart takes one.
                    producer
                        .publish_wait(product)
                        .expect("the market stays open");
                }
            });
        }
        let shoppers: Vec<_> = PRODUCTS
            .iter()
            .map(|product| {
                let mut cart = market.new_cart();
                s.spawn(move || {
                    let mut orders = Vec::new();
                    for _ in 0..PER_PRODUCT {
                        // Sleeps until some producer publishes this product.
                        cart.add_wait(product).expect("the market stays open");
                        if cart.items().len() == 10 {
                            orders.extend(cart.place_order());
                        }
                    }
                    orders.extend(cart.place_order());
                    // Nothing more of it will come: closing the market ends this wait.
                    let last = cart.add_wait(product);
                    assert_eq!(last, Err(WaitError::Closed));
                    orders
                })
            })
            .collect();
        // Every product sold out: wait for the shoppers' last orders, then close the market
        // so that each shopper's final wait ends.
        while market.stats().ordered < (PRODUCTS.len() * PER_PRODUCT) as u64 {
            thread::yield_now();
        }
        market.close();
        shoppers
            .into_iter()
            .map(|s| s.join().expect("a shopper does not panic"))
            .collect()
    });

    for (product, got) in PRODUCTS.iter().zip(&orders) {
        println!(
            "market_threads: the {product} shopper ordered {} items",
            got.len()
        );
        assert_eq!(got.len(), PER_PRODUCT);
        assert!(got.iter().all(|x| x == product));
    }
    let stats = market.stats();
    println!(
        "market_threads: {} ordered, {} left on sale, {} in carts",
        stats.ordered,
        stats.total_on_sale(),
        stats.in_carts
    );
    assert_eq!(stats.ordered, (PRODUCTS.len() * PER_PRODUCT) as u64);
    assert_eq!((stats.total_on_sale(), stats.in_carts), (0, 0));
}
