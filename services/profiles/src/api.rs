//! The gRPC face of the service: authenticate the call, validate and convert the
//! request, ask the store, convert the answer. No rules live here.

mod convert;
mod import;

pub use self::import::ImportResponses;
mod update_mask;

use std::sync::Arc;

use chrono::Utc;
use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_server::CustomerProfiles;
use involve_core::RequestId;
use persistence::idempotency::RequestIdentity;
use persistence::paging::finish_page;
use persistence::{AuditEntry, Etag, PageToken, PageTokenKey};
use platform::principal::{RESOURCE_HEADER, SPECIAL_CATEGORY_HEADER};
use platform::{FieldViolation, RequestContext};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

use self::convert::{Violations, customer_details, customer_to_proto, read_customer, timestamp};
use crate::domain::profile_map::{self, Characteristic, CountedCell};
use crate::domain::reference::ReferenceValue;
use crate::domain::tenure::TenureChange;
use crate::domain::{
    Code, Customer, CustomerId, EqualityField, OrganisationName, ReferenceSet, access, validate,
};
use crate::error::{ERROR_DOMAIN, ProfileError};
use crate::store::{CustomerFilter, NewCustomer, Store};

/// The `CustomerProfiles` service.
#[derive(Debug, Clone)]
pub struct ProfilesApi {
    store: Arc<Store>,
    page_tokens: PageTokenKey,
}

impl ProfilesApi {
    pub fn new(store: Arc<Store>, page_tokens: PageTokenKey) -> Self {
        Self { store, page_tokens }
    }
}

/// A response that names the resource it touched and whether special-category
/// data was read or written, for the gateway's audit of the call.
fn reply<T>(message: T, resource: &str, special_category: bool) -> Response<T> {
    let mut response = Response::new(message);
    if let Ok(value) = resource.parse() {
        response.metadata_mut().insert(RESOURCE_HEADER, value);
    }
    if special_category {
        response.metadata_mut().insert(SPECIAL_CATEGORY_HEADER, MetadataValue::from_static("true"));
    }
    response
}

/// The status for anything that converts into this service's error (a store
/// error, a rule broken in the domain, ...), by the one mapping in `error.rs`.
fn status(err: impl Into<ProfileError>) -> Status {
    err.into().into()
}

fn invalid(violations: Vec<FieldViolation>) -> Status {
    status(ProfileError::Invalid(violations))
}

fn context<T>(request: &Request<T>) -> Result<RequestContext, Status> {
    RequestContext::of(request).map_err(|refused| refused.into_status(ERROR_DOMAIN))
}

/// The caller of a call that reads or changes customer records, which some
/// roles (tenant inspectors) may not do at all.
fn customer_context<T>(request: &Request<T>) -> Result<RequestContext, Status> {
    let ctx = context(request)?;
    if !access::may_manage_customers(ctx.principal.role) {
        return Err(permission_denied(
            "ROLE_NOT_PERMITTED",
            "your role may not read or change customer records",
        ));
    }
    Ok(ctx)
}

fn permission_denied(reason: &'static str, message: &str) -> Status {
    status(ProfileError::PermissionDenied { reason, message: message.to_owned() })
}

fn customer_id(field: &str, name: &str) -> Result<CustomerId, Status> {
    if name.is_empty() {
        return Err(invalid(vec![FieldViolation::required(field)]));
    }
    CustomerId::from_name(name).ok_or_else(|| {
        invalid(vec![FieldViolation::new(
            field,
            "INVALID_NAME",
            format!("{field} must look like customers/{{uuid}}"),
        )])
    })
}

fn etag(field: &str, text: &str) -> Result<Option<i64>, FieldViolation> {
    Etag::parse_optional(text).map(|etag| etag.map(Etag::version)).map_err(|_| {
        FieldViolation::new(field, "INVALID_ETAG", format!("{field} is not an etag this service issued"))
    })
}

