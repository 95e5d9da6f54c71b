//! The render pipeline of one recipe (`render.render_recipe`, `metadata.get_output_metadata_set`):
//! stack the variant configs, explode the matrix, keep the variants the recipe tells apart,
//! and for each: select lines, render Jinja (a lenient pass first when the recipe refers to
//! its own name, version or source), parse YAML and assemble the outputs.

use super::context::{default_variant, selector_namespace, Host};
use super::git::{self, GitCache};
use super::jinja::{self, JinjaInput, PackageVars};
use super::model::{Output, Reader, RenderedVariant, Source};
use super::outputs::{
    self, build_scripts_used_vars, split_sections, RecipeSections, VariantInputs,
};
use super::selectors::{self, select_lines};
use super::variants::{
    self, combine_specs, explode, find_used_variables_in_text, load_config_file, select_subspaces,
    Variant, VariantSpec,
};
use super::{yaml, Recipe, RecipeError, RenderOptions, Result};
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// All variants of a recipe plus the warnings rendering produced.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub variants: Vec<RenderedVariant>,
    /// Variants removed by `build/skip`.
    pub skipped: usize,
    pub warnings: Vec<String>,
}

impl Rendered {
    /// Every output of every variant, in build order.
    pub fn outputs(&self) -> impl Iterator<Item = &Output> {
        self.variants.iter().flat_map(|v| v.outputs.iter())
    }
}

/// The variant specs in conda-build's stacking order (`find_config_files`): internal defaults;
/// the `-e` files, or else `~/` and `./conda_build_config.yaml`; the recipe's
/// conda_build_config.yaml; each `-m` file; then command-line values. A file reached twice
/// counts once, at its first place (conda-build keys the specs by path).
fn variant_specs(
    recipe: &Recipe,
    options: &RenderOptions,
    host: &Host<'_>,
) -> Result<Vec<VariantSpec>> {
    let defaults = default_variant(options.target_platform);
    // Config files' selectors see the defaults and the command-line values.
    let mut base: Variant = defaults.clone().into_iter().collect();
    for (k, v) in &options.variant_overrides {
        base.insert(
            k.clone(),
            variants::ensure_list(v)
                .first()
                .cloned()
                .unwrap_or(Json::Null),
        );
    }
    let namespace = selector_namespace(host, &base);
    let mut specs = vec![VariantSpec {
        source: "internal defaults".into(),
        values: defaults,
    }];
    let first = if options.exclusive_config_files.is_empty() {
        &options.system_config_files
    } else {
        &options.exclusive_config_files
    };
    let recipe_config = Some(recipe.dir.join("conda_build_config.yaml")).filter(|p| p.is_file());
    let mut seen = HashSet::new();
    for file in first
        .iter()
        .chain(recipe_config.as_ref())
        .chain(&options.variant_config_files)
    {
        let key = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        if seen.insert(key) {
            specs.push(load_config_file(file, &namespace)?);
        }
    }
    if !options.variant_overrides.is_empty() {
        specs.push(VariantSpec {
            source: "command line".into(),
            values: options.variant_overrides.clone(),
        });
    }
    Ok(specs)
}

/// Variables the whole recipe uses (conda-build's `force_global` detection): decides which
/// variants are distinct.
fn recipe_used_vars(
    recipe: &Recipe,
    variant: &Variant,
    selected: &str,
    options: &RenderOptions,
) -> HashSet<String> {
    let keys: Vec<&String> = variant.keys().collect();
    let mut used = find_used_variables_in_text(keys.iter().copied(), &recipe.text, true);
    used.extend(find_used_variables_in_text(
        keys.iter().copied(),
        selected,
        false,
    ));
    used.extend(build_scripts_used_vars(
        &keys,
        &recipe.dir,
        options.target_platform.is_windows(),
    ));
    for key in ["target_platform", "channel_targets"] {
        if variant.contains_key(key) {
            used.insert(key.to_string());
        }
    }
    used
}

