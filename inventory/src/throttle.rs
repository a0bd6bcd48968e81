//! Failed-login throttling across connections: per (user, source address) and per address.
//!
//! A failed login puts its (user, address) pair in a back-off that doubles with each failure,
//! and spends one unit of the address's budget of failures (a token bucket that refills
//! continuously). A login is refused without hashing while its pair is in back-off or its
//! address has spent its budget. Keying the back-off on the pair, not on the user alone,
//! means that a flood against a user from one address never locks that user out from
//! another; the address budget means a flood spread over many user names from one address
//! costs at most that many hashes. IPv6 addresses count by their /64 prefix, the block a
//! single host usually holds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Entries kept per map before those no longer throttling anything are dropped.
const PRUNE_AT: usize = 4096;
/// Entries kept per map at most: beyond this (after pruning) new ones are not recorded, so
/// memory stays bounded whatever a flood does; the address budget still applies to known
/// addresses and the hashing limit to everyone.
const MAX_ENTRIES: usize = 100_000;

/// The settings of a [`Throttle`].
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    /// Back-off after the first failure of a (user, address) pair; doubles with each failure.
    pub backoff: Duration,
    /// The longest back-off.
    pub max_backoff: Duration,
    /// Failed logins an address may make at once (the bucket's size); it refills at this many
    /// per minute. `0` turns the address budget off.
    pub per_address_per_minute: u32,
}

#[derive(Debug)]
struct Pair {
    failures: u32,
    /// No login for this pair before this instant.
    until: Instant,
}

#[derive(Debug)]
struct Bucket {
    /// Failures left, in `0 ..= per_address_per_minute`.
    tokens: f64,
    updated: Instant,
}

/// Failed-login bookkeeping shared by every connection of a server.
#[derive(Debug)]
pub struct Throttle {
    limits: ThrottleLimits,
    state: std::sync::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    pairs: HashMap<(String, IpAddr), Pair>,
    addresses: HashMap<IpAddr, Bucket>,
}

/// The address a client counts as, for throttling and connection caps: `ip` itself, or its
/// /64 prefix for IPv6 (an IPv4 address mapped into IPv6 counts as the IPv4 address).
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & (!0u128 << 64)).into()),
        },
    }
}

impl Throttle {
    /// A throttle with nothing recorded yet.
    pub fn new(limits: ThrottleLimits) -> Throttle {
        Throttle {
            limits,
            state: std::sync::Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every critical section leaves the maps consistent, also when it panics.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn capacity(&self) -> f64 {
        f64::from(self.limits.per_address_per_minute)
    }

    /// Refills `bucket` for the time elapsed up to `now`.
    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.capacity() / 60.0).min(self.capacity());
        bucket.updated = now;
    }

    /// Whether a login of `user` from `ip` may be checked now; if so, it takes one failure
    /// from the address's budget in advance (so that logins checked at the same time cannot
    /// overspend it), which [`Throttle::succeeded`] gives back.
    ///
    /// # Errors
    ///
    /// The wait, when the pair is in back-off or the address has spent its budget.
    pub fn check(&self, user: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let ip = address_key(ip);
        let capacity = self.capacity();
        let mut state = self.state();
        let state = &mut *state;
        if let Some(pair) = state.pairs.get(&(user.to_owned(), ip)) {
            let wait = pair.until.saturating_duration_since(now);
            if !wait.is_zero() {
                return Err(wait);
            }
        }
        if self.limits.per_address_per_minute == 0 {
            return Ok(());
        }
        if state.addresses.len() >= PRUNE_AT {
            state.addresses.retain(|_, bucket| {
                let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
                bucket.tokens + elapsed * capacity / 60.0 < capacity
            });
        }
        if state.addresses.len() >= MAX_ENTRIES && !state.addresses.contains_key(&ip) {
            return Ok(());
        }
        let bucket = state.addresses.entry(ip).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        self.refill(bucket, now);
        if bucket.tokens < 1.0 {
            let refill = (1.0 - bucket.tokens) * 60.0 / capacity;
            return Err(Duration::from_secs_f64(refill));
        }
        bucket.tokens -= 1.0;
        Ok(())
    }

