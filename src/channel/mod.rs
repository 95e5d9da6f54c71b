//! Channels: configuration, resolution of channel arguments, repodata loading, indexing, search, serving and upload.

pub mod config;
pub mod config_file;
pub mod hot_files;
pub mod index;
pub mod repodata;
pub mod resolve;
pub mod search;
pub mod serve;
pub mod serve_tls;
pub mod upload;
