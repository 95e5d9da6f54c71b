//! What a recipe sees while it renders: the selector namespace (`metadata.get_selectors`) and
//! conda-build's internal default variant (`variants.get_default_variant`).

use super::selectors::{Namespace, PyValue};
use super::variants::Variant;
use rattler_conda_types::Subdir;
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, HashMap};

/// The Python version conda-build takes from its own interpreter when no variant names one.
pub const DEFAULT_PYTHON: &str = "3.12";
/// conda-build's `DEFAULT_VARIANTS["numpy"]`.
pub const DEFAULT_NUMPY: &str = "1.21";

/// Platforms and process environment of one render.
#[derive(Debug, Clone)]
pub struct Host<'a> {
    pub target_platform: Subdir,
    pub build_platform: Subdir,
    pub env: &'a BTreeMap<String, String>,
}

/// `config.platform`: the OS part of a subdir (`linux`, `osx`, `win`, ...).
pub fn platform_os(platform: Subdir) -> &'static str {
    platform.as_str().split('-').next().unwrap_or("noarch")
}

/// conda-build's `get_default_variant`: defaults every variant config is stacked on.
pub fn default_variant(target: Subdir) -> serde_json::Map<String, Json> {
    let mut base = json!({
        "python": DEFAULT_PYTHON,
        "numpy": DEFAULT_NUMPY,
        "perl": "5.26.2",
        "lua": "5",
        "r_base": if target.is_windows() { "3.4" } else { "3.5" },
        "cpu_optimization_target": "nocona",
        "pin_run_as_build": {
            "python": {"min_pin": "x.x", "max_pin": "x.x"},
            "r-base": {"min_pin": "x.x", "max_pin": "x.x"},
        },
        "ignore_version": [],
        "ignore_build_only_deps": ["python", "numpy"],
        "extend_keys": ["pin_run_as_build", "ignore_version", "ignore_build_only_deps", "extend_keys"],
        "cran_mirror": "https://cran.r-project.org",
        "target_platform": target.as_str(),
    });
    let map = base.as_object_mut().expect("object literal");
    let (c, cxx) = match platform_os(target) {
        "win" => ("vs2017", "vs2017"),
        "osx" => ("clang", "clangxx"),
        _ => ("gcc", "gxx"),
    };
    map.insert("c_compiler".into(), c.into());
    map.insert("cxx_compiler".into(), cxx.into());
    map.insert("fortran_compiler".into(), "gfortran".into());
    if target.is_windows() {
        map.insert("vc".into(), "14".into());
    }
    std::mem::take(map)
}

/// The default compiler package for a language, as conda-build's `native_compiler`.
pub fn native_compiler(language: &str, target: Subdir) -> String {
    match (platform_os(target), language) {
        ("win", "c" | "cxx") => "vs2017".into(),
        ("osx", "c") => "clang".into(),
        ("osx", "cxx") => "clangxx".into(),
        ("linux", "c") => "gcc".into(),
        ("linux", "cxx") => "gxx".into(),
        (_, "fortran") => "gfortran".into(),
        _ => language.into(),
    }
}

fn variant_str<'a>(variant: &'a Variant, key: &str) -> Option<&'a str> {
    match variant.get(key) {
        Some(Json::String(s)) => Some(s),
        Some(Json::Array(items)) => items.first().and_then(Json::as_str),
        _ => None,
    }
}

/// Two leading version components as an int: "3.12.1 *_cp" -> 312.
fn major_minor_int(version: &str) -> Option<i64> {
    let mut parts = version.split_whitespace().next()?.split('.');
    let joined = format!("{}{}", parts.next()?, parts.next().unwrap_or(""));
    joined.parse().ok()
}

pub fn json_to_py(value: &Json) -> PyValue {
    match value {
        Json::Null => PyValue::None,
        Json::Bool(b) => PyValue::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map(PyValue::Int)
            .unwrap_or_else(|| PyValue::Float(n.as_f64().unwrap_or(0.0))),
        Json::String(s) => PyValue::Str(s.clone()),
        Json::Array(items) => PyValue::List(items.iter().map(json_to_py).collect()),
        Json::Object(map) => PyValue::Dict(
            map.iter()
                .map(|(k, v)| (PyValue::Str(k.clone()), json_to_py(v)))
                .collect(),
        ),
    }
}

/// Type a variant value for selectors: numeric strings are ints, "true"/"false" bools.
fn typed_variant_value(value: &Json) -> PyValue {
    match value {
        Json::String(s) => {
            if let Ok(i) = s.trim().parse::<i64>() {
                PyValue::Int(i)
            } else if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
                PyValue::Bool(s.eq_ignore_ascii_case("true"))
            } else {
                PyValue::Str(s.clone())
            }
        }
        other => json_to_py(other),
    }
}

