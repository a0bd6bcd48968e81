// The batch size, the wait and the timed run of `benches/spsc.rs`, shared with the
// side-by-side comparison of two revisions (`scripts/bench-ab/main.rs`), which includes this
// file: the includer provides `Barrier`, `Duration`, `Instant` and `thread` in scope.

/// Items per batch in the `batch64` groups.
const BATCH: usize = 64;

/// Waits a little while the other side catches up: spins first, then yields the core (the
/// machine may have fewer free cores than threads). `spins` counts the failed attempts in a
/// row; the spin doubles each time up to 64 (the schedule of `crossbeam_utils::Backoff::snooze`)
/// so that a waiting side does not hammer the cache line the other side is writing.
#[inline]
fn wait(spins: &mut u32) {
    if *spins < 7 {
        for _ in 0..1_u32 << *spins {
            std::hint::spin_loop();
        }
        *spins += 1;
    } else {
        thread::yield_now();
    }
}

/// Runs `produce` on this thread and `consume` on another, timed from a common start.
fn timed<P: Send, C: Send>(
    iters: u64,
    (producer, consumer): (P, C),
    produce: fn(P, u64),
    consume: fn(C, u64) -> u64,
) -> Duration {
    let barrier = Barrier::new(2);
    thread::scope(|s| {
        let barrier = &barrier;
        let handle = s.spawn(move || {
            barrier.wait();
            consume(consumer, iters)
        });
        barrier.wait();
        let start = Instant::now();
        produce(producer, iters);
        let sum = handle.join().unwrap();
        let elapsed = start.elapsed();
        assert_eq!(sum, iters * iters.saturating_sub(1) / 2, "items lost");
        elapsed
    })
}
