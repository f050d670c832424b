//! Triage as data: each category of ASB (reference data) says how serious it is,
//! which team it goes to and how soon it needs a first response. A case's
//! priority follows its most serious category; an officer may raise it, and
//! lowering it needs a reason that is kept.

use std::collections::BTreeMap;

use chrono::Duration;
use involve_core::Code;
use serde::{Deserialize, Serialize};

/// How urgent a case is, least first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Routine,
    High,
    Urgent,
}

/// Who works a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// The neighbourhood team of the case's area.
    Neighbourhood,
    /// The specialist tenancy enforcement team: serious cases.
    Enforcement,
}

/// What a hate incident was perceived to be motivated by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HateMotivation {
    Disability,
    Race,
    Religion,
    SexualOrientation,
    TransgenderIdentity,
}

/// One category's triage rule, as reference data holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryRule {
    pub code: Code,
    pub display_name: String,
    pub priority: Priority,
    pub route: Route,
    /// The first-response time; `None` for categories without one.
    pub first_response: Option<Duration>,
    /// Whether a report in this category must say the perceived motivation.
    pub needs_motivation: bool,
}

/// The categories a partnership triages by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TriageRules {
    categories: BTreeMap<Code, CategoryRule>,
}

/// What triage makes of a case's categories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    pub priority: Priority,
    pub route: Route,
    /// The shortest first-response time of its categories.
    pub first_response: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TriageError {
    #[error("a case needs at least one category")]
    NoCategory,
    #[error("{0} is not a category of anti-social behaviour here")]
    UnknownCategory(Code),
    #[error("a {0} report must say what the incident was perceived to be motivated by")]
    MotivationRequired(Code),
}

/// The seed's defaults: 24 hours for domestic abuse and hate incidents, a fast
/// response (two days) for the other serious categories, none set for the rest.
/// One default category: code, name, priority, route, first-response hours,
/// whether the motivation must be given.
struct Seed(&'static str, &'static str, Priority, Route, Option<i64>, bool);

const DEFAULTS: [Seed; 14] = [
    Seed("domestic-abuse", "Domestic abuse", Priority::Urgent, Route::Enforcement, Some(24), false),
    Seed("hate-incident", "Hate incident", Priority::Urgent, Route::Enforcement, Some(24), true),
    Seed("violence", "Violence", Priority::Urgent, Route::Enforcement, Some(48), false),
    Seed("intimidation", "Intimidation or threats", Priority::High, Route::Enforcement, Some(48), false),
    Seed("serious-damage", "Serious criminal damage", Priority::High, Route::Enforcement, Some(48), false),
    Seed("drugs", "Drugs", Priority::High, Route::Neighbourhood, None, false),
    Seed("verbal-abuse", "Verbal abuse or harassment", Priority::Routine, Route::Neighbourhood, None, false),
    Seed("noise", "Noise", Priority::Routine, Route::Neighbourhood, None, false),
    Seed(
        "criminal-damage",
        "Criminal damage or vandalism",
        Priority::Routine,
        Route::Neighbourhood,
        None,
        false,
    ),
    Seed("vehicles", "Vehicles", Priority::Routine, Route::Neighbourhood, None, false),
    Seed("pets", "Pets and animals", Priority::Routine, Route::Neighbourhood, None, false),
    Seed("rubbish", "Rubbish or gardens", Priority::Routine, Route::Neighbourhood, None, false),
    Seed("other", "Other", Priority::Routine, Route::Neighbourhood, None, false),
    Seed("nuisance", "Nuisance behaviour", Priority::Routine, Route::Neighbourhood, None, false),
];

impl TriageRules {
    pub fn new(rules: impl IntoIterator<Item = CategoryRule>) -> Self {
        Self { categories: rules.into_iter().map(|rule| (rule.code.clone(), rule)).collect() }
    }

    /// The categories the service is seeded with (reference data operators change).
    pub fn defaults() -> Self {
        Self::new(DEFAULTS.iter().map(|&Seed(code, name, priority, route, hours, needs_motivation)| {
            CategoryRule {
                code: Code::trusted(code),
                display_name: name.to_owned(),
                priority,
                route,
                first_response: hours.map(Duration::hours),
                needs_motivation,
            }
        }))
    }

    pub fn category(&self, code: &Code) -> Option<&CategoryRule> {
        self.categories.get(code)
    }

    pub fn categories(&self) -> impl Iterator<Item = &CategoryRule> {
        self.categories.values()
    }

