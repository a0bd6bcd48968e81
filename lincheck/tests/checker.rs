//! The checker on hand-made histories: it must accept the linearizable ones and reject the
//! others (a checker that accepted everything would fail here).

use lincheck::specs::{Bins, BinsOp, BoundedQueue, QueueOp, QueueRet};
use lincheck::{check, Checker, History, Spec, Verdict};

use QueueOp::{Pop, Push};
use QueueRet::{Empty, Full, Popped, Pushed};

type H = History<QueueOp, QueueRet>;

fn q(cap: usize) -> BoundedQueue {
    BoundedQueue::new(cap)
}

/// Replays a witness order through the specification and checks that it explains every
/// response and respects real time.
fn assert_witness<S: Spec>(init: &S, h: &History<S::Op, S::Ret>, verdict: &Verdict) {
    let Verdict::Linearizable { order } = verdict else {
        panic!("expected linearizable, got {verdict:?}\n{}", h.table());
    };
    assert_eq!(order.len(), h.ops.len());
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..h.ops.len()).collect::<Vec<_>>(),
        "each operation once"
    );
    for (a, &i) in order.iter().enumerate() {
        for &j in &order[a + 1..] {
            assert!(
                !h.ops[j].precedes(&h.ops[i]),
                "witness breaks real-time order"
            );
        }
    }
    // Some choice of outcomes along the order must give every recorded response.
    fn replay<S: Spec>(s: &S, h: &History<S::Op, S::Ret>, rest: &[usize]) -> bool {
        let Some((&i, rest)) = rest.split_first() else {
            return true;
        };
        s.step(&h.ops[i].op)
            .into_iter()
            .any(|(r, next)| r == h.ops[i].ret && replay(&next, h, rest))
    }
    assert!(replay(init, h, order), "witness does not replay");
}

fn yes(init: &BoundedQueue, h: &H) {
    let v = check(init, h);
    assert_witness(init, h, &v);
}

fn no(init: &BoundedQueue, h: &H) {
    let v = check(init, h);
    assert_eq!(v, Verdict::NotLinearizable, "\n{}", h.table());
}

#[test]
fn empty_history_is_linearizable() {
    yes(&q(1), &History::default());
}

#[test]
fn sequential_fifo_is_linearizable() {
    yes(
        &q(2),
        &History::from_tuples([
            (0, Push(1), Pushed, 0, 1),
            (0, Push(2), Pushed, 2, 3),
            (0, Push(3), Full, 4, 5),
            (1, Pop, Popped(1), 6, 7),
            (1, Pop, Popped(2), 8, 9),
            (1, Pop, Empty, 10, 11),
        ]),
    );
}

#[test]
fn sequential_lifo_is_not() {
    no(
        &q(2),
        &History::from_tuples([
            (0, Push(1), Pushed, 0, 1),
            (0, Push(2), Pushed, 2, 3),
            (1, Pop, Popped(2), 4, 5),
        ]),
    );
}

#[test]
fn pop_overlapping_its_push_is_linearizable() {
    yes(
        &q(1),
        &History::from_tuples([(0, Push(7), Pushed, 0, 3), (1, Pop, Popped(7), 1, 2)]),
    );
}

#[test]
fn pop_before_the_push_is_called_is_not() {
    no(
        &q(1),
        &History::from_tuples([(1, Pop, Popped(7), 0, 1), (0, Push(7), Pushed, 2, 3)]),
    );
}

#[test]
fn value_popped_twice_is_not() {
    no(
        &q(4),
        &History::from_tuples([
            (0, Push(5), Pushed, 0, 1),
            (1, Pop, Popped(5), 2, 5),
            (2, Pop, Popped(5), 3, 4),
        ]),
    );
}

#[test]
fn value_lost_is_not() {
    // The push completed, then two sequential pops: the first must see it.
    no(
        &q(4),
        &History::from_tuples([(0, Push(5), Pushed, 0, 1), (1, Pop, Empty, 2, 3)]),
    );
    // But an Empty that overlaps the push is fine.
    yes(
        &q(4),
        &History::from_tuples([(0, Push(5), Pushed, 0, 3), (1, Pop, Empty, 1, 2)]),
    );
}

#[test]
fn concurrent_pushes_in_either_order() {
    for (first, second) in [(1, 2), (2, 1)] {
        yes(
            &q(4),
            &History::from_tuples([
                (0, Push(1), Pushed, 0, 3),
                (1, Push(2), Pushed, 1, 2),
                (2, Pop, Popped(first), 4, 5),
                (2, Pop, Popped(second), 6, 7),
            ]),
        );
    }
}

