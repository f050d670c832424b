//! `involve asb analysis`: the analysis as tables (one per figure) or JSON.

use contracts::involve::asb::v1 as pb;
use serde_json::{Value, json};

use super::{LOCAL_NOTE, Table, label, local, party_role, utc};

fn perpetrator(number: i32) -> String {
    label(
        pb::PerpetratorType::try_from(number).ok().map(|value| value.as_str_name()),
        "PERPETRATOR_TYPE_",
        number,
    )
}

/// An optional figure to one decimal place, `-` when absent.
fn decimal(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.1}"))
}

/// Pence as pounds, `-` when absent.
fn pounds(pence: Option<i64>) -> String {
    pence.map_or_else(|| "-".to_owned(), |pence| format!("£{}.{:02}", pence / 100, pence % 100))
}

fn section(text: &mut String, title: &str, table: &Table) {
    text.push('\n');
    text.push_str(title);
    text.push('\n');
    if table.rows.is_empty() {
        text.push_str("(none)\n");
    } else {
        text.push_str(&table.render());
    }
}

pub(in crate::asb_cli) fn analysis_table(analysis: &pb::AsbAnalysis) -> String {
    let mut text = format!(
        "{} cases, {} officer minutes, {} a case.\n",
        analysis.cases,
        analysis.officer_minutes,
        pounds(analysis.cost_per_case)
    );

    let mut categories = Table::new(&["CATEGORY", "PERPETRATOR", "CASES", "MINUTES"]).numeric(&[2, 3]);
    for figure in &analysis.by_category {
        categories.row(vec![
            figure.category.clone(),
            perpetrator(figure.perpetrator_type),
            figure.cases.to_string(),
            figure.officer_minutes.to_string(),
        ]);
    }
    section(&mut text, "By category and perpetrator", &categories);

    let mut remedies =
        Table::new(&["INTERVENTION", "CASES", "RESOLVED", "REPEATED", "REPEAT %"]).numeric(&[1, 2, 3, 4]);
    for figure in &analysis.by_intervention {
        remedies.row(vec![
            figure.intervention_type.clone(),
            figure.cases.to_string(),
            figure.resolved.to_string(),
            figure.repeated.to_string(),
            decimal(figure.repeat_percent),
        ]);
    }
    section(&mut text, "By intervention (closed cases): does the remedy last?", &remedies);

    let mut hotspots = Table::new(&["AREA", "MONTH", "CASES", "MONTH BEFORE", ""]).numeric(&[2, 3]);
    for figure in &analysis.hotspots {
        hotspots.row(vec![
            figure.area.clone(),
            figure.period.clone(),
            figure.cases.to_string(),
            figure.previous_period_cases.to_string(),
            if figure.alert { "HOTSPOT".to_owned() } else { String::new() },
        ]);
    }
    section(
        &mut text,
        &format!("Hotspots (alert at {} cases a month)", analysis.hotspot_threshold),
        &hotspots,
    );

    let mut landlords =
        Table::new(&["LANDLORD", "YEAR", "HOMES", "CASES", "PER 1,000", "HATE", "PER 1,000", "COST/CASE"])
            .numeric(&[1, 2, 3, 4, 5, 6, 7]);
    for figure in &analysis.by_landlord {
        landlords.row(vec![
            figure.landlord_organisation.clone(),
            figure.year.to_string(),
            figure.homes.map_or_else(|| "-".to_owned(), |homes| homes.to_string()),
            figure.cases.to_string(),
            decimal(figure.cases_per_thousand_homes),
            figure.hate_incident_cases.to_string(),
            decimal(figure.hate_incident_cases_per_thousand_homes),
            pounds(figure.cost_per_case),
        ]);
    }
    section(&mut text, "NM01 per landlord and year (- : no homes on record)", &landlords);

    if !analysis.equality_profile.is_empty() || !analysis.satisfaction_by_group.is_empty() {
        let mut profile = Table::new(&["ROLE", "VALUE", "PEOPLE"]).numeric(&[2]);
        for figure in &analysis.equality_profile {
            profile.row(vec![party_role(figure.role), figure.value.clone(), figure.people.to_string()]);
        }
        let base = analysis.rounding_base;
        section(&mut text, &format!("Equality profile (rounded to {base}; small groups left out)"), &profile);
        let mut satisfaction = Table::new(&["VALUE", "SURVEYED", "SATISFIED", "%", ""]).numeric(&[1, 2, 3]);
        for group in &analysis.satisfaction_by_group {
            satisfaction.row(vec![
                group.value.clone(),
                group.surveyed.to_string(),
                group.satisfied.to_string(),
                decimal(group.percent),
                if group.gap { "GAP".to_owned() } else { String::new() },
            ]);
        }
        section(
            &mut text,
            &format!(
                "Satisfaction by group ({} of {} cases satisfied; a gap trails by {} points)",
                analysis.satisfied, analysis.surveyed, analysis.satisfaction_gap_points
            ),
            &satisfaction,
        );
    }
    text.push_str(&format!("\nComputed {}. {LOCAL_NOTE}", local(analysis.compute_time.as_ref())));
    text
}

