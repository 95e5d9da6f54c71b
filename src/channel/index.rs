//! `krait index`: write `repodata.json` (and `.zst`) for every subdir of a channel folder.
//!
//! Incremental: the records of the previous run are kept in `<channel>/.cache/krait-index/`,
//! keyed by file name with the archive's size and modification time, so a re-run reads only
//! archives that are new or changed. Every archive read is validated: its `info/index.json` must
//! parse, agree with the file name and sit in the right subdir, and the whole archive must
//! decompress. A bad archive is reported with its path and reason and left out of the index.
//! Each run also writes the channel's `channeldata.json` ([`super::channeldata`]).
//!
//! A channel folder may hold labels as anaconda.org has them: `<channel>/label/<label>/` is a
//! channel folder of its own (`main` is the channel itself); [`channel_folders`] lists them.

use super::channeldata::{channeldata, PackageExtras};
use rattler_conda_types::package::{ArchiveIdentifier, CondaArchiveType, DistArchiveIdentifier};
use rattler_conda_types::{ChannelInfo, PackageRecord, PatchInstructions, RepoData, Subdir};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Errors that stop indexing altogether (a bad archive does not: it is reported and skipped).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum IndexError {
    #[error("channel directory not found: {0}")]
    #[diagnostic(help("pass the folder that holds the subdirs (linux-64/, noarch/, ...)"))]
    MissingChannel(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid repodata patch instructions: {message}")]
    #[diagnostic(help(
        "conda-index's format: {{\"packages\": {{FILE: {{\"depends\": [...]}}}}, \"packages.conda\": {{...}}, \"remove\": [FILE...]}}"
    ))]
    Patch { path: PathBuf, message: String },
}

/// Options of one indexing run.
#[derive(Debug, Clone, Default)]
pub struct IndexOptions {
    /// Ignore the previous run's records and read every archive.
    pub force: bool,
    /// Also write `repodata.json.zst`.
    pub write_zst: bool,
    /// Also write sharded repodata (CEP-16, [`super::shards`]).
    pub write_shards: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Archive file names left out of the repodata although they are still on disk: a
    /// package being deleted leaves the index before its file goes.
    pub exclude: Vec<String>,
}

/// An archive that could not be indexed.
#[derive(Debug, Clone, Serialize)]
pub struct BadArchive {
    pub path: PathBuf,
    pub reason: String,
}

/// What indexing did in one subdir.
#[derive(Debug, Clone, Serialize)]
pub struct SubdirReport {
    pub subdir: String,
    /// Records in the written repodata.json.
    pub packages: usize,
    /// Archives opened and read in this run.
    pub read: usize,
    /// Archives whose record was reused from the previous run.
    pub reused: usize,
    pub bad: Vec<BadArchive>,
}

/// What one record cache entry remembers about an archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedRecord {
    size: u64,
    mtime_ns: u128,
    record: PackageRecord,
    /// Caches written before channeldata.json existed lack it: `--force` fills it in.
    #[serde(default)]
    extras: PackageExtras,
}

type RecordCache = BTreeMap<String, CachedRecord>;

