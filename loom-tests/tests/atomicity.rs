//! Atomicity of batch operations: a consumer looking while a batch is published sees none of
//! it or all of it, never a part. (The linearizability stress checks the same on real threads,
//! where the window is too narrow to hit reliably; loom explores every interleaving.)
#![cfg(loom)]

use loom::thread;
use loom_tests::explore;
use ringmarket::spsc;

#[test]
fn a_write_chunk_becomes_visible_whole() {
    let executions = explore(|| {
        let (mut producer, mut consumer) = spsc::ring::<u32>(2).unwrap();
        let writer = thread::spawn(move || {
            let chunk = producer.write_chunk(2).expect("the ring is empty");
            assert_eq!(chunk.fill_from_slice(&[1, 2]), 2);
        });
        let seen: Vec<u32> = {
            let chunk = consumer.read_chunk(2);
            let (a, b) = chunk.as_slices();
            a.iter().chain(b).copied().collect()
        };
        assert!(
            seen.is_empty() || seen == [1, 2],
            "a reader saw {seen:?} of the chunk [1, 2]"
        );
        writer.join().unwrap();
        let all: Vec<u32> = consumer.read_chunk(2).into_iter().collect();
        assert_eq!(all, [1, 2]);
    });
    assert!(executions > 1, "explored {executions} executions");
}
