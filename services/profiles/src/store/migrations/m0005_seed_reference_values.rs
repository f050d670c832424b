#![allow(elided_lifetimes_in_paths)] // MigrationTrait's own signature elides it

//! The starting reference data. Tenures follow the partnership's cross-tenure
//! model; equality categories follow the 2021 census for England (ONS), which is
//! what profile maps are compared against. Areas are local and start empty: an
//! operator adds them with `CreateReferenceValue`.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub(super) struct Migration;

const SEED: &[(&str, &[(&str, &str)])] = &[
    (
        "tenures",
        &[
            ("council-tenant", "Council tenant"),
            ("housing-association-tenant", "Housing association tenant"),
            ("leaseholder", "Leaseholder"),
            ("shared-owner", "Shared owner"),
            ("private-tenant", "Private tenant"),
            ("owner-occupier", "Owner occupier"),
            ("temporary-accommodation", "Temporary accommodation / homeless household"),
            ("other", "Other"),
        ],
    ),
    (
        "languages",
        &[
            ("en", "English"),
            ("cy", "Welsh"),
            ("pl", "Polish"),
            ("ro", "Romanian"),
            ("pa", "Panjabi"),
            ("ur", "Urdu"),
            ("bn", "Bengali"),
            ("gu", "Gujarati"),
            ("ar", "Arabic"),
            ("so", "Somali"),
            ("pt", "Portuguese"),
            ("es", "Spanish"),
            ("zh", "Chinese"),
            ("tr", "Turkish"),
            ("ta", "Tamil"),
            ("bfi", "British Sign Language"),
        ],
    ),
    (
        "accessibility-needs",
        &[
            ("wheelchair-user", "Wheelchair user"),
            ("step-free-access", "Needs step-free access"),
            ("hearing-loop", "Needs a hearing loop"),
            ("visual-impairment", "Visual impairment"),
            ("mobility-impairment", "Mobility impairment"),
            ("learning-disability", "Learning disability"),
            ("assistance-animal", "Has an assistance animal"),
            ("home-visits-only", "Can be met only at home"),
        ],
    ),
    (
        "vulnerabilities",
        &[
            ("mental-health", "Mental health condition"),
            ("physical-disability", "Physical disability"),
            ("learning-disability", "Learning disability"),
            ("domestic-abuse", "Experiencing or at risk of domestic abuse"),
            ("substance-misuse", "Substance misuse"),
            ("care-leaver", "Care leaver"),
            ("older-person-alone", "Older person living alone"),
            ("safeguarding-concern", "Safeguarding concern"),
            ("hoarding", "Hoarding"),
        ],
    ),
    (
        "relationships",
        &[
            ("partner", "Partner or spouse"),
            ("child", "Child"),
            ("parent", "Parent"),
            ("sibling", "Brother or sister"),
            ("other-relative", "Other relative"),
            ("carer", "Carer"),
            ("lodger", "Lodger"),
            ("other", "Other"),
        ],
    ),
    (
        "involvement-topics",
        &[
            ("repairs", "Repairs and maintenance"),
            ("anti-social-behaviour", "Anti-social behaviour and community safety"),
            ("estate-services", "Estate services and the environment"),
            ("rents-and-charges", "Rents and service charges"),
            ("allocations", "Lettings and allocations"),
            ("improvements", "Improvements and investment"),
            ("tenancy-management", "Tenancy management"),
            ("customer-service", "Customer service"),
            ("older-people", "Services for older people"),
            ("young-people", "Services for young people"),
        ],
    ),
    (
        "involvement-methods",
        &[
            ("meetings", "Meetings"),
            ("surveys", "Surveys"),
            ("online", "Online"),
            ("door-step", "Door-step conversations"),
            ("focus-groups", "Focus groups"),
            ("newsletters", "Newsletters"),
            ("estate-walkabouts", "Estate walkabouts"),
            ("mystery-shopping", "Mystery shopping"),
            ("scrutiny-panel", "Scrutiny and reference panels"),
            ("forums", "Area and neighbourhood forums"),
            ("text-message", "Text messages"),
        ],
    ),
    (
        "ethnicities",
        &[
            ("asian-bangladeshi", "Asian or Asian British: Bangladeshi"),
            ("asian-chinese", "Asian or Asian British: Chinese"),
            ("asian-indian", "Asian or Asian British: Indian"),
            ("asian-pakistani", "Asian or Asian British: Pakistani"),
            ("asian-other", "Asian or Asian British: any other Asian background"),
            ("black-african", "Black, Black British, Caribbean or African: African"),
            ("black-caribbean", "Black, Black British, Caribbean or African: Caribbean"),
            ("black-other", "Black, Black British, Caribbean or African: any other Black background"),
            ("mixed-white-asian", "Mixed or multiple: White and Asian"),
            ("mixed-white-black-african", "Mixed or multiple: White and Black African"),
            ("mixed-white-black-caribbean", "Mixed or multiple: White and Black Caribbean"),
            ("mixed-other", "Mixed or multiple: any other mixed background"),
            ("white-british", "White: English, Welsh, Scottish, Northern Irish or British"),
            ("white-irish", "White: Irish"),
            ("white-gypsy-irish-traveller", "White: Gypsy or Irish Traveller"),
            ("white-roma", "White: Roma"),
            ("white-other", "White: any other White background"),
            ("other-arab", "Other ethnic group: Arab"),
            ("other-any", "Other ethnic group: any other"),
        ],
    ),
    (
        "disabilities",
        &[
            ("limited-a-lot", "Day-to-day activities limited a lot"),
            ("limited-a-little", "Day-to-day activities limited a little"),
            ("not-limited", "Not limited"),
        ],
    ),
    ("sexes", &[("female", "Female"), ("male", "Male")]),
    (
        "gender-identities",
        &[
            ("same-as-sex-registered", "The same as the sex registered at birth"),
            ("different-from-sex-registered", "Different from the sex registered at birth"),
        ],
    ),
    (
        "age-bands",
        &[
            ("under-25", "Under 25"),
            ("25-34", "25 to 34"),
            ("35-44", "35 to 44"),
            ("45-54", "45 to 54"),
            ("55-64", "55 to 64"),
            ("65-74", "65 to 74"),
            ("75-and-over", "75 and over"),
        ],
    ),
    (
        "religions",
        &[
            ("no-religion", "No religion"),
            ("buddhist", "Buddhist"),
            ("christian", "Christian"),
            ("hindu", "Hindu"),
            ("jewish", "Jewish"),
            ("muslim", "Muslim"),
            ("sikh", "Sikh"),
            ("other-religion", "Any other religion"),
        ],
    ),
    (
        "sexual-orientations",
        &[
            ("straight-heterosexual", "Straight or heterosexual"),
            ("gay-lesbian", "Gay or lesbian"),
            ("bisexual", "Bisexual"),
            ("other-orientation", "Another sexual orientation"),
        ],
    ),
    (
        "caring-responsibilities",
        &[
            ("none", "No caring responsibilities"),
            ("children", "Cares for children"),
            ("adult-under-20-hours", "Cares for an adult, under 20 hours a week"),
            ("adult-20-to-49-hours", "Cares for an adult, 20 to 49 hours a week"),
            ("adult-50-hours-or-more", "Cares for an adult, 50 hours a week or more"),
        ],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let now = chrono::Utc::now();
        let mut insert = Query::insert();
        insert.into_table("reference_values").columns([
            "set_id",
            "code",
            "display_name",
            "retired",
            "create_time",
        ]);
        for (set, values) in SEED {
            for (code, display_name) in *values {
                insert
                    .values([(*set).into(), (*code).into(), (*display_name).into(), false.into(), now.into()])
                    .map_err(|err| DbErr::Migration(err.to_string()))?;
            }
        }
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.exec_stmt(Query::delete().from_table("reference_values").to_owned()).await
    }
}
