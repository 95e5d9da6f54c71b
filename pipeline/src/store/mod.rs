//! The pipeline's state behind one interface, on one of two engines: SQLite (the embedded
//! default, one file in WAL mode) or PostgreSQL (`--db postgres://...`, for a fleet of workers).
//!
//! Both engines run the same migrations (`migrations/sqlite`, `migrations/postgres`: the same
//! tables and columns) and, where their dialects agree, the same SQL text; work claiming differs
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a `BEGIN IMMEDIATE` transaction on SQLite) and lives
//! in [`work`]. Every stage reads its work here in bounded batches, under a lease, and records
//! each result in a transaction fenced by the lease, so a worker killed at any point loses
//! nothing and a redone item duplicates nothing. All SQL lives in this module.

mod report;
mod review;
mod trigger;
pub mod work;

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};

pub use report::{RankingRow, StageStatus, Status};
pub use review::{
    Action, ActionKind, HotelCursor, HotelRow, NewAction, Overrides, RankedRow, Variant,
};
pub use trigger::{CatalogEntry, CatalogItem, CatalogProblem, TriggerSummary};
pub use work::{Claimed, GroupStage, GroupWork, Stage};

/// The database clock in unix milliseconds, as SQL both engines understand (the PostgreSQL
/// migration defines `unixepoch`, as SQLite has it).
macro_rules! now_ms {
    () => {
        "CAST(unixepoch('subsec') * 1000 AS BIGINT)"
    };
}
pub(crate) use now_ms;

/// Runs `$body` with `$pool` bound to the engine's pool: the same code, type-checked once per
/// engine, for SQL text both engines accept.
macro_rules! on_engine {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.engine {
            $crate::store::Engine::Sqlite($pool) => $body,
            $crate::store::Engine::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_engine;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database {location}: {source}")]
    Open {
        location: String,
        source: sqlx::Error,
    },
    #[error("state database {location}: cannot apply its schema migrations: {source}")]
    Migrate {
        location: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error(
        "state database {0} was made by an imgpipe before its schema migrations (no \
         _sqlx_migrations table) and is left as it is: move it away, run trigger again for each \
         partner catalog and then run (bodies already in the store are kept) \
         and record any `imgpipe override` again"
    )]
    Legacy(String),
    #[error("cannot create the state database's folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("state database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error(
        "no image matches {0:?} in hotel {1:?}: give a URL from its catalog or a sha256 prefix"
    )]
    UnknownImage(String, String),
    #[error("{0:?} matches several images in hotel {1:?}: give a longer sha256 prefix")]
    AmbiguousImage(String, String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// Whether doing the same again may succeed: PostgreSQL chose this transaction as a
    /// deadlock victim or failed its serialization, or the connection dropped.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sql(sqlx::Error::Database(error)) => {
                matches!(error.code().as_deref(), Some("40P01" | "40001"))
            }
            StoreError::Sql(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => true,
            _ => false,
        }
    }
}

/// A URL waiting to be fetched, with what is needed for a conditional request.
#[derive(Clone, Debug)]
pub struct DownloadJob {
    pub url: String,
    pub sha256: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Clone, Debug)]
pub enum DownloadOutcome {
    Stored {
        sha256: String,
        size: u64,
        format: String,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    NotModified,
    Failed {
        reason: String,
        detail: String,
    },
}

#[derive(Clone, Debug)]
pub enum FingerprintOutcome {
    Done {
        width: u32,
        height: u32,
        dhash: String,
        tiles: Vec<u8>,
        quality: String,
    },
    Failed {
        reason: String,
        detail: String,
    },
}

/// A fingerprinted image as seen from one hotel group.
#[derive(Clone, Debug)]
pub struct GroupImage {
    pub sha256: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    pub dhash: String,
    pub tiles: Vec<u8>,
    pub quality: String,
    /// Distinct partners that list these exact bytes in this group.
    pub partners: Vec<String>,
    /// Best (lowest) position any partner gave it within its hotel.
    pub best_position: i64,
    pub captions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverrideKind {
    First,
    Exclude,
}

impl OverrideKind {
    fn as_str(&self) -> &'static str {
        match self {
            OverrideKind::First => "first",
            OverrideKind::Exclude => "exclude",
        }
    }
}

/// A kept image to render.
#[derive(Clone, Debug)]
pub struct RankedImage {
    pub hotel_group: String,
    pub sha256: String,
    pub rank: i64,
}

pub(crate) enum Engine {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Opens a write transaction: `BEGIN IMMEDIATE` on SQLite, which takes the write lock up front so
/// a read-then-write transaction never meets a lock upgrade that the busy timeout cannot resolve.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Self::Db>>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        self.begin().await
    }
}

tokio::task_local! {
    /// The stage whose loop is running on this task (see [`Store::in_stage`]).
    static CURRENT_STAGE: Stage;
}

/// The pipeline's state database.
pub struct Store {
    pub(crate) engine: Engine,
    location: String,
    /// Statements sent to the database (for the per-image cost the benchmark prints): one
    /// counter per stage, and a last one for statements sent outside any stage's loop (start,
    /// lease renewal, the wake-up listener).
    statements: [AtomicU64; Stage::ALL.len() + 1],
}

