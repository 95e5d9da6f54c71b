//! Turning the files an output installed into a conda package: the noarch python layout,
//! prefix detection (`paths.json` placeholders, `info/has_prefix`), RPATH rewriting to
//! `$ORIGIN`-relative paths (edited in Rust, no patchelf), the `info/` files conda-build writes, and a
//! reproducible `.conda` or `.tar.bz2` archive.

use super::BuildError;
use crate::recipe::model::{BoolOrGlobs, Output, RenderedVariant};
use rattler_conda_types::compression_level::CompressionLevel;
use rattler_conda_types::NoArchType;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Archive format of built packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    Conda,
    TarBz2,
}

impl ArchiveFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::Conda => ".conda",
            ArchiveFormat::TarBz2 => ".tar.bz2",
        }
    }
}

/// Everything packaging needs besides the files.
pub struct PackageInput<'a> {
    pub variant: &'a RenderedVariant,
    pub output: &'a Output,
    pub host_prefix: &'a Path,
    pub build_prefix: &'a Path,
    /// The work folder (`SRC_DIR`), where `about/license_file` paths are looked up first.
    pub src_dir: &'a Path,
    /// The channels the build used, for about.json.
    pub channels: &'a [String],
    /// Paths relative to the host prefix that the package holds.
    pub files: Vec<PathBuf>,
    /// Final run requirements (run exports and pins applied).
    pub depends: Vec<String>,
    pub constrains: Vec<String>,
    pub timestamp_ms: i64,
    pub format: ArchiveFormat,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    BuildError::io(path)
}

fn glob_matches(globs: &[String], path: &Path) -> bool {
    let text = path.to_string_lossy();
    globs
        .iter()
        .any(|g| glob::Pattern::new(g).is_ok_and(|p| p.matches(&text)) || text == g.as_str())
}

/// Where a noarch python file goes in the package: site-packages and scripts are moved to
/// the interpreter-independent `site-packages/` and `python-scripts/`; `.pyc` files and the
/// entry points' wrappers (say, made by pip) are left out.
fn noarch_python_path(rel: &Path, entry_scripts: &[String]) -> Option<PathBuf> {
    let text = rel.to_string_lossy();
    if text.ends_with(".pyc")
        || text.contains("__pycache__")
        || entry_scripts.iter().any(|s| *s == text)
    {
        return None;
    }
    if let Some(pos) = text.find("/site-packages/") {
        if text.starts_with("lib/python") {
            return Some(
                PathBuf::from("site-packages").join(&text[pos + "/site-packages/".len()..]),
            );
        }
    }
    if let Some(script) = text.strip_prefix("bin/") {
        return Some(PathBuf::from("python-scripts").join(script));
    }
    Some(rel.to_path_buf())
}

fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Rewrites RPATH entries that point into the host prefix to `$ORIGIN`-relative ones and adds
/// the `build/rpaths` folders, written as a DT_RPATH as conda-build's `mk_relative_linux` has
/// `patchelf --force-rpath --set-rpath` do; the ELF file is edited in Rust
/// ([`super::elf_rpath`]), so nothing needs to be on PATH. Files without a dynamic section are left alone.
fn relocate_elf(
    path: &Path,
    rel: &Path,
    host_prefix: &Path,
    extra_rpaths: &[String],
) -> Result<(), BuildError> {
    let data = std::fs::read(path).map_err(io(path))?;
    let Some(dynamic) = super::linkage::elf_dynamic(&data).filter(|d| d.has_dynamic_section) else {
        return Ok(());
    };
    // A file that loads no library and has no path (a static-pie program) needs none, and
    // glibc's static-pie start-up aborts on one.
    if dynamic.needed.is_empty() && dynamic.search_path.is_empty() {
        return Ok(());
    }
    let current = dynamic.search_path.join(":");
    let depth = rel.parent().map_or(0, |p| p.components().count());
    let to_root = if depth == 0 {
        String::new()
    } else {
        "/..".repeat(depth)
    };
    let host = host_prefix.display().to_string();
    let mut entries: Vec<String> = Vec::new();
    for entry in dynamic
        .search_path
        .into_iter()
        .chain(extra_rpaths.iter().map(|r| format!("{host}/{r}")))
    {
        let fixed = match entry.strip_prefix(&host) {
            Some(inside) => format!("$ORIGIN{to_root}{inside}")
                .trim_end_matches('/')
                .to_string(),
            None => entry,
        };
        if !entries.contains(&fixed) {
            entries.push(fixed);
        }
    }
    if entries.is_empty() || entries.join(":") == current {
        return Ok(());
    }
    let patched =
        super::elf_rpath::set_rpath(&data, &entries.join(":")).map_err(|e| BuildError::Rpath {
            file: rel.to_path_buf(),
            message: e.to_string(),
        })?;
    // Written in place: the file keeps its mode.
    std::fs::write(path, patched).map_err(io(path))
}

