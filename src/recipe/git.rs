//! `GIT_*` variables for recipes whose first source is a git checkout (`environ.meta_vars`,
//! `environ.get_git_info`). conda-build provides the source before the final render when
//! meta.yaml mentions `GIT_...` (`uses_vcs_in_meta`); krait asks git about the same commit
//! without a work folder: a local `git_url` repository directly, a remote one through a mirror
//! in the git cache (as conda-build's `git_cache`), a `path` source through its `.git`.

use super::error::{RecipeError, Result};
use super::model::Source;
use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

/// `uses_vcs_in_meta`: the recipe text names a `GIT_...` variable.
static USES_GIT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"GIT_[^.\s'"]+"#).expect("static regex"));

/// `GIT_DESCRIBE_REGEX`. Python reads `[_-a-zA-Z]` as the range `_`..`a`, then `-`, `z` and
/// `A-Z`; the class is spelled out here with the same members.
static GIT_DESCRIBE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[_`az\-A-Z]*)([a-zA-Z0-9.]+)(?:-(\d+)-g([0-9a-f]{7,}))$")
        .expect("static regex")
});

/// Whether conda-build would provide the source to render this recipe text.
pub fn uses_git(text: &str, package_name: Option<&str>) -> bool {
    USES_GIT.is_match(text) && package_name != Some("git")
}

/// Where git finds the repository.
#[derive(Debug)]
enum Repo {
    /// A working tree or bare repository (`git -C`).
    Dir(PathBuf),
    /// A `.git` directory or file (`git --git-dir`).
    GitDir(PathBuf),
}

impl Repo {
    /// First line of a git command's output; None when git is missing or fails.
    fn git(&self, args: &[&str]) -> Option<String> {
        let mut command = Command::new("git");
        match self {
            Repo::Dir(dir) => command.arg("-C").arg(dir),
            Repo::GitDir(dir) => command.arg("--git-dir").arg(dir),
        };
        let out = command.args(args).output().ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .next()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
    }
}

/// Memoises git answers per repository and revision (conda-build caches `verify_git_repo`);
/// every variant of a recipe asks the same question.
#[derive(Debug, Default)]
pub struct GitCache {
    answers: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// Whether `git` runs at all (conda-build's `find_executable("git")`), asked once.
    git_found: Option<bool>,
}

impl GitCache {
    /// The `GIT_*` variables of the first source, or none when it is not a git checkout.
    pub fn vars(
        &mut self,
        source: &Source,
        recipe_dir: &Path,
        mirrors: &Path,
        meta_path: &Path,
    ) -> Result<BTreeMap<String, String>> {
        let git_found = *self.git_found.get_or_insert_with(|| {
            Command::new("git")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        if !git_found {
            return match &source.git_url {
                Some(url) => Err(RecipeError::Source {
                    file: meta_path.to_path_buf(),
                    message: format!("git_url {url} needs the git command; install git"),
                }),
                None => Ok(BTreeMap::new()),
            };
        }
        // Asked once per source and revision: every variant of a recipe shares its source, so
        // a remote is fetched once per render.
        let rev = match &source.git_url {
            Some(_) => source.git_rev.clone().unwrap_or_else(|| "HEAD".into()),
            None => "HEAD".into(),
        };
        let key = (
            format!(
                "{:?} {:?} {:?}",
                source.git_url, source.path, source.git_depth
            ),
            rev.clone(),
        );
        if let Some(vars) = self.answers.get(&key) {
            return Ok(vars.clone());
        }
        let repo = if let Some(url) = &source.git_url {
            let local = recipe_dir.join(url);
            if !url.contains("://") && local.exists() {
                Repo::Dir(local)
            } else {
                Repo::Dir(self.mirror(url, source.git_depth, mirrors, meta_path)?)
            }
        } else if let Some(path) = &source.path {
            Repo::GitDir(recipe_dir.join(path).join(".git"))
        } else {
            return Ok(BTreeMap::new());
        };
        if let Repo::GitDir(git_dir) = &repo {
            if !git_dir.exists() {
                self.answers.insert(key, BTreeMap::new());
                return Ok(BTreeMap::new());
            }
        }
        let commit = format!("{rev}^{{commit}}");
        if source.git_url.is_some() && repo.git(&["rev-parse", "--verify", &commit]).is_none() {
            return Err(RecipeError::Source {
                file: meta_path.to_path_buf(),
                message: format!(
                    "git_rev `{rev}` is not a commit, branch or tag of {}",
                    source.git_url.as_deref().unwrap_or_default()
                ),
            });
        }
        let vars = describe(&repo, &commit);
        self.answers.insert(key, vars.clone());
        Ok(vars)
    }

    /// `git_mirror_checkout_recursive`: a `--mirror` clone under the cache, fetched again
    /// when it exists.
    fn mirror(
        &self,
        url: &str,
        depth: Option<i64>,
        mirrors: &Path,
        meta_path: &Path,
    ) -> Result<PathBuf> {
        let mut name = url
            .rsplit("://")
            .next()
            .unwrap_or(url)
            .trim_start_matches('/')
            .replace(':', "_");
        if let Some(depth) = depth.filter(|d| *d > 0) {
            name = format!("{name}_{depth}");
        }
        let dir = mirrors.join(name);
        let mut command = Command::new("git");
        if dir.join("HEAD").is_file() {
            command
                .arg("-C")
                .arg(&dir)
                .args(["fetch", "--quiet", "--tags"]);
        } else {
            command.args(["clone", "--quiet", "--mirror"]);
            if let Some(depth) = depth.filter(|d| *d > 0) {
                command.arg("--depth").arg(depth.to_string());
            }
            command.arg(url).arg(&dir);
        }
        let failed = |message: String| RecipeError::Source {
            file: meta_path.to_path_buf(),
            message: format!(
                "cannot fetch git_url {url} into {}: {message}",
                dir.display()
            ),
        };
        let out = command.output().map_err(|e| failed(e.to_string()))?;
        if !out.status.success() {
            return Err(failed(String::from_utf8_lossy(&out.stderr).trim().into()));
        }
        Ok(dir)
    }
}

/// `get_git_info` for one commit.
fn describe(repo: &Repo, commit: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    if let Some(output) = repo.git(&["describe", "--tags", "--long", commit]) {
        let parts: Vec<&str> = output.rsplitn(3, '-').collect();
        if let [hash, number, tag] = parts[..] {
            vars.insert("GIT_DESCRIBE_TAG".into(), tag.to_string());
            vars.insert("GIT_DESCRIBE_NUMBER".into(), number.to_string());
            vars.insert("GIT_DESCRIBE_HASH".into(), hash.to_string());
        }
        vars.insert("GIT_DESCRIBE_TAG_PEP440".into(), pep440(&output));
    }
    // No tag reachable: only the short hash, from describing with every ref.
    if !vars.contains_key("GIT_DESCRIBE_HASH") {
        if let Some(output) = repo.git(&["describe", "--all", "--long", commit]) {
            let parts: Vec<&str> = output.rsplitn(3, '-').collect();
            if parts.len() == 3 {
                vars.insert("GIT_DESCRIBE_HASH".into(), parts[0].to_string());
            }
        }
    }
    if let Some(full) = repo.git(&["rev-parse", commit]) {
        vars.insert("GIT_FULL_HASH".into(), full);
    }
    if let (Some(number), Some(hash)) = (
        vars.get("GIT_DESCRIBE_NUMBER"),
        vars.get("GIT_DESCRIBE_HASH"),
    ) {
        let build = format!("{number}_{hash}");
        vars.insert("GIT_BUILD_STR".into(), build);
    }
    vars
}

/// `get_version_from_git_tag`, printed with Python's `str()` (`None` when it does not parse).
fn pep440(describe: &str) -> String {
    match GIT_DESCRIBE.captures(describe) {
        Some(c) if &c[2] == "0" => c[1].to_string(),
        Some(c) => format!("{}.post{}+{}", &c[1], &c[2], &c[3]),
        None => "None".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep440_like_conda_build() {
        assert_eq!(pep440("v1.2.0-0-gabc1234"), "v1.2.0");
        assert_eq!(pep440("1.2.0-3-gabc1234def"), "1.2.0.post3+abc1234def");
        // `_` and `-` are in the prefix class, `r` is not.
        assert_eq!(pep440("_-1.0-2-gabc1234"), "1.0.post2+abc1234");
        assert_eq!(pep440("rel-1.0-2-gabc1234"), "None");
        assert_eq!(pep440("heads/main-0-gabc1234"), "None");
    }

    #[test]
    fn detects_git_variables_like_uses_vcs_in_meta() {
        assert!(uses_git("version: {{ GIT_DESCRIBE_TAG }}", Some("foo")));
        assert!(!uses_git("version: {{ GIT_DESCRIBE_TAG }}", Some("git")));
        assert!(!uses_git("script: echo GIT_", Some("foo")));
    }
}
