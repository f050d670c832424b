//! What each call of the service does, in the domain's terms: the rules of
//! [`crate::domain`] applied for the caller, against the [`crate::store`].
//!
//! `api` decodes a request into one of these calls and encodes what it returns;
//! nothing here knows about gRPC, and nothing in `api` decides anything.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use contracts::involve::profiles::v1 as pb;
use involve_core::{Capability, Violations};
use persistence::audit::AuditEvent;
use persistence::idempotency::RequestIdentity;
use persistence::paging::finish_page;
use persistence::{AuditEntry, Etag, PageToken, PageTokenKey};
use platform::{FieldViolation, RequestContext};
use uuid::Uuid;

use crate::domain::equality_groups::{self, CountedSet, Disclosure, GroupQuery};
use crate::domain::profile_map::{self, Characteristic, PublishedMap};
use crate::domain::reference::ReferenceValue;
use crate::domain::tenure::TenureChange;
use crate::domain::{Code, Customer, CustomerDetails, CustomerId, OrganisationName, ReferenceSet, access};
use crate::error::ProfileError;
use crate::store::{CustomerFilter, EncodedCustomer, Erasure, NewCustomer, Store};

/// The profiles service's use cases over one store.
#[derive(Debug, Clone)]
pub struct Profiles {
    store: Arc<Store>,
    page_tokens: PageTokenKey,
}

/// A customer as one caller is shown it.
#[derive(Clone, Debug)]
pub struct Shown {
    pub customer: Customer,
    /// Whether the caller is shown the equality answers.
    pub equality: bool,
    /// Whether the call read or wrote special-category data (for the gateway's audit).
    pub special_category: bool,
}

impl Shown {
    /// A read: special-category data is read when answers are recorded and shown.
    fn read(customer: Customer, equality: bool) -> Self {
        let special_category = equality && customer.details.equality.any_recorded();
        Self { customer, equality, special_category }
    }
}

/// A customer as `GetCustomer` answers with it.
#[derive(Debug)]
pub enum Fetched {
    /// Decoded from its stored encoding (`crate::encoding`), as the caller is shown it.
    Decoded { message: pb::Customer, special_category: bool },
    /// Read from its columns: it has no encoding of the current format yet.
    Read(Shown),
}

/// A create request as read from the wire, with whatever was wrong with it so far:
/// the reference codes are checked here, against the store.
#[derive(Debug)]
pub struct CreateCustomer {
    pub landlord: Option<OrganisationName>,
    pub tenure: Option<Code>,
    pub tenure_start: NaiveDate,
    pub details: CustomerDetails,
    pub violations: Violations,
    pub identity: Option<RequestIdentity>,
    pub validate_only: bool,
}

/// A change of tenure as read from the wire.
#[derive(Debug)]
pub struct ChangeTenure {
    pub id: CustomerId,
    pub tenure: Option<Code>,
    pub landlord: Option<OrganisationName>,
    pub effective_date: Option<NaiveDate>,
    pub reason: Option<String>,
    pub etag: Option<Etag>,
    pub violations: Violations,
    pub identity: Option<RequestIdentity>,
}

/// One page of something, and the token of the next.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

/// A page of `ListCustomers`.
#[derive(Debug)]
pub struct CustomerList {
    pub customers: ListedCustomers,
    pub next_page_token: String,
    /// Whether the caller is shown equality answers.
    pub equality_shown: bool,
    /// Whether the page shows special-category data (audited as read).
    pub special_category: bool,
}

/// The customers of a page, as stored encodings or, for a page with a customer
/// that has none yet, read from their columns.
#[derive(Debug)]
pub enum ListedCustomers {
    Encoded(Vec<EncodedCustomer>),
    Decoded(Vec<Customer>),
}

fn invalid(violations: Vec<FieldViolation>) -> ProfileError {
    ProfileError::Invalid(violations)
}

