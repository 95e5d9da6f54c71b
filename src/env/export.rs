//! What an environment holds, written the ways conda writes it: the `conda list` table,
//! `--export` and `--explicit` spec files, `--json`, `--revisions`, and `env export`'s
//! environment.yml.

use super::history::{History, Revision};
use crate::channel::resolve::ChannelResolver;
use crate::config::Config;
use rattler_conda_types::{
    MatchSpec, PackageName, ParseStrictness, PrefixRecord, RepoDataRecord, Subdir, Version,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Errors while exporting an environment.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExportError {
    #[error("invalid package name pattern {pattern:?}: {reason}")]
    #[diagnostic(help("the pattern is a regular expression matched against package names"))]
    InvalidPattern { pattern: String, reason: String },
    #[error("the record of {package} has no {kind} hash")]
    #[diagnostic(help("reinstall the package, or list without --{kind}"))]
    MissingHash { package: String, kind: &'static str },
}

/// The hash `list --explicit` appends to each URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplicitHash {
    Md5,
    Sha256,
}

/// How conda names the channel a package came from.
pub struct ChannelNames {
    alias: String,
    defaults: Vec<String>,
}

impl ChannelNames {
    pub fn new(config: &Config) -> ChannelNames {
        let trimmed = |url: &str| url.trim_end_matches('/').to_string();
        // A default channel that does not resolve (a folder gone missing) names nothing.
        let defaults = ChannelResolver::new(config)
            .resolve("defaults")
            .unwrap_or_default();
        ChannelNames {
            alias: trimmed(config.channel_alias.as_str()),
            defaults: defaults
                .iter()
                .map(|c| trimmed(c.base_url.as_str()))
                .collect(),
        }
    }

    fn url(record: &RepoDataRecord) -> &str {
        record
            .channel
            .as_deref()
            .unwrap_or("<unknown>")
            .trim_end_matches('/')
    }

    fn is_default(&self, record: &RepoDataRecord) -> bool {
        self.defaults.iter().any(|d| d == Self::url(record))
    }

    /// The channel's name: relative to `channel_alias` (`conda-forge`), the path of a
    /// default channel (`pkgs/main`), or else its URL.
    pub fn name(&self, record: &RepoDataRecord) -> String {
        let url = Self::url(record);
        if let Some(name) = url
            .strip_prefix(self.alias.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
        {
            return name.to_string();
        }
        if self.is_default(record) {
            if let Ok(parsed) = url::Url::parse(url) {
                return parsed.path().trim_matches('/').to_string();
            }
        }
        url.to_string()
    }

    /// conda's canonical name: `defaults` for the default channels, else [`Self::name`].
    pub fn canonical(&self, record: &RepoDataRecord) -> String {
        if self.is_default(record) {
            "defaults".to_string()
        } else {
            self.name(record)
        }
    }
}

/// The installed records whose names match `pattern` (a case-insensitive regex, as conda's).
pub fn filter<'a>(
    records: &'a [PrefixRecord],
    pattern: Option<&str>,
) -> Result<Vec<&'a PrefixRecord>, ExportError> {
    let Some(pattern) = pattern else {
        return Ok(records.iter().collect());
    };
    let regex = regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .build()
        .map_err(|e| ExportError::InvalidPattern {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })?;
    Ok(records
        .iter()
        .filter(|r| regex.is_match(r.repodata_record.package_record.name.as_normalized()))
        .collect())
}

/// conda's `list` table; as conda, it leaves the channel out for the default channels.
pub fn table(prefix: &Path, records: &[&PrefixRecord], channels: &ChannelNames) -> String {
    let mut out = format!("# packages in environment at {}:\n#\n", prefix.display());
    let _ = writeln!(
        out,
        "# {:<23} {:<15} {:>15}  Channel",
        "Name", "Version", "Build"
    );
    for record in records {
        let r = &record.repodata_record;
        let p = &r.package_record;
        let _ = write!(
            out,
            "{:<25} {:<15} {:>15}  ",
            p.name.as_normalized(),
            p.version.to_string(),
            p.build.to_string(),
        );
        match channels.canonical(r).as_str() {
            "defaults" => out.push('\n'),
            channel => {
                let _ = writeln!(out, "  {channel}");
            }
        }
    }
    out
}

