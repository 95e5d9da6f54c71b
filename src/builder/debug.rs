//! `krait debug RECIPE` (conda-build's `conda debug`): everything a build does before its
//! script runs (sources fetched and patched, build and host environments created), then the
//! script and the variables it would run with are left in the work folder for a person to
//! run step by step.

use super::{
    build_config, build_script, prepare, reindex, render_all, script, top_environment, top_output,
    BuildError, BuildOptions,
};
use std::path::{Path, PathBuf};

/// What `krait debug` set up.
#[derive(Debug, serde::Serialize)]
pub struct DebugSetup {
    /// `name-version-build` of the top-level output.
    pub dist: String,
    /// The work folder (`SRC_DIR`), holding the sources.
    pub work_dir: PathBuf,
    /// Sourcing it sets the build's variables and activates its environments.
    pub env_setup: PathBuf,
    /// The build script (`conda_build.sh`), when the recipe has one.
    pub build_script: Option<PathBuf>,
}

impl DebugSetup {
    /// The shell command that enters the build's environment, as `conda debug` prints it.
    pub fn command(&self) -> String {
        format!(
            "cd '{}' && source '{}'",
            self.work_dir.display(),
            self.env_setup.display()
        )
    }
}

/// Sets up the one variant of the recipe at `path`; several variants are an error that lists
/// them (narrow them with `--variant`, `--variants` or `-m`, as `conda debug` asks).
pub fn debug(path: &Path, options: &BuildOptions) -> Result<DebugSetup, BuildError> {
    let config = build_config(options)?;
    let mut rendered = render_all(&[path.to_path_buf()], options, &config)?;
    if rendered.len() != 1 {
        return Err(BuildError::DebugOneRecipe(path.to_path_buf()));
    }
    let (recipe, variants) = rendered.remove(0);
    let variant = match variants.as_slice() {
        [one] => one,
        _ => {
            let dists: Vec<String> = variants
                .iter()
                .filter_map(|v| top_output(&recipe, v).ok())
                .map(|o| o.dist_name())
                .collect();
            return Err(BuildError::DebugVariants {
                recipe: recipe.dir.clone(),
                variants: dists.join(", "),
            });
        }
    };
    std::fs::create_dir_all(&options.output_folder)
        .map_err(BuildError::io(&options.output_folder))?;
    reindex(&options.output_folder)?;
    let runtime = tokio::runtime::Runtime::new().map_err(BuildError::Runtime)?;
    let workspace = prepare(&recipe, variant, options, &config, &runtime)?;
    let top = top_output(&recipe, variant)?;
    let env = top_environment(top, variant, &workspace);
    let env_setup = script::write_env_setup(&workspace.dirs, &env)?;
    let build_script = match build_script(variant) {
        Some(text) => {
            let path = workspace.dirs.src.join("conda_build.sh");
            std::fs::write(&path, text).map_err(BuildError::io(&path))?;
            Some(path)
        }
        None => None,
    };
    Ok(DebugSetup {
        dist: top.dist_name(),
        work_dir: workspace.dirs.src.clone(),
        env_setup,
        build_script,
    })
}
