//! Finishing one output: variant pins on its requirements, its used variables, build string,
//! and typed sections.

use super::requirements::{
    first_token, insert_variant_versions, pin_run_as_build, star_underspecified, variant_string,
    RawRequirements,
};
use super::top_level::TopLevel;
use super::{build_string, Draft, VariantInputs};
use crate::recipe::error::Result;
use crate::recipe::model::{Build, Output, OutputType, Package, Reader, Requirements, Test};
use crate::recipe::yaml::Node;
use std::collections::HashSet;

/// A finished output, its requirement strings (typed once exact pins are resolved) and the
/// variant keys it uses.
pub(super) struct Finished {
    pub(super) output: Output,
    pub(super) pending: (RawRequirements, Option<Node>),
    pub(super) used: HashSet<String>,
}

/// Finish one draft: variant pins on its requirements, its used variables, its build string
/// and the typed sections; None when its `build/skip` is true.
pub(super) fn finish(
    mut draft: Draft,
    top: &TopLevel<'_>,
    inputs: &VariantInputs<'_>,
    reader: &mut Reader<'_>,
) -> Result<Option<Finished>> {
    if reader.bool(draft.build_node.get("skip"), false) {
        return Ok(None);
    }
    let mut build = reader.build(&draft.build_node, draft.number, String::new())?;
    let noarch = !build.noarch.is_none();
    let script = reader.string(draft.node.get("script"), "outputs/script")?;
    let used = inputs.used_vars(
        &draft,
        noarch,
        &build.force_use_keys,
        &build.force_ignore_keys,
        script.as_deref(),
    );
    let package_type = output_type(&draft, reader)?;
    pin_requirements(&mut draft, &build, package_type, inputs, reader)?;
    let name_text = draft.name_node.as_str().unwrap_or_default().to_string();
    for spec in draft.reqs.run.iter_mut() {
        *spec = star_underspecified(spec, &name_text, "requirements/run", reader);
    }
    let (string, hash_input) = build_string::build_string(&draft, &build, &used, inputs, reader)?;
    build.string = string;
    let name = reader.package_name(&draft.name_node)?;
    let version = reader.version(&draft.version_node)?;
    let subdir = if noarch {
        "noarch".to_string()
    } else {
        reader
            .string(draft.node.get("target"), "outputs/target")?
            .unwrap_or_else(|| inputs.host.target_platform.as_str().to_string())
    };
    let about = reader.about(draft.node.get("about").or(
        if draft.is_top_level || top.outputs.is_some() {
            top.root.get("about")
        } else {
            None
        },
    ))?;
    let test = test_section(top.test_node(&draft), &name_text, reader)?;
    let output = Output {
        package: Package { name, version },
        requirements: Requirements {
            has_host: draft.reqs.has_host,
            ..Requirements::default()
        },
        test,
        about,
        extra: top.extra(&draft, inputs),
        files: reader.files(draft.node.get("files"))?,
        script,
        script_interpreter: reader.string(
            draft.node.get("script_interpreter"),
            "outputs/script_interpreter",
        )?,
        package_type,
        app: top.app.clone(),
        subdir,
        is_top_level: draft.is_top_level,
        hash_input,
        build,
    };
    Ok(Some(Finished {
        output,
        pending: (draft.reqs, draft.requirements_node),
        used,
    }))
}

/// `type`: conda, conda_v2 or wheel.
fn output_type(draft: &Draft, reader: &Reader<'_>) -> Result<Option<OutputType>> {
    let Some(node) = draft.node.get("type") else {
        return Ok(None);
    };
    reader
        .string(Some(node), "outputs/type")?
        .unwrap_or_default()
        .parse::<OutputType>()
        .map(Some)
        .map_err(|message| reader.invalid(node, message))
}

/// Variant versions on build and host, pip and python for a wheel, `pin_run_as_build` on run.
fn pin_requirements(
    draft: &mut Draft,
    build: &Build,
    package_type: Option<OutputType>,
    inputs: &VariantInputs<'_>,
    reader: &Reader<'_>,
) -> Result<()> {
    insert_variant_versions(&mut draft.reqs.build, inputs.variant);
    insert_variant_versions(&mut draft.reqs.host, inputs.variant);
    // get_output_metadata_set: a wheel is built by pip with the variant's python.
    if package_type == Some(OutputType::Wheel)
        && !draft.reqs.build.iter().any(|r| r.contains("pip"))
    {
        draft.reqs.build.push("pip".into());
        if let Some(python) = variant_string(inputs.variant, "python") {
            draft.reqs.build.push(format!("python {python}"));
        }
    }
    let build_host_names: HashSet<String> = draft
        .reqs
        .build
        .iter()
        .chain(&draft.reqs.host)
        .map(|r| first_token(r).to_string())
        .collect();
    pin_run_as_build(
        &mut draft.reqs.run,
        &build_host_names,
        inputs.variant,
        build.noarch.is_python(),
    )
    .map_err(|message| {
        reader.invalid(
            draft.requirements_node.as_ref().unwrap_or(&draft.node),
            message,
        )
    })
}

/// The typed test section, its requirements made satisfiable like run requirements.
fn test_section(node: Option<&Node>, output: &str, reader: &mut Reader<'_>) -> Result<Test> {
    let mut test = reader.test(node)?;
    for spec in test.requires.iter_mut() {
        *spec = star_underspecified(spec, output, "test/requires", reader);
    }
    Ok(test)
}
