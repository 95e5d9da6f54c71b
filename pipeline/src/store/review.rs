//! The review desk's state: actions people take on a hotel (`imgpipe review`), kept as overrides
//! that dedupe and prioritise apply on every run until they are undone, and what the desk's
//! pages read (variants per partner, the ranking, the hotels list).

use std::collections::BTreeSet;

use serde::Serialize;

use super::{now_ms, on_engine, work, BeginWrite, Result, Stage, Store};

/// What a review action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Pin an image first.
    First,
    /// Leave an image out of the ranking.
    Exclude,
    /// An explicit order of the hotel's images (move up / down).
    Order,
    /// "Not the same picture": an image never shares a duplicate set with another.
    Split,
    /// Two duplicate sets are one.
    Merge,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::First => "first",
            ActionKind::Exclude => "exclude",
            ActionKind::Order => "order",
            ActionKind::Split => "split",
            ActionKind::Merge => "merge",
        }
    }

    pub fn parse(text: &str) -> Option<ActionKind> {
        [
            ActionKind::First,
            ActionKind::Exclude,
            ActionKind::Order,
            ActionKind::Split,
            ActionKind::Merge,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// An action to record: `sha256` is the image acted on; `other` the second image of a split or
/// merge; `order` the explicit order of an `Order` action.
#[derive(Clone, Debug)]
pub struct NewAction {
    pub kind: ActionKind,
    pub sha256: String,
    pub other: Option<String>,
    pub order: Vec<String>,
}

/// A recorded action, as the audit list shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Action {
    pub id: i64,
    pub kind: String,
    pub sha256: String,
    pub other: Option<String>,
    pub detail: Option<String>,
    pub actor: String,
    /// Unix milliseconds.
    pub at: i64,
    pub undone_by: Option<String>,
    pub undone_at: Option<i64>,
}

/// The overrides in force for one hotel group: `imgpipe override` lines first, then the review
/// actions not undone, oldest first (a later pin or order replaces an earlier one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub first: Option<String>,
    pub excluded: BTreeSet<String>,
    /// Canonical images in the order a reviewer set; empty when none was set.
    pub order: Vec<String>,
    /// Pairs of images that are never in one duplicate set.
    pub apart: Vec<(String, String)>,
    /// Pairs of images whose duplicate sets are one.
    pub together: Vec<(String, String)>,
}

/// One partner's catalog line for a hotel group, with the stored image it fetched.
#[derive(Clone, Debug, Serialize)]
pub struct Variant {
    pub partner: String,
    pub partner_hotel: String,
    pub url: String,
    pub caption: Option<String>,
    pub sha256: String,
}

/// A kept image's place in its hotel's ranking.
#[derive(Clone, Debug, Serialize)]
pub struct RankedRow {
    pub sha256: String,
    pub rank: i64,
    pub score: f64,
}

type ActionRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<String>,
    Option<i64>,
);

const ACTION_COLUMNS: &str =
    "id, kind, sha256, other, detail, actor, at, undone_by, undone_at FROM review_actions";

fn action((id, kind, sha256, other, detail, actor, at, undone_by, undone_at): ActionRow) -> Action {
    Action {
        id,
        kind,
        sha256,
        other,
        detail,
        actor,
        at,
        undone_by,
        undone_at,
    }
}

