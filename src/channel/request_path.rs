//! The one decoder of `krait serve` request paths.
//!
//! A URL path is untrusted: `%2F` decodes to `/` (so `/%2Fetc%2Fshadow` would name an absolute
//! path), `%2e%2e` to `..`, `%5C` to a Windows separator, `%00` to a NUL. Every path is split on
//! `/` first and each segment percent-decoded exactly once; a segment is accepted only when the
//! result is a plain, visible file name. Nothing touches the file system before this check, and
//! what is served is always `<channel>/<segment>/<segment>...`.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::path::{Path, PathBuf};

/// A request path checked to name something inside the channel folder: one or more plain,
/// visible names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelPath {
    segments: Vec<String>,
}

/// Why a request path cannot name a file of the channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    /// Empty path, empty segment (`//`), or the channel folder itself.
    #[error("the path names no file")]
    Empty,
    /// `.`, `..`, or a name with a separator, NUL or control character once decoded.
    #[error("path segment {0:?} is not a plain file or folder name")]
    NotAName(String),
    /// A hidden entry (`.cache/`, an upload's temp file): not served, said as "not found".
    #[error("not found")]
    Hidden,
    /// Percent-decoding gave bytes that are not UTF-8.
    #[error("path segment {0:?} is not UTF-8 once decoded")]
    NotUtf8(String),
}

/// What stays as is when a checked path is written back into a URL: RFC 3986 unreserved.
const URL_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl ChannelPath {
    /// Decodes and checks the path of a request URL (with or without its leading `/`).
    pub fn parse(raw: &str) -> Result<ChannelPath, PathRefusal> {
        let raw = raw.strip_prefix('/').unwrap_or(raw);
        if raw.is_empty() {
            return Err(PathRefusal::Empty);
        }
        let mut segments = Vec::new();
        for encoded in raw.split('/') {
            let decoded = percent_encoding::percent_decode_str(encoded)
                .decode_utf8()
                .map_err(|_| PathRefusal::NotUtf8(encoded.to_string()))?;
            segments.push(check_segment(&decoded)?.to_string());
        }
        Ok(ChannelPath { segments })
    }

    /// The decoded names, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The file this path names under `root`; always inside it.
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut path = root.to_path_buf();
        path.extend(&self.segments);
        path
    }

    /// The path re-encoded for a URL (`/a/b%20c`): what `ServeDir` decodes back to `under`.
    pub fn to_url_path(&self) -> String {
        self.segments
            .iter()
            .map(|s| format!("/{}", utf8_percent_encode(s, URL_SEGMENT)))
            .collect()
    }
}

/// A decoded segment is served only when it is a visible plain name.
fn check_segment(segment: &str) -> Result<&str, PathRefusal> {
    if segment.is_empty() {
        return Err(PathRefusal::Empty);
    }
    if segment == "." || segment == ".." || segment.contains(['/', '\\']) {
        return Err(PathRefusal::NotAName(segment.to_string()));
    }
    if segment.chars().any(char::is_control) {
        return Err(PathRefusal::NotAName(segment.to_string()));
    }
    if segment.starts_with('.') {
        return Err(PathRefusal::Hidden);
    }
    Ok(segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_accepted_and_kept_inside_the_root() {
        let path = ChannelPath::parse("/noarch/repodata.json").unwrap();
        assert_eq!(path.segments(), ["noarch", "repodata.json"]);
        assert_eq!(
            path.under(Path::new("/srv/ch")),
            Path::new("/srv/ch/noarch/repodata.json")
        );
        let spaced = ChannelPath::parse("/noarch/a%20b-1-0.conda").unwrap();
        assert_eq!(spaced.segments(), ["noarch", "a b-1-0.conda"]);
        assert_eq!(spaced.to_url_path(), "/noarch/a%20b-1-0.conda");
    }

    #[test]
    fn hostile_paths_are_refused() {
        for (raw, refusal) in [
            ("/%2Ftmp%2Fx%2Fsecret.conda", "NotAName"),
            ("/%2Fetc%2Fshadow", "NotAName"),
            ("/noarch/..%2F..%2Fetc%2Fpasswd", "NotAName"),
            ("/noarch/%2e%2e/x", "NotAName"),
            ("/noarch/../x", "NotAName"),
            ("/noarch/./x", "NotAName"),
            ("/noarch%5c..%5cx", "NotAName"),
            ("/noarch/a%00.conda", "NotAName"),
            ("/noarch/a%0a.conda", "NotAName"),
            ("/.cache/krait-index/noarch.json", "Hidden"),
            ("/noarch/.upload.tmp", "Hidden"),
            ("/%2ecache/x", "Hidden"),
            ("/", "Empty"),
            ("", "Empty"),
            ("//etc/passwd", "Empty"),
            ("/noarch/", "Empty"),
            ("/noarch/%ff.conda", "NotUtf8"),
        ] {
            let got = ChannelPath::parse(raw);
            assert!(
                format!("{got:?}").contains(refusal),
                "{raw:?}: expected {refusal}, got {got:?}"
            );
        }
    }
}
