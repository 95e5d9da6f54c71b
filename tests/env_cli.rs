//! The environment command surface end to end, over real archives in a real channel on disk:
//! `list` in every format, `env list/remove/export/create/update`, `run`, `repoquery`,
//! `shell-hook` with `activate`/`deactivate` in a real bash, `info` and `clean`.

mod common;

use common::fixtures::{Format, Package};
use common::{
    condarc_with_http_proxy, krait, run, run_err, run_ok, Fault, HttpServer, Setup, TlsServer,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const SUBDIR: &str = "linux-64";

/// A channel: `a` (two versions) depends on `b`; `c` ships activation scripts for several
/// shells and an env_vars.d variable; `d` stands alone.
fn channel(dir: &Path) -> PathBuf {
    let channel = dir.join("channel");
    Package::new("a", "1.0", "h0_0", SUBDIR)
        .depends(&["b"])
        .write(&channel, Format::Conda);
    Package::new("a", "2.0", "h0_0", SUBDIR)
        .depends(&["b"])
        .write(&channel, Format::TarBz2);
    Package::new("b", "1.0", "h0_0", "noarch").write(&channel, Format::Conda);
    let mut c = Package::new("c", "1.0", "h0_0", SUBDIR);
    c.files.extend([
        (
            "etc/conda/activate.d/c.sh".to_string(),
            b"export KRAIT_C_ACTIVE=\"on:$CONDA_PREFIX\"\n".to_vec(),
        ),
        (
            "etc/conda/deactivate.d/c.sh".to_string(),
            b"echo \"deactivating:$CONDA_PREFIX\" >&2\nunset KRAIT_C_ACTIVE\n".to_vec(),
        ),
        (
            "etc/conda/activate.d/c.fish".to_string(),
            b"set -gx KRAIT_C_ACTIVE \"on:$CONDA_PREFIX\"\n".to_vec(),
        ),
        (
            "etc/conda/deactivate.d/c.fish".to_string(),
            b"echo \"deactivating:$CONDA_PREFIX\" >&2\nset -e KRAIT_C_ACTIVE\n".to_vec(),
        ),
        (
            "etc/conda/activate.d/c.ps1".to_string(),
            b"$Env:KRAIT_C_ACTIVE = 'on'\n".to_vec(),
        ),
        (
            "etc/conda/env_vars.d/c.json".to_string(),
            br#"{"KRAIT_C_VAR": "from-c"}"#.to_vec(),
        ),
    ]);
    c.write(&channel, Format::Conda);
    Package::new("d", "1.0", "h0_0", "noarch").write(&channel, Format::Conda);
    run_ok(krait(dir).arg("index").arg(&channel));
    channel
}

/// The channel URL krait records for packages from `channel`.
fn channel_url(channel: &Path) -> String {
    url::Url::from_directory_path(channel)
        .unwrap()
        .as_str()
        .trim_end_matches('/')
        .to_string()
}

fn create(home: &Path, channel: &Path, target: &[&str], specs: &[&str]) {
    run_ok(
        krait(home)
            .arg("create")
            .args(target)
            .arg("-c")
            .arg(channel)
            .args(["--override-channels", "-y"])
            .args(specs),
    );
}

fn install(home: &Path, channel: &Path, prefix: &Path, specs: &[&str]) {
    run_ok(
        krait(home)
            .arg("install")
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(channel)
            .args(["--override-channels", "-y"])
            .args(specs),
    );
}

fn list(home: &Path, prefix: &Path, args: &[&str]) -> String {
    run_ok(krait(home).arg("list").arg("-p").arg(prefix).args(args))
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn file_digest<D: rattler_digest::digest::Digest + Default>(path: &Path) -> String {
    hex::encode(rattler_digest::compute_bytes_digest::<D>(
        std::fs::read(path).unwrap(),
    ))
}

#[test]
fn list_writes_conda_table_export_explicit_and_json() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    let url = channel_url(channel);
    let prefix = home.join("env");
    create(
        home,
        channel,
        &["-p", prefix.to_str().unwrap()],
        &["a=1.0", "c"],
    );

    let table = list(home, &prefix, &[]);
    let expected_row =
        |name: &str, version: &str| format!("{name:<25} {version:<15} {:>15}    {url}", "h0_0");
    assert_eq!(
        table,
        format!(
            "# packages in environment at {}:\n#\n\
             # Name                    Version                   Build  Channel\n\
             {}\n{}\n{}\n",
            prefix.display(),
            expected_row("a", "1.0"),
            expected_row("b", "1.0"),
            expected_row("c", "1.0"),
        )
    );

    // A regex selects by name; one that matches nothing exits 1, as conda does.
    let only_b = list(home, &prefix, &["^B$"]);
    assert!(only_b.contains(&expected_row("b", "1.0")), "{only_b}");
    assert!(!only_b.contains(&expected_row("a", "1.0")), "{only_b}");
    let out = run(krait(home).arg("list").arg("-p").arg(&prefix).arg("zzz"));
    assert_eq!(out.status.code(), Some(1));
    let err = run_err(
        krait(home)
            .arg("list")
            .arg("-p")
            .arg(&prefix)
            .arg("(unclosed"),
    );
    assert!(err.contains("(unclosed"), "{err}");

    let export = list(home, &prefix, &["--export"]);
    assert_eq!(
        export,
        format!(
            "# This file may be used to create an environment using:\n\
             # $ conda create --name <env> --file <this file>\n\
             # platform: {}\n\
             a=1.0=h0_0\nb=1.0=h0_0\nc=1.0=h0_0\n",
            krait::channel::resolve::host_subdir()
        )
    );

    let archives = [
        channel.join(SUBDIR).join("a-1.0-h0_0.conda"),
        channel.join("noarch").join("b-1.0-h0_0.conda"),
        channel.join(SUBDIR).join("c-1.0-h0_0.conda"),
    ];
    let explicit = list(home, &prefix, &["--explicit", "--sha256"]);
    let urls: Vec<&str> = explicit
        .lines()
        .skip_while(|l| *l != "@EXPLICIT")
        .skip(1)
        .collect();
    let expected: Vec<String> = archives
        .iter()
        .map(|a| {
            format!(
                "{}#sha256:{}",
                url::Url::from_file_path(a).unwrap(),
                file_digest::<rattler_digest::Sha256>(a)
            )
        })
        .collect();
    assert_eq!(urls, expected, "{explicit}");
    let md5 = list(home, &prefix, &["--explicit", "--md5"]);
    assert!(
        md5.contains(&format!(
            "{}#{}",
            url::Url::from_file_path(&archives[0]).unwrap(),
            file_digest::<rattler_digest::Md5>(&archives[0])
        )),
        "{md5}"
    );
    let plain = list(home, &prefix, &["--explicit"]);
    assert!(plain
        .lines()
        .all(|l| !l.contains('#') || l.starts_with('#')));

    // The @EXPLICIT output and the --export output both recreate the same environment.
    let explicit_file = home.join("explicit.txt");
    std::fs::write(&explicit_file, &explicit).unwrap();
    let again = home.join("again");
    run_ok(
        krait(home)
            .args(["create", "-y", "-p"])
            .arg(&again)
            .arg("--file")
            .arg(&explicit_file),
    );
    assert_eq!(list(home, &again, &["--export"]), export);
    let export_file = home.join("export.txt");
    std::fs::write(&export_file, &export).unwrap();
    let third = home.join("third");
    run_ok(
        krait(home)
            .args(["create", "-y", "--override-channels", "-c"])
            .arg(channel)
            .arg("-p")
            .arg(&third)
            .arg("--file")
            .arg(&export_file),
    );
    assert_eq!(list(home, &third, &["--export"]), export);

    let listed = json(&list(home, &prefix, &["--json"]));
    let a = &listed[0];
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert_eq!(a["name"], "a");
    assert_eq!(a["version"], "1.0");
    assert_eq!(a["build_string"], "h0_0");
    assert_eq!(a["build_number"], 0);
    assert_eq!(a["dist_name"], "a-1.0-h0_0");
    assert_eq!(a["platform"], SUBDIR);
    assert_eq!(a["channel"], url.as_str());
    assert_eq!(a["base_url"], url.as_str());
    assert_eq!(listed[1]["platform"], "noarch");

    // Packages from the default channels: conda names their channel by its path and leaves it
    // out of the table.
    let server = HttpServer::serve(home);
    let defaults = format!("{}/channel", server.url);
    let from_defaults = home.join("from-defaults");
    run_ok(
        krait(home)
            .env("KRAIT_DEFAULT_CHANNELS", &defaults)
            .args([
                "create",
                "-y",
                "-c",
                "defaults",
                "--override-channels",
                "-p",
            ])
            .arg(&from_defaults)
            .arg("b"),
    );
    let table = run_ok(
        krait(home)
            .env("KRAIT_DEFAULT_CHANNELS", &defaults)
            .arg("list")
            .arg("-p")
            .arg(&from_defaults),
    );
    assert!(
        table.ends_with(&format!("\n{:<25} {:<15} {:>15}  \n", "b", "1.0", "h0_0")),
        "{table}"
    );
    let listed = json(&run_ok(
        krait(home)
            .env("KRAIT_DEFAULT_CHANNELS", &defaults)
            .args(["list", "--json", "-p"])
            .arg(&from_defaults),
    ));
    assert_eq!(listed[0]["channel"], "channel");
    assert_eq!(listed[0]["base_url"], defaults.as_str());
    let exported = json(&run_ok(
        krait(home)
            .env("KRAIT_DEFAULT_CHANNELS", &defaults)
            .args(["env", "export", "--override-channels", "--json", "-p"])
            .arg(&from_defaults),
    ));
    assert_eq!(exported["channels"], serde_json::json!(["defaults"]));

    let err = run_err(krait(home).args(["list", "-n", "nosuchenv"]));
    assert!(err.contains("nosuchenv"), "{err}");
}

#[test]
fn list_revisions_show_history_as_conda_prints_it() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    let url = channel_url(channel);
    let prefix = home.join("env");
    create(home, channel, &["-p", prefix.to_str().unwrap()], &["a=1.0"]);
    install(home, channel, &prefix, &["a=2.0", "d"]);
    run_ok(
        krait(home)
            .args(["remove", "-y", "--override-channels", "-c"])
            .arg(channel)
            .arg("-p")
            .arg(&prefix)
            .arg("d"),
    );

    let text = list(home, &prefix, &["--revisions"]);
    let blocks: Vec<&str> = text.split("\n\n").filter(|b| !b.is_empty()).collect();
    assert_eq!(blocks.len(), 3, "{text}");
    let header = regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \(rev (\d)\)$").unwrap();
    for (n, block) in blocks.iter().enumerate() {
        let first = block.lines().next().unwrap();
        let caps = header.captures(first).unwrap_or_else(|| panic!("{first}"));
        assert_eq!(caps[1].parse::<usize>().unwrap(), n);
    }
    let body = |n: usize| blocks[n].lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(0), format!("    +a-1.0 ({url})\n    +b-1.0 ({url})"));
    assert_eq!(
        body(1),
        format!("     a  {{1.0 ({url}) -> 2.0 ({url})}}\n    +d-1.0 ({url})")
    );
    assert_eq!(body(2), format!("    -d-1.0 ({url})"));

    let events = json(&list(home, &prefix, &["--revisions", "--json"]));
    assert_eq!(events[0]["rev"], 0);
    assert_eq!(
        events[0]["install"],
        serde_json::json!([format!("a-1.0-h0_0-{url}"), format!("b-1.0-h0_0-{url}")])
    );
    assert_eq!(events[1]["upgrade"][0]["old"], format!("a-1.0-h0_0-{url}"));
    assert_eq!(events[1]["upgrade"][0]["new"], format!("a-2.0-h0_0-{url}"));
    assert_eq!(
        events[2]["remove"],
        serde_json::json!([format!("d-1.0-h0_0-{url}")])
    );
}

