//! Activating environments in a shell: the `shell-hook` functions that make `krait activate` and
//! `krait deactivate` change the calling shell, the scripts those commands print, and running a
//! command inside an activated environment. The variables, `PATH` and the env's
//! `etc/conda/{activate,deactivate}.d` scripts come from `rattler_shell`'s [`Activator`].

use super::state::PrefixState;
use rattler_conda_types::Subdir;
use rattler_shell::activation::{
    prefix_path_entries, ActivationVariables, Activator, PathModificationBehavior,
};
use rattler_shell::shell::{self, Shell, ShellEnum, ShellScript};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// Errors while activating, deactivating or running in an environment.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ActivationError {
    #[error("no command to run")]
    #[diagnostic(help("e.g. `krait run -n myenv python --version`"))]
    NoCommand,
    #[error("unknown shell {0:?}")]
    #[diagnostic(help("supported: bash, zsh, fish, xonsh, powershell, cmd, nu"))]
    UnknownShell(String),
    #[error("cannot tell which shell to write for: $SHELL is {0:?}")]
    #[diagnostic(help("name it with --shell, e.g. `krait shell-hook --shell bash`"))]
    UnknownLoginShell(String),
    #[error("cannot activate {prefix}: {message}")]
    Activate { prefix: PathBuf, message: String },
    #[error("no environment is active (CONDA_PREFIX is not set)")]
    #[diagnostic(help("activate one first with `krait activate NAME`"))]
    NothingActive,
    #[error("cannot run {command:?} in {prefix}: {message}")]
    #[diagnostic(help("check that the command is installed in the environment or on PATH"))]
    Run {
        command: String,
        prefix: PathBuf,
        message: String,
    },
    #[error("cannot evaluate the activation in bash: {0}")]
    Evaluate(String),
}

/// The shells krait can activate in, by the names conda and micromamba use.
#[derive(Debug, Clone)]
pub struct ShellKind {
    shell: ShellEnum,
}

impl std::str::FromStr for ShellKind {
    type Err = ActivationError;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let canonical = match name {
            "pwsh" | "powershell" => "powershell",
            "cmd.exe" | "cmd" => "cmd",
            "nushell" | "nu" => "nu",
            other => other,
        };
        canonical
            .parse::<ShellEnum>()
            .map(|shell| ShellKind { shell })
            .map_err(|_| ActivationError::UnknownShell(name.to_string()))
    }
}

impl ShellKind {
    /// The user's shell, from `$SHELL`.
    pub fn from_env() -> Result<ShellKind, ActivationError> {
        ShellEnum::from_env()
            .map(|shell| ShellKind { shell })
            .ok_or(ActivationError::UnknownLoginShell(
                std::env::var("SHELL").unwrap_or_default(),
            ))
    }
}

fn platform() -> Subdir {
    crate::channel::resolve::host_subdir()
}

fn activate_error(prefix: &Path, error: impl std::fmt::Display) -> ActivationError {
    ActivationError::Activate {
        prefix: prefix.to_path_buf(),
        message: error.to_string(),
    }
}

