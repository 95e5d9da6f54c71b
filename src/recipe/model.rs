//! The typed, rendered recipe that `krait build` consumes: one [`RenderedVariant`] per variant,
//! each with its outputs in build order. Built from the YAML tree with errors that point at the
//! offending node.

use super::error::{RecipeError, Result};
use super::jinja::PIN_COMPATIBLE_MARKER;
use super::variants::Variant;
use super::yaml::{Node, Value};
use rattler_conda_types::{
    MatchSpec, NoArchType, PackageName, ParseStrictness, Subdir, VersionWithSource,
};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

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

#[derive(Debug, Clone, Default, Serialize)]
pub struct Source {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub url: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(rename = "fn", skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_url: Option<String>,
    /// `git_rev`, with `git_tag`/`git_branch` folded in as conda-build does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_rev: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_depth: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_hoist: bool,
}

/// `true`/`false` or a list of globs (`binary_relocation`, `ignore_prefix_files`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BoolOrGlobs {
    Bool(bool),
    Globs(Vec<String>),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunExports {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weak: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub strong: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub noarch: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weak_constrains: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub strong_constrains: Vec<String>,
}

impl RunExports {
    pub fn is_empty(&self) -> bool {
        self == &RunExports::default()
    }

    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.weak
            .iter_mut()
            .chain(self.strong.iter_mut())
            .chain(self.noarch.iter_mut())
            .chain(self.weak_constrains.iter_mut())
            .chain(self.strong_constrains.iter_mut())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub number: u64,
    /// The final build string, hash included.
    pub string: String,
    #[serde(skip_serializing_if = "NoArchType::is_none")]
    pub noarch: NoArchType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub script_env: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry_points: Vec<String>,
    #[serde(skip_serializing_if = "RunExports::is_empty")]
    pub run_exports: RunExports,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_run_exports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_run_exports_from: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_features: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    pub rpaths: Vec<String>,
    pub binary_relocation: BoolOrGlobs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub has_prefix_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binary_has_prefix_files: Vec<String>,
    pub ignore_prefix_files: BoolOrGlobs,
    pub detect_binary_files_with_prefix: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub always_include_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub no_link: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_dso_whitelist: Vec<String>,
    /// A needed shared library found nowhere fails the build (else a warning).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub error_overlinking: bool,
    /// A library package in the run requirements that no file links to fails the build.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub error_overdepending: bool,
    /// krait's own key: do not add `__glibc >=x.y` from the ELF files' symbol versions.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ignore_glibc_detection: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runpath_whitelist: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skip_compile_pyc: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_build_host: Option<bool>,
    pub include_recipe: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub force_use_keys: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub force_ignore_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_unlink: Option<String>,
}

/// A requirement: a match spec (with the text the recipe rendered, which conda-build keeps
/// verbatim), or a `pin_compatible()` waiting for the solved host env.
#[derive(Debug, Clone)]
pub enum Dependency {
    Spec { text: String, spec: Box<MatchSpec> },
    PinCompatible(PinCompatible),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PinCompatible {
    pub name: String,
    pub min_pin: Option<String>,
    pub max_pin: Option<String>,
    pub lower_bound: Option<String>,
    pub upper_bound: Option<String>,
    pub exact: bool,
}

impl Serialize for Dependency {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Dependency::Spec { text, .. } => s.serialize_str(text),
            Dependency::PinCompatible(pin) => {
                let mut map = BTreeMap::new();
                map.insert("pin_compatible", pin);
                map.serialize(s)
            }
        }
    }
}

impl Dependency {
    /// The package name the requirement is about.
    pub fn name(&self) -> String {
        match self {
            Dependency::Spec { spec, .. } => spec
                .name
                .as_exact()
                .map(|n| n.as_normalized().to_string())
                .unwrap_or_else(|| spec.name.to_string()),
            Dependency::PinCompatible(pin) => pin.name.clone(),
        }
    }

