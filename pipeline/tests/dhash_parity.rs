//! `imgpipe hash` against the real ImageHash 4.3.2 (with Pillow) on the same files: every PNG
//! must match exactly; JPEG decoders differ slightly (zune-jpeg, or jpeg-decoder's scaled IDCT
//! for large JPEGs, vs libjpeg-turbo), so at least 95 % of JPEGs must match exactly and the rest
//! within 2 bits.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Builds the corpus next to the scikit-image photos: the photos themselves, JPEG re-encodes at
/// several qualities and subsamplings, and synthetic PNGs in every mode Pillow opens
/// differently (RGBA, palette, LA, 16-bit grey, 1-bit), tiny and large. Then prints
/// `file<TAB>imagehash.dhash` for each.
const CORPUS_AND_ORACLE: &str = r#"
import os, sys, random, shutil
import numpy as np
from PIL import Image
import imagehash

data, out = sys.argv[1], sys.argv[2]
files = []
for name in sorted(os.listdir(data)):
    if name.endswith((".png", ".jpg")):
        target = os.path.join(out, name)
        shutil.copy(os.path.join(data, name), target)
        files.append(target)
        image = Image.open(target).convert("RGB")
        for quality, subsampling in [(95, 0), (75, 2), (50, 2), (30, 1)]:
            target = os.path.join(out, f"{name}.q{quality}.jpg")
            image.save(target, "JPEG", quality=quality, subsampling=subsampling)
            files.append(target)

rng = np.random.default_rng(6)
def save(name, image, **kw):
    target = os.path.join(out, name)
    image.save(target, **kw)
    files.append(target)

h, w = 600, 900
y, x = np.mgrid[0:h, 0:w]
scene = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) % 256)], axis=-1).astype(np.uint8)
scene = np.clip(scene + rng.normal(0, 20, scene.shape), 0, 255).astype(np.uint8)
save("gradient-noise.png", Image.fromarray(scene))
save("gradient-noise.jpg", Image.fromarray(scene), quality=85)
rgba = np.dstack([scene, (x % 256).astype(np.uint8)])
save("rgba.png", Image.fromarray(rgba))
save("palette.png", Image.fromarray(scene).quantize(64))
save("la.png", Image.fromarray(np.dstack([scene[..., 0], scene[..., 1]])))
save("grey16.png", Image.fromarray(((x * 37 + y * 11) % 4000).astype(np.uint16)))
save("bilevel.png", Image.fromarray(scene[..., 0] > 128).convert("1"))
save("tiny.png", Image.fromarray(scene[:5, :7]))
save("tall.png", Image.fromarray(scene[:, :40]))
big = np.clip(rng.normal(128, 60, (2400, 3200, 3)), 0, 255).astype(np.uint8)
big[::97, :, :] = 255
save("big-noise.png", Image.fromarray(big))
save("big-noise.jpg", Image.fromarray(big), quality=90)
for path in files:
    print(f"{path}\t{imagehash.dhash(Image.open(path))}")
"#;

#[test]
fn dhash_matches_imagehash_on_png_and_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("oracle.py");
    std::fs::write(&script, CORPUS_AND_ORACLE).unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    let oracle_output = common::run_python(&[
        script.to_str().unwrap(),
        common::skimage_data().to_str().unwrap(),
        corpus.to_str().unwrap(),
    ]);
    let oracle: BTreeMap<String, String> = oracle_output
        .lines()
        .map(|line| {
            let (file, hash) = line.split_once('\t').expect("file<TAB>hash");
            (file.to_owned(), hash.to_owned())
        })
        .collect();
    assert!(oracle.len() > 100, "corpus too small: {}", oracle.len());

    let output = Command::new(env!("CARGO_BIN_EXE_imgpipe"))
        .args(["hash", "--json"])
        .args(oracle.keys())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ours: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(ours.len(), oracle.len());

    let (mut png_total, mut jpeg_total, mut jpeg_exact) = (0, 0, 0);
    let mut report = Vec::new();
    for entry in &ours {
        let file = entry["file"].as_str().unwrap();
        let hash = entry["dhash"].as_str().unwrap();
        let expected = &oracle[file];
        let distance = (u64::from_str_radix(hash, 16).unwrap()
            ^ u64::from_str_radix(expected, 16).unwrap())
        .count_ones();
        let is_jpeg = Path::new(file).extension().is_some_and(|e| e == "jpg");
        if is_jpeg {
            jpeg_total += 1;
            jpeg_exact += usize::from(distance == 0);
            assert!(
                distance <= 2,
                "{file}: imgpipe {hash}, ImageHash {expected}: {distance} bits apart"
            );
        } else {
            png_total += 1;
            assert_eq!(hash, expected, "{file}: PNG hashes must be identical");
        }
        if distance > 0 {
            report.push(format!("{file}: {distance} bits"));
        }
    }
    assert!(
        png_total >= 30 && jpeg_total >= 100,
        "{png_total} PNG, {jpeg_total} JPEG"
    );
    assert!(
        jpeg_exact * 100 >= jpeg_total * 95,
        "only {jpeg_exact}/{jpeg_total} JPEGs exact: {report:#?}"
    );
    eprintln!(
        "dHash parity: {png_total}/{png_total} PNG exact, {jpeg_exact}/{jpeg_total} JPEG exact"
    );
}

#[test]
fn hash_reports_bad_files_by_name_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("page.jpg");
    std::fs::write(&bad, b"<html>not a picture</html>").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_imgpipe"))
        .arg("hash")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("page.jpg") && stderr.contains("not an image"),
        "{stderr}"
    );
}
