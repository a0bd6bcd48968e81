#![doc = include_str!("../README.md")]
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
