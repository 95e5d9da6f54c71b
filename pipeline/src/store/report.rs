//! What operators read: counts per stage and failure reason, live leases, recent rates, and a
//! hotel's ranking.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{now_ms, on_engine, CatalogProblem, Counts, Lease, Result, Stage, Store};

/// One stage's queue.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StageStatus {
    /// Work waiting (not under a live lease).
    pub queued: u64,
    /// Work under a live lease, per owner.
    pub leased: Vec<Lease>,
    pub done: u64,
    pub failed: Counts,
    /// Items finished per second over the last minute.
    pub rate_per_second: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    pub catalog_entries: Counts,
    pub catalog_errors: Vec<CatalogProblem>,
    pub downloads: Counts,
    pub download_failures: Counts,
    pub images: Counts,
    pub image_failures: Counts,
    pub duplicate_groups: u64,
    pub duplicates: u64,
    pub ranked: u64,
    pub excluded: u64,
    pub outputs: u64,
    /// Per stage: queued, leased (by whom, since when), done, failed by reason, recent rate.
    pub stages: BTreeMap<Stage, StageStatus>,
}

/// A kept image of one hotel, with the URLs partners list for it or for its duplicates.
#[derive(Clone, Debug, Serialize)]
pub struct RankingRow {
    pub rank: i64,
    /// sha256 of the canonical image.
    pub image: String,
    pub score: f64,
    pub urls: Vec<String>,
}

/// SQL per stage: (table, queued predicate, done predicate, failed predicate, finished column).
fn stage_sql(
    stage: Stage,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
) {
    match stage {
        Stage::Download => (
            "downloads",
            "state = 'queued'",
            "state = 'done'",
            "state = 'failed'",
            "finished_at",
        ),
        Stage::Fingerprint => (
            "blobs",
            "state = 'pending'",
            "state = 'done'",
            "state = 'failed'",
            "finished_at",
        ),
        Stage::Dedupe => (
            "hotel_groups",
            "deduped < version",
            "deduped = version",
            "false",
            "deduped_at",
        ),
        Stage::Prioritise => (
            "hotel_groups",
            "ranked < version",
            "ranked = version",
            "false",
            "ranked_at",
        ),
        Stage::Generate => (
            "ranking",
            "state = 'queued'",
            "state = 'done'",
            "state = 'failed'",
            "finished_at",
        ),
    }
}

