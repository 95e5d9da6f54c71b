//! `krait search`: conda's search over channels' repodata.
//!
//! A query is a MatchSpec (`numpy>=1.20`, `numpy=1.2*`, `conda-forge::numpy`,
//! `"numpy 1.26.* py311*"`) or a name glob (`*py*`). As conda does, an exact name that matches
//! nothing is retried as `*name*` unless `--full-name` is given. Results are sorted as conda
//! sorts them: by name, then version, then build.

use super::repodata::{self, RepodataError};
use super::resolve::{ChannelResolver, ResolveError};
use rattler_conda_types::{
    Channel, MatchSpec, Matches, PackageNameMatcher, ParseMatchSpecOptions, RepoDataRecord, Subdir,
};
use rattler_repodata_gateway::Gateway;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// Errors of a search.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SearchError {
    #[error("invalid MatchSpec {spec:?}: {reason}")]
    #[diagnostic(help(
        "examples: numpy, 'numpy>=1.20', 'numpy 1.26.* py311*', conda-forge::numpy"
    ))]
    InvalidSpec { spec: String, reason: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repodata(#[from] RepodataError),
}

/// How to interpret the queries.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchMode {
    /// Match names exactly: no glob, no `*name*` retry.
    pub full_name: bool,
}

/// What a search found for one query.
pub struct QueryResult {
    /// The spec as the user wrote it.
    pub query: String,
    /// The `*name*` spec that was tried after the exact name matched nothing, if any.
    pub widened_to: Option<String>,
    pub records: Vec<RepoDataRecord>,
}

/// Parses a search query into a MatchSpec; globs allowed unless `full_name`.
pub fn parse_query(query: &str, mode: SearchMode) -> Result<MatchSpec, SearchError> {
    let options = ParseMatchSpecOptions::lenient().with_exact_names_only(mode.full_name);
    MatchSpec::from_str(query, options).map_err(|e| SearchError::InvalidSpec {
        spec: query.to_string(),
        reason: e.to_string(),
    })
}

/// Runs one query over `channels` in `subdir` (plus noarch).
pub async fn search(
    gateway: &Gateway,
    resolver: &ChannelResolver<'_>,
    channels: &[Channel],
    subdir: Subdir,
    query: &str,
    mode: SearchMode,
) -> Result<QueryResult, SearchError> {
    let mut spec = parse_query(query, mode)?;
    // A channel in the spec (`conda-forge::numpy`) restricts the search to that channel,
    // resolved through krait's configuration rather than rattler's default alias.
    let spec_channels = match spec.channel.take() {
        Some(channel) => match &channel.name {
            Some(name) => resolver.resolve(name)?,
            None => vec![(*channel).clone()],
        },
        None => channels.to_vec(),
    };
    let subdir = match spec.subdir.as_deref() {
        Some(s) => super::resolve::parse_subdir(s)?,
        None => subdir,
    };
    let mut records = matching(gateway, &spec_channels, subdir, &spec).await?;
    let mut widened_to = None;
    if records.is_empty() && !mode.full_name {
        if let PackageNameMatcher::Exact(name) = &spec.name {
            let pattern = format!("*{}*", name.as_normalized());
            let mut wide = spec.clone();
            wide.name = PackageNameMatcher::Glob(Box::new(
                glob::Pattern::new(&pattern).expect("a name wrapped in stars is a valid glob"),
            ));
            records = matching(gateway, &spec_channels, subdir, &wide).await?;
            widened_to = Some(pattern);
        }
    }
    sort_as_conda(&mut records);
    Ok(QueryResult {
        query: query.to_string(),
        widened_to,
        records,
    })
}

async fn matching(
    gateway: &Gateway,
    channels: &[Channel],
    subdir: Subdir,
    spec: &MatchSpec,
) -> Result<Vec<RepoDataRecord>, RepodataError> {
    let records = repodata::query(gateway, channels, subdir, vec![spec.clone()], false).await?;
    Ok(records.into_iter().filter(|r| spec.matches(r)).collect())
}

/// conda's order: name, then version, then build (stable, so channel order breaks ties).
pub fn sort_as_conda(records: &mut [RepoDataRecord]) {
    records.sort_by(|a, b| {
        let (a, b) = (&a.package_record, &b.package_record);
        a.name
            .as_normalized()
            .cmp(b.name.as_normalized())
            .then_with(|| a.version.cmp(&b.version))
            .then_with(|| a.build.cmp(&b.build))
    });
}

/// The name conda shows for a record's channel.
pub fn channel_name(record: &RepoDataRecord) -> String {
    record
        .channel
        .as_deref()
        .unwrap_or(record.url.as_str())
        .trim_end_matches('/')
        .to_string()
}

