//! Python's `repr` of the values a scenario's products carry: `int`, `float` and `str`.
//!
//! The assignment prints each product as its Python dataclass repr, so these functions
//! reproduce CPython's rules byte for byte:
//!
//! - an integer prints as its decimal digits, however large (`-0` in JSON is the integer `0`);
//! - a float prints in its shortest round-trip form, in positional notation when its decimal
//!   exponent is in `-4 ..= 15` (with `.0` added to whole numbers), otherwise in scientific
//!   notation with a signed, at-least-two-digit exponent (`1e+16`, `1.5e-05`); infinities print
//!   as `inf` and `-inf`;
//! - a string is quoted with `'`, or with `"` when it contains `'` but no `"`; the backslash,
//!   the chosen quote, `\t`, `\n` and `\r` are escaped, and every other character that Python's
//!   `str.isprintable` rejects (general categories `C*` and `Z*`, except the ASCII space) is
//!   written as `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
//!
//! The Unicode tables come from the `unicode-properties` crate; characters assigned in a newer
//! Unicode version than the one of the Python that produced a reference may differ.

use std::fmt::Write as _;

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Python's `repr` of the integer written as the JSON literal `literal`.
///
/// `literal` is a JSON integer literal (`-?(0|[1-9][0-9]*)`), already checked by the parser.
pub fn int(literal: &str) -> String {
    if literal == "-0" {
        "0".to_owned()
    } else {
        literal.to_owned()
    }
}

/// Python's `repr` of a float.
pub fn float(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    // Rust's `{:e}` prints the shortest digits that round-trip, like Python's repr does
    // (both pick the candidate closest to the exact value when several are shortest).
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` writes a decimal exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Python's `decpt`: the value is 0.DIGITS times 10^decpt.
    let decpt = exp + 1;
    let n = digits.len() as i32;
    let mut out = String::from(sign);
    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat((-decpt) as usize));
            out.push_str(&digits);
        } else if decpt >= n {
            out.push_str(&digits);
            out.push_str(&"0".repeat((decpt - n) as usize));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..decpt as usize]);
            out.push('.');
            out.push_str(&digits[decpt as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

/// Python's `str.isprintable` for one character.
pub fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Other | GeneralCategoryGroup::Separator
    )
}

/// Python's `repr` of a string.
pub fn string(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            // ASCII: printable from the space to the tilde, `\xNN` otherwise.
            c if c.is_ascii() => {
                if (' '..='~').contains(&c) {
                    out.push(c);
                } else {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
            }
            c if is_printable(c) => out.push(c),
            c => {
                let code = c as u32;
                let _ = if code <= 0xff {
                    write!(out, "\\x{code:02x}")
                } else if code <= 0xffff {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_match_python_repr() {
        // Each pair was printed by CPython 3.11's `repr(float(text))`.
        let cases = [
            (5.0, "5.0"),
            (5.05, "5.05"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1.5e-07, "1.5e-07"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1234567890123456.7, "1234567890123456.8"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            (1e22, "1e+22"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (2.5e-5, "2.5e-05"),
            (123.456, "123.456"),
            (-42.0, "-42.0"),
            (1e100, "1e+100"),
            (0.3, "0.3"),
            (2.0 / 3.0, "0.6666666666666666"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (x, want) in cases {
            assert_eq!(float(x), want, "repr of {x:?}");
        }
    }

    #[test]
    fn ints_keep_every_digit() {
        assert_eq!(int("9"), "9");
        assert_eq!(int("-0"), "0");
        assert_eq!(int("-17"), "-17");
        let huge = "123456789012345678901234567890123456789012345678901234567890";
        assert_eq!(int(huge), huge);
    }

    #[test]
    fn strings_match_python_repr() {
        // Each pair was printed by CPython 3.11's `repr(text)`.
        let cases = [
            ("Linden", "'Linden'"),
            ("", "''"),
            ("it's", "\"it's\""),
            ("say \"hi\"", "'say \"hi\"'"),
            ("both ' and \"", "'both \\' and \"'"),
            ("back\\slash", "'back\\\\slash'"),
            ("tab\there", "'tab\\there'"),
            ("new\nline\r", "'new\\nline\\r'"),
            ("\u{0}\u{1f}\u{7f}", "'\\x00\\x1f\\x7f'"),
            ("caf\u{e9}", "'caf\u{e9}'"),
            ("nb\u{a0}sp", "'nb\\xa0sp'"),
            ("\u{ad}", "'\\xad'"),
            ("zw\u{200b}j", "'zw\\u200bj'"),
            ("line\u{2028}sep", "'line\\u2028sep'"),
            ("\u{e000}", "'\\ue000'"),
            ("\u{f0000}", "'\\U000f0000'"),
            ("\u{1f375} tea", "'\u{1f375} tea'"),
            ("\u{65e5}\u{672c}", "'\u{65e5}\u{672c}'"),
            ("\u{3000}", "'\\u3000'"),
        ];
        for (s, want) in cases {
            assert_eq!(string(s), want, "repr of {s:?}");
        }
    }
}
