//! `krait index`: write `repodata.json` (and `.zst`) for every subdir of a channel, in a folder
//! or in an S3 bucket ([`super::files`]).
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
use super::files::{ChannelFiles, Entry, Folder};
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
    #[error("{location}: {message}")]
    #[diagnostic(help(
        "S3 credentials, region and endpoint come from the AWS chain: AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, SSO, instance roles), AWS_REGION, and \
         AWS_ENDPOINT_URL for an S3-compatible server"
    ))]
    Remote { location: String, message: String },
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

/// Where the index keeps its records between runs, in the channel.
pub const CACHE_DIR: &str = ".cache/krait-index";

/// The record cache of one subdir.
fn cache_path(subdir: &str) -> String {
    format!("{CACHE_DIR}/{subdir}.json")
}

/// The previous run's records of `subdir` (none when absent or unreadable: all are read again).
fn read_cache(files: &dyn ChannelFiles, subdir: &str) -> Result<RecordCache, IndexError> {
    Ok(files
        .read(&cache_path(subdir))?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default())
}

/// Indexes every subdir of a channel (writing `noarch/` if absent, as conda-index does).
pub fn index_channel(
    files: &dyn ChannelFiles,
    options: &IndexOptions,
) -> Result<Vec<SubdirReport>, IndexError> {
    let mut subdirs = subdir_names(files)?;
    if !subdirs.iter().any(|s| s == "noarch") {
        subdirs.push("noarch".into());
        subdirs.sort();
    }
    let reports = subdirs
        .iter()
        .map(|subdir| index_subdir(files, subdir, options))
        .collect::<Result<Vec<_>, _>>()?;
    write_channeldata(files)?;
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

/// The labels of a channel other than `main` (the folders of `<channel>/label/`), sorted.
pub fn label_names(files: &dyn ChannelFiles) -> Result<Vec<String>, IndexError> {
    let mut labels = files.folders(LABELS)?;
    labels.retain(|name| !name.starts_with('.'));
    Ok(labels)
}

/// A channel folder and the folders of its labels (`<channel>/label/<label>/`).
pub fn channel_folders(channel: &Path) -> Result<Vec<PathBuf>, IndexError> {
    let labels = label_names(&Folder::new(channel))?;
    let mut folders = vec![channel.to_path_buf()];
    folders.extend(labels.iter().map(|label| label_folder(channel, label)));
    Ok(folders)
}

/// Writes the channel's `channeldata.json` from the repodata of its subdirs, as patched
/// (conda-index builds it from the patched records too: a removed package is not in it), with
/// the extras of each archive from the index caches. One writer at a time; the last one has
/// seen every subdir index before it.
pub fn write_channeldata(files: &dyn ChannelFiles) -> Result<(), IndexError> {
    let _lock = files.lock("channeldata")?;
    let mut subdirs = Vec::new();
    for subdir in subdir_names(files)? {
        let path = format!("{subdir}/repodata.json");
        let Some(bytes) = files.read(&path)? else {
            continue;
        };
        let repodata: RepoData = serde_json::from_slice(&bytes).map_err(|e| IndexError::Io {
            path: files.location(&path),
            source: std::io::Error::other(e),
        })?;
        let cache = read_cache(files, &subdir)?;
        subdirs.push((subdir, repodata, cache));
    }
    let no_extras = PackageExtras::default();
    let no_extras = &no_extras;
    let data = channeldata(subdirs.iter().flat_map(|(subdir, repodata, cache)| {
        let records = repodata.packages.iter().chain(&repodata.conda_packages);
        records.map(move |(id, record)| {
            let extras = cache
                .get(&id.to_file_name())
                .map_or(no_extras, |cached| &cached.extras);
            (subdir.as_str(), record, extras)
        })
    }));
    let json = serde_json::to_vec_pretty(&data).expect("channeldata serializes");
    files.write("channeldata.json", &json)
}

/// An archive's record and channeldata extras, or why it cannot be indexed.
type ArchiveRead = Result<(PackageRecord, PackageExtras), String>;

/// Indexes one subdir of a channel (incrementally unless `options.force`).
pub fn index_subdir(
    files: &dyn ChannelFiles,
    subdir: &str,
    options: &IndexOptions,
) -> Result<SubdirReport, IndexError> {
    // One indexer per subdir at a time (`krait index` next to `krait serve`'s uploads): the
    // last to write repodata.json has listed every archive written before it started.
    let _lock = files.lock(subdir)?;
    let previous = if options.force {
        RecordCache::new()
    } else {
        read_cache(files, subdir)?
    };

    let mut archives = files.files(subdir)?;
    archives.retain(|a| {
        CondaArchiveType::split_str(&a.name).is_some() && !options.exclude.contains(&a.name)
    });
    let (reused, to_read): (Vec<&Entry>, Vec<&Entry>) = archives.iter().partition(|a| {
        previous
            .get(&a.name)
            .is_some_and(|c| c.size == a.size && c.mtime_ns == a.mtime_ns)
    });

    let bar = crate::progress::counter(to_read.len() as u64, subdir, options.progress);
    let results: Vec<(&Entry, ArchiveRead)> = to_read
        .par_iter()
        .map(|archive| {
            let result = read_record(files, subdir, archive);
            bar.inc(1);
            (*archive, result)
        })
        .collect();
    bar.finish_and_clear();

    let mut cache = RecordCache::new();
    for archive in &reused {
        let entry = previous[&archive.name].clone();
        cache.insert(archive.name.clone(), entry);
    }
    let mut bad = Vec::new();
    for (archive, result) in results {
        match result {
            Ok((record, extras)) => {
                cache.insert(
                    archive.name.clone(),
                    CachedRecord {
                        size: archive.size,
                        mtime_ns: archive.mtime_ns,
                        record,
                        extras,
                    },
                );
            }
            Err(reason) => bad.push(BadArchive {
                path: files.location(&format!("{subdir}/{}", archive.name)),
                reason,
            }),
        }
    }
    bad.sort_by(|a, b| a.path.cmp(&b.path));

    let mut repodata = repodata_from(subdir, &cache);
    let patches_path = format!("{subdir}/{PATCH_INSTRUCTIONS}");
    let from_packages_path = format!("{subdir}/repodata_from_packages.json");
    match files.read(&patches_path)? {
        Some(patches) => {
            // As conda-index: the records as built in repodata_from_packages.json, the patched
            // ones in repodata.json.
            let instructions = parse_patch_instructions(&patches, &files.location(&patches_path))?;
            let unpatched = serde_json::to_vec_pretty(&repodata).expect("repodata serializes");
            files.write(&from_packages_path, &unpatched)?;
            apply_patch_instructions(&mut repodata, instructions);
        }
        None => files.remove(&from_packages_path)?,
    }
    let json = serde_json::to_vec_pretty(&repodata).expect("repodata serializes");
    files.write(&format!("{subdir}/repodata.json"), &json)?;
    let zst_path = format!("{subdir}/repodata.json.zst");
    if options.write_zst {
        let compressed = zstd::bulk::compress(&json, 16).map_err(|source| IndexError::Write {
            path: files.location(&zst_path),
            source,
        })?;
        files.write(&zst_path, &compressed)?;
    } else {
        // A stale .zst would be preferred by clients over the fresh repodata.json.
        files.remove(&zst_path)?;
    }
    if options.write_shards {
        super::shards::write_shards(files, subdir, &repodata)?;
    } else {
        // Likewise a stale shard index.
        files.remove(&format!("{subdir}/{}", super::shards::SHARDS_INDEX))?;
    }
    let cache_json = serde_json::to_vec(&cache).expect("cache serializes");
    files.write(&cache_path(subdir), &cache_json)?;

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

/// Parses and checks a `patch_instructions.json` (`origin` names it in errors).
fn parse_patch_instructions(bytes: &[u8], origin: &Path) -> Result<PatchSet, IndexError> {
    let invalid = |e: serde_json::Error| IndexError::Patch {
        path: origin.to_path_buf(),
        message: e.to_string(),
    };
    let instructions = serde_json::from_slice(bytes).map_err(invalid)?;
    let revocations: Revocations = serde_json::from_slice(bytes).map_err(invalid)?;
    Ok((instructions, revocations.revoke))
}

/// Patch instructions and the archives they revoke.
type PatchSet = (PatchInstructions, Vec<String>);

/// Applies patch instructions as conda-index does: rattler's patches, then removed archives
/// out of the listing (rattler only marks them) and revoked ones made uninstallable.
fn apply_patch_instructions(repodata: &mut RepoData, (instructions, revoked): PatchSet) {
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
}

/// Installs patch instructions into a channel, to be applied by this and every later index
/// run: `source` is one `patch_instructions.json` (for every subdir, noarch included) or a
/// folder with `<subdir>/patch_instructions.json` files (conda-forge-repodata-patches' layout).
/// Every file is checked before any is installed.
pub fn install_patch_instructions(
    files: &dyn ChannelFiles,
    source: &Path,
) -> Result<(), IndexError> {
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
        let mut subdirs = subdir_names(files)?;
        if !subdirs.iter().any(|s| s == "noarch") {
            subdirs.push("noarch".into());
        }
        installs.extend(subdirs.into_iter().map(|s| (s, source.to_path_buf())));
    }
    let mut checked = Vec::new();
    for (subdir, file) in installs {
        let bytes = std::fs::read(&file).map_err(|source| IndexError::Io {
            path: file.clone(),
            source,
        })?;
        parse_patch_instructions(&bytes, &file)?;
        checked.push((subdir, bytes));
    }
    for (subdir, bytes) in checked {
        files.write(&format!("{subdir}/{PATCH_INSTRUCTIONS}"), &bytes)?;
    }
    Ok(())
}

/// The names of the subdir folders (`noarch`, `linux-64`, ...) of a channel, sorted.
pub fn subdir_names(files: &dyn ChannelFiles) -> Result<Vec<String>, IndexError> {
    let mut subdirs = files.folders("")?;
    subdirs.retain(|name| name.parse::<Subdir>().is_ok());
    Ok(subdirs)
}

/// Reads and validates one archive, returning its repodata record or why it is unusable.
fn read_record(files: &dyn ChannelFiles, subdir: &str, archive: &Entry) -> ArchiveRead {
    let bytes = files
        .read(&format!("{subdir}/{}", archive.name))
        .map_err(|e| e.to_string())?
        .ok_or("the archive went away while it was being indexed")?;
    let (stem, kind) = CondaArchiveType::split_str(&archive.name)
        .ok_or_else(|| format!("{:?} does not end in .conda or .tar.bz2", archive.name))?;
    let found = read_info(&bytes, kind)?;
    let extras = found.extras.clone();
    let record = check_record(found, stem, &archive.name, bytes.len())?;
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

/// Whether a channel has sharded repodata, which its writers then keep up to date.
pub fn is_sharded(files: &dyn ChannelFiles) -> bool {
    subdir_names(files)
        .unwrap_or_default()
        .iter()
        .any(|subdir| {
            files
                .exists(&format!("{subdir}/{}", super::shards::SHARDS_INDEX))
                .unwrap_or_default()
        })
}

/// Writes a validated archive into its subdir and re-indexes that subdir (and `noarch/` if it
/// has no repodata yet, which clients fetch alongside every subdir), with sharded repodata when
/// `shards`.
pub fn store_and_index(
    files: &dyn ChannelFiles,
    subdir: &str,
    file_name: &str,
    bytes: &[u8],
    shards: bool,
) -> Result<(), IndexError> {
    files.write(&format!("{subdir}/{file_name}"), bytes)?;
    let options = IndexOptions {
        write_zst: true,
        write_shards: shards,
        ..IndexOptions::default()
    };
    index_subdir(files, subdir, &options)?;
    if !files.exists("noarch/repodata.json")? {
        index_subdir(files, "noarch", &options)?;
    }
    write_channeldata(files)
}

/// Deletes `<subdir>/<file_name>` from a channel: its repodata entry goes first (the subdir is
/// re-indexed without it), then the file, so a client never finds an entry whose file is gone.
/// Returns false when there was no such file.
pub fn remove_and_index(
    files: &dyn ChannelFiles,
    subdir: &str,
    file_name: &str,
    shards: bool,
) -> Result<bool, IndexError> {
    let path = format!("{subdir}/{file_name}");
    if !files.exists(&path)? {
        return Ok(false);
    }
    let options = IndexOptions {
        write_zst: true,
        write_shards: shards,
        exclude: vec![file_name.to_string()],
        ..IndexOptions::default()
    };
    index_subdir(files, subdir, &options)?;
    files.remove(&path)?;
    write_channeldata(files)?;
    Ok(true)
}
