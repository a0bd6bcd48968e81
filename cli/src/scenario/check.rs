//! The assignment checker's comparison of a run's output with the expected one.
//!
//! The checker splits the whole output on `)`, strips each piece, puts the `)` back, drops the
//! pieces that were empty, sorts what is left and compares it with the reference treated the
//! same way. The order of lines never matters, and neither does white space around them.

use std::collections::HashMap;

/// The checker's normal form of an output: its items, sorted.
pub fn normalize(text: &str) -> Vec<String> {
    let mut items: Vec<String> = pieces(text).map(|piece| format!("{piece})")).collect();
    items.sort_unstable();
    items
}

/// Compares two outputs the checker's way; `None` when they match, otherwise a short
/// description of the difference (at most `limit` lines of each kind).
#[cfg(test)]
pub fn compare(actual: &str, expected: &str, limit: usize) -> Option<String> {
    let mut tally = Tally::default();
    tally.expect(expected, 1);
    tally.produce(actual);
    tally.diff(limit)
}

/// The checker's comparison, fed piece by piece: the expected items are counted in, the
/// produced ones counted out, and the outputs match when every count is back to zero.
///
/// It holds one entry per *distinct* item, never the lines themselves: a cart that buys the
/// same product a million times costs one entry. A text may be fed in several parts when each
/// part but the last ends with `)` (as every line `NAME bought REPR` does, a repr ending with
/// `)`): splitting the whole on `)` then gives the same items as splitting the parts.
#[derive(Debug, Default)]
pub struct Tally {
    /// Expected minus produced, per item (stored without its final `)`); zeros are removed.
    counts: HashMap<String, i64>,
    expected: u64,
    produced: u64,
}

impl Tally {
    /// Counts the items of `text` as expected `times` times.
    pub fn expect(&mut self, text: &str, times: u64) {
        let times = i64::try_from(times).unwrap_or(i64::MAX);
        for piece in pieces(text) {
            self.expected = self.expected.saturating_add(times.unsigned_abs());
            self.add(piece, times);
        }
    }

    /// Counts the items of `text` as produced once.
    pub fn produce(&mut self, text: &str) {
        for piece in pieces(text) {
            self.produced += 1;
            self.add(piece, -1);
        }
    }

    fn add(&mut self, piece: &str, delta: i64) {
        // Looked up by `&str` first, so that a known item costs no allocation.
        let count = match self.counts.get_mut(piece) {
            Some(count) => count,
            None => self.counts.entry(piece.to_owned()).or_insert(0),
        };
        *count = count.saturating_add(delta);
        if *count == 0 {
            self.counts.remove(piece);
        }
    }

    /// `None` when what was produced matches what was expected, otherwise a short description
    /// of the difference (at most `limit` lines of each kind, in the checker's sorted order).
    pub fn diff(&self, limit: usize) -> Option<String> {
        if self.counts.is_empty() {
            return None;
        }
        let mut items: Vec<(&String, i64)> = self.counts.iter().map(|(k, &v)| (k, v)).collect();
        // In the order of the items with their `)`, as the checker sorts them.
        items.sort_unstable_by(|a, b| a.0.bytes().chain([b')']).cmp(b.0.bytes().chain([b')'])));
        let missing: u64 = items
            .iter()
            .filter(|x| x.1 > 0)
            .map(|x| x.1.unsigned_abs())
            .sum();
        let extra: u64 = items
            .iter()
            .filter(|x| x.1 < 0)
            .map(|x| x.1.unsigned_abs())
            .sum();
        let mut out = format!(
            "output differs from the expected one: {} items expected, {} produced, {missing} missing, {extra} unexpected\n",
            self.expected, self.produced,
        );
        for (sign, total, wanted) in [('-', missing, 1), ('+', extra, -1)] {
            let mut shown = 0;
            for (item, count) in &items {
                if count.signum() != wanted {
                    continue;
                }
                for _ in 0..count.unsigned_abs() {
                    if shown == limit {
                        break;
                    }
                    out.push_str(&format!("{sign} {item})\n"));
                    shown += 1;
                }
            }
            if total > limit as u64 {
                out.push_str(&format!("{sign} ... and {} more\n", total - limit as u64));
            }
        }
        Some(out)
    }
}

/// The checker's items of `text`, each without its final `)`: split on `)`, stripped, empty
/// pieces dropped.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    text.split(')')
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_blank_space_do_not_matter() {
        let a = "b bought X(a=1)\na bought Y(b=2)\n";
        let e = "  a bought Y(b=2)   b bought X(a=1)\n\n";
        assert_eq!(compare(a, e, 5), None);
    }

    #[test]
    fn counts_matter() {
        let a = "a bought X(a=1)\n";
        let e = "a bought X(a=1)\na bought X(a=1)\n";
        let diff = compare(a, e, 5).expect("one line is missing");
        assert!(diff.contains("1 missing, 0 unexpected"), "{diff}");
        assert!(diff.contains("- a bought X(a=1)"), "{diff}");
        let diff = compare(e, a, 5).expect("one line is extra");
        assert!(diff.contains("0 missing, 1 unexpected"), "{diff}");
    }

    #[test]
    fn fed_in_lines_as_the_whole() {
        let mut t = Tally::default();
        t.expect("a bought X(a=1)", 3);
        t.expect("b) bought Y(b=2)", 1);
        for line in [
            "b) bought Y(b=2)\n",
            "a bought X(a=1)\n",
            "a bought X(a=1)\n",
        ] {
            t.produce(line);
        }
        let diff = t.diff(5).expect("one X is missing");
        assert!(
            diff.contains("5 items expected, 4 produced, 1 missing, 0 unexpected"),
            "{diff}"
        );
        t.produce(" a bought X(a=1)\n");
        assert_eq!(t.diff(5), None);
    }

    #[test]
    fn sorts_by_code_point() {
        assert_eq!(
            normalize("cons2 bought A()\ncons10 bought A()\n"),
            vec!["cons10 bought A()", "cons2 bought A()"]
        );
        // `)` sorts after a space: "a b)" comes before "a)".
        let diff = compare("", "a) a b)", 5).unwrap();
        assert!(diff.ends_with("- a b)\n- a)\n"), "{diff}");
    }

    #[test]
    fn diff_is_short() {
        let e: String = (0..100).map(|i| format!("c bought P(i={i})\n")).collect();
        let diff = compare("", &e, 3).unwrap();
        assert!(diff.contains("... and 97 more"), "{diff}");
        assert!(diff.lines().count() <= 6, "{diff}");
    }
}
