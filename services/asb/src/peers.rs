//! The services ASB calls, through their contracts, in the domain's terms: the
//! only module here that speaks another service's gRPC.

use contracts::involve::profiles::v1::GetCustomerRequest;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
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
}
