//! `involve.gateway.v1.PartnerAdmin`: organisations, credentials, the call audit.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use contracts::involve::common::v1 as common;
use contracts::involve::gateway::v1 as pb;
use contracts::involve::gateway::v1::partner_admin_server::PartnerAdmin;
use involve_core::{Code, OrganisationId, Required as _, Violations};
use persistence::paging::finish_page;
use persistence::{PageToken, PageTokenKey};
use platform::clock::SharedClock;
use platform::error::timestamp;
use platform::{ApiError, FieldViolation, RequestContext, Role};
use tonic::{Request, Response, Status};

use crate::auth::Authenticator;
use crate::domain::credentials::{
    self, CredentialId, CredentialState, MAX_GRACE_DAYS, credential_name, parse_credential_name, state_at,
};
use crate::domain::policy;
use crate::domain::rate_limit::RateLimiter;
use crate::domain::records::{Call, Credential, Organisation};
use crate::error::{ERROR_DOMAIN, GatewayError};
use crate::store::{CallFilter, Store};

#[derive(Debug, Clone)]
pub struct AdminApi {
    store: Arc<Store>,
    auth: Arc<Authenticator>,
    limiter: Arc<RateLimiter>,
    page_tokens: PageTokenKey,
    clock: SharedClock,
}

impl AdminApi {
    /// NOT_FOUND unless credential `id` exists and belongs to `organisation`.
    async fn ensure_credential(
        &self,
        organisation: &str,
        id: &CredentialId,
        name: String,
    ) -> Result<(), Status> {
        let existing = self.store.credential(id.as_str()).await.map_err(status)?;
        if existing.is_none_or(|row| row.organisation_id != organisation) {
            return Err(status(GatewayError::NotFound {
                resource_type: "involve.gateway.v1.Credential",
                name,
            }));
        }
        Ok(())
    }

    pub fn new(
        store: Arc<Store>,
        auth: Arc<Authenticator>,
        limiter: Arc<RateLimiter>,
        page_tokens: PageTokenKey,
        clock: SharedClock,
    ) -> Self {
        Self { store, auth, limiter, page_tokens, clock }
    }
}

/// The status for anything that converts into the gateway's error, by the one
/// mapping in `error.rs`.
fn status(err: impl Into<GatewayError>) -> Status {
    err.into().into()
}

/// The status for a refusal made here, outside the gateway's own error type.
fn refused(err: ApiError) -> Status {
    err.into_status(ERROR_DOMAIN)
}

fn invalid(violations: Vec<FieldViolation>) -> Status {
    status(GatewayError::Invalid(violations))
}

/// Operators only, checked here as well as at the edge.
fn operator<T>(request: &Request<T>) -> Result<RequestContext, Status> {
    let ctx = RequestContext::of(request).map_err(refused)?;
    if ctx.principal.role != Role::Operator {
        return Err(refused(ApiError::PermissionDenied {
            reason: "ROLE_NOT_PERMITTED",
            message: "only operators administer partners".into(),
        }));
    }
    Ok(ctx)
}