/// Quotes a string for a POSIX shell.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The `shell-hook` text: defines a `krait` function that evaluates what `krait activate` and
/// `krait deactivate` print, and passes every other subcommand to `exe`.
pub fn hook(kind: &ShellKind, exe: &Path) -> String {
    let exe = exe.display().to_string();
    match &kind.shell {
        ShellEnum::Bash(_) | ShellEnum::Zsh(_) => {
            let name = if matches!(kind.shell, ShellEnum::Zsh(_)) {
                "zsh"
            } else {
                "bash"
            };
            format!(
                r#"export KRAIT_EXE={exe}
krait() {{
    case "${{1:-}}" in
        activate|deactivate)
            local __krait_script __krait_modifier="${{CONDA_PROMPT_MODIFIER-}}"
            __krait_script="$("$KRAIT_EXE" "$@" --shell {name})" || return $?
            eval "$__krait_script"
            # The prompt shows the active environment, as conda's changeps1 does.
            PS1="${{CONDA_PROMPT_MODIFIER-}}${{PS1#"$__krait_modifier"}}"
            ;;
        *)
            "$KRAIT_EXE" "$@"
            ;;
    esac
}}
"#,
                exe = sh_quote(&exe)
            )
        }
        ShellEnum::Fish(_) => format!(
            r#"set -gx KRAIT_EXE {exe}
function krait --description 'krait, with activate and deactivate acting on this shell'
    if contains -- "$argv[1]" activate deactivate
        set -l __krait_script ($KRAIT_EXE $argv --shell fish)
        or return $status
        string join \n -- $__krait_script | source
    else
        $KRAIT_EXE $argv
    end
end
"#,
            exe = sh_quote(&exe)
        ),
        ShellEnum::Xonsh(_) => format!(
            r#"$KRAIT_EXE = {exe:?}
def _krait(args):
    if args and args[0] in ('activate', 'deactivate'):
        result = !(@($KRAIT_EXE) @(args) --shell xonsh)
        script = result.out
        if result.returncode != 0:
            return result.returncode
        execx(script)
    else:
        return ![@($KRAIT_EXE) @(args)].returncode
aliases['krait'] = _krait
"#
        ),
        ShellEnum::PowerShell(_) => format!(
            r#"$Env:KRAIT_EXE = '{exe}'
function krait {{
    if ($args.Count -gt 0 -and ($args[0] -eq 'activate' -or $args[0] -eq 'deactivate')) {{
        $__krait_script = (& $Env:KRAIT_EXE @args --shell powershell) -join "`n"
        if ($LASTEXITCODE -ne 0) {{ return }}
        Invoke-Expression $__krait_script
    }} else {{
        & $Env:KRAIT_EXE @args
    }}
}}
"#,
            exe = exe.replace('\'', "''")
        ),
        // cmd.exe has no functions: save this as a .bat and `call` it once; it defines a
        // doskey macro that calls the same file back with the arguments.
        // Every line starts with `@`: `echo off` would also hide the interactive prompt.
        ShellEnum::CmdExe(_) => format!(
            "@if not \"%~1\"==\"__krait_dispatch\" (\r\n\
             \x20   set \"KRAIT_EXE={exe}\"\r\n\
             \x20   doskey krait=call \"%~f0\" __krait_dispatch $*\r\n\
             \x20   goto :eof\r\n\
             )\r\n\
             @set \"_KRAIT_ARGS=\"\r\n\
             @for /f \"tokens=1,*\" %%a in (\"%*\") do @set \"_KRAIT_ARGS=%%b\"\r\n\
             @if /i \"%~2\"==\"activate\" goto :krait_eval\r\n\
             @if /i \"%~2\"==\"deactivate\" goto :krait_eval\r\n\
             @\"%KRAIT_EXE%\" %_KRAIT_ARGS%\r\n\
             @goto :eof\r\n\
             :krait_eval\r\n\
             @set \"_KRAIT_SCRIPT=%TEMP%\\krait-activate-%RANDOM%.bat\"\r\n\
             @\"%KRAIT_EXE%\" %_KRAIT_ARGS% --shell cmd > \"%_KRAIT_SCRIPT%\" || goto :eof\r\n\
             @call \"%_KRAIT_SCRIPT%\"\r\n\
             @del \"%_KRAIT_SCRIPT%\"\r\n"
        ),
        // nushell cannot evaluate generated code: `activate`/`deactivate` print the changes as
        // JSON for `load-env`.
        ShellEnum::NuShell(_) => format!(
            r#"$env.KRAIT_EXE = {exe:?}
def --env --wrapped krait [...args: string] {{
    if ($args | is-not-empty) and (($args | first) in [activate deactivate]) {{
        let changes = (^$env.KRAIT_EXE ...$args --shell nu | from json)
        for name in $changes.unset {{ hide-env --ignore-errors $name }}
        load-env $changes.set
    }} else {{
        ^$env.KRAIT_EXE ...$args
    }}
}}
"#
        ),
    }
}

fn current_path() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

fn current_env() -> HashMap<String, String> {
    std::env::vars().collect()
}

/// The active environment and its `CONDA_SHLVL`, when there is one.
fn active(env: &HashMap<String, String>) -> Option<(PathBuf, i32)> {
    let prefix = PathBuf::from(env.get("CONDA_PREFIX")?);
    let level = env
        .get("CONDA_SHLVL")
        .and_then(|l| l.parse().ok())
        .unwrap_or(1);
    Some((prefix, level))
}

