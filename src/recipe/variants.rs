//! Variant configuration (`variants.py`): loading `conda_build_config.yaml` files, merging them
//! with zip_keys and extend_keys, exploding the matrix, selecting subspaces, and deciding which
//! variables a recipe uses with conda-build's regexes.

use super::error::{RecipeError, Result};
use super::selectors::{select_lines, Namespace};
use super::yaml;
use regex::Regex;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

/// One point of the matrix: key -> value (strings; lists or dicts for special keys).
pub type Variant = BTreeMap<String, Json>;

/// One source of variant settings and where it came from (a file path or a CLI flag).
#[derive(Debug, Clone)]
pub struct VariantSpec {
    pub source: String,
    pub values: Map<String, Json>,
}

/// Keys that are merged across files instead of replaced, before any file adds its own.
const DEFAULT_EXTEND_KEYS: [&str; 4] = [
    "pin_run_as_build",
    "ignore_version",
    "ignore_build_only_deps",
    "extend_keys",
];

pub fn ensure_list(value: &Json) -> Vec<Json> {
    match value {
        Json::Array(items) => items.clone(),
        Json::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

fn is_empty(value: &Json) -> bool {
    match value {
        Json::Null => true,
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The `--variants` value of `conda build`: a YAML mapping such as `{python: [3.10, 3.11]}`,
/// read like a config file (every scalar a string, so `3.10` stays `3.10`); each value a list.
pub fn parse_variants_text(text: &str) -> Result<Map<String, Json>> {
    let source = Path::new("--variants");
    let invalid = |message: String| RecipeError::Variant {
        file: source.to_path_buf(),
        message,
    };
    match yaml::parse(text, source)?.to_base_json() {
        Json::Object(map) => Ok(map
            .into_iter()
            .filter(|(_, v)| !is_empty(v))
            .map(|(k, v)| (k, Json::Array(ensure_list(&v))))
            .collect()),
        other => Err(invalid(format!(
            "expected a mapping such as {{python: [3.10, 3.11]}}, got {other}"
        ))),
    }
}

/// Read one `conda_build_config.yaml`: selectors applied, every scalar a string (BaseLoader),
/// empty keys dropped (`trim_empty_keys`).
pub fn load_config_file(path: &Path, namespace: &Namespace) -> Result<VariantSpec> {
    let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let selected = select_lines(&text, namespace, path)?;
    let root = yaml::parse(&selected.text, path)
        .map_err(|e| e.map_line(path, |l| selected.original_line(l)))?;
    let values = match root.to_base_json() {
        Json::Object(map) => map,
        Json::String(s) if s.is_empty() => Map::new(),
        _ => {
            return Err(RecipeError::Variant {
                file: path.to_path_buf(),
                message: "the top level must be a mapping of variable names to values".into(),
            })
        }
    };
    let values = values.into_iter().filter(|(_, v)| !is_empty(v)).collect();
    Ok(VariantSpec {
        source: path.display().to_string(),
        values,
    })
}

/// zip_keys as a list of groups (a single flat list is one group).
fn zip_groups(value: Option<&Json>) -> Vec<Vec<String>> {
    let Some(Json::Array(items)) = value else {
        return Vec::new();
    };
    let items: Vec<&Json> = items.iter().filter(|i| !is_empty(i)).collect();
    if items.iter().all(|i| i.is_string()) {
        if items.is_empty() {
            return Vec::new();
        }
        return vec![items
            .iter()
            .filter_map(|i| i.as_str().map(String::from))
            .collect()];
    }
    items
        .iter()
        .map(|group| {
            ensure_list(group)
                .iter()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .collect()
}

/// `validate_spec`: no `-` in keys, zip groups defined, disjoint and of equal lengths.
fn validate_spec(spec: &VariantSpec) -> Result<()> {
    let mut errors = Vec::new();
    for key in spec.values.keys().filter(|k| k.contains('-')) {
        errors.push(format!(
            "key `{key}` contains an invalid character '-' (use `_`)"
        ));
    }
    let groups = zip_groups(spec.values.get("zip_keys"));
    let mut seen = HashSet::new();
    for group in &groups {
        for key in group {
            if !seen.insert(key) {
                errors.push(format!("zip_keys entry `{key}` is in more than one group"));
            }
        }
        let lengths: HashSet<usize> = group
            .iter()
            .filter_map(|k| spec.values.get(k).map(|v| ensure_list(v).len()))
            .collect();
        if lengths.len() > 1 {
            errors.push(format!(
                "zip_keys group {group:?} has values of different lengths"
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RecipeError::Variant {
            file: spec.source.clone().into(),
            message: errors.join("; "),
        })
    }
}

fn extend_keys(specs: &[VariantSpec]) -> Vec<String> {
    let mut keys: Vec<String> = DEFAULT_EXTEND_KEYS.iter().map(|k| k.to_string()).collect();
    for spec in specs {
        if let Some(v) = spec.values.get("extend_keys") {
            keys.extend(
                ensure_list(v)
                    .iter()
                    .filter_map(|k| k.as_str().map(String::from)),
            );
        }
    }
    keys
}

fn dedup_in_order(items: Vec<Json>) -> Vec<Json> {
    let mut out: Vec<Json> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// `combine_specs`: later specs clobber earlier ones; extend_keys merge; a zipped key may only
/// be replaced together with its whole group, or narrowed to a subset of its values.
pub fn combine_specs(specs: &[VariantSpec]) -> Result<Map<String, Json>> {
    for spec in specs {
        validate_spec(spec)?;
    }
    let extend = extend_keys(specs);
    let mut zip_keys: Vec<Vec<String>> = Vec::new();
    for spec in specs {
        for group in zip_groups(spec.values.get("zip_keys")) {
            if !zip_keys.contains(&group) {
                zip_keys.push(group);
            }
        }
    }
    let mut values: Map<String, Json> = Map::new();
    for spec in specs {
        for (key, value) in &spec.values {
            if extend.contains(key) {
                match (value, values.get_mut(key)) {
                    (Json::Object(new), Some(Json::Object(old))) => {
                        old.extend(new.clone());
                    }
                    (Json::Object(new), _) => {
                        values.insert(key.clone(), Json::Object(new.clone()));
                    }
                    (new, old) => {
                        let mut merged = old.map(|o| ensure_list(o)).unwrap_or_default();
                        merged.extend(ensure_list(new));
                        values.insert(key.clone(), Json::Array(dedup_in_order(merged)));
                    }
                }
            } else if key == "zip_keys" {
                let groups = zip_keys
                    .iter()
                    .map(|g| Json::Array(g.iter().map(|k| Json::String(k.clone())).collect()))
                    .collect();
                values.insert(key.clone(), Json::Array(groups));
            } else if value.is_object() {
                values.insert(key.clone(), value.clone());
            } else {
                let group: Vec<String> = zip_keys
                    .iter()
                    .find(|g| g.contains(key))
                    .cloned()
                    .unwrap_or_else(|| vec![key.clone()]);
                let new_len = ensure_list(value).len();
                if group.iter().all(|k| spec.values.contains_key(k)) {
                    for member in &group {
                        values.insert(
                            member.clone(),
                            Json::Array(ensure_list(&spec.values[member])),
                        );
                    }
                } else if let Some(existing) = values.get(key).cloned() {
                    let lengths_match = group.iter().all(|member| {
                        spec.values
                            .get(member)
                            .is_none_or(|v| ensure_list(v).len() == new_len)
                            && values
                                .get(member)
                                .is_none_or(|v| ensure_list(v).len() == new_len)
                    });
                    let current = if lengths_match {
                        values.insert(key.clone(), Json::Array(ensure_list(value)));
                        ensure_list(value)
                    } else {
                        ensure_list(&existing)
                    };
                    if ensure_list(value).iter().any(|v| !current.contains(v)) {
                        return Err(RecipeError::Variant {
                            file: spec.source.clone().into(),
                            message: format!(
                                "`{key}` is zipped with {group:?}: set all of them together, or \
                                 only select a subset of the values already configured"
                            ),
                        });
                    }
                }
            }
        }
    }
    Ok(values)
}

/// One dimension of the matrix: keys that advance together (one key, or a zip group) and
/// their rows of values.
#[derive(Debug, Clone)]
struct Dimension {
    keys: Vec<String>,
    rows: Vec<Vec<Json>>,
}

/// The matrix before its Cartesian product: values every variant shares (extend keys,
/// `replacements`) and the dimensions, sorted by their first key so the product is
/// deterministic (`explode_variants`).
fn dimensions(spec: &Map<String, Json>) -> (Variant, Vec<Dimension>) {
    let zip_keys = zip_groups(spec.get("zip_keys"));
    let zipped: HashSet<&String> = zip_keys.iter().flatten().collect();
    let extend: HashSet<String> = {
        let mut keys: HashSet<String> = DEFAULT_EXTEND_KEYS.iter().map(|k| k.to_string()).collect();
        keys.insert("zip_keys".into());
        if let Some(v) = spec.get("extend_keys") {
            keys.extend(
                ensure_list(v)
                    .iter()
                    .filter_map(|k| k.as_str().map(String::from)),
            );
        }
        keys
    };
    let passthru: Vec<&String> = spec
        .keys()
        .filter(|k| {
            (k.as_str() == "replacements" || extend.contains(k.as_str())) && !zipped.contains(k)
        })
        .collect();
    let mut dims: Vec<Dimension> = Vec::new();
    let mut keys: Vec<&String> = spec
        .keys()
        .filter(|k| !passthru.contains(k) && !zipped.contains(k))
        .collect();
    keys.sort();
    for key in keys {
        let rows: Vec<Vec<Json>> = ensure_list(&spec[key])
            .into_iter()
            .map(|v| vec![v])
            .collect();
        if !rows.is_empty() {
            dims.push(Dimension {
                keys: vec![key.clone()],
                rows,
            });
        }
    }
    for group in &zip_keys {
        let columns: Vec<Vec<Json>> = group
            .iter()
            .map(|k| spec.get(k).map(ensure_list).unwrap_or_default())
            .collect();
        let len = columns.iter().map(Vec::len).min().unwrap_or(0);
        let rows: Vec<Vec<Json>> = (0..len)
            .map(|i| columns.iter().map(|c| c[i].clone()).collect())
            .collect();
        if !rows.is_empty() {
            dims.push(Dimension {
                keys: group.clone(),
                rows,
            });
        }
    }
    dims.sort_by(|a, b| a.keys[0].cmp(&b.keys[0]));
    let base: Variant = passthru
        .iter()
        .filter(|k| !is_empty(&spec[k.as_str()]) || spec[k.as_str()] == Json::String(String::new()))
        .map(|k| ((*k).clone(), spec[k.as_str()].clone()))
        .collect();
    (base, dims)
}

/// The Cartesian product of the dimensions over `base`, the last dimension varying fastest.
fn product(base: Variant, dims: &[Dimension]) -> Vec<Variant> {
    let mut variants = vec![base];
    for dim in dims {
        let mut next = Vec::with_capacity(variants.len() * dim.rows.len());
        for variant in &variants {
            for row in &dim.rows {
                let mut v = variant.clone();
                for (k, value) in dim.keys.iter().zip(row) {
                    v.insert(k.clone(), value.clone());
                }
                next.push(v);
            }
        }
        variants = next;
    }
    variants
}

/// `explode_variants`: the Cartesian product over non-special keys, zip groups advancing
/// together.
pub fn explode(spec: &Map<String, Json>) -> Vec<Variant> {
    let (base, dims) = dimensions(spec);
    product(base, &dims)
}

/// Whether a variant's `have` value is among the `wanted` values of a later config
/// (`filter_by_key_value`; Python's `x in "str"` is a substring test).
fn selected_by(have: &Json, wanted: &Json) -> bool {
    match (have, wanted) {
        (Json::Null, _) => false,
        (Json::String(have), Json::String(w)) => w.contains(have.as_str()),
        (have, Json::Array(items)) => items.contains(have),
        (have, w) => have == w,
    }
}

/// The variants of a combined spec, reduced as conda-build reduces them:
///
/// - `filter_combined_spec_to_used_keys`: later sources select subspaces of the matrix, the
///   highest-priority source first; a filter that would remove every variant is ignored (it was
///   an override, not a selection);
/// - `get_reduced_variant_set`: a dimension none of whose keys `relevant` accepts keeps only
///   its first row, so keys the recipe never mentions do not multiply the matrix.
///
/// Each dimension is independent of the others in a Cartesian product, so filtering and
/// collapsing happen per dimension before the product is formed: the result is the same as
/// exploding everything and filtering afterwards, at the cost of the variants kept only.
pub fn variant_matrix(
    spec: &Map<String, Json>,
    later_specs: &[VariantSpec],
    relevant: impl Fn(&str) -> bool,
) -> Vec<Variant> {
    let (base, mut dims) = dimensions(spec);
    let extend = extend_keys(later_specs);
    for source in later_specs.iter().rev() {
        for (key, wanted) in &source.values {
            if extend.contains(key) || wanted.is_object() {
                continue;
            }
            // A key outside every dimension is the same in every variant: its filter keeps all
            // of them or none, and none is ignored.
            let Some(dim) = dims.iter_mut().find(|d| d.keys.contains(key)) else {
                continue;
            };
            let column = dim.keys.iter().position(|k| k == key).expect("key of dim");
            let kept: Vec<Vec<Json>> = dim
                .rows
                .iter()
                .filter(|row| selected_by(&row[column], wanted))
                .cloned()
                .collect();
            if !kept.is_empty() {
                dim.rows = kept;
            }
        }
    }
    for dim in &mut dims {
        if !dim.keys.iter().any(|k| relevant(k)) {
            dim.rows.truncate(1);
        }
    }
    product(base, &dims)
}

/// Compiled regexes per (variant key, selectors_only).
type RegexCache = HashMap<(String, bool), Option<Arc<Regex>>>;

static REGEX_CACHE: LazyLock<Mutex<RegexCache>> = LazyLock::new(Mutex::default);

/// The combined regex conda-build's `find_used_variables_in_text` builds for one key.
/// Shared through an `Arc`: a cloned `Regex` would rebuild its lazy DFA cache on every use.
fn used_variable_regex(key: &str, selectors_only: bool) -> Option<Arc<Regex>> {
    let mut cache = REGEX_CACHE.lock().expect("regex cache");
    cache
        .entry((key.to_string(), selectors_only))
        .or_insert_with(|| {
            let v = regex::escape(key);
            let mut parts = Vec::new();
            if let Some(caps) = COMPILER_KEY.captures(key) {
                if !selectors_only {
                    parts.push(format!(
                        r#"\{{\s*{}\(['"]{}["'][^\{{]*?\}}"#,
                        &caps[2],
                        regex::escape(&caps[1])
                    ));
                }
            }
            let v_req = key
                .split('_')
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join("[-_]");
            if selectors_only {
                // `(?<![_\w\d])v` has no lookbehind in Rust's regex: the char before v is part
                // of the bracket content and must not be a word char.
                parts.insert(
                    0,
                    format!(r"^[^#\[]*?\#?\s\[(?:[^\]]*?[^\]\w])?{v}[=\s<>!\]]"),
                );
            } else {
                parts.push(format!(
                    r#"\{{\s*(?:pin_[a-z]+\(\s*?['"])?{v}[^'"]*?\}}\}}"#
                ));
                parts.push(format!(r"^\s+\-\s+{v_req}\s*(?:\s[\[#]|$)"));
                parts.push(format!(
                    r"(?:^|[^\{{])\{{%\s*(?:el)?if\s*.*{v}\s*(?:[^%]*?)?%\}}"
                ));
            }
            Regex::new(&parts.join("|")).ok().map(Arc::new)
        })
        .clone()
}

/// `<lang>_compiler[_version]` and `<lang>_stdlib[_version]` keys are used through
/// `compiler('<lang>')` / `stdlib('<lang>')`.
static COMPILER_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.*?)_(compiler|stdlib)(?:_version)?$").expect("regex"));

/// `find_used_variables_in_text`: which variant keys the recipe text mentions, line by line.
pub fn find_used_variables_in_text<'a>(
    keys: impl IntoIterator<Item = &'a String>,
    text: &str,
    selectors_only: bool,
) -> HashSet<String> {
    let lines: Vec<&str> = text.lines().collect();
    let dashed: Vec<String> = lines.iter().map(|l| l.replace('-', "_")).collect();
    let mut used = HashSet::new();
    let all_keys: Vec<&String> = keys.into_iter().collect();
    for key in &all_keys {
        // `cdt('name')` renders with cdt_name/cdt_arch, so it uses every `cdt_*` key.
        if !selectors_only && key.starts_with("cdt_") && text.contains("cdt(") {
            used.insert((*key).clone());
            continue;
        }
        let compiler_lang = COMPILER_KEY
            .captures(key)
            .filter(|_| !selectors_only)
            .map(|c| c[1].to_string());
        let candidates: Vec<&str> = lines
            .iter()
            .zip(&dashed)
            .filter(|(line, dashed)| match &compiler_lang {
                Some(lang) => line.contains(key.as_str()) || line.contains(lang.as_str()),
                None => dashed.contains(key.as_str()),
            })
            .map(|(line, _)| *line)
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let Some(regex) = used_variable_regex(key, selectors_only) else {
            continue;
        };
        if candidates.iter().any(|line| regex.is_match(line)) {
            used.insert((*key).clone());
            if matches!(key.as_str(), "c_compiler" | "cxx_compiler")
                && all_keys.iter().any(|k| *k == "CONDA_BUILD_SYSROOT")
            {
                used.insert("CONDA_BUILD_SYSROOT".into());
            }
        }
    }
    used
}

static SHELL_REGEX_CACHE: LazyLock<Mutex<HashMap<String, Option<Regex>>>> =
    LazyLock::new(Mutex::default);

/// `find_used_variables_in_shell_script`: `$var` or `${var}` as the first `$` after a line start.
pub fn find_used_variables_in_shell_script<'a>(
    keys: impl IntoIterator<Item = &'a String>,
    text: &str,
) -> HashSet<String> {
    if !text.contains('$') {
        return HashSet::new();
    }
    let mut cache = SHELL_REGEX_CACHE.lock().expect("regex cache");
    keys.into_iter()
        .filter(|key| text.contains(key.as_str()))
        .filter(|key| {
            cache
                .entry((*key).clone())
                .or_insert_with(|| {
                    Regex::new(&format!(
                        r"(?m)^[^$]*?\$\{{?\s*{}\s*[\s|\}}]",
                        regex::escape(key)
                    ))
                    .ok()
                })
                .as_ref()
                .is_some_and(|r| r.is_match(text))
        })
        .cloned()
        .collect()
}

/// `find_used_variables_in_batch_script`: `%var%`.
pub fn find_used_variables_in_batch_script<'a>(
    keys: impl IntoIterator<Item = &'a String>,
    text: &str,
) -> HashSet<String> {
    keys.into_iter()
        .filter(|key| text.contains(&format!("%{key}%")))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(source: &str, value: Json) -> VariantSpec {
        VariantSpec {
            source: source.into(),
            values: value.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn zip_keys_advance_together() {
        let combined = combine_specs(&[spec(
            "cbc",
            json!({"python": ["3.11", "3.12"], "numpy": ["1.26", "2.0"], "zip_keys": [["python", "numpy"]], "zlib": ["1.3"]}),
        )])
        .unwrap();
        let variants = explode(&combined);
        assert_eq!(variants.len(), 2);
        assert_eq!(variants[1]["python"], json!("3.12"));
        assert_eq!(variants[1]["numpy"], json!("2.0"));
    }

    #[test]
    fn later_file_selects_zipped_subspace() {
        let specs = [
            spec(
                "global",
                json!({"python": ["3.11", "3.12", "3.13"], "is_python_min": ["true", "false", "false"], "zip_keys": [["python", "is_python_min"]]}),
            ),
            spec("recipe", json!({"python": ["3.12"]})),
        ];
        let combined = combine_specs(&specs).unwrap();
        let variants = variant_matrix(&combined, &specs, |_| true);
        assert_eq!(variants.len(), 1);
        assert_eq!(variants[0]["is_python_min"], json!("false"));
    }

    #[test]
    fn keys_no_one_uses_do_not_multiply_the_matrix() {
        let specs = [spec(
            "cbc",
            json!({
                "python": ["3.11", "3.12"],
                "unused": ["a", "b", "c"],
                "zipped_unused": ["1", "2"],
                "zipped_used": ["x", "y"],
                "zip_keys": [["zipped_unused", "zipped_used"]],
            }),
        )];
        let combined = combine_specs(&specs).unwrap();
        assert_eq!(explode(&combined).len(), 12);
        let relevant = |k: &str| k == "python" || k == "zipped_used";
        let variants = variant_matrix(&combined, &specs, relevant);
        // A zip group stays whole when one of its keys is used; `unused` keeps its first value.
        let rows: Vec<(String, String, String)> = variants
            .iter()
            .map(|v| {
                let s = |k: &str| v[k].as_str().unwrap().to_string();
                (s("python"), s("unused"), s("zipped_unused"))
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("3.11".into(), "a".into(), "1".into()),
                ("3.11".into(), "a".into(), "2".into()),
                ("3.12".into(), "a".into(), "1".into()),
                ("3.12".into(), "a".into(), "2".into()),
            ]
        );
        // A later source's selection applies before the collapse.
        let specs = [
            specs[0].clone(),
            spec("recipe", json!({"unused": ["b", "c"]})),
        ];
        let combined = combine_specs(&specs).unwrap();
        let variants = variant_matrix(&combined, &specs[1..], relevant);
        assert!(variants.iter().all(|v| v["unused"] == json!("b")));
    }

    #[test]
    fn extend_keys_merge() {
        let specs = [
            spec("a", json!({"ignore_version": ["foo"]})),
            spec("b", json!({"ignore_version": ["bar"]})),
        ];
        let combined = combine_specs(&specs).unwrap();
        assert_eq!(combined["ignore_version"], json!(["foo", "bar"]));
    }

    #[test]
    fn used_variables_like_conda_build() {
        let keys: Vec<String> = [
            "python",
            "zlib",
            "c_compiler",
            "c_stdlib_version",
            "openssl",
            "with_icu",
            "libxml2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let text = "requirements:\n  build:\n    - {{ compiler('c') }}\n    - {{ stdlib('c') }}\n  host:\n    - zlib\n    - openssl >=3\n{% if with_icu %}\n    - icu\n{% endif %}\n    - {{ python_min }}\n";
        let used = find_used_variables_in_text(&keys, text, false);
        let mut used: Vec<_> = used.into_iter().collect();
        used.sort();
        // openssl has a version constraint, so it is not a bare-name use; `python` matches
        // inside `{{ python_min }}` because the regex allows any suffix before `}}`.
        assert_eq!(
            used,
            [
                "c_compiler",
                "c_stdlib_version",
                "python",
                "with_icu",
                "zlib"
            ]
        );
        let selectors = find_used_variables_in_text(
            &keys,
            "  - foo  # [with_icu == 'yes']\n  - bar  # [libxml2]\n",
            true,
        );
        assert!(selectors.contains("with_icu") && selectors.contains("libxml2"));
    }

    #[test]
    fn scripts() {
        let keys = vec!["blas_impl".to_string(), "cuda_compiler_version".to_string()];
        let used = find_used_variables_in_shell_script(
            &keys,
            "if [[ ${cuda_compiler_version} != None ]]; then\n  echo $blas_impl\nfi\n",
        );
        assert_eq!(used.len(), 2);
        assert!(
            find_used_variables_in_batch_script(&keys, "echo %blas_impl%").contains("blas_impl")
        );
    }
}
