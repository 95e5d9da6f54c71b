//! The conda flow shared by create, install, remove, update and `install --revision`:
//! lock the prefix, work out the target set of packages, show the plan, apply it with rollback,
//! and record the revision in `conda-meta/history`.

use super::history::{dist_name, dist_string, History, Revision};
use super::prefix::{self, PrefixLock};
use super::report::{self, Confirm};
use super::solve::{self, SolveRequest};
use super::transaction::{self, ApplyOptions, LinkMode, Plan};
use super::EnvError;
use crate::channel::repodata;
use crate::channel::resolve::{
    host_subdir, parse_subdir, ChannelResolver, ChannelSelection, ResolveError,
};
use crate::config::{ChannelPriority, Config};
use rattler_cache::package_cache::PackageCache;
use rattler_conda_types::{
    Channel, MatchSpec, PackageName, ParseStrictness, PrefixRecord, RepoDataRecord, Subdir,
};
use rattler_repodata_gateway::Gateway;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What the user asked for.
#[derive(Debug, Clone)]
pub enum Operation {
    /// Add or change packages (create and install).
    Install(Vec<MatchSpec>),
    /// Install exactly these records, without solving (`@EXPLICIT` files, lockfiles).
    Exact(Vec<RepoDataRecord>),
    /// Install exactly these records, recording these specs as requested (`create --clone`).
    Clone {
        records: Vec<RepoDataRecord>,
        specs: Vec<MatchSpec>,
    },
    /// Remove these packages and whatever depends on them; `None` removes everything.
    Remove(Option<Vec<PackageName>>),
    /// Update these packages to the newest the other specs allow; `None` updates all.
    Update(Option<Vec<PackageName>>),
    /// Return to the package set of a history revision.
    Revision(usize),
}

/// Everything an environment command needs besides the operation.
pub struct Context {
    pub config: Config,
    pub gateway: Gateway,
    pub cache: PackageCache,
    pub channels: Vec<Channel>,
    pub subdir: Subdir,
    pub priority: ChannelPriority,
    /// HTTP client for package downloads, carrying configured channel tokens.
    pub client: reqwest_middleware::ClientWithMiddleware,
}

impl Context {
    pub fn new(config: Config, channels: Vec<Channel>, subdir: Subdir, strict: bool) -> Context {
        let gateway = repodata::gateway(&config);
        let client = crate::net::http_client(&config);
        let cache = gateway.package_cache().clone();
        let priority = if strict {
            ChannelPriority::Strict
        } else {
            config.channel_priority
        };
        Context {
            config,
            gateway,
            cache,
            channels,
            subdir,
            priority,
            client,
        }
    }
}

/// Where and how to solve, as resolved from the command line: the inputs of a [`Context`].
#[derive(Debug, Clone, Default)]
pub struct SolveSettings {
    pub channels: ChannelSelection,
    /// Only take a package from the highest-priority channel that has it.
    pub strict_channel_priority: bool,
    /// Subdir to solve for; the host's when `None`.
    pub platform: Option<String>,
    /// Put krait's local build channel first, when it exists.
    pub use_local: bool,
    /// Use only cached repodata and packages.
    pub offline: bool,
}

impl SolveSettings {
    /// Loads configuration, resolves channels and subdir, and builds the context.
    pub fn context(&self) -> miette::Result<Context> {
        self.context_for(true)
    }

    /// [`Self::context`] for a request that may need no channel at all: an `@EXPLICIT` list
    /// names its package URLs, so with no channel configured it still installs (as conda's
    /// `create --file` does).
    pub fn context_for(&self, needs_channels: bool) -> miette::Result<Context> {
        let mut config = Config::load()?;
        if self.offline {
            config.offline = true;
        }
        let mut selection = self.channels.clone();
        if self.use_local {
            let local = crate::config::local_channel_dir();
            if local.is_dir() {
                selection.channels.insert(0, local.display().to_string());
            } else {
                tracing::warn!("--use-local: {} does not exist yet", local.display());
            }
        }
        let channels = match ChannelResolver::new(&config).channels_for(&selection) {
            Err(ResolveError::NoChannels) if !needs_channels => Vec::new(),
            other => other?,
        };
        let subdir = match &self.platform {
            Some(p) => parse_subdir(p)?,
            None => host_subdir(),
        };
        Ok(Context::new(
            config,
            channels,
            subdir,
            self.strict_channel_priority,
        ))
    }
}