fn project(variant: &Variant, keys: &HashSet<String>) -> Variant {
    variant
        .iter()
        .filter(|(k, _)| keys.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Render every variant of `recipe`; an error at a known place shows that line of its file.
pub fn render_recipe(recipe: &Recipe, options: &RenderOptions) -> Result<Rendered> {
    render_variants(recipe, options).map_err(RecipeError::with_snippet)
}

fn render_variants(recipe: &Recipe, options: &RenderOptions) -> Result<Rendered> {
    let host = Host {
        target_platform: options.target_platform,
        build_platform: options.build_platform,
        env: &options.env,
    };
    let specs = variant_specs(recipe, options, &host)?;
    let combined = combine_specs(&specs)?;
    let all_variants = select_subspaces(explode(&combined), &specs[1..]);
    let raw_sections = split_sections(&recipe.text);

    let mut seen_projections = HashSet::new();
    let mut used_cache: HashMap<String, HashSet<String>> = HashMap::new();
    let mut distinct = Vec::new();
    for variant in all_variants {
        let namespace = Arc::new(selector_namespace(&host, &variant));
        let selected = select_lines(&recipe.text, &namespace, &recipe.meta_path)?;
        let used = used_cache
            .entry(selected.text.clone())
            .or_insert_with(|| recipe_used_vars(recipe, &variant, &selected.text, options))
            .clone();
        let key = serde_json::to_string(&project(&variant, &used)).unwrap_or_default();
        if seen_projections.insert(key) {
            distinct.push((variant, namespace, selected));
        }
    }

    let mut rendered = Rendered {
        variants: Vec::new(),
        skipped: 0,
        warnings: Vec::new(),
    };
    let mut seen_outputs = HashSet::new();
    let mut git_cache = GitCache::default();
    for (variant, namespace, selected) in distinct {
        let Some(mut one) = render_variant(
            recipe,
            options,
            &host,
            &variant,
            namespace,
            &selected,
            &raw_sections,
            &mut git_cache,
            &mut rendered.warnings,
        )?
        else {
            rendered.skipped += 1;
            continue;
        };
        one.outputs
            .retain(|o| seen_outputs.insert(format!("{}/{}", o.subdir, o.dist_name())));
        if !one.outputs.is_empty() {
            rendered.variants.push(one);
        }
    }
    rendered.warnings.sort();
    rendered.warnings.dedup();
    Ok(rendered)
}

/// Names, versions and build number from a lenient first pass, for `PKG_*` and
/// `pin_subpackage`.
fn first_pass_info(root: &yaml::Node) -> (PackageVars, HashMap<String, String>) {
    let package = root.get("package");
    let text = |n: Option<&yaml::Node>| {
        n.and_then(yaml::Node::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let vars = PackageVars {
        name: text(package.and_then(|p| p.get("name"))),
        version: text(package.and_then(|p| p.get("version"))),
        build_number: text(root.get("build").and_then(|b| b.get("number"))).or(Some("0".into())),
    };
    let mut subpackages = HashMap::new();
    if let (Some(name), Some(version)) = (&vars.name, &vars.version) {
        subpackages.insert(name.clone(), version.clone());
    }
    if let Some(yaml::Value::Seq(items)) = root.get("outputs").map(|o| &o.value) {
        for item in items {
            if let Some(name) = text(item.get("name")) {
                if let Some(version) = text(item.get("version")).or(vars.version.clone()) {
                    subpackages.insert(name, version);
                }
            }
        }
    }
    (vars, subpackages)
}

/// finalize_metadata: a relative `source/path` is made absolute against the recipe folder
/// (`normpath`), for a single `source` mapping only (a list of sources is left alone).
fn with_absolute_path(
    mut sources: Vec<Source>,
    root: &yaml::Node,
    recipe_dir: &Path,
) -> Vec<Source> {
    let single = root
        .get("source")
        .is_some_and(|s| matches!(s.value, yaml::Value::Map(_)));
    if let (true, Some(source)) = (single, sources.first_mut()) {
        if let Some(path) = source.path.as_mut() {
            let mut normal = PathBuf::new();
            for part in recipe_dir.join(&*path).components() {
                match part {
                    std::path::Component::ParentDir => {
                        normal.pop();
                    }
                    std::path::Component::CurDir => {}
                    other => normal.push(other),
                }
            }
            *path = normal.display().to_string();
        }
    }
    sources
}

/// Jinja functions that read files of the source (`needs_source_for_render`).
const SOURCE_LOADERS: [&str; 4] = [
    "load_setup_py_data",
    "load_setuptools",
    "load_file_regex",
    "load_file_data",
];

/// The first `source` entry of a lenient pass (the one conda-build takes `GIT_*` from).
fn first_source(root: &yaml::Node, file: &Path) -> Option<Source> {
    let mut warnings = Vec::new();
    let mut reader = Reader {
        file,
        warnings: &mut warnings,
    };
    reader.sources(root.get("source")).ok()?.into_iter().next()
}

#[allow(clippy::too_many_arguments)]
fn render_variant(
    recipe: &Recipe,
    options: &RenderOptions,
    host: &Host<'_>,
    variant: &Variant,
    namespace: Arc<selectors::Namespace>,
    selected: &selectors::Selected,
    raw_sections: &RecipeSections,
    git_cache: &mut GitCache,
    warnings: &mut Vec<String>,
) -> Result<Option<RenderedVariant>> {
    // Until a build provides the real prefixes, the variable names stand in for them (a
    // Windows-style `%PREFIX%` would start an invalid YAML scalar).
    let host_prefix = options
        .host_prefix
        .clone()
        .unwrap_or_else(|| "$PREFIX".into());
    let build_prefix = options
        .build_prefix
        .clone()
        .unwrap_or_else(|| "$BUILD_PREFIX".into());
    let git_vars;
    let mut input = JinjaInput {
        meta_path: &recipe.meta_path,
        recipe_dir: &recipe.dir,
        source_dir: options.source_dir.as_deref(),
        host,
        variant,
        namespace: namespace.clone(),
        package: PackageVars::default(),
        subpackages: &HashMap::new(),
        host_prefix: &host_prefix,
        build_prefix: &build_prefix,
        git_vars: &BTreeMap::new(),
        strict: false,
    };
    // Pass 1 (lenient, like UndefinedNeverFail) learns names, versions and the source when the
    // recipe refers to them; a failure here only means the strict pass reports the real problem.
    let first_pass = |input: &JinjaInput<'_>| {
        jinja::render(&selected.text, input)
            .and_then(|text| select_lines(&text, &namespace, &recipe.meta_path))
            .and_then(|text| yaml::parse(&text.text, &recipe.meta_path))
            .ok()
    };
    let subpackages;
    let uses_git = git::uses_git(&recipe.text, None);
    let uses_loaders =
        options.source_dir.is_none() && SOURCE_LOADERS.iter().any(|f| recipe.text.contains(f));
    let source_dir;
    if uses_git
        || uses_loaders
        || recipe.text.contains("PKG_")
        || recipe.text.contains("pin_subpackage")
    {
        let mut root = first_pass(&input);
        let source = root
            .as_ref()
            .filter(|_| uses_git || uses_loaders)
            .and_then(|r| first_source(r, &recipe.meta_path));
        // conda-build provides the source, then renders again (needs_source_for_render).
        let mut again = false;
        if let Some(source) = source.as_ref().filter(|_| uses_git).filter(|_| {
            let name = root.as_ref().and_then(|r| first_pass_info(r).0.name);
            git::uses_git(&recipe.text, name.as_deref())
        }) {
            git_vars =
                git_cache.vars(source, &recipe.dir, &options.git_cache, &recipe.meta_path)?;
            input.git_vars = &git_vars;
            again = true;
        }
        // A local `path` source is the work folder the loaders read, as if copied there.
        if let Some(path) = source
            .as_ref()
            .filter(|s| uses_loaders && s.folder.is_none())
            .and_then(|s| s.path.as_ref())
        {
            source_dir = recipe.dir.join(path);
            input.source_dir = Some(&source_dir);
            again = true;
        }
        if again {
            root = first_pass(&input);
        }
        if let Some((vars, subs)) = root.as_ref().map(first_pass_info) {
            input.package = vars;
            subpackages = subs;
            input.subpackages = &subpackages;
        }
    }
    input.strict = true;
    // Errors point at the file: filtered lines are mapped back to meta.yaml's lines (Jinja
    // keeps line structure except where loops or includes expand).
    let file = recipe.meta_path.as_path();
    let text = jinja::render(&selected.text, &input)
        .map_err(|e| e.map_line(file, |l| selected.original_line(l)))?;
    let rendered = select_lines(&text, &namespace, file)
        .map_err(|e| e.map_line(file, |l| selected.original_line(l)))?;
    let root = yaml::parse(&rendered.text, file)
        .map_err(|e| e.map_line(file, |l| selected.original_line(rendered.original_line(l))))?;
    let selected_sections = split_sections(&selected.text);
    let inputs = VariantInputs {
        recipe,
        variant,
        host,
        raw: raw_sections,
        selected: &selected_sections,
    };
    let mut reader = Reader {
        file: &recipe.meta_path,
        warnings,
    };
    let assembled = outputs::assemble(&root, &inputs, &mut reader)
        .map_err(|e| e.map_line(file, |l| selected.original_line(rendered.original_line(l))))?;
    let Some(assembled) = assembled else {
        return Ok(None);
    };
    let used: HashSet<String> = assembled.used_vars.into_iter().collect();
    Ok(Some(RenderedVariant {
        recipe_dir: recipe.dir.clone(),
        target_platform: options.target_platform,
        build_platform: options.build_platform,
        variant: project(variant, &used),
        full_variant: variant.clone(),
        source: with_absolute_path(assembled.source, &root, &recipe.dir),
        build_script: assembled.build_script,
        outputs: assembled.outputs,
    }))
}
