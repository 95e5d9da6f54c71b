//! `krait env update [-f environment.yml] [-n NAME | -p PATH] [--prune]`.

use crate::cli::args::{SolveArgs, TargetArgs};
use crate::cli::GlobalArgs;
use crate::env::export::not_required;
use crate::env::install::{self, Operation, Outcome};
use crate::env::prefix;
use crate::env::report;
use crate::env::spec_file;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment file (environment.yml, a spec list, @EXPLICIT or a lockfile).
    #[arg(short, long, default_value_os_t = super::default_file())]
    file: PathBuf,
    /// Name or path of the environment; defaults to the file's `name:`.
    #[command(flatten)]
    target: TargetArgs,
    /// Also remove the packages the file does not need.
    #[arg(long)]
    prune: bool,
    #[command(flatten)]
    solve: SolveArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let super::FileRequest {
        request,
        extras,
        target,
        solve,
        ctx,
    } = super::read_file_request(&args.file, &args.target, &args.solve)?;
    let prefix = prefix::existing(&ctx.config, &target)?;
    let (operation, specs) = match request {
        spec_file::Request::Specs(specs) => (Operation::Install(specs.clone()), specs),
        spec_file::Request::Exact(records) => {
            let specs = records
                .iter()
                .map(|r| r.package_record.name.clone().into())
                .collect();
            (Operation::Exact(records), specs)
        }
    };
    let options = solve.run_options(global, &ctx.config, false);
    let runtime = crate::cli::runtime()?;
    let mut outcomes = vec![runtime.block_on(install::run(&ctx, &prefix, operation, &options))?];
    if args.prune {
        let unneeded = not_required(&prefix::installed(&prefix)?, &specs);
        if !unneeded.is_empty() {
            outcomes.push(runtime.block_on(install::run(
                &ctx,
                &prefix,
                Operation::Remove(Some(unneeded)),
                &options,
            ))?);
        }
    }
    if !solve.dry_run {
        super::apply_extras(&prefix, &extras, &ctx.config, global)?;
    }
    print(&solve, global, &outcomes);
    Ok(ExitCode::SUCCESS)
}

/// Prints the update and the prune as one result; in JSON, their actions are merged.
fn print(solve: &SolveArgs, global: &GlobalArgs, outcomes: &[Outcome]) {
    let changed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !o.plan.operations.is_empty())
        .collect();
    let shown = changed.last().copied().unwrap_or(&outcomes[0]);
    if !solve.json || changed.len() < 2 {
        solve.print(shown, global);
        return;
    }
    let mut merged = report::plan_json(&changed[0].prefix, &changed[0].plan, changed[0].dry_run);
    for outcome in &changed[1..] {
        let next = report::plan_json(&outcome.prefix, &outcome.plan, outcome.dry_run);
        for key in ["FETCH", "LINK", "UNLINK"] {
            let Some(items) = next["actions"][key].as_array() else {
                continue;
            };
            let target = merged["actions"]
                .as_object_mut()
                .expect("actions is an object")
                .entry(key)
                .or_insert_with(|| serde_json::json!([]));
            if let Some(list) = target.as_array_mut() {
                list.extend(items.iter().cloned());
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&merged).expect("json"));
}