/// `postgres://` and `postgresql://` URLs name a PostgreSQL database; anything else is a SQLite
/// file (a path, or `sqlite://PATH`).
pub fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

impl Store {
    /// Opens (creating if needed) the state database at `location` and brings its schema up to
    /// date. Many workers may open one PostgreSQL database at once: its migrations run under an
    /// advisory lock.
    pub async fn open(location: &str) -> Result<Store> {
        let open_error = |source| StoreError::Open {
            location: location.to_owned(),
            source,
        };
        let migrate_error = |source| StoreError::Migrate {
            location: location.to_owned(),
            source,
        };
        let engine = if is_postgres(location) {
            let options: PgConnectOptions = location.parse().map_err(open_error)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(options)
                .await
                .map_err(open_error)?;
            POSTGRES_MIGRATIONS
                .run(&pool)
                .await
                .map_err(migrate_error)?;
            Engine::Postgres(pool)
        } else {
            let path = Path::new(location.strip_prefix("sqlite://").unwrap_or(location));
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            let options = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(60));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(120))
                .connect_with(options)
                .await
                .map_err(open_error)?;
            let legacy: Option<(String,)> = sqlx::query_as(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'downloads'
                 AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')",
            )
            .fetch_optional(&pool)
            .await
            .map_err(open_error)?;
            if legacy.is_some() {
                return Err(StoreError::Legacy(location.to_owned()));
            }
            SQLITE_MIGRATIONS.run(&pool).await.map_err(migrate_error)?;
            Engine::Sqlite(pool)
        };
        Ok(Store {
            engine,
            location: location.to_owned(),
            statements: Default::default(),
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Counts `n` statements sent (see [`Store::statements`]), for the stage whose loop runs
    /// on this task.
    pub(crate) fn sent(&self, n: u64) {
        let slot = CURRENT_STAGE
            .try_with(|stage| *stage as usize)
            .unwrap_or(Stage::ALL.len());
        self.statements[slot].fetch_add(n, Ordering::Relaxed);
    }

    /// Runs a stage's loop so that the statements it sends count for that stage.
    pub async fn in_stage<F: Future>(stage: Stage, work: F) -> F::Output {
        CURRENT_STAGE.scope(stage, work).await
    }

    /// Statements (round trips) sent to the database so far by this process, transaction
    /// control included.
    pub fn statements(&self) -> u64 {
        self.statements
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }

    /// [`Store::statements`] by stage; `other` holds those sent outside the stage loops.
    pub fn statements_by_stage(&self) -> std::collections::BTreeMap<&'static str, u64> {
        Stage::ALL
            .iter()
            .map(|stage| stage.name())
            .chain(["other"])
            .zip(&self.statements)
            .map(|(name, count)| (name, count.load(Ordering::Relaxed)))
            .collect()
    }

    pub async fn close(&self) {
        on_engine!(self, pool => pool.close().await)
    }

    /// The database's clock, in unix milliseconds.
    pub async fn now_ms(&self) -> Result<i64> {
        self.sent(1);
        let (now,): (i64,) = on_engine!(self, pool => {
            sqlx::query_as(concat!("SELECT ", now_ms!())).fetch_one(pool).await?
        });
        Ok(now)
    }

    /// The fingerprinted images that partners currently list for a hotel group. A partner's
    /// position for an image is its order among that partner hotel's active catalog lines.
    pub async fn group_images(&self, hotel_group: &str) -> Result<Vec<GroupImage>> {
        type Row = (
            String,
            i64,
            i64,
            i64,
            String,
            Vec<u8>,
            String,
            String,
            i64,
            Option<String>,
        );
        self.sent(1);
        let rows: Vec<Row> = on_engine!(self, pool => {
            sqlx::query_as(
                "SELECT b.sha256, b.size, b.width, b.height, b.dhash, b.tiles, b.quality,
                        c.partner, c.position, c.caption
                 FROM (SELECT partner, url, caption,
                              row_number() OVER (PARTITION BY partner, partner_hotel ORDER BY position) - 1
                                AS position
                       FROM catalog_entries WHERE hotel_group = $1 AND active = 1) c
                 JOIN downloads d ON d.url = c.url AND d.state = 'done'
                 JOIN blobs b ON b.sha256 = d.sha256 AND b.state = 'done'
                 ORDER BY b.sha256, c.partner, c.url",
            )
            .bind(hotel_group)
            .fetch_all(pool)
            .await?
        });
        let mut images: Vec<GroupImage> = Vec::new();
        for (sha256, size, width, height, dhash, tiles, quality, partner, position, caption) in rows
        {
            if images.last().map(|image| &image.sha256) != Some(&sha256) {
                images.push(GroupImage {
                    sha256,
                    size: size as u64,
                    width: width as u32,
                    height: height as u32,
                    dhash,
                    tiles,
                    quality,
                    partners: Vec::new(),
                    best_position: position,
                    captions: Vec::new(),
                });
            }
            let image = images.last_mut().expect("pushed above");
            if !image.partners.contains(&partner) {
                image.partners.push(partner);
            }
            image.best_position = image.best_position.min(position);
            image.captions.extend(caption);
        }
        Ok(images)
    }

    /// sha256 → canonical sha256 for one hotel group.
    pub async fn duplicates(
        &self,
        hotel_group: &str,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        self.sent(1);
        let rows: Vec<(String, String)> = on_engine!(self, pool => {
            sqlx::query_as("SELECT sha256, canonical FROM duplicates WHERE hotel_group = $1")
                .bind(hotel_group)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().collect())
    }

    pub async fn overrides(&self, hotel_group: &str) -> Result<Vec<(String, OverrideKind)>> {
        self.sent(1);
        let rows: Vec<(String, String)> = on_engine!(self, pool => {
            sqlx::query_as(
                "SELECT sha256, kind FROM overrides WHERE hotel_group = $1 ORDER BY sha256",
            )
            .bind(hotel_group)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(sha, kind)| {
                let kind = if kind == "first" {
                    OverrideKind::First
                } else {
                    OverrideKind::Exclude
                };
                (sha, kind)
            })
            .collect())
    }

    /// Finds the stored image an operator means: a catalog URL of the hotel, or a sha256 prefix.
    pub async fn resolve_image(&self, hotel_group: &str, image: &str) -> Result<String> {
        self.sent(1);
        let matches: Vec<(String,)> = on_engine!(self, pool => {
            sqlx::query_as(
                "SELECT DISTINCT d.sha256 FROM catalog_entries c JOIN downloads d ON d.url = c.url
                 WHERE c.hotel_group = $1 AND d.sha256 IS NOT NULL
                   AND (c.url = $2 OR d.sha256 LIKE $3 || '%')",
            )
            .bind(hotel_group)
            .bind(image)
            .bind(image.to_ascii_lowercase())
            .fetch_all(pool)
            .await?
        });
        match matches.as_slice() {
            [(one,)] => Ok(one.clone()),
            [] => Err(StoreError::UnknownImage(
                image.to_owned(),
                hotel_group.to_owned(),
            )),
            _ => Err(StoreError::AmbiguousImage(
                image.to_owned(),
                hotel_group.to_owned(),
            )),
        }
    }

    /// Sets an override (a hotel has at most one pinned first image) and marks the hotel group
    /// changed, so dedupe and prioritise run for it again. Every override kind goes through
    /// here: it is an input of its group like a catalog line.
    pub async fn set_override(
        &self,
        hotel_group: &str,
        sha256: &str,
        kind: OverrideKind,
    ) -> Result<()> {
        self.sent(5);
        on_engine!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if kind == OverrideKind::First {
                sqlx::query("DELETE FROM overrides WHERE hotel_group = $1 AND kind = 'first'")
                    .bind(hotel_group)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO overrides (hotel_group, sha256, kind) VALUES ($1, $2, $3)
                 ON CONFLICT (hotel_group, sha256) DO UPDATE SET kind = excluded.kind",
            )
            .bind(hotel_group)
            .bind(sha256)
            .bind(kind.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query(work::MARK_GROUP_CHANGED)
                .bind(hotel_group)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.notify(Stage::Dedupe).await
    }

    /// url → sha256 for every stored download, for evaluation.
    pub async fn downloaded_urls(&self) -> Result<std::collections::BTreeMap<String, String>> {
        self.sent(1);
        let rows: Vec<(String, String)> = on_engine!(self, pool => {
            sqlx::query_as(
                "SELECT url, sha256 FROM downloads WHERE state = 'done' AND sha256 IS NOT NULL",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().collect())
    }

    /// Wakes workers waiting for `stage`'s work (PostgreSQL `NOTIFY`; workers on SQLite poll).
    pub async fn notify(&self, stage: Stage) -> Result<()> {
        self.notify_stages(&[stage]).await
    }

    /// [`Store::notify`] for several stages in one statement.
    pub async fn notify_stages(&self, stages: &[Stage]) -> Result<()> {
        if let (Engine::Postgres(pool), false) = (&self.engine, stages.is_empty()) {
            let channels: Vec<&str> = stages.iter().map(|stage| stage.channel()).collect();
            self.sent(1);
            sqlx::query("SELECT pg_notify(channel, '') FROM unnest($1::text[]) AS c(channel)")
                .bind(&channels)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// A listener for wake-ups on the given stages' channels (PostgreSQL only).
    pub async fn listener(&self, stages: &[Stage]) -> Result<Option<sqlx::postgres::PgListener>> {
        let Engine::Postgres(pool) = &self.engine else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        for stage in stages {
            listener.listen(stage.channel()).await?;
        }
        Ok(Some(listener))
    }
}

/// Serialisable summary of a stage's counts keyed by name.
pub type Counts = std::collections::BTreeMap<String, u64>;

#[derive(Clone, Debug, Serialize)]
pub struct Lease {
    pub owner: String,
    pub items: u64,
    /// Unix milliseconds of the oldest claim this owner holds.
    pub since_ms: i64,
}
