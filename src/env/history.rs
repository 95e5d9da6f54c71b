//! `conda-meta/history` in conda's format: one block per revision.
//!
//! ```text
//! ==> 2026-11-25 10:00:00 <==
//! # cmd: krait create -n demo python=3.11
//! # conda version: 4.14.0 (krait 0.1.0)
//! +local/linux-64::python-3.11.7-h0_0
//! # update specs: ['python=3.11']
//! ```
//!
//! Revision 0 is the first block. The state at revision N is what the `+`/`-` lines of blocks
//! 0..=N leave; the requested specs are conda's: every `update specs` in order, minus names
//! later listed in `remove specs`.

use rattler_conda_types::{MatchSpec, RepoDataRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One revision block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revision {
    pub date: String,
    pub cmd: Option<String>,
    /// `channel/subdir::name-version-build` of linked packages.
    pub linked: Vec<String>,
    pub unlinked: Vec<String>,
    pub update_specs: Vec<String>,
    pub remove_specs: Vec<String>,
}

/// A parsed history file.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub revisions: Vec<Revision>,
}

/// Errors while reading or writing history.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum HistoryError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("revision {requested} does not exist; this environment has revisions 0 to {last}")]
    #[diagnostic(help("list them with `krait list --revisions`"))]
    NoSuchRevision { requested: usize, last: i64 },
}

/// Parses conda's Python-repr list `['a', "b"]` (or a JSON list).
fn parse_spec_list(text: &str) -> Vec<String> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for ch in inner.chars() {
        match quote {
            Some(q) if ch == q => {
                items.push(std::mem::take(&mut current));
                quote = None;
            }
            Some(_) => current.push(ch),
            None if ch == '\'' || ch == '"' => quote = Some(ch),
            None => {}
        }
    }
    items
}

/// Python's `repr` of a list of strings, as conda writes it: a string holding `'` is quoted
/// with `"`.
fn format_spec_list(specs: &[String]) -> String {
    let quoted: Vec<String> = specs
        .iter()
        .map(|s| {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{s}'")
            }
        })
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// A spec as conda's `str(MatchSpec)` writes it into history and `requested_spec`:
/// `python=3.11`, `numpy[version='>=1.26,<2']`, `libb==1.0=h0_0`, `conda-forge::zlib`.
pub fn conda_spec_text(spec: &MatchSpec) -> String {
    const OPERATORS: &[char] = &['>', '<', '$', '^', '|', ','];
    let mut text = String::new();
    let mut brackets = Vec::new();
    if let Some(channel) = &spec.channel {
        text.push_str(channel.name());
        if let Some(subdir) = &spec.subdir {
            text.push('/');
            text.push_str(subdir);
        }
        text.push_str("::");
    } else if let Some(subdir) = &spec.subdir {
        brackets.push(format!("subdir={subdir}"));
    }
    text.push_str(&spec.name.to_string());
    let mut exact = false;
    if let Some(version) = spec.version.as_ref().map(ToString::to_string) {
        if version.contains(OPERATORS) {
            brackets.push(format!("version='{version}'"));
        } else if version.starts_with("!=") || version.starts_with("~=") {
            if spec.build.is_some() {
                brackets.push(format!("version='{version}'"));
            } else {
                text.push_str(&version);
            }
        } else if let Some(stem) = version.strip_suffix(".*").or(version.strip_suffix('*')) {
            if !stem.is_empty() {
                text.push('=');
                text.push_str(stem);
            }
        } else if version.starts_with("==") {
            text.push_str(&version);
            exact = true;
        } else {
            text.push_str("==");
            text.push_str(&version);
            exact = true;
        }
    }
    if let Some(build) = spec.build.as_ref().map(ToString::to_string) {
        if build.contains(OPERATORS) {
            brackets.push(format!("build='{build}'"));
        } else if exact && !build.contains('*') {
            text.push('=');
            text.push_str(&build);
        } else {
            brackets.push(format!("build={build}"));
        }
    }
    let mut field = |key: &str, value: String| {
        if value.contains([',', ' ', '=']) {
            brackets.push(format!("{key}='{value}'"));
        } else {
            brackets.push(format!("{key}={value}"));
        }
    };
    if let Some(number) = &spec.build_number {
        field("build_number", number.to_string());
    }
    if let Some(url) = &spec.url {
        field("url", url.to_string());
    }
    if let Some(md5) = &spec.md5 {
        field("md5", hex::encode(md5));
    }
    if let Some(license) = &spec.license {
        field("license", license.clone());
    }
    if let Some(file_name) = &spec.file_name {
        field("fn", file_name.clone());
    }
    if !brackets.is_empty() {
        text.push('[');
        text.push_str(&brackets.join(","));
        text.push(']');
    }
    text
}

