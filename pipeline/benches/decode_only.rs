//! Times imgpipe's decoding alone, the way `imgpipe hash` decodes (JPEG DCT scaling included),
//! with no grey conversion and no hashing: the floor under the fingerprint benchmark, which no
//! faster hashing can go below. `scripts/bench-imgpipe` runs it beside `imgpipe hash`.
//!
//! Usage: `cargo bench -p imgpipe --bench decode_only -- ROUNDS FILE...` prints the seconds.

use imgpipe::decode::{decode_reduced, DecodeLimits};
use imgpipe::dhash::MIN_DECODE_SIDE;

fn main() {
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    let rounds: usize = args
        .next()
        .and_then(|rounds| rounds.parse().ok())
        .expect("usage: decode_only ROUNDS FILE...");
    let bodies: Vec<Vec<u8>> = args
        .map(|file| std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}")))
        .collect();
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        for body in &bodies {
            // Files are read once: `imgpipe hash` reads each from the page cache, which is
            // cheap beside decoding.
            let decoded = decode_reduced(body, DecodeLimits::default(), MIN_DECODE_SIDE);
            std::hint::black_box(decoded.map(|d| d.image.width())).ok();
        }
    }
    println!("{}", start.elapsed().as_secs_f64());
}
