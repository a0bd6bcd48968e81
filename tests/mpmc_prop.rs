//! Random operation sequences on `mpmc::Ring` and `mpmc::channel`, in lock-step with a
//! `VecDeque` of the same capacity.

use std::collections::VecDeque;

use proptest::prelude::*;
use ringmarket::mpmc::{channel, PopError, PushError, Ring};
use ringmarket::Empty;

#[derive(Clone, Debug)]
enum Op {
    Push(u16),
    Pop,
    Len,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u16>().prop_map(Op::Push),
        3 => Just(Op::Pop),
        1 => Just(Op::Len),
    ]
}

/// 256 cases natively; under Miri a handful, and no regression file (Miri's isolation forbids
/// the file system access it needs).
fn config() -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(4)
        }
    } else {
        ProptestConfig::with_cases(256)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ring_matches_vecdeque(capacity in 1_usize..9, ops in prop::collection::vec(op(), 0..200)) {
        let ring = Ring::new(capacity).unwrap();
        let mut model = VecDeque::with_capacity(capacity);
        for op in ops {
            match op {
                Op::Push(v) => {
                    let got = ring.push(v).map_err(|full| full.into_inner());
                    if model.len() < capacity {
                        model.push_back(v);
                        prop_assert_eq!(got, Ok(()));
                    } else {
                        prop_assert_eq!(got, Err(v));
                    }
                }
                Op::Pop => prop_assert_eq!(ring.pop(), model.pop_front().ok_or(Empty)),
                Op::Len => {
                    prop_assert_eq!(ring.len(), model.len());
                    prop_assert_eq!(ring.is_full(), model.len() == capacity);
                }
            }
        }
    }

    #[test]
    fn channel_matches_vecdeque_and_closes(
        capacity in 1_usize..6,
        ops in prop::collection::vec(op(), 0..100),
        close_at in 0_usize..100,
    ) {
        let (tx, rx) = channel(capacity).unwrap();
        let mut tx = Some(tx);
        let mut model = VecDeque::new();
        for (i, op) in ops.into_iter().enumerate() {
            if i == close_at {
                tx = None;
            }
            match (op, &tx) {
                (Op::Push(v), Some(tx)) => {
                    let got = tx.push(v);
                    if model.len() < capacity {
                        model.push_back(v);
                        prop_assert_eq!(got, Ok(()));
                    } else {
                        prop_assert_eq!(got, Err(PushError::Full(v)));
                    }
                }
                (Op::Push(_), None) | (Op::Len, _) => prop_assert_eq!(rx.len(), model.len()),
                (Op::Pop, _) => {
                    let want = match model.pop_front() {
                        Some(v) => Ok(v),
                        None if tx.is_none() => Err(PopError::Closed),
                        None => Err(PopError::Empty),
                    };
                    prop_assert_eq!(rx.pop(), want);
                }
            }
        }
    }
}
