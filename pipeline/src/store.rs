//! The pipeline's state, in one SQLite database (WAL mode).
//!
//! Every stage reads its work from here and records each result in a transaction, so a stage
//! killed at any point re-runs from what was committed without losing or repeating work. All SQL
//! lives in this module: a server database can replace SQLite behind the same methods.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot create the state database's folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(
        "no image matches {0:?} in hotel {1:?}: give a URL from its catalog or a sha256 prefix"
    )]
    UnknownImage(String, String),
    #[error("{0:?} matches several images in hotel {1:?}: give a longer sha256 prefix")]
    AmbiguousImage(String, String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS catalog_entries (
    partner TEXT NOT NULL,
    partner_hotel TEXT NOT NULL,
    hotel_group TEXT NOT NULL,
    url TEXT NOT NULL,
    caption TEXT,
    position INTEGER NOT NULL,
    active INTEGER NOT NULL,
    PRIMARY KEY (partner, partner_hotel, url)
);
CREATE INDEX IF NOT EXISTS catalog_by_group ON catalog_entries (hotel_group, active);
CREATE TABLE IF NOT EXISTS catalog_errors (
    partner TEXT NOT NULL,
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (partner, file, line)
);
CREATE TABLE IF NOT EXISTS downloads (
    url TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('queued', 'done', 'failed')),
    sha256 TEXT,
    etag TEXT,
    last_modified TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    format TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    width INTEGER,
    height INTEGER,
    dhash TEXT,
    tiles BLOB,
    quality TEXT,
    reason TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS duplicates (
    hotel_group TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    canonical TEXT NOT NULL,
    PRIMARY KEY (hotel_group, sha256)
);
CREATE TABLE IF NOT EXISTS ranking (
    hotel_group TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    rank INTEGER NOT NULL,
    score REAL NOT NULL,
    PRIMARY KEY (hotel_group, sha256)
);
CREATE TABLE IF NOT EXISTS overrides (
    hotel_group TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('first', 'exclude')),
    PRIMARY KEY (hotel_group, sha256)
);
CREATE TABLE IF NOT EXISTS outputs (
    hotel_group TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    config TEXT NOT NULL,
    digest TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (hotel_group, sha256, config)
);
";

/// One line of a partner catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    pub partner_hotel: String,
    pub hotel_group: String,
    pub url: String,
    pub caption: Option<String>,
    pub position: i64,
}

