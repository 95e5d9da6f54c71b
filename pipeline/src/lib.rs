//! imgpipe: the hotel-image ingestion pipeline (trigger → download → fingerprint → dedupe →
//! prioritise → generate) over one state store.

pub mod atomic;
pub mod blobstore;
pub mod catalog;
pub mod decode;
pub mod dedupe;
pub mod dhash;
pub mod download;
pub mod eval;
pub mod eval_html;
pub mod fingerprint;
pub mod generate;
pub mod paths;
pub mod prioritise;
pub mod progress;
pub mod quality;
pub mod review;
pub mod storage;
pub mod store;
pub mod tiles;
pub mod worker;
