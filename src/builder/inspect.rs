//! `krait inspect linkages` and `krait inspect objects` (conda-build's `conda inspect`): the
//! shared libraries each ELF file of a package needs and which package of an environment
//! provides them, read the way the build's linkage check ([`super::linkage`]) reads them.

use super::linkage::{elf_dynamic, found_on_build_system, host_packages, GLIBC_LIBRARIES};
use rattler_conda_types::package::{IndexJson, PackageFile};
use rattler_conda_types::PrefixRecord;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InspectError {
    #[error("{name} is not installed in {}", prefix.display())]
    #[diagnostic(help("give an installed package's name with -p PREFIX, or a package archive"))]
    NotInstalled { name: String, prefix: PathBuf },
    #[error("cannot read the package archive {}: {message}", archive.display())]
    Archive { archive: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The files of one package: an installed one (read in its prefix) or an archive (extracted
/// into a temporary folder).
pub struct PackageFiles {
    /// `name-version-build`.
    pub dist: String,
    /// Where `files` are read from.
    pub root: PathBuf,
    pub files: Vec<PathBuf>,
    _extracted: Option<tempfile::TempDir>,
}

/// `what` is a `.conda`/`.tar.bz2` file, or the name of a package installed in `prefix`.
pub fn package_files(what: &str, prefix: &Path) -> Result<PackageFiles, InspectError> {
    let path = Path::new(what);
    if path.is_file() {
        let archive_error = |message: String| InspectError::Archive {
            archive: path.to_path_buf(),
            message,
        };
        let dir = tempfile::tempdir().map_err(|source| InspectError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        rattler_package_streaming::fs::extract(path, dir.path())
            .map_err(|e| archive_error(e.to_string()))?;
        let index = IndexJson::from_package_directory(dir.path())
            .map_err(|e| archive_error(format!("info/index.json: {e}")))?;
        let files = walkdir::WalkDir::new(dir.path())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| !e.file_type().is_dir())
            .filter_map(|e| {
                e.path()
                    .strip_prefix(dir.path())
                    .ok()
                    .map(Path::to_path_buf)
            })
            .filter(|p| !p.starts_with("info"))
            .collect();
        return Ok(PackageFiles {
            dist: format!(
                "{}-{}-{}",
                index.name.as_normalized(),
                index.version,
                index.build
            ),
            root: dir.path().to_path_buf(),
            files,
            _extracted: Some(dir),
        });
    }
    let meta = prefix.join("conda-meta");
    let record = std::fs::read_dir(&meta)
        .map_err(|source| InspectError::Io {
            path: meta.clone(),
            source,
        })?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| PrefixRecord::from_path(e.path()).ok())
        .find(|r| r.repodata_record.package_record.name.as_normalized() == what)
        .ok_or_else(|| InspectError::NotInstalled {
            name: what.to_string(),
            prefix: prefix.to_path_buf(),
        })?;
    let p = &record.repodata_record.package_record;
    Ok(PackageFiles {
        dist: format!("{}-{}-{}", p.name.as_normalized(), p.version, p.build),
        root: prefix.to_path_buf(),
        files: record.files.clone(),
        _extracted: None,
    })
}

/// One shared library a file of the package needs, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Linked {
    pub library: String,
    /// Relative to the prefix when it is in it; absolute for the system's; none if not found.
    pub path: Option<PathBuf>,
    /// The package file that needs it.
    pub binary: PathBuf,
}

/// Where the providers of libraries not from a package of the prefix are grouped, printed
/// after the packages (as conda-build's `print_linkages` does).
const SYSTEM: &str = "system";
const NOT_FOUND: &str = "not found";
const UNTRACKED: &str = "untracked";

/// Every needed library of every ELF file of `package`, grouped by what provides it in
/// `prefix`: a package's `name-version-build`, `untracked` (a prefix file no package owns),
/// `system` (glibc and the machine's own library folders) or `not found`. The search path is
/// the file's RPATH/RUNPATH (`$ORIGIN` at the file's place in the prefix), then `lib/`.
pub fn linkages(package: &PackageFiles, prefix: &Path) -> BTreeMap<String, Vec<Linked>> {
    let (packages, owners) = host_packages(prefix);
    let prefix_root = std::fs::canonicalize(prefix).unwrap_or_else(|_| prefix.to_path_buf());
    let mut groups: BTreeMap<String, Vec<Linked>> = BTreeMap::new();
    for file in &package.files {
        let Some(dynamic) = read_elf(&package.root.join(file)) else {
            continue;
        };
        let origin = prefix.join(file).parent().map(Path::to_path_buf);
        let origin = origin.unwrap_or_else(|| prefix.to_path_buf());
        let origin = origin.to_string_lossy();
        let dirs: Vec<PathBuf> = dynamic
            .search_path
            .iter()
            .map(|e| PathBuf::from(e.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin)))
            .chain(std::iter::once(prefix.join("lib")))
            .collect();
        for library in dynamic.needed {
            let in_prefix = dirs
                .iter()
                .find_map(|dir| std::fs::canonicalize(dir.join(&library)).ok())
                .and_then(|found| found.strip_prefix(&prefix_root).ok().map(Path::to_path_buf));
            let in_package = package
                .files
                .iter()
                .find(|f| f.file_name().is_some_and(|n| *n == *library) && in_prefix.is_none());
            let (group, path) = match (&in_prefix, in_package) {
                (Some(rel), _) => match owners.get(rel).and_then(|name| packages.get(name)) {
                    Some(owner) => (owner.dist.clone(), Some(rel.clone())),
                    None if package.files.contains(rel) => {
                        (package.dist.clone(), Some(rel.clone()))
                    }
                    None => (UNTRACKED.to_string(), Some(rel.clone())),
                },
                (None, Some(own)) => (package.dist.clone(), Some(own.clone())),
                (None, None) => match found_on_build_system(&library) {
                    Some(system) => (SYSTEM.to_string(), Some(system)),
                    None if GLIBC_LIBRARIES.contains(&library.as_str()) => {
                        (SYSTEM.to_string(), None)
                    }
                    None => (NOT_FOUND.to_string(), None),
                },
            };
            groups.entry(group).or_default().push(Linked {
                library,
                path,
                binary: file.clone(),
            });
        }
    }
    for linked in groups.values_mut() {
        linked.sort();
    }
    groups
}

