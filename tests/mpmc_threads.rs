//! Threaded tests of `ringmarket::mpmc`: exactly-once delivery, per-producer order, closing,
//! waiting without lost wake-ups, and a linearizability check of small histories.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use ringmarket::mpmc::{channel, Closed, PopTimeoutError, Ring};
use ringmarket::Empty;

/// Scales a loop count down under Miri.
fn n(full: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        full
    }
}

/// `producers` threads push `per_producer` tagged values each through a channel of
/// `capacity`; `consumers` threads pop until closed. Checks that every value arrives exactly
/// once and that each consumer sees each producer's values in push order.
fn exactly_once(producers: usize, consumers: usize, capacity: usize, per_producer: usize) {
    let (tx, rx) = channel::<(usize, usize)>(capacity).unwrap();
    let received: Vec<Vec<(usize, usize)>> = thread::scope(|s| {
        for p in 0..producers {
            let tx = tx.clone();
            s.spawn(move || {
                for i in 0..per_producer {
                    tx.push_wait((p, i)).unwrap();
                }
            });
        }
        drop(tx);
        let handles: Vec<_> = (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.pop_wait() {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut seen = vec![vec![false; per_producer]; producers];
    for got in &received {
        let mut last = vec![None; producers];
        for &(p, i) in got {
            assert!(!seen[p][i], "value ({p}, {i}) delivered twice");
            seen[p][i] = true;
            assert!(last[p] < Some(i), "producer {p}'s values out of order");
            last[p] = Some(i);
        }
    }
    assert!(seen.iter().flatten().all(|&s| s), "a value was lost");
    assert_eq!(rx.pop_wait(), Err(Closed));
}

#[test]
fn exactly_once_in_many_shapes() {
    let per = n(20_000, 30);
    exactly_once(1, 1, 1, per);
    exactly_once(2, 2, 1, per / 2);
    exactly_once(7, 3, 100, per / 4);
    exactly_once(1, 5, 3, per);
    exactly_once(4, 4, 7, per / 4);
}

#[test]
fn non_blocking_ring_under_contention() {
    // Bare ring, try-operations in spin loops, four threads each pushing and popping.
    let ring = Ring::new(3).unwrap();
    let per = n(20_000, 50);
    let popped_sum = AtomicU64::new(0);
    let popped = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..4_u64 {
            let (ring, popped_sum, popped) = (&ring, &popped_sum, &popped);
            s.spawn(move || {
                for i in 0..per as u64 {
                    let mut v = t * 1_000_000 + i;
                    while let Err(full) = ring.push(v) {
                        v = full.into_inner();
                        if let Ok(x) = ring.pop() {
                            popped_sum.fetch_add(x, Ordering::Relaxed);
                            popped.fetch_add(1, Ordering::Relaxed);
                        }
                        thread::yield_now();
                    }
                }
            });
        }
    });
    while let Ok(x) = ring.pop() {
        popped_sum.fetch_add(x, Ordering::Relaxed);
        popped.fetch_add(1, Ordering::Relaxed);
    }
    let per = per as u64;
    let want: u64 = (0..4)
        .map(|t| t * 1_000_000 * per + per * (per - 1) / 2)
        .sum();
    assert_eq!(popped.load(Ordering::Relaxed), 4 * per as usize);
    assert_eq!(popped_sum.load(Ordering::Relaxed), want);
}

#[test]
fn a_parked_consumer_is_woken_by_a_push_and_by_the_close() {
    for _ in 0..n(200, 3) {
        let (tx, rx) = channel(1).unwrap();
        let barrier = Barrier::new(2);
        thread::scope(|s| {
            let rx2 = rx.clone();
            let barrier = &barrier;
            let waiter = s.spawn(move || {
                barrier.wait();
                let first = rx2.pop_wait();
                let second = rx2.pop_wait();
                (first, second)
            });
            barrier.wait();
            tx.push_wait(7).unwrap();
            drop(tx);
            assert_eq!(waiter.join().unwrap(), (Ok(7), Err(Closed)));
        });
    }
}

#[test]
fn a_parked_producer_is_woken_by_a_pop() {
    for _ in 0..n(200, 3) {
        let (tx, rx) = channel(1).unwrap();
        tx.push(0).unwrap();
        thread::scope(|s| {
            let waiter = s.spawn(|| tx.push_wait(1));
            thread::sleep(Duration::from_micros(50));
            assert_eq!(rx.pop_wait(), Ok(0));
            assert_eq!(rx.pop_wait(), Ok(1));
            waiter.join().unwrap().unwrap();
        });
    }
}

#[test]
fn timed_pop_returns_a_value_that_arrives_in_time() {
    let (tx, rx) = channel(2).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            tx.push(1).unwrap();
        });
        assert_eq!(rx.pop_timeout(Duration::from_secs(60)), Ok(1));
    });
    assert_eq!(
        rx.pop_timeout(Duration::from_millis(5)),
        Err(PopTimeoutError::Timeout)
    );
}

