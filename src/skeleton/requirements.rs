//! PyPI requirements (PEP 508) as conda requirements: names mapped where conda-forge differs,
//! PEP 440 specifiers written the conda way, environment markers turned into selectors.

use pep508_rs::pep440_rs::{Operator, VersionSpecifiers};
use pep508_rs::{Requirement, VersionOrUrl};
use std::str::FromStr;

/// PyPI names whose conda-forge package is named differently (normalised PyPI name first).
/// Kept small and maintained by hand, like grayskull's table for the most common cases.
const CONDA_NAMES: &[(&str, &str)] = &[
    ("backports-zoneinfo", "backports.zoneinfo"),
    ("matplotlib", "matplotlib-base"),
    ("msgpack", "msgpack-python"),
    ("opencv-python", "opencv"),
    ("opencv-python-headless", "opencv"),
    ("prometheus-client", "prometheus_client"),
    ("pyqt5", "pyqt"),
    ("ruamel-yaml", "ruamel.yaml"),
    ("tables", "pytables"),
    ("torch", "pytorch"),
    ("typing-extensions", "typing_extensions"),
    ("zope-interface", "zope.interface"),
];

/// The conda name of a (normalised) PyPI name.
pub fn conda_name(pypi: &str) -> String {
    CONDA_NAMES
        .iter()
        .find(|(from, _)| *from == pypi)
        .map(|(_, to)| to.to_string())
        .unwrap_or_else(|| pypi.to_string())
}

/// One requirement line of a recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaRequirement {
    /// `name >=1,<2`.
    pub spec: String,
    /// A conda-build selector (`py<38`, `win`), when a marker limits the requirement.
    pub selector: Option<String>,
    /// A marker that has no selector equivalent, kept as a comment for the recipe's author.
    pub unmapped_marker: Option<String>,
}

