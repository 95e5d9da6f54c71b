//! Progress bars for long stages, hidden under `--quiet` and `--json`.

use indicatif::{ProgressBar, ProgressStyle};

pub fn bar(length: usize, stage: &'static str, hidden: bool) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>11} [{bar:30}] {pos}/{len} {per_sec} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(stage);
    bar
}
