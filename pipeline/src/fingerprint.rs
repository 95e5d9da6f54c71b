//! The fingerprint stage: decode each stored body once and record its whole-image dHash, its
//! tile hashes and its quality features (or why it could not be decoded).

use std::sync::mpsc;
use std::sync::Mutex;

use crate::blobstore::BlobStore;
use crate::decode::{self, DecodeLimits};
use crate::dhash::{dhash_grey, to_pillow_grey, MIN_DECODE_SIDE};
use crate::progress;
use crate::quality;
use crate::store::{FingerprintOutcome, Store, StoreError};
use crate::tiles::tiles;

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

/// Fingerprints every pending body on `jobs` threads; results are committed one by one from
/// this thread, so a killed run keeps everything recorded so far.
pub fn run(
    store: &Store,
    blobs: &BlobStore,
    limits: DecodeLimits,
    jobs: usize,
    quiet: bool,
) -> Result<FingerprintSummary, StoreError> {
    let pending = store.pending_blobs()?;
    let bar = progress::bar(pending.len(), "fingerprint", quiet);
    let queue = Mutex::new(pending.into_iter());
    let (sender, receiver) = mpsc::channel();
    let mut summary = FingerprintSummary::default();
    std::thread::scope(|scope| -> Result<(), StoreError> {
        for _ in 0..jobs.max(1) {
            let sender = sender.clone();
            let queue = &queue;
            scope.spawn(move || loop {
                let Some(sha256) = queue.lock().expect("queue lock").next() else {
                    break;
                };
                let outcome = match blobs.read(&sha256) {
                    Ok(body) => fingerprint(&body, limits),
                    Err(error) => FingerprintOutcome::Failed {
                        reason: "missing-body".to_owned(),
                        detail: error.to_string(),
                    },
                };
                if sender.send((sha256, outcome)).is_err() {
                    break;
                }
            });
        }
        drop(sender);
        for (sha256, outcome) in receiver {
            match &outcome {
                FingerprintOutcome::Done { .. } => summary.done += 1,
                FingerprintOutcome::Failed { reason, detail } => {
                    summary.failed += 1;
                    tracing::warn!("image {sha256}: {reason}: {detail}");
                }
            }
            store.record_fingerprint(&sha256, &outcome)?;
            bar.inc(1);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    Ok(summary)
}
