//! `krait build` on the offline-buildable recipes of the render corpus (`tests/recipes/`), with
//! each archive's `info/` files and `paths.json` checked against conda-build's rules
//! (`../shared/reference/meta-yaml.md` §2c, conda-build's `create_info_files`).
//!
//! A recipe is offline-buildable when its sources are local (or a file `scripts/setup-test-env`
//! downloads with the recipe's own hash) and every build and host requirement comes from a
//! local fixture channel: the repackaged CPython (`common::python`) and the wheels channel
//! (`common::bootstrap`). Compilers and libraries a script links against are never faked.
//!
//! | recipe       | offline | why |
//! |--------------|---------|-----|
//! | bzip2        | no  | `url:` source; build needs `compiler('c')`, `stdlib('c')`, make |
//! | click        | no  | the sdist is local (scripts/test-sdists.txt's, same sha256) and python, pip, flit-core are in the fixture channels, but 8.1.7 builds with setuptools, which the recipe's host lacks: conda-build fails too (checked below) |
//! | curl         | no  | `url:` source; C compiler; host krb5, openssl, libssh2, zlib, zstd |
//! | envvars      | no  | build needs `compiler('c')`; host libcurl and openssl |
//! | hdf5         | no  | `url:` source; C, C++ and Fortran compilers; host zlib, libcurl, openssl |
//! | imports      | yes | no source, `noarch: generic`, run requirements only, no test |
//! | inrepo-regex | no  | local `path:` source, but build needs `compiler('cxx')`, `stdlib('c')`, cmake |
//! | libffi       | no  | `url:` source; C compiler, autoconf, libtool, make |
//! | libpng       | no  | `url:` source; C compiler; host zlib |
//! | libxml2      | no  | `url:` source; C compiler; host xz, zlib, icu |
//! | meta-pkg     | no  | its outputs need `compiler('c')`, `stdlib('c')`, nasm (the metapackage is built with them) |
//! | ncurses      | no  | `url:` source; C and C++ compilers, a CDT, pkg-config |
//! | numpy-ext    | no  | `url:` sdist not downloaded; C compiler; host numpy |
//! | openssl      | no  | `url:` source; C compiler, perl; test requires certifi, pkg-config |
//! | pyyaml       | no  | `url:` sdist not downloaded; C compiler; host yaml (libyaml) |
//! | r-glue       | no  | CRAN `url:`; C compiler; host r-base |
//! | ripgrep      | no  | `url:` source; Rust and C compilers, cargo-bundle-licenses |
//! | tqdm         | yes | `url:` sdist = scripts/test-corpus-sdists.txt's (same sha256), primed into the source cache; host from the fixture channels; built `--no-test`: its test needs ripgrep and its run requirement colorama, which no local channel has |
//! | zlib         | no  | `url:` source; C compiler, make |
//! | zstd         | no  | `url:` source; C and C++ compilers, cmake, ninja; host xz, lz4-c |

mod common;

use common::{krait, run_ok};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/recipes")
        .join(name)
}

/// info_index: a noarch package names its noarch kind, sits in the noarch subdir and has null
/// platform and arch.
fn assert_noarch_index(index: &Value, kind: &str) {
    assert_eq!(index["noarch"], kind);
    assert_eq!(index["subdir"], "noarch");
    assert_eq!(
        (index.get("platform"), index.get("arch")),
        (Some(&Value::Null), Some(&Value::Null))
    );
}

/// The reviewed linux-64 render expectations of a corpus recipe (its `expected.yaml`).
fn expected(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(corpus(name).join("expected.yaml")).unwrap();
    let all: Value = serde_yaml::from_str(&text).unwrap();
    all["linux-64"].as_array().unwrap().clone()
}

