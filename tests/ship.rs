//! The product as shipped: `recipe/` (python built from source, its C libraries, imgpipe,
//! hotel-ingest) built by krait into `channels/local` (`scripts/build-channel`, once per run
//! and only what changed), an environment created from it, and the pipeline run in it over
//! partner feeds in the three formats hotel-ingest reads, served on 127.0.0.1; and the same
//! environment copied into a root filesystem that holds glibc and nothing else, where python,
//! hotel-ingest and imgpipe still run.

mod common;

use common::shipped::{local_channel, python_version};
use common::{krait, peer_python, peer_script, run, run_err, run_ok, HttpServer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `major.minor` of a version.
fn minor_of(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

struct Shipped {
    channel: PathBuf,
    home: PathBuf,
}

/// The channel, and an isolated krait home (package cache) shared by the tests of this file.
fn shipped() -> &'static Shipped {
    static SHIPPED: OnceLock<Shipped> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ship-home");
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        Shipped {
            channel: local_channel().to_path_buf(),
            home,
        }
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
    let version = python_version();
    let minor = minor_of(&version);
    // The minor version hotel-ingest pins (its recipe's pin_compatible), from source.
    assert_eq!(minor, "3.11");
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
    // Its C libraries come in through their run_exports, and glibc through its symbols.
    let depends = depends_of(python);
    for expected in [
        "bzip2 >=1.0.8,<2.0a0",
        "libffi >=3.4.4,<3.5.0a0",
        "libsqlite >=3.40.1,<4.0a0",
        "libzlib >=1.2.13,<2.0a0",
        "openssl >=3.0.22,<4.0a0",
        "xz >=5.4.1,<6.0a0",
    ] {
        assert!(depends.contains(&expected), "{expected} in {depends:?}");
    }
    assert_needs_a_recent_glibc(&depends);
    let imgpipe = packages
        .values()
        .find(|p| p["name"] == "imgpipe")
        .expect("imgpipe in linux-64");
    let imgpipe_depends = depends_of(imgpipe);
    assert_eq!(imgpipe_depends.len(), 1, "{imgpipe_depends:?}");
    assert_needs_a_recent_glibc(&imgpipe_depends);
    let noarch = repodata(&s.channel, "noarch");
    let ingest = noarch["packages.conda"]
        .as_object()
        .unwrap()
        .values()
        .find(|p| p["name"] == "hotel-ingest")
        .expect("hotel-ingest in noarch");
    assert_eq!(ingest["noarch"], "python");
    let depends = depends_of(ingest);
    assert!(depends.contains(&"imgpipe ==0.1.0"), "{depends:?}");
    assert!(depends.contains(&pin.as_str()), "{depends:?}");
}

/// The `depends` of a repodata record.
fn depends_of(record: &serde_json::Value) -> Vec<&str> {
    record["depends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect()
}

/// Built with this machine's glibc (2.36), a binary needs `__libc_start_main@GLIBC_2.34` at
/// least: the package's `__glibc >=2.x` from its symbols says so.
fn assert_needs_a_recent_glibc(depends: &[&str]) {
    let glibc = depends
        .iter()
        .find_map(|d| d.strip_prefix("__glibc >=2."))
        .unwrap_or_else(|| panic!("no __glibc in {depends:?}"));
    assert!(glibc.parse::<u32>().unwrap() >= 34, "{depends:?}");
}

#[test]
fn building_the_channel_again_builds_nothing_unchanged() {
    let s = shipped();
    let archives = || -> Vec<(PathBuf, std::time::SystemTime)> {
        let mut found: Vec<_> = walkdir::WalkDir::new(&s.channel)
            .max_depth(2)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.path().to_string_lossy().ends_with(".conda"))
            .map(|e| {
                (
                    e.path().to_path_buf(),
                    e.metadata().unwrap().modified().unwrap(),
                )
            })
            .collect();
        found.sort();
        found
    };
    let before = archives();
    assert!(before.len() >= 11, "{before:?}");
    let out = run_ok(
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-channel"))
            .env("KRAIT", env!("CARGO_BIN_EXE_krait"))
            .env("KRAIT_HOME", common::shipped::build_home()),
    );
    for recipe in ["python", "openssl", "sqlite", "imgpipe", "hotel-ingest"] {
        assert!(
            out.contains(&format!("recipe/{recipe} is up to date")),
            "{out}"
        );
    }
    assert!(out.contains("channels/local is up to date"), "{out}");
    assert_eq!(archives(), before);
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
    assert_eq!(lines[0], python_version());
    assert_eq!(Path::new(lines[1]), env_real);
    assert!(Path::new(lines[2]).starts_with(&env_real), "{probe}");
    let record = std::fs::read_dir(env.join("conda-meta"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("python-3"))
        .unwrap();
    assert_eq!(
        record,
        format!("python-{}-h0_0_cpython.json", python_version())
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

/// glibc's libraries, the only files of the build machine the portable root filesystem gets.
const GLIBC_FILES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
];

/// Where this machine's loader has a glibc library.
fn system_library(name: &str) -> PathBuf {
    [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib64",
        "/usr/lib64",
    ]
    .iter()
    .map(|dir| Path::new(dir).join(name))
    .find(|p| p.exists())
    .unwrap_or_else(|| panic!("{name} not found in the system library folders"))
}

/// /proc mounted at a folder for as long as the value lives.
struct MountedProc(PathBuf);

impl MountedProc {
    fn new(at: &Path) -> MountedProc {
        std::fs::create_dir_all(at).unwrap();
        run_ok(Command::new("mount").args(["-t", "proc", "proc"]).arg(at));
        MountedProc(at.to_path_buf())
    }
}

impl Drop for MountedProc {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Runs `command` (a path inside `root`) chrooted into `root`, with a bare environment.
fn in_chroot(root: &Path, env: &Path, command: &[&str]) -> std::process::Output {
    // The child's PATH is the environment's: name chroot by its place (coreutils, in sbin).
    let chroot = ["/usr/sbin/chroot", "/sbin/chroot", "/usr/bin/chroot"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chroot (coreutils)");
    let mut cmd = Command::new(chroot);
    cmd.arg(root)
        .args(command)
        .env_clear()
        .env("PATH", env.join("bin"))
        .env("HOME", "/tmp")
        .env("LANG", "C.UTF-8");
    run(&mut cmd)
}

/// Tiny PNGs written with the environment's own python (zlib, struct) inside the chroot:
/// photos a and b, and a copy of a that is a little brighter.
const DRAW_PNGS: &str = r#"
import struct, sys, zlib
def png(path, pixel):
    w, h = 64, 48
    raw = b"".join(b"\0" + b"".join(bytes(pixel(x, y)) for x in range(w)) for y in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
a = lambda x, y: (x * 4, ((x // 16 + y // 16) % 2) * 200, y * 5)
png(sys.argv[1] + "/a.png", a)
png(sys.argv[1] + "/b.png", lambda x, y: (255 - y * 5, x * x % 256, ((x // 8) % 2) * 255))
png(sys.argv[1] + "/a-bright.png", lambda x, y: tuple(min(255, c + 10) for c in a(x, y)))
"#;

#[test]
fn the_environment_runs_in_a_root_filesystem_holding_only_glibc() {
    let work = tempfile::tempdir().unwrap();
    let env = work.path().join("env");
    create_env(&env);

    // ldd of every ELF file finds every library outside glibc inside the environment.
    let mut checked = 0;
    for entry in walkdir::WalkDir::new(&env) {
        let entry = entry.unwrap();
        let is_elf = entry.file_type().is_file()
            && std::fs::read(entry.path()).is_ok_and(|d| d.starts_with(b"\x7fELF"));
        if !is_elf {
            continue;
        }
        let out = Command::new("ldd").arg(entry.path()).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines().filter(|l| l.contains("=>")) {
            let (library, found) = line.trim().split_once(" => ").unwrap();
            let glibc = GLIBC_FILES.iter().any(|g| library.trim() == *g);
            assert!(
                glibc || found.starts_with(&env.display().to_string()),
                "{}: {library} resolves to {found}, outside the environment",
                entry.path().display()
            );
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} ELF files in the environment");

    let uid = run_ok(Command::new("id").arg("-u"));
    if uid.trim() != "0" {
        eprintln!(
            "SKIPPED: the chroot part of this test needs root (uid {}); scripts/test runs as root",
            uid.trim()
        );
        return;
    }
    // The root filesystem: glibc's libraries where the loader looks, the environment at the
    // same path as outside (its files hold that prefix), and a /tmp.
    let root = work.path().join("root");
    for name in GLIBC_FILES {
        let dir = if name.starts_with("ld-linux") {
            "lib64"
        } else {
            "lib/x86_64-linux-gnu"
        };
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::copy(system_library(name), root.join(dir).join(name)).unwrap();
    }
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    let inside = root.join(env.strip_prefix("/").unwrap());
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    run_ok(Command::new("cp").arg("-a").arg(&env).arg(&inside));
    let lib_files: Vec<String> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.path().starts_with(&inside) && e.file_type().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(lib_files.len(), GLIBC_FILES.len(), "{lib_files:?}");
    // The loader resolves `$ORIGIN` (the environment's RPATHs) through /proc/self/exe, as on
    // any running Linux system.
    let _proc = MountedProc::new(&root.join("proc"));

    let python = env.join("bin/python");
    let python = python.to_str().unwrap();
    let out = in_chroot(
        &root,
        &env,
        &[
            python,
            "-c",
            "import ssl, sqlite3, lzma, bz2, zlib, ctypes, hashlib, decimal, json; \
             ssl.create_default_context(); print(ssl.OPENSSL_VERSION, sqlite3.sqlite_version)",
        ],
    );
    assert!(out.status.success(), "python in the chroot failed");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("OpenSSL 3.0.22"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let hotel_ingest = env.join("bin/hotel-ingest");
    let out = in_chroot(&root, &env, &[hotel_ingest.to_str().unwrap(), "--help"]);
    assert!(
        out.status.success(),
        "hotel-ingest --help in the chroot failed"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("usage"));

    // A one-hotel imgpipe run on photos inside the chroot.
    let photos = root.join("tmp/photos");
    std::fs::create_dir_all(&photos).unwrap();
    let out = in_chroot(&root, &env, &[python, "-c", DRAW_PNGS, "/tmp/photos"]);
    assert!(out.status.success(), "drawing the photos failed");
    let catalog: String = ["a", "b", "a-bright"]
        .iter()
        .map(|p| format!("H1,hotel-1,file:///tmp/photos/{p}.png,{p}\n"))
        .collect();
    std::fs::write(
        photos.join("partner.csv"),
        format!("partner_hotel_id,hotel_group_id,image_url,caption\n{catalog}"),
    )
    .unwrap();
    let imgpipe = env.join("bin/imgpipe");
    let imgpipe = imgpipe.to_str().unwrap();
    let state = ["--db", "/tmp/state.db", "--store", "/tmp/store"];
    let mut run_args = vec![imgpipe, "--quiet"];
    run_args.extend(state);
    run_args.extend([
        "run",
        "--allow-file-urls",
        "--catalog",
        "partner=/tmp/photos/partner.csv",
        "--out",
        "/tmp/out",
    ]);
    assert!(
        in_chroot(&root, &env, &run_args).status.success(),
        "imgpipe run in the chroot failed"
    );
    let out = in_chroot(
        &root,
        &env,
        &[imgpipe, "--db", "/tmp/state.db", "--json", "status"],
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            &status["images"]["done"],
            &status["duplicate_groups"],
            &status["ranked"],
            &status["outputs"]
        ),
        (
            &serde_json::json!(3),
            &serde_json::json!(1),
            &serde_json::json!(2),
            &serde_json::json!(28)
        ),
        "{status:#}"
    );
    let rendered = walkdir::WalkDir::new(root.join("tmp/out"))
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count();
    assert_eq!(rendered, 2 * 14);
}
