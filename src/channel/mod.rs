//! Channels: resolution of channel arguments, repodata loading, indexing, search, serving and upload.

pub mod channeldata;
pub mod files;
pub mod hot_files;
pub mod index;
pub mod labels;
pub mod repodata;
pub mod repoquery;
pub mod request_path;
pub mod resolve;
pub mod s3;
pub mod search;
pub mod serve;
pub mod serve_limits;
pub mod serve_tls;
pub mod serve_tokens;
pub mod shards;
pub mod upload;
