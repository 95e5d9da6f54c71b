//! The recipe text cut into sections the way conda-build's regular expressions cut it
//! (`extract_outputs_text`, `output_re`, the requirements section): the used-variable pass works
//! on text, not on the YAML tree.

use regex::Regex;
use std::sync::LazyLock;

/// The recipe text split like conda-build's `extract_outputs_text` / `output_re`.
#[derive(Debug, Clone, Default)]
pub struct RecipeSections {
    /// Everything except the `outputs:` block.
    pub top: String,
    /// One chunk per `- name:` / `- type:` entry of the outputs block, in order.
    pub outputs: Vec<String>,
}

static OUTPUT_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ +- +(?:name|type):.+").expect("regex"));

pub fn split_sections(text: &str) -> RecipeSections {
    let mut sections = RecipeSections::default();
    let mut in_outputs = false;
    for line in text.lines() {
        let starts_word = line
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if line.starts_with("outputs:") {
            in_outputs = true;
            continue;
        }
        if in_outputs && starts_word {
            in_outputs = false;
        }
        if !in_outputs {
            sections.top.push_str(line);
            sections.top.push('\n');
        } else if OUTPUT_START.is_match(line) {
            sections.outputs.push(format!("{line}\n"));
        } else if let Some(current) = sections.outputs.last_mut() {
            current.push_str(line);
            current.push('\n');
        }
    }
    sections
}

static REQS_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:\w|\s+-\s(?:name|type))").expect("regex"));

/// `requirements:.+?(?=^\w|\Z|^\s+-\s(?=name|type))`: the first requirements section.
pub fn requirements_text(text: &str) -> String {
    let Some(start) = text.find("requirements:") else {
        return String::new();
    };
    let rest = &text[start..];
    let mut out = String::new();
    for (i, line) in rest.split_inclusive('\n').enumerate() {
        if i > 0 && REQS_END.is_match(line) {
            break;
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_like_output_re() {
        let text = "package:\n  name: a\noutputs:\n  - name: liba\n    requirements:\n      - zlib\n  - name: a-py\n    script: x.sh\nabout:\n  license: MIT\n";
        let s = split_sections(text);
        assert_eq!(s.outputs.len(), 2);
        assert!(s.outputs[0].contains("zlib") && !s.outputs[0].contains("a-py"));
        assert!(s.top.contains("about:") && !s.top.contains("liba"));
    }

    #[test]
    fn requirements_text_stops_at_next_section() {
        let text = "requirements:\n  host:\n    - python\ntest:\n  imports:\n    - numpy\n";
        assert_eq!(
            requirements_text(text),
            "requirements:\n  host:\n    - python\n"
        );
    }
}
