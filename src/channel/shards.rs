//! Sharded repodata (CEP-16): `<subdir>/repodata_shards.msgpack.zst`, an index of package name
//! → sha256 of that name's shard, and `<subdir>/shards/<sha256>.msgpack.zst`, the records of one
//! package name. A client that asks for shards (rattler, pixi, krait) fetches the index and the
//! shards of the names it solves for instead of the whole repodata.json.
//!
//! Shards are content-addressed, so an unchanged name keeps its file; files no index names any
//! more are removed once they are an hour old (a client may still hold the previous index).

use super::files::{ChannelFiles, Entry};
use super::index::IndexError;
use rattler_conda_types::{RepoData, Shard, ShardedRepodata, ShardedSubdirInfo};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The index file of a sharded subdir.
pub const SHARDS_INDEX: &str = "repodata_shards.msgpack.zst";
/// The folder of the shards, in the subdir.
pub const SHARDS_DIR: &str = "shards";
/// How long an unreferenced shard stays for clients holding an older index.
const STALE_SHARD_AGE: Duration = Duration::from_secs(3600);

fn msgpack_zst<T: serde::Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, IndexError> {
    let failed = |message: String| IndexError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(message),
    };
    let packed = rmp_serde::to_vec_named(value).map_err(|e| failed(e.to_string()))?;
    zstd::bulk::compress(&packed, 3).map_err(|e| failed(e.to_string()))
}

/// Writes the shards and the shard index of `subdir` from its repodata: the shards first, so
/// that every shard the new index names is there when a client reads it.
pub fn write_shards(
    files: &dyn ChannelFiles,
    subdir: &str,
    repodata: &RepoData,
) -> Result<(), IndexError> {
    let mut by_name: BTreeMap<String, Shard> = BTreeMap::new();
    for (id, record) in &repodata.packages {
        let shard = by_name
            .entry(record.name.as_normalized().to_string())
            .or_default();
        shard.packages.insert(id.clone(), record.clone());
    }
    for (id, record) in &repodata.conda_packages {
        let shard = by_name
            .entry(record.name.as_normalized().to_string())
            .or_default();
        shard.conda_packages.insert(id.clone(), record.clone());
    }
    let shards_dir = format!("{subdir}/{SHARDS_DIR}");
    let existing = files.files(&shards_dir)?;
    let present: HashSet<&str> = existing.iter().map(|e| e.name.as_str()).collect();
    let mut hashes = Vec::new();
    let mut kept = HashSet::new();
    for (name, shard) in &by_name {
        let bytes = msgpack_zst(shard, &files.location(&shards_dir))?;
        let hash = rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(&bytes);
        let file_name = format!("{}.msgpack.zst", hex::encode(hash));
        if !present.contains(file_name.as_str()) {
            files.write(&format!("{shards_dir}/{file_name}"), &bytes)?;
        }
        kept.insert(file_name);
        hashes.push((name.clone(), hash));
    }
    let index = ShardedRepodata {
        info: ShardedSubdirInfo {
            subdir: subdir.to_string(),
            base_url: "./".into(),
            shards_base_url: format!("./{SHARDS_DIR}/"),
            created_at: None,
            repodata_revisions: Default::default(),
            channel_relations: None,
            virtual_package_detectors: None,
        },
        shards: hashes.into_iter().collect(),
    };
    let index_path = format!("{subdir}/{SHARDS_INDEX}");
    let bytes = msgpack_zst(&index, &files.location(&index_path))?;
    files.write(&index_path, &bytes)?;
    remove_stale(files, &shards_dir, &existing, &kept);
    Ok(())
}

/// Removes shards that no index names and that are older than [`STALE_SHARD_AGE`].
fn remove_stale(
    files: &dyn ChannelFiles,
    shards_dir: &str,
    existing: &[Entry],
    kept: &HashSet<String>,
) {
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    for entry in existing {
        let old = now_ns.saturating_sub(entry.mtime_ns) > STALE_SHARD_AGE.as_nanos();
        if entry.name.ends_with(".msgpack.zst") && !kept.contains(&entry.name) && old {
            // Left for the next run when it cannot go now.
            let _ = files.remove(&format!("{shards_dir}/{}", entry.name));
        }
    }
}
