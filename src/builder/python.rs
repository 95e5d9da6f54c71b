//! The python post-processing conda-build does for packages that are not `noarch: python`:
//! `build/entry_points` become `bin/<name>` wrapper scripts run by the host python, and
//! scripts in `bin/` whose shebang names a python get the host python's shebang. Both then hold
//! the host prefix, so prefix detection records them and installers relocate them (with
//! `#!/usr/bin/env python` when the installed prefix makes the line too long).

use super::BuildError;
use std::path::Path;

/// conda-build's `PY_TMPL` (`conda_build/windows.py` and `post.py`).
const ENTRY_POINT_TEMPLATE: &str = "
# -*- coding: utf-8 -*-
import re
import sys

from {module} import {import_name}

if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])
    sys.exit({func}())
";

/// One `name = module:func` entry point.
struct EntryPoint<'a> {
    name: &'a str,
    module: &'a str,
    func: &'a str,
}

fn parse_entry_point(text: &str) -> Result<EntryPoint<'_>, BuildError> {
    let invalid = || BuildError::EntryPoint(text.to_string());
    let (name, target) = text.split_once('=').ok_or_else(invalid)?;
    let (module, func) = target.split_once(':').ok_or_else(invalid)?;
    let (name, module, func) = (name.trim(), module.trim(), func.trim());
    if name.is_empty() || module.is_empty() || func.is_empty() {
        return Err(invalid());
    }
    Ok(EntryPoint { name, module, func })
}

/// `bin/<name>` of each entry point (conda-build's `get_entry_point_script_names`): the
/// wrappers a `noarch: python` package leaves out, since the installer writes them.
pub fn entry_point_script_names(entry_points: &[String]) -> Result<Vec<String>, BuildError> {
    entry_points
        .iter()
        .map(|text| parse_entry_point(text).map(|e| format!("bin/{}", e.name)))
        .collect()
}

/// Writes `bin/<name>` for each entry point, with the host python's shebang.
pub fn write_entry_points(host_prefix: &Path, entry_points: &[String]) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    if entry_points.is_empty() {
        return Ok(());
    }
    let bin = host_prefix.join("bin");
    std::fs::create_dir_all(&bin).map_err(BuildError::io(&bin))?;
    for text in entry_points {
        let entry = parse_entry_point(text)?;
        let import_name = entry.func.split('.').next().unwrap_or(entry.func);
        let script = format!(
            "#!{}\n{}",
            bin.join("python").display(),
            ENTRY_POINT_TEMPLATE
                .replace("{module}", entry.module)
                .replace("{import_name}", import_name)
                .replace("{func}", entry.func)
        );
        let path = bin.join(entry.name);
        if path.is_symlink() {
            std::fs::remove_file(&path).map_err(BuildError::io(&path))?;
        }
        std::fs::write(&path, script).map_err(BuildError::io(&path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o775))
            .map_err(BuildError::io(&path))?;
    }
    Ok(())
}

/// The script with its first line replaced by `#!<host prefix>/bin/python` when that line is a
/// shebang naming `python` or `pythonw` (conda-build's `fix_shebang`); `None` when it is not
/// (binary files, other interpreters, or already right).
pub fn fix_shebang(content: &[u8], host_prefix: &Path) -> Option<Vec<u8>> {
    if !content.starts_with(b"#!") {
        return None;
    }
    let end = content
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(content.len());
    let line = std::str::from_utf8(&content[..end]).ok()?;
    let names_python = line.split_whitespace().any(|word| {
        word.rsplit_once('/')
            .is_some_and(|(_, name)| name == "python" || name == "pythonw")
    });
    if !names_python || content.contains(&0) {
        return None;
    }
    let fixed = format!("#!{}/bin/python", host_prefix.display());
    if line == fixed {
        return None;
    }
    let mut out = fixed.into_bytes();
    out.extend_from_slice(&content[end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_python_shebangs_are_rewritten() {
        let prefix = Path::new("/h");
        let fixed =
            |s: &str| fix_shebang(s.as_bytes(), prefix).map(|b| String::from_utf8(b).unwrap());
        assert_eq!(
            fixed("#!/opt/x/bin/python -u\nprint(1)\n").as_deref(),
            Some("#!/h/bin/python\nprint(1)\n")
        );
        assert_eq!(
            fixed("#!/usr/bin/pythonw\n").as_deref(),
            Some("#!/h/bin/python\n")
        );
        assert_eq!(fixed("#!/usr/bin/env python\n"), None);
        assert_eq!(fixed("#!/usr/bin/python3\n"), None);
        assert_eq!(fixed("#!/bin/sh\n"), None);
        assert_eq!(fixed("#!/h/bin/python\n"), None);
        assert_eq!(fixed("print(1)\n"), None);
    }
}
