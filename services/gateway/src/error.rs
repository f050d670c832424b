//! What can go wrong in the gateway's administration, and its one mapping to a status.

use persistence::StoreError;
use platform::{ApiError, FieldViolation, ServiceError};

use crate::domain::credentials::SecretError;

/// The `ErrorInfo.domain` of every status the gateway itself returns.
pub const ERROR_DOMAIN: &str = <GatewayError as ServiceError>::DOMAIN;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("invalid request")]
    Invalid(Vec<FieldViolation>),
    #[error("{resource_type} {name} not found")]
    NotFound { resource_type: &'static str, name: String },
    #[error("organisation {name} already exists")]
    OrganisationExists { name: String },
    #[error("credential {name} is revoked")]
    CredentialRevoked { name: String },
    #[error("an organisation of kind {kind} cannot hold a {role} credential")]
    RoleNotAllowed { role: &'static str, kind: String },
    #[error("cannot draw a secret")]
    Secret(#[from] SecretError),
    #[error(transparent)]
    PageToken(#[from] persistence::PageTokenError),
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl GatewayError {
    pub fn invalid(violation: FieldViolation) -> Self {
        Self::Invalid(vec![violation])
    }
}

impl ServiceError for GatewayError {
    const DOMAIN: &'static str = "gateway.involve.dev";

    fn into_api_error(self) -> ApiError {
        let err = self;
        match err {
            GatewayError::Invalid(violations) => ApiError::InvalidArgument(violations),
            GatewayError::NotFound { resource_type, name } => ApiError::NotFound { resource_type, name },
            GatewayError::OrganisationExists { ref name } => ApiError::AlreadyExists {
                resource_type: "involve.gateway.v1.Organisation",
                name: name.clone(),
                reason: "ORGANISATION_EXISTS",
                message: err.to_string(),
            },
            GatewayError::CredentialRevoked { .. } => ApiError::FailedPrecondition {
                reason: "CREDENTIAL_REVOKED",
                subject: "name".into(),
                message: err.to_string(),
            },
            GatewayError::RoleNotAllowed { .. } => ApiError::FailedPrecondition {
                reason: "ROLE_NOT_ALLOWED_FOR_ORGANISATION_KIND",
                subject: "credential.role".into(),
                message: err.to_string(),
            },
            GatewayError::PageToken(token) => token.into(),
            GatewayError::Store(store) => store.into(),
            GatewayError::Secret(secret) => ApiError::internal(secret),
        }
    }
}

impl From<GatewayError> for tonic::Status {
    fn from(err: GatewayError) -> Self {
        err.into_status()
    }
}
