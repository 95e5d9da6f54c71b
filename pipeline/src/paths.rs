//! Partner-supplied ids (hotel groups) as file names. Catalogs are untrusted, so an id is
//! escaped rather than filtered: two different ids never share a folder, and no id can name
//! `.`, `..`, a path with `/`, or hold a NUL.

use sha2::{Digest, Sha256};

use crate::blobstore::hex;

/// Escaped names longer than this are cut and given a hash suffix (file systems allow 255
/// bytes).
const MAX_COMPONENT: usize = 120;

/// Maps an id to one path component, injectively: ASCII letters, digits, `-` and `_` stay as
/// they are, every other byte becomes `%XX` (so `.`, `/` and NUL never appear). An empty id
/// is `%` alone, which no escape produces. A name over [`MAX_COMPONENT`] bytes keeps its
/// first bytes and ends in `~` and 32 hex digits of the id's sha256 (`~` is escaped too, so
/// a cut name cannot equal an uncut one).
pub fn id_component(id: &str) -> String {
    if id.is_empty() {
        return "%".to_owned();
    }
    let mut escaped = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    if escaped.len() <= MAX_COMPONENT {
        return escaped;
    }
    let digest = hex(&Sha256::digest(id.as_bytes()));
    let mut keep = MAX_COMPONENT - 33;
    // Cut before an escape, never inside one.
    while escaped.as_bytes()[keep - 1] == b'%' || escaped.as_bytes()[keep - 2] == b'%' {
        keep -= 1;
    }
    format!("{}~{}", &escaped[..keep], &digest[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_distinct_safe_components() {
        let long = "x".repeat(500);
        let long_other = format!("{}y", "x".repeat(499));
        let ids = [
            "",
            ".",
            "..",
            "...",
            "a/b",
            "a_b",
            "a b",
            "a%20b",
            "a%2Fb",
            "/etc",
            "a\0b",
            "~",
            "hotel-001",
            "Hotel-001",
            "é",
            "%",
            "%25",
            &long,
            &long_other,
        ];
        let mut seen = std::collections::BTreeMap::new();
        for id in ids {
            let component = id_component(id);
            assert!(
                !component.is_empty() && component.len() <= MAX_COMPONENT,
                "{id:?}"
            );
            assert!(
                !component.contains(['/', '\0', '.']),
                "{id:?} -> {component:?}"
            );
            let path = std::path::Path::new(&component);
            assert!(
                matches!(
                    path.components().collect::<Vec<_>>()[..],
                    [std::path::Component::Normal(_)]
                ),
                "{id:?} -> {component:?}"
            );
            if let Some(other) = seen.insert(component.clone(), id) {
                panic!("{other:?} and {id:?} both map to {component:?}");
            }
        }
        assert_eq!(id_component("hotel-001"), "hotel-001");
        assert_eq!(id_component(".."), "%2E%2E");
        assert_eq!(id_component("a/b"), "a%2Fb");
        assert!(id_component(&long).ends_with(&hex(&Sha256::digest(long.as_bytes()))[..32]));
        // A cut never splits an escape.
        let escapes = "é".repeat(100);
        let cut = id_component(&escapes);
        let kept = cut.split('~').next().unwrap();
        assert!(
            kept.len().is_multiple_of(3) && kept.starts_with("%C3%A9"),
            "{cut}"
        );
    }
}
