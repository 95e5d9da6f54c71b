//! Cache entries from archives on the local disk, read once and hashed once.
//!
//! rattler's extractors compute both md5 and sha256 of every archive they read; md5 alone was
//! 40% of the CPU time of a cold `create` from a local channel. A record from repodata names the
//! sha256 its archive must have, so that is the one digest computed here, over exactly the bytes
//! that are unpacked. Unpacking is the tar crate's own: it skips `..` entries, keeps every parent
//! inside the destination, checks hard-link sources and never writes through an existing link.
//! rattler's cache unpacks into a temporary folder and renames it into place only on success.

use rattler_conda_types::package::CondaArchiveType;
use rattler_digest::{HashingReader, Sha256, Sha256Hash};
use rattler_package_streaming::ExtractError;
use std::io::{BufReader, Read};
use std::path::Path;

/// Unpacks the `.conda` or `.tar.bz2` at `archive` into `destination`, failing with
/// `HashMismatch` when the archive's sha256 is not `expected`.
pub fn extract_verified(
    archive: &Path,
    destination: &Path,
    expected: &Sha256Hash,
) -> Result<Sha256Hash, ExtractError> {
    let kind = CondaArchiveType::try_from(archive).ok_or(ExtractError::UnsupportedArchiveType)?;
    let file = std::fs::File::open(archive)?;
    let mut reader = HashingReader::<_, Sha256>::new(BufReader::with_capacity(256 * 1024, file));
    std::fs::create_dir_all(destination).map_err(ExtractError::CouldNotCreateDestination)?;
    match kind {
        CondaArchiveType::TarBz2 => {
            unpack_tar(
                rattler_package_streaming::read::stream_tar_bz2(&mut reader),
                destination,
            )?;
        }
        CondaArchiveType::Conda => {
            while let Some(mut member) =
                zip::read::read_zipfile_from_stream(&mut reader).map_err(ExtractError::ZipError)?
            {
                if member.name().is_ok_and(|name| name.ends_with(".tar.zst")) {
                    let decoder = zstd::stream::read::Decoder::new(&mut member)?;
                    unpack_tar(tar::Archive::new(decoder), destination)?;
                } else {
                    std::io::copy(&mut member, &mut std::io::sink())?;
                }
            }
        }
    }
    // Whatever follows the last member (a zip's central directory) is part of the digest.
    let size = std::io::copy(&mut reader, &mut std::io::sink())?;
    let (_, actual) = reader.finalize();
    if &actual != expected {
        return Err(ExtractError::HashMismatch {
            url: archive.display().to_string(),
            destination: destination.display().to_string(),
            expected: hex::encode(expected),
            actual: hex::encode(actual),
            total_size: size,
        });
    }
    Ok(actual)
}

/// Unpacks one tar stream, then reads its decompressor to the end so that a stream cut short
/// after the end-of-archive marker is an error rather than accepted.
fn unpack_tar(
    mut archive: tar::Archive<impl Read>,
    destination: &Path,
) -> Result<(), ExtractError> {
    archive.unpack(destination)?;
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink())?;
    Ok(())
}
