//! `krait render` end to end: errors that name file, line and column; `--output` paths;
//! `--python`/`--variant` overrides; the variant matrix.

mod common;

use common::render::{recipe, render};
use serde_json::json;
use std::path::Path;

#[test]
fn missing_package_name_is_reported() {
    let dir = recipe("package:\n  version: 1.0\n");
    let err = render(dir.path()).platform("linux-64").err();
    assert!(
        err.contains("missing `package/name`") && err.contains("meta.yaml"),
        "{err}"
    );
}

#[test]
fn undefined_jinja_variable_names_variable_and_line() {
    let dir = recipe("package:\n  name: foo\n  version: {{ versoin }}\n");
    let err = render(dir.path()).platform("linux-64").err();
    assert!(err.contains("undefined Jinja variable `versoin`"), "{err}");
    assert!(err.contains("meta.yaml:3:"), "{err}");
}

#[test]
fn bad_selector_names_line() {
    let dir =
        recipe("package:\n  name: foo\n  version: 1.0\nbuild:\n  number: 1  # [linux and (]\n");
    let err = render(dir.path()).platform("linux-64").err();
    assert!(
        err.contains("meta.yaml:5:") && err.contains("invalid selector `[linux and (]`"),
        "{err}"
    );
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    let dir = recipe("package:\n  name: foo\n  version: 1.0\nrequirements:\n  run: [a, b\n");
    let err = render(dir.path()).platform("linux-64").err();
    assert!(
        err.contains("YAML syntax error") && err.contains("meta.yaml:"),
        "{err}"
    );
}

#[test]
fn invalid_version_is_reported_at_its_node() {
    let dir = recipe("package:\n  name: foo\n  version: 1.0-beta\n");
    let err = render(dir.path()).platform("linux-64").err();
    assert!(
        err.contains("meta.yaml:3:12") && err.contains("invalid version `1.0-beta`"),
        "{err}"
    );
}

/// The whole report of an error at a known place: the message, then the offending line of
/// meta.yaml with the located word marked (miette's source span).
#[test]
fn errors_show_the_offending_line() {
    let dir = recipe("package:\n  name: foo\n  version: {{ versoin }}\n");
    let report = |text: String| text.replace(&dir.path().display().to_string(), "[RECIPE]");
    insta::assert_snapshot!(
        "undefined_variable_report",
        report(render(dir.path()).platform("linux-64").err())
    );
    std::fs::write(
        dir.path().join("meta.yaml"),
        "package:\n  name: foo\n  version: 1.0\nbuild:\n  number: 1  # [linux and (]\n",
    )
    .unwrap();
    insta::assert_snapshot!(
        "bad_selector_report",
        report(render(dir.path()).platform("linux-64").err())
    );
}

#[test]
fn no_meta_yaml_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = render(dir.path()).err();
    assert!(err.contains("no meta.yaml in"), "{err}");
}

#[test]
fn unknown_keys_warn_like_conda_build() {
    let dir = recipe("package:\n  name: foo\n  version: 1.0\nbuild:\n  numbr: 1\n");
    let out = render(dir.path()).platform("linux-64").ok();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("meta.yaml:5:10: unknown key `build/numbr`"),
        "{err}"
    );
}

#[test]
fn output_paths_and_python_matrix() {
    let dir = recipe(
        "package:\n  name: ext\n  version: 2.0\nrequirements:\n  host:\n    - python\n  run:\n    - python\n",
    );
    let stdout = render(dir.path())
        .platform("linux-64")
        .args(["--python", "3.11", "--python", "3.12"])
        .args(["--output", "--output-folder", "/out"])
        .stdout();
    // python is used (bare name in host), excluded from the hash; target_platform alone gives
    // no hash (`dependencies == ["target_platform"]`), so the string is py<XY>_<number>.
    assert_eq!(
        stdout,
        "/out/linux-64/ext-2.0-py311_0.conda\n/out/linux-64/ext-2.0-py312_0.conda\n"
    );
}

/// `--output` without `--output-folder` points into the local channel under `$KRAIT_HOME`,
/// where `krait build` writes.
#[test]
fn output_defaults_to_krait_home_local_channel() {
    let dir = recipe("package:\n  name: home\n  version: 1.0\n");
    let home = tempfile::tempdir().unwrap();
    let stdout = render(dir.path())
        .platform("linux-64")
        .env("KRAIT_HOME", home.path())
        .args(["--output"])
        .stdout();
    assert_eq!(
        stdout,
        format!(
            "{}\n",
            home.path()
                .join("conda-bld/linux-64/home-1.0-0.conda")
                .display()
        )
    );
}

