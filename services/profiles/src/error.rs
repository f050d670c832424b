//! What can go wrong in the profiles service, and its one mapping to a status.

use persistence::StoreError;
use platform::{ApiError, FieldViolation, ServiceError};

use crate::domain::access::Refused;
use crate::domain::tenure::TenureRuleError;

/// The `ErrorInfo.domain` of every status this service returns.
pub const ERROR_DOMAIN: &str = <ProfileError as ServiceError>::DOMAIN;

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    /// The resource does not exist, or the caller may not know that it does.
    #[error("{resource_type} {name} not found")]
    NotFound { resource_type: &'static str, name: String },
    #[error("the landlord already has a customer with external reference {external_reference:?}")]
    ExternalReferenceTaken { external_reference: String },
    #[error("reference value {name} already exists")]
    ReferenceValueExists { name: String },
    #[error("permission denied: {message}")]
    PermissionDenied { reason: &'static str, message: String },
    #[error(transparent)]
    Tenure(#[from] TenureRuleError),
    #[error(transparent)]
    RequestIdReused(#[from] persistence::idempotency::RequestIdReused),
    #[error(transparent)]
    PageToken(#[from] persistence::PageTokenError),
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl ProfileError {
    pub fn customer_not_found(name: impl Into<String>) -> Self {
        Self::NotFound { resource_type: "involve.profiles.v1.Customer", name: name.into() }
    }

    pub fn invalid(violation: FieldViolation) -> Self {
        Self::Invalid(vec![violation])
    }
}

impl From<Refused> for ProfileError {
    fn from(Refused { reason, message }: Refused) -> Self {
        Self::PermissionDenied { reason, message: message.to_owned() }
    }
}

impl ServiceError for ProfileError {
    const DOMAIN: &'static str = "profiles.involve.dev";

    fn into_api_error(self) -> ApiError {
        let err = self;
        match err {
            ProfileError::Invalid(violations) => ApiError::InvalidArgument(violations),
            ProfileError::NotFound { resource_type, name } => ApiError::NotFound { resource_type, name },
            ProfileError::ExternalReferenceTaken { .. } => ApiError::AlreadyExists {
                resource_type: "involve.profiles.v1.Customer",
                message: err.to_string(),
                name: String::new(),
                reason: "EXTERNAL_REFERENCE_TAKEN",
            },
            ProfileError::ReferenceValueExists { ref name } => ApiError::AlreadyExists {
                resource_type: "involve.profiles.v1.ReferenceValue",
                name: name.clone(),
                reason: "REFERENCE_VALUE_EXISTS",
                message: err.to_string(),
            },
            ProfileError::PermissionDenied { reason, message } => {
                ApiError::PermissionDenied { reason, message }
            }
            ProfileError::Tenure(rule) => {
                let reason = match rule {
                    TenureRuleError::NotAfterCurrentStart { .. } => "TENURE_DATE_BEFORE_CURRENT",
                    TenureRuleError::TooFarAhead => "TENURE_DATE_TOO_FAR_AHEAD",
                    TenureRuleError::NoChange => "TENURE_UNCHANGED",
                };
                ApiError::FailedPrecondition {
                    reason,
                    subject: "effective_date".into(),
                    message: rule.to_string(),
                }
            }
            ProfileError::RequestIdReused(reused) => ApiError::FailedPrecondition {
                reason: "REQUEST_ID_REUSED",
                subject: "request_id".into(),
                message: format!(
                    "{reused}; a retry must repeat the request exactly, a new request needs a new request_id"
                ),
            },
            ProfileError::PageToken(token) => token.into(),
            ProfileError::Store(store) => store.into(),
        }
    }
}

impl From<ProfileError> for tonic::Status {
    fn from(err: ProfileError) -> Self {
        err.into_status()
    }
}