fn write_env_file(path: &Path, name: &str, channel: &Path, deps: &[&str]) {
    let deps: String = deps.iter().map(|d| format!("  - {d}\n")).collect();
    std::fs::write(
        path,
        format!(
            "name: {name}\nchannels:\n  - {}\ndependencies:\n{deps}",
            channel.display()
        ),
    )
    .unwrap();
}

fn names(home: &Path, prefix: &Path) -> Vec<String> {
    json(&list(home, prefix, &["--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn env_create_list_export_update_prune_and_remove() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    let url = channel_url(channel);
    let file = home.join("environment.yml");
    write_env_file(&file, "demo", channel, &["a=1.0", "c"]);

    let out = run_ok(
        krait(home)
            .args(["env", "create", "--override-channels", "-f"])
            .arg(&file),
    );
    assert!(out.contains("krait activate demo"), "{out}");
    let prefix = home.join("envs").join("demo");
    assert_eq!(names(home, &prefix), ["a", "b", "c"]);
    let err = run_err(
        krait(home)
            .args(["env", "create", "--override-channels", "-f"])
            .arg(&file),
    );
    assert!(err.contains("already exists"), "{err}");

    // `env list` in conda's layout, and as JSON.
    let envs = run_ok(krait(home).args(["env", "list"]));
    assert_eq!(run_ok(krait(home).args(["info", "--envs"])), envs);
    assert_eq!(names(home, &prefix), ["a", "b", "c"]);
    assert!(run_ok(krait(home).args(["list", "-n", "demo", "^c$"])).contains("\nc "));
    // -n overrides the file's name; --dry-run creates nothing.
    let out = run_ok(
        krait(home)
            .args([
                "env",
                "create",
                "--override-channels",
                "--dry-run",
                "-n",
                "other",
                "-f",
            ])
            .arg(&file),
    );
    assert!(out.contains("Dry run"), "{out}");
    assert!(!home.join("envs/other").exists());
    assert_eq!(
        envs,
        format!(
            "# conda environments:\n#\n{:<20}     {}\n\n",
            "demo",
            prefix.display()
        )
    );
    let active = run_ok(
        krait(home)
            .args(["env", "list"])
            .env("CONDA_PREFIX", &prefix),
    );
    assert!(active.contains(&format!("{:<20}  *  {}", "demo", prefix.display())));
    let envs = json(&run_ok(krait(home).args(["env", "list", "--json"])));
    assert_eq!(envs["envs"], serde_json::json!([prefix]));
    // Environments made with -p are registered in conda's environments.txt, as conda does,
    // and listed without a name; entries whose prefix is gone are skipped.
    let registry = home.join(".conda/environments.txt");
    let elsewhere = home.join("elsewhere");
    create(home, channel, &["-p", elsewhere.to_str().unwrap()], &["d"]);
    assert_eq!(
        std::fs::read_to_string(&registry).unwrap(),
        format!("{}\n{}\n", prefix.display(), elsewhere.display())
    );
    let mut registered = std::fs::read_to_string(&registry).unwrap();
    registered.push_str(&format!("{}/gone\n", home.display()));
    std::fs::write(&registry, registered).unwrap();
    let envs = run_ok(krait(home).args(["env", "list"]));
    assert!(
        envs.ends_with(&format!("\n{:<20}     {}\n\n", "", elsewhere.display())),
        "{envs}"
    );
    let envs = json(&run_ok(krait(home).args(["env", "list", "--json"])));
    assert_eq!(envs["envs"], serde_json::json!([prefix, elsewhere]));
    run_ok(krait(home).args(["remove", "-y", "--all", "-p", elsewhere.to_str().unwrap()]));
    assert!(!elsewhere.exists());
    assert!(!std::fs::read_to_string(&registry)
        .unwrap()
        .contains(&format!("{}\n", elsewhere.display())));
    std::fs::remove_file(&registry).unwrap();

    // `env export`: pinned, without builds, from history; as YAML and JSON.
    let exported: serde_yaml::Value = serde_yaml::from_str(&run_ok(krait(home).args([
        "env",
        "export",
        "-n",
        "demo",
        "--override-channels",
    ])))
    .unwrap();
    assert_eq!(exported["name"], "demo");
    assert_eq!(exported["prefix"], prefix.to_str().unwrap());
    assert_eq!(
        exported["channels"],
        serde_yaml::to_value([url.as_str()]).unwrap()
    );
    assert_eq!(
        exported["dependencies"],
        serde_yaml::to_value(["a=1.0=h0_0", "b=1.0=h0_0", "c=1.0=h0_0"]).unwrap()
    );
    let no_builds = json(&run_ok(krait(home).args([
        "env",
        "export",
        "-n",
        "demo",
        "--no-builds",
        "--json",
    ])));
    assert_eq!(
        no_builds["dependencies"],
        serde_json::json!(["a=1.0", "b=1.0", "c=1.0"])
    );
    // Without --override-channels the configured channels follow the packages' own.
    assert_eq!(no_builds["channels"], serde_json::json!([url, "defaults"]));
    let history = json(&run_ok(krait(home).args([
        "env",
        "export",
        "-n",
        "demo",
        "--from-history",
        "--json",
    ])));
    // The specs as conda-meta/history records them, in conda's spelling.
    assert_eq!(history["dependencies"], serde_json::json!(["a=1.0", "c"]));

    // An exported file creates the same environment elsewhere.
    let exported_file = home.join("exported.yml");
    run_ok(
        krait(home)
            .args(["env", "export", "-n", "demo", "--override-channels", "-f"])
            .arg(&exported_file),
    );
    let copy = home.join("copy");
    run_ok(
        krait(home)
            .args(["env", "create", "--override-channels", "-p"])
            .arg(&copy)
            .arg("-f")
            .arg(&exported_file),
    );
    assert_eq!(
        list(home, &copy, &["--export"]),
        list(home, &prefix, &["--export"])
    );

    // `env update` adds what the file adds; `--prune` also drops what it no longer needs.
    let updated = home.join("updated.yml");
    write_env_file(&updated, "demo", channel, &["a", "d"]);
    run_ok(
        krait(home)
            .args(["env", "update", "--override-channels", "-f"])
            .arg(&updated),
    );
    assert_eq!(names(home, &prefix), ["a", "b", "c", "d"]);
    let pruned = json(&run_ok(
        krait(home)
            .args([
                "env",
                "update",
                "--override-channels",
                "--prune",
                "--json",
                "-f",
            ])
            .arg(&updated),
    ));
    assert_eq!(names(home, &prefix), ["a", "b", "d"]);
    assert_eq!(pruned["actions"]["UNLINK"][0]["name"], "c");
    assert!(!prefix.join("etc/conda/activate.d/c.sh").exists());

    // Bad input: a malformed file names itself; an unknown env names itself.
    let bad = home.join("bad.yml");
    std::fs::write(&bad, "name: x\ndependencies:\n  - [not a spec\n").unwrap();
    let err = run_err(krait(home).args(["env", "create", "-f"]).arg(&bad));
    assert!(err.contains("bad.yml"), "{err}");
    assert!(!home.join("envs").join("x").exists());
    let nameless = home.join("nameless.yml");
    std::fs::write(&nameless, "dependencies:\n  - a\n").unwrap();
    let err = run_err(krait(home).args(["env", "create", "-f"]).arg(&nameless));
    assert!(err.contains("names no environment"), "{err}");

    // `env remove` refuses the active environment, then removes it when asked.
    let err = run_err(
        krait(home)
            .args(["env", "remove", "-n", "demo"])
            .env("CONDA_PREFIX", &prefix),
    );
    assert!(err.contains("active environment"), "{err}");
    let out = run_ok(krait(home).args(["env", "remove", "-n", "demo", "--dry-run"]));
    assert!(out.contains(&prefix.display().to_string()), "{out}");
    assert!(prefix.join("conda-meta").is_dir());
    run_ok(krait(home).args(["env", "remove", "-n", "demo"]));
    assert!(!prefix.exists());
    assert!(std::fs::read_dir(home.join("envs"))
        .unwrap()
        .next()
        .is_none());
    let err = run_err(krait(home).args(["env", "remove", "-n", "demo"]));
    assert!(err.contains("\"demo\" does not exist"), "{err}");
}

#[test]
fn run_activates_the_environment_and_passes_the_exit_code_on() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    let prefix = home.join("envs").join("tools");
    create(home, channel, &["-n", "tools"], &["c"]);

    let out = run(krait(home).args([
        "run",
        "-n",
        "tools",
        "--cwd",
        "/",
        "sh",
        "-c",
        "echo \"$KRAIT_C_ACTIVE|$KRAIT_C_VAR|$CONDA_PREFIX|${PATH%%:*}|$CONDA_DEFAULT_ENV|$PWD\"; exit 7",
    ]));
    assert_eq!(out.status.code(), Some(7));
    let p = prefix.display();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("on:{p}|from-c|{p}|{p}/bin|tools|/\n")
    );
    // An environment outside envs_dirs goes by its path; flags after the command are its own.
    let elsewhere = home.join("elsewhere");
    create(home, channel, &["-p", elsewhere.to_str().unwrap()], &["d"]);
    let out = run_ok(krait(home).arg("run").arg("-p").arg(&elsewhere).args([
        "sh",
        "-c",
        "echo \"$CONDA_DEFAULT_ENV|$CONDA_PROMPT_MODIFIER|$1\"",
        "sh",
        "--flag",
    ]));
    let e = elsewhere.display();
    assert_eq!(out, format!("{e}|({e}) |--flag\n"));
    // conda's --no-capture-output / --live-stream are accepted: output always streams.
    let out = run_ok(krait(home).args([
        "run",
        "--no-capture-output",
        "-n",
        "tools",
        "echo",
        "streamed",
    ]));
    assert_eq!(out, "streamed\n");
    let err = run_err(krait(home).args(["run", "-n", "tools", "no-such-command-krait"]));
    assert!(err.contains("no-such-command-krait"), "{err}");
    let err = run_err(krait(home).args(["run", "-n", "missing", "true"]));
    assert!(err.contains("\"missing\" does not exist"), "{err}");
}

/// Runs `script` in `shell` with krait's isolated environment and `$KRAIT_BIN` set.
fn shell_session(home: &Path, shell: &str, script: &str) -> String {
    let isolated = krait(home);
    let mut cmd = Command::new(shell);
    for (key, value) in isolated.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.env_remove("CONDA_PREFIX")
        .env_remove("CONDA_SHLVL")
        .env("KRAIT_BIN", env!("CARGO_BIN_EXE_krait"))
        .args(["-c", script]);
    run_ok(&mut cmd)
}

/// The steps every shell goes through: activate by name, deactivate, activate by path,
/// activate another env over it, deactivate back to the first, deactivate to nothing.
const STEPS: &str = r#"
krait activate web
show
krait deactivate
show
is_old_path
krait activate @PREFIX@
show
krait env list | grep -c '\*'
krait activate plain 2>&1
show
krait deactivate
show
krait deactivate 2>&1
show
is_old_path
"#;

const POSIX_SESSION: &str = r#"set -e
show() {
    echo "prefix=${CONDA_PREFIX-unset} shlvl=${CONDA_SHLVL-unset} active=${KRAIT_C_ACTIVE-unset} var=${KRAIT_C_VAR-unset}"
    case ":$PATH:" in *":@PREFIX@/bin:"*) echo "on-path";; *) echo "off-path";; esac
}
is_old_path() { [ "$PATH" = "$old_path" ] && echo "path-restored"; }
eval "$("$KRAIT_BIN" shell-hook --shell @SHELL@)"
export KRAIT_C_VAR=before
old_path="$PATH"
"#;

