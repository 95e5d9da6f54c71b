//! `__glibc` from the binaries: the oldest glibc a package's ELF files can run on is the highest
//! `GLIBC_x.y` symbol version they require (their `SHT_GNU_VERNEED` entries). `krait build`
//! adds `__glibc >=x.y` to the run requirements, so that installing the package where glibc is
//! older fails to solve instead of failing when it starts. conda-build does not do this: there
//! the `sysroot_linux-64` of `{{ stdlib('c') }}` exports a fixed `__glibc` bound.
//!
//! A recipe that already names `__glibc` in its run requirements (or its `run_constrained`)
//! keeps its own bound; `build/ignore_glibc_detection: true` turns the detection off.

use object::elf::{FileHeader32, FileHeader64};
use object::read::elf::{ElfFile, FileHeader};
use object::Endianness;
use std::path::{Path, PathBuf};

/// A glibc release, as in `GLIBC_2.34`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// `GLIBC_2.34` -> 2.34; other version names (`GLIBC_PRIVATE`, `GCC_3.0`, `GLIBC_2.2.5` keeps
/// its first two numbers) as glibc names its symbol versions.
fn parse_version_name(name: &[u8]) -> Option<GlibcVersion> {
    let text = std::str::from_utf8(name).ok()?.strip_prefix("GLIBC_")?;
    let mut numbers = text.split('.').map(|n| n.parse::<u32>().ok());
    Some(GlibcVersion {
        major: numbers.next()??,
        minor: numbers.next().flatten().unwrap_or(0),
    })
}

fn highest_in<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Option<GlibcVersion> {
    let file = ElfFile::<Elf>::parse(data).ok()?;
    let endian = file.endian();
    let sections = file.elf_section_table();
    let (mut needs, strings_index) = sections.gnu_verneed(endian, data).ok()??;
    let strings = sections.strings(endian, data, strings_index).ok()?;
    let mut highest = None;
    while let Ok(Some((_, mut aux))) = needs.next() {
        while let Ok(Some(entry)) = aux.next() {
            let version = entry
                .name(endian, strings)
                .ok()
                .and_then(parse_version_name);
            highest = highest.max(version);
        }
    }
    highest
}

/// The highest `GLIBC_x.y` an ELF file requires; `None` for other files and static binaries.
pub fn required_by_elf(data: &[u8]) -> Option<GlibcVersion> {
    const ELFCLASS64: u8 = 2;
    if !data.starts_with(b"\x7fELF") {
        return None;
    }
    if data.get(4) == Some(&ELFCLASS64) {
        highest_in::<FileHeader64<Endianness>>(data)
    } else {
        highest_in::<FileHeader32<Endianness>>(data)
    }
}

/// The highest glibc any of `files` (relative to `root`; symlinks skipped) requires, and the
/// file that requires it.
pub fn required_by_files(root: &Path, files: &[PathBuf]) -> Option<(GlibcVersion, PathBuf)> {
    files
        .iter()
        .filter(|f| std::fs::symlink_metadata(root.join(f)).is_ok_and(|m| m.is_file()))
        .filter_map(|f| {
            let data = std::fs::read(root.join(f)).ok()?;
            Some((required_by_elf(&data)?, f.clone()))
        })
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
}

/// Whether a run requirement or constraint already names `__glibc`.
fn constrains_glibc(specs: &[String]) -> bool {
    specs
        .iter()
        .any(|s| s.split_whitespace().next() == Some("__glibc"))
}

/// Adds `__glibc >=x.y` to `depends` for the highest glibc symbol version the package's files
/// require, unless the recipe bounds `__glibc` itself or opted out
/// (`build/ignore_glibc_detection`). Returns the requirement it added.
pub fn add_glibc_requirement(
    depends: &mut Vec<String>,
    constrains: &[String],
    ignore_detection: bool,
    root: &Path,
    files: &[PathBuf],
) -> Option<String> {
    if ignore_detection || constrains_glibc(depends) || constrains_glibc(constrains) {
        return None;
    }
    let (version, file) = required_by_files(root, files)?;
    let spec = format!("__glibc >={version}");
    tracing::info!(
        "{} needs GLIBC_{version}: adding {spec} to the run requirements",
        file.display()
    );
    depends.push(spec.clone());
    Some(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_version_names_parse_and_others_do_not() {
        let v = |major, minor| Some(GlibcVersion { major, minor });
        assert_eq!(parse_version_name(b"GLIBC_2.34"), v(2, 34));
        assert_eq!(parse_version_name(b"GLIBC_2.2.5"), v(2, 2));
        assert_eq!(parse_version_name(b"GLIBC_2.3"), v(2, 3));
        assert_eq!(parse_version_name(b"GLIBC_PRIVATE"), None);
        assert_eq!(parse_version_name(b"GCC_3.0"), None);
        assert!(v(2, 34) > v(2, 17) && v(2, 4) < v(2, 17));
    }

    #[test]
    fn the_running_test_binary_needs_a_glibc_and_a_recipe_bound_wins() {
        // This test's own executable is a dynamically linked glibc program.
        let exe = std::env::current_exe().unwrap();
        let version = required_by_elf(&std::fs::read(&exe).unwrap()).expect("a GLIBC_ version");
        assert!(version.major == 2 && version.minor >= 2, "{version}");
        let root = exe.parent().unwrap();
        let files = [PathBuf::from(exe.file_name().unwrap())];
        let mut depends = vec!["zlib".to_string()];
        let added = add_glibc_requirement(&mut depends, &[], false, root, &files);
        assert_eq!(added, Some(format!("__glibc >={version}")));
        assert_eq!(
            depends,
            ["zlib".to_string(), format!("__glibc >={version}")]
        );
        let mut bounded = vec!["__glibc >=2.17".to_string()];
        assert_eq!(
            add_glibc_requirement(&mut bounded, &[], false, root, &files),
            None
        );
        assert_eq!(bounded, ["__glibc >=2.17"]);
        let mut opted_out = Vec::new();
        assert_eq!(
            add_glibc_requirement(&mut opted_out, &[], true, root, &files),
            None
        );
        assert!(opted_out.is_empty());
        // Text files need nothing.
        assert_eq!(required_by_elf(b"#!/bin/sh\necho hi\n"), None);
    }
}
