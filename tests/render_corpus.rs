//! Renders every recipe under tests/recipes/ for linux-64, osx-arm64 and win-64 with the
//! built `krait` binary and checks the result against the hand-written `expected.yaml` next
//! to each recipe (each expectation carries the conda-build rule that justifies it).

mod common;

use common::render::render;
use serde_json::Value;
use std::path::{Path, PathBuf};

const PLATFORMS: [&str; 3] = ["linux-64", "osx-arm64", "win-64"];

fn recipes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recipes")
}

/// `krait render --json` of one recipe for one platform (built there), in a controlled
/// environment.
fn render_for(recipe: &Path, platform: &str) -> Value {
    render(recipe)
        .platform(platform)
        .args(["--build-platform", platform, "--quiet", "-m"])
        .args([recipes_dir().join("conda_build_config.yaml")])
        .env("ENVVARS_FAST", "1")
        .env("ENVVARS_TOKEN", "secret")
        .json()
}

fn outputs(rendered: &Value) -> Vec<&Value> {
    rendered
        .as_array()
        .expect("a list of variants")
        .iter()
        .flat_map(|v| v["outputs"].as_array().expect("outputs").iter())
        .collect()
}

fn dist(output: &Value) -> String {
    format!(
        "{}-{}-{}",
        output["package"]["name"].as_str().unwrap(),
        output["package"]["version"].as_str().unwrap(),
        output["build"]["string"].as_str().unwrap()
    )
}

/// Follow a `/`-separated path (`requirements/run`) into a JSON value.
fn lookup<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('/').fold(value, |v, key| &v[key])
}

#[test]
fn corpus_renders_as_expected() {
    let mut recipes: Vec<PathBuf> = std::fs::read_dir(recipes_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.yaml").is_file())
        .collect();
    recipes.sort();
    assert!(
        recipes.len() >= 20,
        "the corpus has {} recipes",
        recipes.len()
    );
    let mut failures = Vec::new();
    for recipe in &recipes {
        let expected_path = recipe.join("expected.yaml");
        let expected: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|_| panic!("{} is missing", expected_path.display())),
        )
        .unwrap();
        let expected: Value = serde_json::to_value(expected).unwrap();
        for platform in PLATFORMS {
            let rendered = render_for(recipe, platform);
            let actual = outputs(&rendered);
            let wanted = expected[platform].as_array().cloned().unwrap_or_default();
            let actual_dists: Vec<String> = actual.iter().map(|o| dist(o)).collect();
            let wanted_dists: Vec<String> = wanted
                .iter()
                .map(|w| w["dist"].as_str().unwrap().to_string())
                .collect();
            if actual_dists != wanted_dists {
                failures.push(format!(
                    "{} {platform}: outputs\n  actual:   {actual_dists:?}\n  expected: {wanted_dists:?}",
                    recipe.display()
                ));
                continue;
            }
            for (want, have) in wanted.iter().zip(&actual) {
                for (field, value) in want.as_object().unwrap() {
                    if field == "dist" {
                        continue;
                    }
                    let got = lookup(have, field);
                    if got != value {
                        failures.push(format!(
                            "{} {platform} {}: `{field}`\n  actual:   {got}\n  expected: {value}",
                            recipe.display(),
                            dist(have)
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