/// The request's `request_id`, canonical, and a digest of the rest of the request
/// (`clear` blanks the request id and anything else that must not count). prost
/// encodes fields in a fixed order, so the same request always has the same digest.
fn request_identity<M: prost::Message + Clone>(
    message: &M,
    request_id: &str,
    clear: impl FnOnce(&mut M),
) -> Option<RequestIdentity> {
    // Validated separately (an invalid one never reaches the store); no request id,
    // nothing to digest.
    let request_id = RequestId::parse_optional("request_id", request_id).ok().flatten()?;
    let mut rest = message.clone();
    clear(&mut rest);
    Some(RequestIdentity::new(request_id.into_string(), &rest.encode_to_vec()))
}

/// What `CreateCustomer` reads from its request before it touches any state (the
/// reference codes and the caller's scope are checked after, against the store).
struct CreateRequest {
    landlord: Option<OrganisationName>,
    tenure: Option<Code>,
    tenure_start: chrono::NaiveDate,
    details: crate::domain::CustomerDetails,
}

/// Reads a create request's fields, keeping every violation: the one reading
/// the service and the fuzz target ([`decode_and_validate`]) share.
fn read_create_request(
    message: &pb::Customer,
    raw_request_id: &str,
    tenure_start_date: Option<&contracts::google::r#type::Date>,
    today: chrono::NaiveDate,
) -> (CreateRequest, Violations) {
    let mut v = Violations::default();
    v.take(RequestId::parse_optional("request_id", raw_request_id), None);
    let landlord =
        v.take(convert::organisation("customer.landlord_organisation", &message.landlord_organisation), None);
    let tenure = v.take(convert::required_code("customer.tenure", &message.tenure).map(Some), None);
    let tenure_start =
        v.take(convert::date_from_proto("tenure_start_date", tenure_start_date), None).unwrap_or(today);
    let (details, detail_violations) = read_customer(message, "customer", today);
    v.extend_from(detail_violations);
    (CreateRequest { landlord, tenure, tenure_start, details }, v)
}

/// Whether this customer's response carries equality answers someone will read.
fn reads_equality(customer: &Customer, show: bool) -> bool {
    show && customer.details.equality.any_recorded()
}

#[tonic::async_trait]
impl CustomerProfiles for ProfilesApi {
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ctx = customer_context(&request)?;
        let identity = request_identity(request.get_ref(), &request.get_ref().request_id, |copy| {
            copy.validate_only = false;
            copy.request_id.clear();
        });
        let pb::CreateCustomerRequest {
            customer,
            request_id: raw_request_id,
            validate_only,
            tenure_start_date,
        } = request.into_inner();
        let Some(message) = customer else { return Err(invalid(vec![FieldViolation::required("customer")])) };
        let role = ctx.principal.role;
        let today = Utc::now().date_naive();

