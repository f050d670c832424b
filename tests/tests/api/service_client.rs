//! One service calling another through `platform::client`, wired by the real
//! start-up code: all-in-one (in-process) and distributed (over loopback, the
//! principal signed). A call made for a person is scoped and audited as that
//! person's; scheduled work acts as the calling service's own identity, which
//! may read aggregates and nothing else, and is audited as such.

use std::sync::OnceLock;

use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve::startup::Service;
use involve::{Application, Mode};
use involve_tests::processes::SIGNING_SECRET;
use involve_tests::{Backend, fixtures, on_every_backend_with_settings, test_settings};
use platform::client::ServiceClient;
use platform::{Principal, Role, ServiceContext, ServiceModule};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use tonic::Code;
use tracing::Instrument as _;

/// A service of the test's own, as the ASB service will be: it takes a client
/// of profiles in `add_routes` and keeps it.
#[derive(Debug, Default)]
struct CallingService {
    profiles: OnceLock<ServiceClient>,
}

const CALLING_SERVICE: &str = "caller";

#[async_trait::async_trait]
impl ServiceModule for CallingService {
    fn name(&self) -> &'static str {
        CALLING_SERVICE
    }

    async fn migrate(&self, _database: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
        Ok(())
    }

    async fn add_routes(
        &self,
        context: ServiceContext<'_>,
        _set: &mut platform::server::ServiceSet,
    ) -> anyhow::Result<()> {
        let _ = self.profiles.set(context.client("profiles")?);
        Ok(())
    }
}

/// A module that lives as long as the test process (the registry is `'static`).
fn calling_service() -> &'static CallingService {
    Box::leak(Box::default())
}

fn partner(organisation: &str) -> Principal {
    Principal {
        organisation: format!("organisations/{organisation}"),
        role: Role::PartnerIntegration,
        subject: format!("organisations/{organisation}/credentials/tests"),
        areas: None,
    }
}

/// For a person, the callee scopes as for that person; as the service, only
/// aggregates; both audited under their own subject in the callee's audit.
async fn calls_are_scoped_and_audited_as_their_caller(
    profiles: &ServiceClient,
    profiles_database: &sea_orm::DatabaseConnection,
) {
    let for_riverside = profiles.acting_for(&partner("riverside")).for_purpose("system-integration");
    let mut riverside = CustomerProfilesClient::new(for_riverside);
    let mut meadow = CustomerProfilesClient::new(profiles.acting_for(&partner("meadow-ha")));
    let ours = riverside
        .create_customer(fixtures::create(fixtures::customer("Ada", "Lovelace", "leaseholder")))
        .await
        .expect("a partner creates its own customer through the client")
        .into_inner();
    assert_eq!(ours.landlord_organisation, "organisations/riverside");
    let theirs = meadow
        .create_customer(fixtures::create(fixtures::customer("Grace", "Hopper", "leaseholder")))
        .await
        .expect("so does another")
        .into_inner();

    let read = riverside
        .get_customer(pb::GetCustomerRequest { name: ours.name.clone() })
        .await
        .expect("its own customer");
    assert_eq!(read.get_ref().given_name, "Ada");
    let refused = riverside
        .get_customer(pb::GetCustomerRequest { name: theirs.name.clone() })
        .await
        .expect_err("another landlord's customer is out of scope, through the client as at the edge");
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");

    // Scheduled work: the service's own identity reads aggregates only.
    let mut scheduled = CustomerProfilesClient::new(profiles.as_service());
    let refused = scheduled
        .get_customer(pb::GetCustomerRequest { name: ours.name.clone() })
        .await
        .expect_err("a service identity reads no record");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let (map, run_trace_id) = async {
        let map = scheduled
            .get_profile_map(pb::GetProfileMapRequest::default())
            .await
            .expect("a service identity maps the partnership")
            .into_inner();
        (map, platform::telemetry::current_trace_id())
    }
    .instrument(tracing::info_span!("measurement run"))
    .await;
    assert!(!run_trace_id.is_empty());
    assert_eq!(map.rounding_base, 5, "as protected aggregates");
    assert_eq!(map.total_customers, 0, "two customers round to nothing: {map:?}");

    use persistence::audit::entity::{Column, Entity};
    // The person's write is the person's, with the purpose they stated.
    let written = Entity::find()
        .filter(Column::Subject.eq(partner("riverside").subject))
        .all(profiles_database)
        .await
        .unwrap();
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].resource, ours.name);
    assert_eq!(written[0].purpose, "system-integration");
    assert_eq!(written[0].role, "PARTNER_INTEGRATION");

    let subject = format!("services/{CALLING_SERVICE}");
    let audited =
        Entity::find().filter(Column::Subject.eq(subject.as_str())).all(profiles_database).await.unwrap();
    assert_eq!(audited.len(), 1, "the map read, and nothing else: {audited:?}");
    assert_eq!(audited[0].role, "SERVICE");
    assert_eq!(audited[0].organisation, subject);
    assert_eq!(audited[0].method, "involve.profiles.v1.CustomerProfiles/GetProfileMap");
    assert_eq!(audited[0].trace_id, run_trace_id, "the callee's span joined the caller's trace");
}

async fn profiles_database(settings: &platform::Settings) -> sea_orm::DatabaseConnection {
    persistence::connect(&settings.database_for(profiles::SERVICE_NAME), profiles::SERVICE_NAME)
        .await
        .expect("connects to the profiles database")
}

async fn a_service_calls_profiles_in_process(backend: Backend) {
    involve_tests::init_test_logging();
    let data_dir = tempfile::tempdir().unwrap();
    let Some(settings) = test_settings(backend, data_dir.path()).await else { return };
    let calling = calling_service();
    // The caller is built before profiles: its client is taken before the
    // in-process channel exists, and works once it does.
    let registry: platform::Registry =
        Box::leak(Box::new([calling as &dyn ServiceModule, &profiles::MODULE]));
    let _app = Application::build_with(settings.clone(), Mode::AllInOne, registry, platform::clock::system())
        .await
        .expect("the suite builds");
    let profiles = calling.profiles.get().expect("the caller took its client");
    calls_are_scoped_and_audited_as_their_caller(profiles, &profiles_database(&settings).await).await;
}

async fn a_service_calls_profiles_on_another_host(backend: Backend) {
    involve_tests::init_test_logging();
    let data_dir = tempfile::tempdir().unwrap();
    let Some(mut settings) = test_settings(backend, data_dir.path()).await else { return };
    settings.security.principal_signing_secret = Some(platform::config::Secret::new(SIGNING_SECRET));
    let profiles_alone = Application::build(settings.clone(), Mode::Only(Service::Module(&profiles::MODULE)))
        .await
        .expect("profiles builds alone");
    let address = format!("http://{}", profiles_alone.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(profiles_alone.run_until(async {
        let _ = stopped.await;
    }));

    let calling = calling_service();
    let mut caller_settings = settings.clone();
    caller_settings.gateway.backends.insert("profiles".into(), vec![address]);
    let _caller = Application::build(caller_settings, Mode::Only(Service::Module(calling)))
        .await
        .expect("the caller builds alone, reaching profiles by gateway.backends");
    let profiles = calling.profiles.get().expect("the caller took its client");
    calls_are_scoped_and_audited_as_their_caller(profiles, &profiles_database(&settings).await).await;

    let _ = stop.send(());
    served.await.unwrap().unwrap();
}

on_every_backend_with_settings!(
    a_service_calls_profiles_in_process,
    a_service_calls_profiles_on_another_host
);
