//! Replacing a partner's catalog, streamed: lines arrive in bounded chunks, each staged in a
//! temporary table and diffed against the stored catalog with set-based SQL, so a catalog of
//! millions of lines is read in constant memory. Each chunk commits on its own; entries the
//! catalog no longer lists are marked removed at the end, so a trigger that was interrupted is
//! completed by running it again.

use std::collections::HashMap;

use serde::Serialize;

use super::{on_engine, work, BeginWrite, Result, Stage, Store};

/// Catalog lines staged and diffed per transaction.
const CHUNK: usize = 1000;

/// One line of a partner catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub partner_hotel: String,
    pub hotel_group: String,
    pub url: String,
    pub caption: Option<String>,
    /// Order of the line in its catalog: a partner hotel's images are ranked by it.
    pub position: i64,
}

/// A catalog line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogProblem {
    pub file: String,
    pub line: u64,
    pub message: String,
}

/// What one catalog line gave.
pub type CatalogItem = std::result::Result<CatalogEntry, CatalogProblem>;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TriggerSummary {
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub malformed: u64,
}

/// The stored entry matching a staged one (same partner, partner hotel and URL). (`CROSS JOIN`
/// where only matches count: SQLite then keeps the chunk as the outer loop.)
const STAGED_JOIN: &str = "FROM trigger_batch b LEFT JOIN catalog_entries c
     ON c.partner = $1 AND c.partner_hotel = b.partner_hotel AND c.url = b.url";

/// A staged line that repeats an active entry exactly.
const UNCHANGED: &str = "(c.url IS NOT NULL AND c.active = 1 AND c.hotel_group = b.hotel_group
     AND c.caption IS NOT DISTINCT FROM b.caption)";

