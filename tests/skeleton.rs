//! `krait skeleton pypi`: recipes from sdists the test builds (pyproject.toml with markers,
//! setup.cfg, static setup.py, a C extension), from a PEP 691 index on 127.0.0.1, and — when
//! pip has an index configured and it answers — from the real index.

mod common;

use common::{krait, run_err, run_ok, HttpServer};
use std::path::{Path, PathBuf};

/// Writes `<dir>/<name>-<version>.tar.gz` holding `<name>-<version>/<path>` for each file.
fn sdist(dir: &Path, name: &str, version: &str, files: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{name}-{version}.tar.gz"));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    for (file, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("{name}-{version}/{file}"),
            text.as_bytes(),
        )
        .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    path
}

/// Writes a wheel (a zip) holding each `(path, text)`.
fn wheel(path: &Path, files: &[(&str, &str)]) -> PathBuf {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, text) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    path.to_path_buf()
}

fn pkg_info(name: &str, version: &str, extra: &str) -> String {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: The {name} package: tested\nHome-page: https://example.invalid/{name}\nLicense: MIT\n{extra}\nLong description\n")
}

/// The recipe with its Jinja variables filled in, parsed as YAML.
fn recipe(path: &Path) -> (String, serde_yaml::Value) {
    let text = std::fs::read_to_string(path).unwrap();
    let set = regex::Regex::new(r#"\{% set (\w+) = "([^"]*)" %\}"#).unwrap();
    let mut vars = std::collections::BTreeMap::new();
    for caps in set.captures_iter(&text) {
        vars.insert(caps[1].to_string(), caps[2].to_string());
    }
    let body = set.replace_all(&text, "");
    let body = regex::Regex::new(r"\{\{\s*(\w+)(\|lower)?\s*\}\}")
        .unwrap()
        .replace_all(&body, |c: &regex::Captures| {
            vars.get(&c[1]).cloned().unwrap_or_else(|| c[1].to_string())
        });
    (text.clone(), serde_yaml::from_str(&body).unwrap())
}

fn strings(value: &serde_yaml::Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn test_sdists(dir: &Path) -> Vec<PathBuf> {
    let pyproject = sdist(
        dir,
        "demo_pyproject",
        "1.2.0",
        &[
            ("PKG-INFO", &pkg_info("demo_pyproject", "1.2.0", "")),
            (
                "pyproject.toml",
                r#"[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "demo_pyproject"
version = "1.2.0"
requires-python = ">=3.9"
dependencies = [
  "requests>=2.28,<3",
  "typing-extensions>=4.0; python_version < '3.11'",
  "importlib-metadata; python_version < '3.8'",
  "colorama; sys_platform == 'win32'",
]
license = {text = "BSD-3-Clause"}

[project.optional-dependencies]
test = ["pytest"]
"#,
            ),
            ("src/demo_pyproject/__init__.py", "VERSION = '1.2.0'\n"),
            ("tests/__init__.py", ""),
            ("LICENSE.txt", "BSD\n"),
        ],
    );
    let setup_cfg = sdist(
        dir,
        "demo-cfg",
        "0.3",
        &[
            (
                "PKG-INFO",
                &pkg_info("demo-cfg", "0.3", "Requires-Python: >=3.8"),
            ),
            (
                "setup.cfg",
                "[metadata]\nname = demo-cfg\n\n[options]\npackages = find:\ninstall_requires =\n    torch>=2.0\n    pyyaml  # config files\npython_requires = >=3.8\n",
            ),
            ("setup.py", "from setuptools import setup\nsetup()\n"),
            ("demo_cfg/__init__.py", ""),
            ("COPYING", "GPL\n"),
        ],
    );
    let setup_py = sdist(
        dir,
        "demo_setuppy",
        "2.0",
        &[
            ("PKG-INFO", &pkg_info("demo_setuppy", "2.0", "")),
            (
                "setup.py",
                "from setuptools import setup\nsetup(name='demo_setuppy', version='2.0', py_modules=['demo_setuppy'], install_requires=['six>=1.16', 'attrs'], python_requires='>=3.7')\n",
            ),
            ("demo_setuppy.py", "import six\n"),
        ],
    );
    let native = sdist(
        dir,
        "demo_native",
        "0.1",
        &[
            ("PKG-INFO", &pkg_info("demo_native", "0.1", "Requires-Dist: numpy>=1.22")),
            ("setup.py", "from setuptools import Extension, setup\nsetup(ext_modules=[Extension('demo_native._speed', ['src/speed.c'])])\n"),
            ("src/speed.c", "int x;\n"),
            ("demo_native/__init__.py", ""),
        ],
    );
    vec![pyproject, setup_cfg, setup_py, native]
}

#[test]
fn recipes_from_local_sdists() {
    let tmp = tempfile::tempdir().unwrap();
    let sdists = test_sdists(&tmp.path().join("sdists"));
    let out = tmp.path().join("recipes");
    let mut cmd = krait(tmp.path());
    cmd.args(["skeleton", "pypi", "--output-dir", out.to_str().unwrap()]);
    for s in &sdists {
        cmd.arg("--sdist").arg(s);
    }
    run_ok(&mut cmd);

    let (text, meta) = recipe(&out.join("demo-pyproject/meta.yaml"));
    assert_eq!(meta["package"]["name"], "demo-pyproject");
    assert_eq!(meta["package"]["version"], "1.2.0");
    assert_eq!(
        meta["source"]["sha256"].as_str().unwrap(),
        hex::encode(
            rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(
                std::fs::read(&sdists[0]).unwrap()
            )
        )
    );
    assert!(meta["source"]["url"]
        .as_str()
        .unwrap()
        .starts_with("file://"));
    // The win-only dependency keeps its selector and the recipe stays noarch, with `__win` /
    // `__unix` telling the packages built on each side apart (as conda-forge's click does);
    // the Python-version-only requirement is kept unconditionally.
    assert_eq!(meta["build"]["noarch"], "python", "{text}");
    assert_eq!(
        strings(&meta["requirements"]["host"]),
        ["python >=3.9", "pip", "hatchling >=1.18"]
    );
    assert_eq!(
        strings(&meta["requirements"]["run"]),
        [
            "python >=3.9",
            "requests >=2.28,<3",
            "typing_extensions >=4.0",
            "colorama",
            "__unix",
            "__win"
        ]
    );
    assert!(text.contains("- typing_extensions >=4.0\n"), "{text}");
    assert!(text.contains("- colorama  # [win]"), "{text}");
    assert!(text.contains("- __unix  # [unix]"), "{text}");
    assert!(text.contains("- __win  # [win]"), "{text}");
    assert!(
        !text.contains("importlib") && !text.contains("pytest"),
        "{text}"
    );
    assert_eq!(strings(&meta["test"]["imports"]), ["demo_pyproject"]);
    assert_eq!(strings(&meta["test"]["commands"]), ["pip check"]);
    assert_eq!(meta["about"]["license"], "BSD-3-Clause");
    assert_eq!(meta["about"]["license_file"], "LICENSE.txt");
    assert_eq!(
        meta["about"]["summary"],
        "The demo_pyproject package: tested"
    );

    let (_, meta) = recipe(&out.join("demo-cfg/meta.yaml"));
    assert_eq!(meta["build"]["noarch"], "python");
    assert_eq!(
        strings(&meta["requirements"]["run"]),
        ["python >=3.8", "pytorch >=2.0", "pyyaml"]
    );
    assert_eq!(
        strings(&meta["requirements"]["host"]),
        ["python >=3.8", "pip", "setuptools"]
    );
    assert_eq!(meta["about"]["license_file"], "COPYING");
    assert_eq!(strings(&meta["test"]["imports"]), ["demo_cfg"]);

    let (_, meta) = recipe(&out.join("demo-setuppy/meta.yaml"));
    assert_eq!(meta["build"]["noarch"], "python");
    assert_eq!(
        strings(&meta["requirements"]["run"]),
        ["python >=3.7", "six >=1.16", "attrs"]
    );
    assert_eq!(strings(&meta["test"]["imports"]), ["demo_setuppy"]);

    let (_, meta) = recipe(&out.join("demo-native/meta.yaml"));
    assert!(meta["build"]["noarch"].is_null());
    assert_eq!(
        strings(&meta["requirements"]["run"]),
        ["python", "numpy >=1.22"]
    );
}

#[test]
fn recipes_from_a_pep691_index_on_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("index");
    let files = root.join("files");
    let sdists = test_sdists(&files);
    let cfg_sdist = &sdists[1];
    let sha = hex::encode(
        rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(
            std::fs::read(cfg_sdist).unwrap(),
        ),
    );
    // An older release, a newer pre-release and a yanked newer release the choice must skip.
    let older = sdist(
        &files,
        "demo-cfg",
        "0.2",
        &[("PKG-INFO", &pkg_info("demo-cfg", "0.2", ""))],
    );
    let older_sha = hex::encode(
        rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(
            std::fs::read(&older).unwrap(),
        ),
    );
    let page = serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": "demo-cfg",
        "files": [
            {"filename": "demo-cfg-0.2.tar.gz", "url": "../../files/demo-cfg-0.2.tar.gz", "hashes": {"sha256": older_sha}},
            {"filename": "demo-cfg-0.3.tar.gz", "url": "../../files/demo-cfg-0.3.tar.gz#sha256=x", "hashes": {"sha256": sha}},
            {"filename": "demo-cfg-0.4rc1.tar.gz", "url": "../../files/missing.tar.gz", "hashes": {}},
            {"filename": "demo-cfg-0.5.tar.gz", "url": "../../files/missing.tar.gz", "hashes": {}, "yanked": "broken"},
            {"filename": "demo_cfg-0.3-py3-none-any.whl", "url": "../../files/missing.whl", "hashes": {}},
        ],
    });
    let page_dir = root.join("simple/demo-cfg");
    std::fs::create_dir_all(&page_dir).unwrap();
    std::fs::write(page_dir.join("index.html"), page.to_string()).unwrap();
    let server = HttpServer::serve(&root);
    let index = format!("{}/simple/", server.url);
    let out = tmp.path().join("recipes");

    // The index comes from PIP_INDEX_URL when --index-url is not given.
    let printed = run_ok(
        krait(tmp.path())
            .env("PIP_INDEX_URL", &index)
            .args(["skeleton", "pypi", "demo_cfg", "--json", "--output-dir"])
            .arg(&out),
    );
    let written: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(written[0]["version"], "0.3");
    let (_, meta) = recipe(&out.join("demo-cfg/meta.yaml"));
    assert_eq!(meta["source"]["sha256"], sha.as_str());
    assert_eq!(
        meta["source"]["url"],
        format!("{}/files/demo-cfg-0.3.tar.gz", server.url).as_str()
    );

    run_ok(
        krait(tmp.path())
            .env_remove("PIP_INDEX_URL")
            .args([
                "skeleton",
                "pypi",
                "demo-cfg==0.2",
                "--index-url",
                &index,
                "--output-dir",
            ])
            .arg(&out),
    );
    let (_, meta) = recipe(&out.join("demo-cfg/meta.yaml"));
    // `version: {{ version }}` renders to a YAML number here, as it does for conda-build.
    assert_eq!(
        serde_yaml::to_string(&meta["package"]["version"])
            .unwrap()
            .trim(),
        "0.2"
    );

    let err = run_err(
        krait(tmp.path())
            .args([
                "skeleton",
                "pypi",
                "no-such-package",
                "--index-url",
                &index,
                "--output-dir",
            ])
            .arg(&out),
    );
    assert!(
        err.contains("no-such-package") && err.contains("not on the index"),
        "{err}"
    );
    let err = run_err(
        krait(tmp.path())
            .env_remove("PIP_INDEX_URL")
            .env("PIP_CONFIG_FILE", tmp.path().join("none.conf"))
            .args(["skeleton", "pypi", "demo-cfg", "--output-dir"])
            .arg(&out),
    );
    assert!(err.contains("no package index configured"), "{err}");
}

