// `ringmarket::spsc` as a contender of `benches/spsc.rs`, shared with the side-by-side
// comparison of two revisions (`scripts/bench-ab/main.rs`), which includes this file in a
// module where `ringmarket` names the revision and `BATCH`, `black_box`, `SpscContender` and
// `new_ring` (the revision's ring of a capacity, as its two ends) are in scope.

use ringmarket::spsc::{Consumer, Producer, TooFewSlots};

/// The SPSC ring of `ringmarket`.
pub struct Ours;

impl SpscContender for Ours {
    type P = Producer<u64>;
    type C = Consumer<u64>;

    fn make(capacity: usize) -> (Producer<u64>, Consumer<u64>) {
        new_ring(capacity)
    }

    #[inline]
    fn try_push(p: &mut Producer<u64>, item: u64) -> bool {
        p.push(item).is_ok()
    }

    #[inline]
    fn try_pop(c: &mut Consumer<u64>) -> Option<u64> {
        c.pop().ok()
    }

    /// Reserves all of `next .. end` or, when there are not that many slots free, all the free
    /// ones: the cached head answers the first question without touching the consumer's line.
    #[inline]
    fn push_batch(p: &mut Producer<u64>, next: u64, end: u64) -> u64 {
        let chunk = match p.write_chunk((end - next) as usize) {
            Ok(chunk) => chunk,
            Err(TooFewSlots(0)) => return 0,
            Err(TooFewSlots(free)) => p.write_chunk(free).unwrap(),
        };
        chunk.fill_from_iter(next..end) as u64
    }

    /// Reads up to [`BATCH`] items in one chunk.
    #[inline]
    fn pop_batch(c: &mut Consumer<u64>, sum: &mut u64) -> u64 {
        let chunk = c.read_chunk(BATCH);
        if chunk.is_empty() {
            return 0;
        }
        let got = chunk.len() as u64;
        for item in chunk {
            *sum += black_box(item);
        }
        got
    }
}
