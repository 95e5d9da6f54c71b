//! `krait build`: from rendered recipes to tested packages in an indexed output channel.
//!
//! Per variant: fetch sources into `<croot>/<name>_<time>/work`, create the build and host
//! environments with the env engine (host at a prefix padded to conda-build's placeholder
//! length; merged with build when the recipe has no `host`), run the script, take the files it
//! added to the host prefix, package each output, index the output folder, and test.

pub mod convert;
pub mod debug;
pub mod elf_rpath;
pub mod glibc;
pub mod inspect;
pub mod linkage;
pub mod package;
pub mod python;
pub mod script;
pub mod source;
pub mod symlinks;
pub mod test;

use crate::channel::files::Folder;
use crate::channel::index::{index_channel, IndexOptions};
use crate::channel::resolve::{ChannelResolver, ChannelSelection};
use crate::config::Config;
use crate::env::install::{self, Context, Operation, RunOptions};
use crate::recipe::model::{Dependency, Output, OutputType, RenderedVariant};
use crate::recipe::{render_recipe, Recipe, RenderOptions};
use package::{ArchiveFormat, PackageInput};
use rattler_conda_types::{MatchSpec, PrefixRecord, Subdir};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// Errors of a build.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Recipe(#[from] crate::recipe::RecipeError),
    #[error("source: {0}")]
    #[diagnostic(transparent)]
    Source(#[from] source::SourceError),
    #[error("the build script failed with exit code {code}; see {log}")]
    ScriptFailed { code: i32, log: PathBuf },
    #[error("cannot create the {which} environment: {source}")]
    Environment {
        which: &'static str,
        source: Box<crate::env::EnvError>,
    },
    #[error("output {output}: cannot tell how to run its script {script}")]
    #[diagnostic(help(
        "name the interpreter with script_interpreter (e.g. `script_interpreter: perl`); without it only .sh and .py scripts run"
    ))]
    NoInterpreter { output: String, script: String },
    #[error("test failed: {0}")]
    #[diagnostic(help(
        "`krait build` moves such a package to the output folder's broken/ subfolder; `krait test` leaves it in place"
    ))]
    TestFailed(String),
    #[error("cannot create the test environment of {package}")]
    #[diagnostic(help(
        "the package was built but not tested, so it is not in the output channel's index; \
         make its channels reachable (or use --offline with cached repodata) and run `krait test` on it"
    ))]
    TestEnvironment {
        package: String,
        source: Box<crate::env::EnvError>,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Walk(#[from] walkdir::Error),
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot set the RPATH of {}: {message}", file.display())]
    Rpath { file: PathBuf, message: String },
    #[error("bad build timestamp: {0}")]
    Timestamp(#[source] jiff::Error),
    #[error("build/entry_points: {0:?} is not of the form `name = module:function`")]
    EntryPoint(String),
    #[error("about/license_file {license} exists neither in the source folder {} nor in the recipe folder {}", src_dir.display(), recipe_dir.display())]
    LicenseFile {
        license: String,
        src_dir: PathBuf,
        recipe_dir: PathBuf,
    },
    #[error("{output}: test/script {script:?} {problem}")]
    TestScript {
        output: String,
        script: String,
        problem: String,
    },
    #[error("shared libraries not found:\n{0}")]
    #[diagnostic(help(
        "add them to the host requirements, or list them in build/missing_dso_whitelist"
    ))]
    Linkage(String),
    #[error("run requirements no file links to:\n{0}")]
    #[diagnostic(help(
        "drop them from the run requirements, or list them in build/ignore_run_exports"
    ))]
    Overdepending(String),
    #[error("{} is not inside a channel folder (CHANNEL/SUBDIR/ARCHIVE)", .0.display())]
    NotInChannel(PathBuf),
    #[error("symlinks pointing out of the prefix:\n{0}")]
    #[diagnostic(help(
        "point links at files inside $PREFIX (relative or absolute), or copy the file instead; installers refuse packages with such links"
    ))]
    Symlinks(String),
    #[error(
        "about/license_file {0:?} is a directory: a directory must be named with a trailing `/`"
    )]
    LicenseDirectory(String),
    #[error("no recipe (meta.yaml) found in {0}")]
    NoRecipe(PathBuf),
    #[error("krait debug takes one recipe folder; {} holds several", .0.display())]
    DebugOneRecipe(PathBuf),
    #[error("{} has several variants: {variants}", recipe.display())]
    #[diagnostic(help(
        "pick one with --variant KEY=VALUE, --variants YAML or -m FILE, as conda debug asks"
    ))]
    DebugVariants { recipe: PathBuf, variants: String },
    #[error("recipes depend on each other in a cycle: {0}")]
    Cycle(String),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Index(#[from] crate::channel::index::IndexError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Resolve(#[from] crate::channel::resolve::ResolveError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Upload(#[from] crate::channel::upload::UploadError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repodata(#[from] crate::channel::repodata::RepodataError),
}