fn spec_file_header(subdir: Subdir) -> String {
    format!(
        "# This file may be used to create an environment using:\n\
         # $ conda create --name <env> --file <this file>\n\
         # platform: {subdir}\n"
    )
}

/// conda's `list --export`: `name=version=build` lines.
pub fn export_specs(records: &[&PrefixRecord], subdir: Subdir) -> String {
    let mut out = spec_file_header(subdir);
    for record in records {
        let p = &record.repodata_record.package_record;
        let _ = writeln!(out, "{}={}={}", p.name.as_normalized(), p.version, p.build);
    }
    out
}

/// conda's `list --explicit [--md5|--sha256]`: `@EXPLICIT` and one archive URL per package.
pub fn explicit(
    records: &[&PrefixRecord],
    subdir: Subdir,
    hash: Option<ExplicitHash>,
) -> Result<String, ExportError> {
    let mut out = spec_file_header(subdir);
    out.push_str("@EXPLICIT\n");
    for record in records {
        let r = &record.repodata_record;
        let mut url = r.url.clone();
        url.set_fragment(None);
        let url = super::prefix::display_url(&url);
        let missing = |kind| ExportError::MissingHash {
            package: r.package_record.name.as_normalized().to_string(),
            kind,
        };
        let fragment = match hash {
            None => None,
            Some(ExplicitHash::Md5) => Some(hex::encode(
                r.package_record.md5.ok_or_else(|| missing("md5"))?,
            )),
            Some(ExplicitHash::Sha256) => Some(format!(
                "sha256:{}",
                hex::encode(r.package_record.sha256.ok_or_else(|| missing("sha256"))?)
            )),
        };
        match fragment {
            Some(fragment) => {
                let _ = writeln!(out, "{url}#{fragment}");
            }
            None => {
                let _ = writeln!(out, "{url}");
            }
        }
    }
    Ok(out)
}

/// conda's `list --json`: one object per package.
pub fn list_json(records: &[&PrefixRecord], channels: &ChannelNames) -> Value {
    let items: Vec<Value> = records
        .iter()
        .map(|record| {
            let r = &record.repodata_record;
            let p = &r.package_record;
            json!({
                "base_url": r.channel.as_deref().unwrap_or("").trim_end_matches('/'),
                "build_number": p.build_number,
                "build_string": p.build,
                "channel": channels.name(r),
                "dist_name": format!("{}-{}-{}", p.name.as_normalized(), p.version, p.build),
                "name": p.name.as_normalized(),
                "platform": p.subdir,
                "version": p.version.to_string(),
            })
        })
        .collect();
    Value::Array(items)
}

/// One package of a history line: (name, version, build, channel), as conda's
/// `dist_str_to_quad`, with the subdir dropped from the channel.
fn quad(dist: &str) -> (String, String, String, String) {
    let (channel, tail) = match dist.rsplit_once("::") {
        Some((channel, tail)) => (channel, tail),
        None => ("", dist),
    };
    let channel = match channel.rsplit_once('/') {
        Some((base, subdir)) if subdir.parse::<Subdir>().is_ok() => base,
        _ => channel,
    };
    let mut parts = tail.rsplitn(3, '-');
    let build = parts.next().unwrap_or_default();
    let version = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    (
        name.to_lowercase(),
        version.to_string(),
        build.to_string(),
        channel.to_string(),
    )
}

type Versions = BTreeMap<String, (String, String, String)>;

/// The packages a revision added and removed, by name.
fn diff(rev: &Revision) -> (Versions, Versions) {
    let side = |dists: &[String]| -> Versions {
        dists
            .iter()
            .map(|d| {
                let (name, version, build, channel) = quad(d);
                (name, (version, build, channel))
            })
            .collect()
    };
    (side(&rev.linked), side(&rev.unlinked))
}

