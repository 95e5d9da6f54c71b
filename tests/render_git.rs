//! `GIT_*` variables in `krait render` (conda-build's `environ.get_git_info`): a `git_url` to a
//! local repository, at HEAD or a `git_rev`; a remote (`file://`) `git_url` mirrored into the
//! git cache; a `path` source at a repository's root; a repository without tags.

mod common;

use common::render::{render, Render};
use std::path::Path;
use std::process::Command;

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with commits `one` and `two`; `tag` (annotated) on `one` when given.
fn repo_with_history(dir: &Path, tag: Option<&str>) {
    git(dir, &["init", "--quiet", "--initial-branch=main"]);
    git(dir, &["config", "user.email", "test@krait.invalid"]);
    git(dir, &["config", "user.name", "krait test"]);
    std::fs::write(dir.join("file.txt"), "one\n").unwrap();
    git(dir, &["add", "file.txt"]);
    git(dir, &["commit", "--quiet", "-m", "one"]);
    if let Some(tag) = tag {
        git(dir, &["tag", "-a", tag, "-m", "release"]);
    }
    std::fs::write(dir.join("file.txt"), "two\n").unwrap();
    git(dir, &["commit", "--quiet", "-am", "two"]);
}

const RECIPE: &str = r#"package:
  name: fromgit
  version: {{ GIT_DESCRIBE_TAG | replace("v", "") }}
source:
  SOURCE
build:
  number: {{ GIT_DESCRIBE_NUMBER }}
  string: {{ GIT_BUILD_STR }}
about:
  summary: "{{ GIT_DESCRIBE_HASH }} {{ GIT_FULL_HASH }} {{ environ['GIT_DESCRIBE_TAG_PEP440'] }}"
"#;

/// `krait render --platform linux-64` from `home`, with krait's folders under it.
fn render_in(recipe_dir: &Path, home: &Path) -> Render {
    render(recipe_dir)
        .platform("linux-64")
        .current_dir(home)
        .env("HOME", home)
        .env("KRAIT_HOME", home.join(".krait"))
}

/// The first output of a successful `--json` render.
fn render_ok(recipe_dir: &Path, home: &Path) -> serde_json::Value {
    render_in(recipe_dir, home).json()[0]["outputs"][0].clone()
}

fn write_recipe(dir: &Path, source: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("meta.yaml"), RECIPE.replace("SOURCE", source)).unwrap();
}

#[test]
fn git_url_to_a_local_repository_head_and_rev() {
    let repo = tempfile::tempdir().unwrap();
    repo_with_history(repo.path(), Some("v1.2.0"));
    let head = git(repo.path(), &["rev-parse", "HEAD"]);
    let short = git(repo.path(), &["rev-parse", "--short=7", "HEAD"]);
    let home = tempfile::tempdir().unwrap();
    let recipe = home.path().join("recipe");

    // `git describe --tags --long HEAD` is v1.2.0-1-g<short>: rsplit("-", 2) gives the tag,
    // the number and the g-prefixed hash; GIT_BUILD_STR is "<number>_<hash>"; the PEP 440 form
    // is "<version>.post<number>+<hash>" (GIT_DESCRIBE_REGEX).
    write_recipe(&recipe, &format!("git_url: {}", repo.path().display()));
    let output = render_ok(&recipe, home.path());
    assert_eq!(output["package"]["version"], "1.2.0");
    assert_eq!(output["build"]["number"], 1);
    assert_eq!(output["build"]["string"], format!("1_g{short}"));
    assert_eq!(
        output["about"]["summary"],
        format!("g{short} {head} v1.2.0.post1+{short}")
    );

    // git_rev names the tag: describe gives v1.2.0-0-g<tagged commit>, PEP 440 "v1.2.0".
    write_recipe(
        &recipe,
        &format!("git_url: {}\n  git_rev: v1.2.0", repo.path().display()),
    );
    let tagged = git(repo.path(), &["rev-parse", "v1.2.0^{commit}"]);
    let output = render_ok(&recipe, home.path());
    assert_eq!(output["build"]["string"], format!("0_g{}", &tagged[..7]));
    assert_eq!(
        output["about"]["summary"],
        format!("g{} {tagged} v1.2.0", &tagged[..7])
    );

    // A git_rev that names nothing is an error naming the recipe and the revision.
    write_recipe(
        &recipe,
        &format!("git_url: {}\n  git_rev: v9", repo.path().display()),
    );
    let err = render_in(&recipe, home.path()).err();
    assert!(
        err.contains("meta.yaml") && err.contains("git_rev `v9`"),
        "{err}"
    );
}

