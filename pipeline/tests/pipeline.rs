//! The whole pipeline over the sample partners (scikit-image photos and their variants),
//! served from 127.0.0.1: dedupe quality against the ground truth, bad inputs recorded per
//! image, catalog diffs, conditional requests, overrides, idempotent generation, and
//! kill -9 / resume equal to an uninterrupted run. Each test runs on both state engines.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{
    catalog_args, count_files, imgpipe, json, make_sample_partners, ok, tree, Engine, Server, State,
};

on_both_engines!(sample_partners_end_to_end: sample_partners_end_to_end_sqlite, sample_partners_end_to_end_postgres);
on_both_engines!(
    kill_during_download_and_generate_then_resume_equals_uninterrupted:
        kill_and_resume_equals_uninterrupted_sqlite,
        kill_and_resume_equals_uninterrupted_postgres
);
on_both_engines!(
    bad_arguments_fail_naming_the_problem_and_record_nothing:
        bad_arguments_fail_sqlite,
        bad_arguments_fail_postgres
);

/// The status without what differs between two equal runs (rates, leases).
fn settled(mut status: serde_json::Value) -> serde_json::Value {
    status.as_object_mut().unwrap().remove("stages");
    status
}

/// Download settings that keep the failing URLs quick.
const FAST_FAILURES: [&str; 6] = ["--timeout", "2", "--retries", "1", "--backoff-ms", "20"];

