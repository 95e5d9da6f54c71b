//! imgpipe: the hotel-image ingestion pipeline (placeholder until the imgpipe issue lands).
use clap::Parser;

#[derive(Parser)]
#[command(name = "imgpipe", version)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