/// How conda names an environment in `CONDA_DEFAULT_ENV` and the prompt: by name when it lives
/// in one of `envs_dirs`, by path otherwise.
fn display_name(prefix: &Path, envs_dirs: &[PathBuf]) -> String {
    match (prefix.parent(), prefix.file_name()) {
        (Some(parent), Some(name)) if envs_dirs.iter().any(|d| d == parent) => {
            name.to_string_lossy().into_owned()
        }
        _ => prefix.display().to_string(),
    }
}

/// rattler_shell's activator for `prefix`, plus conda's `CONDA_DEFAULT_ENV` and
/// `CONDA_PROMPT_MODIFIER`, which prompts and tools read.
fn conda_activator<T: Shell + Clone + 'static>(
    prefix: &Path,
    shell: T,
    envs_dirs: &[PathBuf],
) -> Result<Activator<T>, ActivationError> {
    let mut activator =
        Activator::from_path(prefix, shell, platform()).map_err(|e| activate_error(prefix, e))?;
    // rattler_shell upper-cases the names of conda-meta/state's variables and sets unset ones
    // to conda's `***unset***` marker; conda keeps names as written and leaves unset ones out.
    let state = PrefixState::read(prefix).map_err(|e| activate_error(prefix, e))?;
    for (name, value) in state.entries() {
        activator.env_vars.shift_remove(&name.to_uppercase());
        match value {
            Some(value) => activator.env_vars.insert(name, value),
            None => activator.env_vars.shift_remove(&name),
        };
    }
    let name = display_name(prefix, envs_dirs);
    activator
        .env_vars
        .insert("CONDA_PROMPT_MODIFIER".into(), format!("({name}) "));
    activator.env_vars.insert("CONDA_DEFAULT_ENV".into(), name);
    Ok(activator)
}

/// Adds to `script` what puts the variables of `activator`'s environment, activated at
/// `level`, back to the values saved then, after its deactivate.d scripts (which run while
/// `CONDA_PREFIX` still names it, as in conda). Returns the environment as it is afterwards.
fn undo_variables<T: Shell + Clone + 'static>(
    script: &mut ShellScript<T>,
    activator: &Activator<T>,
    env: &HashMap<String, String>,
    level: i32,
) -> Result<HashMap<String, String>, ActivationError> {
    let fail = |e: rattler_shell::shell::ShellError| activate_error(&activator.target_prefix, e);
    for path in &activator.deactivation_scripts {
        script.run_script(path).map_err(fail)?;
    }
    let mut after = env.clone();
    for key in activator.env_vars.keys() {
        restore(
            script,
            &mut after,
            key,
            &format!("CONDA_ENV_SHLVL_{level}_{key}"),
        )
        .map_err(fail)?;
    }
    Ok(after)
}

/// Adds to `script` what gives `key` the value saved in `backup`, or unsets it when nothing
/// was saved, and updates `env` to match. The values are known here, so the script only sets
/// and unsets (rattler_shell's own restore is not valid xonsh).
fn restore<T: Shell + 'static>(
    script: &mut ShellScript<T>,
    env: &mut HashMap<String, String>,
    key: &str,
    backup: &str,
) -> Result<(), rattler_shell::shell::ShellError> {
    match env.remove(backup) {
        Some(saved) => {
            script.set_env_var(key, &saved)?.unset_env_var(backup)?;
            env.insert(key.to_string(), saved);
        }
        None => {
            if env.remove(key).is_some() {
                script.unset_env_var(key)?;
            }
        }
    }
    Ok(())
}