/// Indexes every subdir of `channel` (creating `noarch/` if absent, as conda-index does).
pub fn index_channel(
    channel: &Path,
    options: &IndexOptions,
) -> Result<Vec<SubdirReport>, IndexError> {
    if !channel.is_dir() {
        return Err(IndexError::MissingChannel(channel.to_path_buf()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IndexError::Io { path, source }
    };
    let noarch = channel.join("noarch");
    if !noarch.is_dir() {
        std::fs::create_dir_all(&noarch).map_err(|source| IndexError::Write {
            path: noarch.clone(),
            source,
        })?;
    }
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(channel).map_err(io(channel))? {
        let entry = entry.map_err(io(channel))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && name.parse::<Subdir>().is_ok() {
            subdirs.push(name);
        }
    }
    subdirs.sort();
    let reports = subdirs
        .iter()
        .map(|subdir| index_subdir(channel, subdir, options))
        .collect::<Result<Vec<_>, _>>()?;
    write_channeldata(channel)?;
    Ok(reports)
}

/// The folder of `label` in a channel folder: `main` is the channel itself.
pub fn label_folder(channel: &Path, label: &str) -> PathBuf {
    if label == MAIN_LABEL {
        channel.to_path_buf()
    } else {
        channel.join(LABELS).join(label)
    }
}

/// The label every channel has: its plain folder.
pub const MAIN_LABEL: &str = "main";
/// The folder of a channel that holds its other labels (not a subdir name, so never confused
/// with one).
pub const LABELS: &str = "label";

/// A channel folder and the folders of its labels (`<channel>/label/<label>/`).
pub fn channel_folders(channel: &Path) -> Result<Vec<PathBuf>, IndexError> {
    let mut folders = vec![channel.to_path_buf()];
    let labels = channel.join(LABELS);
    if labels.is_dir() {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&labels).map_err(|source| IndexError::Io {
            path: labels.clone(),
            source,
        })? {
            let entry = entry.map_err(|source| IndexError::Io {
                path: labels.clone(),
                source,
            })?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if entry.path().is_dir() && !hidden {
                found.push(entry.path());
            }
        }
        found.sort();
        folders.extend(found);
    }
    Ok(folders)
}

/// Writes `<channel>/channeldata.json` from the index caches of its subdirs (those with a
/// repodata.json). One writer at a time; the last one has seen every subdir index before it.
pub fn write_channeldata(channel: &Path) -> Result<(), IndexError> {
    let cache_dir = channel.join(".cache").join("krait-index");
    let _lock = lock_subdir(&cache_dir, "channeldata")?;
    let mut caches = Vec::new();
    for entry in std::fs::read_dir(channel).map_err(|source| IndexError::Io {
        path: channel.to_path_buf(),
        source,
    })? {
        let Ok(entry) = entry else { continue };
        let subdir = entry.file_name().to_string_lossy().into_owned();
        if subdir.parse::<Subdir>().is_err() || !entry.path().join("repodata.json").is_file() {
            continue;
        }
        let cache: RecordCache = std::fs::read(cache_dir.join(format!("{subdir}.json")))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        caches.push((subdir, cache));
    }
    let data = channeldata(caches.iter().flat_map(|(subdir, cache)| {
        cache
            .values()
            .map(move |entry| (subdir.as_str(), &entry.record, &entry.extras))
    }));
    let json = serde_json::to_vec_pretty(&data).expect("channeldata serializes");
    write_atomic(&channel.join("channeldata.json"), &json)
}

/// An archive's record and channeldata extras, or why it cannot be indexed.
type ArchiveRead = Result<(PackageRecord, PackageExtras), String>;

/// One archive found in a subdir folder.
struct Archive {
    file_name: String,
    path: PathBuf,
    size: u64,
    mtime_ns: u128,
}

/// Indexes one subdir folder of `channel` (incrementally unless `options.force`).
pub fn index_subdir(
    channel: &Path,
    subdir: &str,
    options: &IndexOptions,
) -> Result<SubdirReport, IndexError> {
    let dir = channel.join(subdir);
    let cache_dir = channel.join(".cache").join("krait-index");
    let cache_path = cache_dir.join(format!("{subdir}.json"));
    // One indexer per subdir at a time (`krait index` next to `krait serve`'s uploads): the
    // last to write repodata.json has listed every archive written before it started.
    let _lock = lock_subdir(&cache_dir, subdir)?;
    let previous: RecordCache = if options.force {
        RecordCache::new()
    } else {
        std::fs::read(&cache_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    };

    let mut archives = list_archives(&dir)?;
    archives.retain(|a| !options.exclude.contains(&a.file_name));
    let (reused, to_read): (Vec<&Archive>, Vec<&Archive>) = archives.iter().partition(|a| {
        previous
            .get(&a.file_name)
            .is_some_and(|c| c.size == a.size && c.mtime_ns == a.mtime_ns)
    });

    let bar = crate::progress::counter(to_read.len() as u64, subdir, options.progress);
    let results: Vec<(&Archive, ArchiveRead)> = to_read
        .par_iter()
        .map(|archive| {
            let result = read_record(archive, subdir);
            bar.inc(1);
            (*archive, result)
        })
        .collect();
    bar.finish_and_clear();

    let mut cache = RecordCache::new();
    for archive in &reused {
        let entry = previous[&archive.file_name].clone();
        cache.insert(archive.file_name.clone(), entry);
    }
    let mut bad = Vec::new();
    for (archive, result) in results {
        match result {
            Ok((record, extras)) => {
                cache.insert(
                    archive.file_name.clone(),
                    CachedRecord {
                        size: archive.size,
                        mtime_ns: archive.mtime_ns,
                        record,
                        extras,
                    },
                );
            }
            Err(reason) => bad.push(BadArchive {
                path: archive.path.clone(),
                reason,
            }),
        }
    }
    bad.sort_by(|a, b| a.path.cmp(&b.path));

    let mut repodata = repodata_from(subdir, &cache);
    let patches_path = dir.join(PATCH_INSTRUCTIONS);
    let from_packages_path = dir.join("repodata_from_packages.json");
    if patches_path.is_file() {
        // As conda-index: the records as built in repodata_from_packages.json, the patched
        // ones in repodata.json.
        let unpatched = serde_json::to_vec_pretty(&repodata).expect("repodata serializes");
        write_atomic(&from_packages_path, &unpatched)?;
        apply_patch_instructions(&mut repodata, &patches_path)?;
    } else if from_packages_path.exists() {
        std::fs::remove_file(&from_packages_path).map_err(|source| IndexError::Write {
            path: from_packages_path.clone(),
            source,
        })?;
    }
    let json = serde_json::to_vec_pretty(&repodata).expect("repodata serializes");
    write_atomic(&dir.join("repodata.json"), &json)?;
    let zst_path = dir.join("repodata.json.zst");
    if options.write_zst {
        let compressed = zstd::bulk::compress(&json, 16).map_err(|source| IndexError::Write {
            path: zst_path.clone(),
            source,
        })?;
        write_atomic(&zst_path, &compressed)?;
    } else if zst_path.exists() {
        // A stale .zst would be preferred by clients over the fresh repodata.json.
        std::fs::remove_file(&zst_path).map_err(|source| IndexError::Write {
            path: zst_path.clone(),
            source,
        })?;
    }
    let shards_index = dir.join(super::shards::SHARDS_INDEX);
    if options.write_shards {
        super::shards::write_shards(&dir, subdir, &repodata)?;
    } else if shards_index.exists() {
        // Likewise a stale shard index.
        std::fs::remove_file(&shards_index).map_err(|source| IndexError::Write {
            path: shards_index.clone(),
            source,
        })?;
    }
    let cache_json = serde_json::to_vec(&cache).expect("cache serializes");
    write_atomic(&cache_path, &cache_json)?;

    Ok(SubdirReport {
        subdir: subdir.to_string(),
        packages: cache.len(),
        read: to_read.len(),
        reused: reused.len(),
        bad,
    })
}

/// The file of a subdir folder holding conda-index's repodata patch instructions, applied by
/// every index run of that subdir.
pub const PATCH_INSTRUCTIONS: &str = "patch_instructions.json";

/// conda-index's instructions that rattler's [`PatchInstructions`] leaves out.
#[derive(Debug, Default, Deserialize)]
struct Revocations {
    /// Archives that stay listed but cannot be installed: each gets the dependency
    /// `package_has_been_revoked`, which no channel provides.
    #[serde(default)]
    revoke: Vec<String>,
}

/// Reads and checks a `patch_instructions.json`.
pub fn read_patch_instructions(
    path: &Path,
) -> Result<(PatchInstructions, Vec<String>), IndexError> {
    let bytes = std::fs::read(path).map_err(|source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |e: serde_json::Error| IndexError::Patch {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let instructions = serde_json::from_slice(&bytes).map_err(invalid)?;
    let revocations: Revocations = serde_json::from_slice(&bytes).map_err(invalid)?;
    Ok((instructions, revocations.revoke))
}

/// Applies patch instructions as conda-index does: rattler's patches, then removed archives
/// out of the listing (rattler only marks them) and revoked ones made uninstallable.
fn apply_patch_instructions(repodata: &mut RepoData, path: &Path) -> Result<(), IndexError> {
    let (instructions, revoked) = read_patch_instructions(path)?;
    repodata.apply_patches(&instructions);
    for removed in &repodata.removed {
        repodata.packages.shift_remove(removed);
        repodata.conda_packages.shift_remove(removed);
    }
    for file_name in revoked {
        let records = repodata
            .packages
            .iter_mut()
            .chain(repodata.conda_packages.iter_mut());
        for (_, record) in records.filter(|(id, _)| id.to_file_name() == file_name) {
            record.depends.push("package_has_been_revoked".into());
        }
    }
    Ok(())
}

/// Installs patch instructions into a channel folder, to be applied by this and every later
/// index run: `source` is one `patch_instructions.json` (for every subdir, noarch included) or a
/// folder with `<subdir>/patch_instructions.json` files (conda-forge-repodata-patches' layout).
/// Every file is checked before any is installed.
pub fn install_patch_instructions(channel: &Path, source: &Path) -> Result<(), IndexError> {
    if !channel.is_dir() {
        return Err(IndexError::MissingChannel(channel.to_path_buf()));
    }
    let mut installs = Vec::new();
    if source.is_dir() {
        for entry in std::fs::read_dir(source).map_err(|e| IndexError::Io {
            path: source.to_path_buf(),
            source: e,
        })? {
            let Ok(entry) = entry else { continue };
            let subdir = entry.file_name().to_string_lossy().into_owned();
            let file = entry.path().join(PATCH_INSTRUCTIONS);
            if subdir.parse::<Subdir>().is_ok() && file.is_file() {
                installs.push((subdir, file));
            }
        }
    } else {
        let mut subdirs = subdir_folders(channel);
        if !subdirs.iter().any(|s| s == "noarch") {
            subdirs.push("noarch".into());
        }
        installs.extend(subdirs.into_iter().map(|s| (s, source.to_path_buf())));
    }
    for (_, file) in &installs {
        read_patch_instructions(file)?;
    }
    for (subdir, file) in installs {
        let bytes = std::fs::read(&file).map_err(|source| IndexError::Io {
            path: file.clone(),
            source,
        })?;
        let target = channel.join(&subdir);
        std::fs::create_dir_all(&target).map_err(|source| IndexError::Write {
            path: target.clone(),
            source,
        })?;
        write_atomic(&target.join(PATCH_INSTRUCTIONS), &bytes)?;
    }
    Ok(())
}

/// The names of the subdir folders (`noarch`, `linux-64`, ...) of a channel folder, sorted.
pub fn subdir_folders(channel: &Path) -> Vec<String> {
    let mut subdirs: Vec<String> = std::fs::read_dir(channel)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.parse::<Subdir>().is_ok())
        .collect();
    subdirs.sort();
    subdirs
}

/// Holds `<channel>/.cache/krait-index/<subdir>.lock` (waiting for another process that holds
/// it) until dropped.
fn lock_subdir(cache_dir: &Path, subdir: &str) -> Result<std::fs::File, IndexError> {
    let path = cache_dir.join(format!("{subdir}.lock"));
    let failed = |source| IndexError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(cache_dir).map_err(failed)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    file.lock().map_err(failed)?;
    Ok(file)
}

fn list_archives(dir: &Path) -> Result<Vec<Archive>, IndexError> {
    let io = |source| IndexError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut archives = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if CondaArchiveType::split_str(&file_name).is_none() {
            continue;
        }
        let meta = entry.metadata().map_err(io)?;
        if !meta.is_file() {
            continue;
        }
        let mtime_ns = mtime_ns(&meta);
        archives.push(Archive {
            path: entry.path(),
            file_name,
            size: meta.len(),
            mtime_ns,
        });
    }
    archives.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    Ok(archives)
}

/// Reads and validates one archive, returning its repodata record or why it is unusable.
fn read_record(archive: &Archive, subdir: &str) -> ArchiveRead {
    let bytes = std::fs::read(&archive.path).map_err(|e| format!("cannot read: {e}"))?;
    let (stem, kind) = CondaArchiveType::split_str(&archive.file_name)
        .ok_or_else(|| format!("{:?} does not end in .conda or .tar.bz2", archive.file_name))?;
    let found = read_info(&bytes, kind)?;
    let extras = found.extras.clone();
    let record = check_record(found, stem, &archive.file_name, bytes.len())?;
    check_subdir(&record, subdir)?;
    Ok((record, extras))
}

/// Validates an archive held in memory for `<subdir>/<file_name>`: it must decompress, its
/// `info/index.json` must agree with the file name and name `subdir`. Returns its record.
pub fn validate_archive(
    bytes: &[u8],
    file_name: &str,
    subdir: &str,
) -> Result<PackageRecord, String> {
    let record = read_archive(bytes, file_name)?;
    check_subdir(&record, subdir)?;
    Ok(record)
}

fn check_subdir(record: &PackageRecord, subdir: &str) -> Result<(), String> {
    if record.subdir != subdir {
        return Err(format!(
            "info/index.json has subdir {:?} but the archive is in {subdir}/",
            record.subdir
        ));
    }
    Ok(())
}

/// Reads an archive held in memory, checking that `info/index.json` agrees with `file_name`.
pub fn read_archive(bytes: &[u8], file_name: &str) -> Result<PackageRecord, String> {
    let (stem, kind) = CondaArchiveType::split_str(file_name)
        .ok_or_else(|| format!("{file_name:?} does not end in .conda or .tar.bz2"))?;
    check_record(read_info(bytes, kind)?, stem, file_name, bytes.len())
}

/// The record of an archive read by [`read_info`], checked against its file name.
fn check_record(
    found: InfoFiles,
    stem: &str,
    file_name: &str,
    size: usize,
) -> Result<PackageRecord, String> {
    let expected: ArchiveIdentifier = stem
        .parse()
        .map_err(|_| format!("file name {file_name:?} is not <name>-<version>-<build>"))?;
    let mut record = found.record.ok_or("the archive has no info/index.json")?;
    record.run_exports = found.run_exports;
    let actual = (
        record.name.as_normalized(),
        record.version.to_string(),
        record.build.as_str(),
    );
    if actual.0 != expected.name
        || actual.1 != expected.version
        || actual.2 != expected.build_string
    {
        return Err(format!(
            "info/index.json says {}-{}-{} but the file name says {}-{}-{}",
            actual.0, actual.1, actual.2, expected.name, expected.version, expected.build_string
        ));
    }
    record.size = Some(size as u64);
    Ok(record)
}

/// Parses `info/index.json` (and `info/run_exports.json`) out of an archive held in memory,
/// reading every member to its end: every tar entry, the compressed stream after the tar's
/// end marker, and for `.conda` every zip member, whose CRC-32 is checked when its last byte
/// is read. A corrupt or truncated archive is caught here, not when it is installed.
fn read_info(bytes: &[u8], kind: CondaArchiveType) -> Result<InfoFiles, String> {
    let mut found = InfoFiles::default();
    match kind {
        CondaArchiveType::Conda => {
            let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| corrupt(&e))?;
            for index in 0..zip.len() {
                let mut member = zip.by_index(index).map_err(|e| corrupt(&e))?;
                let name = member.name().map_err(|e| corrupt(&e))?.into_owned();
                let read = if name.ends_with(".tar.zst") {
                    // Only the info member speaks for the package.
                    let info_member = name.starts_with("info-");
                    zstd::stream::read::Decoder::new(&mut member)
                        .map_err(|e| corrupt(&e))
                        .and_then(|decoder| {
                            read_tar_to_end(
                                tar::Archive::new(decoder),
                                &mut found,
                                info_member,
                                bytes,
                            )
                        })
                } else {
                    Ok(())
                };
                // What the tar reader left (and the whole of other members): to the end, so
                // that the member's CRC-32 is checked.
                read.and_then(|()| {
                    std::io::copy(&mut member, &mut std::io::sink())
                        .map(drop)
                        .map_err(|e| corrupt(&e))
                })
                .map_err(|reason| format!("{name}: {reason}"))?;
            }
        }
        CondaArchiveType::TarBz2 => {
            let tar = rattler_package_streaming::read::stream_tar_bz2(Cursor::new(bytes));
            read_tar_to_end(tar, &mut found, true, bytes)?;
        }
    }
    Ok(found)
}

/// Reads every entry of a tar stream (keeping the `info/` files `found` wants when the stream
/// is the `info_member`), then its decompressor to the end: a stream cut short or damaged after
/// the tar's end marker fails its checksum there.
fn read_tar_to_end<R: Read>(
    mut tar: tar::Archive<R>,
    found: &mut InfoFiles,
    info_member: bool,
    bytes: &[u8],
) -> Result<(), String> {
    found.scan(&mut tar, info_member, bytes)?;
    std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(|e| corrupt(&e))?;
    Ok(())
}

fn corrupt(e: &dyn std::fmt::Display) -> String {
    format!("corrupt archive: {e}")
}

/// The `info/` files the index needs from an archive.
#[derive(Default)]
struct InfoFiles {
    record: Option<PackageRecord>,
    run_exports: Option<rattler_conda_types::package::RunExportsJson>,
    extras: PackageExtras,
}

impl InfoFiles {
    /// Reads every entry of a tar stream, noting every path for channeldata, and keeping
    /// `index.json`, `run_exports.json`, `about.json` and `has_prefix` when `info_member`.
    fn scan<R: Read>(
        &mut self,
        tar: &mut tar::Archive<R>,
        info_member: bool,
        bytes: &[u8],
    ) -> Result<(), String> {
        for entry in tar.entries().map_err(|e| corrupt(&e))? {
            let mut entry = entry.map_err(|e| corrupt(&e))?;
            let path = entry.path().map_err(|e| corrupt(&e))?.into_owned();
            self.extras.note_path(&path.to_string_lossy());
            let info_file = |name: &str| info_member && path == Path::new(name);
            if info_file("info/about.json") || info_file("info/has_prefix") {
                let mut text = String::new();
                entry.read_to_string(&mut text).map_err(|e| corrupt(&e))?;
                if path.ends_with("about.json") {
                    self.extras.read_about(&text);
                } else {
                    self.extras.read_has_prefix(&text);
                }
            } else if info_file("info/index.json") {
                let parsed = rattler_index::package_record_from_index_json(bytes, &mut entry)
                    .map_err(|e| format!("info/index.json is invalid: {e}"))?;
                self.record = Some(parsed);
            } else if info_file("info/run_exports.json") {
                let mut text = String::new();
                entry.read_to_string(&mut text).map_err(|e| corrupt(&e))?;
                self.run_exports = Some(
                    serde_json::from_str(&text)
                        .map_err(|e| format!("info/run_exports.json is invalid: {e}"))?,
                );
            } else {
                std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| corrupt(&e))?;
            }
        }
        Ok(())
    }
}

