//! `imgpipe eval`: dedupe quality against a ground truth written by
//! `scripts/make-sample-partners`.
//!
//! The truth is JSON Lines, one object per catalog URL: `url`, `hotel_group`, `picture` (which
//! original picture it shows) and `transform` (`original` or the variant's name). Over all pairs
//! of URLs within a hotel group, a pair is *truly same* when both show the same picture and
//! *predicted same* when dedupe linked both to one canonical image.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dhash::DHash;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ground truth {path}: {message}")]
    Truth { path: String, message: String },
}

#[derive(Clone, Debug, Deserialize)]
pub struct TruthLine {
    pub url: String,
    pub hotel_group: String,
    pub picture: String,
    pub transform: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub true_positive: u64,
    pub false_positive: u64,
    pub false_negative: u64,
    pub precision: f64,
    pub recall: f64,
}

impl Counts {
    fn add(&mut self, truly: bool, predicted: bool) {
        match (truly, predicted) {
            (true, true) => self.true_positive += 1,
            (false, true) => self.false_positive += 1,
            (true, false) => self.false_negative += 1,
            (false, false) => {}
        }
    }

    fn finish(&mut self) {
        let ratio = |a: u64, b: u64| {
            if a + b == 0 {
                1.0
            } else {
                a as f64 / (a + b) as f64
            }
        };
        self.precision = ratio(self.true_positive, self.false_positive);
        self.recall = ratio(self.true_positive, self.false_negative);
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Truth URLs that reached dedupe (downloaded and decoded).
    pub evaluated: u64,
    /// Truth URLs that did not (failed download or decode): they are not in the pairs.
    pub missing: u64,
    pub overall: Counts,
    /// Pairs (original, variant) by the variant's transform; precision counts every predicted
    /// pair that involves a variant of that transform.
    pub per_transform: BTreeMap<String, Counts>,
    /// Predicted groups that mix different pictures.
    pub over_merged_groups: Vec<Vec<String>>,
    /// Whole-image dHash distance (0..=64 bits) of every pair: how many truly same pairs and
    /// how many truly different pairs are that far apart.
    pub distances: Distances,
}

#[derive(Debug, Serialize)]
pub struct Distances {
    pub same: Vec<u64>,
    pub different: Vec<u64>,
}

impl Default for Distances {
    fn default() -> Self {
        Distances {
            same: vec![0; 65],
            different: vec![0; 65],
        }
    }
}

pub fn read_truth(path: &Path) -> Result<Vec<TruthLine>, EvalError> {
    let error = |message: String| EvalError::Truth {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|e| error(format!("line {}: {e}", index + 1)))
        })
        .collect()
}

pub async fn evaluate(store: &Store, truth: &[TruthLine]) -> Result<Report, EvalError> {
    let urls = store.downloaded_urls().await?;
    let mut canonical_by_group: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    let mut dhashes: BTreeMap<String, DHash> = BTreeMap::new();
    for line in truth {
        if !canonical_by_group.contains_key(line.hotel_group.as_str()) {
            canonical_by_group.insert(
                &line.hotel_group,
                store.duplicates(&line.hotel_group).await?,
            );
            for image in store.group_images(&line.hotel_group).await? {
                if let Some(hash) = DHash::from_hex(&image.dhash) {
                    dhashes.insert(image.sha256, hash);
                }
            }
        }
    }
    let mut report = Report::default();
    // (line, canonical) for every truth URL dedupe saw, per hotel group.
    let mut seen: BTreeMap<&str, Vec<(&TruthLine, &str)>> = BTreeMap::new();
    for line in truth {
        let canonical = urls
            .get(&line.url)
            .and_then(|sha| canonical_by_group[line.hotel_group.as_str()].get(sha));
        match canonical {
            Some(canonical) => {
                report.evaluated += 1;
                seen.entry(&line.hotel_group)
                    .or_default()
                    .push((line, canonical));
            }
            None => report.missing += 1,
        }
    }
    for items in seen.values() {
        for (i, (a, canonical_a)) in items.iter().enumerate() {
            for (b, canonical_b) in &items[i + 1..] {
                let truly = a.picture == b.picture;
                let predicted = canonical_a == canonical_b;
                let hash = |line: &TruthLine| urls.get(&line.url).and_then(|sha| dhashes.get(sha));
                if let (Some(x), Some(y)) = (hash(a), hash(b)) {
                    let bins = if truly {
                        &mut report.distances.same
                    } else {
                        &mut report.distances.different
                    };
                    bins[x.distance(*y) as usize] += 1;
                }
                report.overall.add(truly, predicted);
                for (x, y) in [(a, b), (b, a)] {
                    // Recall per transform: (original, variant) pairs. Precision: also every
                    // false merge that involves the variant.
                    let counted = x.transform == "original" || (predicted && !truly);
                    if counted && y.transform != "original" {
                        report
                            .per_transform
                            .entry(y.transform.clone())
                            .or_default()
                            .add(truly, predicted);
                    }
                }
            }
        }
        let mut pictures: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (line, canonical) in items {
            pictures.entry(canonical).or_default().insert(&line.picture);
        }
        report.over_merged_groups.extend(
            pictures
                .into_values()
                .filter(|p| p.len() > 1)
                .map(|p| p.into_iter().map(str::to_owned).collect()),
        );
    }
    report.overall.finish();
    report.per_transform.values_mut().for_each(Counts::finish);
    Ok(report)
}
