//! What a second worker and a big catalog must not break: two downloaders on one store (the
//! temp-file sweep), per-host limits without head-of-line blocking (and held over the fleet),
//! bounded memory for a million-line trigger and a 100,000-row download/fingerprint pass.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{imgpipe, json, ok, settled, Engine, Server, State};
use image::{ImageFormat, Rgb, RgbImage};

/// The tests here time and measure processes: one at a time, so they do not share the cores.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn png(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        let v = x
            .wrapping_mul(2654435761)
            .wrapping_add(y.wrapping_mul(40503))
            ^ seed.wrapping_mul(0x9E37_79B9);
        Rgb([(v >> 3) as u8, (v >> 11) as u8, (v >> 19) as u8])
    });
    let mut bytes = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)
        .unwrap();
    bytes
}

/// Writes a catalog of `urls` for one hotel group per 10 URLs; returns its path.
fn catalog(dir: &Path, name: &str, urls: impl Iterator<Item = String>) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "partner_hotel_id,hotel_group_id,image_url,caption").unwrap();
    for (i, url) in urls.enumerate() {
        writeln!(file, "h{},g{},{url},", i / 10, i / 10).unwrap();
    }
    file.flush().unwrap();
    path
}

fn trigger(state: &State, catalog: &Path) {
    ok(imgpipe(state)
        .args(["trigger", "--partner", "p", "--catalog"])
        .arg(catalog));
}