const FISH_SESSION: &str = r#"
function val
    if set -q $argv[1]
        echo -n $$argv[1]
    else
        echo -n unset
    end
end
function show
    echo "prefix="(val CONDA_PREFIX)" shlvl="(val CONDA_SHLVL)" active="(val KRAIT_C_ACTIVE)" var="(val KRAIT_C_VAR)
    if contains -- @PREFIX@/bin $PATH
        echo on-path
    else
        echo off-path
    end
end
function is_old_path
    test "$PATH" = "$old_path"; and echo path-restored
end
$KRAIT_BIN shell-hook --shell fish | source
set -gx KRAIT_C_VAR before
set -g old_path "$PATH"
"#;

/// xonsh, from the venv scripts/test sets up.
fn xonsh() -> String {
    let venv = std::env::var_os("KRAIT_TEST_VENV").expect(
        "KRAIT_TEST_VENV is not set: run the tests through scripts/test, which installs xonsh",
    );
    PathBuf::from(venv).join("bin/xonsh").display().to_string()
}

const XONSH_SESSION: &str = r#"
def val(name):
    return ${...}.get(name, 'unset')
def show():
    print(f"prefix={val('CONDA_PREFIX')} shlvl={val('CONDA_SHLVL')} active={val('KRAIT_C_ACTIVE')} var={val('KRAIT_C_VAR')}")
    print('on-path' if '@PREFIX@/bin' in $PATH else 'off-path')
def is_old_path():
    if list($PATH) == old_path:
        print('path-restored')
execx($(@($KRAIT_BIN) shell-hook --shell xonsh))
$KRAIT_C_VAR = 'before'
old_path = list($PATH)
"#;

#[test]
fn activate_and_deactivate_through_the_shell_hook_in_bash_zsh_fish_and_xonsh() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    create(home, channel, &["-n", "web"], &["c"]);
    create(home, channel, &["-n", "plain"], &["d"]);
    let prefix = home.join("envs").join("web");
    let p = prefix.display().to_string();
    let plain = home.join("envs").join("plain").display().to_string();
    let expected = format!(
        "prefix={p} shlvl=1 active=on:{p} var=from-c\non-path\n\
         prefix=unset shlvl=unset active=unset var=before\noff-path\n\
         path-restored\n\
         prefix={p} shlvl=1 active=on:{p} var=from-c\non-path\n\
         1\n\
         deactivating:{p}\n\
         prefix={plain} shlvl=2 active=unset var=before\noff-path\n\
         prefix={p} shlvl=1 active=on:{p} var=from-c\non-path\n\
         deactivating:{p}\n\
         prefix=unset shlvl=unset active=unset var=before\noff-path\n\
         path-restored\n"
    );
    for shell in ["bash", "zsh", "fish", "xonsh"] {
        let (program, script) = match shell {
            "fish" => ("fish".to_string(), FISH_SESSION.to_string() + STEPS),
            "bash" | "zsh" => (
                shell.to_string(),
                POSIX_SESSION.replace("@SHELL@", shell) + STEPS,
            ),
            // xonsh runs bare names as Python expressions: call the helpers.
            _ => (
                xonsh(),
                XONSH_SESSION.to_string()
                    + &STEPS
                        .replace("show\n", "show()\n")
                        .replace("is_old_path\n", "is_old_path()\n"),
            ),
        };
        let script = script.replace("@PREFIX@", &p);
        let expected = if shell == "xonsh" {
            // xonsh's source-bash does not pass on what a script prints; that the
            // deactivate.d script ran shows in `active=unset`, which only it unsets.
            expected.replace(&format!("deactivating:{p}\n"), "")
        } else {
            expected.clone()
        };
        assert_eq!(
            shell_session(home, &program, &script),
            expected,
            "in {shell}"
        );
    }

    // conda's prompt variables, set while active and gone afterwards.
    let out = shell_session(
        home,
        "bash",
        r#"eval "$("$KRAIT_BIN" shell-hook --shell bash)"
PS1='$ '
krait activate web
echo "$CONDA_DEFAULT_ENV|$CONDA_PROMPT_MODIFIER|$PS1"
krait activate plain 2>/dev/null
echo "$PS1"
krait deactivate
krait deactivate 2>/dev/null
echo "${CONDA_DEFAULT_ENV-unset}|${CONDA_PROMPT_MODIFIER-unset}|$PS1""#,
    );
    assert_eq!(out, "web|(web) |(web) $ \n(plain) $ \nunset|unset|$ \n");

    // Without the shell function, activate says how to set it up.
    let err = run_err(krait(home).args(["activate", "web"]));
    assert!(err.contains("shell-hook"), "{err}");
    let err = run_err(krait(home).args(["deactivate", "--shell", "bash"]));
    assert!(err.contains("no environment is active"), "{err}");
    let err = run_err(krait(home).args(["shell-hook", "--shell", "tcsh"]));
    assert!(err.contains("tcsh"), "{err}");
}

const NU_SESSION: &str = r#"
source @HOOK@
def val [name: string] { if ($name in $env) { $env | get $name } else { "unset" } }
def show [] {
    print $"prefix=(val CONDA_PREFIX) shlvl=(val CONDA_SHLVL) active=(val KRAIT_C_ACTIVE) var=(val KRAIT_C_VAR)"
    print (if ("@PREFIX@/bin" in $env.PATH) { "on-path" } else { "off-path" })
}
$env.KRAIT_C_VAR = "before"
let old_path = $env.PATH
krait activate web
show
krait deactivate
show
if $env.PATH == $old_path { print "path-restored" }
krait activate @PREFIX@
show
krait env list | grep -c '\*'
krait activate plain
show
krait deactivate
show
krait deactivate
show
if $env.PATH == $old_path { print "path-restored" }
"#;

