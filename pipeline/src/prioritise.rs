//! The prioritise stage: score each hotel's canonical images by measurable features and order
//! them. Manual overrides (`imgpipe override`, the review desk's pin, exclude and explicit
//! order) win over the score.
//!
//! The first image is what a traveller sees: captions naming a bathroom or toilet never lead,
//! whatever their score.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt};

use crate::progress;
use crate::quality::Quality;
use crate::store::{GroupImage, GroupStage, Overrides, Stage};
use crate::worker::{Context, StageError, StageResult};

/// Caption words that keep an image out of first place.
const NEVER_FIRST: &[&str] = &[
    "toilet", "bathroom", "restroom", "wc", "lavatory", "washroom",
];

/// Features of one canonical image, each scaled to 0..1 (higher is better).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Features {
    pub resolution: f64,
    pub sharpness: f64,
    pub exposure: f64,
    pub colourfulness: f64,
    pub aspect: f64,
    pub partners: f64,
}

impl Features {
    pub fn measure(width: u32, height: u32, quality: &Quality, partners: usize) -> Features {
        let short_side = f64::from(width.min(height));
        let ratio = f64::from(width) / f64::from(height.max(1));
        // Landscape 4:3 to 16:9 suits a gallery; portraits and panoramas less so.
        let aspect = if (1.2..=1.9).contains(&ratio) {
            1.0
        } else if ratio < 1.2 {
            (ratio / 1.2).powi(2)
        } else {
            (1.9 / ratio).powi(2)
        };
        Features {
            resolution: (short_side / 1200.0).min(1.0),
            sharpness: ((1.0 + quality.sharpness).log10() / 3.5).min(1.0),
            exposure: ((1.0 - 2.0 * (quality.brightness - 0.5).abs()) - quality.clipped).max(0.0),
            colourfulness: (quality.colourfulness / 100.0).min(1.0),
            aspect,
            partners: (partners as f64 / 3.0).min(1.0),
        }
    }

    pub fn score(&self) -> f64 {
        0.25 * self.resolution
            + 0.25 * self.sharpness
            + 0.15 * self.exposure
            + 0.10 * self.colourfulness
            + 0.10 * self.aspect
            + 0.15 * self.partners
    }
}

pub(crate) fn never_first(captions: &[String]) -> bool {
    captions.iter().any(|caption| {
        caption
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| NEVER_FIRST.contains(&word))
    })
}

/// One canonical image with what ordering needs.
struct Ranked {
    sha256: String,
    score: f64,
    pinned: bool,
    /// Place in the reviewer's explicit order, if it has one.
    placed: Option<usize>,
    demoted: bool,
    best_position: i64,
}

/// Orders a hotel group's canonical images; excluded ones are left out.
fn order(
    images: &[GroupImage],
    duplicates: &BTreeMap<String, String>,
    overrides: &Overrides,
) -> Vec<(String, i64, f64)> {
    let by_sha: BTreeMap<&str, &GroupImage> =
        images.iter().map(|i| (i.sha256.as_str(), i)).collect();
    let mut partners: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut captions: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut positions: BTreeMap<&str, i64> = BTreeMap::new();
    for image in images {
        let canonical = duplicates
            .get(&image.sha256)
            .map_or(image.sha256.as_str(), String::as_str);
        partners
            .entry(canonical)
            .or_default()
            .extend(image.partners.iter().map(String::as_str));
        captions
            .entry(canonical)
            .or_default()
            .extend(image.captions.iter().cloned());
        let best = positions.entry(canonical).or_insert(i64::MAX);
        *best = (*best).min(image.best_position);
    }
    let mut ranked: Vec<Ranked> = partners
        .keys()
        .filter(|&&sha| !overrides.excluded.contains(sha))
        .filter_map(|&sha| by_sha.get(sha).map(|image| (sha, image)))
        .map(|(sha, image)| {
            let quality: Quality = serde_json::from_str(&image.quality).unwrap_or_default();
            let features =
                Features::measure(image.width, image.height, &quality, partners[sha].len());
            Ranked {
                sha256: sha.to_owned(),
                score: features.score(),
                pinned: overrides.first.as_deref() == Some(sha),
                placed: overrides.order.iter().position(|s| s == sha),
                demoted: never_first(&captions[sha]),
                best_position: positions[sha],
            }
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.pinned
            .cmp(&a.pinned)
            .then(match (a.placed, b.placed) {
                (Some(a), Some(b)) => a.cmp(&b),
                (a, b) => b.is_some().cmp(&a.is_some()),
            })
            .then(b.score.total_cmp(&a.score))
            .then(a.best_position.cmp(&b.best_position))
            .then(a.sha256.cmp(&b.sha256))
    });
    // Only the lead is protected: a demoted image keeps its place further down. A reviewer's
    // explicit order is theirs to keep.
    if ranked
        .first()
        .is_some_and(|r| r.demoted && !r.pinned && r.placed.is_none())
    {
        if let Some(lead) = ranked.iter().position(|r| !r.demoted) {
            let lead = ranked.remove(lead);
            ranked.insert(0, lead);
        }
    }
    ranked
        .into_iter()
        .enumerate()
        .map(|(rank, r)| (r.sha256, rank as i64 + 1, r.score))
        .collect()
}

