//! The top-level sections of meta.yaml that every output inherits from, and the output dicts
//! they make (explicit, or the implicit top-level package).

use super::requirements::{expand_requirements, first_token, raw_requirements, RawRequirements};
use super::sections::{requirements_text, RecipeSections};
use super::{map_node, merge_missing, parse_number, Draft, VariantInputs};
use crate::recipe::error::{RecipeError, Result};
use crate::recipe::model::Reader;
use crate::recipe::yaml::{Node, Value};
use rattler_conda_types::PackageName;
use serde_json::Value as Json;

/// The keys conda-build knows at the top of meta.yaml (`FIELDS`).
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

/// The keys of an output dict (`OPTIONALLY_ITERABLE_FIELDS` and the output schema).
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

/// Legacy output-level keys that belong in the output's build section.
const OUTPUT_BUILD_KEYS: [&str; 6] = [
    "string",
    "run_exports",
    "track_features",
    "features",
    "entry_points",
    "noarch",
];

/// The top-level sections every output inherits from.
pub(super) struct TopLevel<'a> {
    pub(super) root: &'a Node,
    pub(super) build: Node,
    pub(super) name_node: Node,
    pub(super) name: PackageName,
    /// The `outputs` list, when the recipe has one.
    pub(super) outputs: Option<&'a Node>,
    pub(super) version_node: Option<Node>,
    pub(super) number: u64,
    /// `requirements`, with `requirements.txt` as run requirements when it has none.
    pub(super) requirements: Option<Node>,
    pub(super) app: serde_json::Map<String, Json>,
}

impl<'a> TopLevel<'a> {
    /// The checked top-level sections; None when `build/skip` is true.
    pub(super) fn read(
        root: &'a Node,
        inputs: &VariantInputs<'_>,
        reader: &mut Reader<'_>,
    ) -> Result<Option<Self>> {
        let file = &inputs.recipe.meta_path;
        if !matches!(root.value, Value::Map(_)) {
            return Err(RecipeError::Invalid {
                location: root.location(file),
                message:
                    "the recipe must be a YAML mapping with package, source, build, requirements, ..."
                        .into(),
            });
        }
        reader.check_keys(root, "", &TOP_KEYS);
        let app = app_section(root, reader)?;
        let build = root.get("build").cloned().unwrap_or_else(Node::null);
        if reader.bool(build.get("skip"), false) {
            return Ok(None);
        }
        let package = root.get("package");
        let name_node = package
            .and_then(|p| p.get("name"))
            .filter(|n| !n.is_null())
            .ok_or_else(|| RecipeError::MissingName { file: file.clone() })?
            .clone();
        let name = reader.package_name(&name_node)?;
        let outputs = root.get("outputs").filter(|n| !n.is_null());
        let version_node = package
            .and_then(|p| p.get("version"))
            .filter(|n| !n.is_null())
            .cloned();
        if version_node.is_none() && outputs.is_none() {
            return Err(RecipeError::Invalid {
                location: package.unwrap_or(root).location(file),
                message: "missing `package/version`".into(),
            });
        }
        let number = parse_number(reader, build.get("number"), 0)?;
        Ok(Some(Self {
            root,
            build,
            name_node,
            name,
            outputs,
            version_node,
            number,
            requirements: root.get("requirements").cloned(),
            app,
        }))
    }

    /// `build/script` (a list is joined by lines); conda-build refuses it beside build.sh.
    pub(super) fn build_script(
        &self,
        inputs: &VariantInputs<'_>,
        reader: &Reader<'_>,
    ) -> Result<Option<String>> {
        let build_script = match self.build.get("script") {
            Some(n) if matches!(n.value, Value::Seq(_)) => {
                Some(reader.strings(Some(n), "build/script")?.join("\n"))
            }
            other => reader.string(other, "build/script")?,
        };
        if build_script.is_some() && inputs.recipe.dir.join("build.sh").is_file() {
            return Err(RecipeError::Invalid {
                location: self.build.location(&inputs.recipe.meta_path),
                message:
                    "both `build/script` and build.sh exist; conda-build refuses this: keep one"
                        .into(),
            });
        }
        Ok(build_script)
    }