/// conda-build's `print_linkages` layout: each provider, then its libraries (with the files
/// needing them under `show_files`), `system` and `not found` last.
pub fn format_linkages(
    dist: &str,
    groups: &BTreeMap<String, Vec<Linked>>,
    show_files: bool,
) -> String {
    let mut out = format!("{dist}\n{}\n\n", "-".repeat(dist.len()));
    let last = [UNTRACKED, SYSTEM, NOT_FOUND];
    let order = groups.keys().filter(|k| !last.contains(&k.as_str())).chain(
        last.iter()
            .filter_map(|k| groups.get_key_value(*k).map(|(k, _)| k)),
    );
    for group in order {
        out.push_str(&format!("{group}:\n"));
        let mut lines: Vec<String> = groups[group]
            .iter()
            .map(|l| {
                let path = l
                    .path
                    .as_ref()
                    .map_or("not found".into(), |p| p.display().to_string());
                if show_files {
                    format!("    {} ({path}) from {}\n", l.library, l.binary.display())
                } else {
                    format!("    {} ({path})\n", l.library)
                }
            })
            .collect();
        lines.dedup();
        out.extend(lines);
        out.push('\n');
    }
    out
}

/// An ELF file of a package, as `krait inspect objects` shows it.
#[derive(Debug, Serialize)]
pub struct ObjectInfo {
    pub path: PathBuf,
    /// `executable` or `shared library`.
    pub kind: &'static str,
    pub soname: Option<String>,
    /// RPATH/RUNPATH entries.
    pub rpath: Vec<String>,
    pub needed: Vec<String>,
}

/// The ELF files of `package` with their dynamic sections.
pub fn objects(package: &PackageFiles) -> Vec<ObjectInfo> {
    let mut found: Vec<ObjectInfo> = package
        .files
        .iter()
        .filter_map(|file| {
            let dynamic = read_elf(&package.root.join(file))?;
            Some(ObjectInfo {
                path: file.clone(),
                kind: if dynamic.executable {
                    "executable"
                } else {
                    "shared library"
                },
                soname: dynamic.soname,
                rpath: dynamic.search_path,
                needed: dynamic.needed,
            })
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// conda-build's `inspect objects` layout: each file, then its fields indented.
pub fn format_objects(dist: &str, objects: &[ObjectInfo]) -> String {
    let mut out = format!("{dist}\n{}\n\n", "-".repeat(dist.len()));
    for object in objects {
        out.push_str(&format!(
            "{}\n    type: {}\n    soname: {}\n    rpath: {}\n    needed: {}\n\n",
            object.path.display(),
            object.kind,
            object.soname.as_deref().unwrap_or("-"),
            object.rpath.join(":"),
            object.needed.join(", ")
        ));
    }
    out
}

/// The dynamic section of a regular file that is ELF (links are skipped: their target is
/// inspected as its own file).
fn read_elf(path: &Path) -> Option<super::linkage::DynamicLinkage> {
    let metadata = std::fs::symlink_metadata(path).ok()?;
    if !metadata.is_file() {
        return None;
    }
    elf_dynamic(&std::fs::read(path).ok()?)
}
