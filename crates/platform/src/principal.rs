//! Who is calling: organisation, role, optional area restriction.
//!
//! A service never authenticates anybody itself. It reads the [`Principal`] that the
//! layer in front of it placed in the request's extensions. Today that layer is
//! [`PrincipalLayer`] in *trusted metadata* mode, for development and tests only; the
//! gateway will be the one that places it.

use std::task::{Context, Poll};

use http::HeaderMap;
use persistence::{Actor, Scope};
use tower::{Layer, Service};

use crate::ApiError;

pub const ORGANISATION_HEADER: &str = "x-involve-organisation";
pub const ROLE_HEADER: &str = "x-involve-role";
pub const AREAS_HEADER: &str = "x-involve-areas";
pub const SUBJECT_HEADER: &str = "x-involve-subject";
pub const PURPOSE_HEADER: &str = "x-involve-purpose";

const MAX_PURPOSE_LEN: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    PartnerIntegration,
    NeighbourhoodOfficer,
    TenantParticipationOfficer,
    Operator,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Self::PartnerIntegration,
        Self::NeighbourhoodOfficer,
        Self::TenantParticipationOfficer,
        Self::Operator,
    ];

    /// The name used in contracts (`involve.common.v1.Role`) and in metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartnerIntegration => "PARTNER_INTEGRATION",
            Self::NeighbourhoodOfficer => "NEIGHBOURHOOD_OFFICER",
            Self::TenantParticipationOfficer => "TENANT_PARTICIPATION_OFFICER",
            Self::Operator => "OPERATOR",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str().eq_ignore_ascii_case(text))
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// `organisations/{id}`.
    pub organisation: String,
    pub role: Role,
    /// The credential or person; recorded in the audit log.
    pub subject: String,
    /// When set, only these area codes.
    pub areas: Option<Vec<String>>,
}

impl Principal {
    /// What a principal may see of records owned by landlord organisations:
    /// partners their own organisation's, officers their areas, everyone else
    /// the partnership; an area restriction on the credential narrows any of them.
    pub fn landlord_scope(&self) -> Scope {
        let scope = match self.role {
            Role::PartnerIntegration => Scope::organisation(self.organisation.clone()),
            Role::NeighbourhoodOfficer | Role::TenantParticipationOfficer | Role::Operator => {
                Scope::partnership()
            }
        };
        match &self.areas {
            Some(areas) => scope.with_areas(areas.clone()),
            None => scope,
        }
    }

    /// Reads a principal from trusted request metadata (development and tests only).
    fn from_metadata(headers: &HeaderMap) -> Result<Option<Self>, &'static str> {
        let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
        let (Some(organisation), Some(role)) = (text(ORGANISATION_HEADER), text(ROLE_HEADER)) else {
            return Ok(None);
        };
        let organisation = organisation.to_owned();
        let id_ok = organisation.strip_prefix("organisations/").is_some_and(|id| {
            !id.is_empty() && id.len() <= 63 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if !id_ok {
            return Err("x-involve-organisation must look like organisations/{id}");
        }
        let role = Role::parse(role).ok_or("x-involve-role is not a known role")?;
        let areas = text(AREAS_HEADER).filter(|areas| !areas.is_empty()).map(|areas| {
            areas.split(',').map(|area| area.trim().to_owned()).filter(|a| !a.is_empty()).collect()
        });
        let subject = text(SUBJECT_HEADER).unwrap_or("development").chars().take(128).collect();
        Ok(Some(Self { organisation, role, subject, areas }))
    }
}

/// The RPC a request calls (`involve.profiles.v1.CustomerProfiles/GetCustomer`),
/// taken from its path by [`PrincipalLayer`]: servers get no `GrpcMethod`.
#[derive(Clone, Debug)]
struct CalledMethod(String);

/// Why a request has no principal, left in its extensions by [`PrincipalLayer`].
#[derive(Clone, Copy, Debug)]
struct PrincipalRejected(&'static str);

/// Places the caller's [`Principal`] in each request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct PrincipalLayer {
    trust_metadata: bool,
}

impl PrincipalLayer {
    /// `trust_metadata`: DEVELOPMENT AND TESTS ONLY, see
    /// `SecurityConfig::trust_principal_metadata`. When false, any principal
    /// metadata a caller sends is ignored and calls arrive without a principal.
    pub fn new(trust_metadata: bool) -> Self {
        Self { trust_metadata }
    }
}

impl<S> Layer<S> for PrincipalLayer {
    type Service = PrincipalService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PrincipalService { inner, trust_metadata: self.trust_metadata }
    }
}