/// A `krait build` of one corpus recipe, offline: only the given local channels, and a
/// proxy that refuses every connection so that any download fails.
fn build_command(home: &Path, recipe: &Path, channels: &[&Path], extra: &[&str]) -> Command {
    let mut cmd = krait(home);
    cmd.arg("build")
        .arg(recipe)
        .args(["--override-channels", "--json", "--output-folder"])
        .arg(home.join("out"))
        .arg("--croot")
        .arg(home.join("croot"))
        .args(extra)
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .env_remove("CIO_TEST");
    for channel in channels {
        cmd.arg("-c").arg(channel);
    }
    cmd
}

/// Runs [`build_command`], which must succeed; returns the archives it reports.
fn build(home: &Path, recipe: &Path, channels: &[&Path], extra: &[&str]) -> Vec<PathBuf> {
    let out = run_ok(&mut build_command(home, recipe, channels, extra));
    let built: Vec<Value> = serde_json::from_str(&out).unwrap();
    built
        .iter()
        .map(|b| PathBuf::from(b["archive"].as_str().unwrap()))
        .collect()
}

/// An archive extracted into a temporary folder.
struct Extracted {
    dir: tempfile::TempDir,
}

impl Extracted {
    fn open(archive: &Path) -> Extracted {
        let dir = tempfile::tempdir().unwrap();
        rattler_package_streaming::fs::extract(archive, dir.path()).unwrap();
        Extracted { dir }
    }

    fn path(&self, member: &str) -> PathBuf {
        self.dir.path().join(member)
    }

    fn has(&self, member: &str) -> bool {
        self.path(member).symlink_metadata().is_ok()
    }

    fn text(&self, member: &str) -> String {
        std::fs::read_to_string(self.path(member)).unwrap_or_else(|e| panic!("{member}: {e}"))
    }

    fn json(&self, member: &str) -> Value {
        serde_json::from_str(&self.text(member)).unwrap()
    }

    /// Every file and symlink outside `info/`.
    fn payload(&self) -> BTreeSet<String> {
        walkdir::WalkDir::new(self.dir.path())
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_type().is_dir())
            .map(|e| {
                let rel = e.path().strip_prefix(self.dir.path()).unwrap();
                rel.to_string_lossy().into_owned()
            })
            .filter(|p| !p.starts_with("info/"))
            .collect()
    }
}

/// conda-build writes its info/ JSON with `json.dump(..., indent=2, sort_keys=True)`: Python's
/// json module, run on each file, must give back the same text.
fn check_json_written_as_conda_build_writes_it(pkg: &Extracted) {
    let python = std::env::var_os("KRAIT_TEST_PYTHON")
        .expect("KRAIT_TEST_PYTHON is not set: run the tests through scripts/test");
    for member in [
        "index.json",
        "about.json",
        "paths.json",
        "hash_input.json",
        "link.json",
    ] {
        let path = pkg.path(&format!("info/{member}"));
        if !path.is_file() {
            continue;
        }
        let formatted = run_ok(
            Command::new(&python)
                .args([
                    "-c",
                    "import json, sys; text = open(sys.argv[1], encoding='utf-8').read(); \
                     sys.stdout.write(json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + '\\n')",
                ])
                .arg(&path),
        );
        assert_eq!(
            pkg.text(&format!("info/{member}")),
            formatted,
            "info/{member} differs from conda-build's formatting"
        );
    }
}

