//! The contracts' shared shapes read into the core's types and written back:
//! dates, reference codes, organisation names, enums, audit events and field
//! violations. Every service reads its requests with these, so a bad date or code
//! is named the same way by all of them.

use chrono::{Datelike as _, NaiveDate};
use contracts::google::r#type::Date;
use contracts::involve::common::v1 as common;
use involve_core::{Code, FieldViolation, OrganisationName};
use persistence::audit::AuditEvent;

pub use crate::error::timestamp;

fn bad_format(field: &str, why: impl std::fmt::Display) -> FieldViolation {
    FieldViolation::new(field, "INVALID_FORMAT", format!("{field} {why}"))
}

/// A `google.type.Date`: `None` when unset (all zero), refused unless it is a
/// whole calendar date.
pub fn date_from_proto(field: &str, date: Option<&Date>) -> Result<Option<NaiveDate>, FieldViolation> {
    let Some(&Date { year, month, day }) = date else { return Ok(None) };
    if (year, month, day) == (0, 0, 0) {
        return Ok(None);
    }
    u32::try_from(month)
        .ok()
        .zip(u32::try_from(day).ok())
        .and_then(|(month, day)| NaiveDate::from_ymd_opt(year, month, day))
        .map(Some)
        .ok_or_else(|| bad_format(field, "is not a calendar date"))
}

pub fn date_to_proto(date: NaiveDate) -> Date {
    Date {
        year: date.year(),
        month: i32::try_from(date.month()).unwrap_or(0),
        day: i32::try_from(date.day()).unwrap_or(0),
    }
}

/// A reference code; `None` when empty.
pub fn optional_code(field: &str, text: &str) -> Result<Option<Code>, FieldViolation> {
    if text.is_empty() {
        return Ok(None);
    }
    Code::parse(text).map(Some).map_err(|why| bad_format(field, why))
}

pub fn required_code(field: &str, text: &str) -> Result<Code, FieldViolation> {
    optional_code(field, text)?.ok_or_else(|| FieldViolation::required(field))
}

/// An organisation name (`organisations/{id}`); `None` when empty.
pub fn optional_organisation(field: &str, text: &str) -> Result<Option<OrganisationName>, FieldViolation> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<OrganisationName>().map(Some).map_err(|why| bad_format(field, why))
}

/// An enum number the contract does not define.
pub fn unknown_enum(field: &str, value: i32) -> FieldViolation {
    FieldViolation::new(field, "UNKNOWN_ENUM_VALUE", format!("{field} has no value {value}"))
}

/// An audit event as `viewer` (an organisation name) may see it: its own
/// organisation's events in full, other organisations' without the credential that
/// acted or the purpose it stated (who at another landlord looked, and why, is that
/// landlord's business; that it happened, when and by which role is the subject's).
pub fn audit_event_to_proto(event: AuditEvent, viewer: &str) -> common::AuditEvent {
    let own = event.organisation == viewer;
    let AuditEvent {
        id,
        event_time,
        organisation,
        role,
        subject,
        method,
        resource,
        purpose,
        special_category,
        trace_id,
    } = event;
    common::AuditEvent {
        name: format!("auditEvents/{id}"),
        event_time: Some(timestamp(event_time)),
        organisation,
        role,
        subject: if own { subject } else { String::new() },
        method,
        resource,
        purpose: if own { purpose } else { String::new() },
        special_category,
        trace_id,
    }
}

/// The request's `request_id`, canonical, and a digest of the rest of the request
/// (`clear` blanks the request id and anything else that must not count, such as
/// `validate_only`). prost encodes fields in a fixed order, so the same request
/// always has the same digest. `None` without a valid request id (an invalid one is
/// refused by validation before anything is stored).
pub fn request_identity<M: prost::Message + Clone>(
    message: &M,
    request_id: &str,
    clear: impl FnOnce(&mut M),
) -> Option<persistence::idempotency::RequestIdentity> {
    let request_id = involve_core::RequestId::parse_optional("request_id", request_id).ok().flatten()?;
    let mut rest = message.clone();
    clear(&mut rest);
    Some(persistence::idempotency::RequestIdentity::new(request_id.into_string(), &rest.encode_to_vec()))
}

/// A violation as the contracts carry it in a response body (import results).
pub fn violation_to_proto(violation: FieldViolation) -> common::FieldViolation {
    common::FieldViolation {
        field: violation.field,
        description: violation.description,
        reason: violation.reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_whole_calendar_dates_or_unset() {
        let date = |year, month, day| Date { year, month, day };
        assert_eq!(date_from_proto("d", None), Ok(None));
        assert_eq!(date_from_proto("d", Some(&date(0, 0, 0))), Ok(None));
        let leap = NaiveDate::from_ymd_opt(2028, 2, 29).unwrap();
        assert_eq!(date_from_proto("d", Some(&date_to_proto(leap))), Ok(Some(leap)));
        for bad in
            [date(2026, 2, 30), date(2026, 0, 1), date(2026, 13, 1), date(2026, 1, -1), date(2026, 0, 0)]
        {
            assert_eq!(date_from_proto("d", Some(&bad)).unwrap_err().reason, "INVALID_FORMAT", "{bad:?}");
        }
    }

    #[test]
    fn codes_and_organisations_are_optional_unless_required() {
        assert_eq!(optional_code("c", ""), Ok(None));
        assert_eq!(required_code("c", "").unwrap_err().reason, "REQUIRED");
        assert!(optional_code("c", "Not A Code!").is_err());
        assert_eq!(optional_organisation("o", ""), Ok(None));
        assert!(optional_organisation("o", "organisations/riverside").unwrap().is_some());
        assert_eq!(optional_organisation("o", "riverside").unwrap_err().field, "o");
    }

    #[test]
    fn another_organisations_audit_event_hides_who_and_why() {
        let event = AuditEvent {
            id: uuid::Uuid::nil(),
            event_time: chrono::Utc::now(),
            organisation: "organisations/riverside".into(),
            role: "PARTNER_INTEGRATION".into(),
            subject: "organisations/riverside/credentials/c".into(),
            method: "m".into(),
            resource: "customers/x".into(),
            purpose: "CASEWORK".into(),
            special_category: true,
            trace_id: "t".into(),
        };
        let own = audit_event_to_proto(event.clone(), "organisations/riverside");
        assert_eq!((own.subject.as_str(), own.purpose.as_str()), (event.subject.as_str(), "CASEWORK"));
        let other = audit_event_to_proto(event, "organisations/hillside");
        assert_eq!((other.subject.as_str(), other.purpose.as_str()), ("", ""));
        assert_eq!(other.role, "PARTNER_INTEGRATION");
    }
}
