//! Channels: configuration, resolution of channel arguments, indexing and search.