#[test]
fn remote_git_url_is_mirrored_into_the_git_cache() {
    let repo = tempfile::tempdir().unwrap();
    repo_with_history(repo.path(), Some("2.0"));
    let short = git(repo.path(), &["rev-parse", "--short=7", "HEAD"]);
    let home = tempfile::tempdir().unwrap();
    let recipe = home.path().join("recipe");
    let url = format!("file://{}", repo.path().display());
    write_recipe(&recipe, &format!("git_url: {url}"));
    let output = render_ok(&recipe, home.path());
    assert_eq!(output["package"]["version"], "2.0");
    assert_eq!(output["build"]["string"], format!("1_g{short}"));
    // The mirror is named after the URL without its scheme, as conda-build's git_cache.
    let mirror = home
        .path()
        .join(".krait/conda-bld/git_cache")
        .join(repo.path().strip_prefix("/").unwrap());
    assert!(mirror.join("HEAD").is_file(), "{}", mirror.display());

    // A new commit upstream is fetched into the existing mirror on the next render.
    std::fs::write(repo.path().join("file.txt"), "three\n").unwrap();
    git(repo.path(), &["commit", "--quiet", "-am", "three"]);
    let output = render_ok(&recipe, home.path());
    assert_eq!(output["build"]["number"], 2);
}

#[test]
fn path_source_at_the_repository_root() {
    // meta_vars: a `path` source takes GIT_* from the copied `.git` of that folder.
    let repo = tempfile::tempdir().unwrap();
    repo_with_history(repo.path(), Some("v0.5"));
    let short = git(repo.path(), &["rev-parse", "--short=7", "HEAD"]);
    let recipe = repo.path().join("conda.recipe");
    write_recipe(&recipe, "path: ..");
    let home = tempfile::tempdir().unwrap();
    let output = render_ok(&recipe, home.path());
    assert_eq!(output["package"]["version"], "0.5");
    assert_eq!(output["build"]["string"], format!("1_g{short}"));
}

#[test]
fn repository_without_tags_has_only_hashes() {
    // No tag reachable: `describe --all --long` gives the short hash; GIT_DESCRIBE_TAG,
    // GIT_DESCRIBE_NUMBER and GIT_BUILD_STR stay undefined.
    let repo = tempfile::tempdir().unwrap();
    repo_with_history(repo.path(), None);
    let head = git(repo.path(), &["rev-parse", "HEAD"]);
    let home = tempfile::tempdir().unwrap();
    let recipe = home.path().join("recipe");
    std::fs::create_dir_all(&recipe).unwrap();
    std::fs::write(
        recipe.join("meta.yaml"),
        format!(
            "package:\n  name: notags\n  version: 0.0.1\nsource:\n  git_url: {}\nabout:\n  summary: \"{{{{ GIT_DESCRIBE_HASH }}}} {{{{ GIT_FULL_HASH }}}} {{{{ GIT_BUILD_STR is defined }}}} {{{{ GIT_DESCRIBE_TAG is defined }}}}\"\n",
            repo.path().display()
        ),
    )
    .unwrap();
    let output = render_ok(&recipe, home.path());
    assert_eq!(
        output["about"]["summary"],
        format!("g{} {head} False False", &head[..7])
    );
}

#[test]
fn git_url_without_git_on_path_is_a_clear_error() {
    let repo = tempfile::tempdir().unwrap();
    repo_with_history(repo.path(), Some("v1.0"));
    let home = tempfile::tempdir().unwrap();
    let recipe = home.path().join("recipe");
    write_recipe(&recipe, &format!("git_url: {}", repo.path().display()));
    let err = render(&recipe)
        .platform("linux-64")
        .current_dir(home.path())
        .env("PATH", "/nonexistent")
        .env("HOME", home.path())
        .err();
    assert!(
        err.contains("meta.yaml: source: git_url") && err.contains("needs the git command"),
        "{err}"
    );
}
