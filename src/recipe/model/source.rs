//! `source`: a URL (with mirrors and hashes), a local path or a git checkout, with patches,
//! into an optional folder of the work directory.

use super::{Reader, Result};
use crate::recipe::yaml::{Node, Value};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Source {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub url: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(rename = "fn", skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_url: Option<String>,
    /// `git_rev`, with `git_tag`/`git_branch` folded in as conda-build does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_rev: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_depth: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_hoist: bool,
}

impl Reader<'_> {
    pub fn sources(&mut self, node: Option<&Node>) -> Result<Vec<Source>> {
        let nodes: Vec<&Node> = match node {
            None => Vec::new(),
            Some(n) => match &n.value {
                Value::Null => Vec::new(),
                Value::Map(_) => vec![n],
                Value::Seq(items) => items.iter().filter(|i| !i.is_null()).collect(),
                _ => {
                    return Err(self.invalid(n, "`source` must be a mapping or a list of mappings"))
                }
            },
        };
        nodes.into_iter().map(|n| self.source(n)).collect()
    }

    fn source(&mut self, node: &Node) -> Result<Source> {
        const KNOWN: [&str; 26] = [
            "fn",
            "url",
            "md5",
            "sha1",
            "sha224",
            "sha256",
            "sha384",
            "sha512",
            "path",
            "path_via_symlink",
            "git_url",
            "git_tag",
            "git_branch",
            "git_rev",
            "git_depth",
            "hg_url",
            "hg_tag",
            "svn_url",
            "svn_rev",
            "svn_ignore_externals",
            "folder",
            "no_hoist",
            "patches",
            "content_sha256",
            "svn_username",
            "svn_password",
        ];
        if !matches!(node.value, Value::Map(_)) {
            return Err(self.invalid(node, "each `source` entry must be a mapping"));
        }
        self.check_keys(node, "source", &KNOWN);
        let revs: Vec<&str> = ["git_rev", "git_tag", "git_branch"]
            .into_iter()
            .filter(|k| node.get(k).is_some())
            .collect();
        if revs.len() > 1 {
            return Err(self.invalid(
                node,
                format!("multiple git revisions: {}; keep one", revs.join(", ")),
            ));
        }
        let git_rev = match revs.first() {
            Some(key) => self.string(node.get(key), key)?,
            None => None,
        };
        let git_depth = match self.string(node.get("git_depth"), "source/git_depth")? {
            Some(d) => Some(d.parse().map_err(|_| {
                self.invalid(
                    node.get("git_depth").expect("present"),
                    "`git_depth` must be an integer",
                )
            })?),
            None => None,
        };
        Ok(Source {
            url: self.strings(node.get("url"), "source/url")?,
            sha256: self.string(node.get("sha256"), "source/sha256")?,
            md5: self.string(node.get("md5"), "source/md5")?,
            sha1: self.string(node.get("sha1"), "source/sha1")?,
            file_name: self.string(node.get("fn"), "source/fn")?,
            path: self.string(node.get("path"), "source/path")?,
            git_url: self.string(node.get("git_url"), "source/git_url")?,
            git_rev,
            git_depth,
            folder: self.string(node.get("folder"), "source/folder")?,
            patches: self.strings(node.get("patches"), "source/patches")?,
            no_hoist: self.bool(node.get("no_hoist"), false),
        })
    }
}