#[derive(Debug, Default, serde::Serialize)]
pub struct PrioritiseSummary {
    pub hotel_groups: u64,
    pub ranked: u64,
}

/// Ranks the hotel groups dedupe finished since they were last ranked.
pub async fn run(context: &Context, jobs: usize) -> StageResult<PrioritiseSummary> {
    let store = &context.store;
    let bar = progress::bar(
        store.work_count(Stage::Prioritise).await? as usize,
        "prioritise",
        context.quiet,
    );
    let mut summary = PrioritiseSummary::default();
    let jobs = jobs.max(1);
    loop {
        let claimed = store
            .claim_groups(
                GroupStage::Prioritise,
                &context.owner,
                context.batch(jobs),
                context.lease,
            )
            .await?;
        if claimed.is_empty() {
            if context.idle(Stage::Prioritise).await? {
                break;
            }
            continue;
        }
        let mut finished = stream::iter(claimed)
            .map(|claimed| async move {
                let group = &claimed.item.hotel_group;
                let images = store.group_images(group).await?;
                let duplicates = store.duplicates(group).await?;
                let overrides = store.group_overrides(group).await?;
                let ranking = order(&images, &duplicates, &overrides);
                let accepted = context
                    .retrying(|| store.complete_ranking(&context.owner, &claimed, &ranking))
                    .await?;
                Ok::<_, StageError>((ranking.len(), accepted))
            })
            .buffer_unordered(jobs);
        while let Some(result) = finished.next().await {
            let (ranked, accepted) = result?;
            context.lost(Stage::Prioritise, 1, u64::from(accepted));
            if accepted {
                context.count(Stage::Prioritise, "done", 1);
                summary.hotel_groups += 1;
                summary.ranked += ranked as u64;
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(sha: &str, width: u32, sharpness: f64, caption: Option<&str>) -> GroupImage {
        GroupImage {
            sha256: sha.to_owned(),
            size: 1000,
            width,
            height: width * 3 / 4,
            dhash: "0000000000000000".to_owned(),
            tiles: Vec::new(),
            quality: serde_json::to_string(&Quality {
                sharpness,
                brightness: 0.5,
                clipped: 0.0,
                colourfulness: 40.0,
            })
            .unwrap(),
            partners: vec!["p1".to_owned()],
            best_position: 0,
            captions: caption.map(str::to_owned).into_iter().collect(),
        }
    }

    #[test]
    fn sharper_larger_first_toilet_never_first_overrides_win() {
        let images = vec![
            image("toilet", 2000, 900.0, Some("Bathroom with toilet")),
            image("sharp", 1600, 500.0, Some("Lobby")),
            image("blurry", 1600, 5.0, None),
        ];
        let duplicates = BTreeMap::new();
        let names =
            |ranking: Vec<(String, i64, f64)>| ranking.into_iter().map(|r| r.0).collect::<Vec<_>>();
        assert_eq!(
            names(order(&images, &duplicates, &Overrides::default())),
            ["sharp", "toilet", "blurry"]
        );
        let pinned = Overrides {
            first: Some("blurry".to_owned()),
            excluded: ["sharp".to_owned()].into(),
            ..Overrides::default()
        };
        assert_eq!(
            names(order(&images, &duplicates, &pinned)),
            ["blurry", "toilet"]
        );
        // An explicit order wins over the score and the caption rule; the pin still leads.
        let ordered = Overrides {
            order: vec!["toilet".to_owned(), "blurry".to_owned()],
            ..Overrides::default()
        };
        assert_eq!(
            names(order(&images, &duplicates, &ordered)),
            ["toilet", "blurry", "sharp"]
        );
        let ordered_and_pinned = Overrides {
            first: Some("sharp".to_owned()),
            ..ordered
        };
        assert_eq!(
            names(order(&images, &duplicates, &ordered_and_pinned)),
            ["sharp", "toilet", "blurry"]
        );
    }
}
