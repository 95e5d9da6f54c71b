//! Channels: configuration, resolution of channel arguments, repodata loading, indexing and search.

pub mod config;
pub mod index;
pub mod repodata;
pub mod resolve;
pub mod search;