/// A catalog line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CatalogProblem {
    pub file: String,
    pub line: u64,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TriggerSummary {
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub malformed: u64,
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
    /// Best (lowest) catalog position any partner gave it.
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

/// A kept image of one hotel, with the URLs partners list for it or for its duplicates.
#[derive(Clone, Debug, Serialize)]
pub struct RankingRow {
    pub rank: i64,
    /// sha256 of the canonical image.
    pub image: String,
    pub score: f64,
    pub urls: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    pub catalog_entries: BTreeMap<String, u64>,
    pub catalog_errors: Vec<CatalogProblem>,
    pub downloads: BTreeMap<String, u64>,
    pub download_failures: BTreeMap<String, u64>,
    pub images: BTreeMap<String, u64>,
    pub image_failures: BTreeMap<String, u64>,
    pub duplicate_groups: u64,
    pub duplicates: u64,
    pub ranked: u64,
    pub excluded: u64,
    pub outputs: u64,
}

pub struct Store {
    conn: Connection,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        let open_error = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(open_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(open_error)?;
        conn.execute_batch(SCHEMA).map_err(open_error)?;
        Ok(Store { conn })
    }

    /// Replaces a partner's catalog: new and changed entries are queued for download, entries
    /// missing from the new catalog are marked removed (their stored bodies stay).
    pub fn trigger(
        &mut self,
        partner: &str,
        file: &str,
        entries: &[CatalogEntry],
        problems: &[CatalogProblem],
    ) -> Result<TriggerSummary> {
        let tx = self.conn.transaction()?;
        let mut summary = TriggerSummary {
            malformed: problems.len() as u64,
            ..TriggerSummary::default()
        };
        tx.execute(
            "UPDATE catalog_entries SET active = -active WHERE partner = ?1 AND active = 1",
            [partner],
        )?;
        tx.execute("DELETE FROM catalog_errors WHERE partner = ?1", [partner])?;
        for entry in entries {
            let previous: Option<(String, Option<String>, i64)> = tx
                .query_row(
                    "SELECT hotel_group, caption, active FROM catalog_entries
                     WHERE partner = ?1 AND partner_hotel = ?2 AND url = ?3",
                    params![partner, entry.partner_hotel, entry.url],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?;
            let queue = match previous {
                None => {
                    summary.new += 1;
                    true
                }
                Some((group, caption, active)) => {
                    let same =
                        group == entry.hotel_group && caption == entry.caption && active == -1;
                    if same {
                        summary.unchanged += 1;
                    } else {
                        summary.changed += 1;
                    }
                    !same
                }
            };
            tx.execute(
                "INSERT INTO catalog_entries (partner, partner_hotel, hotel_group, url, caption, position, active)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)
                 ON CONFLICT (partner, partner_hotel, url) DO UPDATE SET
                   hotel_group = excluded.hotel_group, caption = excluded.caption,
                   position = excluded.position, active = 1",
                params![partner, entry.partner_hotel, entry.hotel_group, entry.url, entry.caption, entry.position],
            )?;
            if queue {
                tx.execute(
                    "INSERT INTO downloads (url, state) VALUES (?1, 'queued')
                     ON CONFLICT (url) DO UPDATE SET state = 'queued', reason = NULL, detail = NULL",
                    [&entry.url],
                )?;
            }
        }
        summary.removed = tx.execute(
            "UPDATE catalog_entries SET active = 0 WHERE partner = ?1 AND active = -1",
            [partner],
        )? as u64;
        for problem in problems {
            tx.execute(
                "INSERT OR REPLACE INTO catalog_errors (partner, file, line, message) VALUES (?1, ?2, ?3, ?4)",
                params![partner, file, problem.line, problem.message],
            )?;
        }
        tx.commit()?;
        Ok(summary)
    }

    /// Puts failed downloads back in the queue.
    pub fn requeue_failed_downloads(&self) -> Result<u64> {
        Ok(self.conn.execute(
            "UPDATE downloads SET state = 'queued' WHERE state = 'failed'",
            [],
        )? as u64)
    }

    pub fn queued_downloads(&self) -> Result<Vec<DownloadJob>> {
        let mut statement = self.conn.prepare(
            "SELECT url, sha256, etag, last_modified FROM downloads WHERE state = 'queued' ORDER BY url",
        )?;
        let jobs = statement
            .query_map([], |row| {
                Ok(DownloadJob {
                    url: row.get(0)?,
                    sha256: row.get(1)?,
                    etag: row.get(2)?,
                    last_modified: row.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(jobs)
    }

    /// Records one fetch; the body must already be in the content store.
    pub fn record_download(
        &mut self,
        url: &str,
        attempts: u32,
        outcome: &DownloadOutcome,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        match outcome {
            DownloadOutcome::Stored {
                sha256,
                size,
                format,
                etag,
                last_modified,
            } => {
                tx.execute(
                    "UPDATE downloads SET state = 'done', sha256 = ?2, etag = ?3, last_modified = ?4,
                       attempts = attempts + ?5, reason = NULL, detail = NULL WHERE url = ?1",
                    params![url, sha256, etag, last_modified, attempts],
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO blobs (sha256, size, format, state) VALUES (?1, ?2, ?3, 'pending')",
                    params![sha256, size, format],
                )?;
            }
            DownloadOutcome::NotModified => {
                tx.execute(
                    "UPDATE downloads SET state = 'done', attempts = attempts + ?2, reason = NULL, detail = NULL
                     WHERE url = ?1",
                    params![url, attempts],
                )?;
            }
            DownloadOutcome::Failed { reason, detail } => {
                tx.execute(
                    "UPDATE downloads SET state = 'failed', attempts = attempts + ?2, reason = ?3, detail = ?4
                     WHERE url = ?1",
                    params![url, attempts, reason, detail],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Bodies stored but not yet fingerprinted.
    pub fn pending_blobs(&self) -> Result<Vec<String>> {
        let mut statement = self
            .conn
            .prepare("SELECT sha256 FROM blobs WHERE state = 'pending' ORDER BY sha256")?;
        let blobs = statement
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(blobs)
    }

    pub fn record_fingerprint(&self, sha256: &str, outcome: &FingerprintOutcome) -> Result<()> {
        match outcome {
            FingerprintOutcome::Done {
                width,
                height,
                dhash,
                tiles,
                quality,
            } => self.conn.execute(
                "UPDATE blobs SET state = 'done', width = ?2, height = ?3, dhash = ?4, tiles = ?5, quality = ?6,
                   reason = NULL, detail = NULL WHERE sha256 = ?1",
                params![sha256, width, height, dhash, tiles, quality],
            )?,
            FingerprintOutcome::Failed { reason, detail } => self.conn.execute(
                "UPDATE blobs SET state = 'failed', reason = ?2, detail = ?3 WHERE sha256 = ?1",
                params![sha256, reason, detail],
            )?,
        };
        Ok(())
    }

    /// Hotel groups that have at least one active catalog entry.
    pub fn hotel_groups(&self) -> Result<Vec<String>> {
        let mut statement = self.conn.prepare(
            "SELECT DISTINCT hotel_group FROM catalog_entries WHERE active = 1 ORDER BY hotel_group",
        )?;
        let groups = statement
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(groups)
    }

    /// The fingerprinted images that partners currently list for a hotel group.
    pub fn group_images(&self, hotel_group: &str) -> Result<Vec<GroupImage>> {
        let mut statement = self.conn.prepare(
            "SELECT b.sha256, b.size, b.width, b.height, b.dhash, b.tiles, b.quality,
                    c.partner, c.position, c.caption
             FROM catalog_entries c
             JOIN downloads d ON d.url = c.url AND d.state = 'done'
             JOIN blobs b ON b.sha256 = d.sha256 AND b.state = 'done'
             WHERE c.hotel_group = ?1 AND c.active = 1
             ORDER BY b.sha256, c.partner",
        )?;
        let mut images: Vec<GroupImage> = Vec::new();
        let mut rows = statement.query([hotel_group])?;
        while let Some(row) = rows.next()? {
            let sha256: String = row.get(0)?;
            let partner: String = row.get(7)?;
            let position: i64 = row.get(8)?;
            let caption: Option<String> = row.get(9)?;
            if images.last().map(|image| &image.sha256) != Some(&sha256) {
                images.push(GroupImage {
                    sha256,
                    size: row.get(1)?,
                    width: row.get(2)?,
                    height: row.get(3)?,
                    dhash: row.get(4)?,
                    tiles: row.get(5)?,
                    quality: row.get(6)?,
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

    /// Replaces a hotel group's duplicate links: `links` maps every image to its canonical.
    pub fn replace_duplicates(
        &mut self,
        hotel_group: &str,
        links: &[(String, String)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM duplicates WHERE hotel_group = ?1",
            [hotel_group],
        )?;
        for (sha256, canonical) in links {
            tx.execute(
                "INSERT INTO duplicates (hotel_group, sha256, canonical) VALUES (?1, ?2, ?3)",
                params![hotel_group, sha256, canonical],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Drops dedupe and ranking rows of groups no partner lists any more.
    pub fn forget_groups_except(&mut self, groups: &[String]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "CREATE TEMP TABLE IF NOT EXISTS live_groups (name TEXT PRIMARY KEY)",
            [],
        )?;
        tx.execute("DELETE FROM live_groups", [])?;
        for group in groups {
            tx.execute("INSERT INTO live_groups (name) VALUES (?1)", [group])?;
        }
        for table in ["duplicates", "ranking"] {
            tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE hotel_group NOT IN (SELECT name FROM live_groups)"
                ),
                [],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// sha256 → canonical sha256 for one hotel group.
    pub fn duplicates(&self, hotel_group: &str) -> Result<BTreeMap<String, String>> {
        let mut statement = self
            .conn
            .prepare("SELECT sha256, canonical FROM duplicates WHERE hotel_group = ?1")?;
        let links = statement
            .query_map([hotel_group], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(links)
    }

    pub fn overrides(&self, hotel_group: &str) -> Result<Vec<(String, OverrideKind)>> {
        let mut statement = self
            .conn
            .prepare("SELECT sha256, kind FROM overrides WHERE hotel_group = ?1 ORDER BY sha256")?;
        let rows = statement
            .query_map([hotel_group], |row| {
                let kind: String = row.get(1)?;
                Ok((
                    row.get(0)?,
                    if kind == "first" {
                        OverrideKind::First
                    } else {
                        OverrideKind::Exclude
                    },
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Finds the stored image an operator means: a catalog URL of the hotel, or a sha256 prefix.
    pub fn resolve_image(&self, hotel_group: &str, image: &str) -> Result<String> {
        let mut statement = self.conn.prepare(
            "SELECT DISTINCT d.sha256 FROM catalog_entries c JOIN downloads d ON d.url = c.url
             WHERE c.hotel_group = ?1 AND d.sha256 IS NOT NULL AND (c.url = ?2 OR d.sha256 LIKE ?3 || '%')",
        )?;
        let matches: Vec<String> = statement
            .query_map(
                params![hotel_group, image, image.to_ascii_lowercase()],
                |row| row.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?;
        match matches.as_slice() {
            [one] => Ok(one.clone()),
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

    /// Sets an override; a hotel has at most one pinned first image.
    pub fn set_override(
        &mut self,
        hotel_group: &str,
        sha256: &str,
        kind: OverrideKind,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        if kind == OverrideKind::First {
            tx.execute(
                "DELETE FROM overrides WHERE hotel_group = ?1 AND kind = 'first'",
                [hotel_group],
            )?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO overrides (hotel_group, sha256, kind) VALUES (?1, ?2, ?3)",
            params![hotel_group, sha256, kind.as_str()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces a hotel group's ranking: (sha256, rank, score) for every kept image.
    pub fn replace_ranking(
        &mut self,
        hotel_group: &str,
        ranking: &[(String, i64, f64)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM ranking WHERE hotel_group = ?1", [hotel_group])?;
        for (sha256, rank, score) in ranking {
            tx.execute(
                "INSERT INTO ranking (hotel_group, sha256, rank, score) VALUES (?1, ?2, ?3, ?4)",
                params![hotel_group, sha256, rank, score],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn ranking(&self) -> Result<Vec<RankedImage>> {
        let mut statement = self
            .conn
            .prepare("SELECT hotel_group, sha256, rank FROM ranking ORDER BY hotel_group, rank")?;
        let rows = statement
            .query_map([], |row| {
                Ok(RankedImage {
                    hotel_group: row.get(0)?,
                    sha256: row.get(1)?,
                    rank: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// One hotel's kept images in order.
    pub fn hotel_ranking(&self, hotel_group: &str) -> Result<Vec<RankingRow>> {
        let mut statement = self.conn.prepare(
            "SELECT r.rank, r.sha256, r.score, c.url
             FROM ranking r
             JOIN duplicates k ON k.hotel_group = r.hotel_group AND k.canonical = r.sha256
             JOIN downloads d ON d.sha256 = k.sha256
             JOIN catalog_entries c ON c.url = d.url AND c.hotel_group = r.hotel_group AND c.active = 1
             WHERE r.hotel_group = ?1
             ORDER BY r.rank, c.url",
        )?;
        let mut ranking: Vec<RankingRow> = Vec::new();
        let mut rows = statement.query([hotel_group])?;
        while let Some(row) = rows.next()? {
            let rank: i64 = row.get(0)?;
            let url: String = row.get(3)?;
            match ranking.last_mut() {
                Some(last) if last.rank == rank => {
                    if !last.urls.contains(&url) {
                        last.urls.push(url);
                    }
                }
                _ => ranking.push(RankingRow {
                    rank,
                    image: row.get(1)?,
                    score: row.get(2)?,
                    urls: vec![url],
                }),
            }
        }
        Ok(ranking)
    }

    /// The digest an output was rendered with, if it was.
    pub fn output_digest(
        &self,
        hotel_group: &str,
        sha256: &str,
        config: &str,
    ) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT digest FROM outputs WHERE hotel_group = ?1 AND sha256 = ?2 AND config = ?3",
                params![hotel_group, sha256, config],
                |row| row.get(0),
            )
            .optional()?)
    }

    pub fn record_output(
        &self,
        hotel_group: &str,
        sha256: &str,
        config: &str,
        digest: &str,
        path: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO outputs (hotel_group, sha256, config, digest, path) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hotel_group, sha256, config, digest, path],
        )?;
        Ok(())
    }

    /// url → sha256 for every stored download, for evaluation.
    pub fn downloaded_urls(&self) -> Result<BTreeMap<String, String>> {
        let mut statement = self.conn.prepare(
            "SELECT url, sha256 FROM downloads WHERE state = 'done' AND sha256 IS NOT NULL",
        )?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn status(&self) -> Result<Status> {
        let tx = Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Deferred)?;
        let counts = |sql: &str| -> Result<BTreeMap<String, u64>> {
            let mut statement = tx.prepare(sql)?;
            let rows = statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        };
        let count = |sql: &str| -> Result<u64> { Ok(tx.query_row(sql, [], |row| row.get(0))?) };
        let mut errors =
            tx.prepare("SELECT file, line, message FROM catalog_errors ORDER BY file, line")?;
        let catalog_errors = errors
            .query_map([], |row| {
                Ok(CatalogProblem {
                    file: row.get(0)?,
                    line: row.get(1)?,
                    message: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Status {
            catalog_entries: counts(
                "SELECT CASE active WHEN 1 THEN 'active' ELSE 'removed' END, COUNT(*) FROM catalog_entries GROUP BY 1",
            )?,
            catalog_errors,
            downloads: counts("SELECT state, COUNT(*) FROM downloads GROUP BY state")?,
            download_failures: counts(
                "SELECT reason, COUNT(*) FROM downloads WHERE state = 'failed' GROUP BY reason",
            )?,
            images: counts("SELECT state, COUNT(*) FROM blobs GROUP BY state")?,
            image_failures: counts("SELECT reason, COUNT(*) FROM blobs WHERE state = 'failed' GROUP BY reason")?,
            duplicate_groups: count(
                "SELECT COUNT(*) FROM (SELECT 1 FROM duplicates GROUP BY hotel_group, canonical HAVING COUNT(*) > 1)",
            )?,
            duplicates: count("SELECT COUNT(*) FROM duplicates WHERE sha256 != canonical")?,
            ranked: count("SELECT COUNT(*) FROM ranking")?,
            excluded: count("SELECT COUNT(*) FROM overrides WHERE kind = 'exclude'")?,
            outputs: count("SELECT COUNT(*) FROM outputs")?,
        })
    }
}
