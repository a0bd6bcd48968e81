//! A bounded multi-producer multi-consumer ring on atomics, with closing and waiting.
//!
//! - [`Ring`]: the lock-free ring itself (Vyukov-style per-slot stamps, any capacity >= 1).
//!   `push -> Result<(), Full<T>>`, `pop -> Result<T, Empty>`, all through `&self`.
//! - [`channel`]: a [`Ring`] behind cloneable [`Producer`] and [`Consumer`] handles that count
//!   themselves out: when the last producer is gone, consumers drain what is left and then learn
//!   [`PopError::Closed`] ("empty for good") rather than [`PopError::Empty`] ("empty for now").
//!   Both sides can wait, blocking (`push_wait`, `pop_wait`) or with a time-out
//!   (`push_timeout`, `pop_timeout`), without losing wake-ups. A consumer is iterated as a
//!   crossbeam-channel `Receiver` is: [`Consumer::iter`] blocks and ends once the channel is
//!   closed and drained, [`Consumer::try_iter`] takes what is there now, and `for v in &rx`
//!   or `for v in rx` work too.
//!
//! # Names
//!
//! Every structure of the crate (the [spsc](crate::spsc) ring, [`Ring`], this channel and the
//! [market](crate::market)) speaks one vocabulary: `push`/`pop` (`publish`/`add` in the
//! market) never block; `*_wait` blocks, with no time-out; `*_timeout(.., Duration)` waits
//! at most that long and fails with a `Timeout` variant; constructors return
//! `Result<_, ZeroCapacity>`. A consumer whose wait can never succeed (every producer gone, the
//! ring drained) learns *closed* ([`PopError::Closed`], [`Closed`],
//! [`PopTimeoutError::Closed`]), as a market's waits do; a producer whose value nobody can ever
//! take (every consumer gone) learns *disconnected* ([`PushError::Disconnected`],
//! [`Disconnected`], [`PushTimeoutError::Disconnected`]).
//!
//! The channel keeps the ring's `push`/`pop` rather than crossbeam-channel's `send`/`recv`: a
//! `push` here never blocks where crossbeam's `send` does, and one name meaning one thing on
//! the ring and on its channel lets code move between the two unchanged. It says *closed*
//! where crossbeam's receiver says *disconnected* because the two states differ here: a
//! channel whose producers are gone is closed at once ([`Consumer::is_closed`]) but still
//! hands out what it holds. For crossbeam-channel users:
//!
//! | crossbeam-channel | here |
//! | --- | --- |
//! | `try_send` → `TrySendError::{Full, Disconnected}` | `push` → [`PushError`]`::{Full, Disconnected}` |
//! | `send` → `SendError` | `push_wait` → [`Disconnected`] |
//! | `send_timeout` → `SendTimeoutError::{Timeout, Disconnected}` | `push_timeout` → [`PushTimeoutError`]`::{Timeout, Disconnected}` |
//! | `try_recv` → `TryRecvError::{Empty, Disconnected}` | `pop` → [`PopError`]`::{Empty, Closed}` |
//! | `recv` → `RecvError` | `pop_wait` → [`Closed`] |
//! | `recv_timeout` → `RecvTimeoutError::{Timeout, Disconnected}` | `pop_timeout` → [`PopTimeoutError`]`::{Timeout, Closed}` |
//! | `iter`, `try_iter`, `for v in &rx`, `for v in rx` | the same |
//! | `Sender`, `Receiver` | [`Producer`], [`Consumer`] |
//!
//! # Examples
//!
//! Seven producers and three consumers through a buffer of 100:
//!
//! ```
//! use ringmarket::mpmc::channel;
//!
//! let (tx, rx) = channel::<u64>(100).unwrap();
//! let total: u64 = std::thread::scope(|s| {
//!     for p in 0..7 {
//!         let tx = tx.clone();
//!         s.spawn(move || for i in 0..200 { tx.push_wait(p * 1000 + i).unwrap() });
//!     }
//!     drop(tx);
//!     let consumers: Vec<_> = (0..3)
//!         .map(|_| {
//!             let rx = rx.clone();
//!             s.spawn(move || rx.iter().sum::<u64>())
//!         })
//!         .collect();
//!     consumers.into_iter().map(|c| c.join().unwrap()).sum()
//! });
//! let expected: u64 = (0..7).map(|p| (0..200).map(|i| p * 1000 + i).sum::<u64>()).sum();
//! assert_eq!(total, expected);
//! ```

mod channel;
mod error;
mod iter;
mod ring;

pub use channel::{channel, Consumer, Producer};
pub use error::{Closed, Disconnected, PopError, PopTimeoutError, PushError, PushTimeoutError};
pub use iter::{IntoIter, Iter, TryIter};
pub use ring::Ring;