// ---- linearizability of small histories ------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Call {
    Push(u32),
    Pop,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ret {
    Pushed,
    Full,
    Popped(u32),
    Empty,
}

#[derive(Clone, Copy, Debug)]
struct Event {
    call: Call,
    ret: Ret,
    start: u64,
    end: u64,
}

fn apply(model: &mut VecDeque<u32>, capacity: usize, call: Call) -> Ret {
    match call {
        Call::Push(_) if model.len() == capacity => Ret::Full,
        Call::Push(v) => {
            model.push_back(v);
            Ret::Pushed
        }
        Call::Pop => model.pop_front().map_or(Ret::Empty, Ret::Popped),
    }
}

/// Searches for an order of `history` that respects real time (an operation that ended before
/// another started comes first) and that a sequential `VecDeque` of `capacity` would answer the
/// same way.
fn linearizable(history: &[Event], capacity: usize) -> bool {
    fn search(history: &[Event], done: &mut Vec<bool>, model: &VecDeque<u32>, cap: usize) -> bool {
        if done.iter().all(|&d| d) {
            return true;
        }
        // The earliest end among pending operations bounds which can go next.
        let horizon = history
            .iter()
            .zip(done.iter())
            .filter(|(_, &d)| !d)
            .map(|(e, _)| e.end)
            .min()
            .unwrap();
        for i in 0..history.len() {
            if done[i] || history[i].start > horizon {
                continue;
            }
            let mut next = model.clone();
            if apply(&mut next, cap, history[i].call) != history[i].ret {
                continue;
            }
            done[i] = true;
            if search(history, done, &next, cap) {
                return true;
            }
            done[i] = false;
        }
        false
    }
    search(
        history,
        &mut vec![false; history.len()],
        &VecDeque::new(),
        capacity,
    )
}

#[test]
fn small_histories_are_linearizable() {
    let clock = AtomicU64::new(0);
    for round in 0..n(2_000, 5) {
        let capacity = 1 + round % 2;
        let ring = Ring::new(capacity).unwrap();
        let barrier = Barrier::new(3);
        let histories: Vec<Vec<Event>> = thread::scope(|s| {
            let handles: Vec<_> = (0..3_u32)
                .map(|t| {
                    let (ring, barrier, clock) = (&ring, &barrier, &clock);
                    s.spawn(move || {
                        barrier.wait();
                        let mut events = Vec::new();
                        for k in 0..4_u32 {
                            let call = if (t + k + round as u32) % 2 == 0 {
                                Call::Push(t * 10 + k)
                            } else {
                                Call::Pop
                            };
                            let start = clock.fetch_add(1, Ordering::SeqCst);
                            let ret = match call {
                                Call::Push(v) => match ring.push(v) {
                                    Ok(()) => Ret::Pushed,
                                    Err(_) => Ret::Full,
                                },
                                Call::Pop => match ring.pop() {
                                    Ok(v) => Ret::Popped(v),
                                    Err(Empty) => Ret::Empty,
                                },
                            };
                            let end = clock.fetch_add(1, Ordering::SeqCst);
                            events.push(Event {
                                call,
                                ret,
                                start,
                                end,
                            });
                        }
                        events
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // What is left in the ring is part of the history: drain it as a final pop sequence.
        let mut history: Vec<Event> = histories.into_iter().flatten().collect();
        while let Ok(v) = ring.pop() {
            let t = clock.fetch_add(2, Ordering::SeqCst);
            history.push(Event {
                call: Call::Pop,
                ret: Ret::Popped(v),
                start: t,
                end: t + 1,
            });
        }
        let t = clock.fetch_add(2, Ordering::SeqCst);
        history.push(Event {
            call: Call::Pop,
            ret: Ret::Empty,
            start: t,
            end: t + 1,
        });
        assert!(
            linearizable(&history, capacity),
            "not linearizable: {history:#?}"
        );
    }
}

#[test]
fn the_checker_rejects_a_non_linearizable_history() {
    // A pop that returns a value pushed only after it ended.
    let history = [
        Event {
            call: Call::Pop,
            ret: Ret::Popped(1),
            start: 0,
            end: 1,
        },
        Event {
            call: Call::Push(1),
            ret: Ret::Pushed,
            start: 2,
            end: 3,
        },
    ];
    assert!(!linearizable(&history, 1));
    // "Full" on an empty ring of capacity 1.
    let history = [Event {
        call: Call::Push(1),
        ret: Ret::Full,
        start: 0,
        end: 1,
    }];
    assert!(!linearizable(&history, 1));
}
