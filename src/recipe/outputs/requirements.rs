//! Requirement strings of one output before they are typed: variant versions on build and host,
//! `pin_run_as_build` on run, `.*` on under-specified specs, and conda-build's trimming of
//! build-only variables.

use super::map_node;
use crate::recipe::error::Result;
use crate::recipe::model::Reader;
use crate::recipe::pins::{apply_pin_expressions, ensure_valid_spec};
use crate::recipe::variants::Variant;
use crate::recipe::yaml::{Node, Value};
use serde_json::Value as Json;
use std::collections::HashSet;

/// Requirement strings of one output, before they become typed.
#[derive(Debug, Clone, Default)]
pub(super) struct RawRequirements {
    pub(super) build: Vec<String>,
    pub(super) host: Vec<String>,
    pub(super) run: Vec<String>,
    pub(super) run_constrained: Vec<String>,
    pub(super) has_host: bool,
}

impl RawRequirements {
    pub(super) fn all_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.build
            .iter_mut()
            .chain(self.host.iter_mut())
            .chain(self.run.iter_mut())
            .chain(self.run_constrained.iter_mut())
    }
}

pub(super) fn first_token(spec: &str) -> &str {
    spec.split_whitespace().next().unwrap_or("")
}

/// `utils.expand_reqs`: an output's plain-list `requirements` means build and run.
pub(super) fn expand_requirements(node: Option<&Node>) -> Option<Node> {
    let node = node?;
    match &node.value {
        Value::Seq(_) => Some(map_node(
            vec![("build".into(), node.clone()), ("run".into(), node.clone())],
            node,
        )),
        _ => Some(node.clone()),
    }
}

pub(super) fn raw_requirements(
    reader: &Reader<'_>,
    node: Option<&Node>,
) -> Result<RawRequirements> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(RawRequirements::default());
    };
    if !matches!(node.value, Value::Map(_)) {
        return Err(reader.invalid(node, "`requirements` must be a mapping with build/host/run"));
    }
    let list = |k: &str| reader.strings(node.get(k), &format!("requirements/{k}"));
    let mut run_constrained = list("run_constrained")?;
    run_constrained.extend(list("conflicts")?);
    Ok(RawRequirements {
        build: list("build")?,
        host: list("host")?,
        run: list("run")?,
        run_constrained,
        has_host: node.get("host").is_some(),
    })
}

pub(super) fn variant_string(variant: &Variant, key: &str) -> Option<String> {
    match variant.get(key)? {
        Json::String(s) => Some(s.clone()),
        Json::Array(items) => items.first()?.as_str().map(String::from),
        _ => None,
    }
}

/// `insert_variant_versions` for build and host: bare names and `name x.x` get the variant
/// value.
pub(super) fn insert_variant_versions(reqs: &mut [String], variant: &Variant) {
    for req in reqs.iter_mut() {
        let bare = req.trim_end();
        if !bare.is_empty() && !bare.contains(char::is_whitespace) {
            if let Some(value) = variant_string(variant, &bare.replace('-', "_")) {
                *req = ensure_valid_spec(&format!("{bare} {value}"));
                continue;
            }
        }
        let mut parts = req.split_whitespace();
        if let (Some(name), Some("x.x")) = (parts.next(), parts.next()) {
            if let Some(value) = variant_string(variant, name) {
                *req = ensure_valid_spec(&format!("{name} {value}"));
            }
        }
    }
}

/// `get_pin_from_build` with `pin_run_as_build`: a bare run requirement also in build/host gets
/// a range around the variant's version (python -> `python >=3.12,<3.13.0a0`).
pub(super) fn pin_run_as_build(
    run: &mut [String],
    build_host_names: &HashSet<String>,
    variant: &Variant,
    noarch_python: bool,
) -> std::result::Result<(), String> {
    let Some(Json::Object(config)) = variant.get("pin_run_as_build") else {
        return Ok(());
    };
    for dep in run.iter_mut() {
        let name = first_token(dep).to_string();
        if name != *dep || !build_host_names.contains(&name) || (name == "python" && noarch_python)
        {
            continue;
        }
        let Some(pin) = config.get(&name) else {
            continue;
        };
        let Some(version) = variant_string(variant, &name)
            .or_else(|| variant_string(variant, &name.replace('-', "_")))
        else {
            continue;
        };
        let (min, max) = match pin {
            Json::String(s) => (Some(s.clone()), Some(s.clone())),
            Json::Object(m) => (
                m.get("min_pin").and_then(Json::as_str).map(String::from),
                m.get("max_pin").and_then(Json::as_str).map(String::from),
            ),
            _ => continue,
        };
        let range = apply_pin_expressions(first_token(&version), min.as_deref(), max.as_deref())?;
        *dep = format!("{name} {range}");
    }
    Ok(())
}

/// `ensure_valid_spec(spec, warn=True)` on run and test requirements: `name 1.2` becomes
/// `name 1.2.*`, with conda-build's warning (not for python and vc).
pub(super) fn star_underspecified(
    spec: &str,
    output: &str,
    what: &str,
    reader: &mut Reader<'_>,
) -> String {
    let fixed = ensure_valid_spec(spec);
    if fixed != spec && !matches!(first_token(spec), "python" | "vc") {
        reader.warnings.push(format!(
            "{}: adding .* to `{spec}` in {what} of {output} to ensure satisfiability; write \
             `{fixed}` or use a relational operator",
            reader.file.display()
        ));
    }
    fixed
}
