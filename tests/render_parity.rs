//! `krait render` on the recipes in `tests/parity_recipes/`, each of which names the conda-build
//! function whose behaviour it shows: variant matrices (used-variable detection, the reduced
//! variant set) and the Jinja context (`environ.get_dict`, the loaders).

mod common;

use common::render::{outputs, render};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn parity_recipe(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity_recipes")
        .join(name)
}

#[test]
fn keys_only_jinja_uses_are_variants_and_multiply_the_matrix() {
    let rendered = render(&parity_recipe("flavour-matrix"))
        .platform("linux-64")
        .json();
    let outputs = outputs(&rendered);
    let strings: BTreeSet<&str> = outputs
        .iter()
        .map(|o| o["build"]["string"].as_str().unwrap())
        .collect();
    assert_eq!((outputs.len(), strings.len()), (200, 200));
    assert!(strings.contains("py313_np23_avx512_0"), "{strings:?}");
    // `libflavour-{{ flavour }}` is rendered with each variant's value.
    let hosts: BTreeSet<String> = outputs
        .iter()
        .flat_map(|o| o["requirements"]["host"].as_array().unwrap())
        .filter_map(|r| r.as_str())
        .filter(|r| r.starts_with("libflavour-"))
        .map(String::from)
        .collect();
    assert_eq!(hosts.len(), 8, "{hosts:?}");
    // The rendered variant records the key (get_used_vars).
    assert_eq!(rendered[0]["variant"]["flavour"], "plain");
}

#[test]
fn many_outputs_over_a_nested_matrix_with_unused_pinning_keys() {
    let rendered = render(&parity_recipe("nested-outputs"))
        .platform("linux-64")
        .json();
    let mut per_output: BTreeMap<String, usize> = BTreeMap::new();
    for output in outputs(&rendered) {
        *per_output
            .entry(output["package"]["name"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    // python x numpy x c_compiler_version for the extension; zlib x c_compiler_version for the
    // library; python for each BLAS flavour. The six pinning keys the recipe never names
    // multiply nothing (get_reduced_variant_set).
    let expected: BTreeMap<String, usize> = [
        ("libnested", 4),
        ("nested-py", 24),
        ("nested-openblas", 4),
        ("nested-mkl", 4),
        ("nested-blis", 4),
        ("nested-accelerate", 4),
        ("nested-netlib", 4),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(per_output, expected);
    assert_eq!(per_output.values().sum::<usize>(), 48);
    for variant in rendered.as_array().unwrap() {
        assert!(variant["variant"].get("libtiff").is_none(), "{variant}");
    }
}
