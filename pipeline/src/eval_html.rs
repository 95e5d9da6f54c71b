//! `imgpipe eval --html`: the dedupe quality report as a page, with inline SVG plots
//! (precision and recall per transform; the dHash distance distributions of truly same and
//! truly different pairs, with the match threshold) so a threshold change can be judged by eye.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::eval::{Counts, Report};

const WIDTH: f64 = 720.0;
const SAME: &str = "#2a7ab0";
const DIFFERENT: &str = "#d0582a";

/// One horizontal bar pair (precision, recall) per transform, and the overall pair first.
fn precision_recall(report: &Report) -> Markup {
    let rows: Vec<(&str, &Counts)> = std::iter::once(("all pairs", &report.overall))
        .chain(
            report
                .per_transform
                .iter()
                .map(|(name, counts)| (name.as_str(), counts)),
        )
        .collect();
    let (label, row) = (150.0, 34.0);
    let plot = WIDTH - label - 60.0;
    let height = 30.0 + row * rows.len() as f64;
    html! {
        svg #precision-recall width=(WIDTH) height=(height) xmlns="http://www.w3.org/2000/svg"
            role="img" aria-label="precision and recall per transform" {
            @for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
                line x1=(label + tick * plot) x2=(label + tick * plot) y1="0" y2=(height - 20.0)
                    stroke="#ddd" {}
                text x=(label + tick * plot) y=(height - 6.0) font-size="11" text-anchor="middle" { (tick) }
            }
            @for (i, (name, counts)) in rows.iter().enumerate() {
                @let y = 4.0 + row * i as f64;
                text x=(label - 6.0) y=(y + 18.0) font-size="12" text-anchor="end" { (name) }
                @for (j, (value, colour, what)) in [(counts.precision, SAME, "precision"), (counts.recall, DIFFERENT, "recall")].into_iter().enumerate() {
                    @let top = y + 2.0 + 14.0 * j as f64;
                    rect x=(label) y=(top) width=(value * plot) height="12" fill=(colour) {
                        title { (name) " " (what) " " (format!("{value:.3}")) }
                    }
                    text x=(label + value * plot + 4.0) y=(top + 10.0) font-size="10" { (format!("{value:.3}")) }
                }
            }
        }
    }
}

/// Share of each class's pairs at each distance, side by side, with the threshold marked.
fn distances(report: &Report, threshold: u32) -> Markup {
    let (left, bottom, plot_height) = (40.0, 30.0, 220.0);
    let plot = WIDTH - left - 10.0;
    let bin = plot / 65.0;
    let share = |bins: &[u64]| -> Vec<f64> {
        let total = bins.iter().sum::<u64>().max(1) as f64;
        bins.iter().map(|&n| n as f64 / total).collect()
    };
    let (same, different) = (
        share(&report.distances.same),
        share(&report.distances.different),
    );
    let top = same
        .iter()
        .chain(&different)
        .copied()
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let height = plot_height + bottom + 10.0;
    let bar = |distance: usize, value: f64, offset: f64, colour: &str, class: &str| {
        let h = value / top * plot_height;
        html! {
            @if value > 0.0 {
                rect x=(left + distance as f64 * bin + offset) y=(10.0 + plot_height - h)
                    width=(bin / 2.0 - 0.5) height=(h) fill=(colour) {
                    title { (class) " pairs at " (distance) " bits: " (format!("{:.1} %", value * 100.0)) }
                }
            }
        }
    };
    let x_threshold = left + (f64::from(threshold) + 1.0) * bin;
    html! {
        svg #distances width=(WIDTH) height=(height) xmlns="http://www.w3.org/2000/svg"
            role="img" aria-label="dHash distance of truly same and truly different pairs" {
            line x1=(left) x2=(left + plot) y1=(10.0 + plot_height) y2=(10.0 + plot_height) stroke="#888" {}
            @for tick in (0..=64).step_by(8) {
                text x=(left + (tick as f64 + 0.5) * bin) y=(10.0 + plot_height + 14.0) font-size="11"
                    text-anchor="middle" { (tick) }
            }
            text x=(left + plot / 2.0) y=(height - 2.0) font-size="11" text-anchor="middle" { "dHash distance (bits)" }
            @for distance in 0..65 {
                (bar(distance, same[distance], 0.0, SAME, "same"))
                (bar(distance, different[distance], bin / 2.0, DIFFERENT, "different"))
            }
            line #threshold x1=(x_threshold) x2=(x_threshold) y1="10" y2=(10.0 + plot_height)
                stroke="#222" stroke-dasharray="4 3" {}
            text x=(x_threshold + 4.0) y="20" font-size="11" { "match at ≤ " (threshold) " bits" }
        }
    }
}

/// The whole page; `threshold` is the whole-image distance dedupe matched at.
pub fn page(report: &Report, threshold: u32) -> String {
    let same: u64 = report.distances.same.iter().sum();
    let different: u64 = report.distances.different.iter().sum();
    let style = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\
        table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}\
        td:first-child,th:first-child{text-align:left}";
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "imgpipe dedupe quality" }
                style { (PreEscaped(style)) }
            }
            body {
                h1 { "Dedupe quality" }
                p { (report.evaluated) " URLs evaluated, " (report.missing) " missing (not downloaded or not decoded); "
                    (report.over_merged_groups.len()) " predicted sets mix different pictures." }
                h2 { "Precision and recall per transform" }
                p { span style={ "color:" (SAME) } { "■ precision" } " " span style={ "color:" (DIFFERENT) } { "■ recall" } }
                (precision_recall(report))
                table #counts {
                    tr { th { "pairs" } th { "precision" } th { "recall" } th { "true +" } th { "false +" } th { "false −" } }
                    @for (name, c) in std::iter::once(("all", &report.overall)).chain(report.per_transform.iter().map(|(n, c)| (n.as_str(), c))) {
                        tr { td { (name) } td { (format!("{:.4}", c.precision)) } td { (format!("{:.4}", c.recall)) }
                             td { (c.true_positive) } td { (c.false_positive) } td { (c.false_negative) } }
                    }
                }
                h2 { "Distance of true and false pairs" }
                p { "Share of each kind of pair at each whole-image dHash distance: "
                    span style={ "color:" (SAME) } { "■ same picture (" (same) " pairs)" } ", "
                    span style={ "color:" (DIFFERENT) } { "■ different pictures (" (different) " pairs)" }
                    ". Pairs of the same picture right of the line are only found by the tile hashes; \
                     different pictures left of it are false matches." }
                (distances(report, threshold))
                @if !report.over_merged_groups.is_empty() {
                    h2 { "Sets that mix pictures" }
                    ul { @for pictures in &report.over_merged_groups { li { (pictures.join(", ")) } } }
                }
            }
        }
    }
    .into_string()
}
