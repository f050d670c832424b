//! Free text as every service takes it: trimmed, bounded in characters, and free
//! of control characters (line breaks and tabs allowed only where a field holds
//! more than one line). One rule, so a name or a note is refused the same way by
//! every service: `TOO_LONG` or `INVALID_FORMAT`, and `REQUIRED` when blank.

use crate::FieldViolation;

/// Whether a field may hold line breaks and tabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    /// A name, a code-like label, a reason: one line.
    Single,
    /// A description, a note, a summary: `\n` and `\t` allowed.
    Multi,
}

/// Trimmed text, `None` when blank; refused when longer than `max` characters or
/// holding control characters `lines` does not allow.
pub fn optional_text(
    field: &str,
    text: &str,
    max: usize,
    lines: Lines,
) -> Result<Option<String>, FieldViolation> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(FieldViolation::new(
            field,
            "TOO_LONG",
            format!("{field} must be at most {max} characters"),
        ));
    }
    let allowed = |c: char| lines == Lines::Multi && matches!(c, '\n' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(FieldViolation::new(
            field,
            "INVALID_FORMAT",
            format!("{field} must not contain control characters"),
        ));
    }
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// As [`optional_text`], but blank is refused (`REQUIRED`).
pub fn required_text(field: &str, text: &str, max: usize, lines: Lines) -> Result<String, FieldViolation> {
    optional_text(field, text, max, lines)?.ok_or_else(|| FieldViolation::required(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_bounded_in_characters_and_free_of_control_characters() {
        assert_eq!(optional_text("x", "   ", 5, Lines::Single), Ok(None));
        assert_eq!(optional_text("x", " ééééé ", 5, Lines::Single), Ok(Some("ééééé".into())));
        assert_eq!(optional_text("x", "abcdef", 5, Lines::Single).unwrap_err().reason, "TOO_LONG");
        assert_eq!(required_text("x", " ", 5, Lines::Multi).unwrap_err().reason, "REQUIRED");
        assert_eq!(optional_text("x", "a\u{0}b", 5, Lines::Multi).unwrap_err().reason, "INVALID_FORMAT");
    }

    #[test]
    fn only_multi_line_text_keeps_line_breaks_and_tabs() {
        assert_eq!(optional_text("x", "a\nb\tc", 9, Lines::Multi), Ok(Some("a\nb\tc".into())));
        let err = optional_text("note", "a\nb", 9, Lines::Single).unwrap_err();
        assert_eq!((err.field.as_str(), err.reason), ("note", "INVALID_FORMAT"));
    }
}
