//! The fingerprint stage: decode each stored body once and record its whole-image dHash, its
//! tile hashes and its quality features (or why it could not be decoded).

use futures_util::stream::{self, StreamExt};

use crate::decode::{self, DecodeLimits};
use crate::dhash::{dhash_grey, to_pillow_grey, MIN_DECODE_SIDE};
use crate::progress;
use crate::quality;
use crate::store::{FingerprintOutcome, Stage};
use crate::tiles::tiles;
use crate::worker::{Context, StageResult};

#[derive(Debug, Default, serde::Serialize)]
pub struct FingerprintSummary {
    pub done: u64,
    pub failed: u64,
}

/// Fingerprints one body, in its stored orientation (ImageHash ignores EXIF orientation, so
/// applying it would break parity); the recorded width and height are the displayed ones, which
/// prioritise scores. A large JPEG is decoded reduced, with more pixels left than the tiles'
/// working copy and the quality thumbnail use.
pub fn fingerprint(body: &[u8], limits: DecodeLimits) -> FingerprintOutcome {
    match decode::decode_reduced(body, limits, MIN_DECODE_SIDE) {
        Ok(decoded) => {
            let (width, height) = decoded.upright_size();
            let image = decoded.image;
            let grey = to_pillow_grey(&image);
            FingerprintOutcome::Done {
                width,
                height,
                dhash: dhash_grey(&grey).to_string(),
                tiles: tiles(&grey).to_bytes(),
                quality: serde_json::to_string(&quality::measure(&image))
                    .expect("plain numbers serialise"),
            }
        }
        Err(error) => FingerprintOutcome::Failed {
            reason: error.reason().to_owned(),
            detail: error.to_string(),
        },
    }
}

/// Fingerprints stored bodies on `jobs` threads, claimed in batches; results are recorded as
/// they finish, a few per transaction, so a killed worker loses at most its batch in flight.
pub async fn run(
    context: &Context,
    limits: DecodeLimits,
    jobs: usize,
) -> StageResult<FingerprintSummary> {
    let store = &context.store;
    let bar = progress::bar(
        store.work_count(Stage::Fingerprint).await? as usize,
        "fingerprint",
        context.quiet,
    );
    let mut summary = FingerprintSummary::default();
    let jobs = jobs.max(1);
    loop {
        let claimed = store
            .claim_blobs(&context.owner, context.batch(jobs), context.lease)
            .await?;
        if claimed.is_empty() {
            if context.idle(Stage::Fingerprint).await? {
                break;
            }
            continue;
        }
        let mut finished = stream::iter(claimed)
            .map(|claimed| async move {
                let outcome = match context.blobs.read(&claimed.item).await {
                    Ok(body) => tokio::task::spawn_blocking(move || fingerprint(&body, limits))
                        .await
                        .expect("fingerprinting does not panic"),
                    Err(error) => FingerprintOutcome::Failed {
                        reason: "missing-body".to_owned(),
                        detail: error.to_string(),
                    },
                };
                (claimed, outcome)
            })
            .buffer_unordered(jobs)
            .ready_chunks(jobs);
        while let Some(results) = finished.next().await {
            for (claimed, outcome) in &results {
                match outcome {
                    FingerprintOutcome::Done { .. } => summary.done += 1,
                    FingerprintOutcome::Failed { reason, detail } => {
                        summary.failed += 1;
                        tracing::warn!("image {}: {reason}: {detail}", claimed.item);
                    }
                }
            }
            let accepted = context
                .retrying(|| store.complete_fingerprints(&context.owner, &results))
                .await?;
            context.count(Stage::Fingerprint, "done", accepted);
            context.lost(Stage::Fingerprint, results.len(), accepted);
            bar.inc(results.len() as u64);
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}
