//! `krait convert`: re-target packages that hold no platform-specific binaries to other
//! subdirs, as `conda convert` does. `info/index.json` gets the target's `subdir`, `platform`
//! and `arch`; every other file is kept byte for byte, in the input's archive format.
//!
//! Refused, before anything is written: a package holding an ELF, Mach-O or PE binary (found
//! by magic bytes, whatever the file is called), a noarch package (it installs everywhere
//! already), and a move between unix and Windows of a package with files in a platform's own
//! layout (`bin/`, `lib/` against `Scripts/`, `Lib/`, `Library/`): conda convert rewrites
//! those with entry-point launchers that krait does not ship.

use super::package::ArchiveFormat;
use rattler_conda_types::compression_level::CompressionLevel;
use rattler_conda_types::Subdir;
use serde_json::{json, Value};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// What `--platform all` means: conda convert's list of targets.
pub const ALL_PLATFORMS: &[Subdir] = &[
    Subdir::Osx64,
    Subdir::OsxArm64,
    Subdir::Linux32,
    Subdir::Linux64,
    Subdir::LinuxPpc64,
    Subdir::LinuxPpc64le,
    Subdir::LinuxS390X,
    Subdir::LinuxArmV6l,
    Subdir::LinuxArmV7l,
    Subdir::LinuxAarch64,
    Subdir::Win32,
    Subdir::Win64,
    Subdir::WinArm64,
];

