//! Work claiming with leases. Every unit of work (a URL to download, a blob to fingerprint, a
//! hotel group to dedupe or prioritise, a kept image to render) is a row with `lease_owner`,
//! `lease_until` and `claims`. A claim takes a batch of unleased (or expired) rows and stamps
//! them; the owner renews its leases while working; completion is fenced by owner *and* claims,
//! so a result from a worker whose lease expired (and was claimed again) is dropped.
//!
//! PostgreSQL claims with `FOR UPDATE SKIP LOCKED` in a `MATERIALIZED` CTE that re-checks the
//! lease at the locking level (a predicate only in an outer level lets two claimers take one
//! row under READ COMMITTED). SQLite has one writer at a time and claims inside `BEGIN
//! IMMEDIATE`. Downloads are claimed fairly over hosts (least recently claimed first) and at most
//! `max_inflight` live leases per host over the whole fleet.

use std::time::Duration;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::{
    now_ms, on_engine, BeginWrite, DownloadJob, DownloadOutcome, Engine, FingerprintOutcome,
    RankedImage, Result, Store,
};

/// The pipeline's stages, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Download,
    Fingerprint,
    Dedupe,
    Prioritise,
    Generate,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Download,
        Stage::Fingerprint,
        Stage::Dedupe,
        Stage::Prioritise,
        Stage::Generate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Download => "download",
            Stage::Fingerprint => "fingerprint",
            Stage::Dedupe => "dedupe",
            Stage::Prioritise => "prioritise",
            Stage::Generate => "generate",
        }
    }

    /// The PostgreSQL notification channel that announces this stage's work.
    pub fn channel(self) -> &'static str {
        match self {
            Stage::Download => "imgpipe_download",
            Stage::Fingerprint => "imgpipe_fingerprint",
            Stage::Dedupe => "imgpipe_dedupe",
            Stage::Prioritise => "imgpipe_prioritise",
            Stage::Generate => "imgpipe_generate",
        }
    }

    /// The table holding this stage's work rows.
    fn table(self) -> &'static str {
        match self {
            Stage::Download => "downloads",
            Stage::Fingerprint => "blobs",
            Stage::Dedupe | Stage::Prioritise => "hotel_groups",
            Stage::Generate => "ranking",
        }
    }

    /// Rows (alias `t`) that are this stage's work, leased or not. Dedupe waits until every
    /// image the group lists is downloaded (or failed) and fingerprinted (or failed);
    /// prioritise follows dedupe, generate follows the ranking.
    fn work_predicate(self) -> &'static str {
        match self {
            Stage::Download => "t.state = 'queued'",
            Stage::Fingerprint => "t.state = 'pending'",
            Stage::Dedupe => {
                "t.deduped < t.version AND NOT EXISTS (
                   SELECT 1 FROM catalog_entries c JOIN downloads d ON d.url = c.url
                   LEFT JOIN blobs b ON b.sha256 = d.sha256
                   WHERE c.hotel_group = t.hotel_group AND c.active = 1
                     AND (d.state = 'queued' OR b.state = 'pending'))"
            }
            Stage::Prioritise => "t.deduped = t.version AND t.ranked < t.version",
            Stage::Generate => {
                "t.state = 'queued' AND EXISTS (SELECT 1 FROM hotel_groups g
                   WHERE g.hotel_group = t.hotel_group AND g.ranked = g.version)"
            }
        }
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Stage, String> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.name() == text)
            .ok_or_else(|| {
                format!(
                    "unknown stage {text:?} (download, fingerprint, dedupe, prioritise, generate)"
                )
            })
    }
}

/// The two stages whose work unit is a hotel group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupStage {
    Dedupe,
    Prioritise,
}

impl GroupStage {
    /// The fenced completion of a claimed group: `$1` group, `$2` the version done.
    fn finish_sql(self) -> String {
        let column = match self {
            GroupStage::Dedupe => "deduped",
            GroupStage::Prioritise => "ranked",
        };
        finish_sql(
            "hotel_groups",
            &format!("{column} = $2"),
            &format!("{column}_at"),
            "hotel_group = $1",
            3,
        )
    }

    fn stage(self) -> Stage {
        match self {
            GroupStage::Dedupe => Stage::Dedupe,
            GroupStage::Prioritise => Stage::Prioritise,
        }
    }
}

/// A claimed unit of work: its item, and the claim count that fences its completion.
#[derive(Clone, Debug)]
pub struct Claimed<T> {
    pub item: T,
    pub claims: i64,
}

