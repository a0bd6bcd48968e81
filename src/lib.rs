//! Lock-free bounded rings and a producer/consumer marketplace.
//!
//! - [`Market`]: producers publish items into bounded shelves of their own; carts reserve any
//!   on-sale item *equal* to the one they ask for, return items and place orders. Lock-free,
//!   with blocking waits ([`market::Cart::add_wait`], [`market::Producer::publish_wait`]) and,
//!   with the `async` feature, futures. The id API is the [`Marketplace`] trait, also
//!   implemented by the one-lock [`baseline::MutexMarket`].
//! - [`spsc`]: a bounded wait-free single-producer single-consumer ring with chunks.
//! - [`mpmc`]: a bounded lock-free multi-producer multi-consumer ring, and a channel on it.
//! - [`model`]: the sequential specification of the market that the tests check against.
//!
//! ```
//! use ringmarket::Market;
//!
//! let market = Market::new(8).unwrap(); // at most 8 items on sale per producer
//! let mut producer = market.register_producer();
//! let mut cart = market.new_cart();
//! producer.publish("tea").unwrap();
//! assert!(cart.add(&"tea"));
//! assert_eq!(cart.place_order(), vec!["tea"]);
//! ```
//!
//! Each structure's design and correctness argument is in the repository's `docs/` folder;
//! the README has an example per structure and the benchmark figures.
//!
//! # Features
//!
//! - `async`: `market::AddFuture` and `market::PublishFuture` (`Cart::add_async`,
//!   `Producer::publish_async`), built on `std::task` only, for any executor.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[allow(unused_imports, dead_code)]
mod sync;

pub mod baseline;
mod error;
pub mod market;
pub mod model;
pub mod mpmc;
pub mod spsc;
mod wait;

pub use error::{Empty, Full, ZeroCapacity};
pub use market::{CartId, Market, Marketplace, ProducerId};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
