//! `about`: the descriptive fields (home, license, summary, ...) kept as written, and the list
//! fields (license_file, prelink_message, identifiers, tags, keywords).

use super::{Reader, Result};
use crate::recipe::yaml::Node;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize)]
pub struct About {
    #[serde(skip_serializing_if = "BTreeMap::is_empty", flatten)]
    pub fields: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub license_file: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prelink_message: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

impl Reader<'_> {
    pub fn about(&mut self, node: Option<&Node>) -> Result<About> {
        let Some(node) = node.filter(|n| !n.is_null()) else {
            return Ok(About::default());
        };
        const SCALARS: [&str; 10] = [
            "home",
            "dev_url",
            "doc_url",
            "doc_source_url",
            "license_url",
            "license",
            "summary",
            "description",
            "license_family",
            "readme",
        ];
        const LISTS: [&str; 5] = [
            "license_file",
            "prelink_message",
            "identifiers",
            "tags",
            "keywords",
        ];
        let known: Vec<&str> = SCALARS.iter().chain(LISTS.iter()).copied().collect();
        self.check_keys(node, "about", &known);
        let mut fields = BTreeMap::new();
        for key in SCALARS {
            if let Some(v) = self.string(node.get(key), &format!("about/{key}"))? {
                fields.insert(key.to_string(), v);
            }
        }
        let s = |r: &Self, k: &str| r.strings(node.get(k), &format!("about/{k}"));
        Ok(About {
            fields,
            license_file: s(self, "license_file")?,
            prelink_message: s(self, "prelink_message")?,
            identifiers: s(self, "identifiers")?,
            tags: s(self, "tags")?,
            keywords: s(self, "keywords")?,
        })
    }
}
