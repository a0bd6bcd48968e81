//! The market's futures (cargo feature `async`), driven by a small hand-written executor:
//! a cart's `add_async` resolves when a producer on another thread publishes, and a
//! producer's `publish_async` resolves when a reservation frees room.
//!
//! Run with `cargo run --example market_async --features async`.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use ringmarket::market::WaitError;
use ringmarket::Market;

/// Wakes the thread that runs the future.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread, parking between polls until it is woken.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

fn main() {
    const ROUNDS: u32 = 100;
    let market = Market::new(1).expect("1 is not zero");
    let mut producer = market.register_producer();
    let mut cart = market.new_cart();

    // A cart's future, woken by publishes made on another thread.
    let seller = thread::spawn(move || {
        for i in 0..ROUNDS {
            // The producer's future: resolves once the cart has taken the previous item.
            block_on(producer.publish_async(i)).expect("the market stays open");
        }
        producer
    });
    let mut got = Vec::new();
    for i in 0..ROUNDS {
        block_on(cart.add_async(&i)).expect("the market stays open");
        got.extend(cart.place_order());
    }
    let producer = seller.join().expect("the seller does not panic");
    println!(
        "market_async: the cart awaited and ordered {} items",
        got.len()
    );
    assert_eq!(got, (0..ROUNDS).collect::<Vec<_>>());

    // Closing the market resolves a future that could otherwise never be resolved.
    let waiter = thread::spawn(move || block_on(cart.add_async(&ROUNDS)));
    market.close();
    let closed = waiter.join().expect("the waiter does not panic");
    println!(
        "market_async: a future for an item never published resolved to {closed:?} at the close"
    );
    assert_eq!(closed, Err(WaitError::Closed));
    drop(producer);
}
