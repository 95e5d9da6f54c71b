//! Rendering classic conda-build `meta.yaml` recipes into typed metadata, one
//! [`RenderedVariant`] per variant, as conda-build would.
//!
//! The layers stay separate (reference §6): text preprocessing ([`selectors`], [`jinja`]), a
//! YAML tree that keeps scalars as strings ([`yaml`]), variant configuration ([`variants`]),
//! and the typed model ([`model`]) assembled per output ([`outputs`]). Each variant's text is
//! rendered once; outputs are split from the typed tree, never by re-rendering text per output.
//! This module holds the recipe and the options; the pipeline that runs the layers is
//! `render.rs` ([`render_recipe`]).

pub mod context;
pub mod error;
pub mod git;
pub mod hash;
pub mod jinja;
pub mod model;
pub mod outputs;
pub mod pins;
mod render;
pub mod requirements_txt;
pub mod selectors;
pub mod variants;
pub mod yaml;

pub use error::{Location, RecipeError, Result};
pub use model::{
    About, BoolOrGlobs, Build, Dependency, Files, Output, OutputType, Package, PinCompatible,
    RenderedVariant, Requirements, RunExports, Source, Test,
};
pub use render::{render_recipe, Rendered};

use rattler_conda_types::Subdir;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A recipe on disk: its `meta.yaml` and the folder around it.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub meta_path: PathBuf,
    pub dir: PathBuf,
    pub text: String,
}

impl Recipe {
    /// Load a recipe from a folder containing `meta.yaml` (or `meta.yml`), or the file itself.
    pub fn load(path: &Path) -> Result<Self> {
        let meta_path = if path.is_dir() {
            ["meta.yaml", "meta.yml"]
                .iter()
                .map(|f| path.join(f))
                .find(|p| p.is_file())
                .ok_or_else(|| RecipeError::NoMetaYaml(path.to_path_buf()))?
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&meta_path).map_err(|source| RecipeError::Io {
            path: meta_path.clone(),
            source,
        })?;
        // Absolute, as conda-build's `meta.path`: RECIPE_DIR and `extra/parent_recipe/path`.
        let dir = meta_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        Ok(Self {
            meta_path,
            dir,
            text,
        })
    }
}

/// How to render: platforms, extra variant files and values, environment.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub target_platform: Subdir,
    pub build_platform: Subdir,
    /// `-m` files, merged after the recipe's own conda_build_config.yaml, in order.
    pub variant_config_files: Vec<PathBuf>,
    /// `-e` files: merged first, in order, and in place of [`Self::system_config_files`].
    pub exclusive_config_files: Vec<PathBuf>,
    /// The user's then the working directory's conda_build_config.yaml
    /// ([`system_config_files`]; `new` ignores `.condarc`).
    pub system_config_files: Vec<PathBuf>,
    /// `--variant KEY=VALUE` and `--python X.Y` values (each key: one or more values).
    pub variant_overrides: Map<String, Json>,
    /// Environment variables visible to selectors and `environ` (the process env by default).
    pub env: BTreeMap<String, String>,
    /// Extracted source, for `load_file_regex`/`load_file_data` (the recipe dir otherwise).
    pub source_dir: Option<PathBuf>,
    /// Host prefix rendered into `PREFIX`/`PYTHON`/`SP_DIR` (`$PREFIX` until a build sets it;
    /// the builder renders again with its real, padded host prefix).
    pub host_prefix: Option<String>,
    pub build_prefix: Option<String>,
    /// Mirrors of remote `git_url` sources (conda-build's `<croot>/git_cache`).
    pub git_cache: PathBuf,
}

impl RenderOptions {
    pub fn new(target_platform: Subdir) -> Self {
        Self {
            target_platform,
            build_platform: Subdir::current().unwrap_or(Subdir::Linux64),
            variant_config_files: Vec::new(),
            exclusive_config_files: Vec::new(),
            system_config_files: system_config_files(None),
            variant_overrides: Map::new(),
            env: std::env::vars().collect(),
            source_dir: None,
            host_prefix: None,
            build_prefix: None,
            git_cache: crate::config::git_cache_dir(),
        }
    }
}

/// The user's conda_build_config.yaml (`.condarc`'s `conda_build/config_file`, else the one in
/// the home folder) and the working directory's, those that are files
/// (`variants.find_config_files`).
pub fn system_config_files(user_config_file: Option<&Path>) -> Vec<PathBuf> {
    let name = "conda_build_config.yaml";
    let user = match user_config_file {
        Some(file) => Some(file.to_path_buf()),
        None => dirs::home_dir().map(|home| home.join(name)),
    };
    user.into_iter()
        .chain(std::env::current_dir().ok().map(|cwd| cwd.join(name)))
        .filter(|path| path.is_file())
        .collect()
}