#[test]
fn activate_and_deactivate_through_the_shell_hook_in_nushell() {
    let nu = std::env::var_os("KRAIT_TEST_NU").expect(
        "KRAIT_TEST_NU is not set: run the tests through scripts/test, which installs nushell",
    );
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    create(home, channel, &["-n", "web"], &["c"]);
    create(home, channel, &["-n", "plain"], &["d"]);
    let p = home.join("envs/web").display().to_string();
    let plain = home.join("envs/plain").display().to_string();
    // nushell sources files only at parse time: save the hook first.
    let hook = home.join("hook.nu");
    std::fs::write(
        &hook,
        run_ok(krait(home).args(["shell-hook", "--shell", "nu"])),
    )
    .unwrap();
    let script = NU_SESSION
        .replace("@HOOK@", hook.to_str().unwrap())
        .replace("@PREFIX@", &p);
    let out = shell_session(home, nu.to_str().unwrap(), &script);
    assert_eq!(
        out,
        format!(
            "prefix={p} shlvl=1 active=on:{p} var=from-c\non-path\n\
             prefix=unset shlvl=unset active=unset var=before\noff-path\n\
             path-restored\n\
             prefix={p} shlvl=1 active=on:{p} var=from-c\non-path\n\
             1\n\
             prefix={plain} shlvl=2 active=unset var=before\noff-path\n\
             prefix={p} shlvl=1 active=on:{p} var=from-c\non-path\n\
             prefix=unset shlvl=unset active=unset var=before\noff-path\n\
             path-restored\n"
        )
    );
}

#[test]
fn scripts_for_the_other_shells() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    create(home, channel, &["-n", "web"], &["c"]);
    let prefix = home.join("envs").join("web");
    let p = prefix.display().to_string();
    let exe = env!("CARGO_BIN_EXE_krait");

    let hook = |shell: &str| run_ok(krait(home).args(["shell-hook", "--shell", shell]));
    let activate = |shell: &str| {
        run_ok(
            krait(home)
                .args(["activate", "web", "--shell", shell])
                .env_remove("CONDA_PREFIX"),
        )
    };

    // Without --shell, the shell named by $SHELL.
    let from_env = run_ok(krait(home).arg("shell-hook").env("SHELL", "/usr/bin/fish"));
    assert_eq!(from_env, hook("fish"));
    let err = run_err(krait(home).arg("shell-hook").env("SHELL", "/bin/tcsh"));
    assert!(err.contains("--shell"), "{err}");

    let zsh = hook("zsh");
    assert!(zsh.contains("krait() {") && zsh.contains("--shell zsh") && zsh.contains(exe));
    let fish = hook("fish");
    assert!(
        fish.contains("function krait") && fish.contains("--shell fish"),
        "{fish}"
    );
    let fish_activate = activate("fish");
    assert!(
        fish_activate.contains(&format!("set -gx CONDA_PREFIX \"{p}\"")),
        "{fish_activate}"
    );
    assert!(fish_activate.contains(&format!("source \"{p}/etc/conda/activate.d/c.fish\"")));
    assert!(!fish_activate.contains("c.sh"));

    let xonsh = hook("xonsh");
    assert!(xonsh.contains("aliases['krait'] = _krait"), "{xonsh}");
    assert!(activate("xonsh").contains(&format!("$CONDA_PREFIX = \"{p}\"")));

    let pwsh = hook("powershell");
    assert!(pwsh.contains("function krait {") && pwsh.contains("Invoke-Expression"));
    let pwsh_activate = activate("powershell");
    assert!(
        pwsh_activate.contains(&format!("${{Env:CONDA_PREFIX}} = \"{p}\"")),
        "{pwsh_activate}"
    );
    assert!(pwsh_activate.contains("c.ps1"));

    let cmd = hook("cmd");
    assert!(
        cmd.contains("doskey krait=") && cmd.contains("\r\n"),
        "{cmd}"
    );
    assert!(activate("cmd").contains(&format!("@SET \"CONDA_PREFIX={p}\"")));

    // nushell loads the changes as JSON; they include what the bash activate.d script set.
    let nu = hook("nu");
    assert!(
        nu.contains("def --env --wrapped krait") && nu.contains("load-env"),
        "{nu}"
    );
    let changes = json(&activate("nu"));
    assert_eq!(changes["set"]["CONDA_PREFIX"], p.as_str());
    assert_eq!(changes["set"]["KRAIT_C_ACTIVE"], format!("on:{p}"));
    assert_eq!(changes["set"]["KRAIT_C_VAR"], "from-c");
    assert_eq!(changes["set"]["PATH"][0], format!("{p}/bin"));
    let changes = json(&run_ok(
        krait(home)
            .args(["deactivate", "--shell", "nu"])
            .env("CONDA_PREFIX", &prefix)
            .env("CONDA_SHLVL", "1")
            .env("KRAIT_C_ACTIVE", "on")
            .env("KRAIT_C_VAR", "from-c"),
    ));
    let unset: Vec<&str> = changes["unset"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for var in [
        "CONDA_PREFIX",
        "CONDA_SHLVL",
        "KRAIT_C_ACTIVE",
        "KRAIT_C_VAR",
    ] {
        assert!(unset.contains(&var), "{var} not in {unset:?}");
    }
}

#[test]
fn info_reports_platform_virtual_packages_channels_and_dirs() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    let url = channel_url(channel);
    let info = json(&run_ok(
        krait(home)
            .args(["info", "--json"])
            .env("KRAIT_CHANNELS", channel)
            .env("CONDA_OVERRIDE_GLIBC", "2.99")
            .env_remove("CONDA_PREFIX"),
    ));
    let platform = krait::channel::resolve::host_subdir().to_string();
    assert_eq!(info["platform"], platform.as_str());
    assert_eq!(
        info["channels"],
        serde_json::json!([format!("{url}/{platform}"), format!("{url}/noarch")])
    );
    assert_eq!(info["pkgs_dirs"], serde_json::json!([home.join("pkgs")]));
    assert_eq!(info["envs_dirs"], serde_json::json!([home.join("envs")]));
    assert_eq!(info["active_prefix"], Value::Null);
    let virtual_pkgs = info["virtual_pkgs"].as_array().unwrap();
    assert!(
        virtual_pkgs.contains(&serde_json::json!(["__unix", "0", "0"])),
        "{virtual_pkgs:?}"
    );
    assert!(
        virtual_pkgs.contains(&serde_json::json!(["__glibc", "2.99", "0"])),
        "{virtual_pkgs:?}"
    );

    let condarc = home.join(".condarc");
    std::fs::write(&condarc, "channel_priority: strict\n").unwrap();
    let text = run_ok(krait(home).arg("info").env("KRAIT_CHANNELS", channel));
    assert!(
        text.contains(&format!("               platform : {platform}\n")),
        "{text}"
    );
    assert!(text.contains(&format!(
        " populated config files : {}\n",
        condarc.display()
    )));
    assert!(text.contains(&format!("           channel URLs : {url}/{platform}\n")));
    assert!(text.contains(&format!("{:26}{url}/noarch\n", "")));
}

#[test]
fn clean_removes_index_cache_archives_and_unused_packages() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    // Served over HTTP, so that its repodata lands in the index cache.
    let server = HttpServer::serve(channel);
    run_ok(krait(home).args([
        "create",
        "-n",
        "one",
        "-c",
        &server.url,
        "--override-channels",
        "-y",
        "a",
    ]));
    let pkgs = home.join("pkgs");
    let extracted = |name: &str| pkgs.join(name).join("info").join("index.json").is_file();
    assert!(extracted("a-2.0-h0_0") && extracted("b-1.0-h0_0"));
    assert!(pkgs.join("cache").read_dir().unwrap().next().is_some());

    let err = run_err(krait(home).arg("clean"));
    assert!(err.contains("--all"), "{err}");

    // Packages linked into an environment stay; the index cache goes.
    let dry = json(&run_ok(krait(home).args([
        "clean",
        "--all",
        "--dry-run",
        "--json",
    ])));
    assert_eq!(dry["packages"]["files"], serde_json::json!([]));
    assert!(!dry["index_cache"]["files"].as_array().unwrap().is_empty());
    assert!(pkgs.join("cache").read_dir().unwrap().next().is_some());
    run_ok(krait(home).args(["clean", "--index-cache", "--packages", "-y"]));
    assert!(pkgs.join("cache").read_dir().unwrap().next().is_none());
    assert!(extracted("a-2.0-h0_0") && extracted("b-1.0-h0_0"));
    assert_eq!(names(home, &home.join("envs/one")), ["a", "b"]);

    // Once the environment is gone its packages are unused, and clean removes them.
    run_ok(krait(home).args(["env", "remove", "-n", "one"]));
    let out = run_ok(krait(home).args(["clean", "--packages", "-y"]));
    assert!(out.contains("Will remove 2"), "{out}");
    assert!(!extracted("a-2.0-h0_0") && !extracted("b-1.0-h0_0"));
    assert!(!pkgs.join("a-2.0-h0_0.lock").exists());

    // Tarballs in the cache are found and removed.
    std::fs::copy(
        channel.join("noarch/d-1.0-h0_0.conda"),
        pkgs.join("d-1.0-h0_0.conda"),
    )
    .unwrap();
    let out = json(&run_ok(krait(home).args(["clean", "--tarballs", "--json"])));
    assert_eq!(
        out["tarballs"]["files"],
        serde_json::json!([pkgs.join("d-1.0-h0_0.conda")])
    );
    assert!(!pkgs.join("d-1.0-h0_0.conda").exists());
}

/// `krait create -n NAME -c URL --override-channels -y a`.
fn create_a(home: &Path, url: &str, name: &str) -> std::process::Command {
    let mut cmd = krait(home);
    cmd.args(["create", "-n", name, "-c", url])
        .args(["--override-channels", "-y", "a"]);
    cmd
}