impl BuildError {
    /// An I/O error on `path`, for `map_err`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
        move |source| BuildError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub channels: ChannelSelection,
    pub variant_config_files: Vec<PathBuf>,
    pub exclusive_config_files: Vec<PathBuf>,
    pub variant_overrides: serde_json::Map<String, serde_json::Value>,
    pub output_folder: PathBuf,
    pub croot: PathBuf,
    pub format: ArchiveFormat,
    pub test: bool,
    /// Skip variants whose every output is already in the output folder or a channel
    /// (`--skip-existing`).
    pub skip_existing: bool,
    /// `--offline`: as `offline: true` in .condarc.
    pub offline: bool,
    pub keep_build_dirs: bool,
    pub quiet: bool,
    /// Where each package goes once built and tested (`--upload-to`).
    pub upload: Option<crate::channel::upload::Uploader>,
}

/// A package that was built (and tested unless `--no-test`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub name: String,
    pub archive: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<crate::channel::upload::Uploaded>,
}

/// The recipes under `paths`: a recipe folder, a `meta.yaml`, or a folder of recipe folders.
pub fn find_recipes(paths: &[PathBuf]) -> Result<Vec<Recipe>, BuildError> {
    let mut recipes = Vec::new();
    for path in paths {
        let is_recipe =
            path.is_file() || path.join("meta.yaml").is_file() || path.join("meta.yml").is_file();
        if is_recipe {
            recipes.push(Recipe::load(path)?);
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(BuildError::io(path))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("meta.yaml").is_file())
            .collect();
        found.sort();
        if found.is_empty() {
            return Err(BuildError::NoRecipe(path.clone()));
        }
        for dir in found {
            recipes.push(Recipe::load(&dir)?);
        }
    }
    Ok(recipes)
}

/// Orders rendered recipes so that each comes after the recipes whose outputs it needs.
fn build_order(
    rendered: Vec<(Recipe, Vec<RenderedVariant>)>,
) -> Result<Vec<(Recipe, Vec<RenderedVariant>)>, BuildError> {
    let provides: Vec<BTreeSet<String>> = rendered
        .iter()
        .map(|(_, vs)| {
            vs.iter()
                .flat_map(|v| {
                    v.outputs
                        .iter()
                        .map(|o| o.package.name.as_normalized().to_string())
                })
                .collect()
        })
        .collect();
    let needs: Vec<BTreeSet<String>> = rendered
        .iter()
        .map(|(_, vs)| {
            vs.iter()
                .flat_map(|v| v.outputs.iter())
                .flat_map(|o| {
                    o.requirements
                        .build
                        .iter()
                        .chain(&o.requirements.host)
                        .chain(&o.requirements.run)
                })
                .map(Dependency::name)
                .collect()
        })
        .collect();
    let mut order = Vec::new();
    let mut done = vec![false; rendered.len()];
    while order.len() < rendered.len() {
        let ready = (0..rendered.len()).find(|&i| {
            !done[i]
                && (0..rendered.len()).all(|j| {
                    j == i
                        || done[j]
                        || provides[j].is_disjoint(&needs[i])
                        || !provides[i].is_disjoint(&provides[j])
                })
        });
        match ready {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                let stuck: Vec<String> = (0..rendered.len())
                    .filter(|i| !done[*i])
                    .map(|i| rendered[i].0.dir.display().to_string())
                    .collect();
                return Err(BuildError::Cycle(stuck.join(", ")));
            }
        }
    }
    let mut slots: Vec<Option<(Recipe, Vec<RenderedVariant>)>> =
        rendered.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .map(|i| slots[i].take().expect("each index once"))
        .collect())
}

/// conda-build's host prefix: a path padded with `_placehold` to 255 characters, so that
/// installs can replace it with any shorter prefix.
fn padded_host_prefix(root: &Path) -> PathBuf {
    let mut text = root.join("_h_env").display().to_string();
    while text.len() < 255 {
        text.push_str("_placehold");
    }
    text.truncate(255);
    PathBuf::from(text)
}

fn relative_files(prefix: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(prefix)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .filter_map(|e| e.path().strip_prefix(prefix).ok().map(Path::to_path_buf))
        .filter(|p| !p.starts_with("conda-meta") && !p.starts_with(".krait-rollback"))
        .collect()
}

