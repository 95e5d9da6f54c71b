//! Where the symlinks a build made point, checked before they are packaged (conda-build's
//! `post.check_symlinks`).
//!
//! A link is resolved as written, against the folder it sits in: a relative link that climbs
//! out of the prefix, or an absolute link to anywhere but the host prefix, would point at
//! whatever the installing machine has there (or into the build folders, gone after the
//! build). krait's installer refuses such packages, so the build refuses them first, naming
//! each link. Absolute links into the host prefix are not refused here:
//! [`LinkTarget::AbsoluteInside`] carries the relative link they stand for.

use std::path::{Component, Path, PathBuf};

/// Where one symlink of the package points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// A relative link that stays inside the prefix.
    Inside,
    /// An absolute link into the host prefix; `relative` is the same target as a relative
    /// link from the link's folder.
    AbsoluteInside { relative: PathBuf },
    /// Anywhere else: out of the prefix.
    Outside,
}

/// Classifies the link at `rel` (relative to `prefix`) whose target is `target`.
pub fn classify(prefix: &Path, rel: &Path, target: &Path) -> LinkTarget {
    let link_dir: Vec<Component> = rel
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    if target.is_absolute() {
        let Some(inside) = normalise(target.components().skip(1), Vec::new()) else {
            return LinkTarget::Outside;
        };
        let Some(prefix) = normalise(prefix.components().skip(1), Vec::new()) else {
            return LinkTarget::Outside;
        };
        return match inside.strip_prefix(&prefix) {
            Ok(within) => LinkTarget::AbsoluteInside {
                relative: relative_from(&link_dir, within),
            },
            Err(_) => LinkTarget::Outside,
        };
    }
    match normalise(target.components(), link_dir) {
        Some(_) => LinkTarget::Inside,
        None => LinkTarget::Outside,
    }
}

/// Applies `components` to the folder `start` (as components), lexically; `None` when a `..`
/// climbs above the root.
fn normalise<'a>(
    components: impl Iterator<Item = Component<'a>>,
    start: Vec<Component<'a>>,
) -> Option<PathBuf> {
    let mut at = start;
    for component in components {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                at.pop()?;
            }
            Component::Normal(_) => at.push(component),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(at.iter().collect())
}

/// `target` (relative to the prefix) as seen from the folder `from` (also relative to it).
fn relative_from(from: &[Component], target: &Path) -> PathBuf {
    let target: Vec<Component> = target.components().collect();
    let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut relative: PathBuf =
        std::iter::repeat_n(Component::ParentDir, from.len() - common).collect();
    relative.extend(&target[common..]);
    relative
}

/// Checks every symlink among `files` (relative to `prefix`); the error lists each link that
/// points out of the prefix, with its target.
pub fn check_symlinks(prefix: &Path, files: &[PathBuf]) -> Result<(), String> {
    let mut outside = Vec::new();
    for rel in files {
        let Ok(target) = std::fs::read_link(prefix.join(rel)) else {
            continue;
        };
        if classify(prefix, rel, &target) == LinkTarget::Outside {
            outside.push(format!("  {} -> {}", rel.display(), target.display()));
        }
    }
    if outside.is_empty() {
        return Ok(());
    }
    Err(outside.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "/croot/h_env";

    fn of(rel: &str, target: &str) -> LinkTarget {
        classify(Path::new(PREFIX), Path::new(rel), Path::new(target))
    }

    #[test]
    fn links_inside_the_prefix_are_accepted() {
        assert_eq!(of("lib/libz.so", "libz.so.1"), LinkTarget::Inside);
        assert_eq!(of("bin/tool", "../libexec/tool"), LinkTarget::Inside);
        assert_eq!(of("a/b/c", "./../../d"), LinkTarget::Inside);
        assert_eq!(
            of("bin/python", "/croot/h_env/bin/python3.12"),
            LinkTarget::AbsoluteInside {
                relative: "python3.12".into()
            }
        );
        assert_eq!(
            of("lib/pkgconfig/z.pc", "/croot/h_env/share/z.pc"),
            LinkTarget::AbsoluteInside {
                relative: "../../share/z.pc".into()
            }
        );
    }

    #[test]
    fn links_out_of_the_prefix_are_refused() {
        for (rel, target) in [
            ("bin/escape", "../../etc/passwd"),
            ("escape", ".."),
            ("lib/x", "/etc/passwd"),
            ("lib/x", "/croot/work/build/libx.so"),
            ("lib/x", "/croot/h_env/../work/libx.so"),
            ("lib/x", "/croot/h_env_other/lib"),
        ] {
            assert_eq!(of(rel, target), LinkTarget::Outside, "{rel} -> {target}");
        }
    }
}
