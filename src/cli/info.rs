//! `krait info [--json]`: platform, virtual packages, channels, caches and configuration files.

use crate::channel::resolve::{host_subdir, ChannelResolver, ChannelSelection};
use crate::cli::GlobalArgs;
use crate::config::{search_path, Config};
use crate::env::solve;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print conda-style JSON.
    #[arg(long)]
    json: bool,
    /// Only list the environments, as `krait env list` does.
    #[arg(short, long)]
    envs: bool,
}

/// What `info` reports, with conda's `info --json` key names.
#[derive(Debug, serde::Serialize)]
struct Info {
    active_prefix: Option<PathBuf>,
    channels: Vec<String>,
    config_files: Vec<PathBuf>,
    /// Every file krait would read configuration from, whether or not it exists.
    rc_path: Vec<PathBuf>,
    envs: Vec<PathBuf>,
    envs_dirs: Vec<PathBuf>,
    krait_version: &'static str,
    pkgs_dirs: Vec<PathBuf>,
    platform: String,
    /// `[name, version, build]` of each detected virtual package.
    virtual_pkgs: Vec<[String; 3]>,
}

impl Info {
    fn gather(config: &Config) -> miette::Result<Info> {
        let subdir = host_subdir();
        let channels = ChannelResolver::new(config)
            .channels_for(&ChannelSelection::default())?
            .iter()
            .flat_map(|c| {
                [
                    c.platform_url(subdir),
                    c.platform_url(rattler_conda_types::Subdir::NoArch),
                ]
            })
            .map(|url| url.as_str().trim_end_matches('/').to_string())
            .collect();
        let virtual_pkgs = solve::virtual_packages(subdir)?
            .into_iter()
            .map(|p| {
                [
                    p.name.as_normalized().to_string(),
                    p.version.to_string(),
                    p.build_string.to_string(),
                ]
            })
            .collect();
        Ok(Info {
            active_prefix: std::env::var_os("CONDA_PREFIX").map(PathBuf::from),
            channels,
            config_files: config.files.clone(),
            rc_path: search_path(),
            envs: crate::env::prefix::known(config),
            envs_dirs: config.envs_dirs.clone(),
            krait_version: env!("CARGO_PKG_VERSION"),
            pkgs_dirs: config.pkgs_dirs.clone(),
            platform: subdir.to_string(),
            virtual_pkgs,
        })
    }

    /// conda's `info` text: right-aligned labels, continuation lines under the first value.
    fn text(&self) -> String {
        fn row(label: &str, values: &[String]) -> String {
            let mut out = format!("{label:>23} : {}\n", values.first().map_or("", |v| v));
            for value in values.iter().skip(1) {
                out.push_str(&format!("{:>26}{value}\n", ""));
            }
            out
        }
        let paths = |p: &[PathBuf]| {
            p.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        let active = match &self.active_prefix {
            Some(p) => p.display().to_string(),
            None => "None".into(),
        };
        let mut out = String::from("\n");
        out += &row("active environment", &[active]);
        out += &row("populated config files", &paths(&self.config_files));
        out += &row("krait version", &[self.krait_version.to_string()]);
        let virtual_pkgs: Vec<String> = self.virtual_pkgs.iter().map(|p| p.join("=")).collect();
        out += &row("virtual packages", &virtual_pkgs);
        out += &row("platform", std::slice::from_ref(&self.platform));
        out += &row("channel URLs", &self.channels);
        out += &row("package cache", &paths(&self.pkgs_dirs));
        out += &row("envs directories", &paths(&self.envs_dirs));
        out
    }
}

pub fn run(args: Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let config = Config::load()?;
    if args.envs && !args.json {
        let envs = crate::env::prefix::known(&config);
        print!("{}", crate::env::report::environments_table(&config, &envs));
        return Ok(ExitCode::SUCCESS);
    }
    let info = Info::gather(&config)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info).expect("json"));
    } else {
        println!("{}", info.text());
    }
    Ok(ExitCode::SUCCESS)
}
