//! A `requirements.txt` next to `meta.yaml` gives the run requirements when the recipe has
//! none (`MetaData.parse_again` with `specs_from_url`/`spec_from_line`).

use super::error::{Location, RecipeError, Result};
use regex::Regex;
use std::path::Path;
use std::sync::LazyLock;

/// conda's `spec_pat`: a name, then a conda (`=1.2=h0`) or pip-style (`>=1.2`) constraint.
static SPEC_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<name>[^=<>!\s]+)\s*(?:(?P<cc>=[^=]+(?:=[^=]+)?)|(?P<pc>(?:[=!]=|[><]=?|~=).+))?$",
    )
    .expect("static regex")
});

/// The specs of `<recipe_dir>/requirements.txt`, or None when there is no such file.
pub fn read(recipe_dir: &Path) -> Result<Option<Vec<String>>> {
    let path = recipe_dir.join("requirements.txt");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| RecipeError::Io {
        path: path.clone(),
        source,
    })?;
    let mut specs = Vec::new();
    let mut explicit = false;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        explicit |= line == "@EXPLICIT";
        if explicit {
            specs.push(line.to_string());
            continue;
        }
        let spec = spec_from_line(line).ok_or_else(|| RecipeError::Invalid {
            location: Location::new(&path, index + 1, 1),
            message: format!("cannot parse requirement `{line}`"),
        })?;
        specs.push(spec);
    }
    Ok(Some(specs))
}

/// `spec_from_line`: `foo=1.2=h0` -> `foo 1.2 h0`, `foo >= 1.2` -> `foo >=1.2`,
/// `foo ~= 1.4.2` -> `foo >=1.4.2,==1.4.*`.
fn spec_from_line(line: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or("").trim_end();
    let caps = SPEC_LINE.captures(line)?;
    let name = caps["name"].to_lowercase();
    if let Some(cc) = caps.name("cc") {
        return Some(format!("{name}{}", cc.as_str().replace('=', " ")));
    }
    let Some(pc) = caps.name("pc").map(|m| m.as_str()) else {
        return Some(name);
    };
    if let Some(version) = pc.strip_prefix("~= ") {
        let (prefix, _) = version.rsplit_once('.')?;
        return Some(format!("{name} >={version},=={prefix}.*"));
    }
    Some(format!("{name} {}", pc.replace(' ', "")))
}

#[cfg(test)]
mod tests {
    use super::spec_from_line;

    #[test]
    fn lines_like_conda() {
        assert_eq!(spec_from_line("Six").as_deref(), Some("six"));
        assert_eq!(spec_from_line("foo=1.2=h0").as_deref(), Some("foo 1.2 h0"));
        assert_eq!(
            spec_from_line("numpy >= 1.20, <2  # pinned").as_deref(),
            Some("numpy >=1.20,<2")
        );
        assert_eq!(
            spec_from_line("bar ~= 1.4.2").as_deref(),
            Some("bar >=1.4.2,==1.4.*")
        );
        assert_eq!(spec_from_line("==1.0"), None);
    }
}
