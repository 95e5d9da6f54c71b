//! The product as shipped: `recipe/` (python, imgpipe, hotel-ingest) built by krait into one
//! channel, an environment created from it, and the pipeline run in it over partner feeds in the
//! three formats hotel-ingest reads, served on 127.0.0.1. The channel is built once per run
//! (cargo's release cache for imgpipe is the tests' own target folder) and shared by the checks.

mod common;

use common::{krait, peer_python, peer_script, run, run_err, run_ok, HttpServer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `major.minor` and full version of the python3 on PATH, which recipe/python repackages.
fn host_versions() -> (String, String) {
    let (version, _) = common::python::host_python();
    let minor = version.split('.').take(2).collect::<Vec<_>>().join(".");
    (minor, version)
}

/// `$VAR`, or `~/default` of the real HOME.
fn toolchain_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(default)
    })
}

struct Shipped {
    channel: PathBuf,
    home: PathBuf,
}

/// Builds `recipe/` into a fresh channel once for all the tests of this file.
fn shipped() -> &'static Shipped {
    static SHIPPED: OnceLock<Shipped> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ship");
        let _ = std::fs::remove_dir_all(&root);
        let channel = root.join("channel");
        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let cargo_target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
        run_ok(
            krait(&home)
                .arg("build")
                .arg(repo().join("recipe"))
                .args(["--override-channels", "--quiet", "--python"])
                .arg(host_versions().0)
                .arg("--output-folder")
                .arg(&channel)
                .env("KRAIT_CARGO_TARGET_DIR", cargo_target)
                // krait() isolates HOME: keep cargo and rustup pointed at the real toolchain.
                .env("CARGO_HOME", toolchain_dir("CARGO_HOME", ".cargo"))
                .env("RUSTUP_HOME", toolchain_dir("RUSTUP_HOME", ".rustup")),
        );
        Shipped { channel, home }
    })
}

fn create_env(prefix: &Path) {
    let s = shipped();
    run_ok(
        krait(&s.home)
            .args(["create", "-q", "-y", "-p"])
            .arg(prefix)
            .arg("-c")
            .arg(&s.channel)
            .args(["--override-channels", "hotel-ingest"]),
    );
}