/// A hotel group to dedupe or prioritise, at the input version the claim saw.
#[derive(Clone, Debug)]
pub struct GroupWork {
    pub hotel_group: String,
    pub version: i64,
}

/// A claimed download (row id and job), its HTTP attempts and what it gave.
pub type FinishedDownload = (Claimed<(i64, DownloadJob)>, u32, DownloadOutcome);

/// Marks one hotel group's inputs changed (creating its row).
pub(crate) const MARK_GROUP_CHANGED: &str = "INSERT INTO hotel_groups (hotel_group) VALUES ($1)
     ON CONFLICT (hotel_group) DO UPDATE SET version = hotel_groups.version + 1";

/// Marks changed the hotel groups that list a URL.
const MARK_URL_GROUPS_CHANGED: &str = "INSERT INTO hotel_groups (hotel_group)
     SELECT DISTINCT hotel_group FROM catalog_entries WHERE url = $1 AND active = 1 ORDER BY 1
     ON CONFLICT (hotel_group) DO UPDATE SET version = hotel_groups.version + 1";

/// Finished inputs whose hotel groups may have become ready for dedupe (see
/// [`Store::notify_ready`]).
#[derive(Clone, Copy)]
enum ReadinessOf<'a> {
    /// Downloads finished (stored, not modified or failed), by URL.
    Urls(&'a [String]),
    /// Fingerprints finished (done or failed), by blob.
    Blobs(&'a [String]),
    /// The groups themselves.
    Groups(&'a [String]),
}

impl<'a> ReadinessOf<'a> {
    /// A query for the hotel groups the items (`$2`, a text array) belong to, and the items.
    fn groups(self) -> (&'static str, &'a [String]) {
        match self {
            ReadinessOf::Urls(urls) => (
                "SELECT hotel_group FROM catalog_entries WHERE url = ANY($2) AND active = 1",
                urls,
            ),
            ReadinessOf::Blobs(blobs) => (
                "SELECT c.hotel_group FROM downloads d JOIN catalog_entries c ON c.url = d.url
                 WHERE d.sha256 = ANY($2) AND c.active = 1",
                blobs,
            ),
            ReadinessOf::Groups(groups) => ("SELECT unnest($2::text[])", groups),
        }
    }
}

/// Rows a claim may take: not leased, or leased with an expired lease.
const LEASE_FREE: &str = concat!("(t.lease_until IS NULL OR t.lease_until < ", now_ms!(), ")");

/// Stamps a claim on the rows an UPDATE takes: lease owner `owner`, a lease of `lease`
/// milliseconds from now, one more claim (the count that fences completion). Both are
/// placeholders such as `$2`.
fn claim_stamp(owner: &str, lease: &str) -> String {
    format!(
        "lease_owner = {owner}, lease_until = {now} + {lease}, leased_since = {now}, \
         claims = claims + 1",
        now = now_ms!()
    )
}

/// A fenced completion of one work row: sets `set` and `finished` (a time column) to now on the
/// row of `table` that `key` matches, and ends its lease, only if the lease is still the
/// owner's at the same claim count. The owner and the claim count are the statement's last two
/// values, `$next` and `$next + 1` (see [`fenced`]).
fn finish_sql(table: &str, set: &str, finished: &str, key: &str, next: usize) -> String {
    format!(
        "UPDATE {table} SET {set}, {finished} = {now}, lease_owner = NULL, lease_until = NULL
         WHERE {key} AND lease_owner = ${next} AND claims = ${claims}",
        now = now_ms!(),
        claims = next + 1
    )
}

/// Runs a [`finish_sql`] statement in a transaction with its values, then the owner and the
/// claim count: true when it finished the row, false when the lease was lost.
macro_rules! fenced {
    ($tx:expr, $sql:expr, [$($value:expr),* $(,)?], $owner:expr, $claims:expr) => {
        sqlx::query(sqlx::AssertSqlSafe($sql))
            $(.bind($value))*
            .bind($owner)
            .bind($claims)
            .execute(&mut *$tx)
            .await?
            .rows_affected()
            == 1
    };
}

/// Live leases on queued downloads of the host `host` (an SQL expression).
fn live_host_leases(host: &str) -> String {
    format!(
        "(SELECT count(*) FROM downloads l WHERE l.host = {host} AND l.state = 'queued'
            AND l.lease_owner IS NOT NULL AND l.lease_until >= {now})",
        now = now_ms!()
    )
}

/// Hosts (rows of `hosts`) with a claimable queued download.
fn hosts_with_claimable() -> String {
    format!(
        "EXISTS (SELECT 1 FROM downloads t WHERE t.host = hosts.host
                 AND t.state = 'queued' AND {LEASE_FREE})"
    )
}