#[test]
fn variant_override_and_yaml_output() {
    let dir = recipe(
        "package:\n  name: withzlib\n  version: 1.0\nrequirements:\n  host:\n    - zlib\n  run:\n    - zlib\n",
    );
    let text = render(dir.path())
        .platform("osx-arm64")
        .args(["--build-platform", "linux-64", "--variant", "zlib=1.3"])
        .stdout();
    // The bare host requirement is pinned to the variant value, with `.*` appended.
    assert!(text.contains("- zlib 1.3.*"), "{text}");
    // Hash input {"target_platform": "osx-arm64", "zlib": "1.3"}.
    assert!(
        text.contains("string: h") && text.contains("zlib: '1.3'"),
        "{text}"
    );
    // The whole rendered model: the variant and hash input hold only zlib and target_platform
    // (sha1 of their sorted JSON gives h60de8c3), the bare run requirement stays bare.
    insta::assert_snapshot!(
        "variant_override_yaml",
        text.replace(&dir.path().display().to_string(), "[RECIPE]")
    );
}

#[test]
fn noarch_python_gets_conda_forge_pyhd8ed1ab() {
    // conda-smithy's noarch CI config carries channel_targets and python_min, not python; the
    // default python ("3.12", no space) is excluded from the hash and noarch drops
    // target_platform, leaving {"channel_targets": "conda-forge main"} -> hd8ed1ab.
    let dir = recipe(
        "package:\n  name: purelib\n  version: 1.2.3\nbuild:\n  noarch: python\nrequirements:\n  host:\n    - python {{ python_min }}\n    - pip\n  run:\n    - python >={{ python_min }}\n",
    );
    let config = dir.path().join("noarch.yaml");
    std::fs::write(
        &config,
        "channel_targets:\n  - conda-forge main\npython_min:\n  - '3.9'\n",
    )
    .unwrap();
    let stdout = render(dir.path())
        .platform("linux-64")
        .args(["--output", "--output-folder", "/out", "-m"])
        .args([&config])
        .stdout();
    assert_eq!(stdout, "/out/noarch/purelib-1.2.3-pyhd8ed1ab_0.conda\n");
}

#[test]
fn selectors_in_included_templates_and_strict_second_pass() {
    // `{% include %}` goes through the selector-filtering loader like `{% import %}`;
    // PKG_VERSION is only known after the first (lenient) pass.
    let dir = recipe(
        "package:\n  name: inc\n  version: 0.3\nbuild:\n  script: echo {{ PKG_NAME }}-{{ PKG_VERSION }}\nabout:\n  summary: {% include 'summary.txt' %}\n",
    );
    std::fs::write(
        dir.path().join("summary.txt"),
        "for linux  # [linux]\nfor windows  # [win]\n",
    )
    .unwrap();
    let json = render(dir.path()).platform("win-64").json();
    let output = &json[0]["outputs"][0];
    assert_eq!(output["about"]["summary"], "for windows");
    assert_eq!(output["build"]["script"], "echo inc-0.3");
}

#[test]
fn error_lines_point_into_the_file_after_dropped_selector_lines() {
    // Lines 3-4 are dropped for linux-64; the bad version on line 6 is still reported there.
    let dir = recipe("package:\n  name: foo\n  # a comment\n  extra_line: 1  # [win]\n  other: 2  # [win]\n  version: 1.0-beta\n");
    let err = render(dir.path()).platform("linux-64").err();
    assert!(
        err.contains("meta.yaml:6:12") && err.contains("invalid version"),
        "{err}"
    );
}

#[test]
fn datetime_and_time_modules() {
    let dir = recipe(
        "package:\n  name: nightly\n  version: {{ datetime.datetime.now().strftime('%Y.%m.%d') }}\nbuild:\n  number: {{ (time.time() > 0)|int }}\nabout:\n  summary: built in {{ datetime.date.today().year }}\n",
    );
    let json = render(dir.path()).platform("linux-64").json();
    let output = &json[0]["outputs"][0];
    let today = chrono::Local::now();
    assert_eq!(
        output["package"]["version"],
        today.format("%Y.%m.%d").to_string()
    );
    assert_eq!(output["build"]["number"], 1);
    assert_eq!(
        output["about"]["summary"],
        format!("built in {}", today.format("%Y"))
    );
}

