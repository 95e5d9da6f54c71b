//! From a rendered YAML tree to finished outputs (`metadata.get_output_metadata`,
//! `render.finalize_metadata`, `build_string_from_metadata`, `_toposort_outputs`): implicit or
//! explicit outputs, variant pins on requirements, used variables per output, build strings,
//! exact `pin_subpackage` resolution and build order.
//!
//! [`assemble`] reads the top-level sections ([`TopLevel`]), makes one [`Draft`] per output
//! dict, finishes each draft into an [`Output`] ([`finish`]), then resolves exact pins and
//! orders the outputs ([`order`]).

mod build_string;
mod finish;
mod order;
mod requirements;
mod sections;
mod top_level;
mod used_vars;

pub use sections::{requirements_text, split_sections, RecipeSections};
pub use used_vars::build_scripts_used_vars;

use super::context::Host;
use super::error::Result;
use super::model::{Output, OutputType, Reader, Source};
use super::variants::Variant;
use super::yaml::{Node, Value};
use super::Recipe;
use finish::finish;
use requirements::{raw_requirements, RawRequirements};
use std::collections::BTreeSet;
use top_level::TopLevel;

/// An output before its build string is known.
struct Draft {
    name_node: Node,
    node: Node,
    build_node: Node,
    requirements_node: Option<Node>,
    reqs: RawRequirements,
    raw_text: String,
    selected_text: String,
    is_top_level: bool,
    number: u64,
    version_node: Node,
}

/// Everything an output needs from its variant.
pub struct VariantInputs<'a> {
    pub recipe: &'a Recipe,
    pub variant: &'a Variant,
    pub host: &'a Host<'a>,
    /// The raw recipe text split into sections (for the selector-only used-variable pass).
    pub raw: &'a RecipeSections,
    /// The selector-filtered (pre-Jinja) text split into sections.
    pub selected: &'a RecipeSections,
}

/// A rendered variant's outputs plus its top-level bits.
pub struct Assembled {
    pub outputs: Vec<Output>,
    pub source: Vec<Source>,
    pub build_script: Option<String>,
    pub used_vars: BTreeSet<String>,
}

fn map_node(entries: Vec<(String, Node)>, like: &Node) -> Node {
    Node {
        value: Value::Map(entries),
        line: like.line,
        column: like.column,
    }
}

/// `combine_top_level_metadata_with_output`: keys of the top-level section the output lacks.
fn merge_missing(output: Option<&Node>, top: Option<&Node>) -> Option<Node> {
    match (output, top) {
        (None, None) => None,
        (Some(o), None) => Some(o.clone()),
        (None, Some(t)) => Some(t.clone()),
        (Some(o), Some(t)) => {
            let mut entries = o.entries().to_vec();
            for (k, v) in t.entries() {
                if !entries.iter().any(|(ek, _)| ek == k) {
                    entries.push((k.clone(), v.clone()));
                }
            }
            Some(map_node(entries, o))
        }
    }
}

fn parse_number(reader: &Reader<'_>, node: Option<&Node>, default: u64) -> Result<u64> {
    match node.filter(|n| !n.is_null()) {
        None => Ok(default),
        Some(n) => {
            let text = n.as_str().unwrap_or_default();
            text.trim().parse().map_err(|_| {
                reader.invalid(
                    n,
                    format!("build number `{text}` must be a non-negative integer"),
                )
            })
        }
    }
}

/// Turn the final YAML tree of one variant into its outputs; None when the variant is skipped.
pub fn assemble(
    root: &Node,
    inputs: &VariantInputs<'_>,
    reader: &mut Reader<'_>,
) -> Result<Option<Assembled>> {
    let Some(mut top) = TopLevel::read(root, inputs, reader)? else {
        return Ok(None);
    };
    let source = reader.sources(root.get("source"))?;
    let build_script = top.build_script(inputs, reader)?;
    let mut output_nodes = top.explicit_outputs(reader)?;
    top.requirements = top.requirements_with_txt(inputs, reader)?;
    let top_reqs = raw_requirements(reader, top.requirements.as_ref())?;
    if top.outputs.is_some() && top.needs_implicit_output(&output_nodes, &top_reqs, inputs) {
        output_nodes.push(top.implicit_output());
    }
    let drafts = output_nodes
        .iter()
        .enumerate()
        .map(|(index, node)| top.draft(index, node, inputs, reader))
        .collect::<Result<Vec<_>>>()?;

    let mut outputs = Vec::new();
    let mut pending = Vec::new();
    let mut used_union = BTreeSet::new();
    for draft in drafts {
        if let Some(finished) = finish(draft, &top, inputs, reader)? {
            used_union.extend(finished.used);
            outputs.push(finished.output);
            // Requirement strings stay pending until exact pins are resolved.
            pending.push(finished.pending);
        }
    }
    let file = &inputs.recipe.meta_path;
    order::resolve_exact_pins(&mut outputs, pending, reader, file)?;
    let same_platform = inputs.host.build_platform == inputs.host.target_platform;
    let mut outputs = order::topological_order(outputs, same_platform, file)?;
    // Non-conda packages (wheels) come after every conda package, in the same order.
    outputs.sort_by_key(|o| o.package_type == Some(OutputType::Wheel));
    Ok(Some(Assembled {
        outputs,
        source,
        build_script,
        used_vars: used_union,
    }))
}