/// The conda history entry of a record: `channel/subdir::name-version-build`.
pub fn dist_string(record: &RepoDataRecord) -> String {
    let p = &record.package_record;
    let channel = record
        .channel
        .as_deref()
        .unwrap_or("<unknown>")
        .trim_end_matches('/');
    format!(
        "{channel}/{}::{}-{}-{}",
        p.subdir,
        p.name.as_normalized(),
        p.version,
        p.build
    )
}

/// The package name of a dist string `channel/subdir::name-version-build`.
pub fn dist_name(dist: &str) -> &str {
    let tail = dist.rsplit("::").next().unwrap_or(dist);
    let mut parts = tail.rsplitn(3, '-');
    let _build = parts.next();
    let _version = parts.next();
    parts.next().unwrap_or(tail)
}

/// The spec's package name: what comes before the first version or build operator.
fn spec_name(spec: &str) -> &str {
    let spec = spec.rsplit("::").next().unwrap_or(spec);
    let end = spec
        .find(|c: char| " =<>!~[".contains(c))
        .unwrap_or(spec.len());
    &spec[..end]
}

impl History {
    pub fn parse(text: &str) -> History {
        let mut revisions: Vec<Revision> = Vec::new();
        for line in text.lines() {
            let line = line.trim_end();
            if let Some(date) = line
                .strip_prefix("==> ")
                .and_then(|l| l.strip_suffix(" <=="))
            {
                revisions.push(Revision {
                    date: date.to_string(),
                    ..Revision::default()
                });
                continue;
            }
            let Some(rev) = revisions.last_mut() else {
                continue;
            };
            if let Some(cmd) = line.strip_prefix("# cmd: ") {
                rev.cmd = Some(cmd.to_string());
            } else if let Some(list) = line.strip_prefix("# update specs: ") {
                rev.update_specs.extend(parse_spec_list(list));
            } else if let Some(list) = line.strip_prefix("# remove specs: ") {
                rev.remove_specs.extend(parse_spec_list(list));
            } else if let Some(dist) = line.strip_prefix('+') {
                rev.linked.push(dist.to_string());
            } else if let Some(dist) = line.strip_prefix('-') {
                rev.unlinked.push(dist.to_string());
            }
        }
        History { revisions }
    }

