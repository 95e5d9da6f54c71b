//! What a recipe needs from a source distribution (`.tar.gz`): metadata from `PKG-INFO`,
//! requirements from `pyproject.toml` (PEP 621 and `build-system`), `setup.cfg`, a static
//! `setup.py` or `PKG-INFO`'s `Requires-Dist`, whether it is pure Python, its top-level import
//! names and its license files.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Files larger than this are not kept in memory (only their names are).
const MAX_TEXT_FILE: u64 = 4 * 1024 * 1024;

/// Source files whose presence means compiled extensions, so not `noarch: python`.
const NATIVE_SOURCES: &[&str] = &[
    ".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs", ".f", ".f90", ".cu",
];

/// An unpacked view of an sdist: every path (relative to its top folder), small files' text.
pub struct Sdist {
    pub paths: Vec<String>,
    texts: BTreeMap<String, String>,
}

/// What the recipe is made of.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub name: String,
    pub version: String,
    pub summary: Option<String>,
    pub home: Option<String>,
    pub license: Option<String>,
    pub requires_python: Option<String>,
    /// PEP 508 lines of the run requirements, and where they came from.
    pub run: Vec<String>,
    pub run_source: &'static str,
    /// PEP 508 lines of the build backend's requirements.
    pub build_system: Vec<String>,
    pub pure: bool,
    pub imports: Vec<String>,
    pub license_files: Vec<String>,
    /// The wheel's file name when the recipe installs a wheel as is instead of building.
    pub wheel_file: Option<String>,
}

