//! The dedupe stage: within each hotel group, group the images that show the same picture and
//! link every member to one canonical image. Nothing is deleted.
//!
//! Two images *match* when their whole-image dHashes are close, or when one's frame hash is
//! close to one of the other's window hashes (a crop, border or aspect crop). Plain union-find
//! over matches chains unrelated pictures (A matches B, B matches C, A and C differ), so groups
//! are merged strongest match first, and only when the merge is verified: at least half of the
//! pairs across the two groups pass a looser check, or a *core* member of each group (one that
//! matches more than half of its group, such as the uncropped original) match each other.
//! Crops of one original need the second rule: a 16:9 crop and a 10 % crop of the same photo do
//! not contain each other, but both are inside the original. A chain cannot grow through its
//! ends, which are never core.

use std::collections::HashMap;

use crate::dhash::DHash;
use futures_util::stream::{self, StreamExt};

use crate::progress;
use crate::store::{GroupImage, GroupStage, Overrides, Stage};
use crate::tiles::Tiles;
use crate::worker::{Context, StageError, StageResult};

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct DedupeOptions {
    /// Whole-image dHash distance for a match (§6 of the reference: precision 1.0 at 8).
    pub whole: u32,
    /// Frame-to-window distance for a match.
    pub tile: u32,
    /// Looser distances for the verification between groups.
    pub verify_whole: u32,
    pub verify_tile: u32,
    /// Fraction of cross pairs that must pass the looser check before two groups merge.
    pub verify_fraction: f64,
}

impl Default for DedupeOptions {
    fn default() -> Self {
        DedupeOptions {
            whole: 8,
            tile: 5,
            verify_whole: 12,
            verify_tile: 8,
            verify_fraction: 0.5,
        }
    }
}

/// What dedupe needs to know about one image.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: String,
    pub dhash: DHash,
    pub tiles: Tiles,
    pub pixels: u64,
    pub bytes: u64,
}

impl Candidate {
    pub fn from_group_image(image: &GroupImage) -> Candidate {
        Candidate {
            id: image.sha256.clone(),
            dhash: DHash::from_hex(&image.dhash).unwrap_or(DHash(0)),
            tiles: Tiles::from_bytes(&image.tiles).unwrap_or_default(),
            pixels: u64::from(image.width) * u64::from(image.height),
            bytes: image.size,
        }
    }
}

/// Distances between two images: whole-image, and best frame-to-window (if informative).
fn distances(a: &Candidate, b: &Candidate) -> (u32, Option<u32>) {
    (
        a.dhash.distance(b.dhash),
        a.tiles.containment_distance(&b.tiles),
    )
}