/// Indexes the output folder, so every package built so far is usable as a channel.
fn reindex(output_folder: &Path) -> Result<(), BuildError> {
    let options = IndexOptions {
        write_zst: true,
        ..IndexOptions::default()
    };
    index_channel(&Folder::new(output_folder), &options)?;
    Ok(())
}

/// `(subdir, name-version-build)` of every package named in `names` in the output folder and
/// the build's channels, in either archive format (conda-build's `is_package_built` for
/// `--skip-existing`).
fn existing_dists(
    config: &Config,
    options: &BuildOptions,
    names: BTreeSet<rattler_conda_types::PackageName>,
    runtime: &tokio::runtime::Runtime,
) -> Result<HashSet<(String, String)>, BuildError> {
    let ctx = context(config, &options.channels, &options.output_folder)?;
    let specs = names
        .into_iter()
        .map(|name| MatchSpec {
            name: rattler_conda_types::PackageNameMatcher::Exact(name),
            ..MatchSpec::default()
        })
        .collect();
    let records = runtime.block_on(crate::channel::repodata::query(
        &ctx.gateway,
        &ctx.channels,
        ctx.subdir,
        specs,
        false,
    ))?;
    Ok(records
        .into_iter()
        .map(|r| {
            let p = &r.package_record;
            (
                p.subdir.clone(),
                format!("{}-{}-{}", p.name.as_normalized(), p.version, p.build),
            )
        })
        .collect())
}

/// krait's configuration with the build's `--offline`.
fn build_config(options: &BuildOptions) -> Result<Config, BuildError> {
    let mut config = Config::load()?;
    config.offline |= options.offline;
    Ok(config)
}

/// Every variant of the recipes under `paths` for this machine, recipes in the order found.
fn render_all(
    paths: &[PathBuf],
    options: &BuildOptions,
    config: &Config,
) -> Result<Vec<(Recipe, Vec<RenderedVariant>)>, BuildError> {
    let target = Subdir::current().unwrap_or(Subdir::Linux64);
    let mut rendered = Vec::new();
    for recipe in find_recipes(paths)? {
        let mut render = RenderOptions::new(target);
        render.variant_config_files = options.variant_config_files.clone();
        render.exclusive_config_files = options.exclusive_config_files.clone();
        render.system_config_files =
            crate::recipe::system_config_files(config.conda_build_config_file.as_deref());
        render.git_cache = options.croot.join("git_cache");
        render.variant_overrides = options.variant_overrides.clone();
        let result = render_recipe(&recipe, &render)?;
        for warning in &result.warnings {
            tracing::warn!("{warning}");
        }
        rendered.push((recipe, result.variants));
    }
    Ok(rendered)
}

/// Runs every recipe; returns the archives written.
pub fn build(paths: &[PathBuf], options: &BuildOptions) -> Result<Vec<Built>, BuildError> {
    let config = build_config(options)?;
    let rendered = build_order(render_all(paths, options, &config)?)?;
    std::fs::create_dir_all(&options.output_folder)
        .map_err(BuildError::io(&options.output_folder))?;
    reindex(&options.output_folder)?;
    let runtime = tokio::runtime::Runtime::new().map_err(BuildError::Runtime)?;
    let existing = if options.skip_existing {
        let names = rendered
            .iter()
            .flat_map(|(_, vs)| vs.iter().flat_map(|v| &v.outputs))
            .map(|o| o.package.name.clone())
            .collect();
        existing_dists(&config, options, names, &runtime)?
    } else {
        HashSet::new()
    };
    let mut built = Vec::new();
    for (recipe, variants) in rendered {
        for variant in variants {
            let is_built = |o: &Output| existing.contains(&(o.subdir.clone(), o.dist_name()));
            if options.skip_existing && variant.outputs.iter().all(is_built) {
                if !options.quiet {
                    let dists: Vec<String> =
                        variant.outputs.iter().map(Output::dist_name).collect();
                    eprintln!("skipping {}: already built", dists.join(", "));
                }
                continue;
            }
            let mut done = build_variant(&recipe, &variant, options, &config, &runtime)?;
            // Like conda-build, a package goes out as soon as its recipe built and tested.
            if let Some(uploader) = &options.upload {
                for package in &mut done {
                    let uploaded = uploader.upload(&runtime, &package.archive)?;
                    if !options.quiet {
                        eprintln!("uploaded {} (sha256 {})", uploaded.target, uploaded.sha256);
                    }
                    package.uploaded = Some(uploaded);
                }
            }
            built.extend(done);
        }
    }
    Ok(built)
}