/// Checks that hold for every package conda-build writes; returns the `paths.json` entries.
fn check_paths_and_files(pkg: &Extracted) -> Vec<Value> {
    check_json_written_as_conda_build_writes_it(pkg);
    let paths = pkg.json("info/paths.json");
    // create_info_files: paths.json is version 1.
    assert_eq!(paths["paths_version"], 1);
    let entries = paths["paths"].as_array().unwrap().clone();
    let listed: Vec<String> = entries
        .iter()
        .map(|e| e["_path"].as_str().unwrap().to_string())
        .collect();
    // paths.json entries are sorted by path.
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    // Every packaged file has an entry, and nothing else does.
    assert_eq!(
        listed.iter().cloned().collect::<BTreeSet<_>>(),
        pkg.payload()
    );
    // info/files: the same paths, sorted, one a line.
    let files: String = listed.iter().map(|p| format!("{p}\n")).collect();
    assert_eq!(pkg.text("info/files"), files);
    let mut has_prefix = String::new();
    for entry in &entries {
        let rel = entry["_path"].as_str().unwrap();
        let file = pkg.path(rel);
        let meta = file.symlink_metadata().unwrap();
        // path_type: softlink for symlinks, hardlink for every other file.
        let kind = if meta.file_type().is_symlink() {
            "softlink"
        } else {
            "hardlink"
        };
        assert_eq!(entry["path_type"], kind, "{rel}");
        if kind == "hardlink" {
            let bytes = std::fs::read(&file).unwrap();
            // sha256 and size_in_bytes describe the file as packaged.
            assert_eq!(entry["size_in_bytes"], bytes.len(), "{rel}");
            assert_eq!(
                entry["sha256"],
                hex::encode(rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(&bytes)),
                "{rel}"
            );
            if let Some(placeholder) = entry["prefix_placeholder"].as_str() {
                // The placeholder recorded is the host prefix, padded to 255 characters.
                assert!(
                    placeholder.len() == 255 && placeholder.contains("_h_env_placehold"),
                    "{placeholder}"
                );
                let needle = placeholder.as_bytes();
                assert!(bytes.windows(needle.len()).any(|w| w == needle), "{rel}");
                let mode = entry["file_mode"].as_str().unwrap();
                // Text or binary: binary means the file holds a NUL byte.
                assert_eq!(mode == "binary", bytes.contains(&0), "{rel}");
                has_prefix.push_str(&format!("{placeholder} {mode} {rel}\n"));
            }
        }
    }
    // info/has_prefix: `<placeholder> <mode> <path>` for each file with the prefix, if any.
    if has_prefix.is_empty() {
        assert!(!pkg.has("info/has_prefix"));
    } else {
        assert_eq!(pkg.text("info/has_prefix"), has_prefix);
    }
    entries
}

/// info/recipe/: the original meta.yaml as meta.yaml.template, a rendered meta.yaml, and
/// every other file of the recipe folder.
fn check_recipe_copy(pkg: &Extracted, recipe: &Path, build_string: &str) {
    let original = std::fs::read_to_string(recipe.join("meta.yaml")).unwrap();
    assert_eq!(pkg.text("info/recipe/meta.yaml.template"), original);
    let rendered = pkg.text("info/recipe/meta.yaml");
    // copy_recipe: a header comment, then the rendered recipe: no Jinja left, no outputs,
    // only meta.yaml's own sections, the build string hard-coded.
    assert!(
        rendered.starts_with("# This file created by") && !rendered.contains("{{"),
        "{rendered}"
    );
    let parsed: Value = serde_yaml::from_str(&rendered).unwrap();
    let sections = [
        "package",
        "source",
        "build",
        "requirements",
        "test",
        "about",
        "extra",
        "app",
    ];
    for key in parsed.as_object().unwrap().keys() {
        assert!(sections.contains(&key.as_str()), "{key} in {rendered}");
    }
    assert_eq!(parsed["build"]["string"], build_string);
    assert!(
        parsed["requirements"].get("has_host").is_none(),
        "{rendered}"
    );
    for entry in walkdir::WalkDir::new(recipe) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(recipe).unwrap();
        let replaced = ["meta.yaml", "conda_build_config.yaml"].map(Path::new);
        if entry.file_type().is_file() && !replaced.contains(&rel) {
            let copied = format!("info/recipe/{}", rel.display());
            assert_eq!(
                std::fs::read(pkg.path(&copied)).unwrap(),
                std::fs::read(entry.path()).unwrap(),
                "{copied}"
            );
        }
    }
}

fn name_version_build(dist: &str) -> (String, String, String) {
    let mut parts = dist.rsplitn(3, '-');
    let build = parts.next().unwrap().to_string();
    let version = parts.next().unwrap().to_string();
    (parts.next().unwrap().to_string(), version, build)
}