    /// The output dicts of `outputs`, or the implicit top-level output when there is no list.
    pub(super) fn explicit_outputs(&self, reader: &Reader<'_>) -> Result<Vec<Node>> {
        match self.outputs.map(|n| (n, &n.value)) {
            None => Ok(vec![self.implicit_output()]),
            Some((_, Value::Seq(items))) => {
                Ok(items.iter().filter(|i| !i.is_null()).cloned().collect())
            }
            Some((node, _)) => {
                Err(reader.invalid(node, "`outputs` must be a list of mappings (`- name: ...`)"))
            }
        }
    }

    /// The output standing for the top-level package: just its name.
    pub(super) fn implicit_output(&self) -> Node {
        map_node(
            vec![("name".into(), self.name_node.clone())],
            &self.name_node,
        )
    }

    /// `MetaData.parse_again`: `<recipe>/requirements.txt` gives the run requirements when
    /// the recipe has none.
    pub(super) fn requirements_with_txt(
        &self,
        inputs: &VariantInputs<'_>,
        reader: &Reader<'_>,
    ) -> Result<Option<Node>> {
        let requirements = self.requirements.clone();
        let Some(specs) = crate::recipe::requirements_txt::read(&inputs.recipe.dir)? else {
            return Ok(requirements);
        };
        if !raw_requirements(reader, requirements.as_ref())?
            .run
            .is_empty()
        {
            return Ok(requirements);
        }
        let scalar = |text| Node {
            value: Value::Scalar { text, plain: false },
            ..self.name_node.clone()
        };
        let mut entries = requirements
            .as_ref()
            .map(|n| n.entries().to_vec())
            .unwrap_or_default();
        entries.retain(|(k, _)| k != "run");
        let run = Node {
            value: Value::Seq(specs.into_iter().map(scalar).collect()),
            ..self.name_node.clone()
        };
        entries.push(("run".into(), run));
        Ok(Some(map_node(
            entries,
            requirements.as_ref().unwrap_or(self.root),
        )))
    }

    /// With an outputs list that lacks the top-level name, the top-level package is an output
    /// too when its run requirements name an output or its requirements pin a subpackage.
    pub(super) fn needs_implicit_output(
        &self,
        output_nodes: &[Node],
        top_reqs: &RawRequirements,
        inputs: &VariantInputs<'_>,
    ) -> bool {
        let names: Vec<&str> = output_nodes
            .iter()
            .filter_map(|o| o.get("name").and_then(Node::as_str))
            .collect();
        let has_top = names.contains(&self.name.as_normalized());
        let run_names_output = top_reqs.run.iter().any(|r| names.contains(&first_token(r)));
        let pins_subpackage = requirements_text(&inputs.selected.top).contains("pin_subpackage");
        !has_top && (run_names_output || pins_subpackage)
    }

    /// One output dict with the top-level sections it inherits, before its build string.
    pub(super) fn draft(
        &self,
        index: usize,
        out: &Node,
        inputs: &VariantInputs<'_>,
        reader: &mut Reader<'_>,
    ) -> Result<Draft> {
        if !matches!(out.value, Value::Map(_)) {
            return Err(reader.invalid(out, "each output must be a mapping with at least `name`"));
        }
        reader.check_keys(out, "outputs", &OUTPUT_KEYS);
        let name_node = out
            .get("name")
            .filter(|n| !n.is_null())
            .ok_or_else(|| reader.invalid(out, "output without `name`"))?
            .clone();
        let name = reader.package_name(&name_node)?;
        let is_top_level = name == self.name;
        let (raw_text, selected_text) = self.output_text(index, is_top_level, inputs);
        let version_node = out
            .get("version")
            .filter(|n| !n.is_null())
            .cloned()
            .or_else(|| self.version_node.clone())
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
        if is_top_level {
            requirements_node =
                merge_missing(requirements_node.as_ref(), self.requirements.as_ref());
        }
        let build_node = self.output_build(out, is_top_level);
        let number = match build_node.get("number").or(out.get("number")) {
            Some(n) => parse_number(reader, Some(n), self.number)?,
            None => self.number,
        };
        let reqs = raw_requirements(reader, requirements_node.as_ref())?;
        Ok(Draft {
            name_node,
            node: out.clone(),
            build_node,
            requirements_node,
            reqs,
            raw_text,
            selected_text,
            is_top_level: is_top_level || self.outputs.is_none(),
            number,
            version_node,
        })
    }

