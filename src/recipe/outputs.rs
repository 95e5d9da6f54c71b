//! From a rendered YAML tree to finished outputs (`metadata.get_output_metadata`,
//! `render.finalize_metadata`, `build_string_from_metadata`, `_toposort_outputs`): implicit or
//! explicit outputs, variant pins on requirements, used variables per output, build strings,
//! exact `pin_subpackage` resolution and build order.

use super::context::Host;
use super::error::{RecipeError, Result};
use super::hash::{hash_contents, hash_dependencies, insert_hash, HashInputs};
use super::jinja::EXACT_PIN_MARKER;
use super::model::{Dependency, Output, OutputType, Package, Reader, Requirements};
use super::pins::{apply_pin_expressions, ensure_valid_spec};
use super::variants::{
    find_used_variables_in_batch_script, find_used_variables_in_shell_script,
    find_used_variables_in_text, Variant,
};
use super::yaml::{Node, Value};
use super::Recipe;
use regex::Regex;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

/// The recipe text split like conda-build's `extract_outputs_text` / `output_re`.
#[derive(Debug, Clone, Default)]
pub struct RecipeSections {
    /// Everything except the `outputs:` block.
    pub top: String,
    /// One chunk per `- name:` / `- type:` entry of the outputs block, in order.
    pub outputs: Vec<String>,
}

static OUTPUT_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ +- +(?:name|type):.+").expect("regex"));

pub fn split_sections(text: &str) -> RecipeSections {
    let mut sections = RecipeSections::default();
    let mut in_outputs = false;
    for line in text.lines() {
        let starts_word = line
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if line.starts_with("outputs:") {
            in_outputs = true;
            continue;
        }
        if in_outputs && starts_word {
            in_outputs = false;
        }
        if !in_outputs {
            sections.top.push_str(line);
            sections.top.push('\n');
        } else if OUTPUT_START.is_match(line) {
            sections.outputs.push(format!("{line}\n"));
        } else if let Some(current) = sections.outputs.last_mut() {
            current.push_str(line);
            current.push('\n');
        }
    }
    sections
}

static REQS_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:\w|\s+-\s(?:name|type))").expect("regex"));

/// `requirements:.+?(?=^\w|\Z|^\s+-\s(?=name|type))`: the first requirements section.
pub fn requirements_text(text: &str) -> String {
    let Some(start) = text.find("requirements:") else {
        return String::new();
    };
    let rest = &text[start..];
    let mut out = String::new();
    for (i, line) in rest.split_inclusive('\n').enumerate() {
        if i > 0 && REQS_END.is_match(line) {
            break;
        }
        out.push_str(line);
    }
    out
}

static NUMPY_XX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(numpy\s*x\.x)|pin_compatible\(['"]numpy.*max_pin=['"]x\.x['"]"#).expect("regex")
});
static NUMPY_COMPATIBLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"pin_\w+\(['"]numpy['"]"#).expect("regex"));
static NUMPY_MAX_PIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"pin_\w+\(['"]numpy['"].*x_pin=['"]([x\.]*)['"]"#).expect("regex")
});
static PKG_HASH_IN_STRING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"h\{\{\s*PKG_HASH\s*\}\}").expect("regex"));

/// Requirement strings of one output, before they become typed.
#[derive(Debug, Clone, Default)]
struct RawRequirements {
    build: Vec<String>,
    host: Vec<String>,
    run: Vec<String>,
    run_constrained: Vec<String>,
    has_host: bool,
}

impl RawRequirements {
    fn all_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.build
            .iter_mut()
            .chain(self.host.iter_mut())
            .chain(self.run.iter_mut())
            .chain(self.run_constrained.iter_mut())
    }
}

fn first_token(spec: &str) -> &str {
    spec.split_whitespace().next().unwrap_or("")
}

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
    pub source: Vec<super::model::Source>,
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

