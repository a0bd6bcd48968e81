//! Random sequences of single and batch operations on one ring, checked step by step against
//! a `VecDeque` of the same capacity.

use std::collections::VecDeque;
use std::mem::MaybeUninit;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use ringmarket::spsc::{self, TooFewSlots};
use ringmarket::{Empty, Full};

#[derive(Clone, Debug)]
enum Op {
    Push,
    Pop,
    Peek,
    /// `write_chunk(n)` filled from an iterator of `k` items.
    FillIter {
        n: usize,
        k: usize,
    },
    /// `write_chunk(n)` filled from a slice of `k` items.
    FillSlice {
        n: usize,
        k: usize,
    },
    /// `write_chunk(n)`, `k` slots written by hand, then `commit(k)` (or dropped if `k > n`).
    WriteRaw {
        n: usize,
        k: usize,
    },
    /// `read_chunk(max)`, its slices checked, then `commit(n)` (or dropped if `n > len`).
    Commit {
        max: usize,
        n: usize,
    },
    /// `read_chunk(max)` popped through its iterator, `take` items at most.
    Drain {
        max: usize,
        take: usize,
    },
}

fn op(capacity: usize) -> impl Strategy<Value = Op> {
    let n = 0..=capacity + 1;
    prop_oneof![
        3 => Just(Op::Push),
        3 => Just(Op::Pop),
        1 => Just(Op::Peek),
        2 => (n.clone(), n.clone()).prop_map(|(n, k)| Op::FillIter { n, k }),
        1 => (n.clone(), n.clone()).prop_map(|(n, k)| Op::FillSlice { n, k }),
        1 => (n.clone(), n.clone()).prop_map(|(n, k)| Op::WriteRaw { n, k }),
        2 => (n.clone(), n.clone()).prop_map(|(max, n)| Op::Commit { max, n }),
        2 => (n.clone(), n).prop_map(|(max, take)| Op::Drain { max, take }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Op>)> {
    prop_oneof![4 => 1_usize..=5, 1 => Just(16)]
        .prop_flat_map(|capacity| (Just(capacity), prop::collection::vec(op(capacity), 0..60)))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 6 } else { 1000 },
        failure_persistence: if cfg!(miri) {
            None
        } else {
            Some(Box::new(FileFailurePersistence::WithSource(
                "proptest-regressions",
            )))
        },
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ring_matches_vecdeque((capacity, ops) in scenario()) {
        // Heap-owning items, so that a lost, duplicated or double-dropped item shows up under
        // Miri as well as in the comparisons.
        let (mut p, mut c) = spsc::ring::<String>(capacity).unwrap();
        let mut model: VecDeque<String> = VecDeque::with_capacity(capacity);
        let mut next = 0_u32;
        let mut fresh = |k: usize| -> Vec<String> {
            (0..k).map(|_| { next += 1; next.to_string() }).collect()
        };

        for op in ops {
            let free = capacity - model.len();
            match op {
                Op::Push => {
                    let item = fresh(1).pop().unwrap();
                    if free > 0 {
                        prop_assert_eq!(p.push(item.clone()), Ok(()));
                        model.push_back(item);
                    } else {
                        prop_assert_eq!(p.push(item.clone()), Err(Full(item)));
                    }
                }
                Op::Pop => prop_assert_eq!(c.pop(), model.pop_front().ok_or(Empty)),
                Op::Peek => prop_assert_eq!(c.peek(), model.front().ok_or(Empty)),
                Op::FillIter { n, k } | Op::FillSlice { n, k } => {
                    let items = fresh(k);
                    match p.write_chunk(n) {
                        Err(TooFewSlots(reported)) => {
                            prop_assert!(n > free);
                            prop_assert_eq!(reported, free);
                        }
                        Ok(chunk) => {
                            prop_assert!(n <= free);
                            prop_assert_eq!(chunk.len(), n);
                            let written = if matches!(op, Op::FillIter { .. }) {
                                chunk.fill_from_iter(items.iter().cloned())
                            } else {
                                chunk.fill_from_slice(&items)
                            };
                            prop_assert_eq!(written, n.min(k));
                            model.extend(items.into_iter().take(written));
                        }
                    }
                }
                Op::WriteRaw { n, k } => {
                    if let Ok(mut chunk) = p.write_chunk(n) {
                        let items = fresh(k.min(n));
                        let (a, b) = chunk.as_mut_slices();
                        prop_assert_eq!(a.len() + b.len(), n);
                        for (slot, item) in a.iter_mut().chain(b).zip(&items) {
                            *slot = MaybeUninit::new(item.clone());
                        }
                        if k <= n {
                            // SAFETY: the first `k` slots were written just above.
                            unsafe { chunk.commit(k) };
                            model.extend(items);
                        } else {
                            // Dropped uncommitted: the ring forgets the written clones, as
                            // documented; drop them here so nothing leaks.
                            let (a, b) = chunk.as_mut_slices();
                            for slot in a.iter_mut().chain(b) {
                                // SAFETY: every reserved slot was written above (k > n).
                                unsafe { slot.assume_init_drop() };
                            }
                        }
                    } else {
                        prop_assert!(n > free);
                    }
                }
                Op::Commit { max, n } => {
                    let chunk = c.read_chunk(max);
                    let len = max.min(model.len());
                    prop_assert_eq!(chunk.len(), len);
                    let (a, b) = chunk.as_slices();
                    let seen: Vec<&String> = a.iter().chain(b).collect();
                    let expected: Vec<&String> = model.iter().take(len).collect();
                    prop_assert_eq!(seen, expected);
                    if n <= len {
                        chunk.commit(n);
                        model.drain(..n);
                    }
                }
                Op::Drain { max, take } => {
                    let len = max.min(model.len());
                    let taken: Vec<String> = c.read_chunk(max).into_iter().take(take).collect();
                    let expected: Vec<String> = model.drain(..len.min(take)).collect();
                    prop_assert_eq!(taken, expected);
                }
            }
            prop_assert_eq!(p.len(), model.len());
            prop_assert_eq!(c.len(), model.len());
            prop_assert_eq!(p.slots(), capacity - model.len());
            prop_assert_eq!(c.slots(), model.len());
            prop_assert_eq!(p.is_full(), model.len() == capacity);
            prop_assert_eq!(c.is_full(), model.len() == capacity);
            prop_assert_eq!(p.is_empty(), model.is_empty());
            prop_assert_eq!(c.is_empty(), model.is_empty());
        }
        let rest: Vec<String> = c.read_chunk(capacity).into_iter().collect();
        prop_assert_eq!(rest, Vec::from(model));
    }
}
