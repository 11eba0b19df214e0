//! The database: entities and the queries every binary shares.
//!
//! The worker writes validations (see `bv-worker`'s `persist`), `bvctl` writes
//! projects and flows, and the ingress only reads. Connection set-up lives here
//! too, so every binary opens the database the same way.

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

/// Opens a connection pool. A `sqlite:` URL without `mode=` gets `mode=rwc`, so
/// the embedded default creates its file on first start. A `lazy` pool opens
/// connections on first use, so a process can start while the database is down.
pub async fn connect(
    url: &str,
    max_connections: u32,
    lazy: bool,
) -> Result<DatabaseConnection, DbErr> {
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
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await
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
