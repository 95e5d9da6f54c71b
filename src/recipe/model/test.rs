//! `test`: commands, imports, requires, files, source_files, downstreams and a test script.

use super::{Reader, Result};
use crate::recipe::yaml::{Node, Value};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Test {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_files: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub downstreams: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_interpreter: Option<String>,
}

impl Test {
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
            && self.imports.is_empty()
            && self.requires.is_empty()
            && self.files.is_empty()
            && self.source_files.is_empty()
            && self.downstreams.is_empty()
            && self.script.is_none()
    }
}

impl Reader<'_> {
    pub fn test(&mut self, node: Option<&Node>) -> Result<Test> {
        let Some(node) = node.filter(|n| !n.is_null()) else {
            return Ok(Test::default());
        };
        const KNOWN: [&str; 8] = [
            "requires",
            "commands",
            "files",
            "imports",
            "source_files",
            "downstreams",
            "script",
            "script_interpreter",
        ];
        self.check_keys(node, "test", &KNOWN);
        let s = |r: &Self, k: &str| r.strings(node.get(k), &format!("test/{k}"));
        // `imports` may hold `{lang: r, imports: [...]}` entries.
        let mut imports = Vec::new();
        if let Some(Value::Seq(items)) = node.get("imports").map(|n| &n.value) {
            for item in items {
                match &item.value {
                    Value::Map(_) => {
                        imports.extend(self.strings(item.get("imports"), "test/imports")?)
                    }
                    _ => imports.extend(self.strings(Some(item), "test/imports")?),
                }
            }
        } else {
            imports = s(self, "imports")?;
        }
        Ok(Test {
            commands: s(self, "commands")?,
            imports,
            requires: s(self, "requires")?,
            files: s(self, "files")?,
            source_files: s(self, "source_files")?,
            downstreams: s(self, "downstreams")?,
            script: self.string(node.get("script"), "test/script")?,
            script_interpreter: self
                .string(node.get("script_interpreter"), "test/script_interpreter")?,
        })
    }
}