/// The script that activates `prefix` in the shell: it deactivates the active environment (its
/// deactivate.d scripts, its variables back to their saved values, its `bin` off PATH), puts
/// the prefix's `bin` first on PATH, sets `CONDA_PREFIX`, `CONDA_SHLVL` and the env's variables
/// (saving the old values for deactivation), and runs its activate.d scripts.
fn activation_script<T: Shell + Clone + 'static>(
    shell: T,
    prefix: &Path,
    envs_dirs: &[PathBuf],
) -> Result<ShellScript<T>, ActivationError> {
    let activator = conda_activator(prefix, shell.clone(), envs_dirs)?;
    let mut script = ShellScript::new(shell.clone(), platform());
    let mut env = current_env();
    let mut path = current_path();
    if let Some((old, level)) = active(&env).filter(|(old, _)| old.join("conda-meta").is_dir()) {
        let previous = conda_activator(&old, shell, envs_dirs)?;
        env = undo_variables(&mut script, &previous, &env, level)?;
        path.retain(|p| !previous.paths.contains(p));
    }
    let variables = ActivationVariables {
        conda_prefix: None,
        path: Some(path),
        path_modification_behavior: PathModificationBehavior::Replace,
        current_env: env,
    };
    let activation = activator
        .activation(variables)
        .map_err(|e| activate_error(prefix, e))?;
    script.append_script(&activation.script);
    Ok(script)
}

/// The script that deactivates the active environment: its deactivate.d scripts, its
/// variables back to their saved values, `CONDA_PREFIX` and `CONDA_SHLVL` back, its `bin` off
/// PATH. When it replaced another environment, that one is active again afterwards, with its
/// `bin` on PATH, its variables set and its activate.d scripts run, as in conda.
fn deactivation_script<T: Shell + Clone + 'static>(
    shell: T,
    envs_dirs: &[PathBuf],
) -> Result<ShellScript<T>, ActivationError> {
    let env = current_env();
    let (prefix, level) = active(&env).ok_or(ActivationError::NothingActive)?;
    let fail = |e: rattler_shell::shell::ShellError| activate_error(&prefix, e);
    let activator = conda_activator(&prefix, shell.clone(), envs_dirs)?;
    let mut script = ShellScript::new(shell.clone(), platform());
    let mut after = undo_variables(&mut script, &activator, &env, level)?;
    restore(
        &mut script,
        &mut after,
        "CONDA_PREFIX",
        &format!("CONDA_ENV_SHLVL_{level}_CONDA_PREFIX"),
    )
    .map_err(fail)?;
    if level > 1 {
        script
            .set_env_var("CONDA_SHLVL", &(level - 1).to_string())
            .map_err(fail)?;
    } else {
        script.unset_env_var("CONDA_SHLVL").map_err(fail)?;
    }
    let outer = env
        .get(&format!("CONDA_ENV_SHLVL_{level}_CONDA_PREFIX"))
        .map(PathBuf::from)
        .filter(|outer| outer.join("conda-meta").is_dir());
    let mut path: Vec<PathBuf> = match &outer {
        Some(outer) => prefix_path_entries(outer, &platform()),
        None => Vec::new(),
    };
    path.extend(
        current_path()
            .into_iter()
            .filter(|p| !activator.paths.contains(p)),
    );
    script
        .set_path(&path, PathModificationBehavior::Replace)
        .map_err(fail)?;
    if let Some(outer) = outer {
        let reactivate = conda_activator(&outer, shell, envs_dirs)?;
        script
            .apply_env_vars_with_backup(&after, level - 1, &reactivate.env_vars)
            .map_err(fail)?;
        for path in &reactivate.activation_scripts {
            script.run_script(path).map_err(fail)?;
        }
    }
    Ok(script)
}

/// What the shell function evaluates for `krait activate PREFIX`.
pub fn activate(
    kind: &ShellKind,
    prefix: &Path,
    envs_dirs: &[PathBuf],
) -> Result<String, ActivationError> {
    render(kind, |shell| activation_script(shell, prefix, envs_dirs))
}

/// What the shell function evaluates for `krait deactivate`.
pub fn deactivate(kind: &ShellKind, envs_dirs: &[PathBuf]) -> Result<String, ActivationError> {
    render(kind, |shell| deactivation_script(shell, envs_dirs))
}

fn bash() -> ShellEnum {
    ShellEnum::Bash(shell::Bash::default())
}

