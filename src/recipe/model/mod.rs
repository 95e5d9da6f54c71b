//! The typed, rendered recipe that `krait build` consumes: one [`RenderedVariant`] per variant,
//! each with its outputs in build order. Built from the YAML tree with errors that point at the
//! offending node.

use super::error::{RecipeError, Result};
use super::variants::Variant;
use super::yaml::{Node, Value};
use rattler_conda_types::{PackageName, Subdir, VersionWithSource};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod about;
mod build;
mod requirements;
mod source;
mod test;

pub use about::About;
pub use build::{BoolOrGlobs, Build, RunExports};
pub use requirements::{Dependency, PinCompatible, Requirements};
pub use source::Source;
pub use test::Test;

/// One variant of a recipe, fully rendered.
#[derive(Debug, Clone, Serialize)]
pub struct RenderedVariant {
    pub recipe_dir: PathBuf,
    #[serde(serialize_with = "platform_str")]
    pub target_platform: Subdir,
    #[serde(serialize_with = "platform_str")]
    pub build_platform: Subdir,
    /// The variant values the recipe uses (the matrix dimensions that matter).
    pub variant: Variant,
    /// The whole variant the recipe was rendered with (conda-build's `config.variant`),
    /// which a build records as `info/recipe/conda_build_config.yaml`.
    #[serde(skip)]
    pub full_variant: Variant,
    pub source: Vec<Source>,
    /// The top-level `build/script`, run once before the outputs are packaged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_script: Option<String>,
    /// Packages to build, in dependency (topological) order.
    pub outputs: Vec<Output>,
}

fn platform_str<S: Serializer>(platform: &Subdir, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(platform.as_str())
}

/// One package a variant produces.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub package: Package,
    pub build: Build,
    pub requirements: Requirements,
    #[serde(skip_serializing_if = "Test::is_empty")]
    pub test: Test,
    pub about: About,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Files>,
    /// The output's own script (a file in the recipe dir), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_interpreter: Option<String>,
    /// The Navigator `app` section (`entry`, `icon`, `summary`, `type`, ...), as written.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub app: serde_json::Map<String, serde_json::Value>,
    /// `type`: `conda` (.tar.bz2), `conda_v2` (.conda) or `wheel`; unset leaves the archive
    /// format to the builder (conda-build's `conda_pkg_format`, .conda by default).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub package_type: Option<OutputType>,
    /// `noarch` or the target platform (or the output's `target`).
    pub subdir: String,
    /// True for the output named like the top-level package (or the only output).
    pub is_top_level: bool,
    /// The dict whose SHA-1 gives the build-string hash (`info/hash_input.json`).
    pub hash_input: BTreeMap<String, serde_json::Value>,
}

impl Output {
    /// `<name>-<version>-<build>`.
    pub fn dist_name(&self) -> String {
        format!(
            "{}-{}-{}",
            self.package.name.as_normalized(),
            self.package.version,
            self.build.string
        )
    }
}

/// What an output is bundled as (conda-build's `bundlers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    Conda,
    CondaV2,
    Wheel,
}

impl FromStr for OutputType {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "conda" => Ok(Self::Conda),
            "conda_v2" => Ok(Self::CondaV2),
            "wheel" => Ok(Self::Wheel),
            other => Err(format!(
                "unknown output type `{other}`: use conda (.tar.bz2), conda_v2 (.conda) or wheel"
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub name: PackageName,
    pub version: VersionWithSource,
}

/// Which files an output takes from the prefix.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Files {
    /// Globs over the whole prefix (files from host dependencies included).
    List(Vec<String>),
    /// Only new files, filtered.
    IncludeExclude {
        include: Vec<String>,
        exclude: Vec<String>,
    },
}

/// Reads typed values out of YAML nodes, reporting errors at the node.
pub struct Reader<'a> {
    pub file: &'a Path,
    pub warnings: &'a mut Vec<String>,
}

impl Reader<'_> {
    pub fn invalid(&self, node: &Node, message: impl Into<String>) -> RecipeError {
        RecipeError::Invalid {
            location: node.location(self.file),
            message: message.into(),
        }
    }

    pub fn string(&self, node: Option<&Node>, what: &str) -> Result<Option<String>> {
        match node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::Scalar { text, .. })) => Ok(Some(text.clone())),
            Some((n, _)) => Err(self.invalid(n, format!("`{what}` must be a string"))),
        }
    }

    /// A string or a list of strings; empty entries are dropped.
    pub fn strings(&self, node: Option<&Node>, what: &str) -> Result<Vec<String>> {
        match node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(Vec::new()),
            Some((_, Value::Scalar { text, .. })) => Ok(vec![text.clone()]),
            Some((_, Value::Seq(items))) => items
                .iter()
                .filter(|i| !i.is_null())
                .map(|i| {
                    i.as_str()
                        .map(String::from)
                        .ok_or_else(|| self.invalid(i, format!("`{what}` entries must be strings")))
                })
                .collect(),
            Some((n, _)) => Err(self.invalid(n, format!("`{what}` must be a string or a list"))),
        }
    }

    pub fn bool(&self, node: Option<&Node>, default: bool) -> bool {
        node.filter(|n| !n.is_null())
            .map(Node::is_truthy)
            .unwrap_or(default)
    }

    /// Warn (as conda-build does) about keys a section does not know.
    pub fn check_keys(&mut self, node: &Node, section: &str, known: &[&str]) {
        for (key, value) in node.entries() {
            if !known.contains(&key.as_str()) {
                self.warnings.push(format!(
                    "{}: unknown key `{section}/{key}` is ignored",
                    value.location(self.file)
                ));
            }
        }
    }

    pub fn files(&self, node: Option<&Node>) -> Result<Option<Files>> {
        match node {
            None => Ok(None),
            Some(n) if n.is_null() => Ok(None),
            Some(n) if matches!(n.value, Value::Map(_)) => Ok(Some(Files::IncludeExclude {
                include: self.strings(n.get("include"), "files/include")?,
                exclude: self.strings(n.get("exclude"), "files/exclude")?,
            })),
            Some(n) => Ok(Some(Files::List(self.strings(Some(n), "files")?))),
        }
    }

    pub fn package_name(&self, node: &Node) -> Result<PackageName> {
        let text = node
            .as_str()
            .ok_or_else(|| self.invalid(node, "`name` must be a string"))?;
        PackageName::from_str(text)
            .map_err(|e| self.invalid(node, format!("invalid package name `{text}`: {e}")))
    }

    pub fn version(&self, node: &Node) -> Result<VersionWithSource> {
        let text = node
            .as_str()
            .ok_or_else(|| self.invalid(node, "`version` must be a string"))?;
        if text.contains('-') {
            return Err(self.invalid(
                node,
                format!("invalid version `{text}`: `-` is not allowed in conda versions"),
            ));
        }
        VersionWithSource::from_str(text)
            .map_err(|e| self.invalid(node, format!("invalid version `{text}`: {e}")))
    }
}
