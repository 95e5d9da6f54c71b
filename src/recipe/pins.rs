//! conda-build's pin arithmetic (`utils.apply_pin_expressions`) and spec normalisation
//! (`utils.ensure_valid_spec`), reproduced to the character because the results end up in
//! package metadata.

use rattler_conda_types::{Component, Version};
use regex::Regex;
use std::str::FromStr;
use std::sync::LazyLock;

/// `name version` with no build and no operator, as conda-build's `spec_needing_star_re`.
static SPEC_NEEDING_STAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([\w\.\-]+)\s+([\w\.\-]+)(\s+[\w\.]+)?$").expect("regex"));

/// Append `.*` to a bare `name version` spec (`gcc_linux-64 13` -> `gcc_linux-64 13.*`).
pub fn ensure_valid_spec(spec: &str) -> String {
    match SPEC_NEEDING_STAR.captures(spec) {
        Some(caps) if caps.get(3).is_none() => {
            let (name, version) = (&caps[1], &caps[2]);
            if matches!(name, "python" | "numpy") && version == "x.x" {
                format!("{name} {version}")
            } else {
                format!("{name} {version}.*")
            }
        }
        _ => spec.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Number(u64),
    Text(String),
}

impl Part {
    fn text(&self) -> String {
        match self {
            Part::Number(n) => n.to_string(),
            Part::Text(s) => s.clone(),
        }
    }
}

/// conda-build's `_increment`: numbers get `+1` and `.0a0` (or `a` before a letter), letters
/// the next letter.
fn increment(part: &Part, alpha_next: bool) -> String {
    match part {
        Part::Number(n) => format!("{}{}", n + 1, if alpha_next { "a" } else { ".0a0" }),
        Part::Text(s) => match s.chars().next() {
            Some(c) => char::from_u32(c as u32 + 1)
                .map(String::from)
                .unwrap_or_default(),
            None => String::new(),
        },
    }
}

/// Pin `version` to `>=lower,<upper` with `x.x`-style expressions, e.g. `1.6.34`,
/// `min_pin=x.x.x`, `max_pin=x.x` gives `>=1.6.34,<1.7.0a0`.
pub fn apply_pin_expressions(
    version: &str,
    min_pin: Option<&str>,
    max_pin: Option<&str>,
) -> Result<String, String> {
    let stripped = version.trim_end_matches(".*").trim_end_matches('*');
    let parsed =
        Version::from_str(stripped).map_err(|e| format!("cannot pin version `{version}`: {e}"))?;
    // `VersionOrder.version[1:]`: every segment is a list, so the nesting position ends up on
    // the last segment and no dot follows that segment's index in the flat list.
    let segments: Vec<Vec<Part>> = parsed
        .segments()
        .map(|segment| {
            segment
                .components()
                .filter_map(|c| match c {
                    Component::Numeral(n) => Some(Part::Number(*n)),
                    Component::Iden(s) => Some(Part::Text(s.to_string())),
                    Component::Post => Some(Part::Text("post".into())),
                    Component::Dev => Some(Part::Text("DEV".into())),
                    Component::UnderscoreOrDash { .. } => None,
                })
                .collect()
        })
        .collect();
    let nesting_position = segments.len().checked_sub(1);
    let flat: Vec<Part> = segments.into_iter().flatten().collect();
    let count = |pin: Option<&str>| pin.filter(|p| !p.is_empty()).map(|p| p.split('.').count());
    let mut pins = [count(min_pin), count(max_pin)];
    if let Some(max) = pins[1] {
        if max > flat.len() {
            pins[1] = Some(flat.len());
        }
    }
    let mut bounds = [String::new(), String::new()];
    for (p_idx, pin) in pins.iter().enumerate() {
        let Some(pin) = *pin else { continue };
        for (v_idx, part) in flat.iter().take(pin).enumerate() {
            let text = if p_idx == 1 && v_idx + 1 == pin {
                let next = &flat[pin.min(flat.len().saturating_sub(1))];
                let alpha_next =
                    next.text().chars().all(char::is_alphabetic) && !next.text().is_empty();
                increment(part, alpha_next)
            } else {
                part.text()
            };
            bounds[p_idx].push_str(&text);
            if Some(v_idx) != nesting_position {
                bounds[p_idx].push('.');
            }
        }
        if bounds[p_idx].ends_with('.') {
            bounds[p_idx].pop();
        }
    }
    if !bounds[0].is_empty() {
        let lower = Version::from_str(&bounds[0]).map_err(|e| e.to_string())?;
        bounds[0] = if parsed < lower {
            format!(">={version}")
        } else {
            format!(">={}", bounds[0])
        };
    }
    if !bounds[1].is_empty() {
        bounds[1] = format!("<{}", bounds[1]);
    }
    Ok(bounds
        .into_iter()
        .filter(|b| !b.is_empty())
        .collect::<Vec<_>>()
        .join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_expressions_match_conda_build() {
        // utils.apply_pin_expressions with the defaults pin_subpackage uses.
        let pin = |v, min, max| apply_pin_expressions(v, min, max).unwrap();
        assert_eq!(
            pin("1.6.34", Some("x.x.x.x.x.x"), Some("x.x")),
            ">=1.6.34,<1.7.0a0"
        );
        assert_eq!(pin("3.12", Some("x.x"), Some("x.x")), ">=3.12,<3.13.0a0");
        assert_eq!(
            pin("3.3.1", Some("x.x.x.x.x.x"), Some("x")),
            ">=3.3.1,<4.0a0"
        );
        // The last pinned place is followed by a letter: bump with an `a` suffix; 1.1.1k sorts
        // before the truncated 1.1.1, so the version itself is the lower bound.
        assert_eq!(
            pin("1.1.1k", Some("x.x.x"), Some("x.x.x")),
            ">=1.1.1k,<1.1.2a"
        );
        // max_pin longer than the version is shortened to the version.
        assert_eq!(
            pin("2.1", Some("x.x.x.x.x.x"), Some("x.x.x")),
            ">=2.1,<2.2.0a0"
        );
        assert_eq!(pin("2.1", None, Some("x.x")), "<2.2.0a0");
        assert_eq!(pin("2.1.0", Some("x.x"), None), ">=2.1");
    }

    #[test]
    fn valid_spec_gets_star() {
        assert_eq!(ensure_valid_spec("gcc_linux-64 13"), "gcc_linux-64 13.*");
        assert_eq!(ensure_valid_spec("python 3.12"), "python 3.12.*");
        assert_eq!(ensure_valid_spec("python x.x"), "python x.x");
        assert_eq!(ensure_valid_spec("numpy >=1.21"), "numpy >=1.21");
        assert_eq!(ensure_valid_spec("foo 1.0 h1234_0"), "foo 1.0 h1234_0");
        assert_eq!(ensure_valid_spec("python 3.12.*"), "python 3.12.*");
    }
}