impl Sdist {
    /// Reads a `.tar.gz` sdist.
    pub fn read(path: &Path) -> Result<Sdist, String> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if !(name.ends_with(".tar.gz") || name.ends_with(".tgz")) {
            return Err(format!(
                "{}: only .tar.gz sdists are supported",
                path.display()
            ));
        }
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let mut paths = Vec::new();
        let mut texts = BTreeMap::new();
        let entries = archive
            .entries()
            .map_err(|e| format!("{}: not a .tar.gz: {e}", path.display()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| format!("{}: corrupt: {e}", path.display()))?;
            let full = entry
                .path()
                .map_err(|e| format!("{}: {e}", path.display()))?
                .to_string_lossy()
                .into_owned();
            // Paths are relative to the sdist's single top folder (`name-version/`).
            let Some((_, relative)) = full.split_once('/') else {
                continue;
            };
            if relative.is_empty() || !entry.header().entry_type().is_file() {
                continue;
            }
            if entry.size() <= MAX_TEXT_FILE {
                let mut text = String::new();
                if entry.read_to_string(&mut text).is_ok() {
                    texts.insert(relative.to_string(), text);
                }
            }
            paths.push(relative.to_string());
        }
        if paths.is_empty() {
            return Err(format!("{}: the archive holds no files", path.display()));
        }
        Ok(Sdist { paths, texts })
    }

    fn text(&self, path: &str) -> Option<&str> {
        self.texts.get(path).map(String::as_str)
    }

    /// Reads everything a recipe needs.
    pub fn analyse(&self) -> Result<Analysis, String> {
        let pkg_info = self
            .text("PKG-INFO")
            .map(parse_pkg_info)
            .unwrap_or_default();
        let field = |key: &str| pkg_info.get(key).and_then(|v| v.first()).cloned();
        let pyproject: Option<toml::Table> = match self.text("pyproject.toml") {
            Some(text) => Some(
                text.parse()
                    .map_err(|e| format!("pyproject.toml does not parse: {e}"))?,
            ),
            None => None,
        };
        let project = pyproject
            .as_ref()
            .and_then(|p| p.get("project"))
            .and_then(|p| p.as_table());
        let dynamic: Vec<&str> = project
            .and_then(|p| p.get("dynamic"))
            .and_then(|d| d.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let string_list = |value: Option<&toml::Value>| -> Option<Vec<String>> {
            value.and_then(|v| v.as_array()).map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
        };
        let setup_cfg = self
            .text("setup.cfg")
            .map(parse_setup_cfg)
            .unwrap_or_default();
        let setup_py = self.text("setup.py").unwrap_or("");

        let name = field("Name")
            .or_else(|| project.and_then(|p| p.get("name")?.as_str().map(str::to_string)))
            .ok_or("the sdist has neither PKG-INFO nor [project] name")?;
        let version = field("Version")
            .or_else(|| project.and_then(|p| p.get("version")?.as_str().map(str::to_string)))
            .ok_or("the sdist has no version in PKG-INFO or [project]")?;

        let from_pyproject = project
            .filter(|_| !dynamic.contains(&"dependencies"))
            .and_then(|p| string_list(p.get("dependencies")));
        let requires_dist = pkg_info.get("Requires-Dist").cloned();
        let from_cfg = setup_cfg.get("install_requires").cloned();
        let from_setup_py = static_list(setup_py, "install_requires");
        let (run, run_source) = if let Some(deps) = from_pyproject {
            (deps, "pyproject.toml [project] dependencies")
        } else if let Some(deps) = requires_dist {
            (deps, "PKG-INFO Requires-Dist")
        } else if let Some(deps) = from_cfg {
            (deps, "setup.cfg [options] install_requires")
        } else if let Some(deps) = from_setup_py {
            (deps, "setup.py install_requires")
        } else {
            (Vec::new(), "none found")
        };
        let build_system = pyproject
            .as_ref()
            .and_then(|p| p.get("build-system"))
            .and_then(|b| string_list(b.get("requires")))
            .unwrap_or_else(|| vec!["setuptools".to_string()]);
        let requires_python = project
            .and_then(|p| p.get("requires-python")?.as_str().map(str::to_string))
            .or_else(|| field("Requires-Python"))
            .or_else(|| {
                setup_cfg
                    .get("python_requires")
                    .and_then(|v| v.first().cloned())
            })
            .or_else(|| static_string(setup_py, "python_requires"));
        let license = field("License-Expression")
            .or_else(|| {
                project.and_then(|p| match p.get("license")? {
                    toml::Value::String(s) => Some(s.clone()),
                    toml::Value::Table(t) => t.get("text")?.as_str().map(str::to_string),
                    _ => None,
                })
            })
            .or_else(|| legacy_license(&pkg_info));
        let home = home_page(&pkg_info);
        let summary = field("Summary")
            .or_else(|| project.and_then(|p| p.get("description")?.as_str().map(str::to_string)));
        let pure = !self
            .paths
            .iter()
            .any(|p| NATIVE_SOURCES.iter().any(|ext| p.ends_with(ext)))
            && !setup_py.contains("ext_modules");
        Ok(Analysis {
            name,
            version,
            summary,
            home,
            license,
            requires_python,
            run,
            run_source,
            build_system,
            pure,
            imports: self.imports(),
            license_files: self.license_files(),
            wheel_file: None,
        })
    }

    /// Top-level packages (`pkg/__init__.py`, `src/pkg/__init__.py`), else top-level modules.
    fn imports(&self) -> Vec<String> {
        let skip = [
            "test",
            "tests",
            "testing",
            "docs",
            "doc",
            "examples",
            "benchmarks",
        ];
        let mut packages: Vec<String> = self
            .paths
            .iter()
            .filter_map(|p| {
                let p = p.strip_prefix("src/").unwrap_or(p);
                let (package, rest) = p.split_once('/')?;
                (rest == "__init__.py" && !skip.contains(&package)).then(|| package.to_string())
            })
            .collect();
        if packages.is_empty() {
            packages = self
                .paths
                .iter()
                .filter_map(|p| {
                    let p = p.strip_prefix("src/").unwrap_or(p);
                    let module = p.strip_suffix(".py")?;
                    let special = ["setup", "conftest", "noxfile", "tasks", "fabfile"];
                    (!module.contains('/')
                        && !special.contains(&module)
                        && !module.starts_with("test"))
                    .then(|| module.to_string())
                })
                .collect();
        }
        packages.sort();
        packages.dedup();
        packages
    }

    fn license_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .paths
            .iter()
            .filter(|p| {
                let upper = p.to_ascii_uppercase();
                !p.contains('/')
                    && ["LICENSE", "LICENCE", "COPYING", "COPYRIGHT"]
                        .iter()
                        .any(|prefix| upper.starts_with(prefix))
            })
            .cloned()
            .collect();
        files.sort();
        files
    }
}

/// `Home-page`, else the first home-like `Project-URL` of core metadata.
fn home_page(pkg_info: &BTreeMap<String, Vec<String>>) -> Option<String> {
    let field = |key: &str| pkg_info.get(key).and_then(|v| v.first()).cloned();
    field("Home-page").or_else(|| {
        pkg_info.get("Project-URL").and_then(|urls| {
            urls.iter().find_map(|u| {
                let (label, url) = u.split_once(',')?;
                let label = label.trim().to_ascii_lowercase();
                ["homepage", "home", "source", "repository"]
                    .contains(&label.as_str())
                    .then(|| url.trim().to_string())
            })
        })
    })
}