#[derive(Clone, Debug)]
pub struct PrincipalService<S> {
    inner: S,
    trust_metadata: bool,
}

impl<S, B> Service<http::Request<B>> for PrincipalService<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let method = CalledMethod(request.uri().path().trim_start_matches('/').to_owned());
        request.extensions_mut().insert(method);
        // Whatever a caller claims is never taken at face value unless trusted.
        request.extensions_mut().remove::<Principal>();
        if self.trust_metadata {
            match Principal::from_metadata(request.headers()) {
                Ok(Some(principal)) => {
                    request.extensions_mut().insert(principal);
                }
                Ok(None) => {}
                Err(reason) => {
                    request.extensions_mut().insert(PrincipalRejected(reason));
                }
            }
        }
        self.inner.call(request)
    }
}

/// Everything a handler needs to know about the call besides its message.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub principal: Principal,
    /// `involve.profiles.v1.CustomerProfiles/GetCustomer`.
    pub method: String,
    pub purpose: String,
    pub trace_id: String,
}

impl RequestContext {
    /// The caller of `request`, or UNAUTHENTICATED.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Self, ApiError> {
        let extensions = request.extensions();
        let principal = match extensions.get::<Principal>() {
            Some(principal) => principal.clone(),
            None => {
                let message = extensions
                    .get::<PrincipalRejected>()
                    .map_or("this call needs an authenticated caller", |rejected| rejected.0);
                return Err(ApiError::Unauthenticated {
                    reason: "PRINCIPAL_MISSING",
                    message: message.to_owned(),
                });
            }
        };
        let method = extensions.get::<CalledMethod>().map(|method| method.0.clone()).unwrap_or_default();
        let purpose = request
            .metadata()
            .get(PURPOSE_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(|purpose| purpose.chars().take(MAX_PURPOSE_LEN).collect::<String>())
            .filter(|purpose| !purpose.trim().is_empty())
            .unwrap_or_else(|| method.clone());
        Ok(Self { principal, method, purpose, trace_id: crate::telemetry::current_trace_id() })
    }

    /// The caller as the audit log records them.
    pub fn actor(&self) -> Actor {
        Actor {
            organisation: self.principal.organisation.clone(),
            role: self.principal.role.as_str().to_owned(),
            subject: self.principal.subject.clone(),
            method: self.method.clone(),
            purpose: self.purpose.clone(),
            trace_id: self.trace_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, http::HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn reads_a_full_principal() {
        let principal = Principal::from_metadata(&headers(&[
            (ORGANISATION_HEADER, "organisations/riverside"),
            (ROLE_HEADER, "neighbourhood_officer"),
            (AREAS_HEADER, "north, east"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(principal.role, Role::NeighbourhoodOfficer);
        assert_eq!(principal.areas, Some(vec!["north".to_owned(), "east".to_owned()]));
    }

    #[test]
    fn missing_metadata_is_no_principal() {
        assert_eq!(Principal::from_metadata(&headers(&[])), Ok(None));
    }

    #[test]
    fn malformed_metadata_is_rejected() {
        assert!(
            Principal::from_metadata(&headers(&[
                (ORGANISATION_HEADER, "riverside"),
                (ROLE_HEADER, "OPERATOR")
            ]))
            .is_err()
        );
        assert!(
            Principal::from_metadata(&headers(&[
                (ORGANISATION_HEADER, "organisations/riverside"),
                (ROLE_HEADER, "KING")
            ]))
            .is_err()
        );
    }

    #[test]
    fn partners_are_scoped_to_their_organisation() {
        let principal = Principal {
            organisation: "organisations/a".into(),
            role: Role::PartnerIntegration,
            subject: "s".into(),
            areas: None,
        };
        assert_eq!(principal.landlord_scope(), Scope::organisation("organisations/a"));
        let operator = Principal { role: Role::Operator, ..principal };
        assert_eq!(operator.landlord_scope(), Scope::partnership());
    }
}
