//! The database: entities and the queries every binary shares.
//!
//! The worker writes validations (see `bv-worker`'s `persist`), `bvctl` writes
//! projects and flows, and the ingress only reads. Connection set-up lives here
//! too, so every binary opens the database the same way.

pub mod biometrics;
pub mod creates;
pub mod deliveries;
pub mod entity;
pub mod flows;
pub mod projects;
pub mod secrets;
pub mod validations;

use std::time::Duration;

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter,
};

pub use sea_orm;

/// How a pool connects and how long the database may take.
#[derive(Clone, Copy, Debug)]
pub struct PoolOptions {
    pub max_connections: u32,
    /// Open connections on first use, so a process can start while the
    /// database is down.
    pub lazy: bool,
    /// Opening one connection (also the longest wait for a free one).
    pub connect_timeout: Duration,
    /// The longest one statement may run (PostgreSQL's `statement_timeout`).
    pub statement_timeout: Duration,
}

impl PoolOptions {
    /// `max_connections`, eager, 5 s to connect, 30 s per statement.
    pub fn new(max_connections: u32) -> Self {
        PoolOptions {
            max_connections,
            lazy: false,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Waits at most `limit` for a database operation: a database that stopped
/// answering (a half-open connection that only a timeout detects) is an
/// error like an unreachable one, never a wait without end.
pub async fn bounded<T>(
    limit: Duration,
    operation: impl std::future::Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    tokio::time::timeout(limit, operation)
        .await
        .unwrap_or_else(|_| {
            Err(DbErr::Custom(format!(
                "the database did not answer within {limit:?}"
            )))
        })
}

/// Opens a connection pool. A `sqlite:` URL without `mode=` gets `mode=rwc`, so
/// the embedded default creates its file on first start.
pub async fn connect(url: &str, pool: &PoolOptions) -> Result<DatabaseConnection, DbErr> {
    let PoolOptions {
        max_connections,
        lazy,
        connect_timeout,
        statement_timeout,
    } = *pool;
    let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_owned()
    };
    let is_sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url);
    options
        // SQLite serializes writers; one connection avoids "database is locked".
        .max_connections(if is_sqlite { 1 } else { max_connections })
        .min_connections(if lazy { 0 } else { 1 })
        .connect_lazy(lazy)
        .connect_timeout(connect_timeout)
        .acquire_timeout(connect_timeout * 2)
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(move |opts| {
            opts.options([(
                "statement_timeout",
                statement_timeout.as_millis().to_string(),
            )])
        });
    Database::connect(options).await
}

/// Whether the database answered a statement with an error (something in the
/// data or the schema), as opposed to being unreachable.
pub fn refused_by_database(err: &DbErr) -> bool {
    match err {
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => {
            matches!(e.as_ref(), sea_orm::sqlx::Error::Database(_))
        }
        _ => false,
    }
}

/// The database's `db.system.name` (OpenTelemetry database conventions).
pub fn db_system_name(db: &impl ConnectionTrait) -> &'static str {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "postgresql",
        sea_orm::DatabaseBackend::Sqlite => "sqlite",
        _ => "other_sql",
    }
}

/// The rows of `E` whose string key `column` is one of `ids`, by key (the
/// worker checks a batch's projects and flows at once).
async fn by_keys<'a, E: EntityTrait>(
    db: &impl ConnectionTrait,
    column: E::Column,
    ids: impl IntoIterator<Item = &'a str>,
    key: impl Fn(&E::Model) -> String,
) -> Result<HashMap<String, E::Model>, DbErr> {
    let ids: Vec<&str> = ids.into_iter().collect();
    Ok(E::find()
        .filter(column.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (key(&m), m))
        .collect())
}