/// conda's table: `# Name  Version  Build  Channel`.
pub fn format_table(records: &[RepoDataRecord]) -> String {
    let mut out = format!(
        "{:<24} {:>15} {:>24}  {}\n",
        "# Name", "Version", "Build", "Channel"
    );
    for record in records {
        let r = &record.package_record;
        let _ = writeln!(
            out,
            "{:<24} {:>15} {:>24}  {}",
            r.name.as_source(),
            r.version.to_string(),
            r.build.to_string(),
            channel_name(record)
        );
    }
    out
}

fn human_size(bytes: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// conda's `--info` block for each record.
pub fn format_info(records: &[RepoDataRecord]) -> String {
    let mut out = String::new();
    for record in records {
        let r = &record.package_record;
        let title = format!("{} {} {}", r.name.as_source(), r.version, r.build);
        let _ = writeln!(out, "{title}\n{}", "-".repeat(title.len()));
        let mut field = |label: &str, value: String| {
            let _ = writeln!(out, "{label:<12}: {value}");
        };
        field("file name", record.identifier.to_file_name());
        field("name", r.name.as_source().to_string());
        field("version", r.version.to_string());
        field("build", r.build.to_string());
        field("build number", r.build_number.to_string());
        field("size", r.size.map(human_size).unwrap_or_default());
        field("license", r.license.clone().unwrap_or_default());
        field("subdir", r.subdir.clone());
        field("url", record.url.to_string());
        field("md5", r.md5.map(hex::encode).unwrap_or_default());
        field("sha256", r.sha256.map(hex::encode).unwrap_or_default());
        field(
            "timestamp",
            r.timestamp
                .map(|t| {
                    t.jiff_timestamp()
                        .strftime("%Y-%m-%d %H:%M:%S UTC")
                        .to_string()
                })
                .unwrap_or_default(),
        );
        for (label, list) in [("dependencies", &r.depends), ("constraints", &r.constrains)] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{label}:");
            for dep in list {
                let _ = writeln!(out, "  - {dep}");
            }
        }
        out.push('\n');
    }
    out
}

/// conda's `--json` shape: `{name: [record, ...]}` with `channel`, `fn` and `url` added.
pub fn to_json(records: &[RepoDataRecord]) -> Value {
    let mut by_name = serde_json::Map::new();
    for record in records {
        let value = record_json(record);
        let entry = by_name
            .entry(record.package_record.name.as_normalized().to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(value);
        }
    }
    Value::Object(by_name)
}

/// One record as conda prints it in JSON: the repodata fields plus `channel`, `fn` and `url`.
pub fn record_json(record: &RepoDataRecord) -> Value {
    let mut value = serde_json::to_value(&record.package_record).expect("records serialize");
    if let Value::Object(map) = &mut value {
        map.insert("channel".into(), json!(channel_name(record)));
        map.insert("fn".into(), json!(record.identifier.to_file_name()));
        map.insert("url".into(), json!(record.url.as_str()));
    }
    value
}

/// conda's PackagesNotFoundError text.
pub fn not_found_message(queries: &[String], channels: &[Channel], subdir: Subdir) -> String {
    let mut out =
        String::from("PackagesNotFoundError: The following packages are not available from current channels:\n\n");
    for q in queries {
        let _ = writeln!(out, "  - {q}");
    }
    out.push_str("\nCurrent channels:\n\n");
    for channel in channels {
        for s in [subdir, Subdir::NoArch] {
            let _ = writeln!(
                out,
                "  - {}",
                channel.platform_url(s).as_str().trim_end_matches('/')
            );
            if subdir == Subdir::NoArch {
                break;
            }
        }
    }
    out.push_str(
        "\nTo search for alternate channels that may provide the conda package you're\nlooking for, pass them with -c/--channel, or use a glob such as '*name*'.",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_need_lenient_names_and_full_name_rejects_them() {
        let spec = parse_query("*py*", SearchMode::default()).unwrap();
        assert!(matches!(spec.name, PackageNameMatcher::Glob(_)));
        assert!(parse_query("*py*", SearchMode { full_name: true }).is_err());
        let spec = parse_query("numpy 1.26.* py311*", SearchMode::default()).unwrap();
        assert_eq!(spec.version.unwrap().to_string(), "1.26.*");
        let err = parse_query("numpy >=>= 1", SearchMode::default()).unwrap_err();
        assert!(err.to_string().contains("numpy >=>= 1"), "{err}");
    }

    #[test]
    fn human_sizes_follow_conda_units() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(7_700_000), "7.7 MB");
    }
}