    /// Parse a rendered requirement string (pin_compatible markers included).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        if let Some((name, rest)) = text.split_once(PIN_COMPATIBLE_MARKER) {
            let field = |key: &str| {
                rest.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                    .filter(|v| *v != "None")
                    .map(String::from)
            };
            return Ok(Dependency::PinCompatible(PinCompatible {
                name: name.trim().to_string(),
                min_pin: field("min_pin"),
                max_pin: field("max_pin"),
                lower_bound: field("lower_bound"),
                upper_bound: field("upper_bound"),
                exact: field("exact").as_deref() == Some("true"),
            }));
        }
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        MatchSpec::from_str(&text, ParseStrictness::Lenient)
            .map(|spec| Dependency::Spec {
                text,
                spec: Box::new(spec),
            })
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Requirements {
    pub build: Vec<Dependency>,
    pub host: Vec<Dependency>,
    pub run: Vec<Dependency>,
    pub run_constrained: Vec<Dependency>,
    /// A `host:` key was present (even empty): build and host are separate prefixes.
    pub has_host: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Test {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub downstreams: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_interpreter: Option<String>,
}

impl Test {
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
            && self.imports.is_empty()
            && self.requires.is_empty()
            && self.files.is_empty()
            && self.source_files.is_empty()
            && self.downstreams.is_empty()
            && self.script.is_none()
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct About {
    #[serde(skip_serializing_if = "BTreeMap::is_empty", flatten)]
    pub fields: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub license_file: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prelink_message: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
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

// ---------------------------------------------------------------------------------------------
// Conversions from YAML nodes.

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

    fn bool_or_globs(&self, node: Option<&Node>, default: bool, what: &str) -> Result<BoolOrGlobs> {
        match node {
            Some(n) if matches!(n.value, Value::Seq(_)) => {
                Ok(BoolOrGlobs::Globs(self.strings(Some(n), what)?))
            }
            Some(n) if !n.is_null() => Ok(BoolOrGlobs::Bool(n.is_truthy())),
            _ => Ok(BoolOrGlobs::Bool(default)),
        }
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

    pub fn sources(&mut self, node: Option<&Node>) -> Result<Vec<Source>> {
        let nodes: Vec<&Node> = match node {
            None => Vec::new(),
            Some(n) => match &n.value {
                Value::Null => Vec::new(),
                Value::Map(_) => vec![n],
                Value::Seq(items) => items.iter().filter(|i| !i.is_null()).collect(),
                _ => {
                    return Err(self.invalid(n, "`source` must be a mapping or a list of mappings"))
                }
            },
        };
        nodes.into_iter().map(|n| self.source(n)).collect()
    }

    fn source(&mut self, node: &Node) -> Result<Source> {
        const KNOWN: [&str; 26] = [
            "fn",
            "url",
            "md5",
            "sha1",
            "sha224",
            "sha256",
            "sha384",
            "sha512",
            "path",
            "path_via_symlink",
            "git_url",
            "git_tag",
            "git_branch",
            "git_rev",
            "git_depth",
            "hg_url",
            "hg_tag",
            "svn_url",
            "svn_rev",
            "svn_ignore_externals",
            "folder",
            "no_hoist",
            "patches",
            "content_sha256",
            "svn_username",
            "svn_password",
        ];
        if !matches!(node.value, Value::Map(_)) {
            return Err(self.invalid(node, "each `source` entry must be a mapping"));
        }
        self.check_keys(node, "source", &KNOWN);
        let revs: Vec<&str> = ["git_rev", "git_tag", "git_branch"]
            .into_iter()
            .filter(|k| node.get(k).is_some())
            .collect();
        if revs.len() > 1 {
            return Err(self.invalid(
                node,
                format!("multiple git revisions: {}; keep one", revs.join(", ")),
            ));
        }
        let git_rev = match revs.first() {
            Some(key) => self.string(node.get(key), key)?,
            None => None,
        };
        let git_depth = match self.string(node.get("git_depth"), "source/git_depth")? {
            Some(d) => Some(d.parse().map_err(|_| {
                self.invalid(
                    node.get("git_depth").expect("present"),
                    "`git_depth` must be an integer",
                )
            })?),
            None => None,
        };
        Ok(Source {
            url: self.strings(node.get("url"), "source/url")?,
            sha256: self.string(node.get("sha256"), "source/sha256")?,
            md5: self.string(node.get("md5"), "source/md5")?,
            sha1: self.string(node.get("sha1"), "source/sha1")?,
            file_name: self.string(node.get("fn"), "source/fn")?,
            path: self.string(node.get("path"), "source/path")?,
            git_url: self.string(node.get("git_url"), "source/git_url")?,
            git_rev,
            git_depth,
            folder: self.string(node.get("folder"), "source/folder")?,
            patches: self.strings(node.get("patches"), "source/patches")?,
            no_hoist: self.bool(node.get("no_hoist"), false),
        })
    }

    fn run_exports(&self, node: Option<&Node>) -> Result<RunExports> {
        match node {
            Some(n) if matches!(n.value, Value::Map(_)) => {
                let get = |k: &str| self.strings(n.get(k), &format!("build/run_exports/{k}"));
                Ok(RunExports {
                    weak: get("weak")?,
                    strong: get("strong")?,
                    noarch: get("noarch")?,
                    weak_constrains: get("weak_constrains")?,
                    strong_constrains: get("strong_constrains")?,
                })
            }
            other => Ok(RunExports {
                weak: self.strings(other, "build/run_exports")?,
                ..RunExports::default()
            }),
        }
    }

    fn noarch(&self, node: Option<&Node>) -> Result<NoArchType> {
        let Some(node) = node.filter(|n| !n.is_null()) else {
            return Ok(NoArchType::none());
        };
        if let Some(b) = node.as_bool() {
            return Ok(if b {
                NoArchType::generic()
            } else {
                NoArchType::none()
            });
        }
        match node.as_str() {
            Some("python") => Ok(NoArchType::python()),
            Some("generic") => Ok(NoArchType::generic()),
            other => Err(self.invalid(
                node,
                format!("invalid value for noarch: {other:?}; use `python` or `generic`"),
            )),
        }
    }

    /// The `build` section; `number` and the final `string` are filled in by the caller.
    pub fn build(&mut self, node: &Node, number: u64, string: String) -> Result<Build> {
        const KNOWN: [&str; 51] = [
            "number",
            "string",
            "entry_points",
            "osx_is_app",
            "disable_pip",
            "features",
            "track_features",
            "preserve_egg_dir",
            "no_link",
            "binary_relocation",
            "script",
            "noarch",
            "noarch_python",
            "has_prefix_files",
            "binary_has_prefix_files",
            "ignore_prefix_files",
            "detect_binary_files_with_prefix",
            "skip_compile_pyc",
            "rpaths",
            "rpaths_patcher",
            "script_env",
            "always_include_files",
            "skip",
            "msvc_compiler",
            "pin_depends",
            "include_recipe",
            "preferred_env",
            "preferred_env_executable_paths",
            "run_exports",
            "ignore_run_exports",
            "ignore_run_exports_from",
            "requires_features",
            "provides_features",
            "force_use_keys",
            "force_ignore_keys",
            "merge_build_host",
            "pre-link",
            "post-link",
            "pre-unlink",
            "missing_dso_whitelist",
            "missing_dso_allowlist",
            "runpath_whitelist",
            "runpath_allowlist",
            "error_overdepending",
            "error_overlinking",
            "ignore_glibc_detection",
            "overlinking_ignore_patterns",
            "activate_in_script",
            "ignore_verify_codes",
            "python_site_packages_path",
            "python_version_independent",
        ];
        self.check_keys(node, "build", &KNOWN);
        let s = |r: &Self, k: &str| r.strings(node.get(k), &format!("build/{k}"));
        let script = match node.get("script") {
            Some(n) if matches!(n.value, Value::Seq(_)) => {
                Some(self.strings(Some(n), "build/script")?.join("\n"))
            }
            other => self.string(other, "build/script")?,
        };
        let rpaths = match node.get("rpaths") {
            None => vec!["lib/".to_string()],
            Some(_) => s(self, "rpaths")?
                .into_iter()
                .filter(|r| !r.is_empty())
                .collect(),
        };
        let first_of = |r: &Self, a: &str, b: &str| -> Result<Vec<String>> {
            let mut v = s(r, a)?;
            v.extend(s(r, b)?);
            Ok(v)
        };
        Ok(Build {
            number,
            string,
            noarch: self.noarch(node.get("noarch"))?,
            script,
            script_env: s(self, "script_env")?,
            entry_points: s(self, "entry_points")?,
            run_exports: self.run_exports(node.get("run_exports"))?,
            ignore_run_exports: s(self, "ignore_run_exports")?,
            ignore_run_exports_from: s(self, "ignore_run_exports_from")?,
            track_features: s(self, "track_features")?,
            features: s(self, "features")?,
            rpaths,
            binary_relocation: self.bool_or_globs(
                node.get("binary_relocation"),
                true,
                "build/binary_relocation",
            )?,
            has_prefix_files: s(self, "has_prefix_files")?,
            binary_has_prefix_files: s(self, "binary_has_prefix_files")?,
            ignore_prefix_files: self.bool_or_globs(
                node.get("ignore_prefix_files"),
                false,
                "build/ignore_prefix_files",
            )?,
            detect_binary_files_with_prefix: self
                .bool(node.get("detect_binary_files_with_prefix"), true),
            always_include_files: s(self, "always_include_files")?,
            no_link: s(self, "no_link")?,
            missing_dso_whitelist: first_of(
                self,
                "missing_dso_whitelist",
                "missing_dso_allowlist",
            )?,
            error_overlinking: self.bool(node.get("error_overlinking"), false),
            error_overdepending: self.bool(node.get("error_overdepending"), false),
            ignore_glibc_detection: self.bool(node.get("ignore_glibc_detection"), false),
            runpath_whitelist: first_of(self, "runpath_whitelist", "runpath_allowlist")?,
            skip_compile_pyc: s(self, "skip_compile_pyc")?,
            merge_build_host: node
                .get("merge_build_host")
                .filter(|n| !n.is_null())
                .map(Node::is_truthy),
            include_recipe: self.bool(node.get("include_recipe"), true),
            force_use_keys: s(self, "force_use_keys")?,
            force_ignore_keys: s(self, "force_ignore_keys")?,
            post_link: self.string(node.get("post-link"), "build/post-link")?,
            pre_link: self.string(node.get("pre-link"), "build/pre-link")?,
            pre_unlink: self.string(node.get("pre-unlink"), "build/pre-unlink")?,
        })
    }

    pub fn test(&mut self, node: Option<&Node>) -> Result<Test> {
        let Some(node) = node.filter(|n| !n.is_null()) else {
            return Ok(Test::default());
        };
        const KNOWN: [&str; 8] = [
            "requires",
            "commands",
            "files",
            "imports",
            "source_files",
            "downstreams",
            "script",
            "script_interpreter",
        ];
        self.check_keys(node, "test", &KNOWN);
        let s = |r: &Self, k: &str| r.strings(node.get(k), &format!("test/{k}"));
        // `imports` may hold `{lang: r, imports: [...]}` entries.
        let mut imports = Vec::new();
        if let Some(Value::Seq(items)) = node.get("imports").map(|n| &n.value) {
            for item in items {
                match &item.value {
                    Value::Map(_) => {
                        imports.extend(self.strings(item.get("imports"), "test/imports")?)
                    }
                    _ => imports.extend(self.strings(Some(item), "test/imports")?),
                }
            }
        } else {
            imports = s(self, "imports")?;
        }
        Ok(Test {
            commands: s(self, "commands")?,
            imports,
            requires: s(self, "requires")?,
            files: s(self, "files")?,
            source_files: s(self, "source_files")?,
            downstreams: s(self, "downstreams")?,
            script: self.string(node.get("script"), "test/script")?,
            script_interpreter: self
                .string(node.get("script_interpreter"), "test/script_interpreter")?,
        })
    }

    pub fn about(&mut self, node: Option<&Node>) -> Result<About> {
        let Some(node) = node.filter(|n| !n.is_null()) else {
            return Ok(About::default());
        };
        const SCALARS: [&str; 10] = [
            "home",
            "dev_url",
            "doc_url",
            "doc_source_url",
            "license_url",
            "license",
            "summary",
            "description",
            "license_family",
            "readme",
        ];
        const LISTS: [&str; 5] = [
            "license_file",
            "prelink_message",
            "identifiers",
            "tags",
            "keywords",
        ];
        let known: Vec<&str> = SCALARS.iter().chain(LISTS.iter()).copied().collect();
        self.check_keys(node, "about", &known);
        let mut fields = BTreeMap::new();
        for key in SCALARS {
            if let Some(v) = self.string(node.get(key), &format!("about/{key}"))? {
                fields.insert(key.to_string(), v);
            }
        }
        let s = |r: &Self, k: &str| r.strings(node.get(k), &format!("about/{k}"));
        Ok(About {
            fields,
            license_file: s(self, "license_file")?,
            prelink_message: s(self, "prelink_message")?,
            identifiers: s(self, "identifiers")?,
            tags: s(self, "tags")?,
            keywords: s(self, "keywords")?,
        })
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

    pub fn dependencies(
        &self,
        node: Option<&Node>,
        entries: &[String],
        what: &str,
    ) -> Result<Vec<Dependency>> {
        entries
            .iter()
            .map(|e| {
                Dependency::parse(e).map_err(|message| match node {
                    Some(n) => {
                        self.invalid(n, format!("invalid requirement `{e}` in {what}: {message}"))
                    }
                    None => RecipeError::Invalid {
                        location: super::error::Location::new(self.file, 0, 0),
                        message: format!("invalid requirement `{e}` in {what}: {message}"),
                    },
                })
            })
            .collect()
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
