//! The services ASB calls, through their contracts, in the domain's terms: the
//! only module here that speaks another service's gRPC.

use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use contracts::involve::profiles::v1::{
    Characteristic, CountEqualityGroupsRequest, CustomerSet, EqualityGroupCounts, GetCustomerRequest,
    RequestedFor,
};
use platform::RequestContext;
use platform::client::ServiceClient;

use crate::error::AsbError;

#[derive(Clone, Debug)]
pub struct Peers {
    pub profiles: ServiceClient,
}

impl Peers {
    /// The landlord of customer `name` (empty for one without a landlord) when the
    /// caller may see that customer; `None` when there is no such customer in the
    /// caller's scope (one answer for both, as at the edge).
    pub async fn customer_landlord(
        &self,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<Option<String>, AsbError> {
        let for_person = self.profiles.acting_for(&ctx.principal).for_purpose(ctx.purpose);
        let request = GetCustomerRequest { name: name.to_owned() };
        match CustomerProfilesClient::new(for_person).get_customer(request).await {
            Ok(customer) => Ok(Some(customer.into_inner().landlord_organisation)),
            Err(status) if matches!(status.code(), tonic::Code::NotFound | tonic::Code::PermissionDenied) => {
                Ok(None)
            }
            Err(status) => Err(AsbError::Peer(status)),
        }
    }

    /// Per labelled set of `customers/{id}` names, how many share each value of
    /// `characteristic`, counted and protected by profiles. Asked as this
    /// service's own identity (the only caller profiles counts equality groups
    /// for), stating whom for: ASB never reads a person's answers.
    pub async fn count_equality_groups(
        &self,
        ctx: &RequestContext,
        characteristic: Characteristic,
        sets: Vec<(&'static str, Vec<String>)>,
    ) -> Result<EqualityGroupCounts, AsbError> {
        let as_asb = self.profiles.as_service().for_purpose(ctx.purpose);
        let request = CountEqualityGroupsRequest {
            characteristic: characteristic.into(),
            sets: sets
                .into_iter()
                .map(|(label, customers)| CustomerSet { label: label.to_owned(), customers })
                .collect(),
            requested_for: Some(RequestedFor {
                organisation: ctx.principal.organisation.clone(),
                subject: ctx.principal.subject.clone(),
                role: platform::roles::to_proto(ctx.principal.role).into(),
            }),
        };
        CustomerProfilesClient::new(as_asb)
            .count_equality_groups(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(AsbError::Peer)
    }
}