/// conda's `list --revisions`: each revision's date and number, then what changed.
pub fn revisions_text(history: &History) -> String {
    let mut out = String::new();
    for (n, rev) in history.revisions.iter().enumerate() {
        let _ = writeln!(out, "{}  (rev {n})", rev.date);
        let (added, removed) = diff(rev);
        let shown =
            |(version, _, channel): &(String, String, String)| format!("{version} ({channel})");
        for (name, new) in &added {
            if let Some(old) = removed.get(name) {
                let _ = writeln!(out, "     {name}  {{{} -> {}}}", shown(old), shown(new));
            }
        }
        for (name, old) in removed.iter().filter(|(n, _)| !added.contains_key(*n)) {
            let _ = writeln!(out, "    -{name}-{}", shown(old));
        }
        for (name, new) in added.iter().filter(|(n, _)| !removed.contains_key(*n)) {
            let _ = writeln!(out, "    +{name}-{}", shown(new));
        }
        out.push('\n');
    }
    out
}

fn is_newer(new: &str, old: &str) -> bool {
    match (new.parse::<Version>(), old.parse::<Version>()) {
        (Ok(new), Ok(old)) => new > old,
        _ => new > old,
    }
}

/// conda's `list --revisions --json`: `date`, `rev`, `install`, `remove`, `upgrade`, `downgrade`.
pub fn revisions_json(history: &History) -> Value {
    let joined = |name: &str, (version, build, channel): &(String, String, String)| {
        format!("{name}-{version}-{build}-{channel}")
    };
    let events: Vec<Value> = history
        .revisions
        .iter()
        .enumerate()
        .map(|(n, rev)| {
            let (added, removed) = diff(rev);
            let (mut upgrade, mut downgrade) = (Vec::new(), Vec::new());
            for (name, new) in &added {
                if let Some(old) = removed.get(name) {
                    let details = json!({"old": joined(name, old), "new": joined(name, new)});
                    if is_newer(&new.0, &old.0) {
                        upgrade.push(details);
                    } else {
                        downgrade.push(details);
                    }
                }
            }
            let install: Vec<String> = added
                .iter()
                .filter(|(name, _)| !removed.contains_key(*name))
                .map(|(name, v)| joined(name, v))
                .collect();
            let remove: Vec<String> = removed
                .iter()
                .filter(|(name, _)| !added.contains_key(*name))
                .map(|(name, v)| joined(name, v))
                .collect();
            json!({
                "date": rev.date,
                "rev": n,
                "install": install,
                "remove": remove,
                "upgrade": upgrade,
                "downgrade": downgrade,
            })
        })
        .collect();
    Value::Array(events)
}

/// What `env export` writes into the `dependencies:` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependencies {
    /// `name=version=build` of every installed package.
    Pinned,
    /// `name=version` of every installed package (`--no-builds`).
    NoBuilds,
    /// The specs the user asked for, from `conda-meta/history` (`--from-history`).
    FromHistory,
}

/// One item of `dependencies:`: a conda spec, or the `pip:` list of what pip installed.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Dependency {
    Spec(String),
    Pip { pip: Vec<String> },
}

/// The environment.yml content of `env export`, in conda's key order.
#[derive(Debug, serde::Serialize)]
pub struct EnvironmentExport {
    pub name: String,
    pub channels: Vec<String>,
    pub dependencies: Vec<Dependency>,
    /// The environment's own variables (`conda-meta/state`).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub variables: serde_json::Map<String, Value>,
    pub prefix: String,
}