/// The `License` field of core metadata, unless empty or `UNKNOWN`.
fn legacy_license(pkg_info: &BTreeMap<String, Vec<String>>) -> Option<String> {
    pkg_info
        .get("License")
        .and_then(|v| v.first())
        .filter(|l| !l.is_empty() && *l != "UNKNOWN")
        .cloned()
}

/// What a recipe that installs a wheel as is needs: core metadata, `Requires-Dist` as run
/// requirements, import names, and whether it is pure (`*-none-any.whl`). Such recipes bring
/// build backends and pip itself into a channel without building them from source.
pub fn analyse_wheel(path: &Path) -> Result<Analysis, String> {
    let file_name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    if !file_name.ends_with(".whl") {
        return Err(format!("{}: not a .whl file", path.display()));
    }
    let (metadata, paths) = read_wheel(path)?;
    let field = |key: &str| metadata.get(key).and_then(|v| v.first()).cloned();
    let name = field("Name").ok_or_else(|| format!("{}: METADATA has no Name", path.display()))?;
    let version =
        field("Version").ok_or_else(|| format!("{}: METADATA has no Version", path.display()))?;
    // Import names from the wheel's own files: its `.dist-info`/`.data` folders are not modules.
    let modules = Sdist {
        paths: paths
            .into_iter()
            .filter(|p| {
                let top = p.split('/').next().unwrap_or("");
                !(top.ends_with(".dist-info") || top.ends_with(".data"))
            })
            .collect(),
        texts: BTreeMap::new(),
    };
    Ok(Analysis {
        summary: field("Summary"),
        home: home_page(&metadata),
        license: field("License-Expression").or_else(|| legacy_license(&metadata)),
        requires_python: field("Requires-Python"),
        run: metadata.get("Requires-Dist").cloned().unwrap_or_default(),
        run_source: "wheel METADATA Requires-Dist",
        build_system: Vec::new(),
        pure: file_name.ends_with("-none-any.whl"),
        imports: modules.imports(),
        // They are inside the wheel, which the build does not unpack.
        license_files: Vec::new(),
        wheel_file: Some(file_name),
        name,
        version,
    })
}

/// The core metadata (`*.dist-info/METADATA`) of a wheel.
pub fn wheel_metadata(path: &Path) -> Result<BTreeMap<String, Vec<String>>, String> {
    read_wheel(path).map(|(metadata, _)| metadata)
}

/// Core metadata fields (`PKG-INFO`, `METADATA`): key → values, in order.
type CoreMetadata = BTreeMap<String, Vec<String>>;

/// A wheel's core metadata and the paths of its files.
fn read_wheel(path: &Path) -> Result<(CoreMetadata, Vec<String>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{}: not a wheel: {e}", path.display()))?;
    let paths: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .filter(|n| !n.ends_with('/'))
        .map(|n| n.into_owned())
        .collect();
    let name = paths
        .iter()
        .find(|n| n.ends_with(".dist-info/METADATA") && n.matches('/').count() == 1)
        .cloned()
        .ok_or_else(|| format!("{}: the wheel has no .dist-info/METADATA", path.display()))?;
    let mut text = String::new();
    archive
        .by_name(&name)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {name}: {e}", path.display()))?;
    Ok((parse_pkg_info(&text), paths))
}

impl Analysis {
    /// Takes the run requirements from a pure wheel's metadata when the sdist has none that can
    /// be read statically (a `setup.py` that computes them) or only a guess from `setup.py`.
    pub fn use_wheel_metadata(&mut self, metadata: &BTreeMap<String, Vec<String>>) {
        if !matches!(self.run_source, "none found" | "setup.py install_requires") {
            return;
        }
        if let Some(requires) = metadata.get("Requires-Dist") {
            self.run = requires.clone();
            self.run_source = "wheel METADATA Requires-Dist";
        }
        if self.requires_python.is_none() {
            self.requires_python = metadata
                .get("Requires-Python")
                .and_then(|v| v.first().cloned());
        }
    }
}