#[test]
fn spurious_full_is_not() {
    // Capacity 1; the value was popped (and the pop returned) before the second push began.
    no(
        &q(1),
        &History::from_tuples([
            (0, Push(1), Pushed, 0, 1),
            (1, Pop, Popped(1), 2, 3),
            (0, Push(2), Full, 4, 5),
        ]),
    );
    // Overlapping the pop, Full is allowed.
    yes(
        &q(1),
        &History::from_tuples([
            (0, Push(1), Pushed, 0, 1),
            (1, Pop, Popped(1), 2, 5),
            (0, Push(2), Full, 3, 4),
        ]),
    );
}

#[test]
fn batches() {
    use QueueOp::{PopBatch, PushAll, PushBatch};
    use QueueRet::{PoppedBatch, PushedBatch};
    // A batch pop may take fewer values than are there, but always the oldest, in order.
    yes(
        &q(4),
        &History::from_tuples([
            (0, PushBatch(vec![1, 2]), PushedBatch(2), 0, 1),
            (1, PopBatch(4), PoppedBatch(vec![1]), 2, 3),
        ]),
    );
    no(
        &q(4),
        &History::from_tuples([
            (0, PushBatch(vec![1, 2]), PushedBatch(2), 0, 1),
            (1, PopBatch(4), PoppedBatch(vec![2]), 2, 3),
        ]),
    );
    // An all-or-nothing push overlapping a batch pop: the pop sees all of it, or a prefix of
    // it, never a value from its middle without the ones before.
    yes(
        &q(4),
        &History::from_tuples([
            (0, PushAll(vec![1, 2]), Pushed, 0, 3),
            (1, PopBatch(4), PoppedBatch(vec![1, 2]), 1, 2),
        ]),
    );
    no(
        &q(4),
        &History::from_tuples([
            (0, PushAll(vec![1, 2]), Pushed, 0, 3),
            (1, PopBatch(4), PoppedBatch(vec![2]), 1, 2),
        ]),
    );
    // An all-or-nothing push that does not fit changes nothing.
    no(
        &q(2),
        &History::from_tuples([
            (0, Push(1), Pushed, 0, 1),
            (0, PushAll(vec![2, 3]), Full, 2, 3),
            (1, Pop, Popped(1), 4, 5),
            (1, Pop, Popped(2), 6, 7),
        ]),
    );
}

#[test]
fn nondeterministic_choices_are_all_explored() {
    let init = Bins(vec![0, 0]);
    // TakeAny must have taken from bin 1 for the later Take(0) to succeed and Take(1) to fail:
    // a checker that only tried the first allowed outcome (bin 0) would reject this.
    let h = History::from_tuples([
        (0, BinsOp::Put(0), true, 0, 1),
        (0, BinsOp::Put(1), true, 2, 3),
        (1, BinsOp::TakeAny, true, 4, 5),
        (1, BinsOp::Take(0), true, 6, 7),
        (1, BinsOp::Take(1), false, 8, 9),
    ]);
    let v = check(&init, &h);
    assert_witness(&init, &h, &v);
    // Three successful takes from two items is impossible whatever the choices.
    let h = History::from_tuples([
        (0, BinsOp::Put(0), true, 0, 1),
        (0, BinsOp::Put(1), true, 2, 3),
        (1, BinsOp::TakeAny, true, 4, 9),
        (2, BinsOp::TakeAny, true, 5, 8),
        (3, BinsOp::TakeAny, true, 6, 7),
    ]);
    assert_eq!(check(&init, &h), Verdict::NotLinearizable);
}

#[test]
fn running_out_of_budget_is_a_failure() {
    // Twelve overlapping pushes of distinct values then pops in an order that is wrong only at
    // the end: the search has to try many orders.
    let mut ops = Vec::new();
    for i in 0..12 {
        ops.push((i as usize, Push(i), Pushed, i, 100 + i));
    }
    for i in 0..12 {
        let v = if i == 11 { 0 } else { i };
        ops.push((20, Pop, Popped(v), 200 + 2 * i, 201 + 2 * i));
    }
    let h = History::from_tuples(ops);
    let tight = Checker {
        max_nodes: 10,
        ..Checker::default()
    };
    let v = tight.check(&q(16), &h);
    assert!(matches!(v, Verdict::Inconclusive { .. }), "{v:?}");
    assert!(!v.is_linearizable());
    // A smaller instance of the same shape is decided within the default budget.
    let mut ops = Vec::new();
    for i in 0..6 {
        ops.push((i as usize, Push(i), Pushed, i, 100 + i));
    }
    for i in 0..6 {
        let v = if i == 5 { 0 } else { i };
        ops.push((20, Pop, Popped(v), 200 + 2 * i, 201 + 2 * i));
    }
    assert_eq!(
        check(&q(16), &History::from_tuples(ops)),
        Verdict::NotLinearizable
    );
}

