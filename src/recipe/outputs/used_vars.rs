//! `get_used_vars` of one output: which variant keys its text, requirements and scripts use
//! (they decide the hash and which variants are distinct).

use super::requirements::{first_token, RawRequirements};
use super::sections::requirements_text;
use super::{Draft, VariantInputs};
use crate::recipe::variants::{
    find_used_variables_in_batch_script, find_used_variables_in_shell_script,
    find_used_variables_in_text, Variant,
};
use std::collections::HashSet;
use std::path::Path;

/// `trim_build_only_deps`: requirement-only uses count only when they reach the package.
pub(super) fn trim_build_only_deps(
    used: HashSet<String>,
    reqs: &RawRequirements,
    variant: &Variant,
) -> HashSet<String> {
    let names = |list: &[String]| -> HashSet<String> {
        list.iter()
            .map(|r| first_token(r).replace('-', "_"))
            .collect()
    };
    let (build, host) = (names(&reqs.build), names(&reqs.host));
    let ignore: Vec<String> = variant
        .get("ignore_build_only_deps")
        .map(crate::recipe::variants::ensure_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    used.into_iter()
        .filter(|dep| {
            if reqs.run.contains(dep) {
                build.contains(dep) || host.contains(dep)
            } else {
                !(build.contains(dep) && !host.contains(dep) && ignore.contains(dep))
            }
        })
        .collect()
}

impl VariantInputs<'_> {
    fn keys(&self) -> Vec<&String> {
        self.variant.keys().collect()
    }

    fn script_vars(&self, draft: &Draft, script: Option<&str>) -> HashSet<String> {
        let keys = self.keys();
        if draft.is_top_level {
            build_scripts_used_vars(
                &keys,
                &self.recipe.dir,
                self.host.target_platform.is_windows(),
            )
        } else {
            script
                .map(|script| script_used_vars(&keys, &self.recipe.dir.join(script)))
                .unwrap_or_default()
        }
    }

    /// `get_used_vars` of one output.
    pub(super) fn used_vars(
        &self,
        draft: &Draft,
        noarch: bool,
        force_use: &[String],
        force_ignore: &[String],
        script: Option<&str>,
    ) -> HashSet<String> {
        let keys = self.keys();
        let selectors = find_used_variables_in_text(keys.iter().copied(), &draft.raw_text, true);
        let all = find_used_variables_in_text(keys.iter().copied(), &draft.selected_text, false);
        let all: HashSet<String> = all.union(&selectors).cloned().collect();
        let in_reqs = find_used_variables_in_text(
            keys.iter().copied(),
            &requirements_text(&draft.selected_text),
            false,
        );
        let outside: HashSet<String> = all.difference(&in_reqs).cloned().collect();
        let mut used: HashSet<String> = outside
            .union(&trim_build_only_deps(in_reqs, &draft.reqs, self.variant))
            .cloned()
            .collect();
        used.extend(self.script_vars(draft, script));
        if self.variant.contains_key("target_platform") && !noarch {
            used.insert("target_platform".into());
        }
        if self.variant.contains_key("channel_targets") {
            used.insert("channel_targets".into());
        }
        for key in force_ignore {
            used.remove(key);
        }
        used.extend(force_use.iter().cloned());
        used
    }
}

/// Variant keys the recipe's build.sh uses, and its bld.bat when building for Windows.
pub fn build_scripts_used_vars(
    keys: &[&String],
    recipe_dir: &Path,
    windows: bool,
) -> HashSet<String> {
    let mut used = script_used_vars(keys, &recipe_dir.join("build.sh"));
    if windows {
        used.extend(script_used_vars(keys, &recipe_dir.join("bld.bat")));
    }
    used
}

/// Variant keys a shell (`.sh`) or batch (`.bat`) script uses; none when it cannot be read.
fn script_used_vars(keys: &[&String], path: &Path) -> HashSet<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashSet::new();
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("sh") => find_used_variables_in_shell_script(keys.iter().copied(), &text),
        Some("bat") => find_used_variables_in_batch_script(keys.iter().copied(), &text),
        _ => HashSet::new(),
    }
}
