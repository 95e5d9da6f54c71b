//! imgpipe as a fleet: worker processes on one PostgreSQL database and one S3 bucket (both
//! real, started by the tests), over a generated corpus served by several hosts on 127.0.0.1.
//! Workers are killed with SIGKILL and restarted while they work; the result must equal one
//! `imgpipe run` on SQLite and local folders, and no URL may be fetched twice except after a
//! lost lease.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::engines::{self, Postgres, S3};
use common::{imgpipe, ok, settled, tree, Engine, Server, State};
use image::{ImageFormat, Rgb, RgbImage};
use imgpipe::storage::Storage;
use imgpipe::store::Store;

/// A small deterministic generator (xorshift), so corpora repeat exactly.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A 96×72 picture: a gradient in a random direction and a few discs of random colours.
fn picture(seed: u64) -> RgbImage {
    let mut random = Random::new(seed);
    let base = [
        random.below(200) as f32,
        random.below(200) as f32,
        random.below(200) as f32,
    ];
    let (dx, dy) = (random.below(5) as f32 - 2.0, random.below(5) as f32 - 2.0);
    let discs: Vec<(f32, f32, f32, [u8; 3])> = (0..4)
        .map(|_| {
            (
                random.below(96) as f32,
                random.below(72) as f32,
                6.0 + random.below(18) as f32,
                [
                    random.below(256) as u8,
                    random.below(256) as u8,
                    random.below(256) as u8,
                ],
            )
        })
        .collect();
    RgbImage::from_fn(96, 72, |x, y| {
        let (x, y) = (x as f32, y as f32);
        for (cx, cy, r, colour) in &discs {
            if (x - cx).powi(2) + (y - cy).powi(2) < r * r {
                return Rgb(*colour);
            }
        }
        let shade = dx * x + dy * y;
        Rgb(base.map(|b| (b + shade).clamp(0.0, 255.0) as u8))
    })
}

fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut bytes), format)
        .expect("encode");
    bytes
}

/// Writes `groups` hotel groups of 3 pictures, each sent by 3 partners (the original PNG, a
/// JPEG re-encode, a 2/3 rescale), spread over the hosts: 9 URLs per group. Returns the catalog
/// files (partner, path).
pub fn make_corpus(root: &Path, servers: &[Server], groups: usize) -> Vec<(String, PathBuf)> {
    let partners = ["alpha", "beta", "gamma"];
    let mut catalogs: Vec<String> = partners
        .iter()
        .map(|_| "partner_hotel_id,hotel_group_id,image_url,caption\n".to_owned())
        .collect();
    for group in 0..groups {
        for picture_index in 0..3 {
            let original = picture((group * 3 + picture_index) as u64);
            for (p, partner) in partners.iter().enumerate() {
                let (name, bytes) = match p {
                    0 => ("png", encode(&original, ImageFormat::Png)),
                    1 => ("jpg", encode(&original, ImageFormat::Jpeg)),
                    _ => {
                        let small =
                            image::imageops::resize(&original, 64, 48, image::imageops::Triangle);
                        ("png", encode(&small, ImageFormat::Png))
                    }
                };
                let relative = format!("g{group:04}/{partner}-{picture_index}.{name}");
                let path = root.join("images").join(&relative);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, bytes).unwrap();
                let server = &servers[(group + p + picture_index) % servers.len()];
                catalogs[p] += &format!(
                    "{partner}-h{group},g{group:04},{}/images/{relative},picture {picture_index}\n",
                    server.base_url
                );
            }
        }
    }
    partners
        .iter()
        .zip(catalogs)
        .map(|(partner, text)| {
            let path = root.join(format!("{partner}.csv"));
            std::fs::write(&path, text).unwrap();
            (partner.to_string(), path)
        })
        .collect()
}

/// Two small output configurations, to keep rendering cheap.
fn configs(dir: &Path) -> PathBuf {
    let path = dir.join("configs.json");
    std::fs::write(
        &path,
        r#"[{"name": "thumb", "width": 48, "height": 36, "mode": "crop", "format": "jpeg", "quality": 80},
            {"name": "icon", "width": 16, "height": 16, "mode": "fit", "format": "png"}]"#,
    )
    .unwrap();
    path
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn engines_or_skip() -> Option<(&'static Postgres, &'static S3)> {
    let Some(postgres) = engines::postgres() else {
        engines::unavailable("PostgreSQL (initdb under /usr/lib/postgresql) is not installed");
        return None;
    };
    let Some(s3) = engines::s3() else {
        engines::unavailable("moto_server is not in the test venv (KRAIT_TEST_VENV)");
        return None;
    };
    Some((postgres, s3))
}

struct Fleet<'a> {
    db: String,
    store: String,
    out: String,
    configs: PathBuf,
    s3: &'a S3,
}

impl Fleet<'_> {
    fn imgpipe(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_imgpipe"));
        command
            .args(["--db", &self.db, "--store", &self.store, "--quiet"])
            .envs(self.s3.env());
        command
    }

    fn worker(&self) -> Child {
        self.imgpipe()
            .args([
                "--lease-secs",
                "3",
                "--poll-ms",
                "200",
                "worker",
                "--jobs",
                "1",
            ])
            .args([
                "--concurrency",
                "16",
                "--per-host",
                "4",
                "--out",
                &self.out,
                "--config",
            ])
            .arg(&self.configs)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a worker")
    }

    fn status(&self) -> serde_json::Value {
        let output = ok(self.imgpipe().args(["status", "--json"]));
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: kill(2) on a child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap()
}