#[test]
fn two_downloaders_on_one_store_both_succeed_and_sweep_only_stale_temporaries() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(corpus.join("images")).unwrap();
    for i in 0..240 {
        std::fs::write(corpus.join(format!("images/{i}.png")), png(200, 150, i)).unwrap();
    }
    let server = Server::start(&corpus, Duration::from_millis(15));
    let state = State::new(Engine::Sqlite, &dir.path().join("state")).unwrap();
    let urls = (0..240).map(|i| format!("{}/images/{i}.png", server.base_url));
    trigger(&state, &catalog(dir.path(), "p.csv", urls));
    // A writer's temporary in progress (just written) and one a killed writer left long ago.
    let folder = state.store().join("ab");
    std::fs::create_dir_all(&folder).unwrap();
    let (fresh, stale) = (
        folder.join(".imgpipe-tmp-fresh"),
        folder.join(".imgpipe-tmp-stale"),
    );
    std::fs::write(&fresh, b"in progress").unwrap();
    std::fs::write(&stale, b"left behind").unwrap();
    let touched = Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&stale)
        .status()
        .unwrap();
    assert!(touched.success());

    let first = imgpipe(&state)
        .args(["download", "--per-host", "8", "--concurrency", "8"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while server.request_count() < 40 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // While the first downloader holds leases: a temporary as one of its writes in progress
    // would leave (younger than its leases), and one a killed writer left long ago.
    let folder = state.store().join("ab");
    std::fs::create_dir_all(&folder).unwrap();
    let (fresh, stale) = (
        folder.join(".imgpipe-tmp-fresh"),
        folder.join(".imgpipe-tmp-stale"),
    );
    std::fs::write(&fresh, b"in progress").unwrap();
    std::fs::write(&stale, b"left behind").unwrap();
    let touched = Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&stale)
        .status()
        .unwrap();
    assert!(touched.success());
    let second = imgpipe(&state)
        .args(["download", "--per-host", "8", "--concurrency", "8"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let status = json(imgpipe(&state).arg("status"));
    assert_eq!(status["downloads"]["done"], 240, "{status:#}");
    assert!(status["download_failures"].as_object().unwrap().is_empty());
    assert!(
        fresh.exists(),
        "a temporary younger than the live leases was swept"
    );
    assert!(!stale.exists(), "a temporary older than any lease was left");
    assert_eq!(server.request_count(), 240, "a URL was fetched twice");
}

/// 4 hosts × 60 URLs at 100 ms each, listed host by host, two downloaders with `--per-host 4`:
/// the hosts see the download take about the latency they served ÷ (hosts × per-host), not a
/// host at a time, and never more than 4 requests in flight each.
///
/// Both sides of the ratio are measured at the servers, so a busy machine does not fail it:
/// the span runs from the first request's arrival to the last one's end (process start-up and
/// migrations are outside it), and the ideal is the latency actually served (a late timer
/// stretches both). Head-of-line blocking (a host at a time) would make the span about 4x the
/// ideal; what remains is the gap between one fetch ending and the next claim.
fn head_of_line(engine: Engine) {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let Some(state) = State::new(engine, &dir.path().join("state")) else {
        return;
    };
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(corpus.join("images")).unwrap();
    std::fs::write(corpus.join("images/a.png"), png(8, 8, 1)).unwrap();
    let delay = Duration::from_millis(100);
    let (hosts, per_host, per_host_urls) = (4, 4, 60);
    let servers: Vec<Server> = (0..hosts).map(|_| Server::start(&corpus, delay)).collect();
    let urls = servers.iter().flat_map(|server| {
        (0..per_host_urls).map(move |i| format!("{}/images/a.png?n={i}", server.base_url))
    });
    trigger(&state, &catalog(dir.path(), "p.csv", urls));
    // Two downloaders share the hosts' limits.
    let children: Vec<_> = (0..2)
        .map(|_| {
            imgpipe(&state)
                .args(["download", "--per-host", &per_host.to_string()])
                .args(["--concurrency", "32"])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let served: Vec<(Instant, Instant)> = servers.iter().flat_map(Server::served).collect();
    assert_eq!(
        served.len(),
        hosts * per_host_urls,
        "a URL was fetched twice"
    );
    let first = served.iter().map(|(arrived, _)| *arrived).min().unwrap();
    let last = served.iter().map(|(_, ended)| *ended).max().unwrap();
    let span = last - first;
    let latency: Duration = served
        .iter()
        .map(|(arrived, ended)| *ended - *arrived)
        .sum();
    let ideal = latency / (hosts * per_host) as u32;
    let peaks: Vec<usize> = servers
        .iter()
        .map(|s| s.peak.load(std::sync::atomic::Ordering::SeqCst))
        .collect();
    eprintln!(
        "{engine:?}: {} URLs over {hosts} hosts in {:.2} s as the hosts saw it, ideal {:.2} s \
         ({:.2}x; mean latency served {:.0} ms); peak per host {peaks:?}",
        served.len(),
        span.as_secs_f64(),
        ideal.as_secs_f64(),
        span.as_secs_f64() / ideal.as_secs_f64(),
        latency.as_secs_f64() * 1000.0 / served.len() as f64,
    );
    for peak in peaks {
        assert!(
            peak <= per_host,
            "a host had {peak} requests in flight over --per-host {per_host}"
        );
    }
    assert!(
        span.as_secs_f64() <= ideal.as_secs_f64() * 1.5,
        "{span:?} is over 1.5x the ideal {ideal:?}"
    );
    let status = json(imgpipe(&state).arg("status"));
    assert_eq!(
        status["downloads"]["done"],
        hosts * per_host_urls,
        "{status:#}"
    );
}

#[test]
fn head_of_line_sqlite() {
    head_of_line(Engine::Sqlite);
}

#[test]
fn head_of_line_postgres() {
    head_of_line(Engine::Postgres);
}

/// Runs a command to its end; returns its peak resident memory in MiB (wait4's ru_maxrss).
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also reads its rusage"
)]
fn peak_rss_mib(command: &mut Command) -> f64 {
    let child = command.stdout(Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed"
    );
    usage.ru_maxrss as f64 / 1024.0
}

/// Memory must not grow with the row count: a 10x larger input may cost a little more (page
/// caches, a larger SQLite file mapped), not 10x.
fn assert_bounded(what: &str, small: f64, large: f64) {
    eprintln!("{what}: peak RSS {small:.1} MiB, 10x the rows {large:.1} MiB");
    assert!(
        large <= small * 1.25 + 8.0,
        "{what}: peak RSS grew from {small:.1} MiB to {large:.1} MiB with 10x the rows"
    );
}

#[test]
fn trigger_of_a_million_lines_runs_in_bounded_memory() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut peaks = Vec::new();
    for lines in [100_000, 1_000_000] {
        let state = State::new(Engine::Sqlite, &dir.path().join(format!("s{lines}"))).unwrap();
        let urls = (0..lines).map(|i| format!("http://127.0.0.1:9/images/{i}.jpg"));
        let file = catalog(dir.path(), &format!("c{lines}.csv"), urls);
        let start = Instant::now();
        let peak = peak_rss_mib(
            imgpipe(&state)
                .args(["trigger", "--partner", "p", "--catalog"])
                .arg(&file),
        );
        eprintln!(
            "trigger of {lines} lines: {:.1} s",
            start.elapsed().as_secs_f64()
        );
        let status = json(imgpipe(&state).arg("status"));
        assert_eq!(status["downloads"]["queued"], lines, "{status:#}");
        peaks.push(peak);
        std::fs::remove_file(&file).unwrap();
    }
    assert_bounded("trigger", peaks[0], peaks[1]);
}

#[test]
fn download_and_fingerprint_of_100k_rows_run_in_bounded_memory() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(corpus.join("images")).unwrap();
    for i in 0..100 {
        std::fs::write(corpus.join(format!("images/{i}.png")), png(32, 24, i)).unwrap();
    }
    let server = Server::start(&corpus, Duration::ZERO);
    let mut download_peaks = Vec::new();
    let mut fingerprint_peaks = Vec::new();
    for rows in [10_000, 100_000] {
        let state = State::new(Engine::Sqlite, &dir.path().join(format!("s{rows}"))).unwrap();
        let base = server.base_url.clone();
        let urls = (0..rows).map(move |i| format!("{base}/images/{}.png?n={i}", i % 100));
        trigger(&state, &catalog(dir.path(), &format!("c{rows}.csv"), urls));
        let start = Instant::now();
        download_peaks.push(peak_rss_mib(imgpipe(&state).args([
            "download",
            "--per-host",
            "64",
            "--concurrency",
            "64",
        ])));
        fingerprint_peaks.push(peak_rss_mib(imgpipe(&state).arg("fingerprint")));
        eprintln!(
            "download + fingerprint of {rows} rows: {:.1} s",
            start.elapsed().as_secs_f64()
        );
        let status = json(imgpipe(&state).arg("status"));
        assert_eq!(status["downloads"]["done"], rows, "{status:#}");
        assert_eq!(status["images"]["done"], 100, "{status:#}");
    }
    assert_bounded("download", download_peaks[0], download_peaks[1]);
    assert_bounded("fingerprint", fingerprint_peaks[0], fingerprint_peaks[1]);
}