/// PATH for renders that run Python: the test interpreter's folder first (scripts/test
/// installs it and sets KRAIT_TEST_PYTHON), then the caller's PATH.
fn path_with_test_python() -> String {
    let mut dirs: Vec<std::path::PathBuf> = std::env::var_os("KRAIT_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .into_iter()
        .collect();
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs)
        .unwrap()
        .to_string_lossy()
        .to_string()
}

#[test]
fn load_setup_py_data_runs_setup_py() {
    let dir = recipe(
        "{% set data = load_setup_py_data(setup_file='setup.py', from_recipe_dir=True) %}\npackage:\n  name: {{ data.get('name') }}\n  version: {{ data['version'] }}\nrequirements:\n  run:\n  {% for req in data['install_requires'] %}\n    - {{ req }}\n  {% endfor %}\n",
    );
    std::fs::write(
        dir.path().join("setup.py"),
        "from setuptools import setup\nVERSION = '.'.join(['4', '5', '6'])\nsetup(name='frompy', version=VERSION, install_requires=['six >=1.16'])\n",
    )
    .unwrap();
    let stdout = render(dir.path())
        .platform("linux-64")
        .args(["--output", "--output-folder", "/o"])
        .env("PATH", path_with_test_python())
        .stdout();
    assert_eq!(stdout, "/o/linux-64/frompy-4.5.6-0.conda\n");
}

#[test]
fn load_setup_py_data_without_python_fails_clearly() {
    let dir = recipe("{% set data = load_setup_py_data() %}\npackage:\n  name: x\n  version: {{ data.version }}\n");
    std::fs::write(dir.path().join("setup.py"), "raise SystemExit(1)\n").unwrap();
    let err = render(dir.path())
        .platform("linux-64")
        .env("PATH", "/nonexistent")
        .err();
    assert!(
        err.contains("no python3/python is on PATH") && err.contains("meta.yaml:1:"),
        "{err}"
    );
}

