//! Rotating the principal-signing secret without downtime: each process signs
//! with its `principal_signing_secret` and also accepts those in
//! `accepted_principal_signing_secrets`, so while a rotation rolls through
//! (README, "Rotating secrets") every gateway and service still understand each
//! other; a process that accepts neither secret of its caller still refuses.

use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve::{Application, Mode, Service};
use involve_tests::{Backend, Caller, connect, test_settings};
use platform::Settings;
use platform::config::Secret;
use tonic::Code;

const OLD: &str = "the-old-signing-secret-0123456789";
const NEW: &str = "the-new-signing-secret-9876543210";

struct Running {
    address: String,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn start(settings: Settings, mode: Mode) -> Self {
        let app = Application::build(settings, mode).await.expect("builds");
        let address = format!("http://{}", app.local_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Self { address, stop, served }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.served.await.unwrap().unwrap();
    }
}

fn rotated(settings: &Settings, signing: &str, accepted: &[&str]) -> Settings {
    let mut settings = settings.clone();
    settings.security.principal_signing_secret = Some(Secret::new(signing));
    settings.security.accepted_principal_signing_secrets =
        accepted.iter().copied().map(Secret::new).collect();
    // Page tokens keyed apart from the signing secret, as a rotation recommends.
    settings.security.page_token_secret = Some(Secret::new("page-token-secret-0123456789"));
    settings
}

fn gateway_to(settings: Settings, profiles: &Running) -> Settings {
    let mut settings = settings;
    settings.gateway.backends.insert("profiles".into(), vec![profiles.address.clone()]);
    settings
}

async fn list_through(gateway: &Running, caller: &Caller) -> Result<(), tonic::Status> {
    let mut client = CustomerProfilesClient::new(connect(&gateway.address).await);
    client.list_customers(caller.request(pb::ListCustomersRequest::default())).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_part_way_through_a_rotation_understand_each_other() {
    involve_tests::init_test_logging();
    let data_dir = tempfile::tempdir().unwrap();
    let base = test_settings(Backend::Sqlite, data_dir.path()).await.unwrap();
    let (_, token) =
        involve::startup::create_credential(&base, "riverside", platform::Role::PartnerIntegration, "tests")
            .await
            .unwrap();
    let partner = Caller { organisation: "organisations/riverside".into(), token };
    let gateway = Service::named("gateway").map(Mode::Only).unwrap();
    let profiles = Service::named("profiles").map(Mode::Only).unwrap();

    // Step 1 done here: signs with the old secret, accepts the new one.
    let profiles_step_one = Running::start(rotated(&base, OLD, &[NEW]), profiles).await;
    // Step 3 done here: the new secret alone.
    let profiles_step_three = Running::start(rotated(&base, NEW, &[]), profiles).await;

    // Step 2 (signs with the new secret, still accepts the old) reaches both.
    for target in [&profiles_step_one, &profiles_step_three] {
        let signing_new = Running::start(gateway_to(rotated(&base, NEW, &[OLD]), target), gateway).await;
        list_through(&signing_new, &partner).await.expect("a gateway signing with the new secret is served");
        signing_new.stop().await;
    }
    // A gateway not yet rotated is served by an instance in step 1...
    let signing_old = Running::start(gateway_to(rotated(&base, OLD, &[]), &profiles_step_one), gateway).await;
    list_through(&signing_old, &partner).await.expect("the old secret is accepted during the rotation");
    signing_old.stop().await;
    // ...but not by one that dropped the old secret (which is why step 3 waits
    // until every process signs with the new one).
    let signing_old =
        Running::start(gateway_to(rotated(&base, OLD, &[]), &profiles_step_three), gateway).await;
    let refused =
        list_through(&signing_old, &partner).await.expect_err("the old secret is refused after step 3");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    signing_old.stop().await;

    profiles_step_one.stop().await;
    profiles_step_three.stop().await;
}