/// How to run: the flags every environment command shares.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub dry_run: bool,
    pub yes: bool,
    pub json: bool,
    pub quiet: bool,
    pub link: LinkMode,
    /// The command line, for the history file.
    pub command_line: String,
    /// A new prefix: remove it again if the transaction fails.
    pub creating: bool,
}

/// The outcome of a run, for output.
pub struct Outcome {
    pub prefix: PathBuf,
    pub plan: Plan,
    pub dry_run: bool,
}

fn spec_name(spec: &MatchSpec) -> Option<&PackageName> {
    spec.name.as_exact()
}

/// The specs that define the environment: the history's requested specs or, for an
/// environment without history (made by another tool), every installed package by name.
pub(crate) fn requested_specs(
    history: &History,
    installed: &[PrefixRecord],
) -> BTreeMap<String, MatchSpec> {
    let from_history = history.requested_specs();
    if from_history.is_empty() {
        return installed
            .iter()
            .map(|r| {
                let name = r.repodata_record.package_record.name.clone();
                (name.as_normalized().to_string(), MatchSpec::from(name))
            })
            .collect();
    }
    from_history
        .into_iter()
        .filter_map(|(name, spec)| {
            MatchSpec::from_str(&spec, ParseStrictness::Lenient)
                .ok()
                .map(|s| (name, s))
        })
        .collect()
}

