//! The MPMC ring and channel against a bounded `VecDeque`, on real threads.

use std::sync::Arc;

use lincheck::specs::{BoundedQueue, QueueOp, QueueRet};
use lincheck::{assert_linearizable_with, Config, Target};
use rand::rngs::StdRng;
use rand::Rng;
use ringmarket::mpmc::{self, PopError, PushError, Ring};

fn gen(rng: &mut StdRng) -> QueueOp {
    if rng.random_bool(0.5) {
        QueueOp::Push(rng.random_range(0..1_000_000))
    } else {
        QueueOp::Pop
    }
}

/// The bare ring, shared by every thread.
struct RingTarget {
    capacity: usize,
}

impl Target for RingTarget {
    type Spec = BoundedQueue;
    type Handle = Arc<Ring<u64>>;

    fn setup(&self, threads: usize) -> (BoundedQueue, Vec<Self::Handle>) {
        let ring = Arc::new(Ring::new(self.capacity).unwrap());
        (BoundedQueue::new(self.capacity), vec![ring; threads])
    }

    fn gen_op(&self, rng: &mut StdRng, _thread: usize) -> QueueOp {
        gen(rng)
    }

    fn apply(&self, ring: &mut Self::Handle, op: &QueueOp) -> QueueRet {
        match op {
            QueueOp::Push(v) => match ring.push(*v) {
                Ok(()) => QueueRet::Pushed,
                Err(_) => QueueRet::Full,
            },
            QueueOp::Pop => match ring.pop() {
                Ok(v) => QueueRet::Popped(v),
                Err(_) => QueueRet::Empty,
            },
            _ => unreachable!("not generated"),
        }
    }
}

/// The channel: every thread holds a producer and a consumer clone.
struct ChannelTarget {
    capacity: usize,
}

impl Target for ChannelTarget {
    type Spec = BoundedQueue;
    type Handle = (mpmc::Producer<u64>, mpmc::Consumer<u64>);

    fn setup(&self, threads: usize) -> (BoundedQueue, Vec<Self::Handle>) {
        let (tx, rx) = mpmc::channel(self.capacity).unwrap();
        let handles = (0..threads).map(|_| (tx.clone(), rx.clone())).collect();
        (BoundedQueue::new(self.capacity), handles)
    }

    fn gen_op(&self, rng: &mut StdRng, _thread: usize) -> QueueOp {
        gen(rng)
    }

    fn apply(&self, (tx, rx): &mut Self::Handle, op: &QueueOp) -> QueueRet {
        match op {
            QueueOp::Push(v) => match tx.push(*v) {
                Ok(()) => QueueRet::Pushed,
                Err(PushError::Full(_)) => QueueRet::Full,
                Err(PushError::Disconnected(_)) => panic!("every thread holds a consumer"),
            },
            QueueOp::Pop => match rx.pop() {
                Ok(v) => QueueRet::Popped(v),
                Err(PopError::Empty) => QueueRet::Empty,
                Err(PopError::Closed) => panic!("every thread holds a producer"),
            },
            _ => unreachable!("not generated"),
        }
    }
}

/// The configured scenarios, shared between capacities 1, 2 and 3 (full, empty and
/// wrap-around all happen within five operations a thread).
fn share(parts: usize) -> Config {
    let mut c = Config::from_env();
    c.scenarios = c.scenarios.div_ceil(parts);
    c
}

#[test]
fn mpmc_ring_is_linearizable() {
    let mut c = share(3);
    for capacity in 1..=3 {
        c.seed = c.seed.wrapping_add(1);
        assert_linearizable_with(
            &format!("mpmc::Ring capacity {capacity}"),
            &RingTarget { capacity },
            &c,
        );
    }
}

#[test]
fn mpmc_channel_is_linearizable() {
    // The channel adds counting and wake-ups around the same ring: a smaller share.
    let mut c = share(3);
    c.scenarios = c.scenarios.div_ceil(4);
    for capacity in 1..=3 {
        c.seed = c.seed.wrapping_add(1);
        assert_linearizable_with(
            &format!("mpmc::channel capacity {capacity}"),
            &ChannelTarget { capacity },
            &c,
        );
    }
}
