//! What the gateway keeps, as plain values: the store maps them to and from its
//! tables, so the api, the authenticator and the audit never see a database row.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An organisation of the partnership (`organisations/{id}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organisation {
    pub id: String,
    pub display_name: String,
    /// `council`, `landlord`, `external_agency`, ... (see `policy::kind_allows`).
    pub kind: String,
    pub create_time: DateTime<Utc>,
}

/// A credential as stored: its secret only as hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub id: String,
    pub organisation_id: String,
    pub display_name: String,
    /// The role's name; one this build does not know leaves the credential unusable.
    pub role: String,
    /// JSON list of area codes, or `None` for no restriction.
    pub areas: Option<String>,
    pub rate_limit_per_minute: i32,
    pub expire_time: Option<DateTime<Utc>>,
    pub secret_hash: String,
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expire_time: Option<DateTime<Utc>>,
    pub rotate_time: Option<DateTime<Utc>>,
    pub revoke_time: Option<DateTime<Utc>>,
    pub create_time: DateTime<Utc>,
}

/// One call through the gateway, as its audit keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub id: Uuid,
    pub event_time: DateTime<Utc>,
    pub credential: String,
    pub organisation: String,
    pub role: String,
    pub method: String,
    pub resource: String,
    pub status: String,
    pub special_category: bool,
    /// The gateway's own trace of the call.
    pub trace_id: String,
    /// The trace the caller sent, if any, kept beside the gateway's.
    pub caller_trace_id: String,
}
