//! The reference-data RPCs, decoded and encoded: categories and intervention
//! types, read by anyone, kept by operators and managers.

use contracts::involve::asb::v1 as pb;
use involve_core::text::{Lines, required_text};
use involve_core::{Code, RequestId, Violations};
use persistence::Etag;
use platform::FieldViolation;
use platform::wire::{date_from_proto, date_to_proto, request_identity, required_code, unknown_enum};
use tonic::{Request, Response, Status};

use super::{context, etag, invalid, priority, priority_to_proto, reply, status};
use crate::domain::casework::InterventionKind;
use crate::domain::triage::Route;
use crate::service::{Cases, CategoryDraft, InterventionTypeDraft};
use crate::store::{codes, entities};

/// The longest first-response time a category may set: 30 days.
const MAX_FIRST_RESPONSE_SECONDS: i64 = 30 * 24 * 3600;

fn category_to_proto(row: &entities::categories::Model) -> pb::Category {
    let route = codes::parse_route(&row.route);
    pb::Category {
        name: format!("categories/{}", row.code),
        display_name: row.display_name.clone(),
        priority: codes::parse_priority(&row.priority)
            .map_or(pb::Priority::Unspecified, priority_to_proto)
            .into(),
        serious: route == Some(Route::Enforcement),
        route: match route {
            Some(Route::Enforcement) => pb::Route::Enforcement,
            Some(Route::Neighbourhood) => pb::Route::Neighbourhood,
            None => pb::Route::Unspecified,
        }
        .into(),
        first_response_seconds: row.first_response_secs.unwrap_or_default(),
        needs_motivation: row.needs_motivation,
        retired: row.retired,
        etag: Etag::from_version(row.version).to_string(),
    }
}

fn kind_to_proto(kind: Option<InterventionKind>) -> pb::intervention_type::Kind {
    use pb::intervention_type::Kind as K;
    match kind {
        Some(InterventionKind::Early) => K::Early,
        Some(InterventionKind::Mediation) => K::Mediation,
        Some(InterventionKind::Enforcement) => K::Enforcement,
        Some(InterventionKind::Referral) => K::Referral,
        Some(InterventionKind::Support) => K::Support,
        None => K::Unspecified,
    }
}

fn kind(field: &str, value: i32) -> Result<Option<InterventionKind>, FieldViolation> {
    use pb::intervention_type::Kind as K;
    Ok(match K::try_from(value).map_err(|_| unknown_enum(field, value))? {
        K::Unspecified => None,
        K::Early => Some(InterventionKind::Early),
        K::Mediation => Some(InterventionKind::Mediation),
        K::Enforcement => Some(InterventionKind::Enforcement),
        K::Referral => Some(InterventionKind::Referral),
        K::Support => Some(InterventionKind::Support),
    })
}

fn intervention_type_to_proto(row: &entities::intervention_types::Model) -> pb::InterventionType {
    pb::InterventionType {
        name: format!("interventionTypes/{}", row.code),
        display_name: row.display_name.clone(),
        kind: kind_to_proto(codes::parse_intervention_kind(&row.kind)).into(),
        effective_from: Some(date_to_proto(row.effective_from)),
        effective_to: row.effective_to.map(date_to_proto),
        etag: Etag::from_version(row.version).to_string(),
    }
}

/// The code of `{collection}/{code}`.
fn code_of_name(field: &str, name: &str, collection: &str) -> Result<Code, FieldViolation> {
    let invalid_name =
        || FieldViolation::new(field, "INVALID_NAME", format!("{field} is named {collection}/{{code}}"));
    let code =
        name.strip_prefix(collection).and_then(|rest| rest.strip_prefix('/')).ok_or_else(invalid_name)?;
    Code::parse(code).map_err(|_| invalid_name())
}

fn check_request_id(v: &mut Violations, request_id: &str) {
    v.take(RequestId::parse_optional("request_id", request_id).map(|_| ()), ());
}

/// A category's rules as a request sets them, under `code`.
fn read_category(v: &mut Violations, code: Option<Code>, category: &pb::Category) -> Option<CategoryDraft> {
    let display_name =
        v.check(required_text("category.display_name", &category.display_name, 200, Lines::Single));
    let priority = match priority(category.priority) {
        Ok(Some(priority)) => Some(priority),
        Ok(None) => {
            v.push(FieldViolation::required("category.priority"));
            None
        }
        Err(violation) => {
            v.push(violation.nested_under("category"));
            None
        }
    };
    let first_response = match category.first_response_seconds {
        0 => None,
        seconds @ 1..=MAX_FIRST_RESPONSE_SECONDS => Some(chrono::Duration::seconds(seconds)),
        _ => {
            v.push(FieldViolation::new(
                "category.first_response_seconds",
                "OUT_OF_RANGE",
                "category.first_response_seconds is 0 (none) or 1 second to 30 days",
            ));
            None
        }
    };
    Some(CategoryDraft {
        code: code?,
        display_name: display_name?,
        priority: priority?,
        serious: category.serious,
        first_response,
        needs_motivation: category.needs_motivation,
        retired: category.retired,
    })
}

