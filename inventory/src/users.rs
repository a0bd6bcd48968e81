//! Users and their passwords, held only as Argon2id hashes.
//!
//! A users file has one user a line, `<user> <PHC string>`, blank lines and `#` comments
//! allowed. Only Argon2id hashes with at least the OWASP minimum parameters (m = 19 MiB, t = 2,
//! p = 1) and at most m = 1 GiB, t = 64, p = 64 and a 64-byte output are accepted;
//! `ringmarket-inventory serve --print-hash` makes one from a password read on standard input.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::protocol::valid_user;

/// OWASP's minimum Argon2id memory cost, in KiB.
pub const MIN_M_COST: u32 = 19 * 1024;
/// OWASP's minimum Argon2id time cost.
pub const MIN_T_COST: u32 = 2;

/// The largest Argon2id memory cost accepted, in KiB (1 GiB): a login allocates this much.
pub const MAX_M_COST: u32 = 1024 * 1024;
/// The largest Argon2id time cost (passes over the memory) accepted.
pub const MAX_T_COST: u32 = 64;
/// The largest Argon2id parallelism (lanes) accepted.
pub const MAX_P_COST: u32 = 64;
/// The longest Argon2id output accepted, in bytes.
pub const MAX_OUTPUT_LEN: usize = 64;

/// The built-in demo users: precomputed Argon2id hashes (the passwords are in the README).
const DEMO: &[(&str, &str)] = &[
    (
        "alice",
        "$argon2id$v=19$m=19456,t=2,p=1$fTWvYsyLYsIqzn/0AUQ7gg$MigF6a990IObsCrCJHF7pIiRkgJzp9rnBQGBER1OhfQ",
    ),
    (
        "bob",
        "$argon2id$v=19$m=19456,t=2,p=1$1v7tZCoH+/sTFPCtCZM+sA$BHdjYAVvxXbJYTWEg+yWnmJX0SRiHklTa1iJyMb9/4A",
    ),
    (
        "carol",
        "$argon2id$v=19$m=19456,t=2,p=1$AZGPdiE0sRAnkjQyyw90Ug$IDd5dy+5D+Znt/hO/oA+QxApAwYA5J1SZ0wu2SYl1DA",
    ),
];

/// A users file or the demo set could not be loaded.
#[derive(Debug)]
pub struct UsersError(String);

impl fmt::Display for UsersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsersError {}

/// A user's password hash, decoded once from its PHC string.
#[derive(Clone)]
struct Record {
    params: Params,
    version: Version,
    salt: Vec<u8>,
    hash: Output,
}

impl Record {
    fn parse(phc: &str) -> Result<Record, String> {
        check_phc(phc)?;
        let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC string: {e}"))?;
        let params = Params::try_from(&parsed).map_err(|e| format!("bad parameters: {e}"))?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| format!("bad version: {e}"))?
            .unwrap_or_default();
        let mut salt = [0u8; 64];
        let salt = parsed
            .salt
            .ok_or("no salt")?
            .decode_b64(&mut salt)
            .map_err(|e| format!("bad salt: {e}"))?
            .to_vec();
        let hash = parsed.hash.ok_or("no hash")?;
        Ok(Record {
            params,
            version,
            salt,
            hash,
        })
    }

    /// Whether `password` hashes to this record, computed in `memory` (grown as needed and
    /// kept for the next call, so that repeated logins do not allocate).
    fn matches(&self, password: &str, memory: &mut Vec<Block>) -> bool {
        let argon2 = Argon2::new(Algorithm::Argon2id, self.version, self.params.clone());
        let blocks = self.params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        let mut out = [0u8; MAX_OUTPUT_LEN];
        let out = &mut out[..self.hash.len()];
        argon2
            .hash_password_into_with_memory(password.as_bytes(), &self.salt, out, &mut memory[..])
            .ok()
            .and_then(|()| Output::new(out).ok())
            // `Output`'s equality is constant-time.
            .is_some_and(|computed| computed == self.hash)
    }
}

/// The users the server knows: id to Argon2id hash.
#[derive(Clone)]
pub struct Users {
    hashes: HashMap<String, Record>,
    /// Verified against when the user is unknown, so both cases cost the same time.
    decoy: Record,
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.hashes.keys().collect();
        ids.sort();
        f.debug_struct("Users").field("ids", &ids).finish()
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MIN_M_COST, MIN_T_COST, 1, None).expect("constant parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with Argon2id (m = 19 MiB, t = 2, p = 1) and a random salt.
///
/// # Examples
///
/// ```
/// let phc = ringmarket_inventory::users::hash_password("hunter2");
/// assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
/// ```
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("valid parameters")
        .to_string()
}