fn repodata(channel: &Path, subdir: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(channel.join(subdir).join("repodata.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Tiny photos (distinct drawings, and a half-size copy of the first) and three partner feeds
/// pointing at them: `a.csv` (semicolons), `b.jsonl`, `c.xml`. Returns the feeds.
fn sample_partners(dir: &Path, base_url: &str) -> Vec<(String, PathBuf)> {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let draw = r#"
import random, sys
from PIL import Image, ImageDraw
out = sys.argv[1]
for seed in range(5):
    rng = random.Random(seed)
    image = Image.new("RGB", (320, 240), tuple(rng.randrange(256) for _ in range(3)))
    pen = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(300), rng.randrange(220)
        box = [x, y, x + rng.randrange(20, 160), y + rng.randrange(20, 120)]
        pen.rectangle(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    image.save(f"{out}/p{seed}.png")
    if seed == 0:
        image.resize((160, 120), Image.LANCZOS).save(f"{out}/p0-small.jpg", quality=90)
"#;
    run_ok(Command::new(peer_python()).args(["-c", draw]).arg(&images));
    let url = |name: &str| format!("{base_url}/images/{name}");
    let csv = dir.join("a.csv");
    std::fs::write(
        &csv,
        format!(
            "hotel_id;group_id;photo_url;title\nA1;hotel-a;{};Lobby\nA1;hotel-a;{};Pool\n",
            url("p0.png"),
            url("p1.png")
        ),
    )
    .unwrap();
    let jsonl = dir.join("b.jsonl");
    std::fs::write(
        &jsonl,
        format!(
            "{}\n{}\n",
            serde_json::json!({"hotel": {"id": "B7", "group": "hotel-a"},
                "photos": [{"url": url("p0-small.jpg"), "title": "lobby"}, {"url": url("p2.png")}]}),
            serde_json::json!({"hotel": {"id": "B8", "group": "hotel-b"},
                "photos": [{"url": url("p3.png"), "title": "room"}]}),
        ),
    )
    .unwrap();
    let xml = dir.join("c.xml");
    std::fs::write(
        &xml,
        format!(
            "<feed>\n  <hotel id=\"C2\" group=\"hotel-b\">\n    <photo url=\"{}\"><title>Suite</title></photo>\n  </hotel>\n</feed>\n",
            url("p4.png")
        ),
    )
    .unwrap();
    vec![("a".into(), csv), ("b".into(), jsonl), ("c".into(), xml)]
}

/// `krait run -p ENV hotel-ingest run`.
fn krait_run_hotel_ingest(home: &Path, env: &Path) -> Command {
    let mut cmd = krait(home);
    cmd.arg("run")
        .arg("-p")
        .arg(env)
        .args(["hotel-ingest", "run"]);
    cmd
}

/// Runs `hotel-ingest run --json` over freshly generated partner feeds and checks the result.
fn run_pipeline(hotel_ingest: &mut Command, work: &Path) {
    let corpus = work.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let server = HttpServer::serve(&corpus);
    for (partner, feed) in sample_partners(&corpus, &server.url) {
        hotel_ingest
            .arg("--partner")
            .arg(format!("{partner}={}", feed.display()));
    }
    let out = work.join("out");
    let text = run_ok(
        hotel_ingest
            .arg("--state")
            .arg(work.join("state"))
            .arg("--out")
            .arg(&out)
            .arg("--json"),
    );
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["images_fetched"], 6, "{report:#}");
    assert_eq!(report["duplicate_groups"], 1, "{report:#}");
    let ranking = report["ranking"].as_object().unwrap();
    assert_eq!(
        ranking["hotel-a"].as_array().unwrap().len(),
        3,
        "{report:#}"
    );
    assert_eq!(
        ranking["hotel-b"].as_array().unwrap().len(),
        2,
        "{report:#}"
    );
    assert_eq!(report["files_generated"], 5 * 14, "{report:#}");
    let rendered = walkdir::WalkDir::new(&out)
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count();
    assert_eq!(rendered, 5 * 14);
}

#[test]
fn channel_holds_the_pinned_python_imgpipe_and_a_noarch_hotel_ingest() {
    let s = shipped();
    let (minor, version) = host_versions();
    let linux = repodata(&s.channel, "linux-64");
    let packages = linux["packages.conda"].as_object().unwrap();
    let python = packages
        .values()
        .find(|p| p["name"] == "python")
        .expect("python in linux-64");
    assert_eq!(python["version"], version.as_str());
    let (major, min) = minor.split_once('.').unwrap();
    let next = format!("{major}.{}", min.parse::<u32>().unwrap() + 1);
    let pin = format!("python >={version},<{next}.0a0");
    assert_eq!(python["run_exports"]["weak"][0], pin.as_str());
    assert!(packages.values().any(|p| p["name"] == "imgpipe"));
    let noarch = repodata(&s.channel, "noarch");
    let ingest = noarch["packages.conda"]
        .as_object()
        .unwrap()
        .values()
        .find(|p| p["name"] == "hotel-ingest")
        .expect("hotel-ingest in noarch");
    assert_eq!(ingest["noarch"], "python");
    let depends: Vec<&str> = ingest["depends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(depends.contains(&"imgpipe ==0.1.0"), "{depends:?}");
    assert!(depends.contains(&pin.as_str()), "{depends:?}");
}

#[test]
fn env_python_is_the_packaged_interpreter_and_the_pipeline_runs_in_it() {
    let s = shipped();
    let work = tempfile::tempdir().unwrap();
    let env = work.path().join("env");
    create_env(&env);
    let probe = run_ok(krait(&s.home).arg("run").arg("-p").arg(&env).args([
        "python",
        "-c",
        "import sys, platform, os; print(platform.python_version()); print(os.path.realpath(sys.prefix)); print(os.path.realpath(sys.executable))",
    ]));
    let lines: Vec<&str> = probe.lines().collect();
    let env_real = env.canonicalize().unwrap();
    assert_eq!(lines[0], host_versions().1);
    assert_eq!(Path::new(lines[1]), env_real);
    assert!(Path::new(lines[2]).starts_with(&env_real), "{probe}");
    let record = std::fs::read_dir(env.join("conda-meta"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("python-3"))
        .unwrap();
    assert_eq!(
        record,
        format!("python-{}-h0_0_cpython.json", host_versions().1)
    );

    run_pipeline(&mut krait_run_hotel_ingest(&s.home, &env), work.path());

    // A package built for another python minor cannot go into this env.
    let other = work.path().join("other-channel");
    common::fixtures::Package::new("needs-py399", "1.0", "py399_0", "noarch")
        .depends(&["python >=3.99,<3.100.0a0"])
        .write(&other, common::fixtures::Format::Conda);
    run_ok(krait(&s.home).arg("index").arg("-q").arg(&other));
    let err = run_err(
        krait(&s.home)
            .args(["install", "-y", "-p"])
            .arg(&env)
            .arg("-c")
            .arg(&s.channel)
            .arg("-c")
            .arg(&other)
            .args(["--override-channels", "needs-py399"]),
    );
    assert!(
        err.contains("needs-py399") && err.contains("python"),
        "the solver message names the package and python: {err}"
    );
}

#[test]
fn env_at_a_path_over_200_characters_runs_the_pipeline() {
    let s = shipped();
    let work = tempfile::tempdir().unwrap();
    let mut env = work.path().to_path_buf();
    while env.as_os_str().len() <= 200 {
        env.push("a-long-folder-name-for-relocation");
    }
    env.push("env");
    create_env(&env);
    run_pipeline(&mut krait_run_hotel_ingest(&s.home, &env), work.path());
}

#[test]
fn py_rattler_installs_hotel_ingest_from_the_channel_and_runs_it() {
    let s = shipped();
    let work = tempfile::tempdir().unwrap();
    let prefix = work.path().join("rattler-env");
    let url = url::Url::from_directory_path(&s.channel).unwrap();
    let installed = run_ok(
        peer_script("install.py")
            .arg(work.path().join("cache"))
            .arg(&prefix)
            .arg(url.as_str())
            .arg("hotel-ingest"),
    );
    assert!(
        installed.contains("imgpipe-0.1.0") && installed.contains("python-3"),
        "{installed}"
    );
    let path = format!(
        "{}:{}",
        prefix.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut hotel_ingest = Command::new(prefix.join("bin/hotel-ingest"));
    hotel_ingest.env("PATH", path).arg("run");
    run_pipeline(&mut hotel_ingest, work.path());
    let out = run(Command::new(prefix.join("bin/hotel-ingest")).arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hotel-ingest 0.1.0"
    );
}
