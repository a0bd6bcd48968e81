//! The SPSC ring against a bounded `VecDeque`, on real threads: thread 0 is the producer,
//! thread 1 the consumer; single items, chunks and peeks.

use lincheck::specs::{BoundedQueue, QueueOp, QueueRet};
use lincheck::{assert_linearizable_with, Config, Target};
use rand::rngs::StdRng;
use rand::Rng;
use ringmarket::spsc::{self, Consumer, Producer};

/// One side of the ring.
enum Side {
    Producer(Producer<u64>),
    Consumer(Consumer<u64>),
}

struct Ring {
    capacity: usize,
}

impl Target for Ring {
    type Spec = BoundedQueue;
    type Handle = Side;

    fn threads(&self) -> std::ops::RangeInclusive<usize> {
        2..=2
    }

    fn setup(&self, threads: usize) -> (BoundedQueue, Vec<Side>) {
        assert_eq!(threads, 2);
        let (p, c) = spsc::ring(self.capacity).unwrap();
        (
            BoundedQueue::new(self.capacity),
            vec![Side::Producer(p), Side::Consumer(c)],
        )
    }

    fn gen_op(&self, rng: &mut StdRng, thread: usize) -> QueueOp {
        let value = |rng: &mut StdRng| rng.random_range(0..1_000_000_u64);
        if thread == 0 {
            if rng.random_bool(0.7) {
                QueueOp::Push(value(rng))
            } else {
                let n = rng.random_range(1..=self.capacity.min(3));
                QueueOp::PushAll((0..n).map(|_| value(rng)).collect())
            }
        } else {
            match rng.random_range(0..10) {
                0..=5 => QueueOp::Pop,
                6..=8 => QueueOp::PopBatch(rng.random_range(1..=3)),
                _ => QueueOp::Peek,
            }
        }
    }

    fn apply(&self, side: &mut Side, op: &QueueOp) -> QueueRet {
        match (side, op) {
            (Side::Producer(p), QueueOp::Push(v)) => match p.push(*v) {
                Ok(()) => QueueRet::Pushed,
                Err(_) => QueueRet::Full,
            },
            (Side::Producer(p), QueueOp::PushAll(values)) => match p.write_chunk(values.len()) {
                Ok(chunk) => {
                    assert_eq!(chunk.fill_from_slice(values), values.len());
                    QueueRet::Pushed
                }
                Err(_) => QueueRet::Full,
            },
            (Side::Consumer(c), QueueOp::Pop) => match c.pop() {
                Ok(v) => QueueRet::Popped(v),
                Err(_) => QueueRet::Empty,
            },
            (Side::Consumer(c), QueueOp::PopBatch(n)) => {
                let chunk = c.read_chunk(*n);
                let (a, b) = chunk.as_slices();
                let values: Vec<u64> = a.iter().chain(b).copied().collect();
                chunk.commit_all();
                QueueRet::PoppedBatch(values)
            }
            (Side::Consumer(c), QueueOp::Peek) => QueueRet::Peeked(c.peek().ok().copied()),
            (_, op) => panic!("{op:?} generated for the wrong side"),
        }
    }
}

#[test]
fn spsc_ring_is_linearizable() {
    let mut c = Config::from_env();
    c.scenarios = c.scenarios.div_ceil(3);
    for capacity in 1..=3 {
        c.seed = c.seed.wrapping_add(1);
        assert_linearizable_with(&format!("spsc capacity {capacity}"), &Ring { capacity }, &c);
    }
}