#[test]
fn requests_failing_on_the_way_are_sent_again_as_remote_max_retries_says() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    // Every path (repodata and each archive) answers 503 once before it is served.
    let server = HttpServer::serve_faulty(channel, Fault::Unavailable, 1);
    let create = |name: &str| create_a(home, &server.url, name);
    let condarc = home.join(".condarc");
    std::fs::write(&condarc, "remote_backoff_factor: 0.05\n").unwrap();
    run_ok(&mut create("retried"));
    assert_eq!(names(home, &home.join("envs/retried")), ["a", "b"]);

    // A download cut off halfway is tried again too (not by the retry middleware, which has
    // handed the answer over by then, but by the package fetch).
    let cutting = HttpServer::serve_faulty(channel, Fault::CutShort, 1);
    std::fs::remove_dir_all(home.join("pkgs")).unwrap();
    run_ok(&mut create_a(home, &cutting.url, "cut-short"));
    assert_eq!(names(home, &home.join("envs/cut-short")), ["a", "b"]);

    // A server that hangs is given up on after remote_read_timeout_secs and asked again (the
    // hang ends in a 503 after 30 s, so without the timeout this would take minutes).
    let hanging = HttpServer::serve_faulty(channel, Fault::Hang, 1);
    std::fs::write(
        &condarc,
        "remote_backoff_factor: 0.05\nremote_read_timeout_secs: 0.5\n",
    )
    .unwrap();
    std::fs::remove_dir_all(home.join("pkgs")).unwrap();
    let started = std::time::Instant::now();
    run_ok(&mut create_a(home, &hanging.url, "hung"));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(names(home, &home.join("envs/hung")), ["a", "b"]);

    // With retries off, the first 503 of a package download ends the create, and nothing is
    // left behind: no environment, no half-extracted package.
    let second = HttpServer::serve_faulty(channel, Fault::Unavailable, 1);
    std::fs::write(&condarc, "remote_max_retries: 0\n").unwrap();
    std::fs::remove_dir_all(home.join("pkgs")).unwrap();
    let err = run_err(&mut create_a(home, &second.url, "not-retried"));
    assert!(err.contains("503"), "{err}");
    assert!(!home.join("envs/not-retried/conda-meta").exists());
    let config = json(&run_ok(krait(home).args(["config", "--show", "--json"])));
    assert_eq!(config["config"]["remote_max_retries"], 0);
    assert_eq!(config["config"]["remote_backoff_factor"], 1.0);
    assert_eq!(config["config"]["remote_read_timeout_secs"], 60.0);

    std::fs::write(&condarc, "remote_backoff_factor: -2\n").unwrap();
    let err = run_err(krait(home).args(["config", "--show"]));
    assert!(
        err.contains("remote_backoff_factor") && err.contains(&condarc.display().to_string()),
        "{err}"
    );
}

/// Retries are krait's to report: nothing under `--quiet` (nor reqwest-retry's raw `WARN ...
/// Retry attempt` line), one line per retried URL under `-v`, and a request that keeps failing
/// ends in an error naming its URL and the attempts made.
#[test]
fn retries_are_reported_once_per_url_under_verbose_and_not_at_all_under_quiet() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    std::fs::write(home.join(".condarc"), "remote_backoff_factor: 0.05\n").unwrap();
    let stderr = |cmd: &mut Command| {
        let out = run(cmd);
        assert!(out.status.success(), "command failed: {cmd:?}");
        String::from_utf8(out.stderr).unwrap()
    };

    let server = HttpServer::serve_faulty(channel, Fault::Unavailable, 1);
    let quiet = stderr(create_a(home, &server.url, "quiet").arg("--quiet"));
    assert!(!quiet.contains("etry"), "{quiet}");

    let server = HttpServer::serve_faulty(channel, Fault::Unavailable, 1);
    std::fs::remove_dir_all(home.join("pkgs")).unwrap();
    let verbose = stderr(create_a(home, &server.url, "verbose").arg("-v"));
    assert!(!verbose.contains("Retry attempt"), "{verbose}");
    let retried: Vec<&str> = verbose
        .lines()
        .filter_map(|l| l.split_once("retrying ").map(|(_, rest)| rest))
        .collect();
    for archive in ["noarch/b-1.0-h0_0.conda", "linux-64/a-2.0-h0_0.tar.bz2"] {
        let line = format!("{}/{archive}: HTTP 503 Service Unavailable", server.url);
        assert!(retried.contains(&line.as_str()), "{verbose}");
    }
    let mut once = retried.clone();
    once.sort();
    once.dedup();
    assert_eq!(once.len(), retried.len(), "{verbose}");

    let failing = HttpServer::serve_faulty(channel, Fault::Unavailable, usize::MAX);
    std::fs::write(
        home.join(".condarc"),
        "remote_backoff_factor: 0.05\nremote_max_retries: 2\n",
    )
    .unwrap();
    let err = run_err(create_a(home, &failing.url, "never").arg("--quiet"));
    assert!(!err.contains("Retry attempt"), "{err}");
    assert!(
        err.contains(&format!("{}/", failing.url))
            && err.contains(": HTTP 503 Service Unavailable after 3 attempts"),
        "{err}"
    );
}

#[test]
fn https_channels_are_checked_as_ssl_verify_says() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    let server = TlsServer::serve(channel);
    let condarc = home.join(".condarc");
    let configure = |ssl_verify: &str| {
        std::fs::write(
            &condarc,
            format!("remote_backoff_factor: 0.05\nssl_verify: {ssl_verify}\n"),
        )
        .unwrap();
        let _ = std::fs::remove_dir_all(home.join("pkgs"));
    };
    let create = |name: &str| create_a(home, &server.url, name);

    // The system's roots do not include the server's self-signed certificate. A refused
    // certificate is final: not retried after remote_backoff_factor (1 s, doubling).
    std::fs::write(&condarc, "ssl_verify: true\n").unwrap();
    let started = std::time::Instant::now();
    let err = run_err(&mut create("untrusted"));
    assert!(err.contains("certificate"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_millis(900));
    assert!(!home.join("envs/untrusted/conda-meta").exists());

    // A CA bundle holding it is trusted, and only it: another certificate is refused.
    let bundle = home.join("ca.pem");
    std::fs::write(&bundle, &server.certificate_pem).unwrap();
    configure(&bundle.display().to_string());
    run_ok(&mut create("bundle"));
    assert_eq!(names(home, &home.join("envs/bundle")), ["a", "b"]);
    let other = TlsServer::serve(channel);
    std::fs::write(&bundle, &other.certificate_pem).unwrap();
    configure(&bundle.display().to_string());
    let err = run_err(&mut create("other-certificate"));
    assert!(err.contains("certificate"), "{err}");

    // ssl_verify: false checks nothing.
    configure("false");
    run_ok(&mut create("unchecked"));
    assert_eq!(names(home, &home.join("envs/unchecked")), ["a", "b"]);

    // A bundle that cannot be used is an error naming the file and the key.
    let missing = home.join("missing.pem");
    configure(&missing.display().to_string());
    let err = run_err(&mut create("missing-bundle"));
    assert!(
        err.contains(&condarc.display().to_string())
            && err.contains("ssl_verify")
            && err.contains("missing.pem"),
        "{err}"
    );
    std::fs::write(&bundle, "not a certificate\n").unwrap();
    configure(&bundle.display().to_string());
    let err = run_err(&mut create("bad-bundle"));
    assert!(err.contains("holds no PEM certificate"), "{err}");
}

#[test]
fn requests_go_through_the_proxy_proxy_servers_names() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    // A static server answers absolute-form requests by their path, so it stands in for a
    // forward proxy; the channel's own host does not resolve, so only the proxy reaches it.
    let proxy = HttpServer::serve(channel);
    let unreachable = "http://channel.invalid/";
    let condarc = condarc_with_http_proxy(home, &proxy.url);
    run_ok(&mut create_a(home, unreachable, "proxied"));
    assert_eq!(names(home, &home.join("envs/proxied")), ["a", "b"]);

    // A proxy for another host only: the request goes direct, and fails.
    std::fs::write(
        &condarc,
        format!(
            "remote_max_retries: 0\nproxy_servers:\n  http://elsewhere.invalid: {}\n",
            proxy.url
        ),
    )
    .unwrap();
    std::fs::remove_dir_all(home.join("pkgs")).unwrap();
    let err = run_err(&mut create_a(home, unreachable, "direct"));
    assert!(err.contains("channel.invalid"), "{err}");

    std::fs::write(&condarc, "proxy_servers:\n  http: 'not a url'\n").unwrap();
    let err = run_err(&mut create_a(home, unreachable, "bad-proxy"));
    assert!(
        err.contains("proxy_servers") && err.contains(&condarc.display().to_string()),
        "{err}"
    );
}

#[test]
fn condarc_pins_default_packages_and_copies() {
    use std::os::unix::fs::MetadataExt;
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    let channel = channel.to_str().unwrap();
    let create = |name: &str, extra: &[&str]| {
        let mut cmd = krait(home);
        cmd.args([
            "create",
            "-n",
            name,
            "-c",
            channel,
            "--override-channels",
            "-y",
        ])
        .args(extra);
        cmd
    };
    let condarc = home.join(".condarc");
    std::fs::write(
        &condarc,
        "pinned_packages:\n  - a 1.0\ncreate_default_packages:\n  - c\n  - b >=1\nalways_copy: true\n",
    )
    .unwrap();
    run_ok(&mut create("configured", &["a"]));
    let prefix = home.join("envs/configured");
    // a is held at 1.0 although 2.0 is newer, and c is added; b comes in as a's dependency.
    assert_eq!(names(home, &prefix), ["a", "b", "c"]);
    let listed = json(&list(home, &prefix, &["--json"]));
    assert_eq!(listed[0]["version"], "1.0");
    // Copied, not hard-linked from the cache.
    let linked_file = walkdir::WalkDir::new(&prefix)
        .into_iter()
        .map(|e| e.unwrap())
        .find(|e| e.file_type().is_file() && !e.path().starts_with(prefix.join("conda-meta")))
        .unwrap();
    assert_eq!(linked_file.metadata().unwrap().nlink(), 1);

    // The pin holds for install too, and --no-default-packages leaves the defaults out.
    run_ok(&mut create("bare", &["b", "--no-default-packages"]));
    assert_eq!(names(home, &home.join("envs/bare")), ["b"]);
    let err = run_err(
        krait(home)
            .args([
                "install",
                "-n",
                "bare",
                "-c",
                channel,
                "--override-channels",
                "-y",
            ])
            .arg("a=2.0"),
    );
    assert!(
        err.contains("cannot be satisfied") && err.contains("pinned_packages"),
        "{err}"
    );

    std::fs::write(&condarc, "pinned_packages:\n  - 'a >=>1'\n").unwrap();
    let err = run_err(&mut create("bad-pin", &["a"]));
    assert!(
        err.contains("pinned_packages") && err.contains("a >=>1"),
        "{err}"
    );
}

