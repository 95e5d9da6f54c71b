//! The build-string hash (`metadata.py: get_hash_contents`, `_hash_dependencies`, `build_id`):
//! SHA-1 of the used variant values serialised exactly like Python's
//! `json.dumps(d, sort_keys=True)`, `h` plus 7 hex digits, nothing for an empty input.

use super::variants::{ensure_list, Variant};
use regex::Regex;
use serde_json::Value as Json;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::sync::LazyLock;

/// conda-build's `config.hash_length`.
pub const HASH_LENGTH: usize = 7;

/// Python's `json.dumps(value, sort_keys=True)`: `", "` and `": "` separators, ASCII only.
pub fn python_json_dumps(value: &Json) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Json, out: &mut String) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Number(n) => out.push_str(&n.to_string()),
        Json::String(s) => write_json_str(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_str(key, out);
                out.push_str(": ");
                write_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `_hash_dependencies`: `h` + the first 7 hex digits of the SHA-1; None for an empty input.
pub fn hash_dependencies(contents: &BTreeMap<String, Json>) -> Option<String> {
    if contents.is_empty() {
        return None;
    }
    let json = python_json_dumps(&Json::Object(contents.clone().into_iter().collect()));
    let digest = Sha1::digest(json.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("h{}", &hex[..HASH_LENGTH]))
}

/// What decides the hash of one output.
pub struct HashInputs<'a> {
    /// `get_used_vars()` of the output.
    pub used_vars: &'a HashSet<String>,
    pub variant: &'a Variant,
    /// numpy is already in the build string (`numpy x.x` or an `x.x` pin_compatible).
    pub numpy_in_build_string: bool,
    /// Rendered `requirements/run` of the output.
    pub run_requirements: &'a [String],
}

/// `get_hash_contents`: used variant values minus what the build string already says
/// (`python`, `r_base`, `perl`, `lua` and every key starting with them), minus
/// `ignore_version`, plus virtual packages in `run`.
pub fn hash_contents(inputs: &HashInputs<'_>) -> BTreeMap<String, Json> {
    let mut excludes: Vec<String> = ["python", "r_base", "perl", "lua"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Some(ignore) = inputs.variant.get("ignore_version") {
        excludes.extend(
            ensure_list(ignore)
                .iter()
                .filter_map(|v| v.as_str().map(String::from)),
        );
    }
    if inputs.used_vars.contains("numpy") && inputs.numpy_in_build_string {
        excludes.push("numpy".into());
    }
    // `re.compile("|".join(rf"{exc}[\s$]?.*" ...)).match(key)` is a prefix match on the key.
    let excluded = |key: &str| excludes.iter().any(|e| key.starts_with(e.as_str()));
    let mut keys: Vec<&String> = inputs
        .used_vars
        .iter()
        .filter(|key| {
            let value_has_space = inputs
                .variant
                .get(key.as_str())
                .and_then(Json::as_str)
                .is_some_and(|v| v.contains(' '));
            !excluded(key) || value_has_space
        })
        .collect();
    keys.sort();
    let mut contents: BTreeMap<String, Json> = if keys == ["target_platform"] {
        BTreeMap::new()
    } else {
        keys.into_iter()
            .filter_map(|k| inputs.variant.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    };
    for req in inputs
        .run_requirements
        .iter()
        // Virtual packages (`__glibc`), not resolved_packages()'s placeholder for a whole
        // environment, which the build replaces with real packages.
        .filter(|r| {
            r.starts_with("__") && !r.starts_with(crate::recipe::jinja::RESOLVED_PACKAGES_MARKER)
        })
    {
        let name = req.split(' ').next().unwrap_or(req);
        contents.insert(name.to_string(), Json::String(req.clone()));
    }
    contents
}

static HASH_IN_STRING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("h[0-9a-f]{{{HASH_LENGTH}}}")).expect("regex"));

