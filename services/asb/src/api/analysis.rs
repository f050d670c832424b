//! The wire side of `GetAsbAnalysis`, `SetLandlordHomes` and `ListLandlordHomes`:
//! requests read and checked, answers encoded. Nothing here decides anything.

use contracts::involve::asb::v1 as pb;
use contracts::involve::profiles::v1::Characteristic;
use involve_core::{OrganisationName, Violations};
use platform::FieldViolation;
use platform::wire::{optional_organisation, timestamp, unknown_enum};

use super::{party_role_to_proto, required_date};
use crate::domain::analysis::{MAX_MONTHS, PerpetratorType, months, percent};
use crate::service::{Analysis, AnalysisRequest};
use crate::store::entities::landlord_homes;

fn i64_of(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// An equality characteristic to profile parties by; `None` when unset.
fn equality_characteristic(value: i32) -> Result<Option<Characteristic>, FieldViolation> {
    const FIELD: &str = "equality_characteristic";
    match Characteristic::try_from(value).map_err(|_| unknown_enum(FIELD, value))? {
        Characteristic::Unspecified => Ok(None),
        Characteristic::PreferredLanguage | Characteristic::PreferredContactChannel => {
            Err(FieldViolation::new(
                FIELD,
                "NOT_AN_EQUALITY_CHARACTERISTIC",
                "equality_characteristic must be an equality characteristic",
            ))
        }
        equality @ (Characteristic::Ethnicity
        | Characteristic::Disability
        | Characteristic::Sex
        | Characteristic::GenderIdentity
        | Characteristic::AgeBand
        | Characteristic::Religion
        | Characteristic::SexualOrientation
        | Characteristic::CaringResponsibilities) => Ok(Some(equality)),
    }
}

/// Reads a `GetAsbAnalysisRequest`, naming every bad field.
pub(super) fn read_request(
    request: pb::GetAsbAnalysisRequest,
) -> Result<AnalysisRequest, Vec<FieldViolation>> {
    let pb::GetAsbAnalysisRequest {
        start_date,
        end_date,
        landlord_organisation,
        hotspot_threshold,
        equality_characteristic: characteristic,
    } = request;
    let mut v = Violations::default();
    let start = v.check(required_date("start_date", start_date.as_ref()));
    let end = v.check(required_date("end_date", end_date.as_ref()));
    if let (Some(start), Some(end)) = (start, end) {
        if end < start {
            v.push(FieldViolation::new("end_date", "OUT_OF_RANGE", "end_date is on or after start_date"));
        } else if months(start, end).len() > MAX_MONTHS {
            v.push(FieldViolation::new(
                "end_date",
                "PERIOD_TOO_LONG",
                format!("an analysis covers at most {MAX_MONTHS} months"),
            ));
        }
    }
    let landlord = v.take(optional_organisation("landlord_organisation", &landlord_organisation), None);
    let threshold = match u32::try_from(hotspot_threshold) {
        Ok(0) => None,
        Ok(threshold) => Some(threshold),
        Err(_) => {
            v.push(FieldViolation::new(
                "hotspot_threshold",
                "OUT_OF_RANGE",
                "hotspot_threshold is at least 1",
            ));
            None
        }
    };
    let characteristic = v.take(equality_characteristic(characteristic), None);
    let (Some(start), Some(end)) = v.into_result((start, end))? else {
        return Err(vec![FieldViolation::required("start_date")]);
    };
    Ok(AnalysisRequest { start, end, landlord, hotspot_threshold: threshold, characteristic })
}

fn perpetrator_to_proto(perpetrator: PerpetratorType) -> pb::PerpetratorType {
    match perpetrator {
        PerpetratorType::None => pb::PerpetratorType::None,
        PerpetratorType::Customer => pb::PerpetratorType::Customer,
        PerpetratorType::External => pb::PerpetratorType::External,
        PerpetratorType::Unknown => pb::PerpetratorType::Unknown,
    }
}

pub(super) fn analysis_to_proto(analysis: Analysis) -> pb::AsbAnalysis {
    pb::AsbAnalysis {
        by_category: analysis
            .by_category
            .into_iter()
            .map(|figure| pb::CategoryFigure {
                category: figure.category,
                perpetrator_type: perpetrator_to_proto(figure.perpetrator).into(),
                cases: figure.cases,
                officer_minutes: figure.minutes,
            })
            .collect(),
        by_intervention: analysis
            .remedies
            .into_iter()
            .map(|(intervention_type, tally)| pb::RemedyFigure {
                repeat_percent: tally.repeat_percent(),
                intervention_type,
                cases: i64_of(tally.cases),
                resolved: i64_of(tally.resolved),
                repeated: i64_of(tally.repeated),
            })
            .collect(),
        hotspots: analysis
            .hotspots
            .into_iter()
            .map(|figure| pb::HotspotFigure {
                area: figure.area.as_str().to_owned(),
                period: figure.period,
                cases: i64_of(figure.cases),
                previous_period_cases: i64_of(figure.previous),
                alert: figure.alert,
            })
            .collect(),
        by_landlord: analysis
            .landlords
            .into_iter()
            .map(|figure| pb::LandlordFigure {
                landlord_organisation: figure.landlord,
                year: figure.year,
                homes: figure.homes,
                cases: figure.cases,
                hate_incident_cases: figure.hate_incident_cases,
                cases_per_thousand_homes: figure.per_thousand_homes,
                hate_incident_cases_per_thousand_homes: figure.hate_per_thousand_homes,
                officer_minutes: figure.minutes,
                cost_per_case: figure.cost_per_case.map(i64_of),
            })
            .collect(),
        equality_profile: analysis
            .equality
            .into_iter()
            .map(|figure| pb::EqualityFigure {
                role: party_role_to_proto(figure.role).into(),
                value: figure.value,
                people: figure.people,
            })
            .collect(),
        satisfaction_by_group: analysis
            .satisfaction
            .into_iter()
            .map(|group| pb::SatisfactionFigure {
                percent: percent(group.satisfied, group.surveyed),
                value: group.value,
                surveyed: group.surveyed,
                satisfied: group.satisfied,
                gap: group.gap,
            })
            .collect(),
        compute_time: Some(timestamp(chrono::Utc::now())),
        rounding_base: i32::try_from(analysis.rounding_base).unwrap_or_default(),
        cases: analysis.cases,
        officer_minutes: analysis.minutes,
        cost_per_case: analysis.cost_per_case.map(i64_of),
        hotspot_threshold: i32::try_from(analysis.hotspot_threshold).unwrap_or(i32::MAX),
        surveyed: analysis.surveyed,
        satisfied: analysis.satisfied,
        satisfaction_gap_points: analysis.gap_points,
    }
}

/// Most homes one landlord may record: far above any partnership's.
const MAX_HOMES: i64 = 10_000_000;

/// Reads a `SetLandlordHomesRequest`: landlord, year and homes.
pub(super) fn read_homes(
    request: pb::SetLandlordHomesRequest,
) -> Result<(OrganisationName, i32, i64), Vec<FieldViolation>> {
    const LANDLORD: &str = "landlord_homes.landlord_organisation";
    let Some(pb::LandlordHomes { landlord_organisation, year, homes, .. }) = request.landlord_homes else {
        return Err(vec![FieldViolation::required("landlord_homes")]);
    };
    let mut v = Violations::default();
    let landlord = v.check(optional_organisation(LANDLORD, &landlord_organisation)).and_then(|named| {
        named.or_else(|| {
            v.push(FieldViolation::required(LANDLORD));
            None
        })
    });
    if !(2000..=2100).contains(&year) {
        v.push(FieldViolation::new(
            "landlord_homes.year",
            "OUT_OF_RANGE",
            "landlord_homes.year is 2000 to 2100",
        ));
    }
    if !(1..=MAX_HOMES).contains(&homes) {
        v.push(FieldViolation::new(
            "landlord_homes.homes",
            "OUT_OF_RANGE",
            format!("landlord_homes.homes is 1 to {MAX_HOMES}"),
        ));
    }
    match v.into_result(landlord)? {
        Some(landlord) => Ok((landlord, year, homes)),
        None => Err(vec![FieldViolation::required(LANDLORD)]),
    }
}

pub(super) fn homes_to_proto(row: landlord_homes::Model) -> pb::LandlordHomes {
    pb::LandlordHomes {
        landlord_organisation: row.landlord_organisation,
        year: row.year,
        homes: row.homes,
        updated_by: row.updated_by,
        update_time: Some(timestamp(row.update_time)),
    }
}
