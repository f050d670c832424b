//! Field rules: lengths, and the formats of e-mail addresses, UK postcodes, UPRNs
//! and phone numbers. Each returns the canonical form or a violation naming the
//! field, so a request can report every bad field at once.

use chrono::NaiveDate;
use involve_core::text::Lines;
use platform::FieldViolation;

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_TITLE_LEN: usize = 35;
pub const MAX_EXTERNAL_REFERENCE_LEN: usize = 64;
pub const MAX_ADDRESS_LINE_LEN: usize = 100;
pub const MAX_ADDRESS_LINES: usize = 4;
pub const MAX_LIST_LEN: usize = 32;
pub const MAX_HOUSEHOLD_MEMBERS: usize = 30;
pub const MAX_REASON_LEN: usize = 500;
pub const MAX_EMAIL_LEN: usize = 254;

fn bad_format(field: &str, what: &str) -> FieldViolation {
    FieldViolation::new(field, "INVALID_FORMAT", format!("{field} {what}"))
}

/// Trimmed text on one line, `None` when blank; refused when longer than `max`
/// characters or when it holds control characters (the shared rule of
/// [`involve_core::text`]).
pub fn optional_text(field: &str, text: &str, max: usize) -> Result<Option<String>, FieldViolation> {
    involve_core::text::optional_text(field, text, max, Lines::Single)
}

/// As [`optional_text`], but blank is refused.
pub fn required_text(field: &str, text: &str, max: usize) -> Result<String, FieldViolation> {
    involve_core::text::required_text(field, text, max, Lines::Single)
}

/// An e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces.
/// Deliberately loose beyond that: the only real check is sending a message.
pub fn email(field: &str, text: &str) -> Result<Option<String>, FieldViolation> {
    let Some(text) = optional_text(field, text, MAX_EMAIL_LEN)? else { return Ok(None) };
    let valid = text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    }) && !text.chars().any(char::is_whitespace);
    if valid { Ok(Some(text)) } else { Err(bad_format(field, "is not an e-mail address")) }
}

/// A UK postcode in any spacing or case, returned canonical (`SW1A 1AA`).
/// Outward code: A9, A99, AA9, AA99, A9A or AA9A; inward code: 9AA.
pub fn postcode(field: &str, text: &str) -> Result<Option<String>, FieldViolation> {
    let compact: String =
        text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    if compact.is_empty() {
        return Ok(None);
    }
    let invalid = || bad_format(field, "is not a UK postcode");
    if !(5..=7).contains(&compact.len()) || !compact.is_ascii() {
        return Err(invalid());
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let inward_ok = {
        let b = inward.as_bytes();
        b[0].is_ascii_digit() && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphabetic()
    };
    let shape: String = outward
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                '9'
            } else if c.is_ascii_alphabetic() {
                'A'
            } else {
                '?'
            }
        })
        .collect();
    let outward_ok = matches!(shape.as_str(), "A9" | "A99" | "AA9" | "AA99" | "A9A" | "AA9A");
    if inward_ok && outward_ok { Ok(Some(format!("{outward} {inward}"))) } else { Err(invalid()) }
}

/// The postcode key searches match on: upper case, no spaces.
pub fn postcode_key(postcode: &str) -> String {
    postcode.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase()
}

/// A Unique Property Reference Number: 1 to 12 digits, not zero.
pub fn uprn(field: &str, text: &str) -> Result<Option<String>, FieldViolation> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let valid =
        text.len() <= 12 && text.chars().all(|c| c.is_ascii_digit()) && text.chars().any(|c| c != '0');
    if valid {
        Ok(Some(text.trim_start_matches('0').to_owned()))
    } else {
        Err(bad_format(field, "must be a UPRN: 1 to 12 digits"))
    }
}

/// A phone number: digits with optional leading `+`, spaces, hyphens or brackets;
/// 7 to 15 digits (E.164's maximum).
pub fn phone(field: &str, text: &str) -> Result<Option<String>, FieldViolation> {
    let Some(text) = optional_text(field, text, 32)? else { return Ok(None) };
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let allowed = text.chars().enumerate().all(|(index, c)| {
        c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')') || (c == '+' && index == 0)
    });
    if allowed && (7..=15).contains(&digits) {
        Ok(Some(text))
    } else {
        Err(bad_format(field, "is not a phone number"))
    }
}

