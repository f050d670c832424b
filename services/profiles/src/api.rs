//! The gRPC face of the service, thin: each method decodes and validates its
//! request, calls [`crate::service`], and encodes the answer. Rules live in
//! `domain` and are applied in `service`; nothing here decides anything.

pub(crate) mod convert;
mod import;

pub use self::import::ImportResponses;
mod update_mask;

use std::sync::Arc;

use chrono::Utc;
use contracts::customer_page::EncodedMessage;
use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_server::CustomerProfiles;
use involve_core::RequestId;
use persistence::Etag;
use platform::principal::{RESOURCE_HEADER, SPECIAL_CATEGORY_HEADER};
use platform::wire::request_identity;
use platform::{FieldViolation, RequestContext};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use self::convert::{
    Violations, customer_details, customer_into_proto, customer_to_proto, read_customer, timestamp,
};
use crate::domain::profile_map::{Characteristic, CountedCell};
use crate::domain::reference::ReferenceValue;
use crate::domain::{CustomerId, EqualityField, ReferenceSet, validate};
use crate::error::{ERROR_DOMAIN, ProfileError};
use crate::service::{ChangeTenure, CreateCustomer, Fetched, ListedCustomers, Profiles, Shown};
use crate::store::{CustomerFilter, Store};

/// The `CustomerProfiles` service.
#[derive(Debug, Clone)]
pub struct ProfilesApi {
    profiles: Profiles,
}