#[test]
fn force_keys_ignore_version_and_underspecified_run() {
    // force_use_keys adds unused_key; force_ignore_keys drops zlib; ignore_version keeps libpng
    // out of the hash (get_hash_contents), so the hash input is
    // {"target_platform": "linux-64", "unused_key": "a"} -> sha1 -> ha117c7c.
    let dir = recipe(
        "package:\n  name: keys\n  version: 1.0\nbuild:\n  force_use_keys:\n    - unused_key\n  force_ignore_keys:\n    - zlib\nrequirements:\n  host:\n    - zlib\n    - libpng\n  run:\n    - libfoo 1.2\n",
    );
    std::fs::write(
        dir.path().join("conda_build_config.yaml"),
        "unused_key:\n  - a\nzlib:\n  - 1.3\nlibpng:\n  - 1.6\nignore_version:\n  - libpng\n",
    )
    .unwrap();
    let out = render(dir.path())
        .platform("linux-64")
        .args(["--json"])
        .ok();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let output = &json[0]["outputs"][0];
    assert_eq!(output["build"]["string"], "ha117c7c_0");
    assert_eq!(
        output["requirements"]["host"],
        json!(["zlib 1.3.*", "libpng 1.6.*"])
    );
    // Under-specified run specs get `.*` and a warning (ensure_valid_spec(warn=True)).
    assert_eq!(output["requirements"]["run"], json!(["libfoo 1.2.*"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("adding .* to `libfoo 1.2`"));
}

#[test]
fn pin_compatible_stays_pending_and_numpy_xx_leaves_the_hash() {
    // max_pin='x.x' on numpy puts numpy in the build string (np20) and out of the hash
    // (numpy_xx_re / uses_numpy_pin_compatible_without_xx); the pin itself needs the solved
    // host env, so it is kept as a typed pending pin.
    let dir = recipe(
        "package:\n  name: npext\n  version: 0.1\nrequirements:\n  host:\n    - python\n    - numpy\n  run:\n    - python\n    - {{ pin_compatible('numpy', max_pin='x.x') }}\n",
    );
    let json = render(dir.path())
        .platform("linux-64")
        .args(["--python", "3.12", "--variant", "numpy=2.0"])
        .json();
    let output = &json[0]["outputs"][0];
    assert_eq!(output["build"]["string"], "np20py312_0");
    assert_eq!(
        output["requirements"]["run"][1],
        json!({"pin_compatible": {"name": "numpy", "min_pin": "x.x.x.x.x.x", "max_pin": "x.x", "lower_bound": null, "upper_bound": null, "exact": false}})
    );
    assert_eq!(output["requirements"]["run"][0], "python >=3.12,<3.13.0a0");
}

#[test]
fn values_print_like_python() {
    // Jinja2 prints Python objects with str(): True/False/None and lists in repr form.
    let dir = recipe(
        "package:\n  name: reprs\n  version: 1.0\nabout:\n  summary: \"{{ win }} {{ environ.get('UNSET_VAR') }} {{ ['a', 1] }}\"\n",
    );
    let json = render(dir.path()).platform("linux-64").json();
    assert_eq!(
        json[0]["outputs"][0]["about"]["summary"],
        "False None ['a', 1]"
    );
}

/// `krait render --json` for linux-64 run from `cwd` with `HOME` set to `home`.
fn render_from(cwd: &Path, home: &Path, recipe: &Path, extra: &[&str]) -> serde_json::Value {
    render(recipe)
        .platform("linux-64")
        .args(extra)
        .current_dir(cwd)
        .env("HOME", home)
        .json()
}

#[test]
fn config_files_stack_like_conda_build() {
    // variants.find_config_files: ~/conda_build_config.yaml, then ./conda_build_config.yaml,
    // then the recipe's, then each -m file; later files clobber earlier ones key by key.
    // -e files come first and replace the ~/ and ./ files. (Block lists: a line ending in
    // `[word]` is a selector line even without `#`.)
    let dir = recipe(
        "package:\n  name: stack\n  version: 1.0\nabout:\n  summary: \"{{ a }} {{ b }} {{ c }} {{ d }} {{ e }}\"\n",
    );
    std::fs::write(
        dir.path().join("conda_build_config.yaml"),
        "c:\n  - recipe\nd:\n  - recipe\ne:\n  - recipe\n",
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("conda_build_config.yaml"),
        "a:\n  - home\nb:\n  - home\nc:\n  - home\nd:\n  - home\ne:\n  - home\n",
    )
    .unwrap();
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(
        cwd.path().join("conda_build_config.yaml"),
        "b:\n  - cwd\nc:\n  - cwd\nd:\n  - cwd\ne:\n  - cwd\n",
    )
    .unwrap();
    let extra = tempfile::tempdir().unwrap();
    let m1 = extra.path().join("m1.yaml");
    let m2 = extra.path().join("m2.yaml");
    let exclusive = extra.path().join("exclusive.yaml");
    std::fs::write(&m1, "d:\n  - m1\ne:\n  - m1\n").unwrap();
    std::fs::write(&m2, "e:\n  - m2\n").unwrap();
    std::fs::write(&exclusive, "a:\n  - excl\nb:\n  - excl\nc:\n  - excl\n").unwrap();
    let summary = |json: &serde_json::Value| json[0]["outputs"][0]["about"]["summary"].clone();
    let m_args = ["-m", m1.to_str().unwrap(), "-m", m2.to_str().unwrap()];

    let stacked = render_from(cwd.path(), home.path(), dir.path(), &m_args);
    assert_eq!(summary(&stacked), "home cwd recipe m1 m2");

    let mut with_exclusive = vec!["-e", exclusive.to_str().unwrap()];
    with_exclusive.extend(m_args);
    let json = render_from(cwd.path(), home.path(), dir.path(), &with_exclusive);
    assert_eq!(summary(&json), "excl excl recipe m1 m2");

    // Without the ~/ and ./ files, `a` is undefined: proof that they were read above.
    let empty = tempfile::tempdir().unwrap();
    let err = render(dir.path())
        .platform("linux-64")
        .current_dir(empty.path())
        .env("HOME", empty.path())
        .env("PATH", "")
        .err();
    assert!(err.contains("undefined Jinja variable `a`"));

    // Rendering from the recipe folder reads its conda_build_config.yaml once, in the ./ place.
    let json = render_from(dir.path(), home.path(), dir.path(), &[]);
    assert_eq!(summary(&json), "home home recipe recipe recipe");
}

#[test]
fn default_python_is_3_12() {
    // No config names python: conda-build's DEFAULT_VARIANTS["python"] (its interpreter's
    // version, 3.12 on conda-build's supported builds) pins host and run and gives py312.
    let dir = recipe(
        "package:\n  name: ext\n  version: 1.0\nrequirements:\n  host:\n    - python\n  run:\n    - python\n",
    );
    let home = tempfile::tempdir().unwrap();
    let json = render_from(home.path(), home.path(), dir.path(), &[]);
    let output = &json[0]["outputs"][0];
    assert_eq!(output["build"]["string"], "py312_0");
    assert_eq!(output["requirements"]["host"][0], "python 3.12.*");
    assert_eq!(output["requirements"]["run"][0], "python >=3.12,<3.13.0a0");
    assert_eq!(json[0]["variant"]["python"], "3.12");
}

#[test]
fn extra_final_and_parent_recipe() {
    // finalize_metadata adds copy_test_source_files, get_output_metadata_set marks every
    // output final, append_parent_metadata gives outputs other than the top-level package a
    // `parent_recipe` with the recipe's name, absolute path and version.
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("pkg-recipe");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("meta.yaml"),
        "package:\n  name: pkg\n  version: 1.0\nrequirements:\n  run:\n    - {{ pin_subpackage('libpkg', exact=True) }}\noutputs:\n  - name: libpkg\nextra:\n  recipe-maintainers:\n    - someone\n",
    )
    .unwrap();
    // A relative recipe path, resolved against the working directory.
    let json = render(Path::new("pkg-recipe"))
        .platform("linux-64")
        .current_dir(parent.path())
        .env("PATH", "")
        .json();
    let outputs = json[0]["outputs"].as_array().unwrap();
    let by_name = |name: &str| {
        outputs
            .iter()
            .find(|o| o["package"]["name"] == name)
            .unwrap_or_else(|| panic!("no output {name}"))["extra"]
            .clone()
    };
    let path = std::fs::canonicalize(&dir).unwrap();
    assert_eq!(
        by_name("libpkg"),
        json!({
            "recipe-maintainers": ["someone"],
            "parent_recipe": {"name": "pkg", "path": path.display().to_string(), "version": "1.0"},
            "copy_test_source_files": true,
            "final": true,
        })
    );
    // The implicit top-level metapackage is the recipe itself: no parent_recipe.
    assert_eq!(
        by_name("pkg"),
        json!({
            "recipe-maintainers": ["someone"],
            "copy_test_source_files": true,
            "final": true,
        })
    );
}

#[test]
fn loaders_read_a_local_path_source() {
    // needs_source_for_render: load_file_regex/load_file_data without from_recipe_dir read the
    // work folder, which conda-build fills from `source/path` before the final render.
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join("mylib")).unwrap();
    std::fs::write(
        repo.path().join("mylib/__init__.py"),
        "__version__ = \"2.3.4\"\n",
    )
    .unwrap();
    std::fs::write(
        repo.path().join("pyproject.toml"),
        "[project]\nname = \"mylib\"\ndependencies = [\"attrs >=23\"]\n",
    )
    .unwrap();
    let recipe = repo.path().join("conda.recipe");
    std::fs::create_dir(&recipe).unwrap();
    std::fs::write(
        recipe.join("meta.yaml"),
        "{% set match = load_file_regex(load_file='mylib/__init__.py', regex_pattern='__version__ = \"([^\"]+)\"') %}\n{% set project = load_file_data('pyproject.toml')['project'] %}\npackage:\n  name: {{ project['name'] }}\n  version: {{ match.group(1) }}\nsource:\n  path: ..\nrequirements:\n  run:\n{% for dep in project['dependencies'] %}\n    - {{ dep }}\n{% endfor %}\n",
    )
    .unwrap();
    let json = render(&recipe).platform("linux-64").json();
    let output = &json[0]["outputs"][0];
    assert_eq!(output["package"]["name"], "mylib");
    assert_eq!(output["package"]["version"], "2.3.4");
    assert_eq!(output["requirements"]["run"][0], "attrs >=23");
}

