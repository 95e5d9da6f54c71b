//! `channeldata.json` as conda-index writes it: one entry per package name with the metadata of
//! its latest version (about.json fields, run_exports, whether it has activation or link
//! scripts or prefix placeholders) and the subdirs it is in.
//!
//! What an entry needs beyond the repodata record is gathered while the archive is read for the
//! index ([`PackageExtras`]) and kept with the record in the index cache, so writing
//! `channeldata.json` reads no archive.

use rattler_conda_types::package::{AboutJson, PackageFile};
use rattler_conda_types::{ChannelData, ChannelDataPackage, PackageRecord};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use url::Url;

/// What `channeldata.json` says about one archive that its repodata record does not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PackageExtras {
    pub summary: Option<String>,
    pub description: Option<String>,
    pub home: Vec<Url>,
    pub dev_url: Vec<Url>,
    pub doc_url: Vec<Url>,
    pub source_url: Option<Url>,
    pub activate_d: bool,
    pub deactivate_d: bool,
    pub post_link: bool,
    pub pre_link: bool,
    pub pre_unlink: bool,
    pub binary_prefix: bool,
    pub text_prefix: bool,
}

impl PackageExtras {
    /// Notes what a file of the package (as its path in the archive) says about it.
    pub fn note_path(&mut self, path: &str) {
        self.activate_d |= path.starts_with("etc/conda/activate.d/");
        self.deactivate_d |= path.starts_with("etc/conda/deactivate.d/");
        let script = path.starts_with("bin/") || path.starts_with("Scripts/");
        for (suffix, flag) in [
            ("-post-link", &mut self.post_link),
            ("-pre-link", &mut self.pre_link),
            ("-pre-unlink", &mut self.pre_unlink),
        ] {
            *flag |= script
                && [".sh", ".bat"]
                    .iter()
                    .any(|ext| path.ends_with(&format!("{suffix}{ext}")));
        }
    }

    /// Reads `info/about.json`; a file that does not parse is ignored, as conda-index does.
    pub fn read_about(&mut self, text: &str) {
        let Ok(about) = AboutJson::from_str(text) else {
            return;
        };
        self.summary = about.summary;
        self.description = about.description;
        self.home = about.home;
        self.dev_url = about.dev_url;
        self.doc_url = about.doc_url;
        self.source_url = about.source_url;
    }

    /// Reads `info/has_prefix`: lines `placeholder mode path`, or a bare path (text mode).
    pub fn read_has_prefix(&mut self, text: &str) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [_, "binary", ..] => self.binary_prefix = true,
                _ => self.text_prefix = true,
            }
        }
    }
}

/// Builds `channeldata.json` from every (subdir, record, extras) of a channel.
pub fn channeldata<'a>(
    records: impl IntoIterator<Item = (&'a str, &'a PackageRecord, &'a PackageExtras)>,
) -> ChannelData {
    let mut latest: HashMap<String, (&PackageRecord, &PackageExtras)> = HashMap::new();
    let mut subdirs_of: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut subdirs = BTreeSet::new();
    for (subdir, record, extras) in records {
        let name = record.name.as_normalized().to_string();
        subdirs.insert(subdir.to_string());
        subdirs_of
            .entry(name.clone())
            .or_default()
            .insert(subdir.to_string());
        let newer = |(old, _): &(&PackageRecord, &PackageExtras)| {
            let key = |r: &PackageRecord| {
                (
                    r.version.clone(),
                    r.build_number,
                    r.timestamp.map(|t| t.timestamp_millis()),
                )
            };
            key(record) > key(old)
        };
        if latest.get(&name).is_none_or(newer) {
            latest.insert(name, (record, extras));
        }
    }
    let packages = latest
        .into_iter()
        .map(|(name, (record, extras))| {
            let run_exports = record
                .run_exports
                .clone()
                .map(|exports| HashMap::from([(record.version.version().clone(), exports)]))
                .unwrap_or_default();
            let entry = ChannelDataPackage {
                has_activate_scripts: extras.activate_d,
                has_deactivate_scripts: extras.deactivate_d,
                binary_prefix: extras.binary_prefix,
                description: extras.description.clone(),
                dev_url: extras.dev_url.clone(),
                doc_url: extras.doc_url.clone(),
                home: extras.home.clone(),
                source_url: extras.source_url.clone().into_iter().collect(),
                license: record.license.clone(),
                has_post_link_scripts: extras.post_link,
                has_pre_link_scripts: extras.pre_link,
                has_pre_unlink_scripts: extras.pre_unlink,
                run_exports,
                subdirs: subdirs_of
                    .remove(&name)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                summary: extras.summary.clone(),
                text_prefix: extras.text_prefix,
                timestamp: record.timestamp.map(|t| t.timestamp() as u64),
                version: Some(record.version.version().clone()),
            };
            (name, entry)
        })
        .collect();
    ChannelData {
        channeldata_version: 1,
        packages,
        subdirs: subdirs.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_and_prefix_flags_follow_conda_index() {
        let mut extras = PackageExtras::default();
        extras.note_path("etc/conda/activate.d/x.sh");
        extras.note_path("bin/.foo-post-link.sh");
        extras.note_path("lib/pre-unlink.sh");
        extras.read_has_prefix("/opt/placeholder binary lib/a.so\n");
        assert!(extras.activate_d && extras.post_link && extras.binary_prefix);
        assert!(!extras.deactivate_d && !extras.pre_unlink && !extras.text_prefix);
        extras.read_has_prefix("bin/script\n");
        assert!(extras.text_prefix);
    }
}
