//! Waits on an abandoned market: once the waiter's handle is the market's last (every
//! `Market` clone, producer and other cart is gone), nothing can ever end its wait, so it ends
//! at once with the closed error, as a channel's receiver does when the last sender goes. While
//! any other handle lives, it waits as usual.

use std::thread;
use std::time::{Duration, Instant};

use ringmarket::market::{PublishWaitError, WaitError};
use ringmarket::Market;

/// Far beyond the answer a correct wait gives, far below a CI job's limit: a wait that sleeps
/// to its time-out fails the test visibly.
const TIMEOUT: Duration = Duration::from_secs(10);

/// For the waits that must not end early.
const SHORT: Duration = Duration::from_millis(100);

/// Gives a waiter a chance to go to sleep first; the answers do not depend on it (the loom
/// model in `loom-tests/tests/waits.rs` covers both orders).
fn let_it_sleep() {
    thread::sleep(Duration::from_millis(50));
}

/// Runs `wait` on another thread, drops `others` (the other handles) meanwhile, and returns
/// the wait's answer and how long it took.
fn wait_while_dropping<R: Send + 'static>(
    others: impl Send + 'static,
    wait: impl FnOnce() -> R + Send + 'static,
) -> (R, Duration) {
    let start = Instant::now();
    let waiter = thread::spawn(wait);
    let_it_sleep();
    drop(others);
    let r = waiter.join().unwrap();
    (r, start.elapsed())
}

#[test]
fn a_cart_waiting_when_the_last_other_handle_goes_gets_the_closed_error() {
    let market = Market::<u32>::new(1).unwrap();
    let producer = market.register_producer();
    let mut cart = market.new_cart();
    let (r, took) = wait_while_dropping((market, producer), move || cart.add_timeout(&1, TIMEOUT));
    assert_eq!(r, Err(WaitError::Closed));
    assert!(took < TIMEOUT, "it ended before its time-out");
}

#[test]
fn a_producer_waiting_for_room_when_the_last_other_handle_goes_gets_its_item_back() {
    let market = Market::<u32>::new(1).unwrap();
    let cart = market.new_cart();
    let mut p = market.register_producer();
    p.publish(1).unwrap();
    let (r, took) = wait_while_dropping((market, cart), move || p.publish_timeout(2, TIMEOUT));
    assert_eq!(r, Err(PublishWaitError::Closed(2)));
    assert!(took < TIMEOUT);
}

#[test]
fn a_wait_of_the_last_handle_ends_at_once_unless_it_can_succeed() {
    let market = Market::<u32>::new(1).unwrap();
    let mut p = market.register_producer();
    let mut cart = market.new_cart();
    p.publish(7).unwrap();
    drop((market, p));
    // Its item is still on sale: the wait succeeds.
    assert_eq!(cart.add_timeout(&7, TIMEOUT), Ok(()));
    assert_eq!(cart.add_timeout(&8, TIMEOUT), Err(WaitError::Closed));
    // A handle made from the last one is another handle again: waits wait.
    let market = cart.market();
    assert_eq!(cart.add_timeout(&8, SHORT), Err(WaitError::Timeout));
    drop(market);
    assert_eq!(cart.add_timeout(&8, TIMEOUT), Err(WaitError::Closed));
    assert_eq!(cart.place_order(), vec![7]);
}

/// While any other handle lives (a market, a producer, another cart), nothing ends the wait
/// early: those can still publish, return items or make new handles.
#[test]
fn a_wait_does_not_end_early_while_another_handle_lives() {
    type Other = fn(&Market<u32>) -> Box<dyn Send>;
    let others: [Other; 3] = [
        |m| Box::new(m.clone()),
        |m| Box::new(m.register_producer()),
        |m| Box::new(m.new_cart()),
    ];
    for (k, other) in others.into_iter().enumerate() {
        let market = Market::<u32>::new(1).unwrap();
        let mut cart = market.new_cart();
        let mut p = market.register_producer();
        p.publish(1).unwrap();
        let other = other(&market);
        drop(market);
        assert_eq!(cart.add_timeout(&2, SHORT), Err(WaitError::Timeout), "{k}");
        assert_eq!(
            p.publish_timeout(3, SHORT),
            Err(PublishWaitError::Timeout(3)),
            "{k}"
        );
        drop(cart);
        assert_eq!(
            p.publish_timeout(3, SHORT),
            Err(PublishWaitError::Timeout(3)),
            "{k}: the other handle still lives"
        );
        drop(other);
        assert_eq!(
            p.publish_timeout(3, SHORT),
            Err(PublishWaitError::Closed(3))
        );
    }
}

#[cfg(feature = "async")]
mod futures {
    use super::*;
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Polls `f` until it resolves, parking in between, for at most `TIMEOUT`.
    fn block_on<F: Future>(f: F) -> Option<F::Output> {
        let start = Instant::now();
        let mut f = std::pin::pin!(f);
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        while start.elapsed() < TIMEOUT {
            if let Poll::Ready(r) = f.as_mut().poll(&mut cx) {
                return Some(r);
            }
            thread::park_timeout(TIMEOUT);
        }
        None
    }

    #[test]
    fn a_waiting_add_future_resolves_to_closed_when_the_last_other_handle_goes() {
        let market = Market::<u32>::new(1).unwrap();
        let producer = market.register_producer();
        let mut cart = market.new_cart();
        let (r, _) = wait_while_dropping((market, producer), move || block_on(cart.add_async(&1)));
        assert_eq!(
            r,
            Some(Err(WaitError::Closed)),
            "resolved before the time-out"
        );
    }

    #[test]
    fn a_waiting_publish_future_resolves_to_closed_when_the_last_other_handle_goes() {
        let market = Market::<u32>::new(1).unwrap();
        let cart = market.new_cart();
        let mut p = market.register_producer();
        p.publish(1).unwrap();
        let (r, _) = wait_while_dropping((market, cart), move || block_on(p.publish_async(2)));
        assert_eq!(r, Some(Err(PublishWaitError::Closed(2))));
    }
}