pub fn write_package(
    input: &PackageInput<'_>,
    staging: &Path,
    out_dir: &Path,
) -> Result<PathBuf, BuildError> {
    let output = input.output;
    let build = &output.build;
    let noarch_python = build.noarch.is_python();
    if staging.exists() {
        std::fs::remove_dir_all(staging).map_err(io(staging))?;
    }
    std::fs::create_dir_all(staging.join("info")).map_err(io(staging))?;
    let host = input.host_prefix.display().to_string();
    let relocate = !matches!(build.binary_relocation, BoolOrGlobs::Bool(false));
    let mut paths_json = Vec::new();
    let mut has_prefix = Vec::new();
    let mut files_list = Vec::new();
    let mut seen = BTreeSet::new();
    let entry_scripts = if noarch_python {
        super::python::entry_point_script_names(&build.entry_points)?
    } else {
        Vec::new()
    };
    for rel in &input.files {
        let source = input.host_prefix.join(rel);
        let target_rel = if noarch_python {
            match noarch_python_path(rel, &entry_scripts) {
                Some(p) => p,
                None => continue,
            }
        } else {
            rel.clone()
        };
        if !seen.insert(target_rel.clone()) {
            continue;
        }
        let target = staging.join(&target_rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let meta = std::fs::symlink_metadata(&source).map_err(io(&source))?;
        let mut entry = json!({ "_path": target_rel.to_string_lossy() });
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&source).map_err(io(&source))?;
            std::os::unix::fs::symlink(&link, &target).map_err(io(&target))?;
            entry["path_type"] = json!("softlink");
            entry["size_in_bytes"] = json!(0);
        } else {
            std::fs::copy(&source, &target).map_err(io(&target))?;
            let mut bytes = std::fs::read(&target).map_err(io(&target))?;
            if rel.starts_with("bin") {
                if let Some(fixed) = super::python::fix_shebang(&bytes, input.host_prefix) {
                    std::fs::write(&target, &fixed).map_err(io(&target))?;
                    bytes = fixed;
                }
            }
            if relocate && is_elf(&bytes) && !cfg!(target_os = "macos") {
                let selected = match &build.binary_relocation {
                    BoolOrGlobs::Globs(globs) => glob_matches(globs, &target_rel),
                    BoolOrGlobs::Bool(b) => *b,
                };
                if selected {
                    relocate_elf(&target, &target_rel, input.host_prefix, &build.rpaths)?;
                    bytes = std::fs::read(&target).map_err(io(&target))?;
                }
            }
            let ignored = match &build.ignore_prefix_files {
                BoolOrGlobs::Bool(all) => *all,
                BoolOrGlobs::Globs(globs) => glob_matches(globs, &target_rel),
            };
            // Like conda-build, byte-compiled files are never prefix files: their strings are
            // length-prefixed, so a NUL-padded binary replacement would corrupt them.
            let compiled = target_rel
                .extension()
                .is_some_and(|e| e == "pyc" || e == "pyo");
            let holds_prefix =
                !ignored && !compiled && memchr::memmem::find(&bytes, host.as_bytes()).is_some();
            if holds_prefix {
                let binary = memchr::memchr(0, &bytes).is_some() || is_elf(&bytes);
                let forced_text = glob_matches(&build.has_prefix_files, &target_rel);
                let forced_binary = glob_matches(&build.binary_has_prefix_files, &target_rel);
                let mode = if forced_text {
                    "text"
                } else if forced_binary || binary {
                    "binary"
                } else {
                    "text"
                };
                if mode == "text" || build.detect_binary_files_with_prefix || forced_binary {
                    entry["prefix_placeholder"] = json!(host);
                    entry["file_mode"] = json!(mode);
                    let path = target_rel.to_string_lossy().into_owned();
                    has_prefix.push((path.clone(), format!("{host} {mode} {path}")));
                }
            }
            entry["path_type"] = json!("hardlink");
            entry["sha256"] = json!(hex::encode(rattler_digest::compute_bytes_digest::<
                rattler_digest::Sha256,
            >(&bytes)));
            entry["size_in_bytes"] = json!(bytes.len());
        }
        if glob_matches(&build.no_link, &target_rel) {
            entry["no_link"] = json!(true);
        }
        files_list.push(target_rel);
        paths_json.push(entry);
    }
    // conda-build sorts these as strings (`sorted(files)`): `tqdm-4.66.5.dist-info/` comes
    // before `tqdm/`, unlike the component order of paths.
    paths_json.sort_by(|a, b| a["_path"].as_str().cmp(&b["_path"].as_str()));
    files_list.sort_by_key(|p| p.to_string_lossy().into_owned());
    has_prefix.sort();
    super::linkage::LinkageCheck {
        package: output.package.name.as_normalized(),
        staging,
        files: &files_list,
        host_prefix: input.host_prefix,
        build_prefix: input.build_prefix,
        rpaths: &build.rpaths,
        whitelist: &build.missing_dso_whitelist,
        error_overlinking: build.error_overlinking,
        run_depends: &input.depends,
        ignore_run_exports: &build.ignore_run_exports,
        error_overdepending: build.error_overdepending,
    }
    .run()?;
    let info = staging.join("info");
    let write = |name: &str, content: String| -> Result<(), BuildError> {
        let path = info.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, content).map_err(io(&path))
    };
    write("index.json", pretty(&index_json(input)))?;
    write(
        "paths.json",
        pretty(&json!({ "paths": paths_json, "paths_version": 1 })),
    )?;
    write(
        "files",
        files_list
            .iter()
            .map(|f| format!("{}\n", f.display()))
            .collect(),
    )?;
    if !has_prefix.is_empty() {
        write(
            "has_prefix",
            has_prefix
                .iter()
                .map(|(_, line)| format!("{line}\n"))
                .collect(),
        )?;
    }
    let mut about = serde_json::to_value(&output.about).unwrap_or(json!({}));
    about["extra"] = Value::Object(output.extra.clone());
    // conda-build records the conda and conda-build that built the package, and `root_pkgs`,
    // the packages of the builder's base environment. krait is both tools and has no base
    // environment.
    let builder = format!("krait {}", env!("CARGO_PKG_VERSION"));
    about["conda_build_version"] = json!(builder);
    about["conda_version"] = json!(builder);
    about["root_pkgs"] = json!([]);
    // write_about_json records the channels and the CIO_TEST variable.
    about["channels"] = json!(input.channels);
    about["env_vars"] = json!({
        "CIO_TEST": std::env::var("CIO_TEST").unwrap_or_else(|_| "<not set>".to_string())
    });
    write("about.json", pretty(&about))?;
    write("hash_input.json", pretty(&json!(output.hash_input)))?;
    if !build.run_exports.is_empty() {
        write("run_exports.json", pretty(&json!(build.run_exports)))?;
    }
    // conda-build's write_link_json: every noarch package gets one; entry points only when
    // there are some.
    if !build.noarch.is_none() {
        let mut noarch = json!({"type": if noarch_python { "python" } else { "generic" }});
        if noarch_python && !build.entry_points.is_empty() {
            noarch["entry_points"] = json!(build.entry_points);
        }
        write(
            "link.json",
            pretty(&json!({"noarch": noarch, "package_metadata_version": 1})),
        )?;
    }
    copy_license_files(input, &info)?;
    if build.include_recipe {
        let recipe_out = info.join("recipe");
        super::source::copy_tree(&input.variant.recipe_dir, &recipe_out)?;
        let original = recipe_out.join("meta.yaml");
        if original.exists() {
            std::fs::rename(&original, recipe_out.join("meta.yaml.template"))
                .map_err(io(&original))?;
        }
        write("recipe/meta.yaml", rendered_meta_yaml(input))?;
        // copy_recipe dumps the full variant in use as conda_build_config.yaml.
        write(
            "recipe/conda_build_config.yaml",
            serde_yaml::to_string(&input.variant.full_variant).unwrap_or_default(),
        )?;
    }
    write_test_files(input, &info)?;

    let subdir_dir = out_dir.join(&output.subdir);
    std::fs::create_dir_all(&subdir_dir).map_err(io(&subdir_dir))?;
    let dist = output.dist_name();
    let archive = subdir_dir.join(format!("{dist}{}", input.format.extension()));
    let mut members: Vec<PathBuf> = walkdir::WalkDir::new(staging)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().to_path_buf())
        .collect();
    members.sort();
    normalise_modes(staging)?;
    let timestamp =
        jiff::Timestamp::from_millisecond(input.timestamp_ms).map_err(BuildError::Timestamp)?;
    let tmp = crate::fs::temp_file_in(&subdir_dir).map_err(io(&subdir_dir))?;
    let file = tmp.reopen().map_err(io(&subdir_dir))?;
    match input.format {
        ArchiveFormat::Conda => rattler_package_streaming::write::write_conda_package(
            file,
            staging,
            &members,
            CompressionLevel::Default,
            None,
            &dist,
            Some(&timestamp),
            None,
        ),
        ArchiveFormat::TarBz2 => rattler_package_streaming::write::write_tar_bz2_package(
            file,
            staging,
            &members,
            CompressionLevel::Default,
            Some(&timestamp),
            None,
        ),
    }
    .map_err(io(&archive))?;
    crate::fs::persist(tmp, &archive).map_err(io(&archive))?;
    Ok(archive)
}

