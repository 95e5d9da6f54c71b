//! `krait skeleton pypi`: conda recipes (`meta.yaml`) from Python packages on a package index
//! or from sdist files, like `conda skeleton pypi` and grayskull.
//!
//! The index is the one pip uses (`--index-url`, else `PIP_INDEX_URL`, else pip's
//! configuration files); krait knows no index host of its own. Its PEP 691 JSON listing gives
//! the sdist and its sha256; the sdist itself gives metadata and requirements (see [`sdist`]).

pub mod requirements;
pub mod sdist;

use requirements::{convert, python_min, CondaRequirement};
use sdist::{Analysis, Sdist};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use url::Url;

/// Errors of `krait skeleton pypi`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SkeletonError {
    #[error("no package index configured")]
    #[diagnostic(help(
        "pass --index-url, set PIP_INDEX_URL, or set index-url in pip's configuration (pip config set global.index-url URL)"
    ))]
    NoIndex,
    #[error("invalid index URL {0:?}")]
    BadIndexUrl(String),
    #[error("cannot fetch {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{name}: {message}")]
    #[diagnostic(help("check the name and version on the index, or pass an sdist with --sdist"))]
    NotFound { name: String, message: String },
    #[error("{path}: {message}")]
    Sdist { path: PathBuf, message: String },
    #[error("{path}: sha256 {actual} does not match the index's {expected}")]
    HashMismatch {
        path: PathBuf,
        actual: String,
        expected: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the sdist of a recipe comes from.
#[derive(Debug, Clone)]
pub struct Source {
    pub url: String,
    pub sha256: String,
}

/// The index URL pip would use: `PIP_INDEX_URL`, else `index-url` from pip's configuration
/// files (`/etc/pip.conf`, `~/.config/pip/pip.conf`, `~/.pip/pip.conf`, `PIP_CONFIG_FILE`;
/// later files win, `[install]` over `[global]`).
pub fn pip_index_url() -> Option<String> {
    if let Some(url) = std::env::var("PIP_INDEX_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Some(url);
    }
    let home = dirs::home_dir().unwrap_or_default();
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    let mut files = vec![
        PathBuf::from("/etc/pip.conf"),
        home.join(".pip/pip.conf"),
        xdg.join("pip/pip.conf"),
    ];
    if let Some(file) = std::env::var_os("PIP_CONFIG_FILE") {
        files.push(PathBuf::from(file));
    }
    let mut found = None;
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let ini = sdist::parse_ini(&text);
        for section in ["global", "install"] {
            if let Some(url) = ini.get(&(section.to_string(), "index-url".to_string())) {
                found = Some(url.clone());
            }
        }
    }
    found
}

/// One file of a PEP 691 project listing.
#[derive(Debug, serde::Deserialize)]
struct IndexFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    yanked: serde_json::Value,
}

#[derive(Debug, serde::Deserialize)]
struct ProjectPage {
    files: Vec<IndexFile>,
}

/// Normalised project name (PEP 503).
fn normalise(name: &str) -> String {
    regex::Regex::new(r"[-_.]+")
        .expect("static regex")
        .replace_all(&name.to_ascii_lowercase(), "-")
        .into_owned()
}

/// The conda name of a Python project, which becomes the recipe's folder: the name (from an
/// sdist's `PKG-INFO`, untrusted) must be a PEP 508 project name and its conda form a conda
/// package name, so that it is one plain path component (no `/`, `..` or absolute path).
fn recipe_folder_name(project: &str) -> Result<String, String> {
    project
        .parse::<pep508_rs::PackageName>()
        .map_err(|e| format!("the project name {project:?} is not a PEP 508 name: {e}"))?;
    let conda = requirements::conda_name(&normalise(project));
    rattler_conda_types::PackageName::try_from(conda.as_str())
        .map_err(|e| format!("the project name {project:?} is not a conda package name: {e}"))?;
    Ok(conda)
}