/// Per shell: the hook, `IMGPIPE_DB` set before, then activate, print, deactivate, print.
fn variables_session(shell: &str, hook_file: &Path) -> (String, String) {
    let posix = r#"eval "$("$KRAIT_BIN" shell-hook --shell @SHELL@)"
export IMGPIPE_DB=outer
krait activate vars
echo "$IMGPIPE_DB|${Mixed_Case-unset}|${GONE-unset}"
krait deactivate
echo "$IMGPIPE_DB|${Mixed_Case-unset}|${GONE-unset}"
"#;
    match shell {
        "bash" | "zsh" => (shell.to_string(), posix.replace("@SHELL@", shell)),
        "fish" => (
            "fish".to_string(),
            r#"$KRAIT_BIN shell-hook --shell fish | source
function val; if set -q $argv[1]; echo -n $$argv[1]; else; echo -n unset; end; end
set -gx IMGPIPE_DB outer
krait activate vars
echo (val IMGPIPE_DB)"|"(val Mixed_Case)"|"(val GONE)
krait deactivate
echo (val IMGPIPE_DB)"|"(val Mixed_Case)"|"(val GONE)
"#
            .to_string(),
        ),
        "xonsh" => (
            xonsh(),
            r#"execx($(@($KRAIT_BIN) shell-hook --shell xonsh))
def show():
    print('|'.join(${...}.get(n, 'unset') for n in ['IMGPIPE_DB', 'Mixed_Case', 'GONE']))
$IMGPIPE_DB = 'outer'
krait activate vars
show()
krait deactivate
show()
"#
            .to_string(),
        ),
        _ => (
            std::env::var("KRAIT_TEST_NU").expect("KRAIT_TEST_NU is not set"),
            format!(
                r#"source {}
def val [name: string] {{ if ($name in $env) {{ $env | get $name }} else {{ "unset" }} }}
$env.IMGPIPE_DB = "outer"
krait activate vars
print $"(val IMGPIPE_DB)|(val Mixed_Case)|(val GONE)"
krait deactivate
print $"(val IMGPIPE_DB)|(val Mixed_Case)|(val GONE)"
"#,
                hook_file.display()
            ),
        ),
    }
}

#[test]
fn environment_variables_from_the_file_and_env_config_vars_apply_on_activation_and_run() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    let file = home.join("environment.yml");
    std::fs::write(
        &file,
        format!(
            "name: vars\nchannels:\n  - {}\ndependencies:\n  - c\nvariables:\n  \
             IMGPIPE_DB: /data/imgpipe.db\n  Mixed_Case: kept as written\n  GONE: soon\n",
            channel.display()
        ),
    )
    .unwrap();
    run_ok(
        krait(home)
            .args(["env", "create", "--override-channels", "-f"])
            .arg(&file),
    );
    let prefix = home.join("envs/vars");
    // conda-meta/state as conda's `json.dumps` writes it.
    assert_eq!(
        std::fs::read_to_string(prefix.join("conda-meta/state")).unwrap(),
        r#"{"env_vars": {"IMGPIPE_DB": "/data/imgpipe.db", "Mixed_Case": "kept as written", "GONE": "soon"}}"#
    );
    let show = r#"echo "$IMGPIPE_DB|${Mixed_Case-unset}|${GONE-unset}|$KRAIT_C_VAR""#;
    let out = run_ok(krait(home).args(["run", "-n", "vars", "sh", "-c", show]));
    assert_eq!(out, "/data/imgpipe.db|kept as written|soon|from-c\n");

    // `env config vars`: set (a package's variable can be overridden), unset, list.
    let out = run_ok(krait(home).args([
        "env",
        "config",
        "vars",
        "set",
        "-n",
        "vars",
        "KRAIT_C_VAR=mine",
        "EQ=a=b",
    ]));
    assert_eq!(out, "");
    run_ok(krait(home).args(["env", "config", "vars", "unset", "-n", "vars", "GONE"]));
    let listed = run_ok(krait(home).args(["env", "config", "vars", "list", "-n", "vars"]));
    assert_eq!(
        listed,
        "IMGPIPE_DB = /data/imgpipe.db\nMixed_Case = kept as written\nKRAIT_C_VAR = mine\nEQ = a=b\n"
    );
    let listed = json(&run_ok(
        krait(home)
            .args(["env", "config", "vars", "list", "--json"])
            .env("CONDA_PREFIX", &prefix),
    ));
    assert_eq!(listed["EQ"], "a=b");
    assert!(listed.get("GONE").is_none());
    let out = run_ok(krait(home).args(["run", "-n", "vars", "sh", "-c", show]));
    assert_eq!(out, "/data/imgpipe.db|kept as written|unset|mine\n");
    let out = run_ok(
        krait(home)
            .args(["env", "config", "vars", "set", "A=1"])
            .env("CONDA_PREFIX", &prefix),
    );
    assert!(out.contains("reactivate"), "{out}");
    run_ok(krait(home).args(["env", "config", "vars", "unset", "-n", "vars", "A"]));
    let err = run_err(krait(home).args(["env", "config", "vars", "set", "-n", "vars", "NOVALUE"]));
    assert!(err.contains("NAME=VALUE"), "{err}");

    // `env export` writes them back under `variables:`, before `prefix:`, as conda does.
    let exported = run_ok(krait(home).args(["env", "export", "-n", "vars"]));
    assert!(
        exported.contains(&format!(
            "variables:\n  IMGPIPE_DB: /data/imgpipe.db\n  Mixed_Case: kept as written\n  \
             KRAIT_C_VAR: mine\n  EQ: a=b\nprefix: {}\n",
            prefix.display()
        )),
        "{exported}"
    );

    // Activation sets them (over an outer value) in every shell; deactivation puts it back.
    let hook = home.join("hook.nu");
    std::fs::write(
        &hook,
        run_ok(krait(home).args(["shell-hook", "--shell", "nu"])),
    )
    .unwrap();
    for shell in ["bash", "zsh", "fish", "xonsh", "nu"] {
        let (program, script) = variables_session(shell, &hook);
        assert_eq!(
            shell_session(home, &program, &script),
            "/data/imgpipe.db|kept as written|unset\nouter|unset|unset\n",
            "in {shell}"
        );
    }
    let activate = |shell: &str| {
        run_ok(
            krait(home)
                .args(["activate", "vars", "--shell", shell])
                .env_remove("CONDA_PREFIX"),
        )
    };
    let pwsh = activate("powershell");
    assert!(
        pwsh.contains("${Env:Mixed_Case} = \"kept as written\""),
        "{pwsh}"
    );
    assert!(!pwsh.contains("GONE"), "{pwsh}");
    let cmd = activate("cmd");
    assert!(
        cmd.contains("@SET \"IMGPIPE_DB=/data/imgpipe.db\""),
        "{cmd}"
    );
}