/// Errors of a conversion.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConvertError {
    #[error("unknown platform '{name}': use a subdir ({known}) or all")]
    UnknownPlatform { name: String, known: String },
    #[error("{0}: no such file")]
    Missing(PathBuf),
    #[error("{path} is not a conda package: {reason}")]
    #[diagnostic(help("convert .conda or .tar.bz2 archives built by krait or conda-build"))]
    Invalid { path: PathBuf, reason: String },
    #[error("{0} is a noarch package: it installs on every platform as it is")]
    Noarch(PathBuf),
    #[error("cannot convert {archive}: {file} is a platform-specific binary ({kind})")]
    #[diagnostic(help("build the recipe for each target platform instead"))]
    Binary {
        archive: PathBuf,
        file: String,
        kind: &'static str,
    },
    #[error(
        "cannot convert {archive} from {from} to {to}: {file} is in a folder laid out differently on unix and Windows"
    )]
    #[diagnostic(help(
        "krait convert moves packages between unix platforms, or between Windows platforms; \
         packages with bin/ or lib/ (Scripts/, Lib/ on Windows) need a build per platform"
    ))]
    Layout {
        archive: PathBuf,
        file: String,
        from: Subdir,
        to: Subdir,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ConvertError + '_ {
    move |source| ConvertError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One archive re-targeted to one platform.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Converted {
    pub source: PathBuf,
    pub target: Subdir,
    /// The archive written, `None` when the source is already built for `target`.
    pub output: Option<PathBuf>,
}

/// Parses `--platform` values (`all` expands to [`ALL_PLATFORMS`]), without duplicates.
pub fn parse_targets(names: &[String]) -> Result<Vec<Subdir>, ConvertError> {
    let mut targets = Vec::new();
    for name in names {
        let expanded = if name == "all" {
            ALL_PLATFORMS.to_vec()
        } else {
            match name.parse::<Subdir>() {
                Ok(subdir) if subdir != Subdir::NoArch => vec![subdir],
                _ => {
                    return Err(ConvertError::UnknownPlatform {
                        name: name.clone(),
                        known: ALL_PLATFORMS
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
        };
        for subdir in expanded {
            if !targets.contains(&subdir) {
                targets.push(subdir);
            }
        }
    }
    Ok(targets)
}

/// An input archive, extracted and checked.
struct Extracted {
    source: PathBuf,
    format: ArchiveFormat,
    /// File name without the archive extension (`name-version-build`).
    dist: String,
    subdir: Subdir,
    index: Value,
    root: tempfile::TempDir,
    members: Vec<PathBuf>,
}

/// Converts every archive to every target into `<out_dir>/<subdir>/<archive file name>`.
/// All archives are read and checked first: a refusal leaves `out_dir` untouched.
pub fn convert(
    archives: &[PathBuf],
    targets: &[Subdir],
    out_dir: &Path,
) -> Result<Vec<Converted>, ConvertError> {
    let extracted = archives
        .iter()
        .map(|archive| extract_checked(archive, targets))
        .collect::<Result<Vec<_>, _>>()?;
    let mut converted = Vec::new();
    for mut package in extracted {
        for &target in targets {
            let output = if target == package.subdir {
                None
            } else {
                Some(write_for(&mut package, target, out_dir)?)
            };
            converted.push(Converted {
                source: package.source.clone(),
                target,
                output,
            });
        }
    }
    Ok(converted)
}

fn extract_checked(archive: &Path, targets: &[Subdir]) -> Result<Extracted, ConvertError> {
    if !archive.is_file() {
        return Err(ConvertError::Missing(archive.to_path_buf()));
    }
    let invalid = |reason: String| ConvertError::Invalid {
        path: archive.to_path_buf(),
        reason,
    };
    let file_name = archive
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let (format, dist) = [ArchiveFormat::Conda, ArchiveFormat::TarBz2]
        .into_iter()
        .find_map(|f| Some((f, file_name.strip_suffix(f.extension())?.to_string())))
        .ok_or_else(|| invalid("the file name ends in neither .conda nor .tar.bz2".into()))?;
    let root = tempfile::tempdir().map_err(io(&std::env::temp_dir()))?;
    rattler_package_streaming::fs::extract(archive, root.path())
        .map_err(|e| invalid(crate::net::error_chain(&e)))?;
    let index_path = root.path().join("info/index.json");
    let text = std::fs::read_to_string(&index_path)
        .map_err(|e| invalid(format!("info/index.json: {e}")))?;
    let index: Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("info/index.json: {e}")))?;
    let subdir_name = index["subdir"]
        .as_str()
        .ok_or_else(|| invalid("info/index.json has no subdir".into()))?;
    let subdir: Subdir = subdir_name.parse().map_err(|_| {
        invalid(format!(
            "info/index.json has an unknown subdir {subdir_name}"
        ))
    })?;
    if subdir == Subdir::NoArch || index.get("noarch").is_some_and(|n| !n.is_null()) {
        return Err(ConvertError::Noarch(archive.to_path_buf()));
    }
    let mut members = Vec::new();
    for entry in walkdir::WalkDir::new(root.path()).sort_by_file_name() {
        let entry = entry.map_err(|e| invalid(e.to_string()))?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root.path())
            .expect("walked under the root")
            .to_string_lossy()
            .into_owned();
        if entry.file_type().is_file() {
            if let Some(kind) = binary_kind(entry.path()).map_err(io(entry.path()))? {
                return Err(ConvertError::Binary {
                    archive: archive.to_path_buf(),
                    file: rel,
                    kind,
                });
            }
        }
        if let Some(&to) = targets
            .iter()
            .find(|t| t.is_windows() != subdir.is_windows() && in_platform_layout(&rel, subdir))
        {
            return Err(ConvertError::Layout {
                archive: archive.to_path_buf(),
                file: rel,
                from: subdir,
                to,
            });
        }
        members.push(entry.into_path());
    }
    Ok(Extracted {
        source: archive.to_path_buf(),
        format,
        dist,
        subdir,
        index,
        root,
        members,
    })
}

/// Whether a package file sits in a folder whose layout differs between unix and Windows.
fn in_platform_layout(rel: &str, subdir: Subdir) -> bool {
    let top = rel.split('/').next().unwrap_or_default();
    if subdir.is_windows() {
        matches!(top, "Scripts" | "Lib" | "Library")
    } else {
        matches!(top, "bin" | "lib")
    }
}

/// The kind of platform-specific binary a file is, from its magic bytes.
fn binary_kind(path: &Path) -> std::io::Result<Option<&'static str>> {
    let mut file = std::fs::File::open(path)?;
    let mut head = Vec::with_capacity(64);
    (&mut file).take(64).read_to_end(&mut head)?;
    let magic = |m: [u8; 4]| head.starts_with(&m);
    if magic(*b"\x7fELF") {
        return Ok(Some("ELF"));
    }
    if [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
    ]
    .into_iter()
    .any(magic)
    {
        return Ok(Some("Mach-O"));
    }
    // Universal Mach-O shares 0xcafebabe with Java class files; there the next word is the
    // number of architectures (small), in a class file the version (45 and up).
    if (magic([0xca, 0xfe, 0xba, 0xbe]) || magic([0xca, 0xfe, 0xba, 0xbf])) && head.len() >= 8 {
        let count = u32::from_be_bytes(head[4..8].try_into().expect("4 bytes"));
        if (1..=30).contains(&count) {
            return Ok(Some("universal Mach-O"));
        }
    }
    // PE: the DOS header's `MZ`, and `PE\0\0` where its e_lfanew field points.
    if head.starts_with(b"MZ") && head.len() >= 64 {
        let offset = u32::from_le_bytes(head[60..64].try_into().expect("4 bytes"));
        let mut signature = [0u8; 4];
        file.seek(SeekFrom::Start(offset.into()))?;
        if file.read_exact(&mut signature).is_ok() && &signature == b"PE\0\0" {
            return Ok(Some("PE"));
        }
    }
    Ok(None)
}

/// Rewrites `info/index.json` for `target` and writes the archive (temp file, then rename).
fn write_for(
    package: &mut Extracted,
    target: Subdir,
    out_dir: &Path,
) -> Result<PathBuf, ConvertError> {
    let index = &mut package.index;
    index["subdir"] = json!(target.as_str());
    index["platform"] = json!(target.only_platform());
    index["arch"] = json!(target.arch().map(|a| a.as_str()));
    let index_path = package.root.path().join("info/index.json");
    let text = serde_json::to_string_pretty(index).expect("json") + "\n";
    std::fs::write(&index_path, text).map_err(io(&index_path))?;

    let dir = out_dir.join(target.as_str());
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let file_name = format!("{}{}", package.dist, package.format.extension());
    let archive = dir.join(file_name);
    // Keep the archive's member times: conda-build stamps them with the index timestamp.
    let timestamp = index["timestamp"].as_i64().and_then(|t| {
        if t > 100_000_000_000 {
            jiff::Timestamp::from_millisecond(t).ok()
        } else {
            jiff::Timestamp::from_second(t).ok()
        }
    });
    let tmp = crate::fs::temp_file_in(&dir).map_err(io(&dir))?;
    let file = tmp.reopen().map_err(io(tmp.path()))?;
    let root = package.root.path();
    match package.format {
        ArchiveFormat::Conda => rattler_package_streaming::write::write_conda_package(
            file,
            root,
            &package.members,
            CompressionLevel::Default,
            None,
            &package.dist,
            timestamp.as_ref(),
            None,
        ),
        ArchiveFormat::TarBz2 => rattler_package_streaming::write::write_tar_bz2_package(
            file,
            root,
            &package.members,
            CompressionLevel::Default,
            timestamp.as_ref(),
            None,
        ),
    }
    .map_err(io(&archive))?;
    crate::fs::persist(tmp, &archive).map_err(io(&archive))?;
    Ok(archive)
}