    /// Triage of a case in `categories`: the most serious category's priority,
    /// enforcement when any category routes there, the shortest first-response
    /// time. `motivation` is what the report says of a hate incident. Every
    /// problem is returned, not only the first.
    pub fn assess(
        &self,
        categories: &[Code],
        motivation: Option<HateMotivation>,
    ) -> Result<Assessment, Vec<TriageError>> {
        let mut errors = Vec::new();
        let mut rules = Vec::with_capacity(categories.len());
        for code in categories {
            match self.category(code) {
                Some(rule) if rule.needs_motivation && motivation.is_none() => {
                    errors.push(TriageError::MotivationRequired(code.clone()));
                }
                Some(rule) => rules.push(rule),
                None => errors.push(TriageError::UnknownCategory(code.clone())),
            }
        }
        if categories.is_empty() {
            errors.push(TriageError::NoCategory);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let priority = rules.iter().map(|rule| rule.priority).max().unwrap_or(Priority::Routine);
        let route = rules.iter().map(|rule| rule.route).max().unwrap_or(Route::Neighbourhood);
        let first_response = rules.iter().filter_map(|rule| rule.first_response).min();
        Ok(Assessment { priority, route, first_response })
    }
}

/// A change of a case's priority by an officer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorityChange {
    pub from: Priority,
    pub to: Priority,
    /// Kept with the case: required when the priority goes down.
    pub reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("lowering a case's priority needs a reason, which is kept")]
pub struct LoweringNeedsReason;

/// An officer's change of priority: raising is free, lowering needs a reason.
pub fn change_priority(
    from: Priority,
    to: Priority,
    reason: Option<String>,
) -> Result<PriorityChange, LoweringNeedsReason> {
    let reason = reason.filter(|reason| !reason.trim().is_empty());
    if to < from && reason.is_none() {
        return Err(LoweringNeedsReason);
    }
    Ok(PriorityChange { from, to, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(codes: &[&str]) -> Vec<Code> {
        codes.iter().map(|code| Code::trusted(code)).collect()
    }

    #[test]
    fn serious_categories_go_to_enforcement_and_the_most_serious_sets_the_priority() {
        let rules = TriageRules::defaults();
        let noise = rules.assess(&codes(&["noise"]), None).unwrap();
        assert_eq!(
            noise,
            Assessment { priority: Priority::Routine, route: Route::Neighbourhood, first_response: None }
        );
        let mixed = rules.assess(&codes(&["noise", "intimidation", "domestic-abuse"]), None).unwrap();
        assert_eq!(mixed.priority, Priority::Urgent);
        assert_eq!(mixed.route, Route::Enforcement);
        assert_eq!(mixed.first_response, Some(Duration::hours(24)), "the shortest time");
        let violence = rules.assess(&codes(&["violence"]), None).unwrap();
        assert_eq!(violence.first_response, Some(Duration::hours(48)));
        for serious in ["violence", "intimidation", "domestic-abuse", "serious-damage"] {
            assert_eq!(
                rules.assess(&codes(&[serious]), None).unwrap().route,
                Route::Enforcement,
                "{serious}"
            );
        }
    }

    #[test]
    fn a_hate_incident_needs_its_motivation_and_unknown_categories_are_refused() {
        let rules = TriageRules::defaults();
        assert_eq!(
            rules.assess(&codes(&["hate-incident", "arson"]), None),
            Err(vec![
                TriageError::MotivationRequired(Code::trusted("hate-incident")),
                TriageError::UnknownCategory(Code::trusted("arson")),
            ])
        );
        let hate = rules.assess(&codes(&["hate-incident"]), Some(HateMotivation::Race)).unwrap();
        assert_eq!((hate.priority, hate.first_response), (Priority::Urgent, Some(Duration::hours(24))));
        assert_eq!(rules.assess(&[], None), Err(vec![TriageError::NoCategory]));
    }

    #[test]
    fn raising_a_priority_is_free_and_lowering_it_needs_a_kept_reason() {
        assert!(change_priority(Priority::Routine, Priority::Urgent, None).is_ok());
        assert_eq!(change_priority(Priority::Urgent, Priority::Routine, None), Err(LoweringNeedsReason));
        assert_eq!(
            change_priority(Priority::Urgent, Priority::High, Some("  ".into())),
            Err(LoweringNeedsReason)
        );
        let lowered =
            change_priority(Priority::Urgent, Priority::High, Some("perpetrator moved away".into())).unwrap();
        assert_eq!(lowered.reason.as_deref(), Some("perpetrator moved away"));
    }
}
