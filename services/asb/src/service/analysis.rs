//! `GetAsbAnalysis` and the homes behind NM01: the store counts, the domain's
//! rules turn counts into figures, and profiles counts the equality groups, so
//! no person's equality answer ever reaches this service.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use contracts::involve::profiles::v1::{Characteristic, EqualityGroupCounts};
use involve_core::{Capability, Code, OrganisationName, Role};
use persistence::AuditEntry;
use platform::{FieldViolation, RequestContext};

use super::{Cases, refused};
use crate::domain::analysis::{
    self, AnalysisSettings, GroupSatisfaction, HotspotFigure, Hotspots, PerpetratorType,
    PublishedSatisfaction, RemedyTally,
};
use crate::domain::calendar::start_of_day;
use crate::domain::case::PartyRole;
use crate::error::AsbError;
use crate::store::entities::landlord_homes;
use crate::store::{AnalysisScope, LandlordYearRow, ListReach};

/// An analysis as asked for, validated as far as the wire allows.
#[derive(Clone, Debug)]
pub struct AnalysisRequest {
    pub start: NaiveDate,
    /// Inclusive.
    pub end: NaiveDate,
    pub landlord: Option<OrganisationName>,
    pub hotspot_threshold: Option<u32>,
    /// An equality characteristic (checked on the wire).
    pub characteristic: Option<Characteristic>,
}

/// Cases and officer time of one category and perpetrator type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryFigure {
    pub category: String,
    pub perpetrator: PerpetratorType,
    pub cases: i64,
    pub minutes: i64,
}

/// NM01 and cost for one landlord and year.
#[derive(Clone, Debug, PartialEq)]
pub struct LandlordFigure {
    pub landlord: String,
    pub year: i32,
    pub homes: Option<i64>,
    pub cases: i64,
    pub hate_incident_cases: i64,
    pub per_thousand_homes: Option<f64>,
    pub hate_per_thousand_homes: Option<f64>,
    pub minutes: i64,
    pub cost_per_case: Option<u64>,
}

/// How many people in a role share one value, as profiles published it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EqualityFigure {
    pub role: PartyRole,
    pub value: String,
    pub people: i64,
}

