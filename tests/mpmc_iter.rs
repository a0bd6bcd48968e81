//! Iterating a channel's consumer: `iter` (blocking), `try_iter` (what is there now), and
//! `IntoIterator` for the handle and for a reference to it.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ringmarket::mpmc::{channel, PushError};

/// Runs `f` on a thread and returns its result, or fails the test if it has not returned
/// within a minute: a bound on a hang (a blocking call that should not block), not a timing.
fn without_hanging<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, result) = mpsc::channel();
    thread::spawn(move || done.send(f()).unwrap());
    result
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{what} did not return: {e}"))
}

/// The values of producer `p` (each producer's values are distinct from the others').
fn values(p: u64, n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(move |i| p * 1_000_000 + i)
}

#[test]
fn iter_ends_after_the_last_producer_is_dropped_and_every_value_was_received() {
    let (producers, per_producer) = (3, if cfg!(miri) { 20 } else { 2_000 });
    let (tx, rx) = channel::<u64>(4).unwrap();
    let got = without_hanging("iter after the last producer left", move || {
        let senders: Vec<_> = (0..producers)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || {
                    values(p, per_producer).for_each(|v| tx.push_wait(v).unwrap())
                })
            })
            .collect();
        drop(tx);
        let got: Vec<u64> = rx.iter().collect();
        // Before joining: an iteration that ended early leaves the producers blocked.
        assert_eq!(
            got.len() as u64,
            producers * per_producer,
            "the iteration ended early"
        );
        for s in senders {
            s.join().unwrap();
        }
        // Closed and drained: the iterator stays ended, and so does a new one.
        let mut it = rx.iter();
        assert_eq!((it.next(), it.next(), rx.iter().next()), (None, None, None));
        got
    });
    let mut got = got;
    got.sort_unstable();
    let mut want: Vec<u64> = (0..producers)
        .flat_map(|p| values(p, per_producer))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want, "values lost or duplicated");
}

#[test]
fn iter_keeps_each_producers_order() {
    let (tx, rx) = channel::<u64>(2).unwrap();
    let n = if cfg!(miri) { 20 } else { 1_000 };
    let producer = thread::spawn(move || values(0, n).for_each(|v| tx.push_wait(v).unwrap()));
    let got: Vec<u64> = without_hanging("iter", move || rx.into_iter().collect());
    producer.join().unwrap();
    assert_eq!(got, values(0, n).collect::<Vec<_>>());
}

#[test]
fn try_iter_does_not_block_on_an_empty_open_channel() {
    let (tx, rx) = channel::<u8>(3).unwrap();
    let (tx, rx) = without_hanging("try_iter on an empty open channel", move || {
        assert_eq!(rx.try_iter().next(), None);
        assert_eq!(rx.try_iter().count(), 0);
        (tx, rx)
    });
    assert!(!rx.is_closed(), "the producer is still there");
    drop(tx);
}

#[test]
fn try_iter_takes_what_is_there_now_and_a_later_call_takes_what_came_since() {
    let (tx, rx) = channel::<u32>(3).unwrap();
    for v in 1..=3 {
        tx.push(v).unwrap();
    }
    let mut now = rx.try_iter();
    assert_eq!(now.next(), Some(1));
    // Not fused: a value pushed after the ring ran dry is yielded by the same iterator.
    assert_eq!(
        (now.next(), now.next(), now.next()),
        (Some(2), Some(3), None)
    );
    tx.push(4).unwrap();
    assert_eq!(now.next(), Some(4));
    assert_eq!(now.next(), None);
    tx.push(5).unwrap();
    drop(tx);
    // Closed: what is left still comes out, then the end.
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [5]);
    assert_eq!(rx.try_iter().next(), None);
}

#[test]
fn several_consumers_iterating_share_out_every_value_once() {
    let producers = 3;
    let per_producer = if cfg!(miri) { 20 } else { 2_000 };
    let (tx, rx) = channel::<u64>(5).unwrap();
    let mut got: Vec<u64> = without_hanging("consumers iterating", move || {
        thread::scope(|s| {
            for p in 0..producers {
                let tx = tx.clone();
                s.spawn(move || values(p, per_producer).for_each(|v| tx.push_wait(v).unwrap()));
            }
            drop(tx);
            // One consumer per kind of iteration: `for v in &rx`, `rx.iter()` and an owned
            // clone's `into_iter`.
            let by_ref = s.spawn(|| {
                let mut got = Vec::new();
                for v in &rx {
                    got.push(v);
                }
                got
            });
            let by_iter = s.spawn(|| rx.iter().collect::<Vec<_>>());
            let owned = rx.clone();
            let by_value = s.spawn(move || owned.into_iter().collect::<Vec<_>>());
            let mut all = Vec::new();
            for c in [by_ref, by_iter, by_value] {
                all.extend(c.join().unwrap());
            }
            all
        })
    });
    got.sort_unstable();
    let mut want: Vec<u64> = (0..producers)
        .flat_map(|p| values(p, per_producer))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want, "values lost or duplicated");
}

#[test]
fn dropping_the_owning_iterator_of_the_last_consumer_disconnects_the_producers() {
    let (tx, rx) = channel::<u8>(2).unwrap();
    tx.push(1).unwrap();
    let mut it = rx.into_iter();
    assert_eq!(it.next(), Some(1));
    assert_eq!(tx.push(2), Ok(()), "the iterator keeps the consumer alive");
    drop(it);
    assert_eq!(tx.push(3), Err(PushError::Disconnected(3)));
}

#[test]
fn the_iterators_are_send() {
    fn send<S: Send>(_: &S) {}
    let (_tx, rx) = channel::<String>(1).unwrap();
    send(&rx.iter());
    send(&rx.try_iter());
    send(&rx.into_iter());
}
