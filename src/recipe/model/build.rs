//! `build`: number, string, noarch, scripts, run exports, relocation and prefix settings,
//! the link scripts and the overlinking checks.

use super::{Reader, Result};
use crate::recipe::yaml::{Node, Value};
use rattler_conda_types::NoArchType;
use serde::Serialize;

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

impl Reader<'_> {
    fn bool_or_globs(&self, node: Option<&Node>, default: bool, what: &str) -> Result<BoolOrGlobs> {
        match node {
            Some(n) if matches!(n.value, Value::Seq(_)) => {
                Ok(BoolOrGlobs::Globs(self.strings(Some(n), what)?))
            }
            Some(n) if !n.is_null() => Ok(BoolOrGlobs::Bool(n.is_truthy())),
            _ => Ok(BoolOrGlobs::Bool(default)),
        }
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
}