#[test]
fn requirements_txt_gives_run_requirements_when_run_is_empty() {
    // MetaData.parse_again: <recipe>/requirements.txt becomes requirements/run when the recipe
    // has no run requirements; each line goes through conda's spec_from_line.
    let dir =
        recipe("package:\n  name: withtxt\n  version: 1.0\nrequirements:\n  host:\n    - pip\n");
    std::fs::write(
        dir.path().join("requirements.txt"),
        "# runtime\nRequests >= 2.31, <3\nfoo=1.2=h0\nbar ~= 1.4.2\nsix\n",
    )
    .unwrap();
    let json = render(dir.path()).platform("linux-64").json();
    let reqs = &json[0]["outputs"][0]["requirements"];
    assert_eq!(
        reqs["run"],
        json!([
            "requests >=2.31,<3",
            "foo 1.2 h0",
            "bar >=1.4.2,==1.4.*",
            "six"
        ])
    );
    assert_eq!(reqs["host"], json!(["pip"]));

    // A recipe with run requirements keeps them.
    std::fs::write(
        dir.path().join("meta.yaml"),
        "package:\n  name: withtxt\n  version: 1.0\nrequirements:\n  run:\n    - attrs\n",
    )
    .unwrap();
    let json = render(dir.path()).platform("linux-64").json();
    assert_eq!(
        json[0]["outputs"][0]["requirements"]["run"],
        json!(["attrs"])
    );

    // A line that is no requirement is an error at its line.
    std::fs::write(dir.path().join("requirements.txt"), "six\n==1.0\n").unwrap();
    std::fs::write(
        dir.path().join("meta.yaml"),
        "package:\n  name: withtxt\n  version: 1.0\n",
    )
    .unwrap();
    let err = render(dir.path()).platform("linux-64").err();
    assert!(
        err.contains("requirements.txt:2:1") && err.contains("`==1.0`"),
        "{err}"
    );
}