/// Against the index pip is configured with on this machine; skips loudly when there is none
/// or it does not answer.
#[test]
fn recipe_from_the_real_index() {
    let Some(index) = krait::skeleton::pip_index_url() else {
        eprintln!(
            "\n*** SKIPPED recipe_from_the_real_index: no index in PIP_INDEX_URL or pip.conf ***\n"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("recipes");
    let result = common::run(
        krait(tmp.path())
            .args([
                "skeleton",
                "pypi",
                "six",
                "--index-url",
                &index,
                "--output-dir",
            ])
            .arg(&out),
    );
    let stderr = String::from_utf8_lossy(&result.stderr);
    if !result.status.success() && stderr.contains("cannot fetch") {
        eprintln!("\n*** SKIPPED recipe_from_the_real_index: {index} is unreachable ***\n");
        return;
    }
    assert!(result.status.success(), "{stderr}");
    let (_, meta) = recipe(&out.join("six/meta.yaml"));
    assert_eq!(meta["build"]["noarch"], "python");
    assert_eq!(strings(&meta["test"]["imports"]), ["six"]);
}

#[test]
fn a_computed_setup_py_takes_requirements_from_the_pure_wheel() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("index");
    let files = root.join("files");
    // setup.py computes install_requires, so the sdist alone does not say what it needs.
    let sdist_path = sdist(
        &files,
        "demo_dyn",
        "1.0",
        &[
            ("PKG-INFO", &pkg_info("demo_dyn", "1.0", "")),
            (
                "setup.py",
                "from setuptools import setup\nREQS = open('reqs.txt').read().split()\nsetup(name='demo_dyn', install_requires=REQS)\n",
            ),
            ("reqs.txt", "requests>=2\n"),
            ("demo_dyn/__init__.py", ""),
        ],
    );
    let wheel_path = wheel(
        &files.join("demo_dyn-1.0-py3-none-any.whl"),
        &[(
            "demo_dyn-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: demo_dyn\nVersion: 1.0\nRequires-Python: >=3.9\nRequires-Dist: requests>=2\nRequires-Dist: tomli>=1.1; python_version < \"3.11\"\n\n",
        )],
    );
    let sha = |p: &Path| {
        hex::encode(
            rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(
                std::fs::read(p).unwrap(),
            ),
        )
    };
    let page = serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": "demo-dyn",
        "files": [
            {"filename": "demo_dyn-1.0.tar.gz", "url": "../../files/demo_dyn-1.0.tar.gz", "hashes": {"sha256": sha(&sdist_path)}},
            {"filename": "demo_dyn-1.0-py3-none-any.whl", "url": "../../files/demo_dyn-1.0-py3-none-any.whl", "hashes": {"sha256": sha(&wheel_path)}},
        ],
    });
    let page_dir = root.join("simple/demo-dyn");
    std::fs::create_dir_all(&page_dir).unwrap();
    std::fs::write(page_dir.join("index.html"), page.to_string()).unwrap();
    let server = HttpServer::serve(&root);
    let out = tmp.path().join("recipes");
    run_ok(
        krait(tmp.path())
            .args(["skeleton", "pypi", "demo-dyn", "--index-url"])
            .arg(format!("{}/simple", server.url))
            .arg("--output-dir")
            .arg(&out),
    );
    let (text, meta) = recipe(&out.join("demo-dyn/meta.yaml"));
    assert!(
        text.contains("run requirements from wheel METADATA"),
        "{text}"
    );
    assert_eq!(
        strings(&meta["requirements"]["run"]),
        ["python >=3.9", "requests >=2", "tomli >=1.1"]
    );
    // Pure, so noarch: the Python-version marker cannot be a selector and tomli stays.
    assert_eq!(meta["build"]["noarch"], "python");
    assert!(!text.contains("# [py"), "{text}");
    assert_eq!(meta["source"]["sha256"], sha(&sdist_path).as_str());
}

