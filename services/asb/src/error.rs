//! What can go wrong in the ASB service, and its one mapping to a status.

use persistence::StoreError;
use persistence::idempotency::RequestIdReused;
use platform::{ApiError, FieldViolation, ServiceError};

use crate::domain::case::ClosureNeed;
use crate::domain::casework::CorrectionError;
use crate::store::WriteError;

/// The `ErrorInfo.domain` of every status this service returns.
pub const ERROR_DOMAIN: &str = <AsbError as ServiceError>::DOMAIN;

#[derive(Debug, thiserror::Error)]
pub enum AsbError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// The case does not exist, or the caller may not know that it does.
    #[error("case {name} not found")]
    CaseNotFound { name: String },
    #[error("permission denied: {message}")]
    PermissionDenied { reason: &'static str, message: &'static str },
    /// The case's state forbids the change (a closed case cannot be triaged).
    #[error("{message}")]
    FailedPrecondition { reason: &'static str, message: &'static str },
    /// Closing needs these first.
    #[error("the case cannot close yet")]
    ClosureNotReady(Vec<ClosureNeed>),
    #[error("{name} already exists")]
    AlreadyExists { name: String },
    #[error("intervention {name} not found")]
    InterventionNotFound { name: String },
    /// A category or intervention type with that code is held already.
    #[error("{name} already exists")]
    ReferenceExists { resource_type: &'static str, name: String },
    #[error("{name} not found")]
    ReferenceNotFound { resource_type: &'static str, name: String },
    #[error(transparent)]
    RequestIdReused(#[from] RequestIdReused),
    /// A peer service (profiles) could not answer.
    #[error("a peer service failed: {0}")]
    Peer(tonic::Status),
    #[error(transparent)]
    PageToken(#[from] persistence::PageTokenError),
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl From<WriteError> for AsbError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::RequestIdReused(reused) => Self::RequestIdReused(reused),
            WriteError::Correction(CorrectionError::NotInThisCase) => {
                Self::Invalid(vec![FieldViolation::new(
                    "diary_entry.corrects",
                    "NOT_IN_THIS_CASE",
                    "the entry to correct is not in this case's diary",
                )])
            }
            WriteError::Correction(CorrectionError::AlreadyCorrected) => Self::FailedPrecondition {
                reason: "ALREADY_CORRECTED",
                message: "that entry was already corrected: correct the latest correction",
            },
            WriteError::Store(store) => Self::Store(store),
        }
    }
}

impl ServiceError for AsbError {
    const DOMAIN: &'static str = "asb.involve.dev";

    fn into_api_error(self) -> ApiError {
        match self {
            Self::Invalid(violations) => ApiError::InvalidArgument(violations),
            Self::CaseNotFound { name } => ApiError::NotFound { resource_type: "involve.asb.v1.Case", name },
            Self::PermissionDenied { reason, message } => {
                ApiError::PermissionDenied { reason, message: message.to_owned() }
            }
            Self::FailedPrecondition { reason, message } => {
                ApiError::FailedPrecondition { reason, subject: String::new(), message: message.to_owned() }
            }
            Self::ClosureNotReady(needs) => ApiError::FailedPrecondition {
                reason: "CLOSURE_NOT_READY",
                subject: needs.iter().map(|need| format!("{need:?}")).collect::<Vec<_>>().join(","),
                message: format!(
                    "the case cannot close without {}",
                    needs.iter().map(|need| need.describe()).collect::<Vec<_>>().join(", ")
                ),
            },
            Self::AlreadyExists { name } => ApiError::AlreadyExists {
                resource_type: "involve.asb.v1.BankHoliday",
                message: format!("{name} is a bank holiday already"),
                name,
                reason: "BANK_HOLIDAY_EXISTS",
            },
            Self::ReferenceExists { resource_type, name } => ApiError::AlreadyExists {
                resource_type,
                message: format!("{name} exists already: update it instead"),
                name,
                reason: "ALREADY_EXISTS",
            },
            Self::ReferenceNotFound { resource_type, name } => ApiError::NotFound { resource_type, name },
            Self::InterventionNotFound { name } => {
                ApiError::NotFound { resource_type: "involve.asb.v1.Intervention", name }
            }
            Self::RequestIdReused(reused) => ApiError::FailedPrecondition {
                reason: "REQUEST_ID_REUSED",
                subject: "request_id".into(),
                message: format!(
                    "{reused}; a retry must repeat the request exactly, a new request needs a new request_id"
                ),
            },
            Self::Peer(status) if status.code() == tonic::Code::Unavailable => ApiError::Unavailable {
                reason: "PEER_UNAVAILABLE",
                retry_after: std::time::Duration::from_secs(1),
            },
            Self::Peer(status) => ApiError::internal(PeerFailed(status.to_string())),
            Self::PageToken(token) => token.into(),
            Self::Store(store) => store.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("peer call failed: {0}")]
struct PeerFailed(String);

impl From<AsbError> for tonic::Status {
    fn from(err: AsbError) -> Self {
        err.into_status()
    }
}
