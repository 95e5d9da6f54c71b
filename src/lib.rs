//! krait: build, index, serve and install conda packages.
//!
//! The library is laid out by concern; the CLI in [`cli`] only parses arguments and calls in.
//! - [`config`]: conda's configuration files (`.condarc`) and `KRAIT_*` variables, merged.
//! - [`net`]: the HTTP client every request goes through: `.condarc`'s TLS, proxy, timeout and
//!   retry settings, and channel authentication.
//! - [`channel`]: channel resolution, repodata loading, indexing, search, serving, upload.
//! - [`env`]: environments: solve, transactions with rollback, history, activation, export.
//! - [`recipe`]: rendering conda-build `meta.yaml` recipes (selectors, Jinja, variants, outputs).
//! - [`builder`]: building rendered recipes into packages, testing and converting them.
//! - [`skeleton`]: conda recipes from PyPI packages.
//! - [`fs`]: atomic file writes (synced before the rename) shared by index, environments,
//!   skeleton and archive writing.
//! - [`progress`]: the progress bars of krait's own long steps.

pub mod builder;
pub mod channel;
pub mod cli;
pub mod config;
pub mod env;
pub mod fs;
pub mod net;
pub mod progress;
pub mod recipe;
pub mod skeleton;