    /// Reads `conda-meta/history`; a missing file is an empty history.
    pub fn read(prefix: &Path) -> Result<History, HistoryError> {
        let path = prefix.join("conda-meta").join("history");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(History::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(History::default()),
            Err(source) => Err(HistoryError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// The packages (dist strings) installed after revision `n`.
    pub fn state_at(&self, n: usize) -> Result<BTreeSet<String>, HistoryError> {
        if n >= self.revisions.len() {
            return Err(HistoryError::NoSuchRevision {
                requested: n,
                last: self.revisions.len() as i64 - 1,
            });
        }
        let mut state = BTreeSet::new();
        for rev in &self.revisions[..=n] {
            for dist in &rev.unlinked {
                state.remove(dist);
            }
            state.extend(rev.linked.iter().cloned());
        }
        Ok(state)
    }

    /// The specs the user asked for, by package name, as conda's `get_requested_specs_map`.
    pub fn requested_specs(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for rev in &self.revisions {
            for spec in &rev.update_specs {
                map.insert(spec_name(spec).to_string(), spec.clone());
            }
            for spec in &rev.remove_specs {
                map.remove(spec_name(spec));
            }
        }
        map
    }

    /// Appends one revision block to `conda-meta/history`.
    pub fn append(prefix: &Path, rev: &Revision) -> Result<(), HistoryError> {
        use std::io::Write;
        let path = prefix.join("conda-meta").join("history");
        let mut block = format!("==> {} <==\n", rev.date);
        if let Some(cmd) = &rev.cmd {
            block.push_str(&format!("# cmd: {cmd}\n"));
        }
        block.push_str(&format!(
            "# conda version: 4.14.0 (krait {})\n",
            env!("CARGO_PKG_VERSION")
        ));
        for dist in &rev.unlinked {
            block.push_str(&format!("-{dist}\n"));
        }
        for dist in &rev.linked {
            block.push_str(&format!("+{dist}\n"));
        }
        if !rev.update_specs.is_empty() {
            block.push_str(&format!(
                "# update specs: {}\n",
                format_spec_list(&rev.update_specs)
            ));
        }
        if !rev.remove_specs.is_empty() {
            block.push_str(&format!(
                "# remove specs: {}\n",
                format_spec_list(&rev.remove_specs)
            ));
        }
        let err = |source| HistoryError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        file.write_all(block.as_bytes()).map_err(err)
    }
}

/// Now, as conda writes it in history headers.
pub fn now() -> String {
    chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONDA_WRITTEN: &str = "==> 2023-10-01 12:00:00 <==
# cmd: /opt/conda/bin/conda create -n foo python=3.11 numpy
# conda version: 23.7.4
+conda-forge/linux-64::python-3.11.5-hab00c5b_0_cpython
+conda-forge/linux-64::numpy-1.26.0-py311h64a7726_0
+conda-forge/noarch::tzdata-2023c-h71feb2d_0
# update specs: ['python=3.11', 'numpy']
==> 2023-10-02 09:30:00 <==
# cmd: /opt/conda/bin/conda remove -n foo numpy
# conda version: 23.7.4
-conda-forge/linux-64::numpy-1.26.0-py311h64a7726_0
# remove specs: ['numpy']
";

    #[test]
    fn reads_conda_history_states_and_requested_specs() {
        let history = History::parse(CONDA_WRITTEN);
        assert_eq!(history.revisions.len(), 2);
        assert_eq!(history.state_at(0).unwrap().len(), 3);
        let after = history.state_at(1).unwrap();
        assert_eq!(after.len(), 2);
        assert!(!after.iter().any(|d| dist_name(d) == "numpy"));
        let specs = history.requested_specs();
        assert_eq!(
            specs.into_iter().collect::<Vec<_>>(),
            [("python".to_string(), "python=3.11".to_string())]
        );
        assert!(matches!(
            history.state_at(2),
            Err(HistoryError::NoSuchRevision {
                requested: 2,
                last: 1
            })
        ));
    }

    #[test]
    fn written_blocks_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("conda-meta")).unwrap();
        let rev = Revision {
            date: "2026-11-25 10:00:00".into(),
            cmd: Some("krait install x".into()),
            linked: vec!["local/linux-64::x-1.0-h0_0".into()],
            unlinked: vec!["local/linux-64::x-0.9-h0_0".into()],
            update_specs: vec!["x>=1".into()],
            remove_specs: vec![],
        };
        History::append(dir.path(), &rev).unwrap();
        History::append(dir.path(), &rev).unwrap();
        let back = History::read(dir.path()).unwrap();
        assert_eq!(back.revisions, vec![rev.clone(), rev]);
        assert_eq!(
            dist_name("local/linux-64::py-foo-bar-1.0-h0_0"),
            "py-foo-bar"
        );
        assert_eq!(spec_name("conda-forge::numpy>=1.2"), "numpy");
    }

    /// The strings conda's own `str(MatchSpec(...))` gives for these inputs (conda's
    /// tests/models/test_match_spec.py), and the list quoting of Python's `repr`.
    #[test]
    fn specs_are_written_as_conda_writes_them() {
        let conda = |input: &str| {
            let spec =
                MatchSpec::from_str(input, rattler_conda_types::ParseStrictness::Lenient).unwrap();
            conda_spec_text(&spec)
        };
        assert_eq!(conda("numpy"), "numpy");
        assert_eq!(conda("numpy=1.7"), "numpy=1.7");
        assert_eq!(conda("numpy 1.7.*"), "numpy=1.7");
        assert_eq!(conda("numpy==1.7"), "numpy==1.7");
        assert_eq!(conda("numpy >=1.7"), "numpy[version='>=1.7']");
        assert_eq!(conda("numpy >=1.7,<2"), "numpy[version='>=1.7,<2']");
        assert_eq!(conda("numpy==1.7 py37_0"), "numpy==1.7=py37_0");
        assert_eq!(conda("numpy 1.7.* py3*"), "numpy=1.7[build=py3*]");
        assert_eq!(conda("conda-forge::numpy"), "conda-forge::numpy");
        assert_eq!(
            format_spec_list(&["python=3.11".into(), "numpy[version='>=1.7']".into()]),
            "['python=3.11', \"numpy[version='>=1.7']\"]"
        );
        let parsed = parse_spec_list("['python=3.11', \"numpy[version='>=1.7']\"]");
        assert_eq!(parsed, ["python=3.11", "numpy[version='>=1.7']"]);
    }
}