/// Groups candidates; returns, for each candidate in order, the index of its canonical.
/// Reviewers' overrides win over the hashes: a split pair never ends in one group (merges that
/// would join them are refused), and the groups of a merged pair are joined at the end.
pub fn group(
    candidates: &[Candidate],
    options: &DedupeOptions,
    overrides: &Overrides,
) -> Vec<usize> {
    let n = candidates.len();
    let index: HashMap<&str, usize> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    let pairs = |links: &[(String, String)]| -> Vec<(usize, usize)> {
        links
            .iter()
            .filter_map(|(x, y)| Some((*index.get(x.as_str())?, *index.get(y.as_str())?)))
            .collect()
    };
    let (apart, together) = (pairs(&overrides.apart), pairs(&overrides.together));
    let mut pair = vec![(u32::MAX, None); n * n];
    let mut edges = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            let (whole, tile) = distances(&candidates[i], &candidates[j]);
            pair[i * n + j] = (whole, tile);
            pair[j * n + i] = (whole, tile);
            // Rank edges by how far inside their threshold they are.
            let whole_margin = (whole <= options.whole).then(|| whole * 2);
            let tile_margin = tile.filter(|&t| t <= options.tile).map(|t| t * 2 + 1);
            if let Some(strength) = whole_margin.into_iter().chain(tile_margin).min() {
                edges.push((strength, i, j));
            }
        }
    }
    edges.sort_unstable();
    let loose = |i: usize, j: usize| {
        let (whole, tile) = pair[i * n + j];
        whole <= options.verify_whole || tile.is_some_and(|t| t <= options.verify_tile)
    };
    let strict = |i: usize, j: usize| {
        let (whole, tile) = pair[i * n + j];
        whole <= options.whole || tile.is_some_and(|t| t <= options.tile)
    };
    let best = |group: &[usize]| {
        *group
            .iter()
            .max_by(|&&x, &&y| prefer(&candidates[x], &candidates[y]))
            .expect("groups are not empty")
    };
    let core = |x: usize, group: &[usize]| {
        let degree = group.iter().filter(|&&y| y != x && strict(x, y)).count();
        group.len() == 1 || degree * 2 > group.len() - 1
    };
    let mut cluster_of: Vec<usize> = (0..n).collect();
    let mut members: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    for (_, i, j) in edges {
        let (a, b) = (cluster_of[i], cluster_of[j]);
        let split = |&(x, y): &(usize, usize)| {
            let (x, y) = (cluster_of[x], cluster_of[y]);
            (x, y) == (a, b) || (x, y) == (b, a)
        };
        if a == b || apart.iter().any(split) {
            continue;
        }
        let total = members[a].len() * members[b].len();
        let passing = members[a]
            .iter()
            .flat_map(|&x| members[b].iter().map(move |&y| (x, y)))
            .filter(|&(x, y)| loose(x, y))
            .count();
        let verified = passing as f64 >= options.verify_fraction * total as f64
            || members[a].iter().any(|&x| {
                core(x, &members[a])
                    && members[b]
                        .iter()
                        .any(|&y| strict(x, y) && core(y, &members[b]))
            });
        if !verified {
            continue;
        }
        join(&mut cluster_of, &mut members, a, b);
    }
    for (x, y) in together {
        let (a, b) = (cluster_of[x], cluster_of[y]);
        if a != b {
            join(&mut cluster_of, &mut members, a, b);
        }
    }
    let mut canonical = vec![0; n];
    for group in members.iter().filter(|g| !g.is_empty()) {
        let best = best(group);
        for &m in group {
            canonical[m] = best;
        }
    }
    canonical
}

/// Joins clusters `a` and `b` into the larger one.
fn join(cluster_of: &mut [usize], members: &mut [Vec<usize>], a: usize, b: usize) {
    let (keep, gone) = if members[a].len() >= members[b].len() {
        (a, b)
    } else {
        (b, a)
    };
    let moved = std::mem::take(&mut members[gone]);
    for &m in &moved {
        cluster_of[m] = keep;
    }
    members[keep].extend(moved);
}

/// Which of two images makes the better canonical: the largest, then the least compressed
/// (more bytes per pixel), then a stable order of ids.
fn prefer(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    let bytes_per_pixel = |c: &Candidate| c.bytes as f64 / c.pixels.max(1) as f64;
    a.pixels
        .cmp(&b.pixels)
        .then(bytes_per_pixel(a).total_cmp(&bytes_per_pixel(b)))
        .then(b.id.cmp(&a.id))
}

#[derive(Debug, Default, serde::Serialize)]
pub struct DedupeSummary {
    pub hotel_groups: u64,
    pub images: u64,
    pub canonical: u64,
}

