//! Bounded fuzzing of the parsers that read untrusted input, with proptest (a failing input
//! is shrunk to a minimal one before it is reported):
//! - the request-path decoder of `krait serve`: an accepted path stays inside the channel;
//! - `.conda` and `.tar.bz2` archives, damaged at random: reading them (index, upload) and
//!   unpacking them (environments) fails cleanly and never writes outside the destination;
//! - `meta.yaml` rendering: selectors, Jinja and YAML mixed at random, and the corpus recipes
//!   of `tests/recipes/` damaged at random, never panic.
//!
//! Each target runs for `KRAIT_FUZZ_SECONDS` (default 3) and prints how many inputs it tried.
//! This file has its own `main` (`harness = false` in Cargo.toml) so that the counts are
//! printed by `cargo test` rather than captured. A crash found here becomes a regression test
//! next to the code it crashed.

mod common;

use common::fixtures::{Format, Package};
use krait::channel::request_path::ChannelPath;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Runs `property` on inputs drawn from `strategy` until the time budget is spent, in rounds
/// of fresh random seeds; a failure is shrunk and returned.
fn fuzz<S>(
    name: &str,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> Result<(), String>
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let seconds = std::env::var("KRAIT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tried = AtomicU64::new(0);
    while Instant::now() < deadline {
        let mut runner = TestRunner::new(Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |input| {
                tried.fetch_add(1, Ordering::Relaxed);
                property(input)
            })
            .map_err(|e| format!("fuzz {name}: {e}"))?;
    }
    println!(
        "fuzz {name}: {} inputs in {:.1} s, no failure",
        tried.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Pieces an attacker combines in a URL path: separators, dots, percent signs and their
/// encodings, NUL, names, any character.
fn request_path() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just("%".to_string()),
        Just("%2e".to_string()),
        Just("%2E".to_string()),
        Just("%2f".to_string()),
        Just("%2F".to_string()),
        Just("%5c".to_string()),
        Just("%00".to_string()),
        Just("%25".to_string()),
        Just("%c0%af".to_string()),
        Just("\\".to_string()),
        "[a-z0-9_-]{1,4}",
        any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

fn fuzz_request_paths() -> Result<(), String> {
    let root = Path::new("/srv/channel");
    fuzz("serve request path", request_path(), |raw| {
        if let Ok(path) = ChannelPath::parse(&raw) {
            let full = path.under(root);
            let relative = full
                .strip_prefix(root)
                .map_err(|_| TestCaseError::fail(format!("{raw:?} names {}", full.display())))?;
            prop_assert_eq!(relative.components().count(), path.segments().len());
            prop_assert!(relative
                .components()
                .all(|c| matches!(c, Component::Normal(_))));
            prop_assert!(path.segments().iter().all(|s| !s.starts_with('.')));
            prop_assert_eq!(ChannelPath::parse(&path.to_url_path()), Ok(path));
        }
        Ok(())
    })
}

/// One change to an archive's bytes.
#[derive(Debug, Clone)]
enum Damage {
    /// XOR the byte at this fraction of the length (per mille) with a value.
    Flip(u16, u8),
    /// Cut the archive at this fraction.
    Truncate(u16),
    /// Insert bytes at this fraction.
    Insert(u16, Vec<u8>),
    /// Overwrite a run of bytes with one value (a zeroed or 0xff block).
    Fill(u16, u16, u8),
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        4 => (0..1000u16, 1..=255u8).prop_map(|(at, x)| Damage::Flip(at, x)),
        1 => (0..1000u16).prop_map(Damage::Truncate),
        1 => (0..1000u16, proptest::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(at, bytes)| Damage::Insert(at, bytes)),
        1 => (0..1000u16, 1..512u16, prop_oneof![Just(0u8), Just(0xff)])
            .prop_map(|(at, len, value)| Damage::Fill(at, len, value)),
    ];
    proptest::collection::vec(one, 1..4)
}

fn apply(original: &[u8], damages: &[Damage]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    let at = |per_mille: u16, len: usize| len * per_mille as usize / 1000;
    for damage in damages {
        match damage {
            Damage::Flip(p, x) if !bytes.is_empty() => {
                let i = at(*p, bytes.len()).min(bytes.len() - 1);
                bytes[i] ^= x;
            }
            Damage::Truncate(p) => bytes.truncate(at(*p, bytes.len())),
            Damage::Insert(p, extra) => {
                let i = at(*p, bytes.len());
                bytes.splice(i..i, extra.iter().copied());
            }
            Damage::Fill(p, len, value) => {
                let from = at(*p, bytes.len());
                let to = (from + *len as usize).min(bytes.len());
                bytes[from..to].fill(*value);
            }
            Damage::Flip(..) => {}
        }
    }
    bytes
}

/// A valid `.conda` and `.tar.bz2` with a few files, a symlink and nested folders.
fn sample_archives(dir: &Path) -> Vec<(String, Vec<u8>)> {
    [Format::Conda, Format::TarBz2]
        .into_iter()
        .map(|format| {
            let path = Package::new("fuzzed", "1.0", "h0_0", "linux-64")
                .file("share/fuzzed/a.txt", "alpha\n".repeat(40))
                .file("lib/deep/er/b.bin", (0..=255u8).collect::<Vec<_>>())
                .symlink("share/fuzzed/link", "a.txt")
                .write(dir, format);
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

fn fuzz_archive_reading(samples: &[(String, Vec<u8>)]) -> Result<(), String> {
    let strategy = (0..samples.len(), damage());
    fuzz(
        "archive reading (index, upload)",
        strategy,
        |(which, damages)| {
            let (name, original) = &samples[which];
            let bytes = apply(original, &damages);
            if let Ok(record) = krait::channel::index::read_archive(&bytes, name) {
                prop_assert_eq!(record.name.as_normalized(), "fuzzed");
                prop_assert_eq!(record.size, Some(bytes.len() as u64));
            }
            Ok(())
        },
    )
}

fn fuzz_archive_unpacking(samples: &[(String, Vec<u8>)]) -> Result<(), String> {
    let scratch = tempfile::tempdir().unwrap();
    let strategy = (0..samples.len(), damage());
    fuzz(
        "archive unpacking (environments)",
        strategy,
        |(which, damages)| {
            let (name, original) = &samples[which];
            let bytes = apply(original, &damages);
            let case = tempfile::tempdir_in(scratch.path()).unwrap();
            let archive = case.path().join(name);
            std::fs::write(&archive, &bytes).unwrap();
            let destination = case.path().join("unpacked");
            // The sha256 of the damaged bytes: unpacking itself is what is under test.
            let sha256 = rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(&bytes);
            let _ = krait::env::extract::extract_verified(&archive, &destination, &sha256);
            let outside: Vec<PathBuf> = std::fs::read_dir(case.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| *p != archive && *p != destination)
                .collect();
            prop_assert!(
                outside.is_empty(),
                "written outside the destination: {:?}",
                outside
            );
            Ok(())
        },
    )
}

/// Lines of `meta.yaml` that exercise selectors, Jinja and YAML, good and bad.
fn recipe_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("{% set name = \"fuzz\" %}"),
        Just("{% set version = \"1.2.3\" %}"),
        Just("package:"),
        Just("  name: {{ name|lower }}"),
        Just("  version: {{ version }}"),
        Just("  version: {{ version.split('.')[0] }}.{{ version.split('.')[1] }}"),
        Just("build:"),
        Just("  number: 0"),
        Just("  skip: true  # [win]"),
        Just("  noarch: generic  # [not (linux and py<38)]"),
        Just("  string: {{ PKG_HASH }}_{{ PKG_BUILDNUM }}"),
        Just("requirements:"),
        Just("  build:"),
        Just("    - {{ compiler('c') }}"),
        Just("    - {{ stdlib('c') }}  # [linux]"),
        Just("  host:"),
        Just("    - python {{ python }}"),
        Just("    - numpy  # [py>=39 and x86_64]"),
        Just("  run:"),
        Just("    - {{ pin_compatible('numpy', max_pin='x.x') }}"),
        Just("    - {{ pin_subpackage(name, exact=True) }}"),
        Just("{% if linux %}"),
        Just("{% else %}"),
        Just("{% endif %}"),
        Just("{% for x in ['a', 'b'] %}"),
        Just("    - dep-{{ x }}"),
        Just("{% endfor %}"),
        Just("{{ environ.get('HOME', '') }}"),
        Just("{{ 1 / 0 }}"),
        Just("{{ undefined_thing.attr }}"),
        Just("{% raw %}{{ not jinja }}{% endraw %}"),
        Just("test:"),
        Just("  commands:"),
        Just("    - echo {{ name }}  # [unix]"),
        Just("about:"),
        Just("  license: MIT"),
        Just("anchors: &a {k: [v, w]}"),
        Just("alias: *a"),
        Just("merge: {<<: *a}"),
        Just("\tindented: with a tab"),
        Just("key: [unclosed"),
        Just("- a list where a map was"),
        Just("outputs:"),
        Just("  - name: {{ name }}-sub"),
        Just("    script: build_sub.sh"),
        Just("# [linux and (]"),
        Just("x: 1  # [py2k or __import__('os')]"),
        Just("{{ '{{' }}"),
        Just("{%"),
        Just("}}"),
        Just("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["),
        Just("\u{feff}ünïcödé: ✓"),
    ]
    .prop_map(str::to_string);
    let any_line = prop_oneof![
        8 => line,
        1 => "[ -~]{0,40}",
        1 => any::<String>().prop_map(|s| s.chars().take(40).collect()),
    ];
    proptest::collection::vec(any_line, 0..40).prop_map(|lines| lines.join("\n"))
}

/// One change to a line of a recipe, at a fraction (per mille) of its lines.
#[derive(Debug, Clone)]
enum LineEdit {
    Drop(u16),
    Repeat(u16),
    /// Keep only this many characters.
    Cut(u16, usize),
    /// Insert text in the middle.
    Insert(u16, String),
}

/// The corpus recipes of `tests/recipes/` (conda-forge's, see their README), with lines
/// dropped, repeated or cut short and YAML or Jinja punctuation inserted at random.
fn mutated_corpus_recipe() -> impl Strategy<Value = String> {
    let corpus: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recipes"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("meta.yaml")).ok())
            .collect();
    let edit = prop_oneof![
        (0..1000u16).prop_map(LineEdit::Drop),
        (0..1000u16).prop_map(LineEdit::Repeat),
        (0..1000u16, 0..80usize).prop_map(|(at, keep)| LineEdit::Cut(at, keep)),
        (0..1000u16, "[{}%#\\[\\]:'\"|&*!<>= -]{1,3}")
            .prop_map(|(at, text)| LineEdit::Insert(at, text)),
    ];
    (0..corpus.len(), proptest::collection::vec(edit, 1..6)).prop_map(move |(which, edits)| {
        let mut lines: Vec<String> = corpus[which].lines().map(str::to_string).collect();
        for edit in edits {
            if lines.is_empty() {
                break;
            }
            let (LineEdit::Drop(at)
            | LineEdit::Repeat(at)
            | LineEdit::Cut(at, _)
            | LineEdit::Insert(at, _)) = edit;
            let i = lines.len() * at as usize / 1000;
            match edit {
                LineEdit::Drop(_) => {
                    lines.remove(i);
                }
                LineEdit::Repeat(_) => lines.insert(i, lines[i].clone()),
                LineEdit::Cut(_, keep) => lines[i] = lines[i].chars().take(keep).collect(),
                LineEdit::Insert(_, text) => {
                    let middle = lines[i].chars().count() / 2;
                    let byte = lines[i]
                        .char_indices()
                        .nth(middle)
                        .map_or(lines[i].len(), |(b, _)| b);
                    lines[i].insert_str(byte, &text);
                }
            }
        }
        lines.join("\n")
    })
}

fn fuzz_recipe_rendering() -> Result<(), String> {
    use krait::recipe::{render_recipe, Recipe, RenderOptions};
    let dir = tempfile::tempdir().unwrap();
    let mut options = RenderOptions::new(rattler_conda_types::Subdir::Linux64);
    options.system_config_files = Vec::new();
    options.env = [("HOME".to_string(), "/home/fuzz".to_string())].into();
    options.git_cache = dir.path().join("git_cache");
    let text = prop_oneof![recipe_text(), mutated_corpus_recipe()];
    fuzz("meta.yaml rendering", text, |text| {
        let recipe = Recipe {
            meta_path: dir.path().join("meta.yaml"),
            dir: dir.path().to_path_buf(),
            text,
        };
        let _ = render_recipe(&recipe, &options);
        Ok(())
    })
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let samples = sample_archives(dir.path());
    let results = [
        fuzz_request_paths(),
        fuzz_archive_reading(&samples),
        fuzz_archive_unpacking(&samples),
        fuzz_recipe_rendering(),
    ];
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    for failure in &failures {
        eprintln!("{failure}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