#[test]
fn four_workers_killed_at_random_equal_one_sqlite_run() {
    let Some((postgres, s3)) = engines_or_skip() else {
        return;
    };
    // For this process's own reads of the bucket (object_store reads AWS_*), set while no
    // other thread runs.
    for (name, value) in s3.env() {
        std::env::set_var(name, value);
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let servers: Vec<Server> = (0..4)
        .map(|_| Server::start(&corpus, Duration::from_millis(3)))
        .collect();
    let catalogs = make_corpus(&corpus, &servers, 224);
    let configs = configs(dir.path());
    let urls = catalogs.len() * 224 * 3;
    assert!(urls >= 2000);

    // One process on SQLite and local folders.
    let reference = State::new(Engine::Sqlite, &dir.path().join("reference")).unwrap();
    let reference_out = dir.path().join("reference-out");
    let mut run = imgpipe(&reference);
    run.arg("run");
    for (partner, file) in &catalogs {
        run.arg("--catalog")
            .arg(format!("{partner}={}", file.display()));
    }
    ok(run
        .arg("--out")
        .arg(&reference_out)
        .arg("--config")
        .arg(&configs));
    let single = started.elapsed();
    let fetched_once: usize = servers.iter().map(Server::request_count).sum();
    assert_eq!(fetched_once, urls);
    for server in &servers {
        server.fetches.lock().unwrap().clear();
    }

    // Four workers on PostgreSQL and S3, one killed every second or two.
    let bucket = s3.bucket();
    let fleet = Fleet {
        db: postgres.database(),
        store: format!("s3://{bucket}/store"),
        out: format!("s3://{bucket}/out"),
        configs,
        s3,
    };
    for (partner, file) in &catalogs {
        ok(fleet
            .imgpipe()
            .args(["trigger", "--partner", partner, "--catalog"])
            .arg(file));
    }
    let fleet_started = Instant::now();
    let mut workers: Vec<Child> = (0..4).map(|_| fleet.worker()).collect();
    let mut random = Random::new(14);
    let mut kills = 0;
    let mut next_kill = Instant::now() + Duration::from_millis(800);
    let mut calm_checks = 0;
    loop {
        assert!(
            fleet_started.elapsed() < Duration::from_secs(240),
            "the fleet did not finish: {:#}",
            fleet.status()
        );
        std::thread::sleep(Duration::from_millis(300));
        if Instant::now() >= next_kill && calm_checks == 0 {
            let victim = random.below(4) as usize;
            workers[victim].kill().unwrap(); // SIGKILL: no cleanup runs
            workers[victim].wait().unwrap();
            workers[victim] = fleet.worker();
            kills += 1;
            next_kill = Instant::now() + Duration::from_millis(1000 + random.below(1500));
        }
        let status = fleet.status();
        let finished = status["stages"]["download"]["done"].as_u64().unwrap()
            + status["stages"]["download"]["failed"]
                .as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap())
                .sum::<u64>();
        if finished == urls as u64 && settled(&status) {
            calm_checks += 1;
            if calm_checks == 2 {
                break;
            }
        } else {
            calm_checks = 0;
        }
    }
    let fleet_time = fleet_started.elapsed();
    for worker in &mut workers {
        let status = terminate(worker);
        assert!(status.success(), "a worker ended with {status} on SIGTERM");
    }
    assert!(kills >= 2, "only {kills} kills: the corpus is too small");

    // Same results: duplicate links, rankings, output digests; same bytes in the stores.
    let runtime = runtime();
    let (reference_results, fleet_results, reclaimed) = runtime.block_on(async {
        let reference_store = Store::open(&reference.db).await.unwrap();
        let fleet_store = Store::open(&fleet.db).await.unwrap();
        (
            reference_store.results().await.unwrap(),
            fleet_store.results().await.unwrap(),
            fleet_store.reclaimed_urls().await.unwrap(),
        )
    });
    for (what, rows) in &reference_results {
        assert!(!rows.is_empty(), "the reference run has no {what}");
        assert!(
            fleet_results[what] == *rows,
            "{what} differ between the fleet and the single run"
        );
    }
    let compare = |local: &Path, remote: &str| {
        let files = tree(local);
        assert!(!files.is_empty());
        let storage = Storage::open(remote).unwrap();
        for (key, bytes) in &files {
            let object = runtime.block_on(async {
                storage
                    .get(key)
                    .await
                    .unwrap_or_else(|e| panic!("{remote}/{key}: {e}"))
            });
            assert!(&object[..] == bytes.as_slice(), "{remote}/{key} differs");
        }
        files.len()
    };
    let outputs = compare(&reference_out, &fleet.out);
    let blobs = compare(&reference.store(), &fleet.store);

    // Every URL fetched once, except after a lost lease.
    let mut refetched = BTreeMap::new();
    for server in &servers {
        for (path, count) in server.fetches.lock().unwrap().iter() {
            if *count > 1 {
                refetched.insert(format!("{}/images/{path}", server.base_url), *count);
            }
        }
    }
    for url in refetched.keys() {
        assert!(
            reclaimed.contains(url),
            "{url} was fetched {} times without losing its lease",
            refetched[url]
        );
    }
    let total: usize = servers.iter().map(Server::request_count).sum::<usize>() - fetched_once;
    eprintln!(
        "fleet: {urls} URLs, {blobs} blobs, {outputs} outputs; one process on SQLite {:.1} s, \
         4 workers on PostgreSQL + S3 {:.1} s with {kills} kill -9; {} URLs refetched after a \
         lost lease ({} URLs reclaimed, {total} fetches for {urls} URLs)",
        single.as_secs_f64(),
        fleet_time.as_secs_f64(),
        refetched.len(),
        reclaimed.len()
    );
}