#[test]
fn output_types_conda_conda_v2_and_wheel() {
    // bldpkg_path: `type: conda` is a .tar.bz2, `conda_v2` (and the default) a .conda; a wheel
    // is printed as "wheel file for NAME in: DIR" and comes after every conda package
    // (get_output_metadata_set), with pip and the variant's python added to its build
    // requirements when no build requirement mentions pip.
    let dir = recipe(
        "package:\n  name: multi\n  version: 1.0\noutputs:\n  - name: multi-whl\n    type: wheel\n    requirements:\n      host:\n        - setuptools\n  - name: multi-old\n    type: conda\n  - name: multi-new\n    type: conda_v2\n  - name: multi-lib\n",
    );
    let stdout = render(dir.path())
        .platform("linux-64")
        .args(["--output", "--output-folder", "/o"])
        .stdout();
    assert_eq!(
        stdout,
        "/o/linux-64/multi-lib-1.0-0.conda\n/o/linux-64/multi-new-1.0-0.conda\n/o/linux-64/multi-old-1.0-0.tar.bz2\nwheel file for multi-whl in: /o/linux-64\n"
    );
    let json = render(dir.path()).platform("linux-64").json();
    let wheel = &json[0]["outputs"][3];
    assert_eq!(wheel["type"], "wheel");
    assert_eq!(
        wheel["requirements"]["build"],
        json!(["pip", "python 3.12"])
    );
    assert!(json[0]["outputs"][0].get("type").is_none());

    std::fs::write(
        dir.path().join("meta.yaml"),
        "package:\n  name: multi\n  version: 1.0\noutputs:\n  - name: multi-rpm\n    type: rpm\n",
    )
    .unwrap();
    let err = render(dir.path()).platform("linux-64").err();
    assert!(
        err.contains("meta.yaml:6:11") && err.contains("unknown output type `rpm`"),
        "{err}"
    );
}

#[test]
fn app_section_is_kept() {
    // FIELDS["app"]: entry, icon, summary, type, cli_opts, own_environment; conda-build turns
    // them into index.json's app_* fields, so the rendered model keeps them; unknown app keys
    // warn like any unknown section key.
    let dir = recipe(
        "package:\n  name: gui\n  version: 1.0\napp:\n  entry: gui-launch\n  icon: icon.png\n  summary: A GUI\n  own_environment: True\n  colour: blue\n",
    );
    let out = render(dir.path())
        .platform("linux-64")
        .args(["--json"])
        .ok();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json[0]["outputs"][0]["app"],
        json!({"entry": "gui-launch", "icon": "icon.png", "summary": "A GUI", "own_environment": true, "colour": "blue"})
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("meta.yaml:9:11: unknown key `app/colour`")
    );
}