impl Store {
    /// Records a review action and marks its hotel group changed, so dedupe and prioritise
    /// (here or on any worker of the fleet) run for it again. Returns the action's id.
    pub async fn record_action(
        &self,
        hotel_group: &str,
        new: &NewAction,
        actor: &str,
    ) -> Result<i64> {
        let detail = (new.kind == ActionKind::Order)
            .then(|| serde_json::to_string(&new.order).expect("strings serialise"));
        self.sent(4);
        let id = on_engine!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let (id,): (i64,) = sqlx::query_as(concat!(
                "INSERT INTO review_actions (hotel_group, kind, sha256, other, detail, actor, at)
                 VALUES ($1, $2, $3, $4, $5, $6, ", now_ms!(), ") RETURNING id"
            ))
            .bind(hotel_group)
            .bind(new.kind.as_str())
            .bind(&new.sha256)
            .bind(&new.other)
            .bind(&detail)
            .bind(actor)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(work::MARK_GROUP_CHANGED)
                .bind(hotel_group)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            id
        });
        self.notify(Stage::Dedupe).await?;
        Ok(id)
    }

    /// Undoes an action of a hotel group (recording who and when) and marks the group changed;
    /// false when there is no such action or it was already undone.
    pub async fn undo_action(&self, hotel_group: &str, id: i64, actor: &str) -> Result<bool> {
        self.sent(4);
        let undone = on_engine!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let undone = sqlx::query(concat!(
                "UPDATE review_actions SET undone_by = $3, undone_at = ", now_ms!(), "
                 WHERE hotel_group = $1 AND id = $2 AND undone_at IS NULL"
            ))
            .bind(hotel_group)
            .bind(id)
            .bind(actor)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if undone {
                sqlx::query(work::MARK_GROUP_CHANGED)
                    .bind(hotel_group)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            undone
        });
        if undone {
            self.notify(Stage::Dedupe).await?;
        }
        Ok(undone)
    }

    /// A hotel group's actions, newest first (the audit list).
    pub async fn actions(&self, hotel_group: &str) -> Result<Vec<Action>> {
        self.sent(1);
        let sql = format!("SELECT {ACTION_COLUMNS} WHERE hotel_group = $1 ORDER BY id DESC");
        let rows: Vec<ActionRow> = on_engine!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(hotel_group).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(action).collect())
    }

    /// The overrides in force for a hotel group.
    pub async fn group_overrides(&self, hotel_group: &str) -> Result<Overrides> {
        let mut overrides = Overrides::default();
        for (sha256, kind) in self.overrides(hotel_group).await? {
            match kind {
                super::OverrideKind::First => overrides.first = Some(sha256),
                super::OverrideKind::Exclude => {
                    overrides.excluded.insert(sha256);
                }
            }
        }
        self.sent(1);
        let sql = format!(
            "SELECT {ACTION_COLUMNS} WHERE hotel_group = $1 AND undone_at IS NULL ORDER BY id"
        );
        let rows: Vec<ActionRow> = on_engine!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(hotel_group).fetch_all(pool).await?
        });
        for action in rows.into_iter().map(action) {
            match (ActionKind::parse(&action.kind), action.other) {
                (Some(ActionKind::First), _) => overrides.first = Some(action.sha256),
                (Some(ActionKind::Exclude), _) => {
                    overrides.excluded.insert(action.sha256);
                }
                (Some(ActionKind::Order), _) => {
                    overrides.order = action
                        .detail
                        .and_then(|detail| serde_json::from_str(&detail).ok())
                        .unwrap_or_default();
                }
                (Some(ActionKind::Split), Some(other)) => {
                    overrides.apart.push((action.sha256, other))
                }
                (Some(ActionKind::Merge), Some(other)) => {
                    overrides.together.push((action.sha256, other))
                }
                _ => {}
            }
        }
        Ok(overrides)
    }

    /// Every active catalog line of a hotel group whose image is stored, by partner.
    pub async fn group_variants(&self, hotel_group: &str) -> Result<Vec<Variant>> {
        self.sent(1);
        let rows: Vec<(String, String, String, Option<String>, String)> = on_engine!(self, pool => {
            sqlx::query_as(
                "SELECT c.partner, c.partner_hotel, c.url, c.caption, d.sha256
                 FROM catalog_entries c JOIN downloads d ON d.url = c.url
                 WHERE c.hotel_group = $1 AND c.active = 1 AND d.sha256 IS NOT NULL
                 ORDER BY c.partner, c.partner_hotel, c.position",
            )
            .bind(hotel_group)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(partner, partner_hotel, url, caption, sha256)| Variant {
                partner,
                partner_hotel,
                url,
                caption,
                sha256,
            })
            .collect())
    }

    /// A hotel group's kept images in rank order.
    pub async fn ranked(&self, hotel_group: &str) -> Result<Vec<RankedRow>> {
        self.sent(1);
        let rows: Vec<(String, i64, f64)> = on_engine!(self, pool => {
            sqlx::query_as(
                "SELECT sha256, rank, score FROM ranking WHERE hotel_group = $1 ORDER BY rank",
            )
            .bind(hotel_group)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(sha256, rank, score)| RankedRow {
                sha256,
                rank,
                score,
            })
            .collect())
    }
}

/// One hotel group in the hotels list, with what its filters look at.
#[derive(Clone, Debug, Serialize)]
pub struct HotelRow {
    pub hotel_group: String,
    pub version: i64,
    pub ranked: i64,
    /// Unix ms of the last ranking (0: never).
    pub ranked_at: i64,
    pub images: i64,
    /// Members of the largest duplicate set.
    pub largest_set: i64,
    /// The first image: sha256, width, height, quality JSON.
    pub first: Option<(String, i64, i64, String)>,
    /// Captions partners gave the first image (any member of its duplicate set).
    pub first_captions: Vec<String>,
}

