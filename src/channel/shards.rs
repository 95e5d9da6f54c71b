//! Sharded repodata (CEP-16): `<subdir>/repodata_shards.msgpack.zst`, an index of package name
//! → sha256 of that name's shard, and `<subdir>/shards/<sha256>.msgpack.zst`, the records of one
//! package name. A client that asks for shards (rattler, pixi, krait) fetches the index and the
//! shards of the names it solves for instead of the whole repodata.json.
//!
//! Shards are content-addressed, so an unchanged name keeps its file; files no index names any
//! more are removed once they are an hour old (a client may still hold the previous index).

use super::index::{write_atomic, IndexError};
use rattler_conda_types::{RepoData, Shard, ShardedRepodata, ShardedSubdirInfo};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

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

/// Writes the shards and the shard index of the subdir folder `dir` from its repodata.
pub fn write_shards(dir: &Path, subdir: &str, repodata: &RepoData) -> Result<(), IndexError> {
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
    let shards_dir = dir.join(SHARDS_DIR);
    std::fs::create_dir_all(&shards_dir).map_err(|source| IndexError::Write {
        path: shards_dir.clone(),
        source,
    })?;
    let mut hashes = Vec::new();
    let mut kept = HashSet::new();
    for (name, shard) in &by_name {
        let bytes = msgpack_zst(shard, &shards_dir)?;
        let hash = rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(&bytes);
        let file_name = format!("{}.msgpack.zst", hex::encode(hash));
        let path = shards_dir.join(&file_name);
        if !path.is_file() {
            write_atomic(&path, &bytes)?;
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
    let index_path = dir.join(SHARDS_INDEX);
    write_atomic(&index_path, &msgpack_zst(&index, &index_path)?)?;
    remove_stale(&shards_dir, &kept);
    Ok(())
}

/// Removes shards that no index names and that are older than [`STALE_SHARD_AGE`].
fn remove_stale(shards_dir: &Path, kept: &HashSet<String>) {
    let now = SystemTime::now();
    for entry in std::fs::read_dir(shards_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE_SHARD_AGE);
        if name.ends_with(".msgpack.zst") && !kept.contains(&name) && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
