//! A YAML tree the way conda-build loads recipes: every scalar keeps its text (no int or float
//! resolution, `version: 1.10` stays "1.10"), duplicate keys are allowed with the last one
//! winning in the first one's position (PyYAML dict semantics), and every node remembers its
//! line and column so later errors can point at it.

use super::error::{Location, RecipeError, Result};
use std::collections::HashMap;
use std::path::Path;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One YAML node with its 1-based position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An empty plain scalar, `~` or `null`.
    Null,
    /// Any other scalar; `plain` is false for quoted and block scalars.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    pub fn null() -> Self {
        Node {
            value: Value::Null,
            line: 0,
            column: 0,
        }
    }

    /// The value under `key` if this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(String, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// PyYAML's 1.1 boolean resolution for plain scalars (`true`, `yes`, `on`, ...).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar { text, plain: true } => match text.as_str() {
                "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
                "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
                    Some(false)
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Python truthiness of the loaded value (a quoted "false" is a non-empty string: true).
    pub fn is_truthy(&self) -> bool {
        match &self.value {
            Value::Null => false,
            Value::Scalar { text, .. } => self.as_bool().unwrap_or(!text.is_empty()),
            Value::Seq(items) => !items.is_empty(),
            Value::Map(entries) => !entries.is_empty(),
        }
    }

    pub fn location(&self, file: &Path) -> Location {
        Location::new(file, self.line, self.column)
    }

    /// Convert to JSON; scalars become strings except PyYAML booleans (as conda-build's loader).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Scalar { text, .. } => match self.as_bool() {
                Some(b) => serde_json::Value::Bool(b),
                None => serde_json::Value::String(text.clone()),
            },
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// Convert to JSON the way PyYAML's BaseLoader does (used for conda_build_config.yaml):
    /// every scalar, booleans and nulls included, is a string.
    pub fn to_base_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::String(String::new()),
            Value::Scalar { text, .. } => serde_json::Value::String(text.clone()),
            Value::Seq(items) => items.iter().map(Node::to_base_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.clone(), v.to_base_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

/// Parse the first YAML document of `text`; an empty document is a null node.
pub fn parse(text: &str, file: &Path) -> Result<Node> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    let location = |mark: &Marker| Location::new(file, mark.line().max(1), mark.col() + 1);
    parser
        .load(&mut builder, false)
        .map_err(|e| RecipeError::Yaml {
            location: location(e.marker()),
            message: e.info().to_string(),
        })?;
    if let Some((mark, message)) = builder.error {
        return Err(RecipeError::Yaml {
            location: location(&mark),
            message,
        });
    }
    Ok(builder.root.unwrap_or_else(Node::null))
}

enum Frame {
    Seq(Node, usize),
    Map(Node, Option<String>, usize),
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<(Marker, String)>,
}

impl TreeBuilder {
    fn push(&mut self, node: Node, anchor: usize, mark: Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(seq, _)) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, pending, _)) => match pending.take() {
                None => match node.value {
                    Value::Scalar { text, .. } => *pending = Some(text),
                    Value::Null => *pending = Some(String::new()),
                    _ => {
                        self.error
                            .get_or_insert((mark, "mapping keys must be plain strings".into()));
                    }
                },
                Some(key) => {
                    if let Value::Map(entries) = &mut map.value {
                        match entries.iter_mut().find(|(k, _)| *k == key) {
                            Some(entry) => entry.1 = node,
                            None => entries.push((key, node)),
                        }
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = |value| Node {
            value,
            line: mark.line().max(1),
            column: mark.col() + 1,
        };
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                let value = if plain && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Value::Null
                } else {
                    Value::Scalar { text, plain }
                };
                self.push(at(value), anchor, mark);
            }
            Event::SequenceStart(anchor, _) => self
                .stack
                .push(Frame::Seq(at(Value::Seq(Vec::new())), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Frame::Map(at(Value::Map(Vec::new())), None, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let (node, anchor) = match frame {
                        Frame::Seq(node, anchor) | Frame::Map(node, _, anchor) => (node, anchor),
                    };
                    self.push(node, anchor, mark);
                }
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or_else(Node::null);
                self.push(node, 0, mark);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Node {
        parse(text, Path::new("meta.yaml")).unwrap()
    }

    #[test]
    fn scalars_stay_strings() {
        let root = load("package:\n  version: 1.10\nbuild:\n  number: 01\n");
        assert_eq!(
            root.get("package")
                .unwrap()
                .get("version")
                .unwrap()
                .as_str(),
            Some("1.10")
        );
        assert_eq!(
            root.get("build").unwrap().get("number").unwrap().as_str(),
            Some("01")
        );
    }

    #[test]
    fn duplicate_keys_last_wins_in_first_position() {
        let root = load("build:\n  script: a\n  number: 0\n  script: b\n");
        let build = root.get("build").unwrap();
        assert_eq!(build.entries()[0].0, "script");
        assert_eq!(build.get("script").unwrap().as_str(), Some("b"));
        assert_eq!(build.entries().len(), 2);
    }

    #[test]
    fn positions_and_nulls() {
        let root = load("requirements:\n  host:\n  run:\n    - python\n");
        let reqs = root.get("requirements").unwrap();
        assert!(reqs.get("host").unwrap().is_null());
        let python = &match &reqs.get("run").unwrap().value {
            Value::Seq(items) => items.clone(),
            _ => panic!(),
        }[0];
        assert_eq!((python.line, python.column), (4, 7));
    }

    #[test]
    fn syntax_error_has_location() {
        let err = parse("a: [1,\nb: c\n", Path::new("r/meta.yaml")).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("r/meta.yaml:"), "{message}");
    }
}