fn from_timestamp(
    field: &str,
    time: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, FieldViolation> {
    time.map(|time| {
        u32::try_from(time.nanos)
            .ok()
            .and_then(|nanos| DateTime::from_timestamp(time.seconds, nanos))
            .ok_or_else(|| FieldViolation::new(field, "OUT_OF_RANGE", format!("{field} is not a valid time")))
    })
    .transpose()
}

/// An organisation id, by the one rule in the core crate.
fn organisation_id(field: &str, text: &str) -> Result<String, FieldViolation> {
    if text.is_empty() {
        return Err(FieldViolation::required(field));
    }
    text.parse::<OrganisationId>()
        .map(|id| id.as_str().to_owned())
        .map_err(|rule| FieldViolation::new(field, "INVALID_FORMAT", format!("{field}: {rule}")))
}

fn parent_organisation(field: &str, parent: &str) -> Result<String, FieldViolation> {
    match parent.strip_prefix("organisations/") {
        Some(id) => organisation_id(field, id),
        None if parent.is_empty() => Err(FieldViolation::required(field)),
        None => Err(FieldViolation::new(
            field,
            "INVALID_NAME",
            format!("{field} must look like organisations/{{organisation}}"),
        )),
    }
}

fn kind_to_code(kind: pb::organisation::Kind) -> Option<&'static str> {
    use pb::organisation::Kind;
    match kind {
        Kind::Unspecified => None,
        Kind::Council => Some("council"),
        Kind::ArmsLengthOrganisation => Some("arms-length-organisation"),
        Kind::HousingAssociation => Some("housing-association"),
        Kind::PrivateLandlordBody => Some("private-landlord-body"),
        Kind::ExternalAgency => Some("external-agency"),
    }
}

fn kind_from_code(code: &str) -> pb::organisation::Kind {
    use pb::organisation::Kind;
    [
        Kind::Council,
        Kind::ArmsLengthOrganisation,
        Kind::HousingAssociation,
        Kind::PrivateLandlordBody,
        Kind::ExternalAgency,
    ]
    .into_iter()
    .find(|kind| kind_to_code(*kind) == Some(code))
    .unwrap_or(Kind::Unspecified)
}

fn role_from_proto(value: i32) -> Result<Role, FieldViolation> {
    use common::Role as P;
    let role = P::try_from(value).map_err(|_| {
        FieldViolation::new(
            "credential.role",
            "UNKNOWN_ENUM_VALUE",
            format!("credential.role has no value {value}"),
        )
    })?;
    platform::roles::from_proto(role).ok_or_else(|| FieldViolation::required("credential.role"))
}

/// A stored role name as the contract's value (unspecified for a name this
/// build does not know).
fn role_to_proto(role: &str) -> common::Role {
    Role::parse(role).map_or(common::Role::Unspecified, platform::roles::to_proto)
}

fn organisation_to_proto(row: Organisation) -> pb::Organisation {
    pb::Organisation {
        name: format!("organisations/{}", row.id),
        display_name: row.display_name,
        kind: kind_from_code(&row.kind).into(),
        create_time: Some(timestamp(row.create_time)),
    }
}

/// A credential as the contract shows it, its state as of `now`.
pub(crate) fn credential_to_proto(row: Credential, now: DateTime<Utc>) -> pb::Credential {
    let state = match state_at(row.revoke_time, row.expire_time, now) {
        CredentialState::Active => pb::credential::State::Active,
        CredentialState::Expired => pb::credential::State::Expired,
        CredentialState::Revoked => pb::credential::State::Revoked,
    };
    pb::Credential {
        name: credential_name(&row.organisation_id, &row.id),
        display_name: row.display_name,
        role: role_to_proto(&row.role).into(),
        areas: row.areas.as_deref().and_then(|areas| serde_json::from_str(areas).ok()).unwrap_or_default(),
        rate_limit_per_minute: row.rate_limit_per_minute,
        expire_time: row.expire_time.map(timestamp),
        state: state.into(),
        create_time: Some(timestamp(row.create_time)),
        rotate_time: row.rotate_time.map(timestamp),
        previous_secret_expire_time: row.previous_secret_expire_time.map(timestamp),
        revoke_time: row.revoke_time.map(timestamp),
    }
}

fn call_to_proto(row: Call) -> pb::CallEvent {
    pb::CallEvent {
        name: format!("callEvents/{}", row.id),
        event_time: Some(timestamp(row.event_time)),
        organisation: row.organisation,
        credential: row.credential,
        role: row.role,
        method: row.method,
        resource: row.resource,
        status: row.status,
        special_category: row.special_category,
        trace_id: row.trace_id,
        caller_trace_id: row.caller_trace_id,
    }
}

