//! Partner catalogs and bodies are untrusted: a catalog may not read local files unless told
//! to, hotel group ids cannot steer outputs out of (or across) folders, and decompression bombs
//! are refused per image before their pixels are allocated. Outputs are readable by others as
//! any file created under the umask. Each test runs on both state engines.

mod common;

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{imgpipe, json, ok, Engine, State};

/// One small output configuration keeps the renders cheap.
const ONE_CONFIG: &str =
    r#"[{"name": "s", "width": 40, "height": 30, "mode": "fit", "format": "png"}]"#;

fn picture(seed: u8) -> Vec<u8> {
    let mut png = Vec::new();
    image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8 ^ seed, (y * 5) as u8, seed.wrapping_mul(7)])
    })
    .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
    .unwrap();
    png
}

/// A PNG of a few dozen bytes whose header declares `side`×`side` pixels.
fn png_bomb(side: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend(kind);
        out.extend(data);
        let crc = crc32fast::hash(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = side.to_be_bytes().to_vec();
    header.extend(side.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(&mut png, b"IHDR", &header);
    // The start of a zlib stream of zero rows: all a bomb needs before the pixels are sized.
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0xDA, 0xED, 0xC1, 0x01, 0x0D, 0x00, 0x00],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A complete, valid 16×16 JPEG whose frame header is rewritten to declare `side`×`side`.
fn jpeg_bomb(side: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    image::RgbImage::from_pixel(16, 16, image::Rgb([90, 120, 150]))
        .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    let frame = jpeg
        .windows(2)
        .position(|pair| pair == [0xFF, 0xC0])
        .expect("baseline frame header");
    // FF C0, length (2), precision (1), height (2), width (2).
    jpeg[frame + 5..frame + 7].copy_from_slice(&side.to_be_bytes());
    jpeg[frame + 7..frame + 9].copy_from_slice(&side.to_be_bytes());
    jpeg
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// A CSV catalog of (hotel group, file) rows at file:// URLs.
fn catalog(dir: &Path, rows: &[(&str, &Path)]) -> PathBuf {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(["partner_hotel_id", "hotel_group_id", "image_url"])
        .unwrap();
    for (i, (group, file)) in rows.iter().enumerate() {
        let url = url::Url::from_file_path(file).unwrap();
        writer
            .write_record([format!("h{i}").as_str(), group, url.as_str()])
            .unwrap();
    }
    write(&dir.join("partner.csv"), &writer.into_inner().unwrap())
}

on_both_engines!(
    file_urls_need_the_flag_and_group_ids_stay_inside_their_own_folders:
        file_urls_and_group_ids_sqlite,
        file_urls_and_group_ids_postgres
);
fn file_urls_need_the_flag_and_group_ids_stay_inside_their_own_folders(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some(state) = State::new(engine, &dir.path().join("state")) else {
        return;
    };
    let out = dir.path().join("site/out");
    let config = write(&dir.path().join("config.json"), ONE_CONFIG.as_bytes());
    let groups = ["..", ".", "a/b", "a_b", "a b", "../../escaped"];
    let files: Vec<PathBuf> = (0..groups.len())
        .map(|i| {
            write(
                &dir.path().join(format!("p{i}.png")),
                &picture(i as u8 * 40),
            )
        })
        .collect();
    let rows: Vec<(&str, &Path)> = groups
        .iter()
        .zip(&files)
        .map(|(group, file)| (*group, file.as_path()))
        .collect();
    let catalog = catalog(dir.path(), &rows);
    let run = |extra: &[&str]| {
        // A plain create under umask 022 makes 0644 files: the outputs must be the same.
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg("umask 022 && exec \"$@\"")
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_imgpipe"));
        let imgpipe = imgpipe(&state);
        command.args(imgpipe.get_args());
        command
            .arg("run")
            .arg(format!("--catalog=partner={}", catalog.display()))
            .arg("--config")
            .arg(&config)
            .arg("--out")
            .arg(&out)
            .args(extra);
        json(&mut command)
    };

    // Refused by default, with a reason that says what to do.
    let refused = run(&[]);
    assert_eq!(refused["download"]["stored"], 0, "{refused:#}");
    let status = json(imgpipe(&state).arg("status"));
    assert_eq!(
        status["download_failures"]["file-url-refused"],
        groups.len(),
        "{status:#}"
    );
    assert!(!out.exists() || common::count_files(&out) == 0);

    let allowed = run(&["--allow-file-urls", "--retry-failed"]);
    assert_eq!(allowed["download"]["stored"], groups.len(), "{allowed:#}");
    assert_eq!(allowed["generate"]["rendered"], groups.len(), "{allowed:#}");

    // Every output is inside --out, each group in a folder of its own, readable by others.
    let mut folders = std::collections::BTreeSet::new();
    for entry in walk(&dir.path().join("site")) {
        let relative = entry
            .strip_prefix(&out)
            .unwrap_or_else(|_| panic!("{} is outside the output folder", entry.display()));
        let parts: Vec<_> = relative.components().collect();
        assert_eq!(parts.len(), 3, "{}", relative.display());
        folders.insert(parts[0].as_os_str().to_owned());
        let mode = std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{}: mode {mode:o}", entry.display());
    }
    assert_eq!(folders.len(), groups.len(), "{folders:?}");
    assert!(
        folders.contains(std::ffi::OsStr::new("%2E%2E")),
        "{folders:?}"
    );
    assert!(!dir.path().join("escaped").exists());
}

/// Every file under `root`.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

on_both_engines!(
    decompression_bombs_are_refused_per_image_in_bounded_memory:
        decompression_bombs_sqlite,
        decompression_bombs_postgres
);
fn decompression_bombs_are_refused_per_image_in_bounded_memory(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let png = write(&dir.path().join("bomb.png"), &png_bomb(100_000));
    let jpeg = write(&dir.path().join("bomb.jpg"), &jpeg_bomb(65_000));
    let fine = write(&dir.path().join("fine.png"), &picture(3));

    // `hash` under a 1 GiB address-space limit: a 100k×100k RGB buffer is 30 GB, so the
    // bombs must be refused from their headers, by name and reason, and the rest hashed.
    let output = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_imgpipe"))
        .args(["hash", "--json"])
        .args([&png, &jpeg, &fine])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let hashes: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for (file, side) in [(&png, "100000"), (&jpeg, "65000")] {
        let line = stderr
            .lines()
            .find(|line| line.contains(&*file.to_string_lossy()))
            .unwrap_or_else(|| panic!("no error for {}: {stderr}", file.display()));
        assert!(
            line.contains("decompression bomb refused") && line.contains(&format!("{side}×{side}")),
            "{line}"
        );
    }
    assert_eq!(
        hashes[2]["dhash"].as_str().map(str::len),
        Some(16),
        "{hashes:#}"
    );

    // In the pipeline, each bomb is one image failed as too-large; the good image goes on.
    let Some(state) = State::new(engine, &dir.path().join("state")) else {
        return;
    };
    let catalog = catalog(
        dir.path(),
        &[
            ("g", png.as_path()),
            ("g", jpeg.as_path()),
            ("g", fine.as_path()),
        ],
    );
    ok(imgpipe(&state)
        .args(["run", "--allow-file-urls"])
        .arg(format!("--catalog=partner={}", catalog.display()))
        .arg("--config")
        .arg(write(
            &dir.path().join("config.json"),
            ONE_CONFIG.as_bytes(),
        ))
        .arg("--out")
        .arg(dir.path().join("out")));
    let status = json(imgpipe(&state).arg("status"));
    assert_eq!(status["image_failures"]["too-large"], 2, "{status:#}");
    assert_eq!(status["ranked"], 1, "{status:#}");
}