fn repodata_from(subdir: &str, cache: &RecordCache) -> RepoData {
    let mut repodata = RepoData {
        info: Some(
            serde_json::from_value::<ChannelInfo>(serde_json::json!({ "subdir": subdir }))
                .expect("a subdir-only channel info deserializes"),
        ),
        packages: Default::default(),
        conda_packages: Default::default(),
        v3: Default::default(),
        removed: Default::default(),
        version: Some(1),
    };
    for (file_name, entry) in cache {
        let Some(id) = DistArchiveIdentifier::try_from_filename(file_name) else {
            continue;
        };
        if file_name.ends_with(".conda") {
            repodata.conda_packages.insert(id, entry.record.clone());
        } else {
            repodata.packages.insert(id, entry.record.clone());
        }
    }
    repodata
}

/// A file's modification time in nanoseconds since the epoch (0 when unknown): with its size,
/// what tells a changed file from an unchanged one.
pub fn mtime_ns(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Whether a channel folder has sharded repodata, which its writers then keep up to date.
pub fn is_sharded(channel: &Path) -> bool {
    std::fs::read_dir(channel)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| entry.path().join(super::shards::SHARDS_INDEX).is_file())
}

/// Writes a validated archive into its subdir atomically and re-indexes that subdir (and
/// `noarch/` if it has no repodata yet, which clients fetch alongside every subdir), with
/// sharded repodata when `shards`.
pub fn store_and_index(
    channel: &Path,
    subdir: &str,
    path: &Path,
    bytes: &[u8],
    shards: bool,
) -> Result<(), IndexError> {
    let dir = channel.join(subdir);
    std::fs::create_dir_all(&dir).map_err(|source| IndexError::Write {
        path: dir.clone(),
        source,
    })?;
    write_atomic(path, bytes)?;
    let options = IndexOptions {
        write_zst: true,
        write_shards: shards,
        ..IndexOptions::default()
    };
    index_subdir(channel, subdir, &options)?;
    if !channel.join("noarch").join("repodata.json").exists() {
        std::fs::create_dir_all(channel.join("noarch")).map_err(|source| IndexError::Write {
            path: channel.join("noarch"),
            source,
        })?;
        index_subdir(channel, "noarch", &options)?;
    }
    write_channeldata(channel)
}

/// Deletes `<subdir>/<file_name>` from a channel folder: its repodata entry goes first (the
/// subdir is re-indexed without it), then the file, so a client never finds an entry whose
/// file is gone. Returns false when there was no such file.
pub fn remove_and_index(
    channel: &Path,
    subdir: &str,
    file_name: &str,
    shards: bool,
) -> Result<bool, IndexError> {
    let path = channel.join(subdir).join(file_name);
    if !path.is_file() {
        return Ok(false);
    }
    let options = IndexOptions {
        write_zst: true,
        write_shards: shards,
        exclude: vec![file_name.to_string()],
        ..IndexOptions::default()
    };
    index_subdir(channel, subdir, &options)?;
    std::fs::remove_file(&path).map_err(|source| IndexError::Write {
        path: path.clone(),
        source,
    })?;
    write_channeldata(channel)?;
    Ok(true)
}

/// [`crate::fs::write_atomic`] with the path named in the error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    crate::fs::write_atomic(path, bytes).map_err(|source| IndexError::Write {
        path: path.to_path_buf(),
        source,
    })
}