/// Where a page of the hotels list starts: after this group id, or (most recently ranked
/// first) after this (ranked_at, group id).
#[derive(Clone, Debug)]
pub enum HotelCursor {
    ById { prefix: String, after: String },
    Recent { before: Option<(i64, String)> },
}

type HotelSqlRow = (
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

const HOTEL_COLUMNS: &str = "SELECT g.hotel_group, g.version, g.ranked, COALESCE(g.ranked_at, 0),
        (SELECT CAST(COUNT(*) AS BIGINT) FROM ranking r WHERE r.hotel_group = g.hotel_group),
        (SELECT CAST(COALESCE(MAX(n), 0) AS BIGINT) FROM
           (SELECT COUNT(*) AS n FROM duplicates d WHERE d.hotel_group = g.hotel_group
            GROUP BY d.canonical) sets),
        f.sha256, b.width, b.height, b.quality
     FROM hotel_groups g
     LEFT JOIN ranking f ON f.hotel_group = g.hotel_group AND f.rank = 1
     LEFT JOIN blobs b ON b.sha256 = f.sha256";

impl Store {
    /// (version, ranked version) of a hotel group; None when the store has no such group.
    pub async fn group_versions(&self, hotel_group: &str) -> Result<Option<(i64, i64)>> {
        self.sent(1);
        Ok(on_engine!(self, pool => {
            sqlx::query_as("SELECT version, ranked FROM hotel_groups WHERE hotel_group = $1")
                .bind(hotel_group)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Up to `limit` hotel groups from `cursor` on, read by keyset (an index range, never the
    /// whole table).
    pub async fn hotels_page(&self, cursor: &HotelCursor, limit: i64) -> Result<Vec<HotelRow>> {
        self.sent(2);
        let rows: Vec<HotelSqlRow> = match cursor {
            HotelCursor::ById { prefix, after } => {
                let sql = format!(
                    "{HOTEL_COLUMNS} WHERE g.hotel_group > $1 AND g.hotel_group >= $2
                     ORDER BY g.hotel_group LIMIT $3"
                );
                on_engine!(self, pool => {
                    sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(after).bind(prefix).bind(limit).fetch_all(pool).await?
                })
            }
            HotelCursor::Recent { before } => {
                let (at, group) = before.clone().unwrap_or((i64::MAX, String::new()));
                let sql = format!(
                    "{HOTEL_COLUMNS} WHERE g.ranked_at IS NOT NULL
                       AND (g.ranked_at < $1 OR (g.ranked_at = $1 AND g.hotel_group < $2))
                     ORDER BY g.ranked_at DESC, g.hotel_group DESC LIMIT $3"
                );
                let group = if before.is_some() {
                    group
                } else {
                    "\u{10ffff}".to_owned()
                };
                on_engine!(self, pool => {
                    sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(at).bind(group).bind(limit).fetch_all(pool).await?
                })
            }
        };
        let mut hotels: Vec<HotelRow> = rows
            .into_iter()
            .map(
                |(hotel_group, version, ranked, ranked_at, images, largest_set, sha, w, h, q)| {
                    HotelRow {
                        hotel_group,
                        version,
                        ranked,
                        ranked_at,
                        images,
                        largest_set,
                        first: sha.map(|sha| {
                            (sha, w.unwrap_or(0), h.unwrap_or(0), q.unwrap_or_default())
                        }),
                        first_captions: Vec::new(),
                    }
                },
            )
            .collect();
        if hotels.is_empty() {
            return Ok(hotels);
        }
        let placeholders: Vec<String> = (1..=hotels.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT c.hotel_group, c.caption FROM ranking r
             JOIN duplicates k ON k.hotel_group = r.hotel_group AND k.canonical = r.sha256
             JOIN downloads d ON d.sha256 = k.sha256
             JOIN catalog_entries c ON c.url = d.url AND c.hotel_group = r.hotel_group
             WHERE r.rank = 1 AND c.active = 1 AND c.caption IS NOT NULL
               AND r.hotel_group IN ({})",
            placeholders.join(", ")
        );
        let captions: Vec<(String, String)> = on_engine!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for hotel in &hotels {
                query = query.bind(&hotel.hotel_group);
            }
            query.fetch_all(pool).await?
        });
        for (group, caption) in captions {
            if let Some(hotel) = hotels.iter_mut().find(|h| h.hotel_group == group) {
                hotel.first_captions.push(caption);
            }
        }
        Ok(hotels)
    }
}