/// Picks the sdist of `version` (or the newest final release) from an index, downloads it into
/// `download_dir` and checks its sha256; also downloads the version's pure wheel
/// (`*-none-any.whl`), if there is one, for its metadata.
pub async fn fetch_sdist(
    client: &reqwest::Client,
    index_url: &str,
    name: &str,
    version: Option<&str>,
    download_dir: &Path,
) -> Result<Fetched, SkeletonError> {
    let base = Url::parse(&format!("{}/", index_url.trim_end_matches('/')))
        .map_err(|_| SkeletonError::BadIndexUrl(index_url.to_string()))?;
    recipe_folder_name(name).map_err(|message| SkeletonError::NotFound {
        name: name.to_string(),
        message,
    })?;
    let project = normalise(name);
    let page_url = base
        .join(&format!("{project}/"))
        .map_err(|_| SkeletonError::BadIndexUrl(index_url.to_string()))?;
    let fetch_error = |url: &Url, e: &dyn std::error::Error| SkeletonError::Fetch {
        url: url.to_string(),
        message: crate::net::error_chain(e),
    };
    let response = client
        .get(page_url.clone())
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .map_err(|e| fetch_error(&page_url, &e))?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Err(SkeletonError::NotFound {
            name: name.to_string(),
            message: format!("not on the index {index_url}"),
        });
    }
    let page: ProjectPage = response
        .error_for_status()
        .map_err(|e| fetch_error(&page_url, &e))?
        .json()
        .await
        .map_err(|e| fetch_error(&page_url, &e))?;
    let sdist_version = |file: &IndexFile| -> Option<pep508_rs::pep440_rs::Version> {
        let stem = file.filename.strip_suffix(".tar.gz")?;
        let (file_project, v) = stem.rsplit_once('-')?;
        (normalise(file_project) == project).then(|| v.parse().ok())?
    };
    let is_yanked = |file: &IndexFile| match &file.yanked {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::String(_) => true,
        _ => false,
    };
    let wanted: Option<pep508_rs::pep440_rs::Version> = match version {
        Some(v) => Some(v.parse().map_err(|_| SkeletonError::NotFound {
            name: name.to_string(),
            message: format!("{v:?} is not a PEP 440 version"),
        })?),
        None => None,
    };
    let chosen = page
        .files
        .iter()
        .filter(|f| !is_yanked(f))
        .filter_map(|f| sdist_version(f).map(|v| (v, f)))
        .filter(|(v, _)| match &wanted {
            Some(w) => v == w,
            None => !v.any_prerelease(),
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, f)| f)
        .ok_or_else(|| SkeletonError::NotFound {
            name: name.to_string(),
            message: match version {
                Some(v) => format!("no .tar.gz sdist of version {v} on {index_url}"),
                None => format!("no .tar.gz sdist of a final release on {index_url}"),
            },
        })?;
    let chosen_version = sdist_version(chosen);
    let (sdist, sha256, url) = download(client, &page_url, chosen, download_dir).await?;
    let pure_wheel = page.files.iter().find(|f| {
        let mut parts = f.filename.split('-');
        let (Some(dist), Some(v)) = (parts.next(), parts.next()) else {
            return false;
        };
        f.filename.ends_with("-none-any.whl")
            && normalise(dist) == project
            && v.parse().ok() == chosen_version
            && !is_yanked(f)
    });
    // The wheel only adds metadata: without it the sdist still makes a recipe.
    let wheel = match pure_wheel {
        Some(file) => match download(client, &page_url, file, download_dir).await {
            Ok((path, _, _)) => Some(path),
            Err(e) => {
                tracing::warn!("{e}; reading the sdist alone");
                None
            }
        },
        None => None,
    };
    Ok(Fetched {
        sdist,
        source: Source {
            url: url.to_string(),
            sha256,
        },
        wheel,
    })
}

/// What [`fetch_sdist`] downloaded.
pub struct Fetched {
    pub sdist: PathBuf,
    pub source: Source,
    /// The pure wheel of the same version, if the index has one.
    pub wheel: Option<PathBuf>,
}

/// Downloads one file of a project page, checking the sha256 the index lists for it.
async fn download(
    client: &reqwest::Client,
    page_url: &Url,
    file: &IndexFile,
    dir: &Path,
) -> Result<(PathBuf, String, Url), SkeletonError> {
    let mut url = page_url
        .join(&file.url)
        .map_err(|_| SkeletonError::BadIndexUrl(file.url.clone()))?;
    let fetch_error = |e: &dyn std::error::Error| SkeletonError::Fetch {
        url: url.to_string(),
        message: crate::net::error_chain(e),
    };
    let bytes = client
        .get(url.clone())
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| fetch_error(&e))?
        .bytes()
        .await
        .map_err(|e| fetch_error(&e))?;
    let path = dir.join(&file.filename);
    crate::fs::write_atomic(&path, &bytes).map_err(|source| SkeletonError::Write {
        path: path.clone(),
        source,
    })?;
    let sha256 = sha256_hex(&bytes);
    if let Some(expected) = file.hashes.get("sha256") {
        if *expected != sha256 {
            return Err(SkeletonError::HashMismatch {
                path,
                actual: sha256,
                expected: expected.clone(),
            });
        }
    }
    url.set_fragment(None);
    Ok((path, sha256, url))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(bytes))
}

