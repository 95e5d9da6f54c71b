//! Writes a small sample channel of real package archives (used by `scripts/demo` until krait
//! builds the pipeline channel from `recipe/`).
//!
//! usage: cargo run --example sample_channel -- OUT_DIR

#[path = "../tests/common/fixtures.rs"]
#[allow(dead_code)] // shared with the tests, which use more of it
mod fixtures;

use fixtures::{Format, Package};

fn main() {
    let out = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            eprintln!("usage: sample_channel OUT_DIR");
            std::process::exit(2)
        });
    let packages = [
        (
            Package::new("libjpeg-lite", "9.5", "h0_0", "linux-64"),
            Format::Conda,
        ),
        (
            Package::new("libjpeg-lite", "9.6", "h0_0", "linux-64"),
            Format::TarBz2,
        ),
        (
            Package::new("imgtools", "0.3", "h0_0", "linux-64").depends(&["libjpeg-lite >=9.5"]),
            Format::Conda,
        ),
        (
            Package::new("hotel-catalogs", "2026.11", "0", "noarch").depends(&["imgtools >=0.3"]),
            Format::TarBz2,
        ),
    ];
    for (package, format) in packages {
        let path = package.write(&out, format);
        println!("wrote {}", path.display());
    }
}