/// `utils.expand_reqs`: an output's plain-list `requirements` means build and run.
fn expand_requirements(node: Option<&Node>) -> Option<Node> {
    let node = node?;
    match &node.value {
        Value::Seq(_) => Some(map_node(
            vec![("build".into(), node.clone()), ("run".into(), node.clone())],
            node,
        )),
        _ => Some(node.clone()),
    }
}

fn raw_requirements(reader: &Reader<'_>, node: Option<&Node>) -> Result<RawRequirements> {
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

fn variant_string(variant: &Variant, key: &str) -> Option<String> {
    match variant.get(key)? {
        Json::String(s) => Some(s.clone()),
        Json::Array(items) => items.first()?.as_str().map(String::from),
        _ => None,
    }
}

/// `insert_variant_versions` for build and host: bare names and `name x.x` get the variant
/// value.
fn insert_variant_versions(reqs: &mut [String], variant: &Variant) {
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
fn pin_run_as_build(
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
fn star_underspecified(spec: &str, output: &str, what: &str, reader: &mut Reader<'_>) -> String {
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

/// `trim_build_only_deps`: requirement-only uses count only when they reach the package.
fn trim_build_only_deps(
    used: HashSet<String>,
    reqs: &RawRequirements,
    variant: &Variant,
) -> HashSet<String> {
    let names = |list: &[String]| -> HashSet<String> {
        list.iter()
            .map(|r| first_token(r).replace('-', "_"))
            .collect()
    };
    let (build, host) = (names(&reqs.build), names(&reqs.host));
    let ignore: Vec<String> = variant
        .get("ignore_build_only_deps")
        .map(super::variants::ensure_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    used.into_iter()
        .filter(|dep| {
            if reqs.run.contains(dep) {
                build.contains(dep) || host.contains(dep)
            } else {
                !(build.contains(dep) && !host.contains(dep) && ignore.contains(dep))
            }
        })
        .collect()
}

impl VariantInputs<'_> {
    fn keys(&self) -> Vec<&String> {
        self.variant.keys().collect()
    }

    fn script_vars(&self, draft: &Draft, script: Option<&str>) -> HashSet<String> {
        let keys = self.keys();
        let read = |name: &str| std::fs::read_to_string(self.recipe.dir.join(name)).ok();
        let mut used = HashSet::new();
        if draft.is_top_level {
            if let Some(text) = read("build.sh") {
                used.extend(find_used_variables_in_shell_script(
                    keys.iter().copied(),
                    &text,
                ));
            }
            if self.host.target_platform.is_windows() {
                if let Some(text) = read("bld.bat") {
                    used.extend(find_used_variables_in_batch_script(
                        keys.iter().copied(),
                        &text,
                    ));
                }
            }
        } else if let Some(script) = script {
            if let Some(text) = read(script) {
                if script.ends_with(".sh") {
                    used.extend(find_used_variables_in_shell_script(
                        keys.iter().copied(),
                        &text,
                    ));
                } else if script.ends_with(".bat") {
                    used.extend(find_used_variables_in_batch_script(
                        keys.iter().copied(),
                        &text,
                    ));
                }
            }
        }
        used
    }

    /// `get_used_vars` of one output.
    fn used_vars(
        &self,
        draft: &Draft,
        noarch: bool,
        force_use: &[String],
        force_ignore: &[String],
        script: Option<&str>,
    ) -> HashSet<String> {
        let keys = self.keys();
        let selectors = find_used_variables_in_text(keys.iter().copied(), &draft.raw_text, true);
        let all = find_used_variables_in_text(keys.iter().copied(), &draft.selected_text, false);
        let all: HashSet<String> = all.union(&selectors).cloned().collect();
        let in_reqs = find_used_variables_in_text(
            keys.iter().copied(),
            &requirements_text(&draft.selected_text),
            false,
        );
        let outside: HashSet<String> = all.difference(&in_reqs).cloned().collect();
        let mut used: HashSet<String> = outside
            .union(&trim_build_only_deps(in_reqs, &draft.reqs, self.variant))
            .cloned()
            .collect();
        used.extend(self.script_vars(draft, script));
        if self.variant.contains_key("target_platform") && !noarch {
            used.insert("target_platform".into());
        }
        if self.variant.contains_key("channel_targets") {
            used.insert("channel_targets".into());
        }
        for key in force_ignore {
            used.remove(key);
        }
        used.extend(force_use.iter().cloned());
        used
    }
}

/// `build_string_from_metadata`: `py312_0`-style prefix tokens, features, build number.
fn default_build_string(
    reqs: &RawRequirements,
    variant: &Variant,
    noarch_python: bool,
    numpy_xx: bool,
    features: &[String],
    number: u64,
) -> String {
    let build_deps = if reqs.has_host {
        &reqs.host
    } else {
        &reqs.build
    };
    let build_names: HashSet<&str> = build_deps.iter().map(|r| first_token(r)).collect();
    let run_names: Vec<&str> = reqs.run.iter().map(|r| first_token(r)).collect();
    let mut res: Vec<String> = Vec::new();
    let tokens: [(&str, &[&str], usize); 7] = [
        ("np", &["numpy"], 2),
        ("py", &["python"], 2),
        ("pl", &["perl"], 3),
        ("lua", &["lua"], 2),
        ("r", &["r", "r-base"], 2),
        ("mro", &["mro-base"], 3),
        ("mro", &["mro-base_impl"], 3),
    ];
    for (prefix, names, places) in tokens {
        for run_name in &run_names {
            for name in names {
                if run_name != name || !build_names.contains(name) {
                    continue;
                }
                if *name == "numpy" && !numpy_xx {
                    continue;
                }
                if *name == "python" && noarch_python {
                    res.push(prefix.to_string());
                    continue;
                }
                let mut candidates: Vec<String> = names.iter().map(|n| n.to_string()).collect();
                candidates.extend(
                    names
                        .iter()
                        .filter(|n| n.contains('-'))
                        .map(|n| n.replace('-', "_")),
                );
                let mut version = String::new();
                for candidate in &candidates {
                    version = build_deps
                        .iter()
                        .filter(|spec| first_token(spec) == candidate)
                        .filter_map(|spec| spec.split_whitespace().nth(1))
                        .next_back()
                        .map(String::from)
                        .or_else(|| variant_string(variant, &candidate.replace('-', "_")))
                        .unwrap_or_default();
                    if !version.is_empty() {
                        break;
                    }
                }
                let entry = format!(
                    "{prefix}{}",
                    version.split('.').take(places).collect::<String>()
                );
                if !res.contains(&entry) {
                    res.push(entry);
                }
            }
        }
    }
    if !res.is_empty() {
        res.push("_".into());
    }
    if !features.is_empty() {
        res.push(features.join("_"));
        res.push("_".into());
    }
    res.push(number.to_string());
    res.concat()
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
    let file = inputs.recipe.meta_path.clone();
    if !matches!(root.value, Value::Map(_)) {
        return Err(RecipeError::Invalid {
            location: root.location(&file),
            message:
                "the recipe must be a YAML mapping with package, source, build, requirements, ..."
                    .into(),
        });
    }
    const TOP_KEYS: [&str; 9] = [
        "package",
        "source",
        "build",
        "requirements",
        "test",
        "outputs",
        "about",
        "extra",
        "app",
    ];
    reader.check_keys(root, "", &TOP_KEYS);
    // The Navigator `app` section (FIELDS["app"]); every output's metadata carries it.
    let app = match root.get("app").filter(|n| !n.is_null()) {
        Some(node) => {
            const APP_KEYS: [&str; 6] = [
                "entry",
                "icon",
                "summary",
                "type",
                "cli_opts",
                "own_environment",
            ];
            reader.check_keys(node, "app", &APP_KEYS);
            match node.to_json() {
                Json::Object(map) => map,
                _ => return Err(reader.invalid(node, "`app` must be a mapping")),
            }
        }
        None => serde_json::Map::new(),
    };
    let null = Node::null();
    let top_build = root.get("build").unwrap_or(&null);
    if reader.bool(top_build.get("skip"), false) {
        return Ok(None);
    }
    let package = root.get("package");
    let name_node = package
        .and_then(|p| p.get("name"))
        .filter(|n| !n.is_null())
        .ok_or_else(|| RecipeError::MissingName { file: file.clone() })?
        .clone();
    let top_name = reader.package_name(&name_node)?;
    let outputs_node = root.get("outputs").filter(|n| !n.is_null());
    let version_node = package
        .and_then(|p| p.get("version"))
        .filter(|n| !n.is_null())
        .cloned();
    if version_node.is_none() && outputs_node.is_none() {
        return Err(RecipeError::Invalid {
            location: package.unwrap_or(root).location(&file),
            message: "missing `package/version`".into(),
        });
    }
    let top_number = parse_number(reader, top_build.get("number"), 0)?;
    let source = reader.sources(root.get("source"))?;
    let build_script = match top_build.get("script") {
        Some(n) if matches!(n.value, Value::Seq(_)) => {
            Some(reader.strings(Some(n), "build/script")?.join("\n"))
        }
        other => reader.string(other, "build/script")?,
    };
    if build_script.is_some() && inputs.recipe.dir.join("build.sh").is_file() {
        return Err(RecipeError::Invalid {
            location: top_build.location(&file),
            message: "both `build/script` and build.sh exist; conda-build refuses this: keep one"
                .into(),
        });
    }

    // The list of output dicts, with the implicit top-level metapackage added when needed.
    let mut output_nodes: Vec<Node> = match outputs_node.map(|n| &n.value) {
        None => vec![map_node(
            vec![("name".into(), name_node.clone())],
            &name_node,
        )],
        Some(Value::Seq(items)) => items.iter().filter(|i| !i.is_null()).cloned().collect(),
        Some(_) => {
            return Err(reader.invalid(
                outputs_node.expect("present"),
                "`outputs` must be a list of mappings (`- name: ...`)",
            ))
        }
    };
    let mut top_reqs_node = root.get("requirements");
    let with_requirements_txt;
    if let Some(specs) = super::requirements_txt::read(&inputs.recipe.dir)? {
        if raw_requirements(reader, top_reqs_node)?.run.is_empty() {
            let run = specs
                .into_iter()
                .map(|text| Node {
                    value: Value::Scalar { text, plain: false },
                    ..name_node.clone()
                })
                .collect();
            let mut entries = top_reqs_node
                .map(|n| n.entries().to_vec())
                .unwrap_or_default();
            entries.retain(|(k, _)| k != "run");
            let run = Node {
                value: Value::Seq(run),
                ..name_node.clone()
            };
            entries.push(("run".into(), run));
            with_requirements_txt = map_node(entries, top_reqs_node.unwrap_or(root));
            top_reqs_node = Some(&with_requirements_txt);
        }
    }
    let top_reqs = raw_requirements(reader, top_reqs_node)?;
    if outputs_node.is_some() {
        let names: Vec<String> = output_nodes
            .iter()
            .filter_map(|o| o.get("name").and_then(Node::as_str).map(String::from))
            .collect();
        let has_top = names.iter().any(|n| n == top_name.as_normalized());
        let run_names_output = top_reqs
            .run
            .iter()
            .any(|r| names.iter().any(|n| n == first_token(r)));
        let pins_subpackage = requirements_text(&inputs.selected.top).contains("pin_subpackage");
        if !has_top && (run_names_output || pins_subpackage) {
            output_nodes.push(map_node(
                vec![("name".into(), name_node.clone())],
                &name_node,
            ));
        }
    }

    let mut drafts = Vec::new();
    for (index, out) in output_nodes.iter().enumerate() {
        if !matches!(out.value, Value::Map(_)) {
            return Err(reader.invalid(out, "each output must be a mapping with at least `name`"));
        }
        const OUTPUT_KEYS: [&str; 19] = [
            "name",
            "version",
            "number",
            "entry_points",
            "script",
            "script_interpreter",
            "build",
            "requirements",
            "test",
            "about",
            "extra",
            "files",
            "type",
            "run_exports",
            "target",
            "string",
            "noarch",
            "track_features",
            "features",
        ];
        reader.check_keys(out, "outputs", &OUTPUT_KEYS);
        let name_node = out
            .get("name")
            .filter(|n| !n.is_null())
            .ok_or_else(|| reader.invalid(out, "output without `name`"))?
            .clone();
        let name = reader.package_name(&name_node)?;
        let is_top_level = name == top_name;
        let explicit = outputs_node.is_some()
            && index
                < outputs_node
                    .map(|n| match &n.value {
                        Value::Seq(i) => i.len(),
                        _ => 0,
                    })
                    .unwrap_or(0);
        let (raw_text, selected_text) = if outputs_node.is_none() {
            (inputs.raw.top.clone(), inputs.selected.top.clone())
        } else {
            let chunk = |s: &RecipeSections| {
                if explicit {
                    s.outputs.get(index).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            };
            if is_top_level {
                (
                    format!("{}{}", inputs.raw.top, chunk(inputs.raw)),
                    format!("{}{}", inputs.selected.top, chunk(inputs.selected)),
                )
            } else {
                (chunk(inputs.raw), chunk(inputs.selected))
            }
        };
        let version_node = out
            .get("version")
            .filter(|n| !n.is_null())
            .cloned()
            .or_else(|| version_node.clone())
            .ok_or_else(|| {
                reader.invalid(
                    out,
                    format!(
                        "output `{}` has no version and the recipe has no package/version",
                        name.as_normalized()
                    ),
                )
            })?;
        let mut requirements_node = expand_requirements(out.get("requirements"));
        let mut build_node = match out.get("build") {
            Some(b) if outputs_node.is_some() && !is_top_level => b.clone(),
            Some(b) => merge_missing(Some(b), Some(top_build)).unwrap_or_else(Node::null),
            None => top_build.clone(),
        };
        if is_top_level {
            requirements_node = merge_missing(requirements_node.as_ref(), top_reqs_node);
        }
        // Legacy output-level keys go into the output's build section.
        let mut extra_build: Vec<(String, Node)> = Vec::new();
        for key in [
            "string",
            "run_exports",
            "track_features",
            "features",
            "entry_points",
            "noarch",
        ] {
            if let Some(v) = out.get(key).filter(|v| !v.is_null()) {
                extra_build.push((key.to_string(), v.clone()));
            }
        }
        if !extra_build.is_empty() {
            let mut entries = build_node.entries().to_vec();
            for (k, v) in extra_build {
                match entries.iter_mut().find(|(ek, _)| *ek == k) {
                    Some(e) => e.1 = v,
                    None => entries.push((k, v)),
                }
            }
            build_node = map_node(entries, out);
        }
        let number = match build_node.get("number").or(out.get("number")) {
            Some(n) => parse_number(reader, Some(n), top_number)?,
            None => top_number,
        };
        let reqs = raw_requirements(reader, requirements_node.as_ref())?;
        drafts.push(Draft {
            name_node,
            node: out.clone(),
            build_node,
            requirements_node,
            reqs,
            raw_text,
            selected_text,
            is_top_level: is_top_level || outputs_node.is_none(),
            number,
            version_node,
        });
    }

    let mut outputs: Vec<Output> = Vec::new();
    let mut pending: Vec<(RawRequirements, Option<Node>)> = Vec::new();
    let mut used_union = BTreeSet::new();
    let target = inputs.host.target_platform;
    for mut draft in drafts {
        if reader.bool(draft.build_node.get("skip"), false) {
            continue;
        }
        let build = reader.build(&draft.build_node, draft.number, String::new())?;
        let noarch = !build.noarch.is_none();
        let script = reader.string(draft.node.get("script"), "outputs/script")?;
        let used = inputs.used_vars(
            &draft,
            noarch,
            &build.force_use_keys,
            &build.force_ignore_keys,
            script.as_deref(),
        );
        used_union.extend(used.iter().cloned());

        insert_variant_versions(&mut draft.reqs.build, inputs.variant);
        insert_variant_versions(&mut draft.reqs.host, inputs.variant);
        let package_type = match draft.node.get("type") {
            Some(node) => Some(
                reader
                    .string(Some(node), "outputs/type")?
                    .unwrap_or_default()
                    .parse::<OutputType>()
                    .map_err(|message| reader.invalid(node, message))?,
            ),
            None => None,
        };
        // get_output_metadata_set: a wheel is built by pip with the variant's python.
        if package_type == Some(OutputType::Wheel)
            && !draft.reqs.build.iter().any(|r| r.contains("pip"))
        {
            draft.reqs.build.push("pip".into());
            if let Some(python) = variant_string(inputs.variant, "python") {
                draft.reqs.build.push(format!("python {python}"));
            }
        }
        let build_host_names: HashSet<String> = draft
            .reqs
            .build
            .iter()
            .chain(&draft.reqs.host)
            .map(|r| first_token(r).to_string())
            .collect();
        pin_run_as_build(
            &mut draft.reqs.run,
            &build_host_names,
            inputs.variant,
            build.noarch.is_python(),
        )
        .map_err(|message| {
            reader.invalid(
                draft.requirements_node.as_ref().unwrap_or(&draft.node),
                message,
            )
        })?;
        let name_text = draft.name_node.as_str().unwrap_or_default().to_string();
        for spec in draft.reqs.run.iter_mut() {
            *spec = star_underspecified(spec, &name_text, "requirements/run", reader);
        }

        let reqs_text = requirements_text(&draft.raw_text);
        let numpy_xx = NUMPY_XX.is_match(&reqs_text);
        let numpy_pinned_xx = NUMPY_COMPATIBLE.is_match(&reqs_text)
            && NUMPY_MAX_PIN
                .captures(&reqs_text)
                .is_some_and(|c| c[1].matches('x').count() == 2);
        let contents = hash_contents(&HashInputs {
            used_vars: &used,
            variant: inputs.variant,
            numpy_in_build_string: numpy_xx || numpy_pinned_xx,
            run_requirements: &draft.reqs.run,
        });
        let hash = hash_dependencies(&contents);
        let manual = reader.string(draft.build_node.get("string"), "build/string")?;
        let uses_pkg_hash =
            draft.raw_text.contains("string:") && PKG_HASH_IN_STRING.is_match(&draft.raw_text);
        let string = match manual {
            Some(manual) if !uses_pkg_hash => {
                if let Some(bad) = manual
                    .chars()
                    .find(|c| "=@#$%^&*:;\"'\\|<>?/ -!".contains(*c))
                {
                    return Err(reader.invalid(
                        draft.build_node.get("string").unwrap_or(&draft.node),
                        format!("bad character `{bad}` in build/string `{manual}`"),
                    ));
                }
                manual
            }
            Some(manual) => insert_hash(&manual, hash.as_deref()),
            None => insert_hash(
                &default_build_string(
                    &draft.reqs,
                    inputs.variant,
                    build.noarch.is_python(),
                    numpy_xx,
                    &build.features,
                    draft.number,
                ),
                hash.as_deref(),
            ),
        };
        let mut build = build;
        build.string = string;
        let name = reader.package_name(&draft.name_node)?;
        let version = reader.version(&draft.version_node)?;
        let subdir = if noarch {
            "noarch".to_string()
        } else {
            reader
                .string(draft.node.get("target"), "outputs/target")?
                .unwrap_or_else(|| target.as_str().to_string())
        };
        let top_about = root.get("about");
        let about = reader.about(draft.node.get("about").or(
            if draft.is_top_level || outputs_node.is_some() {
                top_about
            } else {
                None
            },
        ))?;
        let test_node = if outputs_node.is_none() {
            root.get("test")
        } else if draft.is_top_level {
            draft.node.get("test").or(root.get("test"))
        } else {
            draft.node.get("test")
        };
        let mut extra = match root.get("extra").map(Node::to_json) {
            Some(Json::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        if let Some(Json::Object(own)) = draft.node.get("extra").map(Node::to_json) {
            extra.extend(own);
        }
        // append_parent_metadata: an output other than the top-level package records the
        // recipe it came from.
        if outputs_node.is_some() && !draft.is_top_level {
            extra.insert(
                "parent_recipe".into(),
                serde_json::json!({
                    "name": top_name.as_normalized(),
                    "path": inputs.recipe.dir.display().to_string(),
                    "version": version_node.as_ref().and_then(Node::as_str),
                }),
            );
        }
        // finalize_metadata sets copy_test_source_files (config default true); every finalized
        // output is marked `final` (get_output_metadata_set). Both reach about.json.
        extra.insert("copy_test_source_files".into(), Json::Bool(true));
        extra.insert("final".into(), Json::Bool(true));
        outputs.push(Output {
            package: Package { name, version },
            requirements: Requirements {
                has_host: draft.reqs.has_host,
                ..Requirements::default()
            },
            test: {
                let mut test = reader.test(test_node)?;
                for spec in test.requires.iter_mut() {
                    *spec = star_underspecified(spec, &name_text, "test/requires", reader);
                }
                test
            },
            about,
            extra,
            files: reader.files(draft.node.get("files"))?,
            script,
            script_interpreter: reader.string(
                draft.node.get("script_interpreter"),
                "outputs/script_interpreter",
            )?,
            package_type,
            app: app.clone(),
            subdir,
            is_top_level: draft.is_top_level,
            hash_input: contents,
            build,
        });
        // Requirement strings stay pending until exact pins are resolved.
        pending.push((draft.reqs, draft.requirements_node));
    }
    resolve_exact_pins(&mut outputs, pending, reader, &file)?;
    let mut outputs = topological_order(outputs, inputs.host.build_platform == target, &file)?;
    // Non-conda packages (wheels) come after every conda package, in the same order.
    outputs.sort_by_key(|o| o.package_type == Some(OutputType::Wheel));
    Ok(Some(Assembled {
        outputs,
        source,
        build_script,
        used_vars: used_union,
    }))
}

/// Replace exact-pin markers with the sibling's build string, then type the requirements.
fn resolve_exact_pins(
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
fn topological_order(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_like_output_re() {
        let text = "package:\n  name: a\noutputs:\n  - name: liba\n    requirements:\n      - zlib\n  - name: a-py\n    script: x.sh\nabout:\n  license: MIT\n";
        let s = split_sections(text);
        assert_eq!(s.outputs.len(), 2);
        assert!(s.outputs[0].contains("zlib") && !s.outputs[0].contains("a-py"));
        assert!(s.top.contains("about:") && !s.top.contains("liba"));
    }

    #[test]
    fn requirements_text_stops_at_next_section() {
        let text = "requirements:\n  host:\n    - python\ntest:\n  imports:\n    - numpy\n";
        assert_eq!(
            requirements_text(text),
            "requirements:\n  host:\n    - python\n"
        );
    }

    #[test]
    fn build_string_prefixes() {
        let reqs = RawRequirements {
            host: vec!["python 3.12.*".into(), "numpy 2.0.*".into()],
            run: vec!["python >=3.12,<3.13.0a0".into(), "numpy".into()],
            has_host: true,
            ..RawRequirements::default()
        };
        let variant = Variant::new();
        assert_eq!(
            default_build_string(&reqs, &variant, false, false, &[], 0),
            "py312_0"
        );
        assert_eq!(
            default_build_string(&reqs, &variant, false, true, &[], 1),
            "np20py312_1"
        );
        assert_eq!(
            default_build_string(&reqs, &variant, true, false, &[], 0),
            "py_0"
        );
        assert_eq!(
            default_build_string(&RawRequirements::default(), &variant, false, false, &[], 2),
            "2"
        );
    }
}
