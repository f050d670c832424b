//! Field violations: what is wrong with which field of a request. Plain data, so
//! domain code can build them; the service layer turns them into
//! `google.rpc.BadRequest` details.

/// One problem with one request field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path in proto field names: `customer.contact.email`.
    pub field: String,
    /// Stable UPPER_SNAKE code: `REQUIRED`, `INVALID_FORMAT`, `TOO_LONG`, ...
    pub reason: &'static str,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, reason: &'static str, description: impl Into<String>) -> Self {
        Self { field: field.into(), reason, description: description.into() }
    }

    pub fn required(field: impl Into<String>) -> Self {
        let field = field.into();
        let description = format!("{field} is required");
        Self::new(field, "REQUIRED", description)
    }

    /// The same violation seen from a parent message: `email` under `customer.contact`.
    pub fn nested_under(mut self, parent: &str) -> Self {
        self.field =
            if self.field.is_empty() { parent.to_owned() } else { format!("{parent}.{}", self.field) };
        self
    }
}

/// `.required("field")` on a message's optional parts, in the style of InfluxDB
/// IOx's `generated_types`: the value, or a `REQUIRED` violation naming the field.
pub trait Required<T> {
    fn required(self, field: &str) -> Result<T, FieldViolation>;
}

impl<T> Required<T> for Option<T> {
    fn required(self, field: &str) -> Result<T, FieldViolation> {
        self.ok_or_else(|| FieldViolation::required(field))
    }
}

impl Required<String> for String {
    /// A blank string is a missing field.
    fn required(self, field: &str) -> Result<String, FieldViolation> {
        if self.trim().is_empty() { Err(FieldViolation::required(field)) } else { Ok(self) }
    }
}

/// Collects every violation of a request while it is read, so one answer names
/// every bad field: the one way requests are validated.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// The value, or `fallback` with the violation recorded.
    pub fn take<T>(&mut self, result: Result<T, FieldViolation>, fallback: T) -> T {
        result.unwrap_or_else(|violation| {
            self.0.push(violation);
            fallback
        })
    }

    /// The value, or `None` with the violation recorded.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        self.take(result.map(Some), None)
    }

    pub fn push(&mut self, violation: FieldViolation) {
        self.0.push(violation);
    }

    pub fn extend(&mut self, violations: impl IntoIterator<Item = FieldViolation>) {
        self.0.extend(violations);
    }

    pub fn extend_from(&mut self, other: Violations) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every violation so far, for a request that cannot be read any further.
    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }

    /// `value` when nothing was wrong, every violation otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, Vec<FieldViolation>> {
        if self.0.is_empty() { Ok(value) } else { Err(self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_is_kept_and_values_pass_through() {
        let mut v = Violations::default();
        assert_eq!(v.check(Some(3).required("a")), Some(3));
        assert_eq!(v.check(None::<i32>.required("b")), None);
        assert_eq!(v.take(String::from(" ").required("c"), String::new()), "");
        assert_eq!(
            v.into_result(()).unwrap_err().into_iter().map(|violation| violation.field).collect::<Vec<_>>(),
            ["b", "c"]
        );
    }

    #[test]
    fn nested_violations_name_their_path() {
        let violation = FieldViolation::required("email").nested_under("customer.contact");
        assert_eq!(violation.field, "customer.contact.email");
    }
}
