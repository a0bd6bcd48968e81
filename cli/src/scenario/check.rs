//! The assignment checker's comparison of a run's output with the expected one.
//!
//! The checker splits the whole output on `)`, strips each piece, puts the `)` back, drops the
//! pieces that were empty, sorts what is left and compares it with the reference treated the
//! same way. The order of lines never matters, and neither does white space around them.

/// The checker's normal form of an output: its items, sorted.
pub fn normalize(text: &str) -> Vec<String> {
    let mut items: Vec<String> = text
        .split(')')
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .map(|piece| format!("{piece})"))
        .collect();
    items.sort_unstable();
    items
}

/// Compares two outputs the checker's way; `None` when they match, otherwise a short
/// description of the difference (at most `limit` lines of each kind).
pub fn compare(actual: &str, expected: &str, limit: usize) -> Option<String> {
    let a = normalize(actual);
    let e = normalize(expected);
    if a == e {
        return None;
    }
    // Both are sorted: walk them together to find what is missing and what is extra.
    let (mut missing, mut extra) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < e.len() {
        match (a.get(i), e.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                extra.push(x);
                i += 1;
            }
            (Some(x), None) => {
                extra.push(x);
                i += 1;
            }
            (_, Some(y)) => {
                missing.push(y);
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    let mut out = format!(
        "output differs from the expected one: {} items expected, {} produced, {} missing, {} unexpected\n",
        e.len(),
        a.len(),
        missing.len(),
        extra.len()
    );
    for (sign, list) in [('-', &missing), ('+', &extra)] {
        for item in list.iter().take(limit) {
            out.push_str(&format!("{sign} {item}\n"));
        }
        if list.len() > limit {
            out.push_str(&format!("{sign} ... and {} more\n", list.len() - limit));
        }
    }
    Some(out)
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
    fn sorts_by_code_point() {
        assert_eq!(
            normalize("cons2 bought A()\ncons10 bought A()\n"),
            vec!["cons10 bought A()", "cons2 bought A()"]
        );
    }

    #[test]
    fn diff_is_short() {
        let e: String = (0..100).map(|i| format!("c bought P(i={i})\n")).collect();
        let diff = compare("", &e, 3).unwrap();
        assert!(diff.contains("... and 97 more"), "{diff}");
        assert!(diff.lines().count() <= 6, "{diff}");
    }
}