    /// The raw and the selector-filtered text of output `index` (for used variables): the
    /// top-level text for the top-level output, its own chunk of the outputs block otherwise.
    fn output_text(
        &self,
        index: usize,
        is_top_level: bool,
        inputs: &VariantInputs<'_>,
    ) -> (String, String) {
        let Some(outputs) = self.outputs else {
            return (inputs.raw.top.clone(), inputs.selected.top.clone());
        };
        let explicit = match &outputs.value {
            Value::Seq(items) => index < items.len(),
            _ => false,
        };
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
    }

    /// The output's build section: its own (the top-level one filling gaps for the top-level
    /// output), with legacy output-level keys such as `run_exports` moved in.
    fn output_build(&self, out: &Node, is_top_level: bool) -> Node {
        let build_node = match out.get("build") {
            Some(b) if self.outputs.is_some() && !is_top_level => b.clone(),
            Some(b) => merge_missing(Some(b), Some(&self.build)).unwrap_or_else(Node::null),
            None => self.build.clone(),
        };
        let extra_build: Vec<(&str, &Node)> = OUTPUT_BUILD_KEYS
            .iter()
            .filter_map(|key| Some((*key, out.get(key).filter(|v| !v.is_null())?)))
            .collect();
        if extra_build.is_empty() {
            return build_node;
        }
        let mut entries = build_node.entries().to_vec();
        for (k, v) in extra_build {
            match entries.iter_mut().find(|(ek, _)| ek == k) {
                Some(e) => e.1 = v.clone(),
                None => entries.push((k.to_string(), v.clone())),
            }
        }
        map_node(entries, out)
    }

    /// `extra`: the recipe's, the output's own on top; a non-top-level output records its
    /// parent recipe (`append_parent_metadata`).
    pub(super) fn extra(
        &self,
        draft: &Draft,
        inputs: &VariantInputs<'_>,
    ) -> serde_json::Map<String, Json> {
        let mut extra = match self.root.get("extra").map(Node::to_json) {
            Some(Json::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        if let Some(Json::Object(own)) = draft.node.get("extra").map(Node::to_json) {
            extra.extend(own);
        }
        if self.outputs.is_some() && !draft.is_top_level {
            extra.insert(
                "parent_recipe".into(),
                serde_json::json!({
                    "name": self.name.as_normalized(),
                    "path": inputs.recipe.dir.display().to_string(),
                    "version": self.version_node.as_ref().and_then(Node::as_str),
                }),
            );
        }
        // finalize_metadata sets copy_test_source_files (config default true); every finalized
        // output is marked `final` (get_output_metadata_set). Both reach about.json.
        extra.insert("copy_test_source_files".into(), Json::Bool(true));
        extra.insert("final".into(), Json::Bool(true));
        extra
    }

    /// The `test` section that applies to a draft.
    pub(super) fn test_node(&self, draft: &'a Draft) -> Option<&'a Node> {
        if self.outputs.is_none() {
            self.root.get("test")
        } else if draft.is_top_level {
            draft.node.get("test").or(self.root.get("test"))
        } else {
            draft.node.get("test")
        }
    }
}

/// The Navigator `app` section (FIELDS["app"]); every output's metadata carries it.
fn app_section(root: &Node, reader: &mut Reader<'_>) -> Result<serde_json::Map<String, Json>> {
    const APP_KEYS: [&str; 6] = [
        "entry",
        "icon",
        "summary",
        "type",
        "cli_opts",
        "own_environment",
    ];
    let Some(node) = root.get("app").filter(|n| !n.is_null()) else {
        return Ok(serde_json::Map::new());
    };
    reader.check_keys(node, "app", &APP_KEYS);
    match node.to_json() {
        Json::Object(map) => Ok(map),
        _ => Err(reader.invalid(node, "`app` must be a mapping")),
    }
}
