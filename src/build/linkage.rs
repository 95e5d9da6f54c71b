//! The missing-DSO check conda-build runs after relocation: every shared library an ELF file of
//! the package needs (`DT_NEEDED`) must come from the package itself, the host environment
//! (through the file's RPATH/RUNPATH or the `rpaths` folders), or the system (glibc, or a
//! conda compiler's sysroot). Anything else is reported: a warning, or an error when the recipe
//! sets `build/error_overlinking` (or `error_overdepending`). `build/missing_dso_whitelist`
//! globs, matched against `$RPATH/<lib>` as conda-build writes them, silence a library.

use super::BuildError;
use object::elf::{FileHeader32, FileHeader64, DT_NEEDED, DT_RPATH, DT_RUNPATH};
use object::read::elf::{ElfFile, FileHeader};
use object::Endianness;
use std::path::{Path, PathBuf};

/// Libraries of the C runtime that every Linux system provides; conda-build finds them in the
/// sysroot of its compilers, which a build with the system compiler does not have.
const SYSTEM_LIBRARIES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libutil.so.1",
    "libresolv.so.2",
    "libnsl.so.1",
    "libcrypt.so.1",
    "libanl.so.1",
    "libmvec.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "ld64.so.2",
    "ld-linux.so.2",
];

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
    pub error: bool,
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

    /// Whether `library` is found through the file's search path or the `rpaths` folders of
    /// the host prefix.
    fn in_host(&self, file: &Path, search_path: &[String], library: &str) -> bool {
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
            .any(|dir| dir.join(library).exists())
    }

    fn whitelisted(&self, library: &str) -> bool {
        let candidates = [format!("$RPATH/{library}"), library.to_string()];
        self.whitelist.iter().any(|g| {
            glob::Pattern::new(g).is_ok_and(|p| candidates.iter().any(|c| p.matches(c) || c == g))
        })
    }

    /// Reports every needed library found nowhere: warnings, or an error when asked.
    pub fn run(&self) -> Result<(), BuildError> {
        let sysroots = self.sysroots();
        let mut missing = Vec::new();
        for file in self.files {
            let path = self.staging.join(file);
            let is_file = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            if !is_file {
                continue;
            }
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            let Some(linkage) = linkage(&data) else {
                continue;
            };
            for library in &linkage.needed {
                let found = SYSTEM_LIBRARIES.contains(&library.as_str())
                    || self.in_package(library)
                    || self.in_host(file, &linkage.search_path, library)
                    || sysroots.iter().any(|s| s.join(library).exists())
                    || self.whitelisted(library);
                if !found {
                    let message = format!(
                        "({},{}): $RPATH/{library} not found in packages, sysroot(s) nor the \
                         missing_dso_whitelist",
                        self.package,
                        file.display()
                    );
                    tracing::warn!("{message}");
                    missing.push(message);
                }
            }
        }
        if self.error && !missing.is_empty() {
            return Err(BuildError::Linkage(missing.join("\n")));
        }
        Ok(())
    }
}