impl Store {
    async fn counts(&self, sql: &'static str) -> Result<Counts> {
        self.sent(1);
        let rows: Vec<(String, i64)> = on_engine!(self, pool => {
            sqlx::query_as(sql).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(|(k, v)| (k, v as u64)).collect())
    }

    async fn count(&self, sql: String) -> Result<u64> {
        self.sent(1);
        let (count,): (i64,) = on_engine!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?
        });
        Ok(count as u64)
    }

    async fn stage_status(&self, stage: Stage) -> Result<StageStatus> {
        let (table, queued, done, failed, finished) = stage_sql(stage);
        let live = concat!("lease_owner IS NOT NULL AND lease_until >= ", now_ms!());
        let leased_sql = format!(
            "SELECT lease_owner, CAST(COUNT(*) AS BIGINT), MIN(leased_since) FROM {table}
             WHERE {queued} AND {live} GROUP BY lease_owner ORDER BY lease_owner"
        );
        self.sent(1);
        let leased: Vec<(String, i64, i64)> = on_engine!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(leased_sql)).fetch_all(pool).await?
        });
        let failed_sql = format!(
            "SELECT COALESCE(reason, ''), CAST(COUNT(*) AS BIGINT) FROM {table}
             WHERE {failed} GROUP BY 1 ORDER BY 1"
        );
        self.sent(1);
        let failures: Vec<(String, i64)> = if failed == "false" {
            Vec::new()
        } else {
            on_engine!(self, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(failed_sql)).fetch_all(pool).await?
            })
        };
        let queued_total = self
            .count(format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE {queued}"
            ))
            .await?;
        let leased_total: u64 = leased.iter().map(|(_, n, _)| *n as u64).sum();
        let recent = self
            .count(format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE {done} AND {finished} >= {} - 60000",
                now_ms!()
            ))
            .await?;
        Ok(StageStatus {
            queued: queued_total.saturating_sub(leased_total),
            leased: leased
                .into_iter()
                .map(|(owner, items, since_ms)| Lease {
                    owner,
                    items: items as u64,
                    since_ms,
                })
                .collect(),
            done: self
                .count(format!(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE {done}"
                ))
                .await?,
            failed: failures.into_iter().map(|(k, v)| (k, v as u64)).collect(),
            rate_per_second: recent as f64 / 60.0,
        })
    }

    pub async fn status(&self) -> Result<Status> {
        self.sent(1);
        let errors: Vec<(String, i64, String)> = on_engine!(self, pool => {
            sqlx::query_as("SELECT file, line, message FROM catalog_errors ORDER BY file, line")
                .fetch_all(pool)
                .await?
        });
        let mut stages = BTreeMap::new();
        for stage in Stage::ALL {
            stages.insert(stage, self.stage_status(stage).await?);
        }
        Ok(Status {
            catalog_entries: self
                .counts(
                    "SELECT CASE active WHEN 1 THEN 'active' ELSE 'removed' END, CAST(COUNT(*) AS BIGINT)
                     FROM catalog_entries GROUP BY 1",
                )
                .await?,
            catalog_errors: errors
                .into_iter()
                .map(|(file, line, message)| CatalogProblem {
                    file,
                    line: line as u64,
                    message,
                })
                .collect(),
            downloads: self
                .counts("SELECT state, CAST(COUNT(*) AS BIGINT) FROM downloads GROUP BY state")
                .await?,
            download_failures: self
                .counts(
                    "SELECT reason, CAST(COUNT(*) AS BIGINT) FROM downloads WHERE state = 'failed'
                     GROUP BY reason",
                )
                .await?,
            images: self
                .counts("SELECT state, CAST(COUNT(*) AS BIGINT) FROM blobs GROUP BY state")
                .await?,
            image_failures: self
                .counts(
                    "SELECT reason, CAST(COUNT(*) AS BIGINT) FROM blobs WHERE state = 'failed'
                     GROUP BY reason",
                )
                .await?,
            duplicate_groups: self
                .count(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 FROM duplicates
                     GROUP BY hotel_group, canonical HAVING COUNT(*) > 1) g"
                        .to_owned(),
                )
                .await?,
            duplicates: self
                .count(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM duplicates WHERE sha256 <> canonical"
                        .to_owned(),
                )
                .await?,
            ranked: self
                .count("SELECT CAST(COUNT(*) AS BIGINT) FROM ranking".to_owned())
                .await?,
            excluded: self
                .count(
                    "SELECT CAST(COUNT(*) AS BIGINT) FROM overrides WHERE kind = 'exclude'"
                        .to_owned(),
                )
                .await?,
            outputs: self
                .count("SELECT CAST(COUNT(*) AS BIGINT) FROM outputs".to_owned())
                .await?,
            stages,
        })
    }

    /// How many kept images are rendered with the configuration list `generated`.
    pub async fn rendered_with(&self, generated: &str) -> Result<u64> {
        self.sent(1);
        let (count,): (i64,) = on_engine!(self, pool => {
            sqlx::query_as(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM ranking WHERE state = 'done' AND generated = $1",
            )
            .bind(generated)
            .fetch_one(pool)
            .await?
        });
        Ok(count as u64)
    }

    /// One hotel's kept images in order.
    pub async fn hotel_ranking(&self, hotel_group: &str) -> Result<Vec<RankingRow>> {
        self.sent(1);
        let rows: Vec<(i64, String, f64, String)> = on_engine!(self, pool => {
            sqlx::query_as(
                "SELECT r.rank, r.sha256, r.score, c.url
                 FROM ranking r
                 JOIN duplicates k ON k.hotel_group = r.hotel_group AND k.canonical = r.sha256
                 JOIN downloads d ON d.sha256 = k.sha256
                 JOIN catalog_entries c ON c.url = d.url AND c.hotel_group = r.hotel_group AND c.active = 1
                 WHERE r.hotel_group = $1
                 ORDER BY r.rank, c.url",
            )
            .bind(hotel_group)
            .fetch_all(pool)
            .await?
        });
        let mut ranking: Vec<RankingRow> = Vec::new();
        for (rank, image, score, url) in rows {
            match ranking.last_mut() {
                Some(last) if last.rank == rank => {
                    if !last.urls.contains(&url) {
                        last.urls.push(url);
                    }
                }
                _ => ranking.push(RankingRow {
                    rank,
                    image,
                    score,
                    urls: vec![url],
                }),
            }
        }
        Ok(ranking)
    }

    /// The pipeline's results, for comparing two runs: duplicate links, rankings and output
    /// digests, each as sorted text lines.
    pub async fn results(&self) -> Result<BTreeMap<&'static str, Vec<String>>> {
        let mut results = BTreeMap::new();
        self.sent(3);
        on_engine!(self, pool => {
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT hotel_group, sha256, canonical FROM duplicates ORDER BY 1, 2",
            )
            .fetch_all(pool)
            .await?;
            results.insert("duplicates", rows.into_iter().map(|(g, s, c)| format!("{g} {s} {c}")).collect());
            let rows: Vec<(String, i64, String)> = sqlx::query_as(
                "SELECT hotel_group, rank, sha256 FROM ranking ORDER BY 1, 2",
            )
            .fetch_all(pool)
            .await?;
            results.insert("ranking", rows.into_iter().map(|(g, r, s)| format!("{g} {r} {s}")).collect());
            let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT hotel_group, sha256, config, digest FROM outputs ORDER BY 1, 2, 3",
            )
            .fetch_all(pool)
            .await?;
            results.insert("outputs", rows.into_iter().map(|(g, s, c, d)| format!("{g} {s} {c} {d}")).collect());
        });
        Ok(results)
    }
}