/// PEP 440 specifiers as a conda version spec: `>=1.0,<2`, `~=1.4`, `==1.0.*`.
pub fn conda_version(specifiers: &VersionSpecifiers) -> String {
    specifiers
        .iter()
        .map(|s| {
            let op = match s.operator() {
                Operator::ExactEqual => "==".to_string(),
                other => other.to_string(),
            };
            let star = if matches!(s.operator(), Operator::EqualStar | Operator::NotEqualStar) {
                ".*"
            } else {
                ""
            };
            format!("{}{}{star}", op.trim_end_matches('*'), s.version())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What a marker means for a recipe.
#[derive(Debug, PartialEq, Eq)]
enum MarkerMeaning {
    Always,
    Never,
    Selector(String),
    Unmapped(String),
}

/// Converts a requirement; `None` when it only applies to an extra or never applies.
/// `python_min` (`(3, 8)`) lets markers that `requires-python` already decides disappear.
pub fn convert(
    line: &str,
    python_min: Option<(u64, u64)>,
) -> Result<Option<CondaRequirement>, String> {
    let requirement = Requirement::<pep508_rs::VerbatimUrl>::from_str(line.trim())
        .map_err(|e| format!("invalid requirement {line:?}: {e}"))?;
    let name = conda_name(requirement.name.as_ref());
    let spec = match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(v)) if !v.is_empty() => {
            format!("{name} {}", conda_version(v))
        }
        _ => name,
    };
    let meaning = match requirement.marker.try_to_string() {
        None => MarkerMeaning::Always,
        Some(marker) => marker_meaning(&marker, python_min),
    };
    Ok(match meaning {
        MarkerMeaning::Never => None,
        MarkerMeaning::Always => Some(CondaRequirement {
            spec,
            selector: None,
            unmapped_marker: None,
        }),
        MarkerMeaning::Selector(selector) => Some(CondaRequirement {
            spec,
            selector: Some(selector),
            unmapped_marker: None,
        }),
        MarkerMeaning::Unmapped(marker) => Some(CondaRequirement {
            spec,
            selector: None,
            unmapped_marker: Some(marker),
        }),
    })
}

/// Markers joined by `and` (the common case) become one selector; anything with `or` or
/// parentheses is translated term by term when every term maps.
fn marker_meaning(marker: &str, python_min: Option<(u64, u64)>) -> MarkerMeaning {
    if marker.contains("extra ") {
        return MarkerMeaning::Never;
    }
    let term =
        regex::Regex::new(r#"(\w+)\s*(==|!=|<=|>=|<|>)\s*['"]([^'"]*)['"]"#).expect("static regex");
    let mut selector = String::new();
    let mut last = 0;
    let mut always_so_far = true;
    for caps in term.captures_iter(marker) {
        let whole = caps.get(0).expect("match");
        selector.push_str(&marker[last..whole.start()]);
        last = whole.end();
        match term_meaning(&caps[1], &caps[2], &caps[3], python_min) {
            MarkerMeaning::Selector(s) => {
                always_so_far = false;
                selector.push_str(&s);
            }
            MarkerMeaning::Always => selector.push_str("True"),
            MarkerMeaning::Never => {
                if !marker.contains(" or ") {
                    return MarkerMeaning::Never;
                }
                always_so_far = false;
                selector.push_str("False");
            }
            MarkerMeaning::Unmapped(_) => return MarkerMeaning::Unmapped(marker.to_string()),
        }
    }
    selector.push_str(&marker[last..]);
    if always_so_far {
        return MarkerMeaning::Always;
    }
    // `True and win` reads better as `win`.
    let selector = selector.replace("True and ", "").replace(" and True", "");
    MarkerMeaning::Selector(selector)
}

fn term_meaning(
    variable: &str,
    op: &str,
    value: &str,
    python_min: Option<(u64, u64)>,
) -> MarkerMeaning {
    let negate = |s: &str| match op {
        "==" => MarkerMeaning::Selector(s.to_string()),
        "!=" => MarkerMeaning::Selector(format!("not {s}")),
        _ => MarkerMeaning::Unmapped(format!("{variable} {op} {value:?}")),
    };
    match variable {
        "python_version" | "python_full_version" => {
            let mut parts = value.split('.').map(|p| p.parse::<u64>().ok());
            let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
                return MarkerMeaning::Unmapped(format!("{variable} {op} {value:?}"));
            };
            if let Some(min) = python_min {
                let v = (major, minor);
                let decided = match op {
                    "<" if v <= min => Some(false),
                    "<=" if v < min => Some(false),
                    ">=" if v <= min => Some(true),
                    ">" if v < min => Some(true),
                    "==" if v < min => Some(false),
                    "!=" if v < min => Some(true),
                    _ => None,
                };
                match decided {
                    Some(true) => return MarkerMeaning::Always,
                    Some(false) => return MarkerMeaning::Never,
                    None => {}
                }
            }
            MarkerMeaning::Selector(format!("py{op}{major}{minor}"))
        }
        "sys_platform" => match value {
            "win32" | "cygwin" => negate("win"),
            "linux" => negate("linux"),
            "darwin" => negate("osx"),
            _ => MarkerMeaning::Unmapped(format!("{variable} {op} {value:?}")),
        },
        "platform_system" => match value {
            "Windows" => negate("win"),
            "Linux" => negate("linux"),
            "Darwin" => negate("osx"),
            _ => MarkerMeaning::Unmapped(format!("{variable} {op} {value:?}")),
        },
        "os_name" => match value {
            "nt" => negate("win"),
            "posix" => negate("unix"),
            _ => MarkerMeaning::Unmapped(format!("{variable} {op} {value:?}")),
        },
        "platform_machine" => match value {
            "x86_64" | "AMD64" => negate("x86_64"),
            "aarch64" | "arm64" => negate("aarch64 or arm64"),
            _ => MarkerMeaning::Unmapped(format!("{variable} {op} {value:?}")),
        },
        // conda packages are built for CPython.
        "implementation_name" | "platform_python_implementation" => {
            let cpython = value.eq_ignore_ascii_case("cpython");
            match (op, cpython) {
                ("==", true) | ("!=", false) => MarkerMeaning::Always,
                ("==", false) | ("!=", true) => MarkerMeaning::Never,
                _ => MarkerMeaning::Unmapped(format!("{variable} {op} {value:?}")),
            }
        }
        _ => MarkerMeaning::Unmapped(format!("{variable} {op} {value:?}")),
    }
}

/// The lower bound of `requires-python` (`>=3.8` → `(3, 8)`), if it has one.
pub fn python_min(requires_python: &str) -> Option<(u64, u64)> {
    let specifiers = VersionSpecifiers::from_str(requires_python).ok()?;
    specifiers
        .iter()
        .filter(|s| {
            matches!(
                s.operator(),
                Operator::GreaterThanEqual | Operator::TildeEqual | Operator::GreaterThan
            )
        })
        .map(|s| {
            let release = s.version().release();
            (
                release.first().copied().unwrap_or(0),
                release.get(1).copied().unwrap_or(0),
            )
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(line: &str) -> Option<CondaRequirement> {
        convert(line, Some((3, 8))).unwrap()
    }

    #[test]
    fn names_and_versions_follow_conda() {
        assert_eq!(conv("requests>=2.0,<3").unwrap().spec, "requests >=2.0,<3");
        assert_eq!(
            conv("typing-extensions>=4.0").unwrap().spec,
            "typing_extensions >=4.0"
        );
        assert_eq!(conv("Torch").unwrap().spec, "pytorch");
        assert_eq!(conv("attrs ~= 21.3").unwrap().spec, "attrs ~=21.3");
        assert_eq!(conv("idna == 3.*").unwrap().spec, "idna ==3.*");
    }

    #[test]
    fn markers_become_selectors_or_disappear() {
        assert_eq!(conv("pytest; extra == 'test'"), None);
        let win = conv("colorama; sys_platform == 'win32'").unwrap();
        assert_eq!(win.selector.as_deref(), Some("win"));
        let old = conv("tomli; python_version < '3.11'").unwrap();
        assert_eq!(old.selector.as_deref(), Some("py<311"));
        // requires-python >=3.8 decides these.
        assert_eq!(conv("importlib-metadata; python_version < '3.8'"), None);
        assert_eq!(
            conv("zipp; python_version >= '3.7'").unwrap().selector,
            None
        );
        let both =
            conv("pywin32; platform_system == 'Windows' and python_version < '3.12'").unwrap();
        // pep508 puts marker terms in a canonical order.
        assert_eq!(both.selector.as_deref(), Some("py<312 and win"));
        assert_eq!(conv("cffi; platform_python_implementation == 'PyPy'"), None);
        let odd = conv("foo; platform_release == '5.0'").unwrap();
        assert!(odd.unmapped_marker.unwrap().contains("platform_release"));
        assert!(convert("not a requirement!!", None).is_err());
    }

    #[test]
    fn python_lower_bounds() {
        assert_eq!(python_min(">=3.8"), Some((3, 8)));
        assert_eq!(python_min(">=3.7, !=3.9.0"), Some((3, 7)));
        assert_eq!(python_min("<4"), None);
    }
}
