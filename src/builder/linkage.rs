//! The linkage checks conda-build runs after relocation (`check_overlinking_impl`).
//!
//! Overlinking: every shared library an ELF file of the package needs (`DT_NEEDED`) must come
//! from the package itself, the host environment (through the file's RPATH/RUNPATH or the
//! `rpaths` folders), or the system (glibc, or a conda compiler's sysroot). Anything else is
//! reported: a warning, or an error with `build/error_overlinking`; a library that only the
//! build machine's own system provides (`libssl.so.3` from /usr/lib) is reported as such, since
//! the package would work here and fail on a machine without it.
//! `build/missing_dso_whitelist` globs, matched against `$RPATH/<lib>` as conda-build writes
//! them, silence a library.
//!
//! Overdepending: a run requirement installed in the host environment that ships shared
//! libraries, none of which a file of the package links to, is reported the same way
//! (`build/error_overdepending`). Packages in `build/ignore_run_exports` and `libgcc-ng` are
//! left out, and only packages with ELF files are checked, as conda-build does; so are the
//! interpreters `python` and `r-base`, which conda-build only mentions.

use super::BuildError;
use object::elf::{FileHeader32, FileHeader64, DT_NEEDED, DT_RPATH, DT_RUNPATH};
use object::read::elf::{ElfFile, FileHeader};
use object::Endianness;
use rattler_conda_types::PrefixRecord;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// glibc's own libraries, which every Linux system has (conda-build finds them in the sysroot
/// of its compilers, which a build with the system compiler does not have). `libcrypt.so.1` is
/// not among them: current distributions ship it from libxcrypt, a package of its own.
const GLIBC_LIBRARIES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libutil.so.1",
    "libresolv.so.2",
    "libnsl.so.1",
    "libanl.so.1",
    "libmvec.so.1",
    "libBrokenLocale.so.1",
    "libthread_db.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "ld64.so.2",
    "ld-linux.so.2",
];

/// Folders where the build machine's own loader finds libraries that no environment provides.
const SYSTEM_LIBRARY_DIRS: &[&str] = &[
    "/lib64",
    "/usr/lib64",
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
];

/// Where the build machine's system has `library`, if it does: a file of the package linking
/// it works here, and nowhere the library is missing or another version.
fn found_on_build_system(library: &str) -> Option<PathBuf> {
    SYSTEM_LIBRARY_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(library))
        .find(|path| path.exists())
}

/// What the dynamic section of an ELF file asks of the loader.
struct DynamicLinkage {
    needed: Vec<String>,
    search_path: Vec<String>,
}

fn read_linkage<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Option<DynamicLinkage> {
    let file = ElfFile::<Elf>::parse(data).ok()?;
    let table = file.elf_dynamic_table().ok()?;
    let mut linkage = DynamicLinkage {
        needed: Vec::new(),
        search_path: Vec::new(),
    };
    for entry in &table {
        let Ok(value) = table.string(entry) else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match entry.tag {
            DT_NEEDED => linkage.needed.push(value),
            DT_RPATH | DT_RUNPATH => linkage
                .search_path
                .extend(value.split(':').filter(|s| !s.is_empty()).map(String::from)),
            _ => {}
        }
    }
    Some(linkage)
}

/// The dynamic linkage of an ELF file; `None` for anything else (or a static executable).
fn linkage(data: &[u8]) -> Option<DynamicLinkage> {
    const ELFCLASS64: u8 = 2;
    if !data.starts_with(b"\x7fELF") {
        return None;
    }
    let linkage = if data.get(4) == Some(&ELFCLASS64) {
        read_linkage::<FileHeader64<Endianness>>(data)?
    } else {
        read_linkage::<FileHeader32<Endianness>>(data)?
    };
    (!linkage.needed.is_empty()).then_some(linkage)
}

/// What the check needs to know about the package and where it was built.
pub struct LinkageCheck<'a> {
    pub package: &'a str,
    /// The staged package folder (files already relocated).
    pub staging: &'a Path,
    /// Package paths, relative to `staging` and to the host prefix.
    pub files: &'a [PathBuf],
    pub host_prefix: &'a Path,
    pub build_prefix: &'a Path,
    /// `build/rpaths`: folders of the host prefix the loader is pointed at.
    pub rpaths: &'a [String],
    pub whitelist: &'a [String],
    pub error_overlinking: bool,
    /// The package's final run requirements (`name version build` specs).
    pub run_depends: &'a [String],
    pub ignore_run_exports: &'a [String],
    pub error_overdepending: bool,
}

/// A package of the host environment, as the overdepending check sees it.
struct HostPackage {
    dist: String,
    /// It ships shared libraries in `lib/`.
    has_dsos: bool,
    /// It declares run_exports (conda-build's "run-exports library").
    has_run_exports: bool,
}

/// The host environment's packages by name, and which package each of its files belongs to.
fn host_packages(host_prefix: &Path) -> (HashMap<String, HostPackage>, HashMap<PathBuf, String>) {
    let mut packages = HashMap::new();
    let mut owners = HashMap::new();
    let records = std::fs::read_dir(host_prefix.join("conda-meta"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| PrefixRecord::from_path(e.path()).ok());
    for record in records {
        let package = &record.repodata_record.package_record;
        let name = package.name.as_normalized().to_string();
        let has_dsos = record.files.iter().any(|f| {
            f.parent() == Some(Path::new("lib"))
                && f.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(".so"))
        });
        let has_run_exports = record
            .extracted_package_dir
            .as_ref()
            .is_some_and(|dir| dir.join("info/run_exports.json").is_file());
        for file in &record.files {
            owners.insert(file.clone(), name.clone());
        }
        packages.insert(
            name,
            HostPackage {
                dist: format!(
                    "{}-{}-{}",
                    package.name.as_source(),
                    package.version,
                    package.build
                ),
                has_dsos,
                has_run_exports,
            },
        );
    }
    (packages, owners)
}

