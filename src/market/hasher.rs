//! The hasher that files items into the index's buckets.

use core::hash::Hasher;

/// A fast, per-market-seeded hasher for bucket selection (not used for anything that an
/// adversary's collisions could break: equal items are always compared with `Eq`).
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    /// A hasher started from the market's `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Mixes in one word: a folded multiply (the 128-bit product's halves xored), whose every
    /// output bit depends on every input bit; one multiplication per word.
    #[inline]
    fn add(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * u128::from(0x9E37_79B9_7F4A_7C15_u64);
        self.0 = product as u64 ^ (product >> 64) as u64;
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap_or_default()));
        }
        let rest = chunks.remainder();
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(buf) ^ ((bytes.len() as u64) << 56));
    }
    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // Every word went through `add`, whose low (bucket) bits depend on all its input.
        self.0
    }
}