/// A new credential row and its one-time secret.
pub(crate) struct NewCredential {
    pub row: Credential,
    pub secret: String,
}

pub(crate) fn new_credential(
    organisation_id: &str,
    display_name: String,
    role: Role,
    areas: Option<Vec<String>>,
    rate_limit_per_minute: i32,
    expire_time: Option<DateTime<Utc>>,
) -> Result<NewCredential, GatewayError> {
    let id = CredentialId::generate();
    let secret = credentials::new_secret(&id)?;
    let row = Credential {
        id: id.to_string(),
        organisation_id: organisation_id.to_owned(),
        display_name,
        role: role.as_str().to_owned(),
        areas: areas.map(|areas| serde_json::Value::from(areas).to_string()),
        rate_limit_per_minute,
        expire_time,
        secret_hash: secret.hash,
        previous_secret_hash: None,
        previous_secret_expire_time: None,
        rotate_time: None,
        revoke_time: None,
        create_time: Utc::now(),
    };
    Ok(NewCredential { row, secret: secret.token })
}

#[tonic::async_trait]
impl PartnerAdmin for AdminApi {
    async fn create_organisation(
        &self,
        request: Request<pb::CreateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        operator(&request)?;
        let pb::CreateOrganisationRequest { organisation, organisation_id: raw_id } = request.into_inner();
        let Some(pb::Organisation { name: _, display_name, kind, create_time: _ }) = organisation else {
            return Err(invalid(vec![FieldViolation::required("organisation")]));
        };
        let mut violations = Violations::default();
        let id = violations.check(organisation_id("organisation_id", &raw_id));
        let display_name = display_name.trim().to_owned();
        if display_name.is_empty() {
            violations.push(FieldViolation::required("organisation.display_name"));
        } else if display_name.chars().count() > 200 {
            violations.push(FieldViolation::new(
                "organisation.display_name",
                "TOO_LONG",
                "organisation.display_name must be at most 200 characters",
            ));
        }
        let kind = match pb::organisation::Kind::try_from(kind).ok().and_then(kind_to_code) {
            Some(kind) => Some(kind),
            None => {
                violations.push(FieldViolation::new(
                    "organisation.kind",
                    "REQUIRED",
                    "organisation.kind must be one of the defined kinds",
                ));
                None
            }
        };
        let (Some(id), Some(kind)) = violations.into_result((id, kind)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("organisation")]));
        };
        let row = Organisation { id, display_name, kind: kind.to_owned(), create_time: Utc::now() };
        let created = self.store.create_organisation(row).await.map_err(status)?;
        Ok(Response::new(organisation_to_proto(created)))
    }

    async fn list_organisations(
        &self,
        request: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::ListOrganisationsResponse>, Status> {
        operator(&request)?;
        let pb::ListOrganisationsRequest { page_size, page_token } = request.into_inner();
        let tokens = PageToken::for_query(&self.page_tokens, "ListOrganisations");
        let page = tokens.request::<String>(page_size, &page_token).map_err(status)?;
        let rows = self.store.list_organisations(page.after, page.size + 1).await.map_err(status)?;
        let (rows, next_page_token) = finish_page(rows, page.size, &tokens, |row| row.id.clone());
        Ok(Response::new(pb::ListOrganisationsResponse {
            organisations: rows.into_iter().map(organisation_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn issue_credential(
        &self,
        request: Request<pb::IssueCredentialRequest>,
    ) -> Result<Response<pb::IssuedCredential>, Status> {
        operator(&request)?;
        let pb::IssueCredentialRequest { parent, credential } = request.into_inner();
        let mut violations = Violations::default();
        let organisation = violations.check(parent_organisation("parent", &parent));
        let Some(credential) = violations.check(credential.required("credential")) else {
            return Err(invalid(violations.into_vec()));
        };
        let pb::Credential { display_name, role, areas, rate_limit_per_minute, expire_time, .. } = credential;
        let role = violations.check(role_from_proto(role));
        if display_name.chars().count() > 200 {
            violations.push(FieldViolation::new(
                "credential.display_name",
                "TOO_LONG",
                "credential.display_name must be at most 200 characters",
            ));
        }
        for (index, area) in areas.iter().enumerate() {
            if Code::parse(area).is_err() {
                violations.push(FieldViolation::new(
                    format!("credential.areas[{index}]"),
                    "INVALID_FORMAT",
                    "an area is a reference code",
                ));
            }
        }
        if rate_limit_per_minute < 0 {
            violations.push(FieldViolation::new(
                "credential.rate_limit_per_minute",
                "OUT_OF_RANGE",
                "credential.rate_limit_per_minute must not be negative",
            ));
        }
        let expire_time =
            violations.check(from_timestamp("credential.expire_time", expire_time.as_ref())).flatten();
        if expire_time.is_some_and(|time| time <= self.clock.now()) {
            violations.push(FieldViolation::new(
                "credential.expire_time",
                "OUT_OF_RANGE",
                "credential.expire_time must be in the future",
            ));
        }
        let (Some(organisation), Some(role)) =
            violations.into_result((organisation, role)).map_err(invalid)?
        else {
            return Err(invalid(vec![FieldViolation::required("credential.role")]));
        };
        let Some(found) = self.store.organisation(&organisation).await.map_err(status)? else {
            return Err(status(GatewayError::NotFound {
                resource_type: "involve.gateway.v1.Organisation",
                name: parent,
            }));
        };
        if !policy::kind_allows(&found.kind, role) {
            return Err(status(GatewayError::RoleNotAllowed { role: role.as_str(), kind: found.kind }));
        }
        let areas = (!areas.is_empty()).then_some(areas);
        let issued = new_credential(
            &organisation,
            display_name.trim().to_owned(),
            role,
            areas,
            rate_limit_per_minute,
            expire_time,
        )
        .map_err(status)?;
        let row = self.store.insert_credential(issued.row).await.map_err(status)?;
        Ok(Response::new(pb::IssuedCredential {
            credential: Some(credential_to_proto(row, self.clock.now())),
            secret: issued.secret,
        }))
    }

    async fn list_credentials(
        &self,
        request: Request<pb::ListCredentialsRequest>,
    ) -> Result<Response<pb::ListCredentialsResponse>, Status> {
        operator(&request)?;
        let pb::ListCredentialsRequest { parent, page_size, page_token } = request.into_inner();
        let organisation = parent_organisation("parent", &parent).map_err(|v| invalid(vec![v]))?;
        let tokens = PageToken::for_query(&self.page_tokens, format!("ListCredentials|{organisation}"));
        let page = tokens.request::<String>(page_size, &page_token).map_err(status)?;
        let rows =
            self.store.list_credentials(&organisation, page.after, page.size + 1).await.map_err(status)?;
        let (rows, next_page_token) = finish_page(rows, page.size, &tokens, |row| row.id.clone());
        Ok(Response::new(pb::ListCredentialsResponse {
            credentials: rows.into_iter().map(|row| credential_to_proto(row, self.clock.now())).collect(),
            next_page_token,
        }))
    }

    async fn rotate_credential(
        &self,
        request: Request<pb::RotateCredentialRequest>,
    ) -> Result<Response<pb::IssuedCredential>, Status> {
        operator(&request)?;
        let pb::RotateCredentialRequest { name, grace_period } = request.into_inner();
        let (organisation, id) = credential(&name)?;
        let grace = match grace_period {
            None => Duration::ZERO,
            Some(prost_types::Duration { seconds, nanos }) => {
                let valid = seconds >= 0 && nanos >= 0 && seconds <= MAX_GRACE_DAYS * 86_400;
                if !valid {
                    return Err(invalid(vec![FieldViolation::new(
                        "grace_period",
                        "OUT_OF_RANGE",
                        format!("grace_period must be between 0 and {MAX_GRACE_DAYS} days"),
                    )]));
                }
                Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
            }
        };
        self.ensure_credential(&organisation, &id, name).await?;
        let secret = credentials::new_secret(&id).map_err(|e| status(GatewayError::Secret(e)))?;
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(grace).unwrap_or_default();
        let row = self.store.rotate_credential(id.as_str(), secret.hash, until, now).await.map_err(status)?;
        self.auth.invalidate(id.as_str());
        Ok(Response::new(pb::IssuedCredential {
            credential: Some(credential_to_proto(row, self.clock.now())),
            secret: secret.token,
        }))
    }

    async fn revoke_credential(
        &self,
        request: Request<pb::RevokeCredentialRequest>,
    ) -> Result<Response<pb::Credential>, Status> {
        operator(&request)?;
        let pb::RevokeCredentialRequest { name } = request.into_inner();
        let (organisation, id) = credential(&name)?;
        self.ensure_credential(&organisation, &id, name).await?;
        let row = self.store.revoke_credential(id.as_str(), self.clock.now()).await.map_err(status)?;
        self.auth.invalidate(id.as_str());
        self.limiter.forget(id.as_str());
        Ok(Response::new(credential_to_proto(row, self.clock.now())))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        operator(&request)?;
        let pb::ListAuditEventsRequest {
            page_size,
            page_token,
            organisation,
            credential,
            method,
            start_time,
            end_time,
        } = request.into_inner();
        let mut violations = Vec::new();
        if !organisation.is_empty()
            && let Err(v) = parent_organisation("organisation", &organisation)
        {
            violations.push(v);
        }
        if !credential.is_empty() && parse_credential_name(&credential).is_none() {
            violations.push(FieldViolation::new(
                "credential",
                "INVALID_NAME",
                "credential must look like organisations/{organisation}/credentials/{credential}",
            ));
        }
        let start =
            from_timestamp("start_time", start_time.as_ref()).map_err(|v| violations.push(v)).ok().flatten();
        let end =
            from_timestamp("end_time", end_time.as_ref()).map_err(|v| violations.push(v)).ok().flatten();
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        let filter = CallFilter {
            organisation: (!organisation.is_empty()).then(|| organisation.clone()),
            credential: (!credential.is_empty()).then(|| credential.clone()),
            method: (!method.is_empty()).then(|| method.trim_start_matches('/').to_owned()),
            start_time: start,
            end_time: end,
        };
        let fingerprint = format!(
            "ListAuditEvents|{organisation}|{credential}|{method}|{}|{}",
            start.map(|t| t.timestamp_micros()).unwrap_or_default(),
            end.map(|t| t.timestamp_micros()).unwrap_or_default()
        );
        let tokens = PageToken::for_query(&self.page_tokens, fingerprint);
        let page = tokens.request::<(i64, uuid::Uuid)>(page_size, &page_token).map_err(status)?;
        let before = page
            .after
            .and_then(|(micros, id)| DateTime::from_timestamp_micros(micros).map(|time| (time, id)));
        let rows = self.store.list_calls(&filter, before, page.size + 1).await.map_err(status)?;
        let (rows, next_page_token) =
            finish_page(rows, page.size, &tokens, |row| (row.event_time.timestamp_micros(), row.id));
        Ok(Response::new(pb::ListAuditEventsResponse {
            audit_events: rows.into_iter().map(call_to_proto).collect(),
            next_page_token,
        }))
    }
}

fn credential(name: &str) -> Result<(String, CredentialId), Status> {
    if name.is_empty() {
        return Err(invalid(vec![FieldViolation::required("name")]));
    }
    parse_credential_name(name).ok_or_else(|| {
        invalid(vec![FieldViolation::new(
            "name",
            "INVALID_NAME",
            "name must look like organisations/{organisation}/credentials/{credential}",
        )])
    })
}