/// The selector names for one platform and variant, in conda-build's order of precedence:
/// platform booleans, `py`/`np`/..., every environment variable, then variant keys not yet set.
pub fn selector_names(host: &Host<'_>, variant: &Variant) -> HashMap<String, PyValue> {
    let plat = host.target_platform.as_str();
    let mut d: HashMap<String, PyValue> = HashMap::new();
    let set = |d: &mut HashMap<String, PyValue>, k: &str, v: bool| {
        d.insert(k.to_string(), PyValue::Bool(v));
    };
    set(&mut d, "linux32", plat == "linux-32");
    set(&mut d, "linux64", plat == "linux-64");
    set(&mut d, "arm", plat.starts_with("linux-arm"));
    set(
        &mut d,
        "unix",
        ["linux-", "osx-", "emscripten-"]
            .iter()
            .any(|p| plat.starts_with(p)),
    );
    set(&mut d, "win32", plat == "win-32");
    set(&mut d, "win64", plat == "win-64");
    let environ = PyValue::Dict(
        host.env
            .iter()
            .map(|(k, v)| (PyValue::Str(k.clone()), PyValue::Str(v.clone())))
            .collect(),
    );
    d.insert("environ".into(), environ);
    let nomkl = host
        .env
        .get("FEATURE_NOMKL")
        .is_some_and(|v| v.trim() != "0" && !v.is_empty());
    set(&mut d, "nomkl", nomkl);

    let mut subdirs: Vec<&str> = Subdir::all().map(|p| p.as_str()).collect();
    subdirs.push(plat);
    for subdir in subdirs.iter().filter(|s| s.contains('-')) {
        let (os, arch) = subdir.split_once('-').expect("subdir with a dash");
        set(&mut d, os, plat.starts_with(&format!("{os}-")));
        let arch_full = match arch {
            "32" => "x86",
            "64" => "x86_64",
            other => other,
        };
        set(&mut d, arch_full, plat.ends_with(&format!("-{arch}")));
    }
    set(
        &mut d,
        "x86",
        plat.ends_with("-32") || plat.ends_with("-64"),
    );

    d.insert(
        "build_platform".into(),
        PyValue::Str(host.build_platform.as_str().to_string()),
    );
    let python = variant_str(variant, "python").unwrap_or(DEFAULT_PYTHON);
    let py = major_minor_int(python).unwrap_or(0);
    let py_major = python.split('.').next().unwrap_or("");
    d.insert("py".into(), PyValue::Int(py));
    set(&mut d, "py3k", py_major == "3");
    set(&mut d, "py2k", py_major == "2");
    for minor in [26, 27, 33, 34, 35, 36] {
        set(&mut d, &format!("py{minor}"), py == minor);
    }
    let numpy = variant_str(variant, "numpy")
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_NUMPY);
    d.insert(
        "np".into(),
        PyValue::Int(major_minor_int(numpy).unwrap_or(0)),
    );
    d.insert(
        "pl".into(),
        PyValue::Str(variant_str(variant, "perl").unwrap_or("5.26.2").to_string()),
    );
    let lua = variant_str(variant, "lua").unwrap_or("5");
    d.insert("lua".into(), PyValue::Str(lua.to_string()));
    set(&mut d, "luajit", lua.starts_with('2'));
    for (k, v) in host.env {
        d.insert(k.clone(), PyValue::Str(v.clone()));
    }
    for (k, v) in variant {
        d.entry(k.clone()).or_insert_with(|| typed_variant_value(v));
    }
    d
}

pub fn selector_namespace(host: &Host<'_>, variant: &Variant) -> Namespace {
    Namespace::new(selector_names(host, variant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_booleans() {
        let env = BTreeMap::new();
        let host = Host {
            target_platform: Subdir::OsxArm64,
            build_platform: Subdir::Linux64,
            env: &env,
        };
        let mut variant = Variant::new();
        variant.insert("python".into(), "3.11".into());
        variant.insert("with_icu".into(), "true".into());
        let ns = selector_namespace(&host, &variant);
        let t = |e: &str| ns.eval(e).unwrap().truthy();
        assert!(t("osx and arm64 and unix"));
        assert!(!t("linux or win or x86_64"));
        assert!(t("py == 311"));
        assert!(t("with_icu is True"));
        assert!(t("build_platform != target_platform"));
    }
}