/// Dedupes the hotel groups whose inputs changed, once all their images are downloaded and
/// fingerprinted; groups no partner lists any more end with no links.
pub async fn run(
    context: &Context,
    options: &DedupeOptions,
    jobs: usize,
) -> StageResult<DedupeSummary> {
    let store = &context.store;
    let bar = progress::bar(
        store.work_count(Stage::Dedupe).await? as usize,
        "dedupe",
        context.quiet,
    );
    let mut summary = DedupeSummary::default();
    let jobs = jobs.max(1);
    loop {
        let claimed = store
            .claim_groups(
                GroupStage::Dedupe,
                &context.owner,
                context.batch(jobs),
                context.lease,
            )
            .await?;
        if claimed.is_empty() {
            if context.idle(Stage::Dedupe).await? {
                break;
            }
            continue;
        }
        let mut finished = stream::iter(claimed)
            .map(|claimed| async move {
                let images = store.group_images(&claimed.item.hotel_group).await?;
                let overrides = store.group_overrides(&claimed.item.hotel_group).await?;
                let options = *options;
                let links = tokio::task::spawn_blocking(move || {
                    let candidates: Vec<Candidate> =
                        images.iter().map(Candidate::from_group_image).collect();
                    let canonical = group(&candidates, &options, &overrides);
                    candidates
                        .iter()
                        .zip(&canonical)
                        .map(|(c, &k)| (c.id.clone(), candidates[k].id.clone()))
                        .collect::<Vec<(String, String)>>()
                })
                .await
                .expect("grouping does not panic");
                let accepted = context
                    .retrying(|| store.complete_dedupe(&context.owner, &claimed, &links))
                    .await?;
                Ok::<_, StageError>((links, accepted))
            })
            .buffer_unordered(jobs);
        while let Some(result) = finished.next().await {
            let (links, accepted) = result?;
            context.lost(Stage::Dedupe, 1, u64::from(accepted));
            if accepted {
                context.count(Stage::Dedupe, "done", 1);
                summary.hotel_groups += 1;
                summary.images += links.len() as u64;
                summary.canonical += links.iter().filter(|(a, b)| a == b).count() as u64;
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

    fn candidate(id: &str, dhash: u64, pixels: u64) -> Candidate {
        Candidate {
            id: id.to_owned(),
            dhash: DHash(dhash),
            tiles: Tiles::default(),
            pixels,
            bytes: pixels / 4,
        }
    }

    #[test]
    fn near_hashes_group_and_the_largest_is_canonical() {
        let candidates = [
            candidate("small", 0x0f0f_0f0f_0f0f_0f0f, 100),
            candidate("large", 0x0f0f_0f0f_0f0f_0f0e, 400),
            candidate("other", 0xf0f0_f0f0_f0f0_f0f0, 900),
        ];
        assert_eq!(
            group(
                &candidates,
                &DedupeOptions::default(),
                &Overrides::default()
            ),
            vec![1, 1, 2]
        );
    }

    #[test]
    fn a_split_pair_stays_apart_and_a_merged_pair_together() {
        let candidates = [
            candidate("large", 0x0f0f_0f0f_0f0f_0f0f, 400),
            candidate("copy", 0x0f0f_0f0f_0f0f_0f0e, 100),
            candidate("other", 0xf0f0_f0f0_f0f0_f0f0, 900),
        ];
        let options = DedupeOptions::default();
        let split = Overrides {
            apart: vec![("copy".to_owned(), "large".to_owned())],
            ..Overrides::default()
        };
        assert_eq!(group(&candidates, &options, &split), vec![0, 1, 2]);
        let merged = Overrides {
            together: vec![("other".to_owned(), "copy".to_owned())],
            ..Overrides::default()
        };
        assert_eq!(group(&candidates, &options, &merged), vec![2, 2, 2]);
    }

    #[test]
    fn verification_stops_a_chain_of_unrelated_pictures() {
        // a–b and b–c are 8 bits apart, a–c 16: a chain. d continues it to 24 bits from a.
        let a = 0u64;
        let b = 0xffu64;
        let c = 0xffffu64;
        let d = 0xff_ffffu64;
        let candidates = [
            candidate("a", a, 100),
            candidate("b", b, 100),
            candidate("c", c, 100),
            candidate("d", d, 100),
        ];
        let canonical = group(
            &candidates,
            &DedupeOptions::default(),
            &Overrides::default(),
        );
        let groups: std::collections::BTreeSet<usize> = canonical.iter().copied().collect();
        assert!(
            groups.len() >= 2,
            "the chain a-b-c-d must not become one group: {canonical:?}"
        );
        assert_ne!(canonical[0], canonical[3]);
    }
}
