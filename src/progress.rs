//! The one progress-bar style of krait's own long steps (rattler's installer draws its own).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `len` items under `prefix`; hidden when `shown` is false (`--quiet`,
/// `--json`). indicatif also hides it when stderr is not a terminal.
pub fn counter(len: u64, prefix: &str, shown: bool) -> ProgressBar {
    if !shown || len == 0 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}