/// An environment context over the output folder plus the given channels.
pub fn context(
    config: &Config,
    options_channels: &ChannelSelection,
    output_folder: &Path,
) -> Result<Context, BuildError> {
    let mut channels = options_channels.clone();
    channels
        .channels
        .insert(0, output_folder.display().to_string());
    let resolved = ChannelResolver::new(config).channels_for(&channels)?;
    Ok(Context::new(
        config.clone(),
        resolved,
        Subdir::current().unwrap_or(Subdir::Linux64),
        false,
    ))
}

/// The solver specs of requirements, leaving out those naming a package of `skip` (siblings
/// not built yet).
fn specs_of(deps: &[Dependency], skip: &BTreeSet<String>) -> Vec<MatchSpec> {
    deps.iter()
        .filter(|d| !skip.contains(&d.name()))
        .filter_map(|d| match d {
            Dependency::Spec { text, spec } => {
                Some(solver_spec(text).unwrap_or_else(|_| (**spec).clone()))
            }
            Dependency::PinCompatible(_) | Dependency::Resolved(_) => None,
        })
        .collect()
}

/// A requirement as conda-build hands it to the solver: `get_install_actions` passes every
/// spec through `ensure_valid_spec`, so `python 3.11` (`python {{ python_min }}`) means
/// `python 3.11.*`, not `python ==3.11`.
pub(crate) fn solver_spec(
    text: &str,
) -> Result<MatchSpec, rattler_conda_types::ParseMatchSpecError> {
    MatchSpec::from_str(
        &crate::recipe::pins::ensure_valid_spec(text),
        rattler_conda_types::ParseStrictness::Lenient,
    )
}

fn create_env(
    ctx: &Context,
    runtime: &tokio::runtime::Runtime,
    prefix: &Path,
    specs: Vec<MatchSpec>,
    which: &'static str,
) -> Result<Vec<PrefixRecord>, BuildError> {
    let conda_meta = prefix.join("conda-meta");
    std::fs::create_dir_all(&conda_meta).map_err(BuildError::io(&conda_meta))?;
    if !specs.is_empty() {
        let options = RunOptions {
            yes: true,
            quiet: true,
            command_line: format!("krait build ({which} environment)"),
            ..RunOptions::default()
        };
        runtime
            .block_on(install::run(
                ctx,
                prefix,
                Operation::Install(specs),
                &options,
            ))
            .map_err(|e| BuildError::Environment {
                which,
                source: Box::new(e),
            })?;
    }
    crate::env::prefix::installed(prefix).map_err(|e| BuildError::Environment {
        which,
        source: Box::new(e.into()),
    })
}