#[test]
fn malformed_histories_are_failures() {
    let h = History::from_tuples([(0, Push(1), Pushed, 5, 4)]);
    assert!(matches!(check(&q(1), &h), Verdict::Malformed { .. }));
    let h = History::from_tuples([(0, Push(1), Pushed, 0, 3), (0, Push(2), Pushed, 1, 2)]);
    assert!(matches!(check(&q(4), &h), Verdict::Malformed { .. }));
}

#[test]
fn long_histories_are_decided() {
    // 2,000 sequential operations, and 6 threads pushing at once then popping at once.
    let mut ops = Vec::new();
    let mut t = 0;
    for i in 0..1_000 {
        ops.push((0, Push(i), Pushed, t, t + 1));
        ops.push((0, Pop, Popped(i), t + 2, t + 3));
        t += 4;
    }
    yes(&q(1), &History::from_tuples(ops));
    let mut ops = Vec::new();
    for i in 0..6 {
        ops.push((i as usize, Push(i), Pushed, i, 100));
    }
    for i in 0..6 {
        ops.push((i as usize, Pop, Popped(5 - i), 200 + i, 300));
    }
    yes(&q(16), &History::from_tuples(ops.clone()));
    // The same with one value popped twice must be rejected.
    ops[6].2 = Popped(0);
    ops[7].2 = Popped(0);
    no(&q(16), &History::from_tuples(ops));
}

#[test]
fn table_names_every_thread_and_operation() {
    let h = History::from_tuples([(0, Push(7), Pushed, 0, 3), (1, Pop, Popped(7), 1, 2)]);
    let t = h.table();
    assert!(t.contains("thread 0") && t.contains("thread 1"), "{t}");
    assert!(t.contains("Push(7) -> Pushed [0, 3]"), "{t}");
    assert!(t.contains("Pop -> Popped(7) [1, 2]"), "{t}");
}

#[test]
fn market_spec_explores_which_producer_a_reserve_took() {
    use lincheck::specs::{MarketOp as M, MarketRet as R, MarketSpec};
    // Limit 1. Producers 0 and 1 each publish product 5; cart 2 reserves one. Producer 1 can
    // then publish again only if the reserve took ITS item: the checker must find that choice.
    let init = MarketSpec::new(1, 3);
    let h = History::from_tuples([
        (0, (0, M::Publish(5)), R::Published, 0, 1),
        (1, (1, M::Publish(5)), R::Published, 2, 3),
        (2, (2, M::Add(5)), R::Found(true), 4, 5),
        (1, (1, M::Publish(6)), R::Published, 6, 7),
        (0, (0, M::Publish(6)), R::Full, 8, 9),
    ]);
    let v = check(&init, &h);
    assert_witness(&init, &h, &v);
    // Both producers publishing again after one reserve is impossible.
    let h = History::from_tuples([
        (0, (0, M::Publish(5)), R::Published, 0, 1),
        (1, (1, M::Publish(5)), R::Published, 2, 3),
        (2, (2, M::Add(5)), R::Found(true), 4, 5),
        (1, (1, M::Publish(6)), R::Published, 6, 7),
        (0, (0, M::Publish(6)), R::Published, 8, 9),
    ]);
    assert_eq!(check(&init, &h), Verdict::NotLinearizable);
    // Two carts cannot both reserve the only item, even at once.
    let h = History::from_tuples([
        (0, (0, M::Publish(5)), R::Published, 0, 1),
        (1, (1, M::Add(5)), R::Found(true), 2, 5),
        (2, (2, M::Add(5)), R::Found(true), 3, 4),
    ]);
    assert_eq!(check(&init, &h), Verdict::NotLinearizable);
    // A returned item goes back under its producer; an order lists what is left, in order.
    let h = History::from_tuples([
        (0, (0, M::Publish(5)), R::Published, 0, 1),
        (0, (0, M::Publish(6)), R::Full, 2, 3),
        (1, (1, M::Add(5)), R::Found(true), 4, 5),
        (0, (0, M::Publish(6)), R::Published, 6, 7),
        (1, (1, M::Add(6)), R::Found(true), 8, 9),
        (1, (1, M::Remove(5)), R::Found(true), 10, 11),
        (0, (0, M::Publish(7)), R::Full, 12, 13),
        (1, (1, M::Order), R::Ordered(vec![6]), 14, 15),
    ]);
    let v = check(&init, &h);
    assert_witness(&init, &h, &v);
    let mut bad = h.clone();
    bad.ops[7].ret = R::Ordered(vec![5, 6]);
    assert_eq!(check(&init, &bad), Verdict::NotLinearizable);
}