/// The analysis as published.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    pub by_category: Vec<CategoryFigure>,
    pub remedies: Vec<(String, RemedyTally)>,
    pub hotspots: Vec<HotspotFigure<String>>,
    pub landlords: Vec<LandlordFigure>,
    pub equality: Vec<EqualityFigure>,
    pub satisfaction: Vec<PublishedSatisfaction>,
    pub rounding_base: i64,
    pub cases: i64,
    pub minutes: i64,
    pub cost_per_case: Option<u64>,
    pub hotspot_threshold: u32,
    pub surveyed: i64,
    pub satisfied: i64,
    pub gap_points: f64,
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Most customer names one `CountEqualityGroups` request may carry (profiles'
/// limit).
const MAX_EQUALITY_NAMES: usize = 50_000;

/// Labels of the sets sent to profiles.
const COMPLAINANTS: &str = "complainants";
const VICTIMS: &str = "victims";
const PERPETRATORS: &str = "perpetrators";
const SURVEYED: &str = "surveyed";
const SATISFIED: &str = "satisfied";

/// Whether `reach` covers every case of a landlord, so a rate per home is honest:
/// an area-restricted caller counts only part of a landlord's cases.
fn covers_whole_landlords(reach: &ListReach) -> bool {
    matches!(reach, ListReach::Areas(None) | ListReach::Owner { areas: None, .. })
}

impl Cases {
    /// The analysis of the cases received from `request.start` to `request.end`
    /// within the caller's reach.
    pub async fn analysis(
        &self,
        ctx: &RequestContext,
        request: AnalysisRequest,
    ) -> Result<Analysis, AsbError> {
        let reach = Self::reach_for(ctx, true)?;
        let own = &ctx.principal.organisation;
        if let (ListReach::Owner { .. }, Some(named)) = (&reach, &request.landlord)
            && named.as_str() != own
        {
            return Err(refused("OUTSIDE_SCOPE", "a landlord analyses its own cases only"));
        }
        // A caller's own organisation is never unknown to it, cases or not.
        if let Some(landlord) = &request.landlord
            && landlord.as_str() != own
            && !self.store.knows_landlord(landlord.as_str()).await?
        {
            return Err(AsbError::Invalid(vec![FieldViolation::new(
                "landlord_organisation",
                "UNKNOWN_LANDLORD",
                format!("{landlord} has no cases and no homes on record"),
            )]));
        }
        let settings = self.analysis;
        let scope = AnalysisScope {
            reach,
            landlord: request.landlord.as_ref().map(|landlord| landlord.as_str().to_owned()),
            from: start_of_day(request.start),
            to: request.end.succ_opt().map_or(chrono::DateTime::<chrono::Utc>::MAX_UTC, start_of_day),
        };
        let months = analysis::months(request.start, request.end);
        let years = analysis::years(request.start, request.end);
        let figures = self.store.analysis_figures(&scope, &months, &years).await?;
        let resource = format!(
            "asbAnalysis?start={}&end={}&landlord={}",
            request.start,
            request.end,
            scope.landlord.as_deref().unwrap_or_default()
        );
        self.store.record_reads(&ctx.actor(), vec![AuditEntry::new(resource)]).await?;

        let hotspot_threshold = request.hotspot_threshold.unwrap_or(settings.hotspot_threshold);
        let month_index: BTreeMap<&str, usize> =
            months.iter().enumerate().map(|(index, month)| (month.label.as_str(), index)).collect();
        let mut hotspots = Hotspots::default();
        for (area, month, cases) in &figures.area_months {
            if let Some(&index) = month_index.get(month.as_str()) {
                hotspots.add(Code::trusted(area), index, count(*cases));
            }
        }
        let hotspots = hotspots
            .figures(u64::from(hotspot_threshold), |index| index.checked_sub(1).unwrap_or(usize::MAX))
            .into_iter()
            .filter_map(|figure| {
                Some(HotspotFigure {
                    period: months.get(figure.period)?.label.clone(),
                    area: figure.area,
                    cases: figure.cases,
                    previous: figure.previous,
                    alert: figure.alert,
                })
            })
            .collect();

        let mut by_category: BTreeMap<(String, PerpetratorType), (i64, i64)> = BTreeMap::new();
        for row in &figures.categories {
            let mut categories = row.categories.clone();
            categories.sort();
            categories.dedup();
            for category in categories {
                let figure = by_category.entry((category, row.perpetrator)).or_default();
                figure.0 += row.cases;
                figure.1 += row.minutes;
            }
        }
        let by_category = by_category
            .into_iter()
            .map(|((category, perpetrator), (cases, minutes))| CategoryFigure {
                category,
                perpetrator,
                cases,
                minutes,
            })
            .collect();

        let remedies = figures
            .remedies
            .iter()
            .map(|row| {
                let tally = RemedyTally {
                    cases: count(row.cases),
                    resolved: count(row.resolved),
                    repeated: count(row.repeated),
                };
                (row.intervention_type.clone(), tally)
            })
            .collect();

        let landlords = self.landlord_figures(&scope, &figures.landlord_years, &years, settings).await?;
        let cost = |minutes: i64, cases: i64| {
            settings
                .officer_hourly_cost_pence
                .and_then(|hourly| analysis::cost_per_case(count(minutes), hourly, count(cases)))
        };
        let mut published = Analysis {
            by_category,
            remedies,
            hotspots,
            landlords,
            cases: figures.cases,
            minutes: figures.minutes,
            cost_per_case: cost(figures.minutes, figures.cases),
            hotspot_threshold,
            surveyed: figures.surveyed,
            satisfied: figures.satisfied,
            gap_points: settings.satisfaction_gap_points,
            ..Analysis::default()
        };
        if let Some(characteristic) = request.characteristic {
            self.equality(ctx, &scope, characteristic, settings, &mut published).await?;
        }
        Ok(published)
    }

    /// NM01 per landlord and year: every landlord with cases in the period, and,
    /// for callers who see whole landlords, those with homes on record and none.
    async fn landlord_figures(
        &self,
        scope: &AnalysisScope,
        rows: &[LandlordYearRow],
        years: &[analysis::Bucket],
        settings: AnalysisSettings,
    ) -> Result<Vec<LandlordFigure>, AsbError> {
        let whole = covers_whole_landlords(&scope.reach);
        let homes: BTreeMap<(String, i32), i64> = self
            .store
            .landlord_homes(scope.landlord.as_deref())
            .await?
            .into_iter()
            .map(|row| ((row.landlord_organisation, row.year), row.homes))
            .collect();
        let mut counted: BTreeMap<(String, i32), (i64, i64, i64)> = rows
            .iter()
            .map(|row| ((row.landlord.clone(), row.year), (row.cases, row.hate_incident_cases, row.minutes)))
            .collect();
        if whole {
            let own = match &scope.reach {
                ListReach::Owner { organisation, .. } => Some(organisation.as_str()),
                ListReach::Areas(_) | ListReach::Landlord { .. } | ListReach::SharedWith(_) => None,
            };
            let in_period: Vec<i32> = years.iter().filter_map(|year| year.label.parse().ok()).collect();
            for (landlord, year) in homes.keys() {
                if in_period.contains(year) && own.is_none_or(|own| own == landlord) {
                    counted.entry((landlord.clone(), *year)).or_default();
                }
            }
        }
        Ok(counted
            .into_iter()
            .filter(|((landlord, year), (cases, _, _))| {
                *cases > 0 || homes.contains_key(&(landlord.clone(), *year))
            })
            .map(|((landlord, year), (cases, hate, minutes))| {
                let on_record = homes.get(&(landlord.clone(), year)).copied();
                let rate = |cases: i64| {
                    on_record
                        .filter(|_| whole)
                        .and_then(|homes| analysis::per_thousand_homes(count(cases), count(homes)))
                };
                LandlordFigure {
                    per_thousand_homes: rate(cases),
                    hate_per_thousand_homes: rate(hate),
                    cost_per_case: settings
                        .officer_hourly_cost_pence
                        .and_then(|hourly| analysis::cost_per_case(count(minutes), hourly, count(cases))),
                    landlord,
                    year,
                    homes: on_record,
                    cases,
                    hate_incident_cases: hate,
                    minutes,
                }
            })
            .collect())
    }

    /// The equality profile of the parties and satisfaction by group, counted by
    /// profiles from the customers named in the cases.
    async fn equality(
        &self,
        ctx: &RequestContext,
        scope: &AnalysisScope,
        characteristic: Characteristic,
        settings: AnalysisSettings,
        published: &mut Analysis,
    ) -> Result<(), AsbError> {
        let sets = self.store.equality_sets(scope).await?;
        let names = sets.complainants.len()
            + sets.victims.len()
            + sets.perpetrators.len()
            + sets.surveyed.len()
            + sets.satisfied.len();
        // Profiles counts one request's sets at most; splitting them would publish
        // sums of separately rounded parts, which protect nobody.
        if names > MAX_EQUALITY_NAMES {
            return Err(AsbError::FailedPrecondition {
                reason: "TOO_MANY_PEOPLE",
                message: "too many people for one equality profile: shorten the period or name a landlord",
            });
        }
        let overall = (
            i64::try_from(sets.satisfied.len()).unwrap_or(i64::MAX),
            i64::try_from(sets.surveyed.len()).unwrap_or(i64::MAX),
        );
        let counts: EqualityGroupCounts = self
            .peers
            .count_equality_groups(
                ctx,
                characteristic,
                vec![
                    (COMPLAINANTS, sets.complainants),
                    (VICTIMS, sets.victims),
                    (PERPETRATORS, sets.perpetrators),
                    (SURVEYED, sets.surveyed),
                    (SATISFIED, sets.satisfied),
                ],
            )
            .await?;
        let values_of = |label: &str| -> BTreeMap<String, i64> {
            counts
                .sets
                .iter()
                .filter(|set| set.label == label)
                .flat_map(|set| set.values.iter().map(|value| (value.value.clone(), value.count)))
                .collect()
        };
        for (label, role) in [
            (COMPLAINANTS, PartyRole::Complainant),
            (VICTIMS, PartyRole::Victim),
            (PERPETRATORS, PartyRole::AllegedPerpetrator),
        ] {
            for (value, people) in values_of(label) {
                published.equality.push(EqualityFigure { role, value, people });
            }
        }
        let satisfied = values_of(SATISFIED);
        let groups: Vec<GroupSatisfaction> = values_of(SURVEYED)
            .into_iter()
            .map(|(value, surveyed)| GroupSatisfaction {
                characteristic: characteristic.as_str_name().to_owned(),
                satisfied: satisfied.get(&value).copied().unwrap_or(0).min(surveyed),
                value,
                surveyed,
            })
            .collect();
        published.satisfaction = analysis::published_satisfaction_gaps(
            &groups,
            overall,
            settings.satisfaction_gap_points,
            settings.satisfaction_min_surveyed,
        );
        published.rounding_base = i64::from(counts.rounding_base);
        Ok(())
    }

    /// Records a landlord's homes for a year (operators: reference data).
    pub async fn set_landlord_homes(
        &self,
        ctx: &RequestContext,
        landlord: OrganisationName,
        year: i32,
        homes: i64,
    ) -> Result<landlord_homes::Model, AsbError> {
        if !ctx.principal.role.may(Capability::ManageReferenceData) {
            return Err(refused("ROLE_NOT_PERMITTED", "only operators record homes per landlord"));
        }
        let row = landlord_homes::Model {
            landlord_organisation: landlord.as_str().to_owned(),
            year,
            homes,
            updated_by: ctx.principal.subject.clone(),
            update_time: self.clock.now(),
        };
        Ok(self.store.set_landlord_homes(&ctx.actor(), row).await?)
    }

    /// The homes on record (not personal data: every role that reads figures).
    pub async fn list_landlord_homes(
        &self,
        ctx: &RequestContext,
        landlord: Option<OrganisationName>,
    ) -> Result<Vec<landlord_homes::Model>, AsbError> {
        let role = ctx.principal.role;
        if role == Role::ExternalPartner
            || !(role.may(Capability::ReadPerformance) || role.may(Capability::WorkCases))
        {
            return Err(refused("ROLE_NOT_PERMITTED", "your role may not read performance figures"));
        }
        Ok(self.store.landlord_homes(landlord.as_ref().map(OrganisationName::as_str)).await?)
    }
}