fn sample_partners_end_to_end(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some(state) = State::new(engine, &dir.path().join("state")) else {
        return;
    };
    let corpus = dir.path().join("corpus");
    let server = Server::start(&corpus, Duration::ZERO);
    make_sample_partners(&corpus, &server, &["--bad-inputs"]);
    let out = dir.path().join("out");

    let summary = json(
        imgpipe(&state)
            .arg("run")
            .args(catalog_args(&corpus))
            .args(FAST_FAILURES)
            .arg("--out")
            .arg(&out),
    );
    assert_eq!(summary["trigger"]["bad"]["malformed"], 1, "{summary:#}");

    // Dedupe quality against the ground truth.
    let report = json(
        imgpipe(&state)
            .arg("eval")
            .arg("--truth")
            .arg(corpus.join("truth.jsonl")),
    );
    assert_eq!(report["missing"], 0, "{report:#}");
    assert!(
        report["overall"]["precision"].as_f64().unwrap() >= 0.999,
        "{report:#}"
    );
    assert_eq!(
        report["over_merged_groups"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
    for (transform, counts) in report["per_transform"].as_object().unwrap() {
        let precision = counts["precision"].as_f64().unwrap();
        let recall = counts["recall"].as_f64().unwrap();
        let photometric = ["rescale", "jpeg", "brightness", "contrast"]
            .iter()
            .any(|p| transform.starts_with(p));
        let geometric = ["crop", "border", "aspect"]
            .iter()
            .any(|p| transform.starts_with(p));
        assert!(precision >= 0.999, "{transform}: precision {precision}");
        if photometric {
            assert!(recall >= 0.98, "{transform}: recall {recall}");
        } else if geometric {
            assert!(recall >= 0.90, "{transform}: recall {recall}");
        }
        assert!(
            counts["true_positive"].as_u64().unwrap() >= 5,
            "{transform}: too few pairs"
        );
    }

    // Every bad input is recorded with its reason; the rest went on.
    let status = json(imgpipe(&state).arg("status"));
    let downloads = &status["download_failures"];
    for reason in ["http-404", "http-500", "timeout", "not-an-image"] {
        assert_eq!(downloads[reason], 1, "{reason}: {status:#}");
    }
    let images = &status["image_failures"];
    assert_eq!(images["truncated-jpeg"], 1, "{status:#}");
    assert_eq!(images["too-large"], 1, "{status:#}");
    let errors = status["catalog_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert!(errors[0]["file"].as_str().unwrap().ends_with("bad.csv") && errors[0]["line"] == 3);

    // 14 outputs per kept image, of the promised size.
    let ranked = status["ranked"].as_u64().unwrap();
    assert!(ranked >= 25, "{status:#}");
    assert_eq!(status["outputs"].as_u64().unwrap(), ranked * 14);
    let outputs = tree(&out);
    assert_eq!(outputs.len() as u64, ranked * 14);
    for (path, bytes) in &outputs {
        let image = image::load_from_memory(bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        if path.ends_with("thumb-m.jpg") {
            assert_eq!((image.width(), image.height()), (200, 150), "{path}");
        }
        if path.ends_with("tablet.jpg") {
            assert!(image.width() <= 1024 && image.height() <= 768, "{path}");
        }
    }

    // Generating again renders nothing; running again downloads nothing.
    let again = json(imgpipe(&state).arg("generate").arg("--out").arg(&out));
    assert_eq!(
        (again["rendered"].as_u64(), again["up_to_date"].as_u64()),
        (Some(0), Some(ranked * 14))
    );
    let requests = server.request_count();
    let rerun = json(
        imgpipe(&state)
            .arg("run")
            .args(catalog_args(&corpus))
            .args(FAST_FAILURES)
            .arg("--out")
            .arg(&out),
    );
    assert_eq!(rerun["download"]["stored"], 0, "{rerun:#}");
    assert_eq!(
        server.request_count(),
        requests,
        "an unchanged catalog must not refetch"
    );

    // A partner changes captions and drops an image: changed URLs are fetched conditionally
    // (the server answers 304), the dropped one is marked removed and its body kept.
    let partner = corpus.join("catalogs/partner-1.csv");
    let text = std::fs::read_to_string(&partner).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let dropped = lines.pop().unwrap().to_owned();
    let changed: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 1 {
                format!("{l}-new")
            } else {
                (*l).to_owned()
            }
        })
        .collect();
    let edited = dir.path().join("partner-1.csv");
    std::fs::write(&edited, changed.join("\n") + "\n").unwrap();
    let trigger = json(
        imgpipe(&state)
            .args(["trigger", "--partner", "partner-1", "--catalog"])
            .arg(&edited),
    );
    assert_eq!(
        (trigger["changed"].as_u64(), trigger["removed"].as_u64()),
        (Some(1), Some(1)),
        "{trigger:#}"
    );
    let download = json(imgpipe(&state).arg("download"));
    assert_eq!(
        (
            download["not_modified"].as_u64(),
            download["stored"].as_u64()
        ),
        (Some(1), Some(0)),
        "{download:#}"
    );
    let status = json(imgpipe(&state).arg("status"));
    assert_eq!(status["catalog_entries"]["removed"], 1);
    let dropped_url = dropped.split(',').nth(2).unwrap();
    assert!(dropped_url.starts_with("http://127.0.0.1"));
    let store_files = tree(&state.store());
    let body = served_body(&corpus, dropped_url);
    assert!(
        store_files.values().any(|stored| *stored == body),
        "the dropped image's body must stay in the store"
    );

    // An override wins over the score, and an exclusion drops the image.
    let hotel = "hotel-001";
    let ranking = json(imgpipe(&state).args(["ranking", "--hotel", hotel]));
    let ranking = ranking.as_array().unwrap();
    assert!(ranking.len() >= 3);
    let last = ranking.last().unwrap()["image"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = ranking[0]["image"].as_str().unwrap().to_owned();
    ok(imgpipe(&state).args(["override", "--hotel", hotel, "--first", &last[..12]]));
    ok(imgpipe(&state).args(["override", "--hotel", hotel, "--exclude", &first]));
    let ranking = json(imgpipe(&state).args(["ranking", "--hotel", hotel]));
    let images: Vec<&str> = ranking
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["image"].as_str().unwrap())
        .collect();
    assert_eq!(images[0], last);
    assert!(!images.contains(&first.as_str()));
}

/// The body the test server serves for one of its URLs, read from its folder.
fn served_body(corpus: &Path, url: &str) -> Vec<u8> {
    let path = url.split_once("/images/").unwrap().1;
    std::fs::read(corpus.join("images").join(path)).unwrap()
}

/// Waits until `done` holds (polling), failing after a minute.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL on Unix: no cleanup runs.
    child.wait().unwrap();
}

fn spawn(command: &mut Command) -> Child {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn kill_during_download_and_generate_then_resume_equals_uninterrupted(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    // Slow responses so a kill lands in the middle of the download.
    let server = Server::start(&corpus, Duration::from_millis(40));
    make_sample_partners(
        &corpus,
        &server,
        &[
            "--groups",
            "2",
            "--pictures",
            "4",
            "--partners",
            "3",
            "--variants",
            "1",
        ],
    );
    let middle_stages = |state: &State| {
        for stage in ["fingerprint", "dedupe", "prioritise"] {
            ok(imgpipe(state).arg(stage));
        }
    };
    let trigger_all = |state: &State| {
        for pair in catalog_args(&corpus).chunks(2) {
            let (partner, file) = pair[1].split_once('=').unwrap();
            ok(imgpipe(state).args(["trigger", "--partner", partner, "--catalog", file]));
        }
    };

    // Uninterrupted.
    let (Some(state_a), Some(state_b)) = (
        State::new(engine, &dir.path().join("a")),
        State::new(engine, &dir.path().join("b")),
    ) else {
        return;
    };
    let (out_a, out_b) = (dir.path().join("a-out"), dir.path().join("b-out"));
    trigger_all(&state_a);
    ok(imgpipe(&state_a).arg("download"));
    middle_stages(&state_a);
    ok(imgpipe(&state_a)
        .args(["generate", "--generate-jobs", "1", "--out"])
        .arg(&out_a));
    let images = count_files(&corpus.join("images"));
    let stored = count_files(&state_a.store());

    // Killed in the middle of each long stage, then resumed.
    trigger_all(&state_b);
    let before = server.request_count();
    let download = spawn(imgpipe(&state_b).args(["download", "--per-host", "2"]));
    wait_for("some downloads", || {
        server.request_count() >= before + images / 3
    });
    kill(download);
    let partial = count_files(&state_b.store());
    assert!(
        partial < stored,
        "the kill must interrupt the download ({partial} of {stored} stored)"
    );
    ok(imgpipe(&state_b).arg("download"));
    middle_stages(&state_b);
    let generate = spawn(
        imgpipe(&state_b)
            .args(["generate", "--generate-jobs", "1", "--out"])
            .arg(&out_b),
    );
    wait_for("some outputs", || count_files(&out_b) > 0);
    kill(generate);
    let total = count_files(&out_a);
    assert!(
        count_files(&out_b) < total,
        "the kill must interrupt generate"
    );
    ok(imgpipe(&state_b).args(["generate", "--out"]).arg(&out_b));

    let status_a = json(imgpipe(&state_a).arg("status"));
    let status_b = json(imgpipe(&state_b).arg("status"));
    assert_eq!(settled(status_a), settled(status_b));
    assert_eq!(tree(&state_a.store()), tree(&state_b.store()));
    let (outputs_a, outputs_b) = (tree(&out_a), tree(&out_b));
    assert_eq!(
        outputs_a.keys().collect::<Vec<_>>(),
        outputs_b.keys().collect::<Vec<_>>()
    );
    assert!(
        outputs_a == outputs_b,
        "resumed outputs differ from the uninterrupted ones"
    );
    for hotel in ["hotel-001", "hotel-002"] {
        assert_eq!(
            json(imgpipe(&state_a).args(["ranking", "--hotel", hotel])),
            json(imgpipe(&state_b).args(["ranking", "--hotel", hotel]))
        );
    }
}

/// Runs imgpipe expecting failure; returns its stderr.
fn fails(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{command:?} should fail");
    String::from_utf8(output.stderr).unwrap()
}

fn bad_arguments_fail_naming_the_problem_and_record_nothing(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some(state) = State::new(engine, &dir.path().join("state")) else {
        return;
    };
    let missing = dir.path().join("nowhere.csv");
    let stderr = fails(
        imgpipe(&state)
            .args(["trigger", "--partner", "p"])
            .arg("--catalog")
            .arg(&missing),
    );
    assert!(stderr.contains("nowhere.csv"), "{stderr}");
    let headerless = dir.path().join("p.csv");
    std::fs::write(&headerless, "h1,g1,http://127.0.0.1/a.jpg\n").unwrap();
    let stderr = fails(
        imgpipe(&state)
            .args(["trigger", "--partner", "p"])
            .arg("--catalog")
            .arg(&headerless),
    );
    assert!(
        stderr.contains("p.csv") && stderr.contains("partner_hotel_id"),
        "{stderr}"
    );
    let status = json(imgpipe(&state).arg("status"));
    assert!(
        status["catalog_entries"].as_object().unwrap().is_empty(),
        "{status:#}"
    );
    assert!(
        status["downloads"].as_object().unwrap().is_empty(),
        "{status:#}"
    );

    let config = dir.path().join("sizes.json");
    std::fs::write(
        &config,
        r#"[{"name": "a b", "width": 10, "height": 10, "mode": "fit", "format": "jpeg"}]"#,
    )
    .unwrap();
    let stderr = fails(
        imgpipe(&state)
            .arg("generate")
            .arg("--config")
            .arg(&config)
            .arg("--out")
            .arg(dir.path().join("out")),
    );
    assert!(
        stderr.contains("sizes.json") && stderr.contains("\"a b\""),
        "{stderr}"
    );
    let stderr = fails(imgpipe(&state).args(["override", "--hotel", "h", "--first", "abc"]));
    assert!(
        stderr.contains("abc") && stderr.contains("\"h\""),
        "{stderr}"
    );
    if engine == Engine::Sqlite {
        // A state file of the imgpipe before schema migrations: refused by name, left as is.
        let legacy = dir.path().join("legacy.db");
        let script = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
             c.execute(\"CREATE TABLE downloads (url TEXT PRIMARY KEY, state TEXT NOT NULL)\"); \
             c.execute(\"INSERT INTO downloads VALUES ('http://127.0.0.1/a.jpg', 'done')\"); \
             c.commit(); print(c.execute('SELECT count(*) FROM downloads').fetchone()[0])";
        let legacy_path = legacy.to_str().unwrap();
        assert_eq!(common::run_python(&["-c", script, legacy_path]).trim(), "1");
        let stderr = fails(
            Command::new(env!("CARGO_BIN_EXE_imgpipe"))
                .args(["--db", legacy_path, "--store"])
                .arg(state.store())
                .arg("status"),
        );
        assert!(
            stderr.contains(legacy_path) && stderr.contains("move it away"),
            "{stderr}"
        );
        let tables = common::run_python(&[
            "-c",
            "import sqlite3, sys; print(sorted(r[0] for r in sqlite3.connect(sys.argv[1])\
             .execute(\"SELECT name FROM sqlite_master WHERE type = 'table'\")))",
            legacy_path,
        ]);
        assert_eq!(
            tables.trim(),
            "['downloads']",
            "the legacy file was changed"
        );
    }
}