impl Profiles {
    pub fn new(store: Arc<Store>, page_tokens: PageTokenKey) -> Self {
        Self { store, page_tokens }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Records the caller's reads of special-category data before they are answered.
    async fn audit_read(&self, ctx: &RequestContext, shown: &Shown) -> Result<(), ProfileError> {
        if shown.special_category {
            let entry = AuditEntry::new(shown.customer.id.name()).special_category(true);
            self.store.record_reads(&ctx.actor(), vec![entry]).await?;
        }
        Ok(())
    }

    /// Creates a customer; `None` when the request only asked to be validated.
    pub async fn create_customer(
        &self,
        ctx: &RequestContext,
        request: CreateCustomer,
    ) -> Result<Option<Shown>, ProfileError> {
        let principal = &ctx.principal;
        access::require_customers(principal.role)?;
        let CreateCustomer {
            landlord,
            tenure,
            tenure_start,
            details,
            mut violations,
            identity,
            validate_only,
        } = request;
        let refs = self.store.reference_data().await?;
        if let Some(tenure) = &tenure {
            violations.extend(refs.check(ReferenceSet::Tenures, tenure, false, "customer.tenure"));
        }
        violations.extend(refs.check_details(&details, None).into_iter().map(|v| v.nested_under("customer")));
        let tenure = violations.into_result(tenure).map_err(invalid)?;
        let tenure = tenure.ok_or_else(|| invalid(vec![FieldViolation::required("customer.tenure")]))?;

        let landlord = access::landlord_of_new_customer(principal, landlord)?;
        if details.equality.any_recorded() {
            access::require_equality_writer(principal.role)?;
        }
        let scope = access::customer_scope(principal);
        access::admit_new(&scope, landlord.as_ref(), details.area.as_ref())?;
        if validate_only {
            return Ok(None);
        }
        let new = NewCustomer { landlord, tenure, tenure_start, details };
        let customer = self.store.create_customer(&scope, &ctx.actor(), identity.as_ref(), new).await?;
        // Written, whether or not this caller is shown them back.
        let special_category = customer.details.equality.any_recorded();
        let equality = access::may_read_equality(principal.role);
        Ok(Some(Shown { customer, equality, special_category }))
    }

    pub async fn get_customer(&self, ctx: &RequestContext, id: CustomerId) -> Result<Fetched, ProfileError> {
        access::require_customers(ctx.principal.role)?;
        let scope = access::customer_scope(&ctx.principal);
        let equality = access::may_read_equality(ctx.principal.role);
        if let Some(stored) = self.store.get_encoded(&scope, id).await? {
            match crate::encoding::decode(&stored, equality) {
                Ok(message) => {
                    let special_category = equality && stored.equality_recorded;
                    if special_category {
                        let entry = AuditEntry::new(id.name()).special_category(true);
                        self.store.record_reads(&ctx.actor(), vec![entry]).await?;
                    }
                    return Ok(Fetched::Decoded { message, special_category });
                }
                // Never expected (the bytes were made by prost); the columns still answer.
                Err(err) => {
                    tracing::error!(customer = %id.name(), error = %err, "a stored encoding does not decode")
                }
            }
        }
        let shown = Shown::read(self.store.get_customer(&scope, id).await?, equality);
        self.audit_read(ctx, &shown).await?;
        Ok(Fetched::Read(shown))
    }

    /// Updates a customer: `merge` lays the request's masked fields over the
    /// current record and reads the result (or says what is wrong with it).
    pub async fn update_customer(
        &self,
        ctx: &RequestContext,
        id: CustomerId,
        etag: Option<Etag>,
        writes_equality: bool,
        validate_only: bool,
        merge: impl FnOnce(&Customer) -> Result<CustomerDetails, Vec<FieldViolation>>,
    ) -> Result<Shown, ProfileError> {
        let role = ctx.principal.role;
        access::require_customers(role)?;
        if writes_equality {
            access::require_equality_writer(role)?;
        }
        let scope = access::customer_scope(&ctx.principal);
        let current = self.store.get_customer(&scope, id).await?;
        // Early, so a stale etag is told as such rather than as whatever else is
        // wrong; the store's compare-and-set is what guarantees it.
        persistence::versioned::expect_version(current.version, etag)?;
        let details = merge(&current).map_err(invalid)?;
        let refs = self.store.reference_data().await?;
        let violations: Vec<FieldViolation> = refs
            .check_details(&details, Some(&current.details))
            .into_iter()
            .map(|violation| violation.nested_under("customer"))
            .collect();
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        access::admit_move(&scope, current.landlord.as_ref(), details.area.as_ref())?;
        let equality = access::may_read_equality(role);
        if validate_only {
            let mut preview = current;
            preview.details = details;
            return Ok(Shown { customer: preview, equality, special_category: false });
        }
        let changes_equality = current.details.equality != details.equality;
        let expected = etag.map_or(current.version, Etag::version);
        let updated =
            self.store.update_customer(&scope, &ctx.actor(), id, expected, details, equality).await?;
        let mut shown = Shown::read(updated, equality);
        shown.special_category |= changes_equality;
        Ok(shown)
    }

    /// A soft delete (AIP-164), answered with the deleted customer as a read would be.
    pub async fn delete_customer(
        &self,
        ctx: &RequestContext,
        id: CustomerId,
        etag: Option<Etag>,
    ) -> Result<Shown, ProfileError> {
        access::require_customers(ctx.principal.role)?;
        let scope = access::customer_scope(&ctx.principal);
        let deleted = self.store.delete_customer(&scope, &ctx.actor(), id, etag.map(Etag::version)).await?;
        let shown = Shown::read(deleted, access::may_read_equality(ctx.principal.role));
        self.audit_read(ctx, &shown).await?;
        Ok(shown)
    }

    /// One page of customers; the token binds the caller and the whole filter.
    /// Answered from the customers' stored encodings, or from their columns when
    /// one of them has none yet (see `crate::encoding`).
    pub async fn list_customers(
        &self,
        ctx: &RequestContext,
        filter: CustomerFilter,
        page_size: i32,
        page_token: &str,
    ) -> Result<CustomerList, ProfileError> {
        access::require_customers(ctx.principal.role)?;
        let tokens = PageToken::for_filter(&self.page_tokens, &ctx.method, &ctx.principal, &filter);
        let page = tokens.request::<Uuid>(page_size, page_token)?;
        let scope = access::customer_scope(&ctx.principal);
        let equality_shown = access::may_read_equality(ctx.principal.role);
        let (customers, next_page_token, read) =
            match self.store.list_encoded(&scope, &filter, page.after, page.size + 1).await? {
                Some(rows) => {
                    let (rows, next) = finish_page(rows, page.size, &tokens, |row| row.id.uuid());
                    let read = rows.iter().filter(|row| row.equality_recorded).map(|row| row.id).collect();
                    (ListedCustomers::Encoded(rows), next, read)
                }
                None => {
                    let rows = self.store.list_customers(&scope, &filter, page.after, page.size + 1).await?;
                    let (rows, next) = finish_page(rows, page.size, &tokens, |customer| customer.id.uuid());
                    let read = rows
                        .iter()
                        .filter(|customer| customer.details.equality.any_recorded())
                        .map(|customer| customer.id)
                        .collect();
                    (ListedCustomers::Decoded(rows), next, read)
                }
            };
        // Equality answers are read only by a caller shown them.
        let read: Vec<CustomerId> = if equality_shown { read } else { Vec::new() };
        let reads: Vec<AuditEntry> =
            read.iter().map(|id| AuditEntry::new(id.name()).special_category(true)).collect();
        self.store.record_reads(&ctx.actor(), reads).await?;
        Ok(CustomerList { customers, next_page_token, equality_shown, special_category: !read.is_empty() })
    }

    pub async fn change_tenure(
        &self,
        ctx: &RequestContext,
        request: ChangeTenure,
    ) -> Result<Shown, ProfileError> {
        access::require_customers(ctx.principal.role)?;
        let ChangeTenure { id, tenure, landlord, effective_date, reason, etag, mut violations, identity } =
            request;
        let refs = self.store.reference_data().await?;
        if let Some(tenure) = &tenure {
            violations.extend(refs.check(ReferenceSet::Tenures, tenure, false, "tenure"));
        }
        let (tenure, effective_date) = violations.into_result((tenure, effective_date)).map_err(invalid)?;
        let tenure = tenure.ok_or_else(|| invalid(vec![FieldViolation::required("tenure")]))?;
        let effective_date =
            effective_date.ok_or_else(|| invalid(vec![FieldViolation::required("effective_date")]))?;
        access::admit_tenure_landlord(&ctx.principal, landlord.as_ref())?;
        let change = TenureChange { tenure, landlord, effective_date, reason };
        let scope = access::customer_scope(&ctx.principal);
        let customer = self
            .store
            .change_tenure(&scope, &ctx.actor(), id, etag.map(Etag::version), change, identity.as_ref())
            .await?;
        let equality = access::shows_equality(&ctx.principal, &customer);
        Ok(Shown { customer, equality, special_category: false })
    }

    /// A profile map of the caller's view; `audit_resource` names the read in the audit.
    pub async fn profile_map(
        &self,
        ctx: &RequestContext,
        landlord: Option<OrganisationName>,
        characteristic: Option<Characteristic>,
        audit_resource: &str,
    ) -> Result<PublishedMap, ProfileError> {
        let view = access::profile_map_view(&ctx.principal, landlord.as_ref()).map_err(|_| {
            ProfileError::PermissionDenied {
                reason: "OUTSIDE_SCOPE",
                message: "a partner maps its own customers, or the partnership as a whole, never another \
                          landlord's"
                    .to_owned(),
            }
        })?;
        // Every map is derived from equality answers (their completeness at least);
        // one broken down by an equality characteristic reads them.
        let special = reads_equality_answers(characteristic);
        let entry = AuditEntry::new(audit_resource).special_category(special);
        let counts = self
            .store
            .profile_map(&view.scope, &ctx.actor(), landlord.as_ref(), characteristic, entry)
            .await?;
        Ok(profile_map::publish(counts, view.disclosure))
    }

    /// Counts labelled sets of customers by one equality characteristic for a peer
    /// service acting for `requested_for` (its organisation, subject and role),
    /// published protected. The audit names whom it was read for.
    pub async fn count_equality_groups(
        &self,
        ctx: &RequestContext,
        requested_for: (&str, &str, platform::Role),
        query: GroupQuery,
    ) -> Result<(Vec<CountedSet>, Disclosure), ProfileError> {
        let (organisation, subject, role) = requested_for;
        let disclosure = access::equality_groups_view(&ctx.principal, role)?;
        let labels: Vec<&str> = query.sets.iter().map(|(label, _)| label.as_str()).collect();
        let resource = format!(
            "equalityGroups?characteristic={}&sets={}&for={subject}&organisation={organisation}&role={}",
            query.field.field_name(),
            labels.join(","),
            role.as_str()
        );
        let entry = AuditEntry::new(resource).special_category(true);
        let counted = self.store.count_equality_groups(&ctx.actor(), &query, entry).await?;
        Ok((equality_groups::publish(counted, disclosure), disclosure))
    }

    /// Everything held on a customer, with its audit trail (subject access).
    pub async fn export_customer(
        &self,
        ctx: &RequestContext,
        id: CustomerId,
    ) -> Result<(Customer, Vec<AuditEvent>), ProfileError> {
        access::require(
            ctx.principal.role,
            Capability::HandleDataProtectionRequests,
            "your role may not export personal data",
        )?;
        let scope = access::customer_scope(&ctx.principal);
        self.store.export_customer(&scope, &ctx.actor(), id).await
    }

    pub async fn erase_customer(
        &self,
        ctx: &RequestContext,
        id: CustomerId,
        reason: String,
        etag: Option<Etag>,
    ) -> Result<Erasure, ProfileError> {
        access::require(
            ctx.principal.role,
            Capability::HandleDataProtectionRequests,
            "your role may not erase personal data",
        )?;
        let scope = access::customer_scope(&ctx.principal);
        self.store.erase_customer(&scope, &ctx.actor(), id, reason, etag.map(Etag::version)).await
    }

    pub async fn list_reference_values(
        &self,
        ctx: &RequestContext,
        set: ReferenceSet,
        page_size: i32,
        page_token: &str,
    ) -> Result<Page<ReferenceValue>, ProfileError> {
        let tokens = PageToken::for_filter(&self.page_tokens, &ctx.method, &(), &set.id());
        let page = tokens.request::<String>(page_size, page_token)?;
        let rows = self.store.list_reference_values(set, page.after, page.size + 1).await?;
        let (items, next_page_token) = finish_page(rows, page.size, &tokens, |value| value.code.to_string());
        Ok(Page { items, next_page_token })
    }

    pub async fn create_reference_value(
        &self,
        ctx: &RequestContext,
        value: ReferenceValue,
    ) -> Result<ReferenceValue, ProfileError> {
        access::require(
            ctx.principal.role,
            Capability::ManageReferenceData,
            "only operators may add reference values",
        )?;
        self.store.create_reference_value(&ctx.actor(), value).await
    }

    /// Whether the caller may stream imports at all (the stream itself is `api::import`).
    pub fn admit_import(ctx: &RequestContext) -> Result<(), ProfileError> {
        Ok(access::require(
            ctx.principal.role,
            Capability::ImportCustomers,
            "only partner landlords' integrations and operators may import customers",
        )?)
    }

    /// Today, as the service dates things.
    pub fn today() -> NaiveDate {
        Utc::now().date_naive()
    }
}

/// Whether a map broken down by `characteristic` reads individual equality answers.
pub fn reads_equality_answers(characteristic: Option<Characteristic>) -> bool {
    matches!(characteristic, Some(Characteristic::Equality(_)))
}
