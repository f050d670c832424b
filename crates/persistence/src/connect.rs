//! One URL picks the database: `sqlite://path/to/file.db` (embedded, the default) or
//! `postgres://...` (production). Each service connects with its own name, which is
//! its schema on PostgreSQL; on SQLite each service has its own file, so no service
//! can reach another's tables.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self, DbErr> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(DbErr::Custom(
                "database url must start with sqlite: or postgres: (other schemes are not supported)".into(),
            ))
        }
    }
}

/// How to reach the database.
#[derive(Clone)]
pub struct DatabaseSettings {
    /// May carry a password: printed only through [`redact_url`].
    pub url: String,
    pub max_connections: u32,
    /// How long a call waits for a connection before it fails as unavailable. On
    /// PostgreSQL this bounds the wait for a server that refuses connections (sqlx
    /// retries a refused connection until then); on SQLite, which cannot refuse,
    /// a wait is only contention and lasts at least [`SQLITE_BUSY_TIMEOUT`].
    pub acquire_timeout: Duration,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// How long a SQLite writer waits for the write lock.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// `url` with any password in it (`user:password@` or a `password=` parameter)
/// replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let (main, query) = url.split_once('?').map_or((url, None), |(main, query)| (main, Some(query)));
    let main = match main.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
                    None => main.to_owned(),
                },
                None => main.to_owned(),
            }
        }
        None => main.to_owned(),
    };
    match query {
        Some(query) => {
            let parameters: Vec<String> = query
                .split('&')
                .map(|parameter| match parameter.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                    Some(_) | None => parameter.to_owned(),
                })
                .collect();
            format!("{main}?{}", parameters.join("&"))
        }
        None => main,
    }
}

/// The passwords a URL carries, as written and percent-decoded, to scrub them
/// from error messages that might quote them.
fn url_passwords(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let (main, query) = url.split_once('?').map_or((url, None), |(main, query)| (main, Some(query)));
    if let Some((_, rest)) = main.split_once("://") {
        let authority = rest.split('/').next().unwrap_or(rest);
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            found.push(password.to_owned());
        }
    }
    for parameter in query.unwrap_or_default().split('&') {
        if let Some((name, value)) = parameter.split_once('=')
            && name.eq_ignore_ascii_case("password")
        {
            found.push(value.to_owned());
        }
    }
    let decoded: Vec<String> = found.iter().map(|password| percent_decode(password)).collect();
    found.extend(decoded);
    found.retain(|password| !password.is_empty());
    found
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|hex| std::str::from_utf8(hex).ok());
        match (bytes[index], hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `err`, unless its message quotes a password of `url`: then the same message
/// with the password scrubbed (the classification is lost, which only matters
/// for an error that should never quote a password in the first place).
fn scrubbed(err: DbErr, url: &str) -> DbErr {
    let message = err.to_string();
    let passwords = url_passwords(url);
    if !passwords.iter().any(|password| message.contains(password.as_str())) {
        return err;
    }
    let mut message = message;
    for password in passwords {
        message = message.replace(password.as_str(), "***");
    }
    DbErr::Custom(message)
}

/// Connects a service to its own part of the database, creating it if needed:
/// the SQLite file (in WAL mode) or the PostgreSQL schema named `service`.
pub async fn connect(settings: &DatabaseSettings, service: &str) -> Result<DatabaseConnection, DbErr> {
    connect_inner(settings, service).await.map_err(|err| scrubbed(err, &settings.url))
}

async fn connect_inner(settings: &DatabaseSettings, service: &str) -> Result<DatabaseConnection, DbErr> {
    if !service.chars().all(|c| c.is_ascii_lowercase() || c == '_') || service.is_empty() {
        return Err(DbErr::Custom(format!("invalid service schema name {service:?}")));
    }
    let backend = Backend::of_url(&settings.url)?;
    let acquire_timeout = match backend {
        Backend::Postgres => settings.acquire_timeout,
        Backend::Sqlite => settings.acquire_timeout.max(SQLITE_BUSY_TIMEOUT),
    };
    let mut options = ConnectOptions::new(settings.url.clone());
    options.max_connections(settings.max_connections).acquire_timeout(acquire_timeout).sqlx_logging(false);
    match backend {
        Backend::Sqlite => {
            if let Some(path) = sqlite_path(&settings.url)
                && let Some(parent) = std::path::Path::new(path).parent()
            {
                std::fs::create_dir_all(parent).map_err(|err| {
                    DbErr::Custom(format!("cannot create data directory {}: {err}", parent.display()))
                })?;
            }
            options.map_sqlx_sqlite_opts(|opts| {
                opts.create_if_missing(true)
                    // WAL lets readers run beside the one writer; NORMAL sync is safe under WAL.
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    // Erased personal data must not linger in free pages of the file.
                    .pragma("secure_delete", "ON")
            });
        }
        Backend::Postgres => {
            let mut bootstrap = ConnectOptions::new(settings.url.clone());
            bootstrap.max_connections(1).acquire_timeout(acquire_timeout).sqlx_logging(false);
            let bootstrap = Database::connect(bootstrap).await?;
            // Created only when missing: a deployment with one role per service
            // creates each schema for its role and grants no CREATE on the
            // database, and PostgreSQL checks that privilege even for
            // `CREATE SCHEMA IF NOT EXISTS` on a schema that exists.
            let exists = bootstrap
                .query_one_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DatabaseBackend::Postgres,
                    "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                    [service.into()],
                ))
                .await?
                .is_some();
            if !exists {
                bootstrap.execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {service}")).await?;
            }
            bootstrap.close().await?;
            options.set_schema_search_path(service.to_owned());
            // sqlx prepares every statement, and after five runs PostgreSQL may switch a
            // prepared statement to a generic plan that ignores the parameters: with a
            // LIMIT or a long IN list as parameters that plan is a sequential scan (a
            // 100x slowdown measured at 20k customers). Plan with the actual values.
            options.map_sqlx_postgres_opts(|opts| opts.options([("plan_cache_mode", "force_custom_plan")]));
        }
    }
    Database::connect(options).await
}