        let (CreateRequest { landlord, tenure, tenure_start, details }, mut v) =
            read_create_request(&message, &raw_request_id, tenure_start_date.as_ref(), today);
        let refs = self.store.reference_data().await.map_err(status)?;
        if let Some(tenure) = &tenure {
            v.extend(refs.check(ReferenceSet::Tenures, tenure, false, "customer.tenure"));
        }
        v.extend(refs.check_details(&details, None).into_iter().map(|vio| vio.nested_under("customer")));
        let Some(tenure) = v.into_result(tenure).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("customer.tenure")]));
        };

        // A partner creates customers of its own; no landlord named means theirs.
        let landlord = match (role, landlord) {
            (platform::Role::PartnerIntegration, None) => {
                Some(ctx.principal.organisation.parse().map_err(|_| {
                    permission_denied("ORGANISATION_INVALID", "your organisation name is not valid")
                })?)
            }
            (_, landlord) => landlord,
        };
        if details.equality.any_recorded() && !access::may_write_equality(role) {
            return Err(permission_denied(
                "EQUALITY_NOT_PERMITTED",
                "your role may not record equality information",
            ));
        }
        let scope = ctx.principal.landlord_scope();
        if !scope.admits(landlord.as_ref().map(|l| l.as_str()), details.area.as_ref().map(Code::as_str)) {
            return Err(permission_denied(
                "OUTSIDE_SCOPE",
                "you may only create customers of your own organisation and areas",
            ));
        }
        if validate_only {
            return Ok(Response::new(pb::Customer { name: String::new(), etag: String::new(), ..message }));
        }
        let new = NewCustomer { landlord, tenure, tenure_start, details };
        let customer =
            self.store.create_customer(&scope, &ctx.actor(), identity.as_ref(), new).await.map_err(status)?;
        let special = customer.details.equality.any_recorded();
        Ok(reply(customer_to_proto(&customer, access::may_read_equality(role)), &customer.id.name(), special))
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ctx = customer_context(&request)?;
        let id = customer_id("name", &request.get_ref().name)?;
        let customer = self.store.get_customer(&ctx.principal.landlord_scope(), id).await.map_err(status)?;
        let show = access::may_read_equality(ctx.principal.role);
        if reads_equality(&customer, show) {
            let entry = AuditEntry::new(id.name()).special_category(true);
            self.store.record_reads(&ctx.actor(), vec![entry]).await.map_err(status)?;
        }
        Ok(reply(customer_to_proto(&customer, show), &id.name(), reads_equality(&customer, show)))
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ctx = customer_context(&request)?;
        let pb::UpdateCustomerRequest { customer, update_mask, validate_only } = request.into_inner();
        let Some(message) = customer else { return Err(invalid(vec![FieldViolation::required("customer")])) };
        let id = customer_id("customer.name", &message.name)?;
        let supplied_etag = etag("customer.etag", &message.etag).map_err(|v| invalid(vec![v]))?;
        let role = ctx.principal.role;
        let show = access::may_read_equality(role);
        let paths = update_mask::paths(update_mask.as_ref(), &message, show).map_err(invalid)?;
        if paths.contains(&update_mask::Path::Equality) && !access::may_write_equality(role) {
            return Err(permission_denied(
                "EQUALITY_NOT_PERMITTED",
                "your role may not record equality information",
            ));
        }

        let scope = ctx.principal.landlord_scope();
        let current = self.store.get_customer(&scope, id).await.map_err(status)?;
        if supplied_etag.is_some_and(|version| version != current.version) {
            return Err(status(ProfileError::EtagMismatch));
        }
        let mut merged = customer_to_proto(&current, true);
        update_mask::apply(&paths, message, &mut merged);
        let today = Utc::now().date_naive();
        let details = customer_details(&merged, "customer", today).map_err(invalid)?;
        let refs = self.store.reference_data().await.map_err(status)?;
        let violations: Vec<FieldViolation> = refs
            .check_details(&details, Some(&current.details))
            .into_iter()
            .map(|violation| violation.nested_under("customer"))
            .collect();
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        if !scope
            .admits(current.landlord.as_ref().map(|l| l.as_str()), details.area.as_ref().map(Code::as_str))
        {
            return Err(permission_denied("OUTSIDE_SCOPE", "you may not move a customer outside your areas"));
        }
        if validate_only {
            let mut preview = current.clone();
            preview.details = details;
            return Ok(Response::new(customer_to_proto(&preview, show)));
        }
        let changes_equality = current.details.equality != details.equality;
        let updated = self
            .store
            .update_customer(
                &scope,
                &ctx.actor(),
                id,
                supplied_etag.unwrap_or(current.version),
                details,
                show,
            )
            .await
            .map_err(status)?;
        let special = changes_equality || reads_equality(&updated, show);
        Ok(reply(customer_to_proto(&updated, show), &id.name(), special))
    }

    async fn delete_customer(
        &self,
        request: Request<pb::DeleteCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ctx = customer_context(&request)?;
        let pb::DeleteCustomerRequest { name, etag: raw_etag } = request.into_inner();
        let id = customer_id("name", &name)?;
        let version = etag("etag", &raw_etag).map_err(|v| invalid(vec![v]))?;
        let deleted = self
            .store
            .delete_customer(&ctx.principal.landlord_scope(), &ctx.actor(), id, version)
            .await
            .map_err(status)?;
        // The deleted customer is answered as a read would be: equality answers only
        // to roles that may see them, and that read audited as GetCustomer's is.
        let show = access::may_read_equality(ctx.principal.role);
        let special = reads_equality(&deleted, show);
        if special {
            let entry = AuditEntry::new(id.name()).special_category(true);
            self.store
                .record_reads(&ctx.actor(), vec![entry])
                .await
                .map_err(|err| status(ProfileError::Store(err)))?;
        }
        Ok(reply(customer_to_proto(&deleted, show), &id.name(), special))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let ctx = customer_context(&request)?;
        let pb::ListCustomersRequest { page_size, page_token, landlord_organisation, tenure, area, search } =
            request.into_inner();
        let mut v = Violations::default();
        let filter = CustomerFilter {
            landlord: v.take(convert::organisation("landlord_organisation", &landlord_organisation), None),
            tenure: v.take(convert::code("tenure", &tenure), None),
            area: v.take(convert::code("area", &area), None),
            search: v.take(validate::search_term("search", &search), None),
        };
        let filter = v.into_result(filter).map_err(invalid)?;
        // The token is bound to the caller and to every filter.
        let tokens = PageToken::for_filter(&self.page_tokens, &ctx.method, &ctx.principal, &filter);
        let page = tokens.request::<Uuid>(page_size, &page_token).map_err(status)?;
        let rows = self
            .store
            .list_customers(&ctx.principal.landlord_scope(), &filter, page.after, page.size + 1)
            .await
            .map_err(status)?;
        let (customers, next_page_token) =
            finish_page(rows, page.size, &tokens, |customer| customer.id.uuid());
        let show = access::may_read_equality(ctx.principal.role);
        let reads: Vec<AuditEntry> = customers
            .iter()
            .filter(|customer| reads_equality(customer, show))
            .map(|customer| AuditEntry::new(customer.id.name()).special_category(true))
            .collect();
        let special = !reads.is_empty();
        self.store.record_reads(&ctx.actor(), reads).await.map_err(status)?;
        let response = pb::ListCustomersResponse {
            customers: customers.iter().map(|customer| customer_to_proto(customer, show)).collect(),
            next_page_token,
        };
        Ok(reply(response, "customers", special))
    }

    async fn change_tenure(
        &self,
        request: Request<pb::ChangeTenureRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ctx = customer_context(&request)?;
        let identity = request_identity(request.get_ref(), &request.get_ref().request_id, |copy| {
            copy.request_id.clear()
        });
        let pb::ChangeTenureRequest {
            name,
            tenure,
            landlord_organisation,
            effective_date,
            reason,
            etag: raw_etag,
            request_id: raw_request_id,
        } = request.into_inner();
        let id = customer_id("name", &name)?;
        let mut v = Violations::default();
        let tenure = v.take(convert::required_code("tenure", &tenure).map(Some), None);
        let landlord = v.take(convert::organisation("landlord_organisation", &landlord_organisation), None);
        let effective_date = v.take(
            convert::date_from_proto("effective_date", effective_date.as_ref())
                .and_then(|date| date.ok_or_else(|| FieldViolation::required("effective_date")).map(Some)),
            None,
        );
        let reason = v.take(validate::optional_text("reason", &reason, validate::MAX_REASON_LEN), None);
        let version = v.take(etag("etag", &raw_etag), None);
        v.take(RequestId::parse_optional("request_id", &raw_request_id), None);
        let refs = self.store.reference_data().await.map_err(status)?;
        if let Some(tenure) = &tenure {
            v.extend(refs.check(ReferenceSet::Tenures, tenure, false, "tenure"));
        }
        let (Some(tenure), Some(effective_date)) =
            v.into_result((tenure, effective_date)).map_err(invalid)?
        else {
            return Err(invalid(vec![FieldViolation::required("tenure")]));
        };
        // A partner may end its own tenancy or keep it, never hand a customer to another landlord.
        if ctx.principal.role == platform::Role::PartnerIntegration
            && landlord.as_ref().is_some_and(|landlord| landlord.as_str() != ctx.principal.organisation)
        {
            return Err(permission_denied(
                "OUTSIDE_SCOPE",
                "a partner may only record tenures with its own organisation or with none",
            ));
        }
        let change = TenureChange { tenure, landlord, effective_date, reason };
        let customer = self
            .store
            .change_tenure(
                &ctx.principal.landlord_scope(),
                &ctx.actor(),
                id,
                version,
                change,
                identity.as_ref(),
            )
            .await
            .map_err(status)?;
        let show = access::may_read_equality(ctx.principal.role)
            && ctx.principal.landlord_scope().admits(
                customer.landlord.as_ref().map(|l| l.as_str()),
                customer.details.area.as_ref().map(Code::as_str),
            );
        Ok(reply(customer_to_proto(&customer, show), &id.name(), false))
    }

    type ImportCustomersStream = ImportResponses;

    async fn import_customers(
        &self,
        request: Request<Streaming<pb::ImportCustomersRequest>>,
    ) -> Result<Response<Self::ImportCustomersStream>, Status> {
        let ctx = context(&request)?;
        if !access::may_import(ctx.principal.role) {
            return Err(permission_denied(
                "ROLE_NOT_PERMITTED",
                "only partner landlords' integrations and operators may import customers",
            ));
        }
        Ok(Response::new(import::start(Arc::clone(&self.store), ctx, request.into_inner())))
    }

    async fn get_profile_map(
        &self,
        request: Request<pb::GetProfileMapRequest>,
    ) -> Result<Response<pb::ProfileMap>, Status> {
        let ctx = context(&request)?;
        let pb::GetProfileMapRequest { landlord_organisation, characteristic } = request.into_inner();
        let mut v = Violations::default();
        let landlord = v.take(convert::organisation("landlord_organisation", &landlord_organisation), None);
        let parsed = v.take(characteristic_from_proto(characteristic), None);
        let (landlord, parsed) = v.into_result((landlord, parsed)).map_err(invalid)?;
        let view = access::profile_map_view(&ctx.principal, landlord.as_ref()).map_err(|_| {
            permission_denied(
                "OUTSIDE_SCOPE",
                "a partner maps its own customers, or the partnership as a whole, never another landlord's",
            )
        })?;
        // Every map is derived from equality answers (their completeness at least);
        // one broken down by an equality characteristic reads them.
        let special = matches!(parsed, Some(Characteristic::Equality(_)));
        let resource = format!(
            "profileMap?landlord={landlord_organisation}&characteristic={}",
            pb::Characteristic::try_from(characteristic).map_or("", |c| c.as_str_name())
        );
        let counts = self
            .store
            .profile_map(
                &view.scope,
                &ctx.actor(),
                landlord.as_ref(),
                parsed,
                AuditEntry::new(resource.clone()).special_category(special),
            )
            .await
            .map_err(status)?;
        let map = profile_map::publish(counts, view.disclosure);
        let message = pb::ProfileMap {
            characteristic,
            cells: map.cells.into_iter().map(cell_to_proto).collect(),
            completeness: map
                .completeness
                .iter()
                .map(|field| pb::FieldCompleteness {
                    field: field.field.path(),
                    recorded: field.recorded,
                    total: field.total,
                    percent: field.percent(),
                })
                .collect(),
            total_customers: map.total,
            compute_time: Some(timestamp(Utc::now())),
            rounding_base: i32::try_from(map.disclosure.base()).unwrap_or_default(),
        };
        Ok(reply(message, &resource, special))
    }

    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<pb::CustomerDataExport>, Status> {
        let ctx = context(&request)?;
        if !access::may_handle_data_protection_requests(ctx.principal.role) {
            return Err(permission_denied("ROLE_NOT_PERMITTED", "your role may not export personal data"));
        }
        let id = customer_id("name", &request.get_ref().name)?;
        let (customer, events) = self
            .store
            .export_customer(&ctx.principal.landlord_scope(), &ctx.actor(), id)
            .await
            .map_err(status)?;
        let export = pb::CustomerDataExport {
            customer: Some(customer_to_proto(&customer, true)),
            audit_events: events
                .into_iter()
                .map(|event| convert::audit_event_to_proto(event, &ctx.principal.organisation))
                .collect(),
            export_time: Some(timestamp(Utc::now())),
        };
        Ok(reply(export, &id.name(), true))
    }

    async fn erase_customer(
        &self,
        request: Request<pb::EraseCustomerRequest>,
    ) -> Result<Response<pb::Erasure>, Status> {
        let ctx = context(&request)?;
        if !access::may_handle_data_protection_requests(ctx.principal.role) {
            return Err(permission_denied("ROLE_NOT_PERMITTED", "your role may not erase personal data"));
        }
        let pb::EraseCustomerRequest { name, reason, etag: raw_etag } = request.into_inner();
        let id = customer_id("name", &name)?;
        let mut v = Violations::default();
        let reason =
            v.take(validate::required_text("reason", &reason, validate::MAX_REASON_LEN), String::new());
        let version = v.take(etag("etag", &raw_etag), None);
        let (reason, version) = v.into_result((reason, version)).map_err(invalid)?;
        let erasure = self
            .store
            .erase_customer(&ctx.principal.landlord_scope(), &ctx.actor(), id, reason, version)
            .await
            .map_err(status)?;
        let erased = pb::Erasure {
            customer: erasure.customer.name(),
            reason: erasure.reason,
            erase_time: Some(timestamp(erasure.erase_time)),
        };
        Ok(reply(erased, &id.name(), true))
    }

    async fn list_reference_values(
        &self,
        request: Request<pb::ListReferenceValuesRequest>,
    ) -> Result<Response<pb::ListReferenceValuesResponse>, Status> {
        let ctx = context(&request)?;
        let pb::ListReferenceValuesRequest { parent, page_size, page_token } = request.into_inner();
        let set = reference_set("parent", &parent)?;
        let tokens = PageToken::for_filter(&self.page_tokens, &ctx.method, &(), &set.id());
        let page = tokens.request::<String>(page_size, &page_token).map_err(status)?;
        let rows = self.store.list_reference_values(set, page.after, page.size + 1).await.map_err(status)?;
        let (values, next_page_token) = finish_page(rows, page.size, &tokens, |value| value.code.to_string());
        Ok(Response::new(pb::ListReferenceValuesResponse {
            values: values.into_iter().map(reference_value_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn create_reference_value(
        &self,
        request: Request<pb::CreateReferenceValueRequest>,
    ) -> Result<Response<pb::ReferenceValue>, Status> {
        let ctx = context(&request)?;
        if !access::may_manage_reference_data(ctx.principal.role) {
            return Err(permission_denied("ROLE_NOT_PERMITTED", "only operators may add reference values"));
        }
        let pb::CreateReferenceValueRequest { parent, value } = request.into_inner();
        let set = reference_set("parent", &parent)?;
        let Some(pb::ReferenceValue { name: _, code, display_name, retired }) = value else {
            return Err(invalid(vec![FieldViolation::required("value")]));
        };
        let mut v = Violations::default();
        let code = v.take(convert::required_code("value.code", &code).map(Some), None);
        if code.as_ref().is_some_and(ReferenceSet::is_reserved) {
            v.push(FieldViolation::new(
                "value.code",
                "RESERVED_CODE",
                "this code is reserved for equality answers",
            ));
        }
        let display_name =
            v.take(validate::required_text("value.display_name", &display_name, 200), String::new());
        let (Some(code), display_name) = v.into_result((code, display_name)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("value.code")]));
        };
        let value = ReferenceValue { set, code, display_name, retired };
        let created = self.store.create_reference_value(&ctx.actor(), value).await.map_err(status)?;
        let created = reference_value_to_proto(created);
        let name = created.name.clone();
        Ok(reply(created, &name, false))
    }
}

fn reference_set(field: &str, parent: &str) -> Result<ReferenceSet, Status> {
    if parent.is_empty() {
        return Err(invalid(vec![FieldViolation::required(field)]));
    }
    ReferenceSet::from_name(parent).ok_or_else(|| {
        let known: Vec<&str> = ReferenceSet::ALL.iter().map(|set| set.id()).collect();
        invalid(vec![FieldViolation::new(
            field,
            "UNKNOWN_REFERENCE_SET",
            format!("{field} must be referenceSets/{{set}}, one of: {}", known.join(", ")),
        )])
    })
}

fn reference_value_to_proto(value: ReferenceValue) -> pb::ReferenceValue {
    pb::ReferenceValue {
        name: format!("{}/values/{}", value.set.name(), value.code),
        code: value.code.to_string(),
        display_name: value.display_name,
        retired: value.retired,
    }
}

fn characteristic_from_proto(value: i32) -> Result<Option<Characteristic>, FieldViolation> {
    use pb::Characteristic as P;
    let parsed = P::try_from(value).map_err(|_| {
        FieldViolation::new(
            "characteristic",
            "UNKNOWN_ENUM_VALUE",
            format!("characteristic has no value {value}"),
        )
    })?;
    Ok(match parsed {
        P::Unspecified => None,
        P::Ethnicity => Some(Characteristic::Equality(EqualityField::Ethnicity)),
        P::Disability => Some(Characteristic::Equality(EqualityField::Disability)),
        P::Sex => Some(Characteristic::Equality(EqualityField::Sex)),
        P::GenderIdentity => Some(Characteristic::Equality(EqualityField::GenderIdentity)),
        P::AgeBand => Some(Characteristic::Equality(EqualityField::AgeBand)),
        P::Religion => Some(Characteristic::Equality(EqualityField::Religion)),
        P::SexualOrientation => Some(Characteristic::Equality(EqualityField::SexualOrientation)),
        P::CaringResponsibilities => Some(Characteristic::Equality(EqualityField::CaringResponsibilities)),
        P::PreferredLanguage => Some(Characteristic::PreferredLanguage),
        P::PreferredContactChannel => Some(Characteristic::PreferredContactChannel),
    })
}

fn cell_to_proto(cell: CountedCell) -> pb::ProfileCell {
    let CountedCell { tenure, area, value, count } = cell;
    pb::ProfileCell { tenure, area: area.unwrap_or_default(), value: value.unwrap_or_default(), count }
}

/// Decodes a `CreateCustomerRequest` as the wire delivers it and validates it as
/// `CreateCustomer` does before touching any state (reference codes aside, which
/// need the database). The entry point of the fuzz target and of the property tests
/// over arbitrary bytes: whatever arrives, the answer is a value, never a panic.
pub fn decode_and_validate(bytes: &[u8], today: chrono::NaiveDate) -> Result<(), Vec<FieldViolation>> {
    use prost::Message as _;
    let request = pb::CreateCustomerRequest::decode(bytes).map_err(|err| {
        vec![FieldViolation::new("", "UNDECODABLE", format!("not a CreateCustomerRequest: {err}"))]
    })?;
    let pb::CreateCustomerRequest {
        customer,
        request_id: raw_request_id,
        validate_only: _,
        tenure_start_date,
    } = request;
    let Some(message) = customer else { return Err(vec![FieldViolation::required("customer")]) };
    let (_read, violations) =
        read_create_request(&message, &raw_request_id, tenure_start_date.as_ref(), today);
    violations.into_result(())
}