/// Group and others get what the owner has (minus write), so umask does not leak into archives.
fn normalise_modes(staging: &Path) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(staging)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_symlink() {
            continue;
        }
        let mode = entry
            .metadata()
            .map_err(BuildError::from)?
            .permissions()
            .mode();
        let owner = mode & 0o700;
        let normal = owner | ((owner >> 3) & 0o050) | ((owner >> 6) & 0o005);
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(normal))
            .map_err(io(entry.path()))?;
    }
    Ok(())
}

/// `about/license_file` into `info/licenses/` as conda-build's `copy_license_files` does: each
/// path is looked up in the work folder, then in the recipe folder, and keeps its relative
/// path; absolute paths and paths starting with `.` become `LICENSE<n>.txt`; a missing one
/// stops the build.
fn copy_license_files(input: &PackageInput<'_>, info: &Path) -> Result<(), BuildError> {
    let licenses = info.join("licenses");
    let mut renamed = 0;
    for license in input
        .output
        .about
        .license_file
        .iter()
        .filter(|l| !l.is_empty())
    {
        let source = [input.src_dir, input.variant.recipe_dir.as_path()]
            .iter()
            .map(|root| root.join(license))
            .find(|p| p.exists())
            .ok_or_else(|| BuildError::LicenseFile {
                license: license.to_string(),
                src_dir: input.src_dir.to_path_buf(),
                recipe_dir: input.variant.recipe_dir.clone(),
            })?;
        // copy_license_files: a folder must be written as one, `licenses/`.
        if source.is_dir() && !license.ends_with('/') {
            return Err(BuildError::LicenseDirectory(license.clone()));
        }
        let name = if Path::new(license).is_absolute() || license.starts_with('.') {
            renamed += 1;
            format!("LICENSE{}.txt", renamed - 1)
        } else {
            license.clone()
        };
        super::source::copy_tree(&source, &licenses.join(name))?;
    }
    Ok(())
}

