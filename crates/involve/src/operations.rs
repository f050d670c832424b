//! Operators' commands that need no running suite of their own: asking a
//! process whether it serves (`involve health`, for container health checks)
//! and copying the embedded SQLite databases while the suite runs (`involve backup`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use platform::Settings;
use sea_orm::ConnectionTrait as _;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::startup::SERVICES;

/// Asks `address` over `grpc.health.v1` whether `service` (empty: the whole
/// process) is SERVING. `ca_file` is the CA of an `https://` listener.
pub async fn health(
    address: &str,
    service: &str,
    ca_file: Option<&Path>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let mut endpoint = tonic::transport::Endpoint::from_shared(address.to_owned())
        .with_context(|| format!("{address:?} is not a URL"))?
        .connect_timeout(timeout)
        .timeout(timeout);
    if let Some(ca_file) = ca_file {
        let ca = platform::server::read_pem("--ca-file", ca_file)?;
        endpoint = endpoint.tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca)),
        )?;
    }
    let channel = endpoint.connect().await.with_context(|| format!("cannot connect to {address}"))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest { service: service.to_owned() })
        .await
        .with_context(|| format!("{address} did not answer the health check"))?;
    let status = response.into_inner().status();
    anyhow::ensure!(status == ServingStatus::Serving, "{address} is {}", status.as_str_name());
    Ok(())
}

/// Where [`backup`] writes `service`'s copy.
pub fn backup_file(directory: &Path, service: &str) -> PathBuf {
    directory.join(format!("{service}.db"))
}

/// Every database an all-in-one suite keeps: the gateway's, then each service's.
fn every_database() -> impl Iterator<Item = &'static str> {
    std::iter::once(gateway::SERVICE_NAME).chain(SERVICES.iter().map(|module| module.name()))
}

/// Copies each SQLite database into `directory` (created; it must not hold a
/// copy already) with `VACUUM INTO`: a consistent snapshot of each file taken
/// in one read transaction while the suite keeps serving, compacted and
/// without a write-ahead log, ready to be put in place of `data_dir`'s files.
/// Returns the files written.
pub async fn backup(settings: &Settings, directory: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if let Some(url) = &settings.database.url {
        anyhow::bail!(
            "database.url is set ({}): back PostgreSQL up with pg_dump (see the README's Operations)",
            persistence::redact_url(url)
        );
    }
    std::fs::create_dir_all(directory).with_context(|| format!("cannot create {}", directory.display()))?;
    let mut written = Vec::new();
    for service in every_database() {
        let source = settings.database_for(service);
        let file = settings.data_dir.join(format!("{service}.db"));
        if !file.exists() {
            // A service added since the data was created has nothing to copy yet.
            tracing::warn!(service, file = %file.display(), "no database file, nothing to back up");
            continue;
        }
        let target = backup_file(directory, service);
        anyhow::ensure!(
            !target.exists(),
            "{} exists already: back up into an empty directory",
            target.display()
        );
        let target_text = target.to_str().with_context(|| format!("{} is not UTF-8", target.display()))?;
        let database = persistence::connect(&source, service)
            .await
            .with_context(|| format!("cannot open {}", file.display()))?;
        // VACUUM INTO takes a file name as a string literal: quote it as SQL does.
        database
            .execute_unprepared(&format!("VACUUM INTO '{}'", target_text.replace('\'', "''")))
            .await
            .with_context(|| format!("cannot back {service} up into {}", target.display()))?;
        database.close().await?;
        written.push(target);
    }
    anyhow::ensure!(!written.is_empty(), "no database files in {}", settings.data_dir.display());
    Ok(written)
}