    /// Records a failed login of `user` from `ip` (checked with [`Throttle::check`]).
    pub fn failed(&self, user: &str, ip: IpAddr, now: Instant) {
        let ip = address_key(ip);
        let limits = self.limits;
        let mut state = self.state();
        if state.pairs.len() >= PRUNE_AT {
            state.pairs.retain(|_, pair| pair.until > now);
        }
        let pair_key = (user.to_owned(), ip);
        if state.pairs.len() >= MAX_ENTRIES && !state.pairs.contains_key(&pair_key) {
            return;
        }
        let pair = state.pairs.entry(pair_key).or_insert(Pair {
            failures: 0,
            until: now,
        });
        pair.failures = pair.failures.saturating_add(1);
        let doublings = (pair.failures - 1).min(16);
        pair.until = now
            + limits
                .backoff
                .saturating_mul(1 << doublings)
                .min(limits.max_backoff);
    }

    /// Records a successful login of `user` from `ip` (checked with [`Throttle::check`]): the
    /// pair's back-off ends and the address gets back what the check took from its budget.
    pub fn succeeded(&self, user: &str, ip: IpAddr) {
        let ip = address_key(ip);
        let capacity = self.capacity();
        let mut state = self.state();
        state.pairs.remove(&(user.to_owned(), ip));
        if let Some(bucket) = state.addresses.get_mut(&ip) {
            bucket.tokens = (bucket.tokens + 1.0).min(capacity);
        }
    }

    /// Gives back what [`Throttle::check`] took when the login was not checked after all
    /// (its connection closed first).
    pub fn unchecked(&self, ip: IpAddr) {
        let capacity = self.capacity();
        if let Some(bucket) = self.state().addresses.get_mut(&address_key(ip)) {
            bucket.tokens = (bucket.tokens + 1.0).min(capacity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32) -> ThrottleLimits {
        ThrottleLimits {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            per_address_per_minute: per_minute,
        }
    }

    #[test]
    fn pairs_back_off_without_locking_out_other_addresses() {
        let throttle = Throttle::new(limits(0));
        let (attacker, owner): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let now = Instant::now();
        assert_eq!(throttle.check("alice", attacker, now), Ok(()));
        throttle.failed("alice", attacker, now);
        assert_eq!(
            throttle.check("alice", attacker, now + Duration::from_secs(1)),
            Ok(())
        );
        throttle.failed("alice", attacker, now);
        assert_eq!(
            throttle.check("alice", attacker, now),
            Err(Duration::from_secs(2))
        );
        assert_eq!(throttle.check("alice", owner, now), Ok(()));
        assert_eq!(throttle.check("bob", attacker, now), Ok(()));
        assert_eq!(
            throttle.check("alice", attacker, now + Duration::from_secs(2)),
            Ok(())
        );
        throttle.succeeded("alice", attacker);
        assert_eq!(throttle.check("alice", attacker, now), Ok(()));
    }

    #[test]
    fn an_address_spends_its_budget_across_users_and_it_refills() {
        let throttle = Throttle::new(limits(3));
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let same_host: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        let now = Instant::now();
        for user in ["a", "b", "c"] {
            assert_eq!(throttle.check(user, same_host, now), Ok(()));
            throttle.failed(user, same_host, now);
        }
        assert_eq!(throttle.check("z", ip, now), Err(Duration::from_secs(20)));
        assert_eq!(
            throttle.check("z", "2001:db9::1".parse().unwrap(), now),
            Ok(())
        );
        assert_eq!(
            throttle.check("z", ip, now + Duration::from_secs(20)),
            Ok(())
        );
    }
}