/// `info/recipe/meta.yaml`: the finalized recipe as conda-build's `copy_recipe` writes it, a
/// header naming the template, then the rendered sections; krait's own bookkeeping (subdir,
/// top-level flag, hash input, whether host was given) is not part of a recipe.
fn rendered_meta_yaml(input: &PackageInput<'_>) -> String {
    let mut value = serde_yaml::to_value(input.output).unwrap_or_default();
    if let Some(map) = value.as_mapping_mut() {
        for key in ["subdir", "is_top_level", "hash_input"] {
            map.remove(key);
        }
        if let Some(requirements) = map
            .get_mut("requirements")
            .and_then(serde_yaml::Value::as_mapping_mut)
        {
            requirements.remove("has_host");
        }
    }
    format!(
        "# This file created by krait {}\n# meta.yaml template originally from:\n# {}\n# ------------------------------------------------\n\n{}",
        env!("CARGO_PKG_VERSION"),
        input.variant.recipe_dir.display(),
        serde_yaml::to_string(&value).unwrap_or_default()
    )
}

/// JSON as conda-build writes its info/ files: `json.dump(..., indent=2, sort_keys=True)`.
fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(&with_sorted_keys(value.clone())).expect("json") + "\n"
}

/// Sorts every object's keys (serde_json keeps insertion order in this build).
fn with_sorted_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, with_sorted_keys(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(with_sorted_keys).collect()),
        other => other,
    }
}