/// A GET on 127.0.0.1 without a client library: the body of `http://address/path`.
fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A worker serves until SIGTERM (then exits 0), exposes Prometheus metrics, and `status`
/// shows failures by reason and the recent rate. Dedupe and prioritise wait for a group's
/// downloads and redo only groups whose inputs changed.
#[test]
fn worker_metrics_status_and_group_changes() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(corpus.join("images")).unwrap();
    for i in 0..30 {
        std::fs::write(corpus.join(format!("images/{i}.png")), png(48, 36, i)).unwrap();
    }
    let server = Server::start(&corpus, Duration::from_millis(20));
    let state = State::new(Engine::Sqlite, &dir.path().join("state")).unwrap();
    // 3 groups of 10; two URLs of group 0 are missing (404).
    let urls = (0..30).map(|i| {
        let name = if i < 2 {
            format!("missing-{i}")
        } else {
            i.to_string()
        };
        format!("{}/images/{name}.png", server.base_url)
    });
    let catalog_file = catalog(dir.path(), "p.csv", urls);
    trigger(&state, &catalog_file);
    // Nothing is downloaded yet: no group is ready.
    let early = json(imgpipe(&state).arg("dedupe"));
    assert_eq!(early["hotel_groups"], 0, "{early:#}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let out = dir.path().join("out");
    let mut worker = imgpipe(&state)
        .args([
            "--poll-ms",
            "100",
            "worker",
            "--metrics-addr",
            &metrics,
            "--out",
        ])
        .arg(&out)
        .args(["--retries", "0"])
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut status = serde_json::Value::Null;
    let status = loop {
        if start.elapsed() > Duration::from_secs(60) {
            worker.kill().unwrap();
            worker.wait().unwrap();
            panic!("the worker did not finish: {status:#}");
        }
        std::thread::sleep(Duration::from_millis(100));
        status = json(imgpipe(&state).arg("status"));
        // Every URL finished and no stage holds work: the group stages ran after the last
        // download and the rendering followed the whole ranking.
        let download = &status["stages"]["download"];
        let finished = download["done"].as_u64().unwrap()
            + download["failed"]["http-404"].as_u64().unwrap_or(0);
        if finished == 30
            && settled(&status)
            && status["ranked"].as_u64().unwrap() > 0
            && status["stages"]["generate"]["done"] == status["ranked"]
        {
            break status;
        }
    };
    let download = &status["stages"]["download"];
    assert_eq!(download["failed"]["http-404"], 2, "{status:#}");
    assert_eq!(download["done"], 28, "{status:#}");
    assert!(
        download["rate_per_second"].as_f64().unwrap() > 0.0,
        "{status:#}"
    );
    let scraped = http_get(&metrics, "/metrics");
    assert!(
        scraped.contains("imgpipe_items_total{stage=\"download\",outcome=\"stored\"} 28"),
        "{scraped}"
    );

    // SIGTERM: the worker finishes what it holds and exits 0.
    // SAFETY: kill(2) on our child's pid.
    unsafe { libc::kill(worker.id() as i32, libc::SIGTERM) };
    assert!(worker.wait().unwrap().success());

    // A caption edit in group 2 is the only change: its URL is checked again (a conditional
    // GET), and only group 2 is deduped and ranked again.
    let text = std::fs::read_to_string(&catalog_file).unwrap();
    let edited = text.replace("/images/25.png,", "/images/25.png,terrace");
    std::fs::write(&catalog_file, edited).unwrap();
    trigger(&state, &catalog_file);
    let waiting = json(imgpipe(&state).arg("dedupe"));
    assert_eq!(
        waiting["hotel_groups"], 0,
        "group 2 waits for its download: {waiting:#}"
    );
    let requests = server.request_count();
    let downloaded = json(imgpipe(&state).arg("download"));
    assert_eq!(server.request_count(), requests + 1, "{downloaded:#}");
    ok(imgpipe(&state).arg("fingerprint"));
    let deduped = json(imgpipe(&state).arg("dedupe"));
    let ranked = json(imgpipe(&state).arg("prioritise"));
    assert_eq!(deduped["hotel_groups"], 1, "{deduped:#}");
    assert_eq!(ranked["hotel_groups"], 1, "{ranked:#}");
    let again = json(imgpipe(&state).arg("dedupe"));
    assert_eq!(again["hotel_groups"], 0, "{again:#}");
}