/// `build_id`'s hash insertion into a default build string: `py312_0` -> `py312h1a2b3c4_0`,
/// `0` -> `h1a2b3c4_0`; an existing `h<7 hex>` (from `h{{ PKG_HASH }}`) is replaced.
pub fn insert_hash(build_string: &str, hash: Option<&str>) -> String {
    let hash = hash.unwrap_or("");
    if HASH_IN_STRING.is_match(build_string) {
        return HASH_IN_STRING.replace_all(build_string, hash).to_string();
    }
    let (head, tail) = match build_string.rsplit_once('_') {
        Some((head, tail)) => (head, Some(tail)),
        None => (build_string, None),
    };
    let mut out = if head.parse::<i64>().is_ok() {
        if hash.is_empty() {
            head.to_string()
        } else {
            format!("{hash}_{head}")
        }
    } else {
        format!("{head}{hash}")
    };
    if let Some(tail) = tail {
        out = format!("{out}_{tail}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hash_of(value: Json) -> Option<String> {
        let map: BTreeMap<String, Json> = value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        hash_dependencies(&map)
    }

    /// Each case: the dict, the exact `json.dumps(d, sort_keys=True)` bytes conda-build hashes,
    /// and `"h" + hashlib.sha1(those bytes).hexdigest()[:7]` (computed with CPython 3).
    #[test]
    fn hashes_match_conda_build_step_by_step() {
        let cases = [
            // noarch: python recipes on conda-forge: python/python_min are excluded, target_platform is not used by noarch; conda-forge's ubiquitous pyhd8ed1ab_N
            (
                json!({"channel_targets": "conda-forge main"}),
                r#"{"channel_targets": "conda-forge main"}"#,
                "hd8ed1ab",
            ),
            // compiler('c') on conda-forge linux-64 in 2022 (gcc 10, no stdlib()): conda-forge's h166bdaf
            (
                json!({"c_compiler": "gcc", "c_compiler_version": "10", "channel_targets": "conda-forge main", "target_platform": "linux-64"}),
                r#"{"c_compiler": "gcc", "c_compiler_version": "10", "channel_targets": "conda-forge main", "target_platform": "linux-64"}"#,
                "h166bdaf",
            ),
            // gcc 12 (2023): conda-forge's hd590300, e.g. bzip2-1.0.8-hd590300_5
            (
                json!({"c_compiler": "gcc", "c_compiler_version": "12", "channel_targets": "conda-forge main", "target_platform": "linux-64"}),
                r#"{"c_compiler": "gcc", "c_compiler_version": "12", "channel_targets": "conda-forge main", "target_platform": "linux-64"}"#,
                "hd590300",
            ),
            // compiler('c') + stdlib('c') with sysroot 2.12: conda-forge's h4ab18f5, e.g. libzlib-1.3.1-h4ab18f5_1
            (
                json!({"c_compiler": "gcc", "c_compiler_version": "12", "c_stdlib": "sysroot", "c_stdlib_version": "2.12", "channel_targets": "conda-forge main", "target_platform": "linux-64"}),
                r#"{"c_compiler": "gcc", "c_compiler_version": "12", "c_stdlib": "sysroot", "c_stdlib_version": "2.12", "channel_targets": "conda-forge main", "target_platform": "linux-64"}"#,
                "h4ab18f5",
            ),
            // win-64 with stdlib('c') (no *_version keys on windows): conda-forge's h2466b09, e.g. libzlib-1.3.1-h2466b09_2
            (
                json!({"c_compiler": "vs2019", "c_stdlib": "vs", "channel_targets": "conda-forge main", "target_platform": "win-64"}),
                r#"{"c_compiler": "vs2019", "c_stdlib": "vs", "channel_targets": "conda-forge main", "target_platform": "win-64"}"#,
                "h2466b09",
            ),
            // win-64 before stdlib(): conda-forge's hcfcfb64, e.g. bzip2-1.0.8-hcfcfb64_5
            (
                json!({"c_compiler": "vs2019", "channel_targets": "conda-forge main", "target_platform": "win-64"}),
                r#"{"c_compiler": "vs2019", "channel_targets": "conda-forge main", "target_platform": "win-64"}"#,
                "hcfcfb64",
            ),
            // compiler('c') with only conda-build's internal defaults (no channel_targets)
            (
                json!({"c_compiler": "gcc", "target_platform": "linux-64"}),
                r#"{"c_compiler": "gcc", "target_platform": "linux-64"}"#,
                "h9bf148f",
            ),
            // python is excluded from the hash unless its value has a space: conda-forge's `3.12.* *_cpython` stays in
            (
                json!({"python": "3.12.* *_cpython", "target_platform": "linux-64"}),
                r#"{"python": "3.12.* *_cpython", "target_platform": "linux-64"}"#,
                "h24bf083",
            ),
            // a virtual package in run adds `name: spec`
            (
                json!({"__glibc": "__glibc >=2.17", "target_platform": "linux-64"}),
                r#"{"__glibc": "__glibc >=2.17", "target_platform": "linux-64"}"#,
                "hcc556be",
            ),
            // plain used variables (a bare `- zlib` in host, `mpi` in selectors)
            (
                json!({"mpi": "openmpi", "target_platform": "osx-arm64", "zlib": "1.3"}),
                r#"{"mpi": "openmpi", "target_platform": "osx-arm64", "zlib": "1.3"}"#,
                "h47517b5",
            ),
            // numpy stays in the hash when it is not `numpy x.x`-pinned
            (
                json!({"channel_targets": "conda-forge main", "numpy": "2.0", "target_platform": "win-64"}),
                r#"{"channel_targets": "conda-forge main", "numpy": "2.0", "target_platform": "win-64"}"#,
                "hcd61f8c",
            ),
            // a list value serialises as a JSON list with ', ' separators
            (
                json!({"libfoo": ["1.0", "2.0"], "target_platform": "linux-aarch64"}),
                r#"{"libfoo": ["1.0", "2.0"], "target_platform": "linux-aarch64"}"#,
                "h77f2069",
            ),
        ];
        for (dict, bytes, expected) in cases {
            assert_eq!(python_json_dumps(&dict), bytes);
            assert_eq!(hash_of(dict).as_deref(), Some(expected));
        }
        assert_eq!(
            hash_of(json!({})),
            None,
            "an empty hash input gives no hash"
        );
    }

    #[test]
    fn python_json_escapes() {
        assert_eq!(
            python_json_dumps(&json!({"b": ["x", "y"], "a": "é\"\n"})),
            r#"{"a": "\u00e9\"\n", "b": ["x", "y"]}"#
        );
    }

    #[test]
    fn hash_insertion() {
        assert_eq!(insert_hash("py312_0", Some("h1a2b3c4")), "py312h1a2b3c4_0");
        assert_eq!(insert_hash("0", Some("h1a2b3c4")), "h1a2b3c4_0");
        assert_eq!(insert_hash("0", None), "0");
        assert_eq!(insert_hash("py_0", Some("hd8ed1ab")), "pyhd8ed1ab_0");
        assert_eq!(
            insert_hash("cuda_h1234567_3", Some("habcdef0")),
            "cuda_habcdef0_3"
        );
        assert_eq!(
            insert_hash("mkl_py312_1", Some("h0000000")),
            "mkl_py312h0000000_1"
        );
    }
}