/// Writes a pure-Python wheel of `name` (module `module`) requiring `requires`.
fn write_wheel(dir: &Path, name: &str, module: &str, version: &str, requires: &[&str]) {
    use std::io::Write;
    let dist = name.replace('-', "_");
    let info = format!("{dist}-{version}.dist-info");
    let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for requirement in requires {
        metadata.push_str(&format!("Requires-Dist: {requirement}\n"));
    }
    let files = [
        (
            format!("{module}/__init__.py"),
            format!("NAME = '{name} {version}'\n"),
        ),
        (format!("{info}/METADATA"), metadata),
        (
            format!("{info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: krait-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_string(),
        ),
    ];
    let path = dir.join(format!("{dist}-{version}-py3-none-any.whl"));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    let mut record = String::new();
    for (name, text) in &files {
        zip.start_file(name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
        record.push_str(&format!("{name},,\n"));
    }
    zip.start_file(format!("{info}/RECORD"), options).unwrap();
    zip.write_all(format!("{record}{info}/RECORD,,\n").as_bytes())
        .unwrap();
    zip.finish().unwrap();
}

/// A PEP 503 simple index of the wheels in `files` under `root/<index>/<name>/index.html`.
fn write_simple_index(root: &Path, index: &str, wheels: &[PathBuf]) {
    for wheel in wheels {
        let file = wheel.file_name().unwrap().to_string_lossy().to_string();
        let project = file
            .split('-')
            .next()
            .unwrap()
            .replace('_', "-")
            .to_lowercase();
        let dir = root.join(index).join(&project);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(wheel, root.join("files").join(&file)).unwrap();
        std::fs::write(
            dir.join("index.html"),
            format!("<!DOCTYPE html>\n<html><body><a href=\"../../files/{file}\">{file}</a></body></html>\n"),
        )
        .unwrap();
    }
}

#[test]
fn pip_section_installs_from_a_local_index_and_env_export_lists_it() {
    let python = common::python::python_channel();
    let pip = common::python::pip_channel();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    // The index: `krait-demo` and flit_core (the local project's build backend) on the main
    // index, `krait-extra` (which needs krait-demo) only on the extra one.
    let site = home.join("site");
    let built = home.join("built");
    std::fs::create_dir_all(site.join("files")).unwrap();
    std::fs::create_dir_all(&built).unwrap();
    write_wheel(&built, "krait-demo", "krait_demo", "1.0", &[]);
    write_wheel(
        &built,
        "krait-extra",
        "krait_extra",
        "0.3",
        &["krait-demo>=1"],
    );
    write_simple_index(
        &site,
        "simple",
        &[
            built.join("krait_demo-1.0-py3-none-any.whl"),
            common::python::test_wheel("flit_core"),
        ],
    );
    write_simple_index(
        &site,
        "extra",
        &[built.join("krait_extra-0.3-py3-none-any.whl")],
    );
    let server = HttpServer::serve(&site);

    // An editable local project, and a requirements file the section includes with -r.
    let project = home.join("project");
    std::fs::create_dir_all(project.join("localpkg")).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[build-system]\nrequires = [\"flit_core>=3.2\"]\nbuild-backend = \"flit_core.buildapi\"\n\n\
         [project]\nname = \"localpkg\"\nversion = \"0.1\"\ndescription = \"a local project\"\n",
    )
    .unwrap();
    std::fs::write(
        project.join("localpkg/__init__.py"),
        "NAME = 'localpkg editable'\n",
    )
    .unwrap();
    std::fs::write(home.join("more-requirements.txt"), "krait-extra==0.3\n").unwrap();

    // Every section conda documents: name, channels, dependencies with pip (and no `pip`
    // package: krait adds it, with conda's warning), variables, prefix.
    let prefix = home.join("envs/piptest");
    let file = home.join("environment.yml");
    let env_yml = |name: &str, requirements: &str| {
        format!(
            "name: {name}\nchannels:\n  - {}\n  - {}\ndependencies:\n  - python\n  - pip:\n    \
             - --index-url {url}/simple\n    - --extra-index-url {url}/extra\n{requirements}\
             variables:\n  IMGPIPE_DB: /data/imgpipe.db\nprefix: {}\n",
            python.display(),
            pip.display(),
            home.join("envs").join(name).display(),
            url = server.url,
        )
    };
    std::fs::write(
        &file,
        env_yml(
            "piptest",
            "    - krait-demo==1.0\n    - -r more-requirements.txt\n    - -e ./project\n",
        ),
    )
    .unwrap();
    let pip_env = |cmd: &mut Command| {
        cmd.env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_NO_INPUT", "1")
            .env_remove("PIP_INDEX_URL")
            .env_remove("PIP_EXTRA_INDEX_URL");
    };
    let mut create = krait(home);
    create
        .args(["env", "create", "--override-channels", "-f"])
        .arg(&file)
        .current_dir("/");
    pip_env(&mut create);
    let out = run(&mut create);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("I'm adding one for you"), "{stderr}");
    assert!(prefix.join("conda-meta").is_dir());
    let check = "import krait_demo, krait_extra, localpkg, os; \
                 print(krait_demo.NAME, krait_extra.NAME, localpkg.NAME, os.environ['IMGPIPE_DB'], sep='|')";
    let out = run_ok(krait(home).args(["run", "-n", "piptest", "python", "-c", check]));
    assert_eq!(
        out,
        "krait-demo 1.0|krait-extra 0.3|localpkg editable|/data/imgpipe.db\n"
    );
    // Editable: a change to the project shows without reinstalling.
    std::fs::write(project.join("localpkg/__init__.py"), "NAME = 'edited'\n").unwrap();
    let out = run_ok(krait(home).args([
        "run",
        "-n",
        "piptest",
        "python",
        "-c",
        "import localpkg; print(localpkg.NAME)",
    ]));
    assert_eq!(out, "edited\n");

    // `env export` lists what pip installed (not pip itself, a conda package) under `pip:`.
    let exported = run_ok(krait(home).args(["env", "export", "-n", "piptest"]));
    let yaml: serde_yaml::Value = serde_yaml::from_str(&exported).unwrap();
    let deps = yaml["dependencies"].as_sequence().unwrap();
    assert!(deps
        .iter()
        .any(|d| d.as_str().is_some_and(|d| d.starts_with("pip=24.0="))));
    assert_eq!(
        deps.last().unwrap()["pip"],
        serde_yaml::from_str::<serde_yaml::Value>(
            "[krait-demo==1.0, krait-extra==0.3, localpkg==0.1]"
        )
        .unwrap(),
        "{exported}"
    );
    assert_eq!(yaml["variables"]["IMGPIPE_DB"], "/data/imgpipe.db");
    let history = run_ok(krait(home).args(["env", "export", "-n", "piptest", "--from-history"]));
    assert!(!history.contains("krait-demo"), "{history}");

    // pip failing fails the create with pip's message; the conda part stays, as in conda.
    std::fs::write(&file, env_yml("broken", "    - no-such-dist==9\n")).unwrap();
    let mut create = krait(home);
    create
        .args(["env", "create", "--override-channels", "-f"])
        .arg(&file);
    pip_env(&mut create);
    let out = run(&mut create);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("pip failed"), "{stderr}");
    assert!(stderr.contains("no-such-dist==9"), "{stderr}");
    assert!(home.join("envs/broken/bin/python").exists());
    assert!(!home.join("envs/broken/conda-meta/state").exists());
}

#[cfg(unix)]
#[test]
fn create_clone_links_from_the_cache_and_rename_moves_an_environment() {
    use std::os::unix::fs::MetadataExt;
    let setup = Setup::new(|dir| {
        let channel = channel(dir);
        Package::new("e", "1.0", "h0_0", SUBDIR)
            .file(
                "etc/e.conf",
                format!("prefix={}\n", common::fixtures::PLACEHOLDER),
            )
            .with_placeholder("etc/e.conf", "text")
            .write(&channel, Format::Conda);
        run_ok(krait(dir).arg("index").arg(&channel));
        channel
    });
    let (home, channel) = (setup.home(), setup.channel());
    create(home, channel, &["-n", "orig"], &["a=1.0", "c"]);
    install(home, channel, &home.join("envs/orig"), &["e"]);
    let orig = home.join("envs/orig");
    // Files no package owns: a text file naming the prefix, a symbolic link to it, and
    // compiled Python next to a package's file (left for the clone to make its own).
    std::fs::write(
        orig.join("share/notes.txt"),
        format!("data in {}\n", orig.display()),
    )
    .unwrap();
    std::os::unix::fs::symlink("notes.txt", orig.join("share/notes-link")).unwrap();

    let out = run_ok(krait(home).args(["create", "--clone", "orig", "-n", "copy", "--offline"]));
    let copy = home.join("envs/copy");
    assert!(
        out.contains(&format!(
            "Source:      {}\nDestination: {}\nPackages: 4\nFiles: 2\n",
            orig.display(),
            copy.display()
        )),
        "{out}"
    );
    assert_eq!(names(home, &copy), ["a", "b", "c", "e"]);
    // Linked from the package cache (the same inode as the source's), prefixes rewritten.
    let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
    assert_eq!(
        inode(&orig.join("share/a/README")),
        inode(&copy.join("share/a/README"))
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("etc/e.conf")).unwrap(),
        format!("prefix={}\n", copy.display())
    );
    assert_eq!(
        std::fs::read_to_string(copy.join("share/notes.txt")).unwrap(),
        format!("data in {}\n", copy.display())
    );
    assert_eq!(
        std::fs::read_link(copy.join("share/notes-link")).unwrap(),
        Path::new("notes.txt")
    );
    // History: the command, the linked packages and the source's requested specs.
    let history = std::fs::read_to_string(copy.join("conda-meta/history")).unwrap();
    assert!(history.contains("create --clone orig -n copy"), "{history}");
    assert!(history.contains("::a-1.0-h0_0\n"), "{history}");
    assert!(
        history.contains("# update specs: ['a=1.0', 'c', 'e']"),
        "{history}"
    );
    let from_history = |name: &str| {
        let text = run_ok(krait(home).args(["env", "export", "--from-history", "-n", name]));
        text[text.find("dependencies:").unwrap()..text.find("prefix:").unwrap()].to_string()
    };
    assert_eq!(from_history("copy"), from_history("orig"));
    let out = run_ok(krait(home).args(["run", "-n", "copy", "sh", "-c", "echo $KRAIT_C_VAR"]));
    assert_eq!(out, "from-c\n");
    let err = run_err(krait(home).args(["create", "--clone", "missing", "-n", "x"]));
    assert!(err.contains("\"missing\" does not exist"), "{err}");
    let err = run_err(krait(home).args(["create", "--clone", "orig", "-n", "copy"]));
    assert!(err.contains("already exists"), "{err}");

    // rename: the environment moves (relinked for its new prefix); environments.txt follows.
    let out = run_ok(krait(home).args(["rename", "-n", "copy", "renamed"]));
    assert!(out.contains("Packages: 4"), "{out}");
    let renamed = home.join("envs/renamed");
    assert!(!copy.exists());
    assert_eq!(names(home, &renamed), ["a", "b", "c", "e"]);
    assert_eq!(
        std::fs::read_to_string(renamed.join("etc/e.conf")).unwrap(),
        format!("prefix={}\n", renamed.display())
    );
    assert_eq!(
        std::fs::read_to_string(renamed.join("share/notes.txt")).unwrap(),
        format!("data in {}\n", renamed.display())
    );
    let registry = std::fs::read_to_string(home.join(".conda/environments.txt")).unwrap();
    assert!(
        registry.contains(&format!("{}\n", renamed.display())),
        "{registry}"
    );
    assert!(
        !registry.contains(&format!("{}\n", copy.display())),
        "{registry}"
    );
    // To a path, and refusals: the active environment, a base, an existing name.
    let elsewhere = home.join("elsewhere");
    run_ok(
        krait(home)
            .args(["rename", "-n", "renamed"])
            .arg(&elsewhere),
    );
    assert_eq!(names(home, &elsewhere), ["a", "b", "c", "e"]);
    let err = run_err(
        krait(home)
            .arg("rename")
            .arg("-p")
            .arg(&elsewhere)
            .arg("again")
            .env("CONDA_PREFIX", &elsewhere),
    );
    assert!(err.contains("active environment"), "{err}");
    create(home, channel, &["-n", "base"], &["d"]);
    let err = run_err(krait(home).args(["rename", "-n", "base", "other"]));
    assert!(err.contains("base environment"), "{err}");
    let err = run_err(
        krait(home)
            .arg("rename")
            .arg("-p")
            .arg(&elsewhere)
            .arg("orig"),
    );
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(names(home, &elsewhere), ["a", "b", "c", "e"]);
    run_ok(
        krait(home)
            .arg("rename")
            .arg("-p")
            .arg(&elsewhere)
            .args(["orig", "--force"]),
    );
    assert!(!elsewhere.exists());
    assert_eq!(names(home, &orig), ["a", "b", "c", "e"]);
}