#[test]
fn wheels_become_recipes_that_install_them_as_is() {
    let tmp = tempfile::tempdir().unwrap();
    let backend = wheel(
        &tmp.path().join("demo_backend-2.1-py3-none-any.whl"),
        &[
            ("demo_backend/__init__.py", ""),
            ("demo_backend/build.py", ""),
            ("demo_helper.py", ""),
            (
                "demo_backend-2.1.dist-info/METADATA",
                "Metadata-Version: 2.1\nName: demo_backend\nVersion: 2.1\nSummary: A backend\nLicense: MIT\nRequires-Python: >=3.8\nRequires-Dist: packaging>=23\nRequires-Dist: tomli; python_version < '3.11'\nRequires-Dist: pytest; extra == 'test'\n\n",
            ),
            ("demo_backend-2.1.dist-info/LICENSE", "MIT\n"),
        ],
    );
    let pip = wheel(
        &tmp.path().join("pip-24.0-py3-none-any.whl"),
        &[
            ("pip/__init__.py", ""),
            (
                "pip-24.0.dist-info/METADATA",
                "Metadata-Version: 2.1\nName: pip\nVersion: 24.0\nRequires-Python: >=3.7\n\n",
            ),
        ],
    );
    let compiled = wheel(
        &tmp.path()
            .join("demo_fast-1.0-cp311-cp311-linux_x86_64.whl"),
        &[(
            "demo_fast-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: demo_fast\nVersion: 1.0\n\n",
        )],
    );
    let out = tmp.path().join("recipes");
    let mut cmd = krait(tmp.path());
    cmd.args(["skeleton", "pypi", "--output-dir"]).arg(&out);
    for w in [&backend, &pip, &compiled] {
        cmd.arg("--wheel").arg(w);
    }
    run_ok(&mut cmd);

    let (text, meta) = recipe(&out.join("demo-backend/meta.yaml"));
    assert_eq!(meta["package"]["name"], "demo-backend");
    assert!(meta["source"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/demo_backend-2.1-py3-none-any.whl"));
    assert_eq!(
        meta["build"]["script"],
        "PYTHON -m pip install demo_backend-2.1-py3-none-any.whl -vv --no-deps"
    );
    assert_eq!(meta["build"]["noarch"], "python");
    assert_eq!(
        strings(&meta["requirements"]["host"]),
        ["python >=3.8", "pip"]
    );
    assert_eq!(
        strings(&meta["requirements"]["run"]),
        ["python >=3.8", "packaging >=23", "tomli"]
    );
    // Packages, not the .dist-info folder (nor loose modules when there are packages).
    assert_eq!(strings(&meta["test"]["imports"]), ["demo_backend"]);
    assert_eq!(meta["about"]["license"], "MIT");
    // The license is inside the wheel, which the build does not unpack.
    assert!(!text.contains("license_file"), "{text}");

    // pip installs itself from its own wheel, so its host has no pip.
    let (_, meta) = recipe(&out.join("pip/meta.yaml"));
    assert_eq!(
        meta["build"]["script"],
        "PYTHON pip-24.0-py3-none-any.whl/pip install pip-24.0-py3-none-any.whl -vv --no-deps"
    );
    assert_eq!(strings(&meta["requirements"]["host"]), ["python >=3.7"]);

    // A wheel with compiled code is per-platform.
    let (_, meta) = recipe(&out.join("demo-fast/meta.yaml"));
    assert!(meta["build"]["noarch"].is_null());
}
