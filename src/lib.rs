//! krait: build, index, serve and install conda packages.
//!
//! The library is laid out by concern; the CLI in [`cli`] only parses arguments and calls in.
//! - [`channel`]: configuration (`.condarc`), channel resolution, indexing, search, serving, upload.
//! - [`skeleton`]: conda recipes from PyPI packages.

pub mod channel;
pub mod cli;
pub mod env;
pub mod skeleton;
