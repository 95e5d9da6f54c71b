//! The build string: conda-build's `build_string_from_metadata` prefix (`py312_0`), or the
//! recipe's own `build/string`, with the hash of the used variant inserted.

use super::requirements::{first_token, variant_string, RawRequirements};
use super::sections::requirements_text;
use super::{Draft, VariantInputs};
use crate::recipe::error::Result;
use crate::recipe::hash::{hash_contents, hash_dependencies, insert_hash, HashInputs};
use crate::recipe::model::{Build, Reader};
use crate::recipe::variants::Variant;
use regex::Regex;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

static NUMPY_XX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(numpy\s*x\.x)|pin_compatible\(['"]numpy.*max_pin=['"]x\.x['"]"#).expect("regex")
});
static NUMPY_COMPATIBLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"pin_\w+\(['"]numpy['"]"#).expect("regex"));
static NUMPY_MAX_PIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"pin_\w+\(['"]numpy['"].*x_pin=['"]([x\.]*)['"]"#).expect("regex")
});
static PKG_HASH_IN_STRING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"h\{\{\s*PKG_HASH\s*\}\}").expect("regex"));

/// The draft's build string and the hash input it was made from: `build/string` as written
/// (checked), with `{{ PKG_HASH }}` filled in, or conda-build's default.
pub(super) fn build_string(
    draft: &Draft,
    build: &Build,
    used: &HashSet<String>,
    inputs: &VariantInputs<'_>,
    reader: &Reader<'_>,
) -> Result<(String, BTreeMap<String, Json>)> {
    let reqs_text = requirements_text(&draft.raw_text);
    let numpy_xx = NUMPY_XX.is_match(&reqs_text);
    let numpy_pinned_xx = NUMPY_COMPATIBLE.is_match(&reqs_text)
        && NUMPY_MAX_PIN
            .captures(&reqs_text)
            .is_some_and(|c| c[1].matches('x').count() == 2);
    let contents = hash_contents(&HashInputs {
        used_vars: used,
        variant: inputs.variant,
        numpy_in_build_string: numpy_xx || numpy_pinned_xx,
        run_requirements: &draft.reqs.run,
    });
    let hash = hash_dependencies(&contents);
    let manual = reader.string(draft.build_node.get("string"), "build/string")?;
    let uses_pkg_hash =
        draft.raw_text.contains("string:") && PKG_HASH_IN_STRING.is_match(&draft.raw_text);
    let string = match manual {
        Some(manual) if !uses_pkg_hash => {
            if let Some(bad) = manual
                .chars()
                .find(|c| "=@#$%^&*:;\"'\\|<>?/ -!".contains(*c))
            {
                return Err(reader.invalid(
                    draft.build_node.get("string").unwrap_or(&draft.node),
                    format!("bad character `{bad}` in build/string `{manual}`"),
                ));
            }
            manual
        }
        Some(manual) => insert_hash(&manual, hash.as_deref()),
        None => insert_hash(
            &default_build_string(
                &draft.reqs,
                inputs.variant,
                build.noarch.is_python(),
                numpy_xx,
                &build.features,
                draft.number,
            ),
            hash.as_deref(),
        ),
    };
    Ok((string, contents))
}

/// `build_string_from_metadata`: `py312_0`-style prefix tokens, features, build number.
fn default_build_string(
    reqs: &RawRequirements,
    variant: &Variant,
    noarch_python: bool,
    numpy_xx: bool,
    features: &[String],
    number: u64,
) -> String {
    let build_deps = if reqs.has_host {
        &reqs.host
    } else {
        &reqs.build
    };
    let build_names: HashSet<&str> = build_deps.iter().map(|r| first_token(r)).collect();
    let run_names: Vec<&str> = reqs.run.iter().map(|r| first_token(r)).collect();
    let mut res: Vec<String> = Vec::new();
    let tokens: [(&str, &[&str], usize); 7] = [
        ("np", &["numpy"], 2),
        ("py", &["python"], 2),
        ("pl", &["perl"], 3),
        ("lua", &["lua"], 2),
        ("r", &["r", "r-base"], 2),
        ("mro", &["mro-base"], 3),
        ("mro", &["mro-base_impl"], 3),
    ];
    for (prefix, names, places) in tokens {
        for run_name in &run_names {
            for name in names {
                if run_name != name || !build_names.contains(name) {
                    continue;
                }
                if *name == "numpy" && !numpy_xx {
                    continue;
                }
                if *name == "python" && noarch_python {
                    res.push(prefix.to_string());
                    continue;
                }
                let mut candidates: Vec<String> = names.iter().map(|n| n.to_string()).collect();
                candidates.extend(
                    names
                        .iter()
                        .filter(|n| n.contains('-'))
                        .map(|n| n.replace('-', "_")),
                );
                let mut version = String::new();
                for candidate in &candidates {
                    version = build_deps
                        .iter()
                        .filter(|spec| first_token(spec) == candidate)
                        .filter_map(|spec| spec.split_whitespace().nth(1))
                        .next_back()
                        .map(String::from)
                        .or_else(|| variant_string(variant, &candidate.replace('-', "_")))
                        .unwrap_or_default();
                    if !version.is_empty() {
                        break;
                    }
                }
                let entry = format!(
                    "{prefix}{}",
                    version.split('.').take(places).collect::<String>()
                );
                if !res.contains(&entry) {
                    res.push(entry);
                }
            }
        }
    }
    if !res.is_empty() {
        res.push("_".into());
    }
    if !features.is_empty() {
        res.push(features.join("_"));
        res.push("_".into());
    }
    res.push(number.to_string());
    res.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_string_prefixes() {
        let reqs = RawRequirements {
            host: vec!["python 3.12.*".into(), "numpy 2.0.*".into()],
            run: vec!["python >=3.12,<3.13.0a0".into(), "numpy".into()],
            has_host: true,
            ..RawRequirements::default()
        };
        let variant = Variant::new();
        assert_eq!(
            default_build_string(&reqs, &variant, false, false, &[], 0),
            "py312_0"
        );
        assert_eq!(
            default_build_string(&reqs, &variant, false, true, &[], 1),
            "np20py312_1"
        );
        assert_eq!(
            default_build_string(&reqs, &variant, true, false, &[], 0),
            "py_0"
        );
        assert_eq!(
            default_build_string(&RawRequirements::default(), &variant, false, false, &[], 2),
            "2"
        );
    }
}