pub(in crate::asb_cli) fn analysis_json(analysis: &pb::AsbAnalysis) -> Value {
    json!({
        "cases": analysis.cases,
        "officer_minutes": analysis.officer_minutes,
        "cost_per_case_pence": analysis.cost_per_case,
        "by_category": analysis.by_category.iter().map(|figure| json!({
            "category": figure.category,
            "perpetrator_type": perpetrator(figure.perpetrator_type),
            "cases": figure.cases,
            "officer_minutes": figure.officer_minutes,
        })).collect::<Vec<_>>(),
        "by_intervention": analysis.by_intervention.iter().map(|figure| json!({
            "intervention_type": figure.intervention_type,
            "cases": figure.cases,
            "resolved": figure.resolved,
            "repeated": figure.repeated,
            "repeat_percent": figure.repeat_percent,
        })).collect::<Vec<_>>(),
        "hotspot_threshold": analysis.hotspot_threshold,
        "hotspots": analysis.hotspots.iter().map(|figure| json!({
            "area": figure.area,
            "month": figure.period,
            "cases": figure.cases,
            "previous_month_cases": figure.previous_period_cases,
            "alert": figure.alert,
        })).collect::<Vec<_>>(),
        "by_landlord": analysis.by_landlord.iter().map(|figure| json!({
            "landlord_organisation": figure.landlord_organisation,
            "year": figure.year,
            "homes": figure.homes,
            "cases": figure.cases,
            "hate_incident_cases": figure.hate_incident_cases,
            "cases_per_thousand_homes": figure.cases_per_thousand_homes,
            "hate_incident_cases_per_thousand_homes": figure.hate_incident_cases_per_thousand_homes,
            "officer_minutes": figure.officer_minutes,
            "cost_per_case_pence": figure.cost_per_case,
        })).collect::<Vec<_>>(),
        "rounding_base": analysis.rounding_base,
        "equality_profile": analysis.equality_profile.iter().map(|figure| json!({
            "role": party_role(figure.role),
            "value": figure.value,
            "people": figure.people,
        })).collect::<Vec<_>>(),
        "surveyed": analysis.surveyed,
        "satisfied": analysis.satisfied,
        "satisfaction_gap_points": analysis.satisfaction_gap_points,
        "satisfaction_by_group": analysis.satisfaction_by_group.iter().map(|group| json!({
            "value": group.value,
            "surveyed": group.surveyed,
            "satisfied": group.satisfied,
            "percent": group.percent,
            "gap": group.gap,
        })).collect::<Vec<_>>(),
        "compute_time": utc(analysis.compute_time.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_has_its_table_and_absent_rates_read_as_a_dash() {
        let analysis = pb::AsbAnalysis {
            cases: 5,
            officer_minutes: 180,
            cost_per_case: Some(2_160),
            hotspot_threshold: 3,
            by_category: vec![pb::CategoryFigure {
                category: "noise".into(),
                perpetrator_type: pb::PerpetratorType::Customer.into(),
                cases: 2,
                officer_minutes: 60,
            }],
            hotspots: vec![pb::HotspotFigure {
                area: "north".into(),
                period: "2026-12".into(),
                cases: 3,
                previous_period_cases: 2,
                alert: true,
            }],
            by_landlord: vec![pb::LandlordFigure {
                landlord_organisation: "organisations/hillside".into(),
                year: 2026,
                cases: 1,
                ..Default::default()
            }],
            ..Default::default()
        };
        let table = analysis_table(&analysis);
        assert!(table.starts_with("5 cases, 180 officer minutes, £21.60 a case."), "{table}");
        assert!(table.contains("noise     customer         2       60"), "{table}");
        assert!(table.contains("HOTSPOT"), "{table}");
        assert!(table.contains("organisations/hillside  2026      -      1          -"), "{table}");
        assert!(!table.contains("Equality profile"), "no characteristic asked for: {table}");
        let json = analysis_json(&analysis);
        assert_eq!(json["by_landlord"][0]["homes"], Value::Null);
        assert_eq!(json["hotspots"][0]["alert"], true);
        assert_eq!(json["by_category"][0]["perpetrator_type"], "customer");
    }
}