/// `PKG-INFO` (core metadata, RFC 822 style): key → values, in order. The body is ignored.
pub fn parse_pkg_info(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(values) = last.as_ref().and_then(|k| fields.get_mut(k)) {
                if let Some(value) = values.last_mut() {
                    value.push('\n');
                    value.push_str(line.trim());
                }
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            let key = key.trim().to_string();
            fields
                .entry(key.clone())
                .or_default()
                .push(value.trim().to_string());
            last = Some(key);
        }
    }
    fields
}

/// An INI file as Python's `configparser` reads it (which `setup.cfg` and `pip.conf` are):
/// `[section]` headers, `key = value` or `key: value`, indented continuation lines, `#`/`;`
/// comment lines. Returns (section, key) → value with continuation lines joined by newlines.
pub fn parse_ini(text: &str) -> BTreeMap<(String, String), String> {
    let mut out: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut section = String::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) && !trimmed.is_empty() {
            if let Some(value) = current.as_ref().and_then(|k| out.get_mut(k)) {
                value.push('\n');
                value.push_str(trimmed);
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            section = name.trim().to_string();
            current = None;
            continue;
        }
        let split = trimmed.find(['=', ':']);
        if let Some(at) = split {
            let key = (section.clone(), trimmed[..at].trim().to_string());
            out.insert(key.clone(), trimmed[at + 1..].trim().to_string());
            current = Some(key);
        }
    }
    out
}

/// `setup.cfg`'s `[options]` section: `install_requires` and `python_requires` as lists.
fn parse_setup_cfg(text: &str) -> BTreeMap<String, Vec<String>> {
    let ini = parse_ini(text);
    let mut out = BTreeMap::new();
    for key in ["install_requires", "python_requires"] {
        if let Some(value) = ini.get(&("options".to_string(), key.to_string())) {
            let items = value
                .lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            out.insert(key.to_string(), items);
        }
    }
    out
}

/// A `keyword=[ "a", "b" ]` list of string literals in a static `setup.py`.
fn static_list(setup_py: &str, keyword: &str) -> Option<Vec<String>> {
    let pattern = format!(r"{keyword}\s*=\s*\[([^\]]*)\]");
    let caps = regex::Regex::new(&pattern).ok()?.captures(setup_py)?;
    // Either quote, each free to contain the other (`"colorama; os_name == 'nt'"`).
    let literal = regex::Regex::new(r#""([^"]*)"|'([^']*)'"#).expect("static regex");
    Some(
        literal
            .captures_iter(&caps[1])
            .filter_map(|c| c.get(1).or_else(|| c.get(2)))
            .map(|m| m.as_str().to_string())
            .collect(),
    )
}

/// A `keyword="value"` string literal in a static `setup.py`.
fn static_string(setup_py: &str, keyword: &str) -> Option<String> {
    let pattern = format!(r#"{keyword}\s*=\s*['"]([^'"]+)['"]"#);
    let caps = regex::Regex::new(&pattern).ok()?.captures(setup_py)?;
    Some(caps[1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkg_info_keeps_repeated_fields() {
        let info = parse_pkg_info(
            "Metadata-Version: 2.1\nName: demo\nRequires-Dist: a\nRequires-Dist: b; extra == 'x'\n\nbody: no\n",
        );
        assert_eq!(info["Requires-Dist"], ["a", "b; extra == 'x'"]);
        assert!(!info.contains_key("body"));
    }

    #[test]
    fn setup_cfg_and_static_setup_py() {
        let cfg = parse_setup_cfg(
            "[metadata]\nname = x\n[options]\ninstall_requires =\n    requests>=2  # http\n    click\npython_requires = >=3.8\n",
        );
        assert_eq!(cfg["install_requires"], ["requests>=2", "click"]);
        assert_eq!(cfg["python_requires"], [">=3.8"]);
        let py =
            "setup(name='x', install_requires=['six>=1.0', \"attrs\"], python_requires='>=3.7')";
        assert_eq!(
            static_list(py, "install_requires").unwrap(),
            ["six>=1.0", "attrs"]
        );
        assert_eq!(static_string(py, "python_requires").unwrap(), ">=3.7");
        let mixed = r#"install_requires=["colorama; platform_system == 'Windows'", 'x; python_version < "3.8"']"#;
        assert_eq!(
            static_list(mixed, "install_requires").unwrap(),
            [
                "colorama; platform_system == 'Windows'",
                "x; python_version < \"3.8\""
            ]
        );
    }
}
