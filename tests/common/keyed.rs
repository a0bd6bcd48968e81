//! The test item that is equal to, and hashed as, every item of the same key: a product, of
//! which each unit carries a serial number that equality and hashing ignore, so that a test
//! can ask for "a unit of product k" and still tell which unit it got.
//!
//! Shared by the library's tests (`mod common;` in `tests/*.rs`) and the lincheck audit
//! (through `#[path]`).

use std::hash::{Hash, Hasher};

/// A unit of product `key`; `serial` tells units of one product apart.
#[derive(Clone, Debug)]
pub struct Keyed<K, S = u64> {
    pub key: K,
    pub serial: S,
}

impl<K: PartialEq, S> PartialEq for Keyed<K, S> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<K: Eq, S> Eq for Keyed<K, S> {}

impl<K: Hash, S> Hash for Keyed<K, S> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.key.hash(h);
    }
}