#[test]
fn explicit_lists_over_http_mask_tokens_and_install_with_the_configured_one() {
    let setup = Setup::new(channel);
    let (home, channel) = (setup.home(), setup.channel());
    let read = common::serve::token_file(home, "read.token", "reader-secret");
    let server = common::serve::Server::start(
        home,
        channel,
        &["--read-token-file", read.to_str().unwrap()],
    );
    let with_token = format!("{}/t/reader-secret", server.url);
    let source = home.join("source");
    create(
        home,
        Path::new(&with_token),
        &["-p", source.to_str().unwrap()],
        &["a=1.0"],
    );
    // conda-meta, `list --explicit` and `env export` show `/t/<TOKEN>/`, never the token.
    let record = std::fs::read_to_string(source.join("conda-meta/a-1.0-h0_0.json")).unwrap();
    assert!(!record.contains("reader-secret"), "{record}");
    assert!(
        record.contains(&format!(
            "\"url\": \"{}/t/<TOKEN>/linux-64/a-1.0-h0_0.conda\"",
            server.url
        )),
        "{record}"
    );
    let explicit = list(home, &source, &["--explicit", "--sha256"]);
    assert!(!explicit.contains("reader-secret"), "{explicit}");
    assert!(explicit.contains(&format!(
        "{}/t/<TOKEN>/noarch/b-1.0-h0_0.conda#sha256:",
        server.url
    )));
    let exported = run_ok(krait(home).arg("env").arg("export").arg("-p").arg(&source));
    assert!(
        !exported.contains("reader-secret") && exported.contains("/t/<TOKEN>"),
        "{exported}"
    );

    // Read back: installed without solving (no channel configured), the token re-applied
    // from .condarc channel_tokens; without it the server refuses, and nothing is left.
    let file = home.join("explicit.txt");
    std::fs::write(&file, &explicit).unwrap();
    let target = home.join("target");
    let create_from = |file: &Path| {
        let mut cmd = krait(home);
        cmd.arg("create")
            .arg("-p")
            .arg(&target)
            .arg("--file")
            .arg(file)
            .arg("-y");
        cmd
    };
    let err = run_err(&mut create_from(&file));
    assert!(
        err.contains("cannot download") && err.contains("401"),
        "{err}"
    );
    assert!(!err.contains("reader-secret"), "{err}");
    assert!(!target.exists());
    std::fs::write(
        home.join(".condarc"),
        format!("channel_tokens:\n  {}: reader-secret\n", server.url),
    )
    .unwrap();
    run_ok(&mut create_from(&file));
    assert_eq!(names(home, &target), ["a", "b"]);
    // The md5 fragment is checked too; a wrong hash is refused before anything is linked.
    let md5 = list(home, &source, &["--explicit", "--md5"]);
    let wrong = home.join("wrong.txt");
    let digest = md5
        .lines()
        .last()
        .unwrap()
        .rsplit_once('#')
        .unwrap()
        .1
        .to_string();
    std::fs::write(&wrong, md5.replace(&digest, &"0".repeat(32))).unwrap();
    std::fs::remove_dir_all(&target).unwrap();
    let err = run_err(&mut create_from(&wrong));
    assert!(err.contains("md5") && err.contains(&digest), "{err}");
    assert!(!target.exists());
    let md5_file = home.join("md5.txt");
    std::fs::write(&md5_file, &md5).unwrap();
    run_ok(&mut create_from(&md5_file));
    assert_eq!(names(home, &target), ["a", "b"]);
}

/// A chain `a -> b -> c` plus `d -> b, c`, where b's range leaves out the newest c; `e`
/// (never installed) needs `a` and a virtual package no channel has.
fn dependency_chain_channel(dir: &Path) -> PathBuf {
    let channel = dir.join("channel");
    Package::new("a", "1.0", "h0_0", SUBDIR)
        .depends(&["b"])
        .write(&channel, Format::Conda);
    Package::new("b", "1.0", "h0_0", "noarch")
        .depends(&["c >=1,<2"])
        .write(&channel, Format::Conda);
    Package::new("c", "1.0", "h0_0", "noarch").write(&channel, Format::Conda);
    Package::new("c", "2.0", "h0_0", "noarch").write(&channel, Format::Conda);
    Package::new("d", "1.0", "h0_0", "noarch")
        .depends(&["b", "c"])
        .write(&channel, Format::Conda);
    Package::new("e", "1.0", "h0_0", "noarch")
        .depends(&["a", "__glibc >=2.17"])
        .write(&channel, Format::Conda);
    run_ok(krait(dir).arg("index").arg(&channel));
    channel
}

/// The package names of a repoquery table, in order.
fn table_names(table: &str) -> Vec<String> {
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with(" Name "), "{table}");
    assert!(lines.next().unwrap().starts_with('─'), "{table}");
    lines
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// The package names of a repoquery `--json` answer, in order.
fn pkg_names(value: &Value) -> Vec<&str> {
    let pkgs = value["result"]["pkgs"].as_array().unwrap();
    pkgs.iter().map(|p| p["name"].as_str().unwrap()).collect()
}

#[test]
fn repoquery_depends_and_whoneeds_over_an_environment_and_a_channel() {
    let setup = Setup::new(dependency_chain_channel);
    let (home, channel) = (setup.home(), setup.channel());
    let prefix = home.join("env");
    let env = ["-p", prefix.to_str().unwrap()];
    create(home, channel, &env, &["a", "d"]);
    let repoquery = |args: &[&str]| run_ok(krait(home).arg("repoquery").args(args));
    let on_channel = |args: &[&str]| {
        let mut cmd = krait(home);
        cmd.arg("repoquery")
            .args(args)
            .arg("-c")
            .arg(channel)
            .arg("--override-channels");
        run_ok(&mut cmd)
    };

    // depends: the package and its direct dependencies; --recursive the whole closure.
    let direct = repoquery(&[&["depends", "a"], &env[..]].concat());
    assert_eq!(table_names(&direct), ["a", "b"]);
    let row = direct.lines().nth(3).unwrap();
    assert!(row.contains("1.0") && row.contains("h0_0"), "{direct}");
    assert!(row.contains(&channel_url(channel)), "{direct}");
    let closure = repoquery(&[&["depends", "a", "--recursive"], &env[..]].concat());
    assert_eq!(table_names(&closure), ["a", "b", "c"]);
    let tree = repoquery(&[&["depends", "a", "--tree"], &env[..]].concat());
    assert_eq!(tree, "a[1.0]\n  └─ b[1.0]\n     └─ c[1.0]\n");
    let tree = repoquery(&[&["depends", "d", "--tree"], &env[..]].concat());
    assert_eq!(
        tree,
        "d[1.0]\n  ├─ b[1.0]\n  │  └─ c[1.0]\n  └─ c already visited\n"
    );

    // whoneeds: what depends on the package, directly or (--tree) all the way up.
    let needs_b = repoquery(&[&["whoneeds", "b"], &env[..]].concat());
    assert_eq!(table_names(&needs_b), ["a", "d"]);
    assert!(
        needs_b.lines().next().unwrap().contains("Depends"),
        "{needs_b}"
    );
    let needs_c = repoquery(&[&["whoneeds", "c"], &env[..]].concat());
    assert_eq!(table_names(&needs_c), ["b", "d"]);
    assert!(needs_c.contains("c >=1,<2"), "{needs_c}");
    let tree = repoquery(&[&["whoneeds", "c", "--tree"], &env[..]].concat());
    assert_eq!(
        tree,
        "c[1.0]\n  ├─ b[1.0]\n  │  ├─ a[1.0]\n  │  └─ d[1.0]\n  └─ d already visited\n"
    );

    // --json in mamba's shape.
    let value = json(&repoquery(
        &[&["depends", "a", "--recursive", "--json"], &env[..]].concat(),
    ));
    assert_eq!(
        value["query"],
        serde_json::json!({"query": "a", "type": "depends"})
    );
    assert_eq!(pkg_names(&value), ["a", "b", "c"]);
    assert_eq!(value["result"]["graph_roots"][0]["name"], "a");
    assert_eq!(value["result"]["pkgs"][2]["version"], "1.0");

    // Over the channel each dependency takes the newest version it allows: c 1.0 for b's
    // range, c 2.0 for d's bare `c`; an unsatisfiable one shows as not found.
    let tree = on_channel(&["depends", "d", "--tree"]);
    assert_eq!(tree, "d[1.0]\n  ├─ b[1.0]\n  │  └─ c[1.0]\n  └─ c[2.0]\n");
    assert_eq!(table_names(&on_channel(&["depends", "b"])), ["b", "c"]);
    let tree = on_channel(&["depends", "e", "--tree"]);
    assert_eq!(
        tree,
        "e[1.0]\n  ├─ a[1.0]\n  │  └─ b[1.0]\n  │     └─ c[1.0]\n  └─ __glibc >=2.17 >>> NOT FOUND <<<\n"
    );
    let tree = on_channel(&["whoneeds", "b", "--tree"]);
    assert_eq!(tree, "b[1.0]\n  ├─ a[1.0]\n  │  └─ e[1.0]\n  └─ d[1.0]\n");
    let value = json(&on_channel(&["whoneeds", "b", "--json"]));
    assert_eq!(value["query"]["type"], "whoneeds");
    assert_eq!(pkg_names(&value), ["a", "d"]);
    assert_eq!(value["result"]["pkgs"][0]["subdir"], SUBDIR);

    // A spec that matches nothing is an error naming the spec and where it looked.
    let err = run_err(
        krait(home)
            .args(["repoquery", "depends", "nosuch"])
            .args(env),
    );
    assert!(err.contains("no package matches \"nosuch\""), "{err}");
    assert!(err.contains(&prefix.display().to_string()), "{err}");
    let err = run_err(
        krait(home)
            .args(["repoquery", "whoneeds", "c>=3", "-c"])
            .arg(channel)
            .arg("--override-channels"),
    );
    assert!(err.contains("no package matches \"c>=3\""), "{err}");
    assert!(err.contains(&channel_url(channel)), "{err}");
}