impl EnvironmentExport {
    /// Describes a prefix. Channels are those the packages came from, in order, then the
    /// configured ones, as conda's `env export` lists them.
    pub fn new(
        name: String,
        prefix: &Path,
        records: &[PrefixRecord],
        history: &History,
        configured_channels: &[String],
        names: &ChannelNames,
        dependencies: Dependencies,
    ) -> EnvironmentExport {
        let mut channels: Vec<String> = Vec::new();
        for record in records {
            let channel = names.canonical(&record.repodata_record);
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        for channel in configured_channels {
            if !channels.contains(channel) {
                channels.push(channel.clone());
            }
        }
        let specs: Vec<String> = match dependencies {
            Dependencies::FromHistory => history.requested_specs().into_values().collect(),
            Dependencies::Pinned | Dependencies::NoBuilds => records
                .iter()
                .map(|record| {
                    let p = &record.repodata_record.package_record;
                    if dependencies == Dependencies::Pinned {
                        format!("{}={}={}", p.name.as_normalized(), p.version, p.build)
                    } else {
                        format!("{}={}", p.name.as_normalized(), p.version)
                    }
                })
                .collect(),
        };
        let pip = match dependencies {
            Dependencies::FromHistory => Vec::new(),
            _ => super::pip::installed_by_pip(prefix, records),
        };
        let mut dependencies: Vec<Dependency> = specs.into_iter().map(Dependency::Spec).collect();
        if !pip.is_empty() {
            dependencies.push(Dependency::Pip { pip });
        }
        EnvironmentExport {
            name,
            channels,
            dependencies,
            variables: serde_json::Map::new(),
            prefix: prefix.display().to_string(),
        }
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("strings serialize")
    }
}

/// The installed packages that `specs` need neither directly nor through dependencies: what
/// `env update --prune` removes to bring an environment in line with its file.
pub fn not_required(installed: &[PrefixRecord], specs: &[MatchSpec]) -> Vec<PackageName> {
    let mut needed: BTreeSet<PackageName> = specs
        .iter()
        .filter_map(|s| s.name.as_exact().cloned())
        .collect();
    loop {
        let before = needed.len();
        for record in installed {
            let p = &record.repodata_record.package_record;
            if !needed.contains(&p.name) {
                continue;
            }
            let deps: Vec<PackageName> = p
                .depends
                .iter()
                .filter_map(|d| MatchSpec::from_str(d, ParseStrictness::Lenient).ok())
                .filter_map(|s| s.name.as_exact().cloned())
                .collect();
            needed.extend(deps);
        }
        if needed.len() == before {
            break;
        }
    }
    installed
        .iter()
        .map(|r| r.repodata_record.package_record.name.clone())
        .filter(|name| !needed.contains(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = "==> 2026-01-01 10:00:00 <==
# cmd: krait create -p /x a
+file:///chan/linux-64::a-1.0-h0_0
+file:///chan/noarch::b-2.0-h0_0
# update specs: ['a']
==> 2026-01-02 10:00:00 <==
# cmd: krait install -p /x a=1.1 c
-file:///chan/linux-64::a-1.0-h0_0
+file:///chan/linux-64::a-1.1-h0_0
+conda-forge/noarch::c-3-h0_0
# update specs: ['a=1.1', 'c']
==> 2026-01-03 10:00:00 <==
-conda-forge/noarch::c-3-h0_0
-file:///chan/linux-64::a-1.1-h0_0
+file:///chan/linux-64::a-1.0-h0_0
";

    #[test]
    fn revisions_read_like_conda() {
        let history = History::parse(HISTORY);
        assert_eq!(
            revisions_text(&history),
            "2026-01-01 10:00:00  (rev 0)
    +a-1.0 (file:///chan)
    +b-2.0 (file:///chan)

2026-01-02 10:00:00  (rev 1)
     a  {1.0 (file:///chan) -> 1.1 (file:///chan)}
    +c-3 (conda-forge)

2026-01-03 10:00:00  (rev 2)
     a  {1.1 (file:///chan) -> 1.0 (file:///chan)}
    -c-3 (conda-forge)

"
        );
        let events = revisions_json(&history);
        assert_eq!(events[1]["upgrade"][0]["new"], "a-1.1-h0_0-file:///chan");
        assert_eq!(events[1]["install"], json!(["c-3-h0_0-conda-forge"]));
        assert_eq!(events[2]["downgrade"][0]["old"], "a-1.1-h0_0-file:///chan");
        assert_eq!(events[2]["remove"], json!(["c-3-h0_0-conda-forge"]));
    }
}