/// Checks that `phc` is an Argon2id hash with at least the OWASP minimum parameters.
fn check_phc(phc: &str) -> Result<(), String> {
    let hash = PasswordHash::new(phc).map_err(|e| format!("not a PHC string: {e}"))?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err(format!("algorithm {} is not argon2id", hash.algorithm));
    }
    let params = Params::try_from(&hash).map_err(|e| format!("bad parameters: {e}"))?;
    if params.m_cost() < MIN_M_COST || params.t_cost() < MIN_T_COST {
        return Err(format!(
            "parameters m={},t={} are below the minimum m={MIN_M_COST},t={MIN_T_COST}",
            params.m_cost(),
            params.t_cost()
        ));
    }
    let too_big = |what: &str, value: String, max: String| {
        Err(format!(
            "{what} {value} is above the maximum {max} (a login would take too much memory or time)"
        ))
    };
    if params.m_cost() > MAX_M_COST {
        return too_big(
            "memory cost",
            format!("m={}", params.m_cost()),
            format!("m={MAX_M_COST} (1 GiB)"),
        );
    }
    if params.t_cost() > MAX_T_COST {
        return too_big(
            "time cost",
            format!("t={}", params.t_cost()),
            format!("t={MAX_T_COST}"),
        );
    }
    if params.p_cost() > MAX_P_COST {
        return too_big(
            "parallelism",
            format!("p={}", params.p_cost()),
            format!("p={MAX_P_COST}"),
        );
    }
    if let Some(len) = params.output_len().filter(|&len| len > MAX_OUTPUT_LEN) {
        return too_big(
            "output length",
            format!("{len} bytes"),
            format!("{MAX_OUTPUT_LEN} bytes"),
        );
    }
    if hash.hash.is_none() || hash.salt.is_none() {
        return Err("no salt or no hash".into());
    }
    Ok(())
}

impl Users {
    /// The built-in demo users.
    pub fn demo() -> Users {
        Users::from_pairs(
            DEMO.iter()
                .map(|&(u, h)| (None, u.to_owned(), h.to_owned())),
        )
        .expect("the demo hashes are valid")
    }

    /// Reads a users file.
    ///
    /// # Errors
    ///
    /// When the file cannot be read, a line is malformed, a user id is invalid or repeated, or
    /// a hash is not Argon2id with at least the OWASP minimum parameters. The error names the
    /// line.
    pub fn from_file(path: &Path) -> Result<Users, UsersError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsersError(format!("cannot read {}: {e}", path.display())))?;
        Users::parse(&text).map_err(|e| UsersError(format!("{}: {e}", path.display())))
    }

    /// Parses the text of a users file.
    ///
    /// # Errors
    ///
    /// As [`Users::from_file`].
    pub fn parse(text: &str) -> Result<Users, UsersError> {
        let mut pairs = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, phc) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| UsersError(format!("line {}: expected `<user> <hash>`", n + 1)))?;
            pairs.push((Some(n + 1), user.to_owned(), phc.trim().to_owned()));
        }
        Users::from_pairs(pairs)
    }

    /// Builds the set from `(line, user, PHC string)` triples; errors name the line if known.
    fn from_pairs(
        pairs: impl IntoIterator<Item = (Option<usize>, String, String)>,
    ) -> Result<Users, UsersError> {
        let mut hashes = HashMap::new();
        for (line, user, phc) in pairs {
            let at = line.map_or_else(String::new, |n| format!("line {n}: "));
            if !valid_user(&user) {
                return Err(UsersError(format!("{at}invalid user id {user:?}")));
            }
            let record =
                Record::parse(&phc).map_err(|e| UsersError(format!("{at}user {user}: {e}")))?;
            if hashes.insert(user.clone(), record).is_some() {
                return Err(UsersError(format!("{at}user {user} appears twice")));
            }
        }
        let Some(decoy) = hashes.values().next().cloned() else {
            return Err(UsersError("no users".into()));
        };
        Ok(Users { hashes, decoy })
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether there are no users (never true for a loaded set).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether `password` is `user`'s password. Slow on purpose (Argon2id): call it from a
    /// blocking thread. An unknown user costs the same time as a wrong password. Allocates
    /// Argon2's memory (19 MiB for the default parameters) for this call alone; a server
    /// uses [`Users::verify_in`] with a buffer per hashing thread instead.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        self.verify_in(user, password, &mut Vec::new())
    }

    /// As [`Users::verify`], hashing in `memory`: grown to the size the user's hash needs and
    /// left allocated for the next call. Reusing one buffer per hashing thread bounds the
    /// memory logins take to that many buffers, however many logins come.
    pub fn verify_in(&self, user: &str, password: &str, memory: &mut Vec<Block>) -> bool {
        let (record, known) = match self.hashes.get(user) {
            Some(record) => (record, true),
            None => (&self.decoy, false),
        };
        record.matches(password, memory) && known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_weak_ones_are_refused() {
        let phc = hash_password("pw one");
        let users = Users::parse(&format!("# comment\n\nzed {phc}\n")).unwrap();
        assert!(users.verify("zed", "pw one"));
        assert!(!users.verify("zed", "pw two"));
        assert!(!users.verify("nobody", "pw one"));

        let weak = "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$Z2T3Lz2TwjAyL3Ly/UjJ1A";
        assert!(Users::parse(&format!("zed {weak}")).is_err());
        let argon2i = phc.replace("argon2id", "argon2i");
        assert!(Users::parse(&format!("zed {argon2i}")).is_err());
        assert!(Users::parse("zed plaintext").is_err());
        assert!(Users::parse(&format!("zed {phc}\nzed {phc}")).is_err());
        assert!(Users::parse("").is_err());
    }

    #[test]
    fn demo_users_load() {
        let users = Users::demo();
        assert_eq!(users.len(), 3);
        assert!(!users.verify("alice", "wrong"));
        assert!(users.verify("alice", "wonderland"));
        assert!(users.verify("bob", "builder"));
        assert!(users.verify("carol", "songbird"));
    }
}