fn sorted(specs: &[String]) -> Vec<&String> {
    let mut specs: Vec<&String> = specs.iter().collect();
    specs.sort();
    specs
}

fn index_json(input: &PackageInput<'_>) -> Value {
    let output = input.output;
    let about = &output.about.fields;
    let mut index = json!({
        "name": output.package.name.as_normalized(),
        "version": output.package.version.to_string(),
        "build": output.build.string,
        "build_number": output.build.number,
        // conda-build's info_index writes the run requirements sorted.
        "depends": sorted(&input.depends),
        "subdir": output.subdir,
        "timestamp": input.timestamp_ms,
    });
    if !input.constrains.is_empty() {
        index["constrains"] = json!(input.constrains);
    }
    for key in ["license", "license_family"] {
        if let Some(value) = about.get(key) {
            index[key] = json!(value);
        }
    }
    match &output.build.noarch {
        n if n.is_none() => {
            if let Some((platform, arch)) = output.subdir.split_once('-') {
                index["platform"] = json!(platform);
                index["arch"] = json!(match arch {
                    "64" => "x86_64",
                    "32" => "x86",
                    other => other,
                });
            }
        }
        n => {
            // info_index: a noarch package has null platform and arch.
            index["platform"] = Value::Null;
            index["arch"] = Value::Null;
            index["noarch"] = json!(if *n == NoArchType::python() {
                "python"
            } else {
                "generic"
            });
        }
    }
    if !output.build.track_features.is_empty() {
        index["track_features"] = json!(output.build.track_features.join(" "));
    }
    if !output.build.features.is_empty() {
        index["features"] = json!(output.build.features.join(" "));
    }
    index
}