/// A date of birth: a real calendar date, not in the future, not before 1900.
pub fn date_of_birth(field: &str, date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, FieldViolation> {
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    if date > today {
        return Err(FieldViolation::new(field, "OUT_OF_RANGE", format!("{field} must not be in the future")));
    }
    if date < earliest {
        return Err(FieldViolation::new(field, "OUT_OF_RANGE", format!("{field} must not be before 1900")));
    }
    Ok(date)
}

/// An external reference: printable, no surrounding spaces, up to 64 characters.
pub fn external_reference(field: &str, text: &str) -> Result<Option<String>, FieldViolation> {
    optional_text(field, text, MAX_EXTERNAL_REFERENCE_LEN)
}

/// A bounded list.
pub fn list_len(field: &str, len: usize, max: usize) -> Result<(), FieldViolation> {
    if len > max {
        Err(FieldViolation::new(field, "TOO_MANY", format!("{field} may hold at most {max} entries")))
    } else {
        Ok(())
    }
}

/// A search term: letters, digits, spaces, hyphens and apostrophes, 1 to 64 chars.
/// Wildcards are refused rather than escaped, so the store never sees them.
pub fn search_term(field: &str, text: &str) -> Result<Option<String>, FieldViolation> {
    let Some(text) = optional_text(field, text, 64)? else { return Ok(None) };
    if text.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '\'')) {
        Ok(Some(text.to_lowercase()))
    } else {
        Err(bad_format(field, "may hold only letters, digits, spaces, hyphens and apostrophes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("e", " ann@example.org ").unwrap().as_deref(), Some("ann@example.org"));
        assert_eq!(email("e", "").unwrap(), None);
        for bad in [
            "ann",
            "ann@",
            "@example.org",
            "ann@example",
            "ann@@example.org",
            "a n@example.org",
            "ann@.org",
            "ann@example..org",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postcodes_are_canonicalised() {
        assert_eq!(postcode("p", "sw1a1aa").unwrap().as_deref(), Some("SW1A 1AA"));
        assert_eq!(postcode("p", " M1 1AE ").unwrap().as_deref(), Some("M1 1AE"));
        assert_eq!(postcode("p", "B33 8TH").unwrap().as_deref(), Some("B33 8TH"));
        assert_eq!(postcode("p", "CR2 6XH").unwrap().as_deref(), Some("CR2 6XH"));
        assert_eq!(postcode("p", "DN55 1PT").unwrap().as_deref(), Some("DN55 1PT"));
        assert_eq!(postcode("p", "W1A 0AX").unwrap().as_deref(), Some("W1A 0AX"));
        for bad in ["12345", "SW1A", "SW1A 1A1", "ZZZZ 1AA", "S 1AA", "SW1A-1AA", "ÅW1 1AA"] {
            assert!(postcode("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uprns() {
        assert_eq!(uprn("u", "100023336956").unwrap().as_deref(), Some("100023336956"));
        assert_eq!(uprn("u", "0001234").unwrap().as_deref(), Some("1234"));
        for bad in ["1234567890123", "12a", "0", "-1"] {
            assert!(uprn("u", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert!(phone("t", "+44 20 7946 0958").unwrap().is_some());
        assert!(phone("t", "(020) 7946-0958").unwrap().is_some());
        for bad in ["123", "call me", "44+20 7946 0958", "1234567890123456"] {
            assert!(phone("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_lengths_and_blanks() {
        assert_eq!(optional_text("x", "   ", 5).unwrap(), None);
        assert!(optional_text("x", "abcdef", 5).is_err());
        assert!(required_text("x", "", 5).is_err());
        assert!(optional_text("x", "a\u{0}b", 5).is_err());
        // Length is in characters, not bytes.
        assert!(optional_text("x", "ééééé", 5).is_ok());
    }

    #[test]
    fn dates() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let future = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert!(date_of_birth("d", future, today).is_err());
        let ancient = NaiveDate::from_ymd_opt(1850, 1, 1).unwrap();
        assert!(date_of_birth("d", ancient, today).is_err());
    }

    #[test]
    fn search_terms_refuse_wildcards() {
        assert_eq!(search_term("s", "O'Brien").unwrap().as_deref(), Some("o'brien"));
        assert!(search_term("s", "smi%").is_err());
        assert!(search_term("s", "a_b").is_err());
    }
}
