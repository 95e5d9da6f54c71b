//! Environments: named and path prefixes, solving, transactions with rollback, conda-meta
//! history and pinned specs, byte-compilation of noarch python packages.

pub mod activation;
pub mod cache;
pub mod clone;
pub mod doctor;
pub mod export;
pub mod extract;
pub mod history;
pub mod install;
pub mod lock;
pub mod pinned;
pub mod pip;
pub mod prefix;
pub mod python;
pub mod report;
pub mod safety;
pub mod solve;
pub mod spec_file;
pub mod state;
pub mod transaction;

/// Errors of environment commands.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EnvError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Prefix(#[from] prefix::PrefixError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    History(#[from] history::HistoryError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pinned(#[from] pinned::PinnedError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Solve(#[from] solve::SolveFailure),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repodata(#[from] crate::channel::repodata::RepodataError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transaction(#[from] transaction::TransactionFailure),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Compile(#[from] python::CompileError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    SpecFile(#[from] spec_file::SpecFileError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Clone(#[from] clone::CloneError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] lock::LockError),
    #[error("the spec {0:?} names no single package")]
    #[diagnostic(help("give a package name, e.g. `numpy>=1.26`"))]
    SpecWithoutName(String),
    #[error("package {0:?} is not installed in this environment")]
    #[diagnostic(help("see what is installed with `krait list`"))]
    NotInstalled(String),
    #[error("the package {0} of that revision is no longer in the channels")]
    #[diagnostic(help("add the channel it came from with -c"))]
    RevisionPackageMissing(String),
    #[error("no terminal to confirm the plan on")]
    #[diagnostic(help(
        "pass -y/--yes to proceed without asking, or --dry-run to only see the plan"
    ))]
    NeedsYes,
    #[error("aborted: nothing was changed")]
    Aborted,
}