impl Store {
    /// Replaces a partner's catalog: new and changed entries are queued for download and their
    /// hotel groups marked changed; entries missing from the new catalog are marked removed
    /// (their stored bodies stay). `host_of` gives a URL's politeness key.
    pub async fn trigger(
        &self,
        partner: &str,
        file: &str,
        items: impl Iterator<Item = CatalogItem>,
        host_of: impl Fn(&str) -> String,
    ) -> Result<TriggerSummary> {
        let mut summary = TriggerSummary::default();
        self.sent(2);
        let run: i64 = on_engine!(self, pool => {
            sqlx::query("DELETE FROM catalog_errors WHERE partner = $1")
                .bind(partner)
                .execute(pool)
                .await?;
            let (run,): (i64,) = sqlx::query_as(
                "SELECT COALESCE(MAX(seen), 0) + 1 FROM catalog_entries WHERE partner = $1",
            )
            .bind(partner)
            .fetch_one(pool)
            .await?;
            run
        });
        let mut entries: Vec<CatalogEntry> = Vec::with_capacity(CHUNK);
        let mut problems: Vec<CatalogProblem> = Vec::new();
        let mut items = items.peekable();
        while items.peek().is_some() {
            entries.clear();
            problems.clear();
            for item in items.by_ref() {
                match item {
                    Ok(entry) => entries.push(entry),
                    Err(problem) => problems.push(problem),
                }
                if entries.len() + problems.len() >= CHUNK {
                    break;
                }
            }
            summary.malformed += problems.len() as u64;
            self.trigger_chunk(
                partner,
                file,
                run,
                &entries,
                &problems,
                &host_of,
                &mut summary,
            )
            .await?;
        }
        self.sent(4);
        on_engine!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO hotel_groups (hotel_group)
                 SELECT DISTINCT hotel_group FROM catalog_entries
                 WHERE partner = $1 AND active = 1 AND seen <> $2 ORDER BY 1
                 ON CONFLICT (hotel_group) DO UPDATE SET version = hotel_groups.version + 1",
            )
            .bind(partner)
            .bind(run)
            .execute(&mut *tx)
            .await?;
            summary.removed = sqlx::query(
                "UPDATE catalog_entries SET active = 0 WHERE partner = $1 AND active = 1 AND seen <> $2",
            )
            .bind(partner)
            .bind(run)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
        });
        self.notify_stages(&[Stage::Download, Stage::Dedupe])
            .await?;
        Ok(summary)
    }

    #[allow(clippy::too_many_arguments)]
    async fn trigger_chunk(
        &self,
        partner: &str,
        file: &str,
        run: i64,
        entries: &[CatalogEntry],
        problems: &[CatalogProblem],
        host_of: &impl Fn(&str) -> String,
        summary: &mut TriggerSummary,
    ) -> Result<()> {
        // A line repeated within the chunk: the last one wins, as it would line by line.
        let mut latest: HashMap<(&str, &str), &CatalogEntry> = HashMap::new();
        for entry in entries {
            latest.insert((&entry.partner_hotel, &entry.url), entry);
        }
        let mut staged: Vec<&CatalogEntry> = latest.into_values().collect();
        staged.sort_by_key(|entry| entry.position);
        let repeated = (entries.len() - staged.len()) as u64;
        let counts = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN c.url IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN {UNCHANGED} THEN 1 ELSE 0 END), 0) AS BIGINT),
                    CAST(COUNT(*) AS BIGINT)
             {STAGED_JOIN}"
        );
        let queue = format!(
            "INSERT INTO downloads (url, host, state)
             SELECT DISTINCT b.url, b.host, 'queued' {STAGED_JOIN} WHERE NOT {UNCHANGED}
             ON CONFLICT (url) DO UPDATE SET state = 'queued', reason = NULL, detail = NULL"
        );
        let changed_groups = format!(
            "INSERT INTO hotel_groups (hotel_group)
             SELECT DISTINCT g FROM (
                 SELECT b.hotel_group AS g {STAGED_JOIN} WHERE NOT {UNCHANGED}
                 UNION SELECT c.hotel_group AS g FROM trigger_batch b CROSS JOIN catalog_entries c
                 WHERE c.partner = $1 AND c.partner_hotel = b.partner_hotel AND c.url = b.url
                   AND c.active = 1 AND c.hotel_group <> b.hotel_group) s
             WHERE g IS NOT NULL ORDER BY 1
             ON CONFLICT (hotel_group) DO UPDATE SET version = hotel_groups.version + 1"
        );
        self.sent(11 + problems.len() as u64);
        on_engine!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "CREATE TEMP TABLE IF NOT EXISTS trigger_batch (
                     partner_hotel TEXT NOT NULL, hotel_group TEXT NOT NULL, url TEXT NOT NULL,
                     host TEXT NOT NULL, caption TEXT, position BIGINT NOT NULL,
                     PRIMARY KEY (partner_hotel, url))",
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM trigger_batch").execute(&mut *tx).await?;
            if !staged.is_empty() {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO trigger_batch (partner_hotel, hotel_group, url, host, caption, position) ",
                );
                insert.push_values(&staged, |mut row, entry| {
                    row.push_bind(entry.partner_hotel.as_str())
                        .push_bind(entry.hotel_group.as_str())
                        .push_bind(entry.url.as_str())
                        .push_bind(host_of(&entry.url))
                        .push_bind(entry.caption.as_deref())
                        .push_bind(entry.position);
                });
                insert.build().execute(&mut *tx).await?;
            }
            // Fresh statistics, so the planner walks the chunk and looks entries up by key
            // rather than scanning the partner's catalog.
            sqlx::query("ANALYZE trigger_batch").execute(&mut *tx).await?;
            let (new, unchanged, all): (i64, i64, i64) =
                sqlx::query_as(sqlx::AssertSqlSafe(counts))
                    .bind(partner)
                    .fetch_one(&mut *tx)
                    .await?;
            summary.new += new as u64;
            summary.unchanged += unchanged as u64 + repeated;
            summary.changed += (all - new - unchanged) as u64;
            sqlx::query(sqlx::AssertSqlSafe(queue))
                .bind(partner)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO hosts (host) SELECT DISTINCT host FROM trigger_batch WHERE true
                 ON CONFLICT (host) DO NOTHING",
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(changed_groups))
                .bind(partner)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO catalog_entries
                     (partner, partner_hotel, hotel_group, url, caption, position, active, seen)
                 SELECT $1, partner_hotel, hotel_group, url, caption, position, 1, $2
                 FROM trigger_batch WHERE true
                 ON CONFLICT (partner, partner_hotel, url) DO UPDATE SET
                   hotel_group = excluded.hotel_group, caption = excluded.caption,
                   position = excluded.position, active = 1, seen = excluded.seen",
            )
            .bind(partner)
            .bind(run)
            .execute(&mut *tx)
            .await?;
            for problem in problems {
                sqlx::query(
                    "INSERT INTO catalog_errors (partner, file, line, message) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (partner, file, line) DO UPDATE SET message = excluded.message",
                )
                .bind(partner)
                .bind(file)
                .bind(problem.line as i64)
                .bind(&problem.message)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM trigger_batch").execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Puts failed work of a stage back in its queue (all of it, or that failed for `reason`),
    /// and marks the hotel groups that list it changed. Returns how many items were requeued.
    pub async fn retry_failed(&self, stage: Stage, reason: Option<&str>) -> Result<u64> {
        let (requeue, groups): (&'static str, Option<&'static str>) = match stage {
            Stage::Download => (
                "UPDATE downloads SET state = 'queued' WHERE state = 'failed' AND ($1 IS NULL OR reason = $1)",
                Some(
                    "SELECT DISTINCT c.hotel_group FROM downloads d
                     JOIN catalog_entries c ON c.url = d.url AND c.active = 1
                     WHERE d.state = 'failed' AND ($1 IS NULL OR d.reason = $1)",
                ),
            ),
            Stage::Fingerprint => (
                "UPDATE blobs SET state = 'pending' WHERE state = 'failed' AND ($1 IS NULL OR reason = $1)",
                Some(
                    "SELECT DISTINCT c.hotel_group FROM blobs b
                     JOIN downloads d ON d.sha256 = b.sha256
                     JOIN catalog_entries c ON c.url = d.url AND c.active = 1
                     WHERE b.state = 'failed' AND ($1 IS NULL OR b.reason = $1)",
                ),
            ),
            // A failed rendering changes no group's inputs.
            Stage::Generate => (
                "UPDATE ranking SET state = 'queued' WHERE state = 'failed' AND ($1 IS NULL OR reason = $1)",
                None,
            ),
            Stage::Dedupe | Stage::Prioritise => return Ok(0),
        };
        self.sent(3);
        let count = on_engine!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let mut changed: Vec<String> = Vec::new();
            if let Some(groups) = groups {
                self.sent(1);
                let rows: Vec<(String,)> =
                    sqlx::query_as(groups).bind(reason).fetch_all(&mut *tx).await?;
                changed = rows.into_iter().map(|(group,)| group).collect();
                changed.sort();
            }
            let count = sqlx::query(requeue)
                .bind(reason)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            for group in &changed {
                self.sent(1);
                sqlx::query(work::MARK_GROUP_CHANGED)
                    .bind(group)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            count
        });
        self.notify(stage).await?;
        Ok(count)
    }
}
