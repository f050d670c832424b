//! The one mapping from service errors to `tonic::Status` (AIP-193).
//!
//! Services keep their own `thiserror` enums, free of gRPC, and convert them into
//! [`ApiError`] with an exhaustive match. Every status built here carries a
//! `google.rpc.ErrorInfo` (a stable UPPER_SNAKE reason and the service's domain) and
//! at most one of each further detail: `BadRequest` field violations, `ResourceInfo`,
//! `PreconditionFailure`, `RetryInfo`. Internal failures are logged with their whole
//! source chain; the client gets only a correlation id.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub use involve_core::FieldViolation;

/// A service's own error type: the `ErrorInfo.domain` of every status the
/// service returns, and its one exhaustive mapping to [`ApiError`]. Each service
/// implements it once (and `From<ItsError> for tonic::Status` through
/// [`ServiceError::into_status`]), so a tonic method only converts.
pub trait ServiceError: std::error::Error + Sized {
    /// `profiles.involve.dev`, `gateway.involve.dev`, ...
    const DOMAIN: &'static str;

    /// What the caller is told, and with which code.
    fn into_api_error(self) -> ApiError;

    fn into_status(self) -> Status {
        self.into_api_error().into_status(Self::DOMAIN)
    }
}

/// A request-level failure, described for the caller.
#[derive(Debug)]
pub enum ApiError {
    /// The request itself is wrong: INVALID_ARGUMENT with every field violation.
    InvalidArgument(Vec<FieldViolation>),
    /// NOT_FOUND (also used where existence itself must not leak).
    NotFound { resource_type: &'static str, name: String },
    /// ALREADY_EXISTS.
    AlreadyExists { resource_type: &'static str, name: String, reason: &'static str, message: String },
    /// FAILED_PRECONDITION: the request is well formed but the state forbids it.
    FailedPrecondition { reason: &'static str, subject: String, message: String },
    /// ABORTED: a concurrency conflict (stale etag); re-read and retry.
    Aborted { reason: &'static str, message: String },
    /// UNAUTHENTICATED: no or unusable credentials.
    Unauthenticated { reason: &'static str, message: String },
    /// PERMISSION_DENIED: known caller, not allowed.
    PermissionDenied { reason: &'static str, message: String },
    /// RESOURCE_EXHAUSTED with a hint of when to retry.
    ResourceExhausted { reason: &'static str, message: String, retry_after: Duration },
    /// UNAVAILABLE: transient; clients may retry.
    Unavailable { reason: &'static str, retry_after: Duration },
    /// INTERNAL: a bug or an unexpected failure; logged here, opaque to the client.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn invalid(violation: FieldViolation) -> Self {
        Self::InvalidArgument(vec![violation])
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(err))
    }

    /// Builds the status for a service whose error domain is `domain`
    /// (for example `profiles.involve.dev`).
    pub fn into_status(self, domain: &str) -> Status {
        let info = |details: &mut ErrorDetails, reason: &str, metadata: HashMap<String, String>| {
            details.set_error_info(reason, domain, metadata);
        };
        let mut details = ErrorDetails::new();
        let (code, message) = match self {
            Self::InvalidArgument(violations) => {
                info(&mut details, "INVALID_ARGUMENT", HashMap::new());
                let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
                let message = format!("invalid request: check {}", fields.join(", "));
                for violation in violations {
                    details.add_bad_request_violation(violation.field, violation.description);
                }
                (Code::InvalidArgument, message)
            }
            Self::NotFound { resource_type, name } => {
                info(&mut details, "NOT_FOUND", HashMap::from([("resource".to_owned(), name.clone())]));
                details.set_resource_info(resource_type, name.clone(), "", "not found");
                (Code::NotFound, format!("{resource_type} {name} not found"))
            }
            Self::AlreadyExists { resource_type, name, reason, message } => {
                info(&mut details, reason, HashMap::from([("resource".to_owned(), name.clone())]));
                details.set_resource_info(resource_type, name, "", "already exists");
                (Code::AlreadyExists, message)
            }
            Self::FailedPrecondition { reason, subject, message } => {
                info(&mut details, reason, HashMap::new());
                details.add_precondition_failure_violation(reason, subject, message.clone());
                (Code::FailedPrecondition, message)
            }
            Self::Aborted { reason, message } => {
                info(&mut details, reason, HashMap::new());
                (Code::Aborted, message)
            }
            Self::Unauthenticated { reason, message } => {
                info(&mut details, reason, HashMap::new());
                (Code::Unauthenticated, message)
            }
            Self::PermissionDenied { reason, message } => {
                info(&mut details, reason, HashMap::new());
                (Code::PermissionDenied, message)
            }
            Self::ResourceExhausted { reason, message, retry_after } => {
                info(&mut details, reason, HashMap::new());
                details.set_retry_info(Some(retry_after));
                (Code::ResourceExhausted, message)
            }
            Self::Unavailable { reason, retry_after } => {
                info(&mut details, reason, HashMap::new());
                details.set_retry_info(Some(retry_after));
                (Code::Unavailable, "the service is briefly unavailable; retry shortly".to_owned())
            }
            Self::Internal(err) => {
                let correlation_id = uuid::Uuid::new_v4().to_string();
                tracing::error!(
                    correlation_id = %correlation_id,
                    error = %ErrorChain(err.as_ref()),
                    "internal error"
                );
                info(
                    &mut details,
                    "INTERNAL",
                    HashMap::from([("correlation_id".to_owned(), correlation_id.clone())]),
                );
                (Code::Internal, format!("internal error; quote correlation id {correlation_id}"))
            }
        };
        Status::with_error_details(code, message, details)
    }
}

/// Database failures the same way for every service: a database that cannot be
/// reached is worth a retry; anything else that reaches a caller is a bug.
impl From<persistence::StoreError> for ApiError {
    fn from(err: persistence::StoreError) -> Self {
        use persistence::StoreError;
        match err {
            StoreError::Unavailable(_) => {
                ApiError::Unavailable { reason: "DATABASE_UNAVAILABLE", retry_after: Duration::from_secs(1) }
            }
            StoreError::Stale => ApiError::Aborted {
                reason: "ETAG_MISMATCH",
                message: "the resource changed since you read it; read it again and retry".to_owned(),
            },
            store @ (StoreError::UniqueViolation(_)
            | StoreError::ForeignKeyViolation(_)
            | StoreError::Conflict(_)
            | StoreError::RowNotFound(_)
            | StoreError::Corrupt(_)
            | StoreError::Database(_)) => ApiError::internal(store),
        }
    }
}

/// A bad `page_size` or `page_token`, named as the field it came in.
impl From<persistence::PageTokenError> for ApiError {
    fn from(err: persistence::PageTokenError) -> Self {
        use persistence::PageTokenError;
        let field = match err {
            PageTokenError::NegativePageSize => "page_size",
            PageTokenError::Invalid => "page_token",
        };
        ApiError::invalid(FieldViolation::new(field, "INVALID_PAGE", err.to_string()))
    }
}

/// A time as the contracts carry it.
pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The canonical name of a status code (`OK`, `NOT_FOUND`, ...), as audit logs
/// and metrics record it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Displays an error with every `source()` beneath it, for logs.
#[derive(Debug)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_lists_every_field() {
        let status = ApiError::InvalidArgument(vec![
            FieldViolation::required("customer.given_name"),
            FieldViolation::new("customer.contact.email", "INVALID_FORMAT", "not an e-mail address"),
        ])
        .into_status("profiles.involve.dev");
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<String> =
            details.bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
        assert_eq!(fields, ["customer.given_name", "customer.contact.email"]);
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "INVALID_ARGUMENT");
        assert_eq!(info.domain, "profiles.involve.dev");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = std::io::Error::other("SELECT secret FROM table failed");
        let status = ApiError::internal(err).into_status("profiles.involve.dev");
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("SELECT"));
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert!(info.metadata.contains_key("correlation_id"));
    }

    #[test]
    fn exhaustion_carries_retry_info() {
        let status = ApiError::ResourceExhausted {
            reason: "RATE_LIMITED",
            message: "slow down".into(),
            retry_after: Duration::from_secs(2),
        }
        .into_status("gateway.involve.dev");
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.get_error_details().retry_info().unwrap().retry_delay,
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn nested_violations_extend_the_path() {
        let violation = FieldViolation::required("email").nested_under("customer.contact");
        assert_eq!(violation.field, "customer.contact.email");
    }
}