impl ProfilesApi {
    pub fn new(store: Arc<Store>, page_tokens: persistence::PageTokenKey) -> Self {
        Self { profiles: Profiles::new(store, page_tokens) }
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

/// A customer as the caller is shown it, named for the audit.
fn reply_customer(shown: Shown) -> Response<pb::Customer> {
    let name = shown.customer.id.name();
    reply(customer_into_proto(shown.customer, shown.equality), &name, shown.special_category)
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

fn customer_id(field: &str, name: &str) -> Result<CustomerId, FieldViolation> {
    if name.is_empty() {
        return Err(FieldViolation::required(field));
    }
    CustomerId::from_name(name).ok_or_else(|| {
        FieldViolation::new(field, "INVALID_NAME", format!("{field} must look like customers/{{uuid}}"))
    })
}

fn etag(field: &str, text: &str) -> Result<Option<Etag>, FieldViolation> {
    Etag::parse_optional(text).map_err(|_| {
        FieldViolation::new(field, "INVALID_ETAG", format!("{field} is not an etag this service issued"))
    })
}

/// Reads a create request's fields, keeping every violation: the one reading
/// the service and the fuzz target ([`decode_and_validate`]) share.
fn read_create_request(
    message: &pb::Customer,
    raw_request_id: &str,
    tenure_start_date: Option<&contracts::google::r#type::Date>,
    today: chrono::NaiveDate,
) -> CreateCustomer {
    let mut v = Violations::default();
    v.take(RequestId::parse_optional("request_id", raw_request_id), None);
    let landlord =
        v.take(convert::organisation("customer.landlord_organisation", &message.landlord_organisation), None);
    let tenure = v.take(convert::required_code("customer.tenure", &message.tenure).map(Some), None);
    let tenure_start =
        v.take(convert::date_from_proto("tenure_start_date", tenure_start_date), None).unwrap_or(today);
    let (details, detail_violations) = read_customer(message, "customer", today);
    v.extend_from(detail_violations);
    CreateCustomer {
        landlord,
        tenure,
        tenure_start,
        details,
        violations: v,
        identity: None,
        validate_only: false,
    }
}

#[tonic::async_trait]
impl CustomerProfiles for ProfilesApi {
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ctx = context(&request)?;
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
        let read =
            read_create_request(&message, &raw_request_id, tenure_start_date.as_ref(), Profiles::today());
        let create = CreateCustomer { identity, validate_only, ..read };
        match self.profiles.create_customer(&ctx, create).await.map_err(status)? {
            Some(created) => Ok(reply_customer(created)),
            None => Ok(Response::new(pb::Customer { name: String::new(), etag: String::new(), ..message })),
        }
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ctx = context(&request)?;
        let id = customer_id("name", &request.get_ref().name).map_err(|v| invalid(vec![v]))?;
        match self.profiles.get_customer(&ctx, id).await.map_err(status)? {
            Fetched::Decoded { message, special_category } => {
                Ok(reply(message, &id.name(), special_category))
            }
            Fetched::Read(shown) => Ok(reply_customer(shown)),
        }
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ctx = context(&request)?;
        let pb::UpdateCustomerRequest { customer, update_mask, validate_only } = request.into_inner();
        let Some(message) = customer else { return Err(invalid(vec![FieldViolation::required("customer")])) };
        let id = customer_id("customer.name", &message.name).map_err(|v| invalid(vec![v]))?;
        let supplied_etag = etag("customer.etag", &message.etag).map_err(|v| invalid(vec![v]))?;
        // The mask may only name equality fields the caller is shown.
        let shows_equality = crate::domain::access::may_read_equality(ctx.principal.role);
        let paths = update_mask::paths(update_mask.as_ref(), &message, shows_equality).map_err(invalid)?;
        let writes_equality = paths.contains(&update_mask::Path::Equality);
        let merge = |current: &crate::domain::Customer| {
            let mut merged = customer_to_proto(current, true);
            update_mask::apply(&paths, message, &mut merged);
            customer_details(&merged, "customer", Profiles::today())
        };
        let shown = self
            .profiles
            .update_customer(&ctx, id, supplied_etag, writes_equality, validate_only, merge)
            .await
            .map_err(status)?;
        if validate_only {
            return Ok(Response::new(customer_into_proto(shown.customer, shown.equality)));
        }
        Ok(reply_customer(shown))
    }

    async fn delete_customer(
        &self,
        request: Request<pb::DeleteCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ctx = context(&request)?;
        let pb::DeleteCustomerRequest { name, etag: raw_etag } = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(customer_id("name", &name));
        let version = v.take(etag("etag", &raw_etag), None);
        let (Some(id), version) = v.into_result((id, version)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("name")]));
        };
        let shown = self.profiles.delete_customer(&ctx, id, version).await.map_err(status)?;
        Ok(reply_customer(shown))
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let ctx = context(&request)?;
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
        let listed =
            self.profiles.list_customers(&ctx, filter, page_size, &page_token).await.map_err(status)?;
        let mut response =
            pb::ListCustomersResponse { next_page_token: listed.next_page_token, ..Default::default() };
        match listed.customers {
            ListedCustomers::Encoded(customers) => {
                // Each customer as stored, then its equality answers or the note
                // that they are withheld: one `Customer` on the wire.
                let withheld = bytes::Bytes::from_static(crate::encoding::withheld_equality());
                response.encoded_customers = customers
                    .into_iter()
                    .map(|customer| {
                        let equality =
                            if listed.equality_shown { customer.equality } else { withheld.clone() };
                        EncodedMessage(vec![customer.body, equality])
                    })
                    .collect();
            }
            ListedCustomers::Decoded(customers) => {
                response.customers = customers
                    .into_iter()
                    .map(|customer| customer_into_proto(customer, listed.equality_shown))
                    .collect();
            }
        }
        Ok(reply(response, "customers", listed.special_category))
    }

    async fn change_tenure(
        &self,
        request: Request<pb::ChangeTenureRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let ctx = context(&request)?;
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
        let id = customer_id("name", &name).map_err(|v| invalid(vec![v]))?;
        let mut v = Violations::default();
        let tenure = v.take(convert::required_code("tenure", &tenure).map(Some), None);
        let landlord = v.take(convert::organisation("landlord_organisation", &landlord_organisation), None);
        let effective_date = v.take(
            convert::date_from_proto("effective_date", effective_date.as_ref())
                .and_then(|date| date.ok_or_else(|| FieldViolation::required("effective_date")).map(Some)),
            None,
        );
        let reason = v.take(validate::optional_text("reason", &reason, validate::MAX_REASON_LEN), None);
        let etag = v.take(etag("etag", &raw_etag), None);
        v.take(RequestId::parse_optional("request_id", &raw_request_id), None);
        let change =
            ChangeTenure { id, tenure, landlord, effective_date, reason, etag, violations: v, identity };
        let shown = self.profiles.change_tenure(&ctx, change).await.map_err(status)?;
        Ok(reply_customer(shown))
    }

    type ImportCustomersStream = ImportResponses;

    async fn import_customers(
        &self,
        request: Request<Streaming<pb::ImportCustomersRequest>>,
    ) -> Result<Response<Self::ImportCustomersStream>, Status> {
        let ctx = context(&request)?;
        Profiles::admit_import(&ctx).map_err(status)?;
        Ok(Response::new(import::start(Arc::clone(self.profiles.store()), ctx, request.into_inner())))
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
        let resource = format!(
            "profileMap?landlord={landlord_organisation}&characteristic={}",
            pb::Characteristic::try_from(characteristic).map_or("", |c| c.as_str_name())
        );
        let map = self.profiles.profile_map(&ctx, landlord, parsed, &resource).await.map_err(status)?;
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
        Ok(reply(message, &resource, crate::service::reads_equality_answers(parsed)))
    }

    async fn count_equality_groups(
        &self,
        request: Request<pb::CountEqualityGroupsRequest>,
    ) -> Result<Response<pb::EqualityGroupCounts>, Status> {
        let ctx = context(&request)?;
        let pb::CountEqualityGroupsRequest { characteristic, sets, requested_for } = request.into_inner();
        let mut v = Violations::default();
        let field = v.check(equality_characteristic(characteristic));
        let query_sets = read_customer_sets(&mut v, sets);
        let requested_for = v.check(read_requested_for(requested_for));
        let (field, requested_for) = v.into_result((field, requested_for)).map_err(invalid)?;
        let (Some(field), Some((organisation, subject, role))) = (field, requested_for) else {
            return Err(Status::internal("validated fields missing"));
        };
        let query = crate::domain::equality_groups::GroupQuery { field, sets: query_sets };
        let (counted, disclosure) = self
            .profiles
            .count_equality_groups(&ctx, (&organisation, &subject, role), query)
            .await
            .map_err(status)?;
        let message = pb::EqualityGroupCounts {
            characteristic,
            sets: counted
                .into_iter()
                .map(|set| pb::EqualityGroupCount {
                    label: set.label,
                    total: set.total,
                    values: set
                        .values
                        .into_iter()
                        .map(|(value, count)| pb::EqualityValueCount { value, count })
                        .collect(),
                })
                .collect(),
            rounding_base: i32::try_from(disclosure.base()).unwrap_or_default(),
        };
        Ok(reply(message, "equalityGroups", true))
    }

    async fn export_customer_data(
        &self,
        request: Request<pb::ExportCustomerDataRequest>,
    ) -> Result<Response<pb::CustomerDataExport>, Status> {
        let ctx = context(&request)?;
        let id = customer_id("name", &request.get_ref().name).map_err(|v| invalid(vec![v]))?;
        let (customer, events) = self.profiles.export_customer(&ctx, id).await.map_err(status)?;
        let export = pb::CustomerDataExport {
            customer: Some(customer_into_proto(customer, true)),
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
        let pb::EraseCustomerRequest { name, reason, etag: raw_etag } = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(customer_id("name", &name));
        let reason =
            v.take(validate::required_text("reason", &reason, validate::MAX_REASON_LEN), String::new());
        let version = v.take(etag("etag", &raw_etag), None);
        let (Some(id), reason, version) = v.into_result((id, reason, version)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("name")]));
        };
        let erasure = self.profiles.erase_customer(&ctx, id, reason, version).await.map_err(status)?;
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
        let page =
            self.profiles.list_reference_values(&ctx, set, page_size, &page_token).await.map_err(status)?;
        Ok(Response::new(pb::ListReferenceValuesResponse {
            values: page.items.into_iter().map(reference_value_to_proto).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_reference_value(
        &self,
        request: Request<pb::CreateReferenceValueRequest>,
    ) -> Result<Response<pb::ReferenceValue>, Status> {
        let ctx = context(&request)?;
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
        let created = self.profiles.create_reference_value(&ctx, value).await.map_err(status)?;
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

/// The characteristic of `CountEqualityGroups`: an equality one, required.
fn equality_characteristic(value: i32) -> Result<EqualityField, FieldViolation> {
    match characteristic_from_proto(value)? {
        Some(Characteristic::Equality(field)) => Ok(field),
        None => Err(FieldViolation::required("characteristic")),
        Some(Characteristic::PreferredLanguage | Characteristic::PreferredContactChannel) => {
            Err(FieldViolation::new(
                "characteristic",
                "NOT_AN_EQUALITY_CHARACTERISTIC",
                "characteristic must be an equality characteristic",
            ))
        }
    }
}

/// The labelled sets, each customer once per set; at most
/// [`crate::domain::equality_groups::MAX_NAMES`] names in all.
fn read_customer_sets(v: &mut Violations, sets: Vec<pb::CustomerSet>) -> Vec<(String, Vec<uuid::Uuid>)> {
    if sets.is_empty() {
        v.push(FieldViolation::required("sets"));
    }
    let names: usize = sets.iter().map(|set| set.customers.len()).sum();
    if names > crate::domain::equality_groups::MAX_NAMES {
        v.push(FieldViolation::new(
            "sets",
            "TOO_MANY_NAMES",
            format!("sets name {names} customers; at most {}", crate::domain::equality_groups::MAX_NAMES),
        ));
        return Vec::new();
    }
    let mut read = Vec::with_capacity(sets.len());
    for (index, set) in sets.into_iter().enumerate() {
        if set.label.trim().is_empty() || set.label.len() > 64 {
            v.push(FieldViolation::new(
                format!("sets[{index}].label"),
                "INVALID_LABEL",
                "a set needs a label of 1 to 64 characters",
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for (position, name) in set.customers.iter().enumerate() {
            if let Some(id) = v.check(customer_id(&format!("sets[{index}].customers[{position}]"), name)) {
                ids.insert(id.uuid());
            }
        }
        read.push((set.label, ids.into_iter().collect()));
    }
    read
}

/// Who the calling service acts for: organisation, subject and role.
fn read_requested_for(
    requested_for: Option<pb::RequestedFor>,
) -> Result<(String, String, platform::Role), FieldViolation> {
    let Some(pb::RequestedFor { organisation, subject, role }) = requested_for else {
        return Err(FieldViolation::required("requested_for"));
    };
    if organisation.is_empty() {
        return Err(FieldViolation::required("requested_for.organisation"));
    }
    if subject.is_empty() {
        return Err(FieldViolation::required("requested_for.subject"));
    }
    let role = contracts::involve::common::v1::Role::try_from(role)
        .ok()
        .and_then(platform::roles::from_proto)
        .ok_or_else(|| FieldViolation::required("requested_for.role"))?;
    Ok((organisation, subject, role))
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
    read_create_request(&message, &raw_request_id, tenure_start_date.as_ref(), today)
        .violations
        .into_result(())
}
