//! Generates channels for `scripts/bench`: real archives written with rattler_package_streaming.
//!
//! usage:
//!   bench_channel index OUT N        N small packages, half `.conda`, half `.tar.bz2`
//!   bench_channel env OUT            100 packages (~200 MB, a few large) under one root `bench-root`

#[path = "../tests/common/fixtures.rs"]
#[allow(dead_code)] // shared with the tests, which use more of it
mod fixtures;

use fixtures::{noise, Format, Package};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!("usage: bench_channel (index OUT N | env OUT)");
        std::process::exit(2)
    };
    let out = PathBuf::from(args.get(1).unwrap_or_else(|| usage()));
    match args.first().map(String::as_str) {
        Some("index") => {
            let n: usize = args
                .get(2)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| usage());
            for i in 0..n {
                let format = if i % 2 == 0 {
                    Format::Conda
                } else {
                    Format::TarBz2
                };
                let subdir = if i % 5 == 0 { "noarch" } else { "linux-64" };
                Package::new(
                    &format!("pkg{:04}", i / 4),
                    &format!("1.{}", i % 4),
                    "h0_0",
                    subdir,
                )
                .depends(&["python >=3.8"])
                .write(&out, format);
            }
        }
        Some("env") => {
            let mut names = Vec::new();
            for i in 0..99 {
                let name = format!("bench-lib{i:02}");
                let size = if i % 25 == 0 { 40_000_000 } else { 400_000 };
                let mut deps = Vec::new();
                if i + 1 < 99 && i % 3 != 2 {
                    deps.push(format!("bench-lib{:02} >=1", i + 1));
                }
                let dep_refs: Vec<&str> = deps.iter().map(String::as_str).collect();
                Package::new(&name, "1.0", "h0_0", "linux-64")
                    .depends(&dep_refs)
                    .file(&format!("lib/{name}/data.bin"), noise(size, i as u64 + 1))
                    .file(
                        &format!("share/{name}/notes.txt"),
                        format!("{name}\n").repeat(100),
                    )
                    .write(&out, Format::Conda);
                names.push(name);
            }
            let deps: Vec<&str> = names.iter().map(String::as_str).collect();
            Package::new("bench-root", "1.0", "0", "noarch")
                .depends(&deps)
                .write(&out, Format::Conda);
        }
        _ => usage(),
    }
}