#[test]
fn imports_recipe_builds_a_noarch_generic_package_with_conda_builds_info() {
    let home = tempfile::tempdir().unwrap();
    let recipe = corpus("imports");
    let cbc = corpus("conda_build_config.yaml");
    // A channel the recipe needs nothing from, to see it recorded in about.json.
    let python = common::python::python_channel();
    let archives = build(
        home.path(),
        &recipe,
        &[&python],
        &["-m", cbc.to_str().unwrap(), "--no-test"],
    );
    let expected = &expected("imports")[0];
    let dist = expected["dist"].as_str().unwrap();
    // noarch: generic goes to the noarch subdir; the file is `<name>-<version>-<build>.conda`.
    assert_eq!(
        archives,
        [home.path().join(format!("out/noarch/{dist}.conda"))]
    );
    let pkg = Extracted::open(&archives[0]);
    let index = pkg.json("info/index.json");
    let (name, version, build_string) = name_version_build(dist);
    assert_eq!(
        (&index["name"], &index["version"], &index["build"]),
        (&json!(name), &json!(version), &json!(build_string))
    );
    assert_eq!(index["build_number"], 0);
    // info_index: depends are the run requirements, sorted.
    let mut run: Vec<Value> = expected["requirements/run"].as_array().unwrap().clone();
    run.sort_by_key(|v| v.as_str().unwrap().to_string());
    assert_eq!(index["depends"], json!(run));
    assert_eq!(index["depends"], json!(["__unix", "python >=3.10"]));
    assert_noarch_index(&index, "generic");
    // license and license_family come from about.
    assert_eq!(index["license"], "MIT");
    assert!(index.get("license_family").is_none());
    assert!(index.get("constrains").is_none());
    // hash_input.json: the hash input of the rendered recipe.
    assert_eq!(pkg.json("info/hash_input.json"), expected["hash_input"]);
    // Nothing was installed: an empty paths.json and info/files.
    assert!(check_paths_and_files(&pkg).is_empty());
    // write_link_json: every noarch package has a link.json naming its noarch type.
    assert_eq!(
        pkg.json("info/link.json"),
        json!({"noarch": {"type": "generic"}, "package_metadata_version": 1})
    );
    // about.json: the about fields, and extra with conda-build's `final` marker.
    let about = pkg.json("info/about.json");
    assert_eq!(
        about["summary"],
        "Exercise imported templates with selectors inside"
    );
    assert_eq!(about["license"], "MIT");
    assert_eq!(about["extra"]["final"], true);
    // write_about_json: the build's channels (not the output folder) and CIO_TEST.
    let python_url = url::Url::from_directory_path(&python).unwrap();
    assert_eq!(
        about["channels"],
        json!([python_url.as_str().trim_end_matches('/')])
    );
    assert_eq!(about["env_vars"], json!({"CIO_TEST": "<not set>"}));
    // The builder's versions and base environment, as conda-build's keys.
    let builder = format!("krait {}", env!("CARGO_PKG_VERSION"));
    assert_eq!(about["conda_build_version"], builder);
    assert_eq!(about["conda_version"], builder);
    assert_eq!(about["root_pkgs"], json!([]));
    // No run_exports, no tests, no license_file: no run_exports.json, test/, licenses/.
    for absent in ["info/run_exports.json", "info/test", "info/licenses"] {
        assert!(!pkg.has(absent), "{absent}");
    }
    // copy_recipe dumps the full variant in use as recipe/conda_build_config.yaml: the first
    // value of each key of the global pinning, the used ones being the hash input.
    let variant: Value =
        serde_yaml::from_str(&pkg.text("info/recipe/conda_build_config.yaml")).unwrap();
    assert_eq!(variant["target_platform"], "linux-64");
    assert_eq!(variant["python"], "3.11.* *_cpython");
    assert_eq!(
        variant["zip_keys"][1],
        json!(["python", "numpy", "is_python_min"])
    );
    for (key, value) in expected["hash_input"].as_object().unwrap() {
        if !key.starts_with("__") {
            assert_eq!(&variant[key], value, "{key}");
        }
    }
    // The imported template is part of the recipe, so it is copied with it.
    check_recipe_copy(&pkg, &recipe, &build_string);
    assert!(pkg.has("info/recipe/templates/versions.jinja"));
}

