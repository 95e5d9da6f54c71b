//! The last steps over all outputs of a variant: exact `pin_subpackage` pins get their
//! sibling's build string, and outputs are put in build order.

use super::requirements::RawRequirements;
use crate::recipe::error::{RecipeError, Result};
use crate::recipe::jinja::EXACT_PIN_MARKER;
use crate::recipe::model::{Dependency, Output, Reader, Requirements};
use crate::recipe::yaml::Node;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Replace exact-pin markers with the sibling's build string, then type the requirements.
pub(super) fn resolve_exact_pins(
    outputs: &mut [Output],
    pending: Vec<(RawRequirements, Option<Node>)>,
    reader: &Reader<'_>,
    file: &std::path::Path,
) -> Result<()> {
    let strings: HashMap<String, String> = outputs
        .iter()
        .map(|o| {
            (
                o.package.name.as_normalized().to_string(),
                o.build.string.clone(),
            )
        })
        .collect();
    let resolve = |text: &mut String| -> Result<()> {
        while let Some(pos) = text.find(EXACT_PIN_MARKER) {
            let name_start = pos + EXACT_PIN_MARKER.len();
            let name_end = text[name_start..]
                .find(char::is_whitespace)
                .map(|e| name_start + e)
                .unwrap_or(text.len());
            let name = text[name_start..name_end].to_string();
            let build = strings.get(&name).ok_or_else(|| RecipeError::Outputs {
                file: file.to_path_buf(),
                message: format!("pin_subpackage('{name}', exact=True): output `{name}` is skipped or missing in this variant"),
            })?;
            text.replace_range(pos..name_end, build);
        }
        Ok(())
    };
    for (output, (mut reqs, node)) in outputs.iter_mut().zip(pending) {
        for text in reqs.all_mut() {
            resolve(text)?;
        }
        for text in output.build.run_exports.all_mut() {
            resolve(text)?;
        }
        let n = node.as_ref();
        output.requirements = Requirements {
            build: reader.dependencies(n, &reqs.build, "requirements/build")?,
            host: reader.dependencies(n, &reqs.host, "requirements/host")?,
            run: reader.dependencies(n, &reqs.run, "requirements/run")?,
            run_constrained: reader.dependencies(
                n,
                &reqs.run_constrained,
                "requirements/run_constrained",
            )?,
            has_host: reqs.has_host,
        };
    }
    Ok(())
}

/// `_toposort_outputs`: siblings before the outputs that depend on them (build deps count
/// only when not cross-compiling), alphabetical within a level; cycles are errors.
pub(super) fn topological_order(
    outputs: Vec<Output>,
    same_platform: bool,
    file: &std::path::Path,
) -> Result<Vec<Output>> {
    let names: BTreeSet<String> = outputs
        .iter()
        .map(|o| o.package.name.as_normalized().to_string())
        .collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in &outputs {
        let name = o.package.name.as_normalized().to_string();
        let reqs = &o.requirements;
        let mut list: Vec<&Dependency> = reqs.run.iter().chain(&reqs.host).collect();
        if same_platform {
            list.extend(&reqs.build);
        }
        let entry = deps.entry(name.clone()).or_default();
        for d in list {
            let dep = d.name();
            if names.contains(&dep) && dep != name {
                entry.insert(dep);
            }
        }
    }
    let mut order = Vec::new();
    let mut remaining = deps;
    while !remaining.is_empty() {
        let ready: Vec<String> = remaining
            .iter()
            .filter(|(_, d)| d.iter().all(|x| !remaining.contains_key(x)))
            .map(|(n, _)| n.clone())
            .collect();
        if ready.is_empty() {
            let cycle: Vec<String> = remaining.keys().cloned().collect();
            return Err(RecipeError::Outputs {
                file: file.to_path_buf(),
                message: format!(
                    "circular dependencies between outputs: {}",
                    cycle.join(" <-> ")
                ),
            });
        }
        for n in ready {
            remaining.remove(&n);
            order.push(n);
        }
    }
    let mut by_name: HashMap<String, Vec<Output>> = HashMap::new();
    for o in outputs {
        by_name
            .entry(o.package.name.as_normalized().to_string())
            .or_default()
            .push(o);
    }
    Ok(order
        .into_iter()
        .flat_map(|n| by_name.remove(&n).unwrap_or_default())
        .collect())
}