/// The recipe's own test scripts, by the `run_test.*` name each takes in `info/test/`. As in
/// conda-build's `_create_test_files`, the top-level package picks up the recipe folder's
/// `run_test.*` by itself; any other output runs only the script its `test/script` names.
fn own_test_scripts(
    input: &PackageInput<'_>,
    shells: &[(&'static str, bool)],
) -> Result<BTreeMap<&'static str, PathBuf>, BuildError> {
    let recipe = &input.variant.recipe_dir;
    let names = ["run_test.py", "run_test.pl"]
        .into_iter()
        .chain(shells.iter().map(|(name, _)| *name));
    let mut own = BTreeMap::new();
    if input.output.is_top_level {
        own.extend(
            names
                .clone()
                .map(|name| (name, recipe.join(name)))
                .filter(|(_, path)| path.is_file()),
        );
    }
    if let Some(script) = &input.output.test.script {
        let path = recipe.join(script);
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let name = names
            .into_iter()
            .find(|name| name.strip_prefix("run_test.") == Some(extension))
            .ok_or_else(|| BuildError::TestScript {
                output: input.output.package.name.as_source().to_string(),
                script: script.to_string(),
                problem: "must end in .sh, .bat, .py or .pl".into(),
            })?;
        if !path.is_file() {
            return Err(BuildError::TestScript {
                output: input.output.package.name.as_source().to_string(),
                script: script.to_string(),
                problem: format!("is not a file in {}", recipe.display()),
            });
        }
        own.insert(name, path);
    }
    Ok(own)
}

/// `info/test/`: the test commands as `run_test.sh`, imports as `run_test.py`, the recipe's
/// own run_test scripts, and test files.
fn write_test_files(input: &PackageInput<'_>, info: &Path) -> Result<(), BuildError> {
    let test = &input.output.test;
    let dir = info.join("test");
    let recipe = &input.variant.recipe_dir;
    // create_shell_files: noarch packages get the Windows script too.
    let shells: &[(&str, bool)] = if input.output.build.noarch.is_none() {
        &[("run_test.sh", false)]
    } else {
        &[("run_test.sh", false), ("run_test.bat", true)]
    };
    let own = own_test_scripts(input, shells)?;
    if test.is_empty() && own.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    // The recipe's own script, then the commands, as conda-build appends them.
    for (name, windows) in shells {
        let mut script = match own.get(name) {
            Some(path) => Some(std::fs::read_to_string(path).map_err(io(path))?),
            None => None,
        };
        if !test.commands.is_empty() {
            let text = script.get_or_insert_with(String::new);
            text.push_str(if *windows {
                "\n\n\n\n"
            } else {
                "\n\nset -ex\n\n\n\n"
            });
            for command in &test.commands {
                text.push_str(command);
                text.push('\n');
                if *windows {
                    text.push_str("IF %ERRORLEVEL% NEQ 0 exit /B 1\n");
                }
            }
            text.push_str(if *windows { "exit /B 0\n" } else { "exit 0\n" });
        }
        if let Some(text) = script {
            std::fs::write(dir.join(name), text).map_err(io(&dir))?;
        }
    }
    let mut py = String::new();
    for module in &test.imports {
        py.push_str(&format!("import {module}\n"));
    }
    if let Some(path) = own.get("run_test.py") {
        py.push_str(&std::fs::read_to_string(path).map_err(io(path))?);
    }
    if !py.is_empty() {
        std::fs::write(dir.join("run_test.py"), py).map_err(io(&dir))?;
    }
    if let Some(path) = own.get("run_test.pl") {
        std::fs::copy(path, dir.join("run_test.pl")).map_err(io(&dir))?;
    }
    if !test.requires.is_empty() {
        std::fs::write(
            dir.join("test_time_dependencies.json"),
            pretty(&json!(test.requires)),
        )
        .map_err(io(&dir))?;
    }
    // create_all_test_files: `test/files` from the recipe folder; copy_test_source_files:
    // `test/source_files` from the work folder (a pattern matching nothing stops the build).
    copy_test_files(&test.files, recipe, &dir, None)?;
    copy_test_files(&test.source_files, input.src_dir, &dir, Some(input.output))?;
    Ok(())
}

/// Copies the files and folders `patterns` (globs) match under `from` into `to`, keeping their
/// relative paths. With `required_by`, a pattern matching nothing is an error naming it.
fn copy_test_files(
    patterns: &[String],
    from: &Path,
    to: &Path,
    required_by: Option<&Output>,
) -> Result<(), BuildError> {
    for pattern in patterns {
        let matches: Vec<PathBuf> = glob::glob(&from.join(pattern).to_string_lossy())
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        if let (Some(output), true) = (required_by, matches.is_empty()) {
            return Err(BuildError::TestScript {
                output: output.package.name.as_source().to_string(),
                script: pattern.clone(),
                problem: format!(
                    "(test/source_files) matches nothing in the work folder {}",
                    from.display()
                ),
            });
        }
        for entry in matches {
            let rel = entry.strip_prefix(from).unwrap_or(&entry);
            super::source::copy_tree(&entry, &to.join(rel))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn patchelf(args: &[&str], file: &Path) -> String {
        let out = Command::new("patchelf")
            .args(args)
            .arg(file)
            .output()
            .expect("patchelf (scripts/test-debian-packages.txt) on PATH");
        assert!(out.status.success(), "patchelf {args:?} {}", file.display());
        String::from_utf8(out.stdout).unwrap()
    }

    fn dynamic_tags(file: &Path) -> Vec<object::elf::DynamicTag> {
        use object::read::elf::{Dyn, FileHeader};
        let data = std::fs::read(file).unwrap();
        let elf = object::read::elf::ElfFile64::<object::Endianness>::parse(&*data).unwrap();
        let endian = elf.endian();
        let header = elf.elf_header();
        let sections = header.sections(endian, &*data).unwrap();
        let (dynamic, _) = sections.dynamic(endian, &*data).unwrap().unwrap();
        dynamic.iter().map(|d| d.d_tag(endian)).collect()
    }

    /// The same edit as `patchelf --force-rpath --set-rpath` on the same file: both tools read
    /// the result alike, the entry is a DT_RPATH (no DT_RUNPATH left), and the program runs.
    #[test]
    fn static_pie_programs_are_left_without_an_rpath_and_still_run() {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("main.c");
        std::fs::write(&source, "int main(void) { return 0; }\n").unwrap();
        let program = tmp.path().join("bin/static-pie");
        std::fs::create_dir_all(program.parent().unwrap()).unwrap();
        let built = Command::new("gcc")
            .arg("-static-pie")
            .arg("-o")
            .arg(&program)
            .arg(&source)
            .status()
            .unwrap();
        assert!(built.success());
        let before = std::fs::read(&program).unwrap();
        let host = tmp.path().join("_h_env_placehold_placehold");
        relocate_elf(
            &program,
            Path::new("bin/static-pie"),
            &host,
            &["lib/".to_string()],
        )
        .unwrap();
        assert_eq!(std::fs::read(&program).unwrap(), before);
        assert!(Command::new(&program).status().unwrap().success());
    }

    #[test]
    fn rpath_edits_match_patchelf_and_the_program_still_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("_h_env_placehold_placehold");
        // A program with no RPATH (the table grows) and one whose RUNPATH points into the
        // host prefix (rewritten relative, RUNPATH turned RPATH).
        let original = tmp.path().join("true");
        std::fs::copy("/bin/true", &original).unwrap();
        let with_runpath = tmp.path().join("with-runpath");
        std::fs::copy(&original, &with_runpath).unwrap();
        let runpath = format!("{}/lib:/opt/elsewhere", host.display());
        patchelf(&["--set-rpath", &runpath], &with_runpath);
        assert!(dynamic_tags(&with_runpath).contains(&object::elf::DT_RUNPATH));

        for (file, expected) in [
            (&original, "$ORIGIN/../lib"),
            (&with_runpath, "$ORIGIN/../lib:/opt/elsewhere"),
        ] {
            let ours = tmp.path().join("bin/ours");
            std::fs::create_dir_all(ours.parent().unwrap()).unwrap();
            std::fs::copy(file, &ours).unwrap();
            relocate_elf(&ours, Path::new("bin/ours"), &host, &["lib/".to_string()]).unwrap();
            let theirs = tmp.path().join("bin/theirs");
            std::fs::copy(file, &theirs).unwrap();
            patchelf(&["--force-rpath", "--set-rpath", expected], &theirs);
            assert_eq!(patchelf(&["--print-rpath"], &ours).trim(), expected);
            assert_eq!(
                patchelf(&["--print-rpath"], &ours),
                patchelf(&["--print-rpath"], &theirs)
            );
            let tags = dynamic_tags(&ours);
            assert!(tags.contains(&object::elf::DT_RPATH), "{tags:?}");
            assert!(!tags.contains(&object::elf::DT_RUNPATH), "{tags:?}");
            assert!(Command::new(&ours).status().unwrap().success());
        }
        // An object file has no dynamic section: left as it is, as patchelf refuses it.
        let source = tmp.path().join("f.c");
        std::fs::write(&source, "int f(void) { return 1; }\n").unwrap();
        let object_file = tmp.path().join("lib/f.o");
        std::fs::create_dir_all(object_file.parent().unwrap()).unwrap();
        let status = Command::new("gcc")
            .args(["-c", "-o"])
            .arg(&object_file)
            .arg(&source)
            .status()
            .unwrap();
        assert!(status.success());
        let before = std::fs::read(&object_file).unwrap();
        relocate_elf(
            &object_file,
            Path::new("lib/f.o"),
            &host,
            &["lib/".to_string()],
        )
        .unwrap();
        assert_eq!(std::fs::read(&object_file).unwrap(), before);
    }
}