/// Starts a transaction that will write. On SQLite it takes the write lock at
/// `BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of one
/// failing with SQLITE_BUSY when it upgrades a read lock; PostgreSQL ignores it.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// After an erasure on SQLite: copies the write-ahead log into the database file and
/// truncates it. `secure_delete` zeroes erased values in the database's pages, but
/// the WAL still holds the page images written before the erasure until the next
/// checkpoint; truncating it leaves the erased values nowhere on disk. A reader still
/// holding an old snapshot can delay it (it waits on the busy timeout); the next
/// automatic checkpoint then finishes the job. No-op on PostgreSQL.
pub async fn flush_erased_pages(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return Ok(());
    }
    db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    Ok(())
}

/// The same PostgreSQL URL naming another database, query parameters kept
/// (`postgres://u@h/postgres?host=/run/pg` -> `postgres://u@h/{database}?host=/run/pg`).
pub fn postgres_url_with_database(url: &str, database: &str) -> String {
    let (main, query) = url.split_once('?').map_or((url, None), |(main, query)| (main, Some(query)));
    let base = main.strip_suffix('/').unwrap_or(main);
    let server = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, _)) => format!("{scheme}://{authority}"),
            None => base.to_owned(),
        },
        None => base.to_owned(),
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// The file part of a `sqlite://` URL, without query parameters.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_backends() {
        assert_eq!(Backend::of_url("sqlite://data/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(Backend::of_url("mysql://h/db").is_err());
    }

    #[test]
    fn swaps_the_database_of_a_postgres_url() {
        assert_eq!(
            postgres_url_with_database("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(postgres_url_with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
        assert_eq!(
            postgres_url_with_database("postgres://u@localhost/postgres?host=/run/pg", "t1"),
            "postgres://u@localhost/t1?host=/run/pg"
        );
    }

    #[test]
    fn redacts_passwords_of_urls() {
        assert_eq!(
            redact_url("postgres://involve:s3cret@db:5432/involve?sslmode=verify-full"),
            "postgres://involve:***@db:5432/involve?sslmode=verify-full"
        );
        assert_eq!(redact_url("postgres://u@h/db?password=s3cret&x=1"), "postgres://u@h/db?password=***&x=1");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/p.db"), "sqlite://data/p.db");
        // A password may itself hold an '@'; the host is after the last one.
        assert_eq!(redact_url("postgres://u:a@b@h/db"), "postgres://u:***@h/db");
        assert_eq!(url_passwords("postgres://u:p%40ss@h/db"), vec!["p%40ss".to_owned(), "p@ss".to_owned()]);
        let settings = DatabaseSettings {
            url: "postgres://u:s3cret@h/db".into(),
            max_connections: 1,
            acquire_timeout: Duration::from_secs(1),
        };
        let debug = format!("{settings:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("postgres://u:***@h/db"), "{debug}");
    }

    #[test]
    fn errors_quoting_a_password_are_scrubbed() {
        let err =
            scrubbed(DbErr::Custom("bad url postgres://u:s3cret@h/db".into()), "postgres://u:s3cret@h/db");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = scrubbed(DbErr::Custom("connection refused".into()), "postgres://u:s3cret@h/db");
        assert_eq!(err.to_string(), "Custom Error: connection refused");
    }

    #[test]
    fn extracts_sqlite_paths() {
        assert_eq!(sqlite_path("sqlite://data/p.db?mode=rwc"), Some("data/p.db"));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[tokio::test]
    async fn sqlite_file_is_created_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/test.db", dir.path().display());
        let settings = DatabaseSettings { url, max_connections: 2, acquire_timeout: Duration::from_secs(5) };
        let db = connect(&settings, "profiles").await.unwrap();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), "PRAGMA journal_mode"))
            .await
            .unwrap()
            .unwrap();
        let mode: String = row.try_get_by_index(0).unwrap();
        assert_eq!(mode, "wal");
    }
}