#[test]
fn condarc_conda_build_config_file_replaces_the_home_one() {
    // find_config_files: `.condarc`'s conda_build/config_file is the user config file, read
    // in place of ~/conda_build_config.yaml (`~` and `$VAR` expanded).
    let dir = recipe("package:\n  name: rc\n  version: 1.0\nabout:\n  summary: \"{{ a }}\"\n");
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("conda_build_config.yaml"),
        "a:\n  - home\n",
    )
    .unwrap();
    std::fs::create_dir(home.path().join("cfg")).unwrap();
    std::fs::write(home.path().join("cfg/variants.yaml"), "a:\n  - condarc\n").unwrap();
    std::fs::write(
        home.path().join(".condarc"),
        "conda_build:\n  config_file: ~/cfg/variants.yaml\n",
    )
    .unwrap();
    let json = render_from(dir.path(), home.path(), dir.path(), &[]);
    assert_eq!(json[0]["outputs"][0]["about"]["summary"], "condarc");
}

#[test]
fn relative_source_path_becomes_absolute() {
    // finalize_metadata: a single source mapping's relative `path` is joined to the recipe
    // folder and normalised; in a list of sources it stays as written.
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("recipe");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("meta.yaml"),
        "package:\n  name: src\n  version: 1.0\nsource:\n  path: ../src/./lib\n",
    )
    .unwrap();
    let json = render(&dir).platform("linux-64").json();
    let expected = std::path::absolute(parent.path().join("src/lib")).unwrap();
    assert_eq!(json[0]["source"][0]["path"], expected.display().to_string());
    std::fs::write(
        dir.join("meta.yaml"),
        "package:\n  name: src\n  version: 1.0\nsource:\n  - path: ../src/./lib\n",
    )
    .unwrap();
    let json = render(&dir).platform("linux-64").json();
    assert_eq!(json[0]["source"][0]["path"], "../src/./lib");
}

#[test]
fn variants_yaml_on_the_command_line_extends_the_matrix_and_keeps_versions_as_written() {
    // conda build --variants '{python: [3.10, 3.11]}': one variant per value, 3.10 not 3.1;
    // --variant adds to a key of its own after it.
    let dir = recipe(
        "package:\n  name: cli-variants\n  version: 1.0\nrequirements:\n  host:\n    - python\n    - zlib\n  run:\n    - python\n",
    );
    let json = render(dir.path())
        .platform("linux-64")
        .args([
            "--variants",
            "{python: [3.10, 3.11]}",
            "--variant",
            "zlib=1.3",
        ])
        .json();
    let pairs: Vec<(String, String)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let text = |k: &str| v["variant"][k].as_str().unwrap().to_string();
            (text("python"), text("zlib"))
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("3.10".to_string(), "1.3".to_string()),
            ("3.11".to_string(), "1.3".to_string())
        ]
    );
    let err = render(dir.path())
        .platform("linux-64")
        .args(["--variants", "[3.10]"])
        .err();
    assert!(
        err.contains("--variants") && err.contains("mapping"),
        "{err}"
    );
}

#[test]
fn load_setuptools_runs_setup_py_in_render_state_and_src_dir_is_in_the_context() {
    // jinja_context.load_setuptools (deprecated alias of load_setup_py_data, with its warning);
    // setup.py runs with CONDA_BUILD_STATE=RENDER; SRC_DIR is in the context (environ.get_dict)
    // once render has the source.
    let dir = recipe(
        "{% set data = load_setuptools() %}\npackage:\n  name: {{ data.get('name') }}\n  version: {{ data.get('version') }}\nsource:\n  path: .\nabout:\n  summary: \"src={{ SRC_DIR }}\"\n",
    );
    std::fs::write(
        dir.path().join("setup.py"),
        "import os\nfrom setuptools import setup\nsetup(name='lsdemo', version='1.0.' + ('9' if os.environ.get('CONDA_BUILD_STATE') == 'RENDER' else '0'))\n",
    )
    .unwrap();
    let out = render(dir.path())
        .platform("linux-64")
        .args(["--json"])
        .env("PATH", path_with_test_python())
        .ok();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let output = &json[0]["outputs"][0];
    assert_eq!(output["package"]["version"], "1.0.9");
    // The source folder render read setup.py from (a `path` source: the folder itself).
    let summary = output["about"]["summary"].as_str().unwrap();
    let src_dir = summary.strip_prefix("src=").unwrap();
    assert_eq!(
        std::fs::canonicalize(src_dir).unwrap(),
        std::fs::canonicalize(dir.path()).unwrap()
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("load_setuptools is pending deprecation"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
