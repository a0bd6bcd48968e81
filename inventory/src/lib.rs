//! The inventory service: `ringmarket-inventory serve` and `ringmarket-inventory client`.
//!
//! A server keeps an inventory (items by UPC, with a name and units left) and its users, and
//! sells to logged-in clients over TCP with the line protocol of [`protocol`]
//! (`docs/PROTOCOL.md`). Purchases are atomic and durable before they are acknowledged
//! ([`store`]); passwords are held only as Argon2id hashes ([`users`]).

pub mod client;
mod connection;
mod handle;
pub mod local;
pub mod protocol;
pub mod server;
pub mod slots;
pub mod store;
pub mod throttle;
pub mod users;