/// The sdist `scripts/test` downloaded for a corpus recipe, checked against the recipe's own
/// sha256, then put into the source cache under `croot` by krait itself (a build of a recipe
/// naming the same file name and hash through a `file://` URL), so that the corpus recipe,
/// unchanged, finds it there instead of downloading it.
fn prime_source_cache(home: &Path, recipe: &Path, sdist: &Path) {
    let text = std::fs::read_to_string(recipe.join("meta.yaml")).unwrap();
    let sha256 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("sha256: "))
        .unwrap();
    let digest = hex::encode(
        rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(
            std::fs::read(sdist).unwrap(),
        ),
    );
    assert_eq!(digest, sha256, "{} is the recipe's source", sdist.display());
    let primer = home.join("primer");
    std::fs::create_dir_all(&primer).unwrap();
    let url = url::Url::from_file_path(sdist).unwrap();
    std::fs::write(
        primer.join("meta.yaml"),
        format!(
            "package:\n  name: source-primer\n  version: '1'\nsource:\n  url: {url}\n  sha256: {sha256}\nbuild:\n  noarch: generic\n"
        ),
    )
    .unwrap();
    let mut cmd = krait(home);
    cmd.arg("build")
        .arg(&primer)
        .args(["--override-channels", "--no-test", "--output-folder"])
        .arg(home.join("primer-out"))
        .arg("--croot")
        .arg(home.join("croot"));
    run_ok(&mut cmd);
}

/// A `noarch: python` corpus recipe's offline setup: the python fixture and wheels channels,
/// the recipe's sdist in the source cache, and a variant file: the corpus's global pinning
/// reduced to what these recipes use, with python_min set to the one interpreter the local
/// channels have (conda-forge's pinning says 3.9). One python variant, as in expected.yaml,
/// with the same hash input.
struct PythonRecipe {
    recipe: PathBuf,
    channels: [PathBuf; 2],
    variants: PathBuf,
    /// The expected.yaml entry of the fixture's python.
    expected: Value,
    minor: String,
}

impl PythonRecipe {
    fn prepare(home: &Path, name: &str, sdist: &Path) -> PythonRecipe {
        let python = common::python::python_channel();
        let wheels = common::bootstrap::bootstrap_channel(&python);
        let recipe = corpus(name);
        prime_source_cache(home, &recipe, sdist);
        let minor = common::python::python_minor();
        let variants = home.join("variants.yaml");
        std::fs::write(
            &variants,
            format!(
                "python:\n  - \"{minor}.* *_cpython\"\npython_min:\n  - \"{minor}\"\nchannel_targets:\n  - conda-forge main\n"
            ),
        )
        .unwrap();
        let expected = expected(name)
            .into_iter()
            .find(|e| e["hash_input"]["python"] == format!("{minor}.* *_cpython"))
            .unwrap_or_else(|| panic!("{name}/expected.yaml has a python {minor} variant"));
        PythonRecipe {
            recipe,
            channels: [python, wheels],
            variants,
            expected,
            minor,
        }
    }

    fn command(&self, home: &Path, extra: &[&str]) -> Command {
        let channels: Vec<&Path> = self.channels.iter().map(PathBuf::as_path).collect();
        let mut args = vec!["-m", self.variants.to_str().unwrap()];
        args.extend(extra);
        build_command(home, &self.recipe, &channels, &args)
    }

    fn dist(&self) -> &str {
        self.expected["dist"].as_str().unwrap()
    }
}