/// A local sdist as a recipe source (`file://` URL and its sha256).
pub fn local_source(path: &Path) -> Result<Source, SkeletonError> {
    let bytes = std::fs::read(path).map_err(|e| SkeletonError::Sdist {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let url = Url::from_file_path(&absolute)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| absolute.display().to_string());
    Ok(Source {
        url,
        sha256: sha256_hex(&bytes),
    })
}

/// A recipe written by [`write_recipe`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    pub noarch: bool,
    /// The run requirements as conda specs (selectors after `  # [..]`).
    pub run: Vec<String>,
}

/// Analyses an sdist and writes `<output_dir>/<conda name>/meta.yaml`.
pub fn write_recipe(
    sdist_path: &Path,
    source: &Source,
    wheel: Option<&Path>,
    output_dir: &Path,
) -> Result<Written, SkeletonError> {
    let sdist_error = |message: String| SkeletonError::Sdist {
        path: sdist_path.to_path_buf(),
        message,
    };
    let mut analysis = Sdist::read(sdist_path)
        .map_err(&sdist_error)?
        .analyse()
        .map_err(&sdist_error)?;
    if let Some(wheel) = wheel {
        let metadata = sdist::wheel_metadata(wheel).map_err(|message| SkeletonError::Sdist {
            path: wheel.to_path_buf(),
            message,
        })?;
        analysis.use_wheel_metadata(&metadata);
    }
    write_analysis(&analysis, sdist_path, source, output_dir)
}

/// Writes `<output_dir>/<conda name>/meta.yaml` for a recipe that installs a wheel as is: how
/// pip and the build backends the sdist recipes need get into a channel without building them.
pub fn write_wheel_recipe(wheel: &Path, output_dir: &Path) -> Result<Written, SkeletonError> {
    let analysis = sdist::analyse_wheel(wheel).map_err(|message| SkeletonError::Sdist {
        path: wheel.to_path_buf(),
        message,
    })?;
    write_analysis(&analysis, wheel, &local_source(wheel)?, output_dir)
}

