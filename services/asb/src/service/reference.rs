//! Upkeep of the reference data triage and casework read per call: categories
//! (priority, seriousness and so route, first-response time, motivation,
//! retirement) and intervention types (effective dates). Operators, who keep
//! reference data, and managers, who triage by it, may change it; anyone may read
//! it. Nothing is deleted: a category is retired, an intervention type ends.

use involve_core::{Capability, Code};
use persistence::Etag;
use persistence::idempotency::RequestIdentity;
use platform::{FieldViolation, RequestContext};
use sea_orm::Set;

use super::{Cases, refused};
use crate::domain::casework::InterventionKind;
use crate::domain::triage::{Priority, Route};
use crate::error::AsbError;
use crate::store::entities::{categories, intervention_types};
use crate::store::{Created, codes};

/// A category's rules, as an operator or manager sets them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryDraft {
    pub code: Code,
    pub display_name: String,
    pub priority: Priority,
    /// Serious categories route to the enforcement team.
    pub serious: bool,
    pub first_response: Option<chrono::Duration>,
    pub needs_motivation: bool,
    pub retired: bool,
}

impl CategoryDraft {
    fn route(&self) -> Route {
        if self.serious { Route::Enforcement } else { Route::Neighbourhood }
    }
}

/// An intervention type as an operator or manager sets it; `kind` is `None` on an
/// update that leaves it as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterventionTypeDraft {
    pub code: Code,
    pub display_name: String,
    pub kind: Option<InterventionKind>,
    pub effective_from: chrono::NaiveDate,
    pub effective_to: Option<chrono::NaiveDate>,
}

fn may_keep_reference_data(ctx: &RequestContext) -> Result<(), AsbError> {
    let role = ctx.principal.role;
    if role.may(Capability::ManageReferenceData) || role.may(Capability::TriageCases) {
        Ok(())
    } else {
        Err(refused("ROLE_NOT_PERMITTED", "only operators and managers keep ASB reference data"))
    }
}

impl Cases {
    /// Every category, retired ones too.
    pub async fn list_categories(&self) -> Result<Vec<categories::Model>, AsbError> {
        Ok(self.store.categories().await?)
    }

    /// Adds a category; triage and reports use it from the next call.
    pub async fn create_category(
        &self,
        ctx: &RequestContext,
        draft: CategoryDraft,
        identity: Option<RequestIdentity>,
    ) -> Result<categories::Model, AsbError> {
        may_keep_reference_data(ctx)?;
        let name = format!("categories/{}", draft.code);
        let row = categories::Model {
            code: draft.code.to_string(),
            display_name: draft.display_name.clone(),
            priority: codes::priority(draft.priority).to_owned(),
            route: codes::route(draft.route()).to_owned(),
            first_response_secs: draft.first_response.map(|within| within.num_seconds()),
            needs_motivation: draft.needs_motivation,
            retired: draft.retired,
            version: 1,
        };
        match self.store.create_category(&ctx.actor(), identity.as_ref(), row).await? {
            Created::New | Created::Replayed => {}
            Created::Exists => {
                return Err(AsbError::ReferenceExists { resource_type: "involve.asb.v1.Category", name });
            }
        }
        self.store
            .category(draft.code.as_str())
            .await?
            .ok_or(AsbError::ReferenceNotFound { resource_type: "involve.asb.v1.Category", name })
    }

    /// Replaces a category's rules; compare-and-set on `etag` when sent.
    pub async fn update_category(
        &self,
        ctx: &RequestContext,
        draft: CategoryDraft,
        etag: Option<Etag>,
    ) -> Result<categories::Model, AsbError> {
        may_keep_reference_data(ctx)?;
        let not_found = || AsbError::ReferenceNotFound {
            resource_type: "involve.asb.v1.Category",
            name: format!("categories/{}", draft.code),
        };
        let row = categories::ActiveModel {
            display_name: Set(draft.display_name.clone()),
            priority: Set(codes::priority(draft.priority).to_owned()),
            route: Set(codes::route(draft.route()).to_owned()),
            first_response_secs: Set(draft.first_response.map(|within| within.num_seconds())),
            needs_motivation: Set(draft.needs_motivation),
            retired: Set(draft.retired),
            ..Default::default()
        };
        if !self.store.update_category(&ctx.actor(), etag, row, draft.code.as_str()).await? {
            return Err(not_found());
        }
        self.store.category(draft.code.as_str()).await?.ok_or_else(not_found)
    }

    /// Every intervention type, retired ones too.
    pub async fn list_intervention_types(&self) -> Result<Vec<intervention_types::Model>, AsbError> {
        Ok(self.store.intervention_types().await?)
    }

    /// Adds an intervention type, recordable within its effective dates.
    pub async fn create_intervention_type(
        &self,
        ctx: &RequestContext,
        draft: InterventionTypeDraft,
        identity: Option<RequestIdentity>,
    ) -> Result<intervention_types::Model, AsbError> {
        may_keep_reference_data(ctx)?;
        let name = format!("interventionTypes/{}", draft.code);
        let Some(kind) = draft.kind else {
            return Err(AsbError::Invalid(vec![FieldViolation::required("intervention_type.kind")]));
        };
        let row = intervention_types::Model {
            code: draft.code.to_string(),
            display_name: draft.display_name.clone(),
            kind: codes::intervention_kind(kind).to_owned(),
            effective_from: draft.effective_from,
            effective_to: draft.effective_to,
            version: 1,
        };
        match self.store.create_intervention_type(&ctx.actor(), identity.as_ref(), row).await? {
            Created::New | Created::Replayed => {}
            Created::Exists => {
                return Err(AsbError::ReferenceExists {
                    resource_type: "involve.asb.v1.InterventionType",
                    name,
                });
            }
        }
        self.store
            .intervention_type_row(draft.code.as_str())
            .await?
            .ok_or(AsbError::ReferenceNotFound { resource_type: "involve.asb.v1.InterventionType", name })
    }

    /// Changes an intervention type's name and effective dates (its kind stays).
    pub async fn update_intervention_type(
        &self,
        ctx: &RequestContext,
        draft: InterventionTypeDraft,
        etag: Option<Etag>,
    ) -> Result<intervention_types::Model, AsbError> {
        may_keep_reference_data(ctx)?;
        let not_found = || AsbError::ReferenceNotFound {
            resource_type: "involve.asb.v1.InterventionType",
            name: format!("interventionTypes/{}", draft.code),
        };
        let current = self.store.intervention_type_row(draft.code.as_str()).await?.ok_or_else(not_found)?;
        if let Some(kind) = draft.kind
            && codes::intervention_kind(kind) != current.kind
        {
            return Err(AsbError::Invalid(vec![FieldViolation::new(
                "intervention_type.kind",
                "IMMUTABLE",
                "an intervention type's kind is set when it is created: add a new type instead",
            )]));
        }
        let row = intervention_types::ActiveModel {
            display_name: Set(draft.display_name.clone()),
            effective_from: Set(draft.effective_from),
            effective_to: Set(draft.effective_to),
            ..Default::default()
        };
        if !self.store.update_intervention_type(&ctx.actor(), etag, row, draft.code.as_str()).await? {
            return Err(not_found());
        }
        self.store.intervention_type_row(draft.code.as_str()).await?.ok_or_else(not_found)
    }
}
