//! `requirements`: build, host, run and run_constrained specs, with `pin_compatible()` left
//! pending until the host environment is solved.

use super::{Reader, RecipeError, Result};
use crate::recipe::error::Location;
use crate::recipe::jinja::PIN_COMPATIBLE_MARKER;
use crate::recipe::yaml::Node;
use rattler_conda_types::{MatchSpec, ParseStrictness};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// A requirement: a match spec (with the text the recipe rendered, which conda-build keeps
/// verbatim), or a `pin_compatible()` waiting for the solved host env.
#[derive(Debug, Clone)]
pub enum Dependency {
    Spec { text: String, spec: Box<MatchSpec> },
    PinCompatible(PinCompatible),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PinCompatible {
    pub name: String,
    pub min_pin: Option<String>,
    pub max_pin: Option<String>,
    pub lower_bound: Option<String>,
    pub upper_bound: Option<String>,
    pub exact: bool,
}

impl Serialize for Dependency {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Dependency::Spec { text, .. } => s.serialize_str(text),
            Dependency::PinCompatible(pin) => {
                let mut map = BTreeMap::new();
                map.insert("pin_compatible", pin);
                map.serialize(s)
            }
        }
    }
}

impl Dependency {
    /// The package name the requirement is about.
    pub fn name(&self) -> String {
        match self {
            Dependency::Spec { spec, .. } => spec
                .name
                .as_exact()
                .map(|n| n.as_normalized().to_string())
                .unwrap_or_else(|| spec.name.to_string()),
            Dependency::PinCompatible(pin) => pin.name.clone(),
        }
    }

    /// Parse a rendered requirement string (pin_compatible markers included).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        if let Some((name, rest)) = text.split_once(PIN_COMPATIBLE_MARKER) {
            let field = |key: &str| {
                rest.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                    .filter(|v| *v != "None")
                    .map(String::from)
            };
            return Ok(Dependency::PinCompatible(PinCompatible {
                name: name.trim().to_string(),
                min_pin: field("min_pin"),
                max_pin: field("max_pin"),
                lower_bound: field("lower_bound"),
                upper_bound: field("upper_bound"),
                exact: field("exact").as_deref() == Some("true"),
            }));
        }
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        MatchSpec::from_str(&text, ParseStrictness::Lenient)
            .map(|spec| Dependency::Spec {
                text,
                spec: Box::new(spec),
            })
            .map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Requirements {
    pub build: Vec<Dependency>,
    pub host: Vec<Dependency>,
    pub run: Vec<Dependency>,
    pub run_constrained: Vec<Dependency>,
    /// A `host:` key was present (even empty): build and host are separate prefixes.
    pub has_host: bool,
}

impl Reader<'_> {
    pub fn dependencies(
        &self,
        node: Option<&Node>,
        entries: &[String],
        what: &str,
    ) -> Result<Vec<Dependency>> {
        entries
            .iter()
            .map(|e| {
                Dependency::parse(e).map_err(|message| match node {
                    Some(n) => {
                        self.invalid(n, format!("invalid requirement `{e}` in {what}: {message}"))
                    }
                    None => RecipeError::Invalid {
                        location: Location::new(self.file, 0, 0),
                        message: format!("invalid requirement `{e}` in {what}: {message}"),
                    },
                })
            })
            .collect()
    }
}