impl LinkageCheck<'_> {
    /// Folders of conda compilers' sysroots in the build and host environments.
    fn sysroots(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for prefix in [self.build_prefix, self.host_prefix] {
            for sub in ["lib", "lib64", "usr/lib", "usr/lib64"] {
                let pattern = prefix.join("*/sysroot").join(sub);
                dirs.extend(
                    glob::glob(&pattern.to_string_lossy())
                        .into_iter()
                        .flatten()
                        .flatten(),
                );
            }
        }
        dirs
    }

    fn in_package(&self, library: &str) -> bool {
        self.files
            .iter()
            .any(|f| f.file_name().is_some_and(|n| n == library))
    }

    /// Where `library` is found through the file's search path or the `rpaths` folders of
    /// the host prefix, relative to the host prefix (`host_root`, canonical) with links
    /// resolved.
    fn in_host(
        &self,
        host_root: &Path,
        file: &Path,
        search_path: &[String],
        library: &str,
    ) -> Option<PathBuf> {
        let origin = self
            .host_prefix
            .join(file)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.host_prefix.to_path_buf());
        let origin = origin.to_string_lossy();
        search_path
            .iter()
            .map(|entry| {
                PathBuf::from(
                    entry
                        .replace("${ORIGIN}", &origin)
                        .replace("$ORIGIN", &origin),
                )
            })
            .chain(self.rpaths.iter().map(|r| self.host_prefix.join(r)))
            .chain(std::iter::once(self.host_prefix.join("lib")))
            .filter(|dir| dir.starts_with(self.host_prefix))
            .find_map(|dir| std::fs::canonicalize(dir.join(library)).ok())
            .map(|found| {
                found
                    .strip_prefix(host_root)
                    .map_or(found.clone(), Path::to_path_buf)
            })
    }

    fn whitelisted(&self, library: &str) -> bool {
        let candidates = [format!("$RPATH/{library}"), library.to_string()];
        self.whitelist.iter().any(|g| {
            glob::Pattern::new(g).is_ok_and(|p| candidates.iter().any(|c| p.matches(c) || c == g))
        })
    }

    /// Reports every needed library found nowhere, and every library package of the run
    /// requirements nothing links to: warnings, or errors when asked.
    pub fn run(&self) -> Result<(), BuildError> {
        let sysroots = self.sysroots();
        let (host, owners) = host_packages(self.host_prefix);
        let host_root = std::fs::canonicalize(self.host_prefix)
            .unwrap_or_else(|_| self.host_prefix.to_path_buf());
        let mut missing = Vec::new();
        let mut used = BTreeSet::new();
        let mut inspected = false;
        for file in self.files {
            let path = self.staging.join(file);
            let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            if !is_file {
                continue;
            }
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            inspected |= data.starts_with(b"\x7fELF");
            let Some(linkage) = linkage(&data) else {
                continue;
            };
            for library in &linkage.needed {
                let in_host = self.in_host(&host_root, file, &linkage.search_path, library);
                if let Some(owner) = in_host.as_ref().and_then(|path| owners.get(path)) {
                    used.insert(owner.clone());
                }
                let found = GLIBC_LIBRARIES.contains(&library.as_str())
                    || self.in_package(library)
                    || in_host.is_some()
                    || sysroots.iter().any(|s| s.join(library).exists())
                    || self.whitelisted(library);
                if !found {
                    let mut message = format!(
                        "({},{}): $RPATH/{library} not found in packages, sysroot(s) nor the \
                         missing_dso_whitelist",
                        self.package,
                        file.display()
                    );
                    if let Some(system) = found_on_build_system(library) {
                        message.push_str(&format!(
                            "; only the build machine's system has it ({}): add the package \
                             that provides it to the host requirements",
                            system.display()
                        ));
                    }
                    tracing::warn!("{message}");
                    missing.push(message);
                }
            }
        }
        if self.error_overlinking && !missing.is_empty() {
            return Err(BuildError::Linkage(missing.join("\n")));
        }
        let unused = if inspected {
            self.overdepending(&host, &used)
        } else {
            Vec::new()
        };
        if self.error_overdepending && !unused.is_empty() {
            return Err(BuildError::Overdepending(unused.join("\n")));
        }
        Ok(())
    }

    /// The run requirements that ship shared libraries none of the package's files use.
    fn overdepending(
        &self,
        host: &HashMap<String, HostPackage>,
        used: &BTreeSet<String>,
    ) -> Vec<String> {
        let names: BTreeSet<&str> = self
            .run_depends
            .iter()
            .filter_map(|spec| spec.split_whitespace().next())
            .collect();
        let mut unused = Vec::new();
        for name in names {
            // Interpreters are what python and R packages need without linking to them.
            let ignored = ["libgcc-ng", "python", "r-base"].contains(&name)
                || name == self.package
                || self.ignore_run_exports.iter().any(|n| n == name);
            let Some(package) = host.get(name).filter(|p| p.has_dsos) else {
                continue;
            };
            if ignored || used.contains(name) {
                continue;
            }
            let nature = if package.has_run_exports {
                "run-exports library"
            } else {
                "dso library"
            };
            let message = format!(
                "({}): {nature} package {} in requirements/run but it is not used (i.e. it is \
                 overdepending or perhaps statically linked? If that is what you want then add \
                 it to `build/ignore_run_exports`)",
                self.package, package.dist
            );
            tracing::warn!("{message}");
            unused.push(message);
        }
        unused
    }
}
