#![doc = include_str!("../README.md")]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[allow(unused_imports, dead_code)]
mod sync;

pub mod spsc;

mod error;
pub use error::{Empty, Full, ZeroCapacity};

pub mod baseline;
pub mod market;
pub mod model;
pub mod mpmc;
mod wait;
pub use market::{CartId, Market, Marketplace, ProducerId};
