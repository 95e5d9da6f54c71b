//! The recipe functions, the Python-compatible objects and the build variables, each through
//! a real render of a small template.

use super::*;
use crate::recipe::context::selector_namespace;
use rattler_conda_types::Subdir;
use serde_json::json;

/// One render's inputs, owned so each test can adjust them.
struct Fixture {
    dir: tempfile::TempDir,
    platform: Subdir,
    env: BTreeMap<String, String>,
    variant: Variant,
    package: PackageVars,
    subpackages: HashMap<String, String>,
    strict: bool,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            platform: Subdir::Linux64,
            env: BTreeMap::new(),
            variant: Variant::new(),
            package: PackageVars::default(),
            subpackages: HashMap::new(),
            strict: true,
        }
    }

    fn variant(mut self, key: &str, value: &str) -> Self {
        self.variant.insert(key.into(), json!(value));
        self
    }

    fn file(self, name: &str, text: &str) -> Self {
        std::fs::write(self.dir.path().join(name), text).unwrap();
        self
    }

    fn render(&self, text: &str) -> Result<String> {
        let host = Host {
            target_platform: self.platform,
            build_platform: self.platform,
            env: &self.env,
        };
        let meta_path = self.dir.path().join("meta.yaml");
        let input = JinjaInput {
            meta_path: &meta_path,
            recipe_dir: self.dir.path(),
            source_dir: None,
            host: &host,
            variant: &self.variant,
            namespace: Arc::new(selector_namespace(&host, &self.variant)),
            package: self.package.clone(),
            subpackages: &self.subpackages,
            host_prefix: "/host",
            build_prefix: "/build",
            git_vars: &BTreeMap::new(),
            strict: self.strict,
        };
        render(text, &input)
    }

    fn ok(&self, text: &str) -> String {
        self.render(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(&self, text: &str) -> String {
        self.render(text).unwrap_err().to_string()
    }
}

#[test]
fn compiler_and_stdlib_follow_the_variant() {
    let f = Fixture::new();
    assert_eq!(
        f.ok("{{ compiler('c') }} {{ compiler('cxx') }}"),
        "gcc_linux-64 gxx_linux-64"
    );
    let f = Fixture::new()
        .variant("c_compiler", "clang")
        .variant("c_compiler_version", "17")
        .variant("c_stdlib", "sysroot")
        .variant("c_stdlib_version", "2.17");
    assert_eq!(
        f.ok("{{ compiler('c') }}|{{ stdlib('c') }}"),
        "clang_linux-64 17.*|sysroot_linux-64 2.17.*"
    );
    let mut f = Fixture::new();
    f.platform = Subdir::OsxArm64;
    assert_eq!(f.ok("{{ compiler('cxx') }}"), "clangxx_osx-arm64");
}

#[test]
fn cdt_names_the_centos_package_for_the_arch() {
    let f = Fixture::new();
    assert_eq!(f.ok("{{ cdt('libx11') }}"), "libx11-cos6-x86_64");
    assert_eq!(f.ok("{{ cdt('libx11 >=1') }}"), "libx11-cos6-x86_64 >=1");
    let mut f = Fixture::new();
    f.platform = Subdir::LinuxAarch64;
    assert_eq!(f.ok("{{ cdt('libx11') }}"), "libx11-cos7-aarch64");
    let f = Fixture::new()
        .variant("cdt_name", "conda")
        .variant("cdt_arch", "x86_64");
    assert_eq!(f.ok("{{ cdt('libx11') }}"), "libx11-conda-x86_64");
}

#[test]
fn pin_subpackage_ranges_exact_pins_and_unknown_outputs() {
    let mut f = Fixture::new();
    f.subpackages.insert("libfoo".into(), "1.2.3".into());
    assert_eq!(
        f.ok("{{ pin_subpackage('libfoo') }}"),
        "libfoo >=1.2.3,<2.0a0"
    );
    assert_eq!(
        f.ok("{{ pin_subpackage('libfoo', max_pin='x.x') }}"),
        "libfoo >=1.2.3,<1.3.0a0"
    );
    assert_eq!(
        f.ok("{{ pin_subpackage('libfoo', 'x.x', 'x.x') }}"),
        "libfoo >=1.2,<1.3.0a0"
    );
    assert_eq!(
        f.ok("{{ pin_subpackage('libfoo', min_pin=None, max_pin=None) }}"),
        "libfoo"
    );
    assert_eq!(
        f.ok("{{ pin_subpackage('libfoo', exact=True) }}"),
        format!("libfoo 1.2.3 {EXACT_PIN_MARKER}libfoo")
    );
    assert!(f
        .err("{{ pin_subpackage('other') }}")
        .contains("this recipe has no output named `other`"));
    f.strict = false;
    assert_eq!(f.ok("{{ pin_subpackage('other') }}"), "other");
}

#[test]
fn pin_compatible_is_left_pending_with_its_arguments() {
    let f = Fixture::new();
    assert_eq!(
        f.ok("{{ pin_compatible('numpy', max_pin='x.x', lower_bound='1.20') }}"),
        format!(
            "numpy {PIN_COMPATIBLE_MARKER} min_pin=x.x.x.x.x.x max_pin=x.x lower_bound=1.20 \
             upper_bound=None exact=false"
        )
    );
    assert_eq!(
        f.ok("{{ pin_compatible('zlib', exact=True) }}"),
        format!(
            "zlib {PIN_COMPATIBLE_MARKER} min_pin=x.x.x.x.x.x max_pin=x lower_bound=None \
             upper_bound=None exact=true"
        )
    );
}

#[test]
fn load_file_regex_returns_a_match_object() {
    let f = Fixture::new().file("version.py", "__version__ = '4.5.6'  # release\n");
    let regex = "load_file_regex(load_file='version.py', regex_pattern=\"__version__ = '(\\d+)\\.(\\d+)\", from_recipe_dir=True)";
    assert_eq!(
        f.ok(&format!("{{% set m = {regex} %}}{{{{ m.group(1) }}}}.{{{{ m[2] }}}} {{{{ m.groups() }}}} {{{{ m.start() }}}}")),
        "4.5 ['4', '5'] 0"
    );
    assert_eq!(
        f.ok("{{ load_file_regex('version.py', 'nothing here') }}"),
        "None"
    );
    let err = f.err("{{ load_file_regex('missing.py', 'x') }}");
    assert!(
        err.contains("load_file_regex: file `missing.py` not found"),
        "{err}"
    );
    assert!(f
        .err("{{ load_file_regex('version.py', '(') }}")
        .contains("bad regex `(`"));
}

#[test]
fn data_loaders_parse_json_toml_and_yaml() {
    let f = Fixture::new()
        .file(
            "pyproject.toml",
            "[project]\nname = 'demo'\ndependencies = ['attrs']\n",
        )
        .file("info.json", "{\"version\": \"1.0\"}")
        .file("meta.yml", "a: [1, 2]\n");
    assert_eq!(
        f.ok("{{ load_file_data('pyproject.toml')['project']['dependencies'] }}"),
        "['attrs']"
    );
    assert_eq!(f.ok("{{ load_file_data('info.json').version }}"), "1.0");
    assert_eq!(f.ok("{{ load_file_data('meta.yml', 'yaml').a[1] }}"), "2");
    assert_eq!(f.ok("{{ load_str_data('x = 3', 'toml').x }}"), "3");
    assert!(f
        .err("{{ load_str_data('x', 'ini') }}")
        .contains("unknown data format `ini`: use json, toml or yaml"));
    assert!(f
        .err("{{ load_str_data('{', 'json') }}")
        .contains("cannot parse json"));
    assert!(f
        .err("{{ load_file_data('absent.json') }}")
        .contains("load_file_data: file `absent.json` not found"));
    let mut lenient = Fixture::new();
    lenient.strict = false;
    assert_eq!(lenient.ok("{{ load_file_data('absent.json') }}"), "{}");
}

#[test]
fn setup_py_loaders_in_lenient_pass_and_the_old_name() {
    let mut f = Fixture::new();
    // The old name runs load_setup_py_data (with conda-build's deprecation warning).
    assert!(f
        .err("{{ load_setuptools() }}")
        .contains("load_setup_py_data: file `setup.py` not found"));
    // Strict, without setup.py: the missing file is named.
    assert!(f
        .err("{{ load_setup_py_data() }}")
        .contains("load_setup_py_data: file `setup.py` not found"));
    // The lenient pass never runs Python.
    f.strict = false;
    let f = f.file("setup.py", "raise SystemExit(3)\n");
    assert_eq!(f.ok("{{ load_setup_py_data() }}"), "{}");
}

#[test]
fn values_print_and_behave_like_python() {
    let f = Fixture::new();
    assert_eq!(
        f.ok("{{ True }} {{ none }} {{ [1, 'a'] }} {{ {'k': [True]} }}"),
        "True None [1, 'a'] {'k': [True]}"
    );
    assert_eq!(f.ok("{{ '1.2.3'.rsplit('.', 1)[0] }}"), "1.2");
    assert_eq!(f.ok("{{ 'a b  c'.rsplit() }}"), "['a', 'b', 'c']");
    assert_eq!(
        f.ok("{{ 'abc'.upper() }} {{ 'x-y'.replace('-', '_') }}"),
        "ABC x_y"
    );
    assert_eq!(f.ok("{{ linux }} {{ win }} {{ py }}"), "True False 312");
}

#[test]
fn os_time_and_datetime_modules() {
    let mut f = Fixture::new();
    f.env.insert("TOKEN".into(), "t0k".into());
    assert_eq!(
        f.ok("{{ os.environ['TOKEN'] }} {{ os.getenv('TOKEN') }} {{ os.getenv('NOPE', 'd') }} {{ environ.get('NOPE') }}"),
        "t0k t0k d None"
    );
    assert_eq!(f.ok("{{ os.sep }}{{ os.pathsep }}"), "/:");
    let year = chrono::Local::now().format("%Y").to_string();
    assert_eq!(f.ok("{{ datetime.date.today().year }}"), year);
    assert_eq!(f.ok("{{ time.strftime('%Y') }}"), year);
    assert_eq!(f.ok("{{ (time.time() > 1e9) }}"), "True");
    assert!(f
        .err("{{ time.strftime('%Q') }}")
        .contains("bad strftime format `%Q`"));
}

#[test]
fn build_variables_come_from_the_variant_and_package() {
    let mut f = Fixture::new()
        .variant("python", "3.11.4")
        .variant("numpy", "2.1");
    f.package = PackageVars {
        name: Some("pkg".into()),
        version: Some("1.0".into()),
        build_number: Some("2".into()),
    };
    assert_eq!(
        f.ok("{{ PY_VER }} {{ CONDA_PY }} {{ SP_DIR }} {{ PYTHON }} {{ NPY_VER }} {{ CONDA_NPY }}"),
        "3.11 311 /host/lib/python3.11/site-packages /host/bin/python 2.1 21"
    );
    assert_eq!(
        f.ok("{{ PKG_NAME }}-{{ PKG_VERSION }}-{{ PKG_BUILDNUM }} {{ PKG_HASH }} {{ environ['PKG_NAME'] }}"),
        format!("pkg-1.0-2 {PKG_HASH_PLACEHOLDER} pkg")
    );
    assert_eq!(
        f.ok("{{ PREFIX }} {{ BUILD_PREFIX }} {{ SUBDIR }} {{ ARCH }} {{ SHLIB_EXT }} {{ CONDA_BUILD }}"),
        "/host /build linux-64 64 .so 1"
    );
    // conda-build always defines SRC_DIR; with no source fetched yet its name stands in.
    assert_eq!(f.ok("{{ SRC_DIR }}"), "$SRC_DIR");
    let mut win = Fixture::new().variant("python", "3.12");
    win.platform = Subdir::Win64;
    assert_eq!(
        win.ok("{{ SP_DIR }} {{ PYTHON }} {{ SHLIB_EXT }}"),
        "/host\\Lib\\site-packages /host\\python.exe .dll"
    );
}

#[test]
fn undefined_names_are_errors_at_their_line() {
    let f = Fixture::new();
    let err = f.render("a: 1\nb: {{ versoin }}\n").unwrap_err();
    match err {
        RecipeError::UndefinedVariable { location, name } => {
            assert_eq!(name, "versoin");
            assert_eq!(location.line, 2);
        }
        other => panic!("{other}"),
    }
    let mut lenient = Fixture::new();
    lenient.strict = false;
    assert_eq!(lenient.ok("b: {{ versoin }}"), "b: ");
    assert!(f.err("{% if %}").contains("Jinja error"));
}