/// Installed packages that depend, directly or not, on any of `names`.
fn dependents(installed: &[PrefixRecord], names: &[PackageName]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = names
        .iter()
        .map(|n| n.as_normalized().to_string())
        .collect();
    loop {
        let before = out.len();
        for record in installed {
            let pkg = &record.repodata_record.package_record;
            let depends_on_removed = pkg.depends.iter().any(|dep| {
                let name = dep
                    .split([' ', '=', '<', '>', '!', '~', '['])
                    .next()
                    .unwrap_or("");
                out.contains(name)
            });
            if depends_on_removed {
                out.insert(pkg.name.as_normalized().to_string());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// Finds the records of a history revision in the channels.
async fn records_of_revision(
    ctx: &Context,
    history: &History,
    n: usize,
) -> Result<Vec<RepoDataRecord>, EnvError> {
    let wanted = history.state_at(n)?;
    let names: Vec<MatchSpec> = wanted
        .iter()
        .filter_map(|d| PackageName::try_from(dist_name(d)).ok())
        .map(MatchSpec::from)
        .collect();
    let available = repodata::query(&ctx.gateway, &ctx.channels, ctx.subdir, names, false).await?;
    let mut records = Vec::new();
    for dist in &wanted {
        let tail = dist.rsplit("::").next().unwrap_or(dist);
        let found = available.iter().find(|r| {
            let p = &r.package_record;
            format!("{}-{}-{}", p.name.as_normalized(), p.version, p.build) == tail
        });
        match found {
            Some(r) => records.push(r.clone()),
            None => return Err(EnvError::RevisionPackageMissing(dist.clone())),
        }
    }
    Ok(records)
}

/// Runs one operation on a prefix. A failed create leaves no prefix behind.
pub async fn run(
    ctx: &Context,
    prefix: &Path,
    operation: Operation,
    options: &RunOptions,
) -> Result<Outcome, EnvError> {
    let result = run_locked(ctx, prefix, operation, options).await;
    match &result {
        Err(_) if options.creating => {
            let _ = std::fs::remove_dir_all(prefix);
        }
        Ok(outcome) if options.creating && !outcome.dry_run => prefix::set_registered(prefix, true),
        _ => {}
    }
    result
}

async fn run_locked(
    ctx: &Context,
    prefix: &Path,
    operation: Operation,
    options: &RunOptions,
) -> Result<Outcome, EnvError> {
    let _lock = if options.dry_run {
        None
    } else {
        Some(PrefixLock::acquire(prefix, options.quiet || options.json)?)
    };
    let installed = prefix::installed(prefix)?;
    let history = History::read(prefix)?;
    let mut pinned = super::pinned::read(prefix)?;
    pinned.extend(super::pinned::from_config(&ctx.config.pinned_packages)?);
    let mut requested = requested_specs(&history, &installed);
    let mut revision = Revision {
        date: super::history::now(),
        cmd: Some(options.command_line.clone()),
        ..Revision::default()
    };

    let desired: Vec<RepoDataRecord> = match &operation {
        Operation::Exact(records) => {
            revision.update_specs = records
                .iter()
                .map(|r| r.package_record.name.as_normalized().to_string())
                .collect();
            records.clone()
        }
        Operation::Clone { records, specs } => {
            for spec in specs {
                if let Some(name) = spec_name(spec) {
                    requested.insert(name.as_normalized().to_string(), spec.clone());
                    revision
                        .update_specs
                        .push(super::history::conda_spec_text(spec));
                }
            }
            records.clone()
        }
        Operation::Revision(n) => records_of_revision(ctx, &history, *n).await?,
        Operation::Remove(None) => Vec::new(),
        _ => {
            let mut unlocked = Vec::new();
            match &operation {
                Operation::Install(specs) => {
                    for spec in specs {
                        let name = spec_name(spec)
                            .ok_or_else(|| EnvError::SpecWithoutName(spec.to_string()))?;
                        requested.insert(name.as_normalized().to_string(), spec.clone());
                        revision
                            .update_specs
                            .push(super::history::conda_spec_text(spec));
                    }
                }
                Operation::Remove(Some(names)) => {
                    let present: BTreeSet<&str> = installed
                        .iter()
                        .map(|r| r.repodata_record.package_record.name.as_normalized())
                        .collect();
                    for name in names {
                        if !present.contains(name.as_normalized()) {
                            return Err(EnvError::NotInstalled(name.as_source().to_string()));
                        }
                    }
                    let gone = dependents(&installed, names);
                    requested.retain(|name, _| !gone.contains(name));
                    revision.remove_specs = gone.iter().cloned().collect();
                    unlocked = gone
                        .iter()
                        .filter_map(|n| PackageName::try_from(n.as_str()).ok())
                        .collect();
                }
                Operation::Update(names) => {
                    let names: Vec<PackageName> = match names {
                        Some(names) => names.clone(),
                        None => installed
                            .iter()
                            .map(|r| r.repodata_record.package_record.name.clone())
                            .collect(),
                    };
                    for name in &names {
                        if !installed
                            .iter()
                            .any(|r| &r.repodata_record.package_record.name == name)
                        {
                            return Err(EnvError::NotInstalled(name.as_source().to_string()));
                        }
                        let key = name.as_normalized().to_string();
                        if let std::collections::btree_map::Entry::Vacant(slot) =
                            requested.entry(key)
                        {
                            slot.insert(MatchSpec::from(name.clone()));
                            revision.update_specs.push(name.as_source().to_string());
                        }
                    }
                    unlocked = names;
                }
                _ => unreachable!("handled above"),
            }
            let specs: Vec<MatchSpec> = requested.values().cloned().collect();
            let kept: Vec<PrefixRecord> = match &operation {
                Operation::Remove(_) => installed
                    .iter()
                    .filter(|r| !unlocked.contains(&r.repodata_record.package_record.name))
                    .cloned()
                    .collect(),
                _ => installed.clone(),
            };
            solve::solve(
                &ctx.gateway,
                SolveRequest {
                    channels: &ctx.channels,
                    subdir: ctx.subdir,
                    specs,
                    installed: &kept,
                    unlocked,
                    pinned,
                    priority: ctx.priority,
                },
            )
            .await?
        }
    };

    let plan = transaction::plan(&installed, &desired, ctx.subdir)?;
    let outcome = Outcome {
        prefix: prefix.to_path_buf(),
        plan,
        dry_run: options.dry_run,
    };
    if outcome.plan.operations.is_empty() {
        return Ok(outcome);
    }
    if !options.json && !options.quiet {
        eprint!(
            "{}",
            report::plan_text(prefix, &revision.update_specs, &outcome.plan)
        );
    }
    if options.dry_run {
        return Ok(outcome);
    }
    if !options.yes && !options.json {
        match report::confirm()? {
            Confirm::Yes => {}
            Confirm::No => return Err(EnvError::Aborted),
        }
    }

    revision.unlinked = outcome
        .plan
        .removed_packages()
        .map(|r| dist_string(&r.repodata_record))
        .collect();
    revision.linked = outcome.plan.installed_packages().map(dist_string).collect();
    let requested_now: Vec<MatchSpec> = requested.values().cloned().collect();
    transaction::apply(
        prefix,
        installed,
        desired,
        &outcome.plan,
        ApplyOptions {
            cache: &ctx.cache,
            client: &ctx.client,
            retry: crate::net::retry_policy(&ctx.config),
            subdir: ctx.subdir,
            requested: requested_now,
            link: options.link,
            safety: super::safety::Safety::from_config(&ctx.config),
            progress: !options.quiet && !options.json,
        },
    )
    .await?;
    prefix::fill_requested_spec(prefix)?;
    History::append(prefix, &revision)?;
    super::python::compile_noarch(prefix)?;
    prefix::give_records_created_mode(prefix)?;
    Ok(outcome)
}
