//! What a transaction looks like to the user: conda's package plan, the confirmation prompt,
//! and conda's `--json` shape (`actions` with `FETCH`, `LINK`, `UNLINK`).

use super::history::dist_string;
use super::transaction::Plan;
use crate::config::Config;
use rattler::install::TransactionOperation;
use rattler_conda_types::RepoDataRecord;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

/// The user's answer to "Proceed ([y]/n)?".
pub enum Confirm {
    Yes,
    No,
}

/// Asks conda's question on the terminal; without a terminal there is no one to say yes.
pub fn confirm() -> Result<Confirm, super::EnvError> {
    if !std::io::stdin().is_terminal() {
        return Err(super::EnvError::NeedsYes);
    }
    eprint!("\nProceed ([y]/n)? ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|_| super::EnvError::Aborted)?;
    Ok(match answer.trim().to_ascii_lowercase().as_str() {
        "" | "y" | "yes" => Confirm::Yes,
        _ => Confirm::No,
    })
}

fn short(record: &RepoDataRecord) -> String {
    let p = &record.package_record;
    format!("{}-{}", p.version, p.build)
}

fn human(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} KB", bytes as f64 / 1e3)
    }
}

/// conda's "## Package Plan ##" text.
pub fn plan_text(prefix: &Path, specs: &[String], plan: &Plan) -> String {
    let mut out = format!(
        "\n## Package Plan ##\n\n  environment location: {}\n\n",
        prefix.display()
    );
    if !specs.is_empty() {
        out.push_str("  added / updated specs:\n");
        for spec in specs {
            let _ = writeln!(out, "    - {spec}");
        }
        out.push('\n');
    }
    let mut new = Vec::new();
    let mut removed = Vec::new();
    let mut updated = Vec::new();
    let mut downgraded = Vec::new();
    let mut reinstalled = Vec::new();
    for op in &plan.operations {
        match op {
            TransactionOperation::Install(r) => new.push(format!(
                "  {:<20} {}",
                r.package_record.name.as_normalized(),
                dist_string(r)
            )),
            TransactionOperation::Remove(old) => removed.push(format!(
                "  {:<20} {}",
                old.repodata_record.package_record.name.as_normalized(),
                dist_string(&old.repodata_record)
            )),
            TransactionOperation::Change { old, new: r } => {
                let line = format!(
                    "  {:<20} {} --> {}",
                    r.package_record.name.as_normalized(),
                    short(&old.repodata_record),
                    short(r)
                );
                if r.package_record.version < old.repodata_record.package_record.version {
                    downgraded.push(line);
                } else {
                    updated.push(line);
                }
            }
            TransactionOperation::Reinstall { new: r, .. } => reinstalled.push(format!(
                "  {:<20} {}",
                r.package_record.name.as_normalized(),
                dist_string(r)
            )),
        }
    }
    let size: u64 = plan
        .installed_packages()
        .filter_map(|r| r.package_record.size)
        .sum();
    if size > 0 {
        let _ = writeln!(out, "  total download size (at most): {}\n", human(size));
    }
    for (title, lines) in [
        ("The following NEW packages will be INSTALLED:", new),
        ("The following packages will be REMOVED:", removed),
        ("The following packages will be UPDATED:", updated),
        ("The following packages will be DOWNGRADED:", downgraded),
        ("The following packages will be REINSTALLED:", reinstalled),
    ] {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{title}\n");
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
    }
    out
}

fn record_json(record: &RepoDataRecord) -> Value {
    let p = &record.package_record;
    json!({
        "name": p.name.as_normalized(),
        "version": p.version.to_string(),
        "build_string": p.build,
        "build_number": p.build_number,
        "channel": record.channel.as_deref().unwrap_or("").trim_end_matches('/'),
        "platform": p.subdir,
        "dist_name": format!("{}-{}-{}", p.name.as_normalized(), p.version, p.build),
        "base_url": record.channel,
        "url": record.url.as_str(),
        "fn": record.identifier.to_file_name(),
        "md5": p.md5.map(hex::encode),
        "sha256": p.sha256.map(hex::encode),
        "size": p.size,
    })
}

/// conda's `--json` result of a transaction.
pub fn plan_json(prefix: &Path, plan: &Plan, dry_run: bool) -> Value {
    let link: Vec<Value> = plan.installed_packages().map(record_json).collect();
    let unlink: Vec<Value> = plan
        .removed_packages()
        .map(|r| record_json(&r.repodata_record))
        .collect();
    let mut actions = json!({ "PREFIX": prefix });
    if !link.is_empty() {
        actions["FETCH"] = json!(link);
        actions["LINK"] = json!(link);
    }
    if !unlink.is_empty() {
        actions["UNLINK"] = json!(unlink);
    }
    let mut out = json!({
        "actions": actions,
        "prefix": prefix,
        "success": true,
    });
    if dry_run {
        out["dry_run"] = json!(true);
    }
    if plan.operations.is_empty() {
        out["message"] = json!("All requested packages already installed.");
    }
    out
}

/// `conda env list`'s table: name (for environments inside envs_dirs), `*` for the active one
/// (`$CONDA_PREFIX`), path.
pub fn environments_table(config: &Config, envs: &[PathBuf]) -> String {
    let active = std::env::var_os("CONDA_PREFIX").map(PathBuf::from);
    let mut out = String::from("# conda environments:\n#\n");
    for env in envs {
        // As conda: environments outside envs_dirs have no name.
        let in_envs_dirs = env
            .parent()
            .is_some_and(|p| config.envs_dirs.iter().any(|d| d == p));
        let name = match env.file_name() {
            Some(name) if in_envs_dirs => name.to_string_lossy(),
            _ => "".into(),
        };
        let mark = if active.as_ref() == Some(env) {
            "*"
        } else {
            " "
        };
        out += &format!("{name:<20}  {mark}  {}\n", env.display());
    }
    out.push('\n');
    out
}