/// Writes the recipe of an analysed sdist or wheel (`origin`, for error messages).
fn write_analysis(
    analysis: &Analysis,
    origin: &Path,
    source: &Source,
    output_dir: &Path,
) -> Result<Written, SkeletonError> {
    let recipe = Recipe::from_analysis(analysis).map_err(|message| SkeletonError::Sdist {
        path: origin.to_path_buf(),
        message,
    })?;
    let name = recipe_folder_name(&analysis.name).map_err(|message| SkeletonError::Sdist {
        path: origin.to_path_buf(),
        message,
    })?;
    let text = recipe.render(analysis, source);
    let dir = output_dir.join(name);
    std::fs::create_dir_all(&dir).map_err(|source| SkeletonError::Write {
        path: dir.clone(),
        source,
    })?;
    let path = dir.join("meta.yaml");
    crate::fs::write_atomic(&path, text.as_bytes()).map_err(|source| SkeletonError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(Written {
        name: analysis.name.clone(),
        version: analysis.version.clone(),
        path,
        noarch: recipe.noarch,
        run: recipe.run.iter().map(requirement_line).collect(),
    })
}

/// The requirement sections of a recipe.
struct Recipe {
    noarch: bool,
    python: String,
    host: Vec<CondaRequirement>,
    run: Vec<CondaRequirement>,
}

fn plain(spec: String) -> CondaRequirement {
    CondaRequirement {
        spec,
        selector: None,
        unmapped_marker: None,
    }
}

fn requirement_line(r: &CondaRequirement) -> String {
    match (&r.selector, &r.unmapped_marker) {
        (Some(selector), _) => format!("{}  # [{selector}]", r.spec),
        (None, Some(marker)) => format!("{}  # marker not translated: {marker}", r.spec),
        (None, None) => r.spec.clone(),
    }
}

impl Recipe {
    fn from_analysis(analysis: &Analysis) -> Result<Recipe, String> {
        let min = analysis.requires_python.as_deref().and_then(python_min);
        let convert_all =
            |lines: &[String], min: Option<(u64, u64)>| -> Result<Vec<CondaRequirement>, String> {
                Ok(lines
                    .iter()
                    .map(|l| convert(l, min))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .flatten()
                    .collect())
            };
        let mut run = convert_all(&analysis.run, min)?;
        let noarch = analysis.pure && make_noarch(&mut run);
        let python = match min {
            Some((major, minor)) => format!("python >={major}.{minor}"),
            None => "python".to_string(),
        };
        let mut host = vec![plain(python.clone())];
        // pip's own wheel installs itself, so its recipe cannot need pip.
        if !is_pip_wheel(analysis) {
            host.push(plain("pip".into()));
        }
        host.extend(convert_all(&analysis.build_system, min)?);
        Ok(Recipe {
            noarch,
            python,
            host,
            run,
        })
    }

    fn render(&self, analysis: &Analysis, source: &Source) -> String {
        let mut out = String::new();
        let name = requirements::conda_name(&normalise(&analysis.name));
        let _ = writeln!(out, "{{% set name = {} %}}", jinja_string(&name));
        let _ = writeln!(
            out,
            "{{% set version = {} %}}\n",
            jinja_string(&analysis.version)
        );
        out.push_str("package:\n  name: {{ name|lower }}\n  version: {{ version }}\n\n");
        let _ = writeln!(
            out,
            "source:\n  url: {}\n  sha256: {}\n",
            yaml_scalar(&source.url),
            source.sha256
        );
        out.push_str("build:\n  number: 0\n");
        if self.noarch {
            out.push_str("  noarch: python\n");
        }
        let script = match &analysis.wheel_file {
            // pip runs from its own wheel (a wheel is a zip Python can import from).
            Some(wheel) if is_pip_wheel(analysis) => {
                format!("{{{{ PYTHON }}}} {wheel}/pip install {wheel} -vv --no-deps")
            }
            Some(wheel) => format!("{{{{ PYTHON }}}} -m pip install {wheel} -vv --no-deps"),
            None => "{{ PYTHON }} -m pip install . -vv --no-deps --no-build-isolation".to_string(),
        };
        let _ = writeln!(out, "  script: {script}\n");
        out.push_str("requirements:\n  host:\n");
        for r in &self.host {
            let _ = writeln!(out, "    - {}", requirement_line(r));
        }
        let _ = writeln!(out, "  run:\n    - {}", self.python);
        for r in &self.run {
            let _ = writeln!(out, "    - {}", requirement_line(r));
        }
        let _ = writeln!(out, "  # run requirements from {}", analysis.run_source);
        out.push_str("\ntest:\n");
        if !analysis.imports.is_empty() {
            out.push_str("  imports:\n");
            for import in &analysis.imports {
                let _ = writeln!(out, "    - {import}");
            }
        }
        out.push_str("  commands:\n    - pip check\n  requires:\n    - pip\n\nabout:\n");
        if let Some(home) = &analysis.home {
            let _ = writeln!(out, "  home: {}", yaml_scalar(home));
        }
        if let Some(summary) = &analysis.summary {
            let _ = writeln!(out, "  summary: {}", yaml_scalar(summary));
        }
        if let Some(license) = &analysis.license {
            let _ = writeln!(out, "  license: {}", yaml_scalar(license));
        }
        match analysis.license_files.as_slice() {
            [] => {}
            [one] => {
                let _ = writeln!(out, "  license_file: {}", yaml_scalar(one));
            }
            many => {
                out.push_str("  license_file:\n");
                for file in many {
                    let _ = writeln!(out, "    - {}", yaml_scalar(file));
                }
            }
        }
        out
    }
}

/// Whether the recipe installs pip's own wheel.
fn is_pip_wheel(analysis: &Analysis) -> bool {
    analysis.wheel_file.is_some() && normalise(&analysis.name) == "pip"
}

/// Whether a pure package's run requirements allow `noarch: python`, and if so rewrites them.
///
/// A selector is evaluated when the package is built, which a noarch package is once for all
/// platforms. Requirements only some Python versions need are harmless on the others: they
/// are kept unconditionally. Windows-only or Unix-only requirements keep their selector and the
/// recipe gains `__win  # [win]` and `__unix  # [unix]`, as conda-forge does (click's
/// colorama): the package built on each side installs only there. Any other selector
/// (`linux`, `osx`, a platform mixed with a Python version) makes the recipe per-platform.
fn make_noarch(run: &mut Vec<CondaRequirement>) -> bool {
    let python_only =
        regex::Regex::new(r"^(py[<>=!]+\d+)( and py[<>=!]+\d+)*$").expect("static regex");
    let os_family = |selector: &str| matches!(selector, "win" | "unix" | "not win" | "not unix");
    let selectors = || run.iter().filter_map(|r| r.selector.as_deref());
    if !selectors().all(|s| python_only.is_match(s) || os_family(s)) {
        return false;
    }
    let per_os = selectors().any(os_family);
    for requirement in run.iter_mut() {
        if requirement
            .selector
            .as_deref()
            .is_some_and(|s| python_only.is_match(s))
        {
            requirement.selector = None;
        }
    }
    if per_os {
        for family in ["unix", "win"] {
            run.push(CondaRequirement {
                spec: format!("__{family}"),
                selector: Some(family.to_string()),
                unmapped_marker: None,
            });
        }
    }
    true
}

/// A YAML scalar, quoted when plain style would change its meaning.
fn yaml_scalar(text: &str) -> String {
    let single_line = text.lines().next().unwrap_or("").trim();
    serde_yaml::to_string(single_line)
        .expect("strings serialize")
        .trim_end()
        .to_string()
}

fn jinja_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