/// The work tables, each with its lease columns.
const LEASED_TABLES: [&str; 4] = ["downloads", "blobs", "hotel_groups", "ranking"];

/// Bounds for a row type decoded on both engines.
pub trait AnyRow:
    for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> AnyRow for T where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

fn millis(lease: Duration) -> i64 {
    lease.as_millis() as i64
}

impl Store {
    /// Claims up to `n` rows of `stage`'s work, ordered by `order`, returning `returning`.
    /// Binds: $1 batch size, $2 owner, $3 lease in milliseconds.
    #[allow(clippy::too_many_arguments)]
    async fn claim_rows<R: AnyRow>(
        &self,
        stage: Stage,
        key: &str,
        order: &str,
        returning: &str,
        owner: &str,
        n: usize,
        lease: Duration,
    ) -> Result<Vec<R>> {
        let table = stage.table();
        let predicate = stage.work_predicate();
        let stamp = claim_stamp("$2", "$3");
        let sql = match self.engine {
            Engine::Postgres(_) => {
                let matches = key
                    .split(", ")
                    .map(|column| format!("{table}.{column} = picked.{column}"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let returned = returning
                    .split(", ")
                    .map(|column| format!("{table}.{column}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let recheck = LEASE_FREE.replace("t.", &format!("{table}."));
                format!(
                    "WITH picked AS MATERIALIZED (
                         SELECT {key} FROM {table} t WHERE {predicate} AND {LEASE_FREE}
                         ORDER BY {order} LIMIT $1 FOR UPDATE OF t SKIP LOCKED)
                     UPDATE {table} SET {stamp} FROM picked WHERE {matches} AND {recheck}
                     RETURNING {returned}"
                )
            }
            Engine::Sqlite(_) => format!(
                "UPDATE {table} SET {stamp} WHERE ({key}) IN (
                     SELECT {key} FROM {table} t WHERE {predicate} AND {LEASE_FREE}
                     ORDER BY {order} LIMIT $1)
                 RETURNING {returning}"
            ),
        };
        self.sent(1);
        let rows: Vec<R> = on_engine!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(n as i64)
                .bind(owner)
                .bind(millis(lease))
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    /// Whether `stage` has work left, claimable or leased by anyone.
    pub async fn has_work(&self, stage: Stage) -> Result<bool> {
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 FROM {} t WHERE {} LIMIT 1) w",
            stage.table(),
            stage.work_predicate()
        );
        self.sent(1);
        let (count,): (i64,) = on_engine!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?
        });
        Ok(count > 0)
    }

    /// How much of `stage`'s work there is, claimable or leased (for progress bars).
    pub async fn work_count(&self, stage: Stage) -> Result<u64> {
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM {} t WHERE {}",
            stage.table(),
            stage.work_predicate()
        );
        self.sent(1);
        let (count,): (i64,) = on_engine!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?
        });
        Ok(count as u64)
    }

    /// Claims up to `n` queued URLs, fairly over hosts and never more than a host's
    /// `max_inflight` (else `per_host`) live leases over the whole fleet.
    pub async fn claim_downloads(
        &self,
        owner: &str,
        n: usize,
        lease: Duration,
        per_host: usize,
    ) -> Result<Vec<Claimed<(i64, DownloadJob)>>> {
        type Row = (
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
        );
        let claimable = hosts_with_claimable();
        let rows: Vec<Row> = match &self.engine {
            Engine::Postgres(pool) => {
                // Statement 1 locks the hosts to visit; statement 2 counts their live leases
                // with a fresh snapshot (READ COMMITTED), so the cap holds exactly.
                self.sent(4);
                let mut tx = pool.begin_write().await?;
                let hosts: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT host, COALESCE(max_inflight, $1) FROM hosts WHERE {claimable}
                     ORDER BY last_claimed, host LIMIT $2 FOR UPDATE SKIP LOCKED"
                )))
                .bind(per_host as i64)
                .bind(n as i64)
                .fetch_all(&mut *tx)
                .await?;
                let (names, caps): (Vec<String>, Vec<i64>) = hosts.into_iter().unzip();
                let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "WITH h AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS h(host, cap)),
                     picked AS MATERIALIZED (
                       SELECT j.id FROM h CROSS JOIN LATERAL (
                         SELECT id FROM downloads t
                         WHERE t.host = h.host AND t.state = 'queued' AND {LEASE_FREE}
                         ORDER BY id
                         LIMIT greatest(0, h.cap - {live})
                         FOR UPDATE OF t SKIP LOCKED) j
                       LIMIT $3),
                     touch AS (UPDATE hosts SET last_claimed = {now} FROM h WHERE hosts.host = h.host)
                     UPDATE downloads SET {stamp}
                     FROM picked WHERE downloads.id = picked.id AND {recheck}
                     RETURNING downloads.id, downloads.url, downloads.sha256, downloads.etag,
                               downloads.last_modified, downloads.claims",
                    live = live_host_leases("h.host"),
                    now = now_ms!(),
                    stamp = claim_stamp("$4", "$5"),
                    recheck = LEASE_FREE.replace("t.", "downloads."),
                )))
                .bind(&names)
                .bind(&caps)
                .bind(n as i64)
                .bind(owner)
                .bind(millis(lease))
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows
            }
            Engine::Sqlite(pool) => {
                self.sent(3);
                let mut tx = pool.begin_write().await?;
                let hosts: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT host, COALESCE(max_inflight, $1) - {live} FROM hosts WHERE {claimable}
                     ORDER BY last_claimed, host LIMIT $2",
                    live = live_host_leases("hosts.host"),
                )))
                .bind(per_host as i64)
                .bind(n as i64)
                .fetch_all(&mut *tx)
                .await?;
                let claim = format!(
                    "UPDATE downloads SET {stamp}
                     WHERE id IN (SELECT id FROM downloads t
                         WHERE t.host = $3 AND t.state = 'queued' AND {LEASE_FREE}
                         ORDER BY id LIMIT $4)
                     RETURNING id, url, sha256, etag, last_modified, claims",
                    stamp = claim_stamp("$1", "$2"),
                );
                let mut rows: Vec<Row> = Vec::new();
                for (host, free) in hosts {
                    let take = free.min((n - rows.len()) as i64);
                    if take > 0 {
                        self.sent(1);
                        let claimed: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(claim.clone()))
                            .bind(owner)
                            .bind(millis(lease))
                            .bind(&host)
                            .bind(take)
                            .fetch_all(&mut *tx)
                            .await?;
                        rows.extend(claimed);
                    }
                    self.sent(1);
                    sqlx::query(concat!(
                        "UPDATE hosts SET last_claimed = ",
                        now_ms!(),
                        " WHERE host = $1"
                    ))
                    .bind(&host)
                    .execute(&mut *tx)
                    .await?;
                    if rows.len() >= n {
                        break;
                    }
                }
                tx.commit().await?;
                rows
            }
        };
        Ok(rows
            .into_iter()
            .map(|(id, url, sha256, etag, last_modified, claims)| Claimed {
                item: (
                    id,
                    DownloadJob {
                        url,
                        sha256,
                        etag,
                        last_modified,
                    },
                ),
                claims,
            })
            .collect())
    }

    /// Records fetches (bodies already stored), fenced by each claim; returns how many were
    /// accepted (the rest had lost their lease). A URL whose body changed marks the hotel
    /// groups listing it changed.
    pub async fn complete_downloads(
        &self,
        owner: &str,
        results: &[FinishedDownload],
    ) -> Result<u64> {
        let mut accepted = 0;
        let mut stored = false;
        let mut finished_urls = Vec::new();
        self.sent(2);
        on_engine!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (claimed, attempts, outcome) in results {
                let (id, job) = &claimed.item;
                let attempts = i64::from(*attempts);
                self.sent(1);
                let (done, changed) = match outcome {
                    DownloadOutcome::Stored { sha256, size, format, etag, last_modified } => {
                        let done = fenced!(tx, finish_sql(
                            "downloads",
                            "state = 'done', sha256 = $2, etag = $3, last_modified = $4,
                             attempts = attempts + $5, reason = NULL, detail = NULL",
                            "finished_at", "id = $1", 6,
                        ), [id, sha256, etag, last_modified, attempts], owner, claimed.claims);
                        if done {
                            self.sent(1);
                            stored = true;
                            sqlx::query(
                                "INSERT INTO blobs (sha256, size, format, state)
                                 VALUES ($1, $2, $3, 'pending') ON CONFLICT (sha256) DO NOTHING",
                            )
                            .bind(sha256)
                            .bind(*size as i64)
                            .bind(format)
                            .execute(&mut *tx)
                            .await?;
                        }
                        (done, job.sha256.as_ref().is_some_and(|old| old != sha256))
                    }
                    DownloadOutcome::NotModified => {
                        let done = fenced!(tx, finish_sql(
                            "downloads",
                            "state = 'done', attempts = attempts + $2, reason = NULL, detail = NULL",
                            "finished_at", "id = $1", 3,
                        ), [id, attempts], owner, claimed.claims);
                        (done, false)
                    }
                    DownloadOutcome::Failed { reason, detail } => {
                        let done = fenced!(tx, finish_sql(
                            "downloads",
                            "state = 'failed', attempts = attempts + $2, reason = $3, detail = $4",
                            "finished_at", "id = $1", 5,
                        ), [id, attempts, reason, detail], owner, claimed.claims);
                        (done, job.sha256.is_some())
                    }
                };
                if done {
                    accepted += 1;
                    finished_urls.push(job.url.clone());
                }
                if done && changed {
                    self.sent(1);
                    sqlx::query(MARK_URL_GROUPS_CHANGED)
                        .bind(&job.url)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        });
        if accepted > 0 {
            let woken: &[Stage] = if stored { &[Stage::Fingerprint] } else { &[] };
            self.notify_ready(woken, ReadinessOf::Urls(&finished_urls))
                .await?;
        }
        Ok(accepted)
    }

    /// Wakes workers waiting for `stages`, and those waiting for dedupe if a hotel group of
    /// `finished` is now ready for it, in one statement (PostgreSQL `NOTIFY`; nothing on SQLite,
    /// whose workers poll). Idle dedupe loops thus wake when a group's last input finishes, not
    /// on every completion. Called after the completion commits: each statement reads a fresh
    /// snapshot, so when two workers finish a group's last two inputs at once, the check that
    /// runs last sees both, and a ready group is always announced (the poll stays as a net).
    async fn notify_ready(&self, stages: &[Stage], finished: ReadinessOf<'_>) -> Result<()> {
        let Engine::Postgres(pool) = &self.engine else {
            return Ok(());
        };
        let mut channels: Vec<&str> = stages.iter().map(|stage| stage.channel()).collect();
        channels.push(Stage::Dedupe.channel());
        let (groups, items) = finished.groups();
        let sql = format!(
            "SELECT pg_notify(channel, '') FROM unnest($1::text[]) AS c(channel)
             WHERE channel <> '{dedupe}' OR EXISTS (
                 SELECT 1 FROM hotel_groups t WHERE t.hotel_group IN ({groups}) AND {ready})",
            dedupe = Stage::Dedupe.channel(),
            ready = Stage::Dedupe.work_predicate(),
        );
        self.sent(1);
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&channels)
            .bind(items)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Claims up to `n` stored bodies waiting for their fingerprint.
    pub async fn claim_blobs(
        &self,
        owner: &str,
        n: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed<String>>> {
        let rows: Vec<(String, i64)> = self
            .claim_rows(
                Stage::Fingerprint,
                "sha256",
                "t.sha256",
                "sha256, claims",
                owner,
                n,
                lease,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(item, claims)| Claimed { item, claims })
            .collect())
    }

    /// Records fingerprints, fenced by each claim; returns how many were accepted.
    pub async fn complete_fingerprints(
        &self,
        owner: &str,
        results: &[(Claimed<String>, FingerprintOutcome)],
    ) -> Result<u64> {
        let mut finished_blobs = Vec::new();
        self.sent(2 + results.len() as u64);
        on_engine!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (claimed, outcome) in results {
                let done = match outcome {
                    FingerprintOutcome::Done { width, height, dhash, tiles, quality } => {
                        fenced!(tx, finish_sql(
                            "blobs",
                            "state = 'done', width = $2, height = $3, dhash = $4, tiles = $5,
                             quality = $6, reason = NULL, detail = NULL",
                            "finished_at", "sha256 = $1", 7,
                        ), [&claimed.item, i64::from(*width), i64::from(*height), dhash, tiles,
                            quality], owner, claimed.claims)
                    }
                    FingerprintOutcome::Failed { reason, detail } => fenced!(tx, finish_sql(
                        "blobs", "state = 'failed', reason = $2, detail = $3",
                        "finished_at", "sha256 = $1", 4,
                    ), [&claimed.item, reason, detail], owner, claimed.claims),
                };
                if done {
                    finished_blobs.push(claimed.item.clone());
                }
            }
            tx.commit().await?;
        });
        if !finished_blobs.is_empty() {
            self.notify_ready(&[], ReadinessOf::Blobs(&finished_blobs))
                .await?;
        }
        Ok(finished_blobs.len() as u64)
    }

    /// Claims up to `n` hotel groups ready for `stage`: changed since the stage last saw them,
    /// with every input it depends on finished.
    pub async fn claim_groups(
        &self,
        stage: GroupStage,
        owner: &str,
        n: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed<GroupWork>>> {
        let rows: Vec<(String, i64, i64)> = self
            .claim_rows(
                stage.stage(),
                "hotel_group",
                "t.hotel_group",
                "hotel_group, version, claims",
                owner,
                n,
                lease,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(hotel_group, version, claims)| Claimed {
                item: GroupWork {
                    hotel_group,
                    version,
                },
                claims,
            })
            .collect())
    }

    /// Replaces a hotel group's duplicate links (every image → its canonical) and records the
    /// input version they were computed from; false if the lease was lost.
    pub async fn complete_dedupe(
        &self,
        owner: &str,
        claimed: &Claimed<GroupWork>,
        links: &[(String, String)],
    ) -> Result<bool> {
        let group = &claimed.item.hotel_group;
        self.sent(4 + links.len().div_ceil(500) as u64);
        let done = on_engine!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let fenced = fenced!(
                tx,
                GroupStage::Dedupe.finish_sql(),
                [group, claimed.item.version],
                owner,
                claimed.claims
            );
            if fenced {
                sqlx::query("DELETE FROM duplicates WHERE hotel_group = $1")
                    .bind(group)
                    .execute(&mut *tx)
                    .await?;
                for chunk in links.chunks(500) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO duplicates (hotel_group, sha256, canonical) ",
                    );
                    insert.push_values(chunk, |mut row, (sha256, canonical)| {
                        row.push_bind(group.as_str())
                            .push_bind(sha256.as_str())
                            .push_bind(canonical.as_str());
                    });
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            fenced
        });
        if done {
            // Inputs that changed while it was leased leave the group to dedupe again.
            self.notify_ready(
                &[Stage::Prioritise],
                ReadinessOf::Groups(std::slice::from_ref(group)),
            )
            .await?;
        }
        Ok(done)
    }

    /// Replaces a hotel group's ranking: (sha256, rank, score) for every kept image, in one
    /// statement that drops the images no longer kept and one that upserts the kept ones
    /// (PostgreSQL: over arrays; SQLite: over multi-row VALUES, in chunks that stay within its
    /// bound-value limit). Images that stay keep their rendering state, so generate renders
    /// only new ones.
    pub async fn complete_ranking(
        &self,
        owner: &str,
        claimed: &Claimed<GroupWork>,
        ranking: &[(String, i64, f64)],
    ) -> Result<bool> {
        const UPSERT_CHUNK: usize = 500;
        const ON_CONFLICT: &str = " ON CONFLICT (hotel_group, sha256) DO UPDATE SET
             rank = excluded.rank, score = excluded.score";
        let group = &claimed.item.hotel_group;
        let kept: Vec<&str> = ranking
            .iter()
            .map(|(sha256, _, _)| sha256.as_str())
            .collect();
        let done = match &self.engine {
            Engine::Postgres(pool) => {
                self.sent(5);
                let mut tx = pool.begin_write().await?;
                let fenced = fenced!(
                    tx,
                    GroupStage::Prioritise.finish_sql(),
                    [group, claimed.item.version],
                    owner,
                    claimed.claims
                );
                if fenced {
                    sqlx::query(
                        "DELETE FROM ranking WHERE hotel_group = $1 AND sha256 <> ALL($2::text[])",
                    )
                    .bind(group)
                    .bind(&kept)
                    .execute(&mut *tx)
                    .await?;
                    let (ranks, scores): (Vec<i64>, Vec<f64>) = ranking
                        .iter()
                        .map(|(_, rank, score)| (*rank, *score))
                        .unzip();
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO ranking (hotel_group, sha256, rank, score)
                         SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::float8[])
                         {ON_CONFLICT}"
                    )))
                    .bind(group)
                    .bind(&kept)
                    .bind(&ranks)
                    .bind(&scores)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                }
                fenced
            }
            Engine::Sqlite(pool) => {
                self.sent(4 + ranking.len().div_ceil(UPSERT_CHUNK) as u64);
                let mut tx = pool.begin_write().await?;
                let fenced = fenced!(
                    tx,
                    GroupStage::Prioritise.finish_sql(),
                    [group, claimed.item.version],
                    owner,
                    claimed.claims
                );
                if fenced {
                    sqlx::query(
                        "DELETE FROM ranking WHERE hotel_group = $1
                           AND sha256 NOT IN (SELECT value FROM json_each($2))",
                    )
                    .bind(group)
                    .bind(serde_json::to_string(&kept).expect("strings serialise"))
                    .execute(&mut *tx)
                    .await?;
                    for chunk in ranking.chunks(UPSERT_CHUNK) {
                        let mut upsert = sqlx::QueryBuilder::new(
                            "INSERT INTO ranking (hotel_group, sha256, rank, score) ",
                        );
                        upsert.push_values(chunk, |mut row, (sha256, rank, score)| {
                            row.push_bind(group.as_str())
                                .push_bind(sha256.as_str())
                                .push_bind(*rank)
                                .push_bind(*score);
                        });
                        upsert.push(ON_CONFLICT);
                        upsert.build().execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                }
                fenced
            }
        };
        if done {
            self.notify(Stage::Generate).await?;
        }
        Ok(done)
    }

    /// Queues again every rendered image whose outputs were made with other configurations
    /// (`generated` is the digest of the configuration list).
    pub async fn requeue_renders_not(&self, generated: &str) -> Result<u64> {
        self.sent(1);
        Ok(on_engine!(self, pool => {
            sqlx::query(
                "UPDATE ranking SET state = 'queued' WHERE state = 'done' AND generated <> $1",
            )
            .bind(generated)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// Claims up to `n` kept images to render, in ranking order.
    pub async fn claim_renders(
        &self,
        owner: &str,
        n: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed<RankedImage>>> {
        let rows: Vec<(String, String, i64, i64)> = self
            .claim_rows(
                Stage::Generate,
                "hotel_group, sha256",
                "t.hotel_group, t.rank",
                "hotel_group, sha256, rank, claims",
                owner,
                n,
                lease,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(hotel_group, sha256, rank, claims)| Claimed {
                item: RankedImage {
                    hotel_group,
                    sha256,
                    rank,
                },
                claims,
            })
            .collect())
    }

    /// config → digest of the outputs recorded for one kept image.
    pub async fn output_digests(
        &self,
        image: &RankedImage,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        self.sent(1);
        let rows: Vec<(String, String)> = on_engine!(self, pool => {
            sqlx::query_as("SELECT config, digest FROM outputs WHERE hotel_group = $1 AND sha256 = $2")
                .bind(&image.hotel_group)
                .bind(&image.sha256)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().collect())
    }

    /// Records an image's outputs (config, digest, location) and marks it rendered with the
    /// configuration list `generated`, or failed; false if the lease was lost.
    pub async fn complete_render(
        &self,
        owner: &str,
        claimed: &Claimed<RankedImage>,
        generated: &str,
        outputs: &[(String, String, String)],
        failure: Option<(&str, &str)>,
    ) -> Result<bool> {
        let image = &claimed.item;
        let (state, reason, detail) = match failure {
            None => ("done", None, None),
            Some((reason, detail)) => ("failed", Some(reason), Some(detail)),
        };
        self.sent(3 + outputs.len() as u64);
        Ok(on_engine!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let fenced = fenced!(
                tx,
                finish_sql(
                    "ranking",
                    "state = $3, generated = $4, reason = $5, detail = $6",
                    "finished_at",
                    "hotel_group = $1 AND sha256 = $2",
                    7,
                ),
                [&image.hotel_group, &image.sha256, state, generated, reason, detail],
                owner,
                claimed.claims
            );
            if fenced {
                for (config, digest, location) in outputs {
                    sqlx::query(
                        "INSERT INTO outputs (hotel_group, sha256, config, digest, path)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (hotel_group, sha256, config) DO UPDATE SET
                           digest = excluded.digest, path = excluded.path",
                    )
                    .bind(&image.hotel_group)
                    .bind(&image.sha256)
                    .bind(config)
                    .bind(digest)
                    .bind(location)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
            fenced
        }))
    }

    /// Renews every lease `owner` holds, in one statement per work table; returns how many
    /// rows it renewed. On PostgreSQL rows locked by a transaction (this worker completing
    /// them) are skipped rather than waited for: waiting could deadlock with that transaction.
    pub async fn renew(&self, owner: &str, lease: Duration) -> Result<u64> {
        let mut held = 0;
        for table in LEASED_TABLES {
            let key = match table {
                "downloads" => "id",
                "blobs" => "sha256",
                "hotel_groups" => "hotel_group",
                _ => "hotel_group, sha256",
            };
            let sql = match self.engine {
                Engine::Postgres(_) => format!(
                    "UPDATE {table} SET lease_until = {} + $2 WHERE ({key}) IN (
                         SELECT {key} FROM {table} WHERE lease_owner = $1 FOR UPDATE SKIP LOCKED)",
                    now_ms!()
                ),
                Engine::Sqlite(_) => format!(
                    "UPDATE {table} SET lease_until = {} + $2 WHERE lease_owner = $1",
                    now_ms!()
                ),
            };
            self.sent(1);
            held += on_engine!(self, pool => {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(millis(lease))
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
        }
        Ok(held)
    }

    /// Gives back every lease of the given owners at once (a worker stopping, or one that
    /// died), so other workers need not wait for them to expire.
    pub async fn release(&self, owners: &[String]) -> Result<u64> {
        let mut released = 0;
        for owner in owners {
            for table in LEASED_TABLES {
                let sql = format!(
                    "UPDATE {table} SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1"
                );
                self.sent(1);
                released += on_engine!(self, pool => {
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(owner)
                        .execute(pool)
                        .await?
                        .rows_affected()
                });
            }
        }
        Ok(released)
    }

    /// Owners holding live leases whose names start with `prefix`.
    pub async fn lease_owners(&self, prefix: &str) -> Result<Vec<String>> {
        let mut owners = Vec::new();
        for table in LEASED_TABLES {
            let sql = format!(
                "SELECT DISTINCT lease_owner FROM {table}
                 WHERE lease_owner LIKE $1 || '%' AND lease_until >= {}",
                now_ms!()
            );
            self.sent(1);
            let rows: Vec<(String,)> = on_engine!(self, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(prefix).fetch_all(pool).await?
            });
            owners.extend(rows.into_iter().map(|(owner,)| owner));
        }
        owners.sort();
        owners.dedup();
        Ok(owners)
    }

    /// When the oldest live lease was taken (unix ms), if any lease is live.
    pub async fn oldest_live_lease(&self) -> Result<Option<i64>> {
        let mut oldest: Option<i64> = None;
        for table in LEASED_TABLES {
            let sql = format!(
                "SELECT MIN(leased_since) FROM {table}
                 WHERE lease_owner IS NOT NULL AND lease_until >= {}",
                now_ms!()
            );
            self.sent(1);
            let (since,): (Option<i64>,) = on_engine!(self, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?
            });
            oldest = match (oldest, since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(oldest)
    }

    /// URLs that were claimed more than once (their first lease was lost).
    pub async fn reclaimed_urls(&self) -> Result<Vec<String>> {
        self.sent(1);
        let rows: Vec<(String,)> = on_engine!(self, pool => {
            sqlx::query_as("SELECT url FROM downloads WHERE claims > 1 ORDER BY url")
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(url,)| url).collect())
    }

    /// Sets a host's fleet-wide limit of requests in flight.
    pub async fn set_host_limit(&self, host: &str, max_inflight: i64) -> Result<()> {
        self.sent(1);
        on_engine!(self, pool => {
            sqlx::query(
                "INSERT INTO hosts (host, max_inflight) VALUES ($1, $2)
                 ON CONFLICT (host) DO UPDATE SET max_inflight = excluded.max_inflight",
            )
            .bind(host)
            .bind(max_inflight)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Rows claimed more than once (a lease lost to a dead or stalled worker), per stage table.
    pub async fn reclaimed(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        let mut counts = std::collections::BTreeMap::new();
        // (Group rows are claimed once by dedupe and once by prioritise: not counted.)
        for (stage, table) in [
            ("download", "downloads"),
            ("fingerprint", "blobs"),
            ("generate", "ranking"),
        ] {
            let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE claims > 1");
            self.sent(1);
            let (count,): (i64,) = on_engine!(self, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?
            });
            counts.insert(stage.to_owned(), count as u64);
        }
        Ok(counts)
    }
}
