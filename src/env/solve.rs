//! Solving an environment: repodata from the gateway, resolvo through `rattler_solve`, the
//! host's virtual packages, `conda-meta/pinned`, and conda's stability rule (keep what is
//! installed unless a spec changes it).

use crate::channel::repodata::{self, RepodataError};
use crate::config::ChannelPriority;
use rattler_conda_types::{
    Channel, GenericVirtualPackage, MatchSpec, PackageName, PrefixRecord, RepoDataRecord, Subdir,
};
use rattler_repodata_gateway::Gateway;
use rattler_solve::{resolvo::Solver, SolveError, SolverImpl, SolverTask};
use rattler_virtual_packages::{VirtualPackageOverrides, VirtualPackages};

/// Errors while solving.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SolveFailure {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repodata(#[from] RepodataError),
    #[error("the request cannot be satisfied:\n{0}")]
    #[diagnostic(help(
        "relax a version constraint, add a channel with -c, or check conda-meta/pinned and .condarc pinned_packages"
    ))]
    Unsatisfiable(String),
    #[error("solver error: {0}")]
    Other(String),
    #[error("cannot detect virtual packages: {0}")]
    VirtualPackages(String),
}

/// What to solve for.
pub struct SolveRequest<'a> {
    pub channels: &'a [Channel],
    pub subdir: Subdir,
    pub specs: Vec<MatchSpec>,
    /// What the prefix holds now.
    pub installed: &'a [PrefixRecord],
    /// Names whose installed record must not hold the solve back (being updated or removed).
    pub unlocked: Vec<PackageName>,
    /// `conda-meta/pinned`: constraints every solve honours.
    pub pinned: Vec<MatchSpec>,
    pub priority: ChannelPriority,
}

/// The virtual packages of the target: detected for the host (with `CONDA_OVERRIDE_*`), or
/// the platform's defaults when solving for another subdir.
pub fn virtual_packages(subdir: Subdir) -> Result<Vec<GenericVirtualPackage>, SolveFailure> {
    let overrides = VirtualPackageOverrides::from_env();
    let detected = if Some(subdir) == Subdir::current() {
        VirtualPackages::detect(&overrides, None)
    } else {
        VirtualPackages::detect_for_platform(subdir, &overrides, None)
    }
    .map_err(|e| SolveFailure::VirtualPackages(e.to_string()))?;
    Ok(detected.into_generic_virtual_packages().collect())
}

/// Solves a request, in conda's order of attempts: installed packages frozen, then only
/// preferred; under flexible channel priority, strict before disabled.
pub async fn solve(
    gateway: &Gateway,
    request: SolveRequest<'_>,
) -> Result<Vec<RepoDataRecord>, SolveFailure> {
    let mut names: Vec<MatchSpec> = request.specs.clone();
    names.extend(
        request
            .installed
            .iter()
            .map(|r| MatchSpec::from(r.repodata_record.package_record.name.clone())),
    );
    let buckets =
        repodata::query_repodata(gateway, request.channels, request.subdir, names, true).await?;
    let virtual_packages = virtual_packages(request.subdir)?;
    let spec_names: Vec<&PackageName> = request
        .specs
        .iter()
        .filter_map(|s| s.name.as_exact())
        .chain(request.unlocked.iter())
        .collect();
    let installed: Vec<&RepoDataRecord> = request
        .installed
        .iter()
        .map(|r| &r.repodata_record)
        .filter(|r| !request.unlocked.contains(&r.package_record.name))
        .collect();
    let frozen: Vec<&RepoDataRecord> = installed
        .iter()
        .copied()
        .filter(|r| !spec_names.contains(&&r.package_record.name))
        .collect();
    // resolvo knows strict and disabled. conda's flexible prefers the higher-priority channel
    // and uses the others when that cannot work: a strict attempt first, then a disabled one.
    let priorities: &[rattler_solve::ChannelPriority] = match request.priority {
        ChannelPriority::Strict => &[rattler_solve::ChannelPriority::Strict],
        ChannelPriority::Flexible => &[
            rattler_solve::ChannelPriority::Strict,
            rattler_solve::ChannelPriority::Disabled,
        ],
        ChannelPriority::Disabled => &[rattler_solve::ChannelPriority::Disabled],
    };
    // As conda: installed packages the specs do not name are frozen first, then only preferred.
    let freezes: &[&[&RepoDataRecord]] = if request.installed.is_empty() {
        &[&[]]
    } else {
        &[&frozen, &[]]
    };
    let attempt = |channel_priority, pinned: &[&RepoDataRecord]| {
        let task = SolverTask {
            specs: request.specs.clone(),
            constraints: request.pinned.clone(),
            virtual_packages: virtual_packages.clone(),
            locked_packages: installed.clone(),
            pinned_packages: pinned.to_vec(),
            channel_priority,
            ..SolverTask::from_iter(&buckets)
        };
        Solver.solve(task)
    };
    let mut result = None;
    let attempts = freezes
        .iter()
        .flat_map(|pinned| priorities.iter().map(move |priority| (*priority, *pinned)));
    for (channel_priority, pinned) in attempts {
        let outcome = attempt(channel_priority, pinned);
        let unsolvable = matches!(outcome, Err(SolveError::Unsolvable(_)));
        result = Some(outcome);
        if !unsolvable {
            break;
        }
    }
    let result = result.expect("there is at least one attempt");
    match result {
        Ok(result) => Ok(result.records),
        Err(SolveError::Unsolvable(messages)) => Err(SolveFailure::Unsatisfiable(
            with_virtual_packages_explained(messages.join("\n"), &virtual_packages),
        )),
        Err(e) => Err(SolveFailure::Other(e.to_string())),
    }
}

/// Adds to a solver message what this system offers of each virtual package it names, as conda
/// does ("Your installed version is: 2.17"): `__glibc >=2.34` cannot be met when the system's
/// glibc (or `CONDA_OVERRIDE_GLIBC`) is older.
fn with_virtual_packages_explained(
    mut message: String,
    virtual_packages: &[GenericVirtualPackage],
) -> String {
    let named: std::collections::BTreeSet<&str> = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|word| word.starts_with("__") && word.len() > 2)
        .collect();
    let mut notes = Vec::new();
    for name in named {
        let present = virtual_packages
            .iter()
            .find(|v| v.name.as_normalized() == name);
        let override_var = format!("CONDA_OVERRIDE_{}", name[2..].to_ascii_uppercase());
        notes.push(match present {
            Some(v) => format!(
                "this system's {name} is {} ({override_var} sets another)",
                v.version
            ),
            None => format!("this system has no {name} ({override_var} sets one)"),
        });
    }
    if !notes.is_empty() {
        message.push_str(&format!("\n{}", notes.join("\n")));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_packages_named_by_a_solver_message_are_explained() {
        let glibc = GenericVirtualPackage {
            name: PackageName::new_unchecked("__glibc"),
            version: "2.17".parse().unwrap(),
            build_string: "0".parse().unwrap(),
        };
        let message =
            "app 1.0 would require\n  __glibc >=2.34, for which no candidates were found.";
        let explained = with_virtual_packages_explained(message.to_string(), &[glibc]);
        assert!(
            explained
                .ends_with("this system's __glibc is 2.17 (CONDA_OVERRIDE_GLIBC sets another)"),
            "{explained}"
        );
        let cuda = with_virtual_packages_explained("needs __cuda >=12".to_string(), &[]);
        assert!(cuda.ends_with("this system has no __cuda (CONDA_OVERRIDE_CUDA sets one)"));
        assert_eq!(
            with_virtual_packages_explained("plain".to_string(), &[]),
            "plain"
        );
    }
}