/// Builds a script for the shell; for nushell, runs the bash version and prints the changes
/// it makes as JSON (`{"set": {...}, "unset": [...]}`, PATH as a list), which nushell loads.
fn render(
    kind: &ShellKind,
    build: impl Fn(ShellEnum) -> Result<ShellScript<ShellEnum>, ActivationError>,
) -> Result<String, ActivationError> {
    let evaluate = |e: rattler_shell::shell::ShellError| ActivationError::Evaluate(e.to_string());
    match &kind.shell {
        ShellEnum::NuShell(_) => {
            let changes = evaluate_in_bash(&build(bash())?)?;
            let set: serde_json::Map<String, serde_json::Value> = changes
                .set
                .into_iter()
                .map(|(key, value)| {
                    let value = if key == "PATH" {
                        std::env::split_paths(&value)
                            .map(|p| serde_json::Value::from(p.display().to_string()))
                            .collect()
                    } else {
                        serde_json::Value::from(value)
                    };
                    (key, value)
                })
                .collect();
            let json = serde_json::json!({ "set": set, "unset": changes.unset });
            Ok(serde_json::to_string_pretty(&json).expect("json"))
        }
        shell => build(shell.clone())?.contents().map_err(evaluate),
    }
}

/// The environment changes a script makes.
#[derive(Debug, Default)]
struct EnvChanges {
    set: BTreeMap<String, String>,
    unset: Vec<String>,
}

/// Runs a bash script in the current environment and reports what it changed.
fn evaluate_in_bash(script: &ShellScript<ShellEnum>) -> Result<EnvChanges, ActivationError> {
    const SEPARATOR: &str = "__KRAIT_ENV_SEPARATOR__";
    let evaluate = |e: &dyn std::fmt::Display| ActivationError::Evaluate(e.to_string());
    let bash = bash();
    let mut wrapper = ShellScript::new(bash.clone(), platform());
    wrapper
        .print_env()
        .and_then(|w| w.echo(SEPARATOR))
        .map_err(|e| evaluate(&e))?;
    wrapper.append_script(script);
    wrapper
        .echo(SEPARATOR)
        .and_then(|w| w.print_env())
        .map_err(|e| evaluate(&e))?;
    let file = tempfile::Builder::new()
        .suffix(".sh")
        .tempfile()
        .map_err(|e| evaluate(&e))?;
    let text = wrapper.contents().map_err(|e| evaluate(&e))?;
    std::fs::write(file.path(), text).map_err(|e| evaluate(&e))?;
    // What the scripts print to stderr is for the user; stdout carries the environments.
    let output = bash
        .create_run_script_command(file.path())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| evaluate(&e))?;
    if !output.status.success() {
        return Err(evaluate(&format!("bash exited with {}", output.status)));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut parts = stdout.split(SEPARATOR);
    let (Some(before), Some(_), Some(after)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(evaluate(&"no environment printed"));
    };
    let before = bash.parse_env(before);
    let after = bash.parse_env(after);
    Ok(EnvChanges {
        set: after
            .iter()
            .filter(|(key, value)| before.get(*key) != Some(*value))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
        unset: before
            .keys()
            .filter(|key| !after.contains_key(*key))
            .map(|key| key.to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    })
}

/// A command for `program` with the environment of the activated prefix (its activate.d
/// scripts included, run in bash).
pub fn activated_command(
    prefix: &Path,
    program: impl AsRef<std::ffi::OsStr>,
    envs_dirs: &[PathBuf],
) -> Result<std::process::Command, ActivationError> {
    let changes = evaluate_in_bash(&activation_script(bash(), prefix, envs_dirs)?)?;
    let mut child = std::process::Command::new(program);
    child.envs(&changes.set);
    for key in &changes.unset {
        child.env_remove(key);
    }
    Ok(child)
}

/// Runs a command in the activated prefix with inherited stdio, in `cwd` when given.
pub fn run(
    prefix: &Path,
    command: &[String],
    cwd: Option<&Path>,
    envs_dirs: &[PathBuf],
) -> Result<ExitStatus, ActivationError> {
    let (program, args) = command.split_first().ok_or(ActivationError::NoCommand)?;
    let mut child = activated_command(prefix, program, envs_dirs)?;
    child.args(args);
    if let Some(cwd) = cwd {
        child.current_dir(cwd);
    }
    child.status().map_err(|e| ActivationError::Run {
        command: command.join(" "),
        prefix: prefix.to_path_buf(),
        message: e.to_string(),
    })
}