/// The run exports a package declares: from its record, else from its cached `info/`.
fn run_exports_of(record: &PrefixRecord) -> Option<rattler_conda_types::package::RunExportsJson> {
    if let Some(exports) = &record.repodata_record.package_record.run_exports {
        return Some(exports.clone());
    }
    let dir = record.extracted_package_dir.as_ref()?;
    let text = std::fs::read_to_string(dir.join("info/run_exports.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Final run requirements and constraints of an output: its own, `pin_compatible` resolved
/// against the host environment, plus run exports of build (strong) and host (weak and strong)
/// dependencies, minus what `ignore_run_exports(_from)` drops.
fn run_requirements(
    output: &Output,
    build_env: &[PrefixRecord],
    host_env: &[PrefixRecord],
    merged: bool,
) -> (Vec<String>, Vec<String>) {
    let mut depends: Vec<String> = Vec::new();
    let push = |list: &mut Vec<String>, spec: String| {
        if !list.contains(&spec) {
            list.push(spec);
        }
    };
    for dep in &output.requirements.run {
        match dep {
            Dependency::Spec { text, .. } => push(&mut depends, text.clone()),
            Dependency::PinCompatible(pin) => {
                let installed = host_env
                    .iter()
                    .find(|r| r.repodata_record.package_record.name.as_normalized() == pin.name);
                let spec = match installed {
                    Some(r) if pin.exact => {
                        let p = &r.repodata_record.package_record;
                        format!("{} {} {}", pin.name, p.version, p.build)
                    }
                    Some(r) => {
                        let version = r.repodata_record.package_record.version.to_string();
                        match crate::recipe::pins::apply_pin_expressions(
                            &version,
                            Some(pin.min_pin.as_deref().unwrap_or("x.x.x.x.x.x")),
                            Some(pin.max_pin.as_deref().unwrap_or("x")),
                        ) {
                            Ok(pinned) => format!("{} {}", pin.name, pinned),
                            Err(e) => {
                                tracing::warn!("pin_compatible({}): {e}", pin.name);
                                pin.name.clone()
                            }
                        }
                    }
                    None => pin.name.clone(),
                };
                push(&mut depends, spec);
            }
            Dependency::Resolved(which) => {
                let records = if which == "build" {
                    build_env
                } else {
                    host_env
                };
                for record in records {
                    let p = &record.repodata_record.package_record;
                    push(
                        &mut depends,
                        format!("{} {} {}", p.name.as_normalized(), p.version, p.build),
                    );
                }
            }
        }
    }
    let mut constrains: Vec<String> = output
        .requirements
        .run_constrained
        .iter()
        .filter_map(|d| match d {
            Dependency::Spec { text, .. } => Some(text.clone()),
            Dependency::PinCompatible(p) => Some(p.name.clone()),
            Dependency::Resolved(_) => None,
        })
        .collect();
    let ignored = &output.build.ignore_run_exports;
    let ignored_from = &output.build.ignore_run_exports_from;
    let noarch = !output.build.noarch.is_none();
    let mut apply = |records: &[PrefixRecord], from_host: bool| {
        for record in records {
            let source = record.repodata_record.package_record.name.as_normalized();
            if ignored_from.iter().any(|i| i == source) {
                continue;
            }
            let Some(exports) = run_exports_of(record) else {
                continue;
            };
            let mut runs: Vec<&String> = Vec::new();
            let mut cons: Vec<&String> = Vec::new();
            if noarch {
                if from_host {
                    runs.extend(&exports.noarch);
                }
            } else {
                runs.extend(&exports.strong);
                cons.extend(&exports.strong_constrains);
                if from_host {
                    runs.extend(&exports.weak);
                    cons.extend(&exports.weak_constrains);
                }
            }
            for spec in runs {
                let name = spec.split_whitespace().next().unwrap_or("");
                if !ignored.iter().any(|i| i == name) {
                    push(&mut depends, spec.clone());
                }
            }
            for spec in cons {
                push(&mut constrains, spec.clone());
            }
        }
    };
    if !merged {
        apply(build_env, false);
    }
    apply(host_env, true);
    (depends, constrains)
}

fn timestamp_ms() -> i64 {
    match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    {
        Some(seconds) => seconds * 1000,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default(),
    }
}

/// A variant's build folder with its sources fetched and its build and host environments
/// created: what its scripts run in (and what `krait debug` leaves for a person to enter).
pub struct Workspace {
    /// `<croot>/<dist>`: the work folder, the environments, logs and staging.
    pub root: PathBuf,
    pub dirs: script::Dirs,
    /// No `host` section: build and host are one prefix.
    pub merged: bool,
    pub build_env: Vec<PrefixRecord>,
    pub host_env: Vec<PrefixRecord>,
    /// The build's channels for about.json (the output folder is not one of them).
    pub channel_urls: Vec<String>,
}

/// The names of a variant's outputs: requirements naming them can only be installed once
/// those outputs are built.
fn sibling_names(variant: &RenderedVariant) -> BTreeSet<String> {
    variant
        .outputs
        .iter()
        .map(|o| o.package.name.as_normalized().to_string())
        .collect()
}

/// Fetches the sources of `variant` into a fresh `<croot>/<dist>/work` and creates its build
/// and host environments from every output's requirements but those naming a sibling output
/// (conda-build's `create_build_envs` for the top-level build).
pub fn prepare(
    recipe: &Recipe,
    variant: &RenderedVariant,
    options: &BuildOptions,
    config: &Config,
    runtime: &tokio::runtime::Runtime,
) -> Result<Workspace, BuildError> {
    let top = top_output(recipe, variant)?;
    // Named after the output, not the time, so that the prefix baked into files (and so the
    // archive) is the same when the same recipe is built again.
    let root = options.croot.join(top.dist_name());
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(BuildError::io(&root))?;
    }
    std::fs::create_dir_all(&root).map_err(BuildError::io(&root))?;
    let work = root.join("work");
    source::fetch_all(
        &variant.source,
        &variant.recipe_dir,
        &work,
        &options.croot.join("src_cache"),
        &source::Downloader {
            client: &crate::net::http_client(config),
            runtime,
        },
    )?;

    let ctx = context(config, &options.channels, &options.output_folder)?;
    // about.json's `channels`: the build's channels (the output folder is not one of them,
    // as conda-build's local channel is not), tokens masked as conda-build's sanitize_channel.
    let channel_urls: Vec<String> = ctx.channels[1..]
        .iter()
        .map(|c| {
            let url = c.base_url.as_str().trim_end_matches('/');
            crate::config::mask_token(url, "<TOKEN>")
        })
        .collect();
    let merged = !variant.outputs.iter().any(|o| o.requirements.has_host);
    let host_prefix = padded_host_prefix(&root);
    let build_prefix = if merged {
        host_prefix.clone()
    } else {
        root.join("_build_env")
    };
    let siblings = sibling_names(variant);
    let build_specs: Vec<MatchSpec> = variant
        .outputs
        .iter()
        .flat_map(|o| specs_of(&o.requirements.build, &siblings))
        .collect();
    let host_specs: Vec<MatchSpec> = variant
        .outputs
        .iter()
        .flat_map(|o| specs_of(&o.requirements.host, &siblings))
        .collect();
    let (build_env, host_env) = if merged {
        let all: Vec<MatchSpec> = build_specs.into_iter().chain(host_specs).collect();
        let env = create_env(&ctx, runtime, &host_prefix, all, "build")?;
        (env.clone(), env)
    } else {
        let b = create_env(&ctx, runtime, &build_prefix, build_specs, "build")?;
        let h = create_env(&ctx, runtime, &host_prefix, host_specs, "host")?;
        (b, h)
    };
    let dirs = script::Dirs {
        work: root.clone(),
        src: work,
        build_prefix,
        host_prefix,
        // Absolute, as conda-build gives it: scripts run from the work folder.
        recipe: std::path::absolute(&variant.recipe_dir)
            .unwrap_or_else(|_| variant.recipe_dir.clone()),
    };
    Ok(Workspace {
        root,
        dirs,
        merged,
        build_env,
        host_env,
        channel_urls,
    })
}

/// An output's requirements that name sibling outputs, installed into the build and host
/// prefixes once those siblings are built and indexed, so that
/// `pin_subpackage(sibling, exact=True)` in an output's host resolves (conda-build solves each
/// output's environments when it builds that output). The environments' records after that.
fn install_sibling_requirements(
    output: &Output,
    workspace: &mut Workspace,
    siblings: &BTreeSet<String>,
    options: &BuildOptions,
    config: &Config,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), BuildError> {
    let names_sibling = |deps: &[Dependency]| deps.iter().any(|d| siblings.contains(&d.name()));
    let reqs = &output.requirements;
    if !names_sibling(&reqs.build) && !names_sibling(&reqs.host) {
        return Ok(());
    }
    // A fresh context: the output folder's index now holds the siblings.
    let ctx = context(config, &options.channels, &options.output_folder)?;
    let none = BTreeSet::new();
    let dirs = &workspace.dirs;
    if workspace.merged {
        let all: Vec<MatchSpec> = specs_of(&reqs.build, &none)
            .into_iter()
            .chain(specs_of(&reqs.host, &none))
            .collect();
        workspace.host_env = create_env(&ctx, runtime, &dirs.host_prefix, all, "build")?;
        workspace.build_env = workspace.host_env.clone();
    } else {
        if names_sibling(&reqs.build) {
            let specs = specs_of(&reqs.build, &none);
            workspace.build_env = create_env(&ctx, runtime, &dirs.build_prefix, specs, "build")?;
        }
        let specs = specs_of(&reqs.host, &none);
        workspace.host_env = create_env(&ctx, runtime, &dirs.host_prefix, specs, "host")?;
    }
    Ok(())
}

/// The files an output packages. With its own script (`script`, or for a non-top-level output
/// its `build/script`), what that script adds to the host prefix; `files` then keeps only the
/// listed ones, as conda-build's `bundle_conda` does. Without a script, `files` selects from
/// what the top-level build added; the top-level output (or a lone output) takes it all.
fn output_files(
    output: &Output,
    variant: &RenderedVariant,
    workspace: &Workspace,
    top_new: &[PathBuf],
    options: &BuildOptions,
) -> Result<Vec<PathBuf>, BuildError> {
    let dirs = &workspace.dirs;
    let host_prefix = &dirs.host_prefix;
    let inline = output
        .build
        .script
        .as_ref()
        .filter(|_| !output.is_top_level && output.script.is_none());
    let script_text = match (&output.script, inline) {
        (Some(name), _) => Some(script::output_script(
            output,
            &variant.recipe_dir,
            name,
            &dirs.src,
        )?),
        (None, Some(text)) => Some(text.clone()),
        (None, None) => None,
    };
    let select_listed = |candidates: &[PathBuf]| match &output.files {
        Some(crate::recipe::model::Files::List(globs)) => Some(select(candidates, globs, &[])),
        Some(crate::recipe::model::Files::IncludeExclude { include, exclude }) => {
            Some(select(candidates, include, exclude))
        }
        None => None,
    };
    let Some(text) = script_text else {
        return Ok(select_listed(top_new).unwrap_or_else(|| {
            if output.is_top_level || variant.outputs.len() == 1 {
                top_new.to_vec()
            } else {
                Vec::new()
            }
        }));
    };
    let marker = relative_files(host_prefix);
    let (h, v) = (build_hash(output), output.package.version.to_string());
    let env = script::environment(dirs, &identity(output, variant, &h, &v));
    script::run(
        &text,
        dirs,
        &env,
        options.quiet,
        &format!("output_{}", output.package.name.as_normalized()),
    )?;
    if !output.build.noarch.is_python() {
        python::write_entry_points(host_prefix, &output.build.entry_points)?;
    }
    let added: Vec<PathBuf> = relative_files(host_prefix)
        .difference(&marker)
        .cloned()
        .collect();
    let mut candidates: Vec<PathBuf> = top_new.iter().chain(&added).cloned().collect();
    candidates.sort();
    candidates.dedup();
    Ok(select_listed(&candidates).unwrap_or(added))
}

fn build_variant(
    recipe: &Recipe,
    variant: &RenderedVariant,
    options: &BuildOptions,
    config: &Config,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<Built>, BuildError> {
    let mut workspace = prepare(recipe, variant, options, config, runtime)?;
    let top = top_output(recipe, variant)?;
    let root = workspace.root.clone();
    let host_prefix = workspace.dirs.host_prefix.clone();
    let before = relative_files(&host_prefix);
    let mut built = Vec::new();
    if let Some(script_text) = &build_script(variant) {
        let env = top_environment(top, variant, &workspace);
        script::run(
            script_text,
            &workspace.dirs,
            &env,
            options.quiet,
            "conda_build",
        )?;
    }
    // conda-build writes the entry points of non-noarch packages itself; for noarch python
    // the installer does, from info/link.json.
    for output in variant
        .outputs
        .iter()
        .filter(|o| o.script.is_none() && !o.build.noarch.is_python())
    {
        python::write_entry_points(&host_prefix, &output.build.entry_points)?;
    }
    let after_top = relative_files(&host_prefix);
    let top_new: Vec<PathBuf> = after_top.difference(&before).cloned().collect();
    let siblings = sibling_names(variant);

    for output in &variant.outputs {
        install_sibling_requirements(output, &mut workspace, &siblings, options, config, runtime)?;
        let mut files = filter_files(output_files(
            output, variant, &workspace, &top_new, options,
        )?);
        for always in &output.build.always_include_files {
            let path = PathBuf::from(always);
            if host_prefix.join(&path).exists() && !files.contains(&path) {
                files.push(path);
            }
        }
        files.sort();
        symlinks::check_symlinks(&files, &host_prefix, &root)?;
        let (mut depends, constrains) = run_requirements(
            output,
            &workspace.build_env,
            &workspace.host_env,
            workspace.merged,
        );
        if output.build.noarch.is_none() {
            glibc::add_glibc_requirement(
                &mut depends,
                &constrains,
                output.build.ignore_glibc_detection,
                &host_prefix,
                &files,
            );
        }
        let input = PackageInput {
            variant,
            output,
            host_prefix: &host_prefix,
            build_prefix: &workspace.dirs.build_prefix,
            src_dir: &workspace.dirs.src,
            channels: &workspace.channel_urls,
            files,
            depends,
            constrains,
            timestamp_ms: timestamp_ms(),
            // An output's `type` names its format (bldpkg_path); the default applies otherwise.
            format: match output.package_type {
                Some(OutputType::Conda) => ArchiveFormat::TarBz2,
                Some(OutputType::CondaV2) => ArchiveFormat::Conda,
                Some(OutputType::Wheel) | None => options.format,
            },
        };
        let staging = root.join(format!("pkg_{}", output.package.name.as_normalized()));
        let archive = package::write_package(&input, &staging, &options.output_folder)?;
        reindex(&options.output_folder)?;
        if !options.quiet {
            eprintln!("built {}", archive.display());
        }
        if options.test {
            test_built(output, &archive, &staging, &root, options, config, runtime)?;
        }
        built.push(Built {
            name: output.package.name.as_normalized().to_string(),
            archive,
            uploaded: None,
        });
    }
    if !options.keep_build_dirs {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(built)
}

/// Tests a package just built. A failing test moves it to the output folder's `broken/`; an
/// environment that cannot be made (a channel out of reach) is no verdict on the package: it
/// stays where it is, unindexed, and the error names it.
fn test_built(
    output: &Output,
    archive: &Path,
    staging: &Path,
    root: &Path,
    options: &BuildOptions,
    config: &Config,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), BuildError> {
    let spec = format!(
        "{} =={} {}",
        output.package.name.as_normalized(),
        output.package.version,
        output.build.string
    );
    let test_ctx = context(config, &options.channels, &options.output_folder)?;
    let result = test::run_tests(
        &test_ctx,
        runtime,
        &spec,
        &staging.join("info"),
        &root.join("_test_env"),
        options.quiet,
    );
    match result {
        Ok(()) => Ok(()),
        Err(BuildError::TestEnvironment { source, .. }) => {
            // Out of the index (no subdir folder), so nothing installs an untested package.
            let untested = options.output_folder.join("untested");
            std::fs::create_dir_all(&untested).map_err(BuildError::io(&untested))?;
            let moved = untested.join(archive.file_name().unwrap_or_default());
            std::fs::rename(archive, &moved).map_err(BuildError::io(&moved))?;
            reindex(&options.output_folder)?;
            Err(BuildError::TestEnvironment {
                package: moved.display().to_string(),
                source,
            })
        }
        Err(e) => {
            let broken = options.output_folder.join("broken");
            std::fs::create_dir_all(&broken).map_err(BuildError::io(&broken))?;
            let moved = broken.join(archive.file_name().unwrap_or_default());
            std::fs::rename(archive, &moved).map_err(BuildError::io(&moved))?;
            reindex(&options.output_folder)?;
            Err(e)
        }
    }
}

/// `utils.filter_files`: what never goes into a package, whatever the recipe selects: git
/// metadata and macOS Finder files (`.DS_Store`).
fn filter_files(files: Vec<PathBuf>) -> Vec<PathBuf> {
    files
        .into_iter()
        .filter(|f| {
            !f.components().any(|c| {
                let part = c.as_os_str().to_string_lossy();
                part == ".git" || part.contains(".DS_Store")
            })
        })
        .collect()
}

/// The files among `candidates` matching any include glob and no exclude glob.
fn select(candidates: &[PathBuf], include: &[String], exclude: &[String]) -> Vec<PathBuf> {
    let matches = |globs: &[String], p: &Path| {
        let text = p.to_string_lossy();
        globs.iter().any(|g| {
            glob::Pattern::new(g).is_ok_and(|pat| pat.matches(&text))
                || text.starts_with(&format!("{}/", g.trim_end_matches('/')))
        })
    };
    candidates
        .iter()
        .filter(|p| matches(include, p) && !matches(exclude, p))
        .cloned()
        .collect()
}

/// The `h1234567` part of a build string (`PKG_HASH`), empty when the build has none.
/// The output the top-level build script builds: the one named like the recipe, else the
/// first.
fn top_output<'v>(recipe: &Recipe, variant: &'v RenderedVariant) -> Result<&'v Output, BuildError> {
    variant
        .outputs
        .iter()
        .find(|o| o.is_top_level)
        .or(variant.outputs.first())
        .ok_or_else(|| BuildError::NoRecipe(recipe.dir.clone()))
}

/// The top-level build script: `build/script`, else the recipe's `build.sh`.
fn build_script(variant: &RenderedVariant) -> Option<String> {
    variant
        .build_script
        .clone()
        .or_else(|| std::fs::read_to_string(variant.recipe_dir.join("build.sh")).ok())
}

/// The variables the top-level build script runs with.
fn top_environment(
    top: &Output,
    variant: &RenderedVariant,
    workspace: &Workspace,
) -> BTreeMap<String, String> {
    let (h, v) = (build_hash(top), top.package.version.to_string());
    script::environment(&workspace.dirs, &identity(top, variant, &h, &v))
}

fn build_hash(output: &Output) -> String {
    output
        .build
        .string
        .split('_')
        .find(|p| {
            p.len() == 8 && p.starts_with('h') && p[1..].chars().all(|c| c.is_ascii_hexdigit())
        })
        .unwrap_or("")
        .to_string()
}

fn identity<'a>(
    output: &'a Output,
    variant: &'a RenderedVariant,
    hash: &'a str,
    version: &'a str,
) -> script::Identity<'a> {
    script::Identity {
        name: output.package.name.as_normalized(),
        version,
        build_number: output.build.number,
        build_string: &output.build.string,
        hash,
        target_platform: variant.target_platform.as_str(),
        build_platform: variant.build_platform.as_str(),
        script_env: &output.build.script_env,
        variant: &variant.full_variant,
    }
}