/// An intervention type as a request sets it, under `code`.
fn read_intervention_type(
    v: &mut Violations,
    code: Option<Code>,
    kind_required: bool,
    given: &pb::InterventionType,
) -> Option<InterventionTypeDraft> {
    let display_name =
        v.check(required_text("intervention_type.display_name", &given.display_name, 200, Lines::Single));
    let kind = v.take(kind("intervention_type.kind", given.kind), None);
    if kind_required && kind.is_none() && given.kind == 0 {
        v.push(FieldViolation::required("intervention_type.kind"));
    }
    let from =
        v.take(date_from_proto("intervention_type.effective_from", given.effective_from.as_ref()), None);
    if from.is_none()
        && given.effective_from.is_none_or(|date| (date.year, date.month, date.day) == (0, 0, 0))
    {
        v.push(FieldViolation::required("intervention_type.effective_from"));
    }
    let to = v.take(date_from_proto("intervention_type.effective_to", given.effective_to.as_ref()), None);
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        v.push(FieldViolation::new(
            "intervention_type.effective_to",
            "OUT_OF_RANGE",
            "intervention_type.effective_to is on or after its effective_from",
        ));
    }
    Some(InterventionTypeDraft {
        code: code?,
        display_name: display_name?,
        kind,
        effective_from: from?,
        effective_to: to,
    })
}

pub(super) async fn list_categories(
    cases: &Cases,
    request: Request<pb::ListCategoriesRequest>,
) -> Result<Response<pb::ListCategoriesResponse>, Status> {
    context(&request)?;
    let rows = cases.list_categories().await.map_err(status)?;
    Ok(Response::new(pb::ListCategoriesResponse { categories: rows.iter().map(category_to_proto).collect() }))
}

pub(super) async fn create_category(
    cases: &Cases,
    request: Request<pb::CreateCategoryRequest>,
) -> Result<Response<pb::Category>, Status> {
    let ctx = context(&request)?;
    let identity =
        request_identity(request.get_ref(), &request.get_ref().request_id, |copy| copy.request_id.clear());
    let pb::CreateCategoryRequest { category, category_id, request_id } = request.into_inner();
    let Some(category) = category else { return Err(invalid(vec![FieldViolation::required("category")])) };
    let mut v = Violations::default();
    check_request_id(&mut v, &request_id);
    let code = v.check(required_code("category_id", &category_id));
    let draft = read_category(&mut v, code, &category);
    let Some(draft) = v.into_result(draft).map_err(invalid)? else {
        return Err(invalid(vec![FieldViolation::required("category")]));
    };
    let row = cases.create_category(&ctx, draft, identity).await.map_err(status)?;
    let created = category_to_proto(&row);
    let name = created.name.clone();
    Ok(reply(created, &name))
}

pub(super) async fn update_category(
    cases: &Cases,
    request: Request<pb::UpdateCategoryRequest>,
) -> Result<Response<pb::Category>, Status> {
    let ctx = context(&request)?;
    let pb::UpdateCategoryRequest { category, etag: raw_etag } = request.into_inner();
    let Some(category) = category else { return Err(invalid(vec![FieldViolation::required("category")])) };
    let mut v = Violations::default();
    let code = v.check(code_of_name("category.name", &category.name, "categories"));
    let etag = v.take(etag(&raw_etag), None);
    let draft = read_category(&mut v, code, &category);
    let Some(draft) = v.into_result(draft).map_err(invalid)? else {
        return Err(invalid(vec![FieldViolation::required("category")]));
    };
    let row = cases.update_category(&ctx, draft, etag).await.map_err(status)?;
    let updated = category_to_proto(&row);
    let name = updated.name.clone();
    Ok(reply(updated, &name))
}

pub(super) async fn list_intervention_types(
    cases: &Cases,
    request: Request<pb::ListInterventionTypesRequest>,
) -> Result<Response<pb::ListInterventionTypesResponse>, Status> {
    context(&request)?;
    let rows = cases.list_intervention_types().await.map_err(status)?;
    Ok(Response::new(pb::ListInterventionTypesResponse {
        intervention_types: rows.iter().map(intervention_type_to_proto).collect(),
    }))
}

pub(super) async fn create_intervention_type(
    cases: &Cases,
    request: Request<pb::CreateInterventionTypeRequest>,
) -> Result<Response<pb::InterventionType>, Status> {
    let ctx = context(&request)?;
    let identity =
        request_identity(request.get_ref(), &request.get_ref().request_id, |copy| copy.request_id.clear());
    let pb::CreateInterventionTypeRequest { intervention_type, intervention_type_id, request_id } =
        request.into_inner();
    let Some(given) = intervention_type else {
        return Err(invalid(vec![FieldViolation::required("intervention_type")]));
    };
    let mut v = Violations::default();
    check_request_id(&mut v, &request_id);
    let code = v.check(required_code("intervention_type_id", &intervention_type_id));
    let draft = read_intervention_type(&mut v, code, true, &given);
    let Some(draft) = v.into_result(draft).map_err(invalid)? else {
        return Err(invalid(vec![FieldViolation::required("intervention_type")]));
    };
    let row = cases.create_intervention_type(&ctx, draft, identity).await.map_err(status)?;
    let created = intervention_type_to_proto(&row);
    let name = created.name.clone();
    Ok(reply(created, &name))
}

pub(super) async fn update_intervention_type(
    cases: &Cases,
    request: Request<pb::UpdateInterventionTypeRequest>,
) -> Result<Response<pb::InterventionType>, Status> {
    let ctx = context(&request)?;
    let pb::UpdateInterventionTypeRequest { intervention_type, etag: raw_etag } = request.into_inner();
    let Some(given) = intervention_type else {
        return Err(invalid(vec![FieldViolation::required("intervention_type")]));
    };
    let mut v = Violations::default();
    let code = v.check(code_of_name("intervention_type.name", &given.name, "interventionTypes"));
    let etag = v.take(etag(&raw_etag), None);
    let draft = read_intervention_type(&mut v, code, false, &given);
    let Some(draft) = v.into_result(draft).map_err(invalid)? else {
        return Err(invalid(vec![FieldViolation::required("intervention_type")]));
    };
    let row = cases.update_intervention_type(&ctx, draft, etag).await.map_err(status)?;
    let updated = intervention_type_to_proto(&row);
    let name = updated.name.clone();
    Ok(reply(updated, &name))
}