/// A corpus recipe's sdist that `scripts/setup-test-env` downloads into the test venv:
/// `test-sdists` (the skeleton tests') or `test-corpus-sdists`.
fn sdist(folder: &str, file: &str) -> PathBuf {
    let venv = std::env::var_os("KRAIT_TEST_VENV")
        .expect("KRAIT_TEST_VENV is not set: run the tests through scripts/test");
    let path = Path::new(&venv).join(folder).join(file);
    assert!(
        path.is_file(),
        "{} is missing: scripts/setup-test-env downloads it",
        path.display()
    );
    path
}

/// The text of one member of an sdist.
fn sdist_member(sdist: &Path, member: &str) -> String {
    run_ok(Command::new("tar").arg("-xzOf").arg(sdist).arg(member))
}

/// click, unchanged, is not buildable by conda-build either: the 8.1.7 sdist has no
/// pyproject.toml, so `pip install . --no-build-isolation` needs setuptools' legacy backend,
/// and the recipe's host names flit-core, not setuptools. krait gets as far as conda-build:
/// the sdist from the source cache, a host environment with `python {{ python_min }}`
/// solved as `python X.Y.*` (ensure_valid_spec), and the script failing in pip.
#[test]
fn click_recipe_fails_in_its_script_as_under_conda_build() {
    let home = tempfile::tempdir().unwrap();
    let click = sdist("test-sdists", "click-8.1.7.tar.gz");
    let recipe = PythonRecipe::prepare(home.path(), "click", &click);
    let out = common::run(&mut recipe.command(home.path(), &[]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    // The build folder is named after the package the render computes.
    let root = home.path().join("croot").join(recipe.dist());
    let log = root.join("conda_build.log");
    assert!(
        stderr.contains("build script failed") && stderr.contains(&*log.to_string_lossy()),
        "{stderr}"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("No module named 'setuptools'"), "{log}");
    // The source came from the cache: the sdist's files are in the work folder.
    assert!(root.join("work/PKG-INFO").is_file());
    // Host: `python X.Y` solved as X.Y.* (the fixture's full version), pip and flit-core.
    let (version, _) = common::python::host_python();
    let host = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("_h_env_placehold")
        })
        .expect("a host prefix");
    let installed: BTreeSet<String> = std::fs::read_dir(host.join("conda-meta"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(
        installed,
        BTreeSet::from([
            format!("python-{version}-h0_0_cpython.json"),
            "pip-24.0-py_0.json".to_string(),
            "flit-core-3.9.0-py_0.json".to_string(),
        ])
    );
    // Nothing was written to the output channel.
    let noarch = home.path().join("out/noarch");
    let archives: Vec<_> = std::fs::read_dir(&noarch)
        .map(|d| {
            d.map(|e| e.unwrap().file_name())
                .filter(|n| !n.to_string_lossy().starts_with("repodata"))
                .collect()
        })
        .unwrap_or_default();
    assert!(archives.is_empty(), "{archives:?}");
}

/// tqdm builds offline into a `noarch: python` package with an entry point. Built without
/// its tests, which need ripgrep (and the package's run requirement colorama), neither of
/// which a local channel has.
#[test]
fn tqdm_recipe_builds_a_noarch_python_package_with_an_entry_point() {
    let home = tempfile::tempdir().unwrap();
    let tqdm = sdist("test-corpus-sdists", "tqdm-4.66.5.tar.gz");
    let recipe = PythonRecipe::prepare(home.path(), "tqdm", &tqdm);
    let out = run_ok(&mut recipe.command(home.path(), &["--no-test"]));
    let built: Vec<Value> = serde_json::from_str(&out).unwrap();
    let dist = recipe.dist();
    let archive = home.path().join(format!("out/noarch/{dist}.conda"));
    // noarch: python goes to the noarch subdir.
    assert_eq!(built.len(), 1);
    assert_eq!(built[0]["archive"], archive.to_string_lossy().as_ref());
    let pkg = Extracted::open(&archive);
    let index = pkg.json("info/index.json");
    let (name, version, build_string) = name_version_build(dist);
    // build_string_from_metadata: noarch python takes the plain `py` prefix, then the hash.
    assert!(build_string.starts_with("pyh"), "{build_string}");
    assert_eq!(
        (&index["name"], &index["version"], &index["build"]),
        (&json!(name), &json!(version), &json!(build_string))
    );
    assert_eq!(index["build_number"], 0);
    // info_index: depends are the run requirements, sorted; python >={{ python_min }}.
    let minor = &recipe.minor;
    assert_eq!(
        index["depends"],
        json!(["colorama", format!("python >={minor}")])
    );
    assert_noarch_index(&index, "python");
    assert_eq!(index["license"], "MPL-2.0 AND MIT");
    assert_eq!(
        pkg.json("info/hash_input.json"),
        recipe.expected["hash_input"]
    );
    let entries = check_paths_and_files(&pkg);
    let paths: Vec<&str> = entries
        .iter()
        .map(|e| e["_path"].as_str().unwrap())
        .collect();
    // noarch python layout: site-packages/ at the package root, no lib/pythonX.Y/; the
    // entry point's wrapper pip wrote to bin/ is left out (the installer writes it from
    // link.json), so nothing is in python-scripts/ and no file holds the build prefix.
    assert!(
        paths.iter().all(|p| p.starts_with("site-packages/")),
        "{paths:?}"
    );
    assert!(!pkg.has("info/has_prefix"));
    for module in [
        "site-packages/tqdm/__init__.py",
        "site-packages/tqdm/cli.py",
        "site-packages/tqdm-4.66.5.dist-info/METADATA",
        "site-packages/tqdm-4.66.5.dist-info/entry_points.txt",
    ] {
        assert!(paths.contains(&module), "{module} in {paths:?}");
    }
    // noarch python packages hold no .pyc: the installer compiles them.
    assert!(
        !paths
            .iter()
            .any(|p| p.ends_with(".pyc") || p.contains("__pycache__")),
        "{paths:?}"
    );
    // write_link_json: type python and the recipe's entry points.
    assert_eq!(
        pkg.json("info/link.json"),
        json!({
            "noarch": {"type": "python", "entry_points": ["tqdm = tqdm.cli:main"]},
            "package_metadata_version": 1
        })
    );
    // copy_license_files: license_file is found in the source folder and keeps its name.
    assert_eq!(
        pkg.text("info/licenses/LICENCE"),
        sdist_member(&tqdm, "tqdm-4.66.5/LICENCE")
    );
    let about = pkg.json("info/about.json");
    assert_eq!(about["home"], "https://pypi.python.org/pypi/tqdm");
    assert_eq!(about["license"], "MPL-2.0 AND MIT");
    assert_eq!(about["summary"], "A Fast, Extensible Progress Meter");
    // create_shell_files: the commands in run_test.sh under `set -ex`, and, as the package
    // is noarch, in run_test.bat with an error check after each; imports in run_test.py;
    // test/requires in test_time_dependencies.json.
    assert_eq!(
        pkg.text("info/test/run_test.sh"),
        "\n\nset -ex\n\n\n\ntqdm --help\ntqdm -v | rg 4.66.5\nexit 0\n"
    );
    assert_eq!(
        pkg.text("info/test/run_test.bat"),
        "\n\n\n\ntqdm --help\nIF %ERRORLEVEL% NEQ 0 exit /B 1\ntqdm -v | rg 4.66.5\nIF %ERRORLEVEL% NEQ 0 exit /B 1\nexit /B 0\n"
    );
    assert!(pkg.text("info/test/run_test.py").contains("import tqdm"));
    let requires = pkg.json("info/test/test_time_dependencies.json");
    let names: Vec<&str> = requires
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().split(' ').next().unwrap())
        .collect();
    assert_eq!(names, ["python", "ripgrep"]);
    assert!(!pkg.has("info/run_exports.json"));
    check_recipe_copy(&pkg, &recipe.recipe, &build_string);
}
