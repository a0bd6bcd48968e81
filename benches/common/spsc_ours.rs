// The SPSC transfer loops of `ringmarket::spsc` in `benches/spsc.rs`, shared with the
// side-by-side comparison of two revisions (`scripts/bench-ab/main.rs`), which includes this
// file in a module where `ringmarket` names the revision and `BATCH`, `black_box` and `wait`
// are in scope.

use ringmarket::spsc::{Consumer, Producer, TooFewSlots};

pub fn produce_single(mut p: Producer<u64>, n: u64) {
    for i in 0..n {
        let mut spins = 0;
        while p.push(i).is_err() {
            wait(&mut spins);
        }
    }
}

pub fn consume_single(mut c: Consumer<u64>, n: u64) -> u64 {
    let mut sum = 0;
    for _ in 0..n {
        let mut spins = 0;
        loop {
            if let Ok(item) = c.pop() {
                sum += black_box(item);
                break;
            }
            wait(&mut spins);
        }
    }
    sum
}

/// Reserves 64 slots (fewer at the end) or, when there are not that many, all the free
/// ones: the cached head answers the first question without touching the consumer's line.
pub fn produce_batch(mut p: Producer<u64>, n: u64) {
    let mut next = 0;
    let mut spins = 0;
    while next < n {
        let want = BATCH.min((n - next) as usize);
        let chunk = match p.write_chunk(want) {
            Ok(chunk) => chunk,
            Err(TooFewSlots(0)) => {
                wait(&mut spins);
                continue;
            }
            Err(TooFewSlots(free)) => p.write_chunk(free).unwrap(),
        };
        spins = 0;
        next += chunk.fill_from_iter(next..n) as u64;
    }
}

pub fn consume_batch(mut c: Consumer<u64>, n: u64) -> u64 {
    let (mut sum, mut got, mut spins) = (0, 0, 0);
    while got < n {
        let chunk = c.read_chunk(BATCH);
        if chunk.is_empty() {
            wait(&mut spins);
            continue;
        }
        spins = 0;
        got += chunk.len() as u64;
        for item in chunk {
            sum += black_box(item);
        }
    }
    sum
}
