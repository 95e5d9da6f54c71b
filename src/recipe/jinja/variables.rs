//! What a template sees: selector names, conda-build's build variables (`environ.get_dict`),
//! the variant's keys, `environ` and the Python modules.

use super::objects::{Datetime, OsModule, TimeModule};
use super::pycompat::py_to_value;
use super::{JinjaInput, PKG_HASH_PLACEHOLDER};
use crate::recipe::context::selector_names;
use minijinja::value::Value;
use std::collections::BTreeMap;

/// Build variables conda-build exposes while rendering (`environ.get_dict`).
fn build_vars(input: &JinjaInput<'_>) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let win = input.host.target_platform.is_windows();
    let variant = |k: &str| match input.variant.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let prefix = input.host_prefix.to_string();
    let sep = if win { "\\" } else { "/" };
    vars.insert("CONDA_BUILD".into(), "1".into());
    vars.insert("CONDA_BUILD_STATE".into(), "RENDER".into());
    vars.insert("PREFIX".into(), prefix.clone());
    vars.insert("BUILD_PREFIX".into(), input.build_prefix.to_string());
    vars.insert("RECIPE_DIR".into(), input.recipe_dir.display().to_string());
    // conda-build always defines SRC_DIR (its work folder); before a build has one, the
    // variable's name stands in for it, as for PREFIX.
    let src_dir = input
        .source_dir
        .map_or_else(|| "$SRC_DIR".to_string(), |src| src.display().to_string());
    vars.insert("SRC_DIR".into(), src_dir);
    let platform = input.host.target_platform;
    vars.insert("SUBDIR".into(), platform.as_str().into());
    vars.insert(
        "ARCH".into(),
        match platform.arch().map(|a| a.to_string()).as_deref() {
            Some("x86_64") => "64".into(),
            Some("x86") => "32".into(),
            Some(other) => other.into(),
            None => String::new(),
        },
    );
    vars.insert(
        "SHLIB_EXT".into(),
        if win {
            ".dll"
        } else if platform.is_osx() {
            ".dylib"
        } else {
            ".so"
        }
        .into(),
    );
    if let Some(python) = variant("python") {
        let py_ver: String = python
            .split_whitespace()
            .next()
            .unwrap_or("")
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        let stdlib = if win {
            format!("{prefix}{sep}Lib")
        } else {
            format!("{prefix}/lib/python{py_ver}")
        };
        vars.insert("PY_VER".into(), py_ver.clone());
        vars.insert("CONDA_PY".into(), py_ver.replace('.', ""));
        vars.insert(
            "PY3K".into(),
            if py_ver.starts_with('3') { "1" } else { "0" }.into(),
        );
        vars.insert("SP_DIR".into(), format!("{stdlib}{sep}site-packages"));
        vars.insert("STDLIB_DIR".into(), stdlib);
        vars.insert(
            "PYTHON".into(),
            if win {
                format!("{prefix}\\python.exe")
            } else {
                format!("{prefix}/bin/python")
            },
        );
    }
    if let Some(numpy) = variant("numpy") {
        let npy: Vec<&str> = numpy.split('.').take(2).collect();
        vars.insert("NPY_VER".into(), npy.join("."));
        vars.insert("CONDA_NPY".into(), npy.join(""));
    }
    for (key, var, conda) in [
        ("perl", "PERL_VER", "CONDA_PERL"),
        ("lua", "LUA_VER", "CONDA_LUA"),
        ("r_base", "R_VER", "CONDA_R"),
    ] {
        if let Some(v) = variant(key) {
            vars.insert(var.into(), v.clone());
            vars.insert(conda.into(), v);
        }
    }
    vars.extend(input.git_vars.clone());
    let pkg = &input.package;
    if let Some(name) = &pkg.name {
        vars.insert("PKG_NAME".into(), name.clone());
    }
    if let Some(version) = &pkg.version {
        vars.insert("PKG_VERSION".into(), version.clone());
    }
    if let Some(number) = &pkg.build_number {
        vars.insert("PKG_BUILDNUM".into(), number.clone());
    }
    if pkg.name.is_some() {
        vars.insert("PKG_HASH".into(), PKG_HASH_PLACEHOLDER.into());
    }
    vars
}

/// The full Jinja context: selector names, build variables, variant keys (as strings), `environ`.
pub(super) fn context(input: &JinjaInput<'_>) -> BTreeMap<String, Value> {
    let mut ctx: BTreeMap<String, Value> = selector_names(input.host, input.variant)
        .iter()
        .map(|(k, v)| (k.clone(), py_to_value(v)))
        .collect();
    let vars = build_vars(input);
    for (k, v) in &vars {
        ctx.insert(k.clone(), Value::from(v.as_str()));
    }
    for (k, v) in input.variant {
        ctx.insert(k.clone(), Value::from_serialize(v));
    }
    let mut environ: BTreeMap<String, String> = input.host.env.clone();
    environ.extend(vars);
    let environ = Value::from(environ);
    ctx.insert("environ".into(), environ.clone());
    ctx.insert("os".into(), Value::from_object(OsModule { environ }));
    ctx.insert("time".into(), Value::from_object(TimeModule));
    ctx.insert("datetime".into(), Value::from_object(Datetime::Module));
    ctx
}
