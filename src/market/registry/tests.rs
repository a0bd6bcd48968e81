//! Unit tests of the registry: states, reuse, spent entries, the free stack.

use super::*;

#[test]
fn locate_covers_indices_without_gaps() {
    let mut expected = (0, 0);
    for i in 0..1000 {
        let got = locate(i).unwrap();
        assert_eq!(got, expected, "index {i}");
        expected.1 += 1;
        if expected.1 == FIRST << expected.0 {
            expected = (expected.0 + 1, 0);
        }
    }
    assert_eq!(locate(usize::MAX), None);
}

#[test]
fn unknown_and_busy_are_told_apart() {
    let r = Registry::<u8>::new();
    assert!(matches!(r.acquire(0), Err(Refused::Unknown)));
    let (i, _) = r.register(IDLE);
    let e = r.acquire(i).ok().unwrap();
    assert!(matches!(r.acquire(i), Err(Refused::Busy)));
    drop(e); // BUSY -> IDLE
    assert!(r.acquire(i).is_ok());
    let (j, held) = r.register(HELD);
    assert!(matches!(r.acquire(j), Err(Refused::Busy)));
    held.retire();
    assert!(matches!(r.acquire(j), Err(Refused::Unknown)));
    assert_eq!(r.iter().count(), 2);
}

#[test]
fn vacated_entries_are_reused_under_a_new_generation() {
    let r = Registry::<u8>::new();
    let (a, ea) = r.register(HELD);
    let (b, eb) = r.register(HELD);
    assert!(r.recycle(ea, ea.held(), |_| {}));
    let retired = eb.retire();
    assert!(
        !r.recycle(eb, retired ^ (1 << STATE_BITS), |_| {}),
        "another generation"
    );
    assert!(r.recycle(eb, retired, |_| {}));
    assert!(
        !r.recycle(eb, retired, |_| {}),
        "vacated once per generation"
    );
    // LIFO: `b`'s slot first, then `a`'s, then a fresh one.
    let (b2, _) = r.register(IDLE);
    let (a2, _) = r.register(IDLE);
    let (c, _) = r.register(IDLE);
    assert_eq!((b2 & SLOT_MASK, a2 & SLOT_MASK, c), (b, a, 2));
    assert_ne!(a2, a);
    assert_ne!(b2, b);
    for stale in [a, b] {
        assert!(matches!(r.acquire(stale), Err(Refused::Unknown)));
    }
    let busy = r.acquire(a2); // BUSY until dropped
    assert!(busy.is_ok());
    assert!(matches!(r.acquire(a2), Err(Refused::Busy)));
    assert_eq!(r.allocated(), FIRST);
    assert_eq!(r.iter().map(|(id, _)| id).collect::<Vec<_>>(), [a2, b2, c]);
}

#[test]
fn an_entry_is_spent_after_its_last_generation_and_its_ids_never_come_back() {
    let r = Registry::<u8>::new();
    let mut ids = Vec::new();
    let mut slots = Vec::new();
    // Every generation of one slot, then once more: the last vacate spends the entry.
    for _ in 0..=GEN_MASK + 1 {
        let (id, entry) = r.register(HELD);
        ids.push(id);
        slots.push(entry.slot());
        assert!(r.recycle(entry, entry.retire(), |_| {}));
    }
    let first = slots[0];
    assert!(slots[..=GEN_MASK as usize].iter().all(|&s| s == first));
    assert_ne!(
        slots[GEN_MASK as usize + 1],
        first,
        "a spent entry was reused"
    );
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "an id was handed out twice: {ids:?}"
    );
    for &id in &ids {
        assert!(matches!(r.acquire(id), Err(Refused::Unknown)));
    }
    assert_eq!(
        r.iter().count(),
        0,
        "spent and vacant entries are not listed"
    );
    // The spent entry is never handed out, however many ids are asked for.
    let later: Vec<usize> = (0..3 * FIRST).map(|_| r.register(IDLE).1.slot()).collect();
    assert!(!later.contains(&first));
}

#[test]
fn a_pop_held_before_its_compare_exchange_never_hands_out_a_live_entry() {
    let r = Registry::<u8>::new();
    let (_, s) = r.register(HELD);
    let (_, x) = r.register(HELD);
    let (_, y) = r.register(HELD);
    assert!(r.recycle(x, x.held(), |_| {}));
    assert!(r.recycle(s, s.held(), |_| {}));
    // The free stack is `s -> x`; `y` is live. A pop loads `s` and its successor `x`, then
    // waits while others pop `s` and `x`, and push `y` and `s` again: the top names `s`
    // again (with `y` below it) while `x` is live. A tag that counted pushes and pops in
    // as many bits as a generation would be back at its old value now.
    let mut attacked = false;
    let mut live = Vec::new();
    let popped = r.pop_free_with(|| {
        if !std::mem::replace(&mut attacked, true) {
            let (_, s2) = r.register(HELD);
            let (_, x2) = r.register(HELD);
            assert_eq!((s2.slot(), x2.slot()), (s.slot(), x.slot()));
            assert!(r.recycle(y, y.retire(), |_| {}));
            assert!(r.recycle(s2, s2.held(), |_| {}));
            live.push(x2.slot());
        }
    });
    live.push(popped.expect("the stack holds entries").0);
    while live.len() < 4 {
        live.push(r.register(IDLE).1.slot());
    }
    let mut unique = live.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        live.len(),
        "an entry handed out twice: {live:?}"
    );
}
