//! The `imgpipe` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use imgpipe::blobstore::BlobStore;
use imgpipe::decode::{self, DecodeLimits};
use imgpipe::dedupe::DedupeOptions;
use imgpipe::dhash::{self, dhash_grey, to_pillow_grey};
use imgpipe::download::DownloadOptions;
use imgpipe::storage::Storage;
use imgpipe::store::{OverrideKind, Stage, Store};
use imgpipe::worker::{Context, Mode};
use imgpipe::{catalog, dedupe, download, eval, fingerprint, generate, prioritise, tiles};

#[derive(Parser)]
#[command(name = "imgpipe", version, about = "Hotel-image ingestion pipeline")]
struct Cli {
    /// State database: a SQLite file, or postgres://USER@HOST/DB for a fleet of workers.
    #[arg(long, global = true, default_value = "imgpipe.db", env = "IMGPIPE_DB")]
    db: String,
    /// Content-addressed store of downloaded bodies: a folder, or s3://BUCKET/PREFIX.
    #[arg(
        long,
        global = true,
        default_value = "imgpipe-store",
        env = "IMGPIPE_STORE"
    )]
    store: String,
    /// Seconds a claimed item stays leased without renewal (renewed every third of it); a
    /// worker that dies loses its items to others after this.
    #[arg(
        long,
        global = true,
        default_value_t = 30.0,
        env = "IMGPIPE_LEASE_SECS"
    )]
    lease_secs: f64,
    /// Milliseconds between looks for work when there is none (PostgreSQL also wakes
    /// workers with NOTIFY).
    #[arg(long, global = true, default_value_t = 1000, env = "IMGPIPE_POLL_MS")]
    poll_ms: u64,
    /// No progress bars, only errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Machine-readable output (implies no progress bars).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print each file's dHash as 16 hex digits, as ImageHash prints it.
    Hash {
        files: Vec<PathBuf>,
        /// Also print the tile hashes (frame and windows).
        #[arg(long)]
        tiles: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Read a partner's catalog, queue new and changed URLs, mark missing ones removed.
    Trigger {
        #[arg(long)]
        partner: String,
        /// CSV (with header) or JSON Lines (*.jsonl).
        #[arg(long)]
        catalog: PathBuf,
    },
    /// Fetch queued URLs into the store.
    Download(DownloadArgs),
    /// Decode stored images and record their hashes and quality features.
    Fingerprint(FingerprintArgs),
    /// Group duplicates within each hotel group and pick canonical images.
    Dedupe(DedupeArgs),
    /// Score and order each hotel's canonical images.
    Prioritise,
    /// Serve stages until SIGTERM: claim work in batches under leases, sleep (or wait for a
    /// PostgreSQL NOTIFY) when there is none. Any number of workers share one --db and --store.
    Worker(WorkerArgs),
    /// Queue failed items of a stage again (all, or those failed for --reason).
    Retry {
        #[arg(long)]
        stage: Stage,
        /// Only items that failed for this reason (as `status` lists them).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Set a partner host's fleet-wide limit of requests in flight (otherwise each worker's
    /// --per-host applies). HOST is scheme://host:port, as `status` shows it.
    HostLimit {
        #[arg(long)]
        host: String,
        /// Requests in flight to this host over the whole fleet.
        #[arg(long)]
        max_inflight: u32,
    },
    /// Pin an image first or exclude it from a hotel, over the score.
    Override {
        #[arg(long)]
        hotel: String,
        /// Image URL from the hotel's catalog, or a sha256 prefix.
        #[arg(long, conflicts_with = "exclude", required_unless_present = "exclude")]
        first: Option<String>,
        #[arg(long)]
        exclude: Option<String>,
    },
    /// Print the 14 default output configurations as JSON, a starting point for --config.
    DefaultConfigs,
    /// Show a hotel's kept images in order, with the URLs each stands for.
    Ranking {
        #[arg(long)]
        hotel: String,
    },
    /// Render every kept image in each configuration.
    Generate(GenerateArgs),
    /// All stages in order: trigger (for each --catalog), download, fingerprint, dedupe,
    /// prioritise, generate.
    Run {
        /// PARTNER=FILE, repeatable.
        #[arg(long = "catalog", value_parser = parse_partner_catalog)]
        catalogs: Vec<(String, PathBuf)>,
        #[command(flatten)]
        download: DownloadArgs,
        #[command(flatten)]
        fingerprint: FingerprintArgs,
        #[command(flatten)]
        dedupe: DedupeArgs,
        #[command(flatten)]
        generate: GenerateArgs,
    },
    /// Counts per stage: queued, leased (by whom, since when), done, failed by reason, and
    /// the rate over the last minute.
    Status,
    /// Serve the review desk: hotels list, hotel pages (ranked thumbnails, score breakdown,
    /// duplicate sets) and actions (pin first, exclude, move, split, merge; each undoable)
    /// stored as overrides every later dedupe and prioritise run applies.
    Review {
        /// Address to listen on (port 0: any free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8440")]
        addr: std::net::SocketAddr,
        /// One `TOKEN ROLE [NAME]` per line, ROLE `reviewer` (read only) or `editor`.
        #[arg(long, env = "IMGPIPE_REVIEW_TOKENS")]
        token_file: PathBuf,
    },
    /// Dedupe quality against a ground truth (JSON Lines from scripts/make-sample-partners).
    Eval {
        #[arg(long)]
        truth: PathBuf,
        /// Also write the report as a page with plots (precision/recall per transform, distance
        /// distributions of true and false pairs).
        #[arg(long)]
        html: Option<PathBuf>,
        /// The whole-image threshold dedupe ran with, marked on the distance plot.
        #[arg(long, default_value_t = DedupeOptions::default().whole)]
        whole_threshold: u32,
    },
}

#[derive(Args, Clone)]
struct LimitArgs {
    /// Refuse images wider or taller than this (decompression bombs).
    #[arg(long, default_value_t = decode::DEFAULT_MAX_SIDE)]
    max_side: u32,
    /// Refuse images with more pixels than this.
    #[arg(long, default_value_t = decode::DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
}

impl LimitArgs {
    fn limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_side: self.max_side,
            max_pixels: self.max_pixels,
        }
    }
}

#[derive(Args, Clone)]
struct DownloadArgs {
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 4)]
    per_host: usize,
    /// Seconds for a whole request.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// First retry delay in milliseconds, doubled per attempt.
    #[arg(long, default_value_t = 500)]
    backoff_ms: u64,
    #[arg(long, default_value_t = 50 * 1024 * 1024)]
    max_bytes: u64,
    /// Queue failed downloads again first.
    #[arg(long)]
    retry_failed: bool,
    /// Read file:// URLs in catalogs (refused by default: catalogs come from partners).
    #[arg(long)]
    allow_file_urls: bool,
}

impl DownloadArgs {
    fn options(&self) -> DownloadOptions {
        DownloadOptions {
            concurrency: self.concurrency,
            per_host: self.per_host,
            timeout: Duration::from_secs_f64(self.timeout),
            retries: self.retries,
            backoff: Duration::from_millis(self.backoff_ms),
            max_bytes: self.max_bytes,
            allow_file_urls: self.allow_file_urls,
        }
    }
}

#[derive(Args, Clone)]
struct FingerprintArgs {
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args, Clone)]
struct DedupeArgs {
    /// Whole-image dHash distance for a match.
    #[arg(long, default_value_t = DedupeOptions::default().whole)]
    whole_threshold: u32,
    /// Frame-to-window tile distance for a match.
    #[arg(long, default_value_t = DedupeOptions::default().tile)]
    tile_threshold: u32,
}

impl DedupeArgs {
    fn options(&self) -> DedupeOptions {
        DedupeOptions {
            whole: self.whole_threshold,
            tile: self.tile_threshold,
            ..DedupeOptions::default()
        }
    }
}

#[derive(Args, Clone)]
struct GenerateArgs {
    /// Output folder or s3://BUCKET/PREFIX: <out>/<hotel>/<image>/<config>.<ext>.
    #[arg(long, default_value = "imgpipe-out", env = "IMGPIPE_OUT")]
    out: String,
    /// JSON list of configurations (default: the 14 built-in ones).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Rendering threads (default: all cores).
    #[arg(long = "generate-jobs")]
    generate_jobs: Option<usize>,
}

#[derive(Args, Clone)]
struct WorkerArgs {
    /// Stages to serve, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "download,fingerprint,dedupe,prioritise,generate"
    )]
    stages: Vec<Stage>,
    /// Serve Prometheus metrics at this address (e.g. 0.0.0.0:9464).
    #[arg(long)]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Exit once every served stage has no work left (for batch jobs and tests).
    #[arg(long)]
    exit_when_idle: bool,
    #[command(flatten)]
    download: DownloadArgs,
    #[command(flatten)]
    fingerprint: FingerprintArgs,
    #[command(flatten)]
    dedupe: DedupeArgs,
    #[command(flatten)]
    generate: GenerateArgs,
}

fn parse_partner_catalog(text: &str) -> Result<(String, PathBuf), String> {
    let (partner, file) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected PARTNER=FILE"))?;
    Ok((partner.to_owned(), PathBuf::from(file)))
}

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.quiet { "error" } else { "warn" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .without_time()
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(execute(&cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn jobs(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn print(cli: &Cli, value: serde_json::Value, text: impl FnOnce() -> String) {
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("JSON values serialise")
        );
    } else if !cli.quiet {
        println!("{}", text());
    }
}

/// A stage summary with the database statements (round trips) this process sent, for
/// measuring per-item database cost (`scripts/bench-imgpipe`).
fn with_statements(context: &Context, summary: impl serde::Serialize) -> serde_json::Value {
    let mut value = json!(summary);
    if let Some(object) = value.as_object_mut() {
        object.insert("statements".to_owned(), json!(context.store.statements()));
    }
    value
}

/// The state database, the body store and this process's lease identity.
async fn context(cli: &Cli, mode: Mode) -> Result<Context, Failure> {
    let store = Arc::new(Store::open(&cli.db).await?);
    let blobs = BlobStore::new(Storage::open(&cli.store)?);
    let context = Context::new(
        store,
        blobs,
        Duration::from_secs_f64(cli.lease_secs.max(0.3)),
        Duration::from_millis(cli.poll_ms.max(1)),
        mode,
        cli.quiet || cli.json,
    );
    context.recover_dead_local_workers().await?;
    Ok(context)
}

async fn execute(cli: &Cli) -> Result<ExitCode, Failure> {
    match &cli.command {
        Command::Hash {
            files,
            tiles,
            limits,
        } => return hash(cli, files, *tiles, limits.limits()),
        Command::Trigger { partner, catalog } => {
            let store = Store::open(&cli.db).await?;
            let summary = trigger(&store, partner, catalog).await?;
            print(cli, json!(summary), || format!("{summary:?}"));
        }
        Command::Download(args) => {
            let context = context(cli, Mode::Drain).await?;
            let _heartbeat = context.heartbeat();
            let summary = run_download(&context, args).await?;
            print(cli, with_statements(&context, &summary), || {
                format!("{summary:?}")
            });
        }
        Command::Fingerprint(args) => {
            let context = context(cli, Mode::Drain).await?;
            let _heartbeat = context.heartbeat();
            let summary = fingerprint::run(&context, args.limits.limits(), jobs(args.jobs)).await?;
            print(cli, with_statements(&context, &summary), || {
                format!("{summary:?}")
            });
        }
        Command::Dedupe(args) => {
            let context = context(cli, Mode::Drain).await?;
            let _heartbeat = context.heartbeat();
            let summary = dedupe::run(&context, &args.options(), jobs(None)).await?;
            print(cli, with_statements(&context, &summary), || {
                format!("{summary:?}")
            });
        }
        Command::Prioritise => {
            let context = context(cli, Mode::Drain).await?;
            let _heartbeat = context.heartbeat();
            let summary = prioritise::run(&context, jobs(None)).await?;
            print(cli, with_statements(&context, &summary), || {
                format!("{summary:?}")
            });
        }
        Command::Override {
            hotel,
            first,
            exclude,
        } => {
            let context = context(cli, Mode::Drain).await?;
            let (image, kind) = match (first, exclude) {
                (Some(image), _) => (image, OverrideKind::First),
                (None, Some(image)) => (image, OverrideKind::Exclude),
                (None, None) => unreachable!("clap requires --first or --exclude"),
            };
            let sha256 = context.store.resolve_image(hotel, image).await?;
            context.store.set_override(hotel, &sha256, kind).await?;
            // The group is marked changed; dedupe and rank it now so the override shows at once.
            let _heartbeat = context.heartbeat();
            dedupe::run(&context, &DedupeOptions::default(), 1).await?;
            prioritise::run(&context, 1).await?;
            print(cli, json!({"hotel": hotel, "image": sha256}), || {
                format!("hotel {hotel}: override recorded for {sha256}")
            });
        }
        Command::Review { addr, token_file } => {
            let store = Arc::new(Store::open(&cli.db).await?);
            let blobs = BlobStore::new(Storage::open(&cli.store)?);
            imgpipe::review::run(store, blobs, token_file, *addr).await?;
        }
        Command::DefaultConfigs => {
            println!(
                "{}",
                serde_json::to_string_pretty(&generate::default_configs())?
            );
        }
        Command::Ranking { hotel } => {
            let ranking = Store::open(&cli.db).await?.hotel_ranking(hotel).await?;
            print(cli, json!(ranking), || {
                ranking
                    .iter()
                    .map(|row| {
                        format!(
                            "{:>3} {} {:.3} {}",
                            row.rank,
                            &row.image[..16],
                            row.score,
                            row.urls.join(" ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Generate(args) => {
            let context = context(cli, Mode::Drain).await?;
            let _heartbeat = context.heartbeat();
            let summary = run_generate(&context, args, None).await?;
            print(cli, with_statements(&context, &summary), || {
                format!("{summary:?}")
            });
        }
        Command::Run {
            catalogs,
            download,
            fingerprint: fingerprint_args,
            dedupe: dedupe_args,
            generate: generate_args,
        } => {
            let context = context(cli, Mode::Drain).await?;
            let _heartbeat = context.heartbeat();
            let mut triggers = serde_json::Map::new();
            for (partner, file) in catalogs {
                triggers.insert(
                    partner.clone(),
                    json!(trigger(&context.store, partner, file).await?),
                );
            }
            let limits = fingerprint_args.limits.limits();
            let downloaded = run_download(&context, download).await?;
            let fingerprinted =
                fingerprint::run(&context, limits, jobs(fingerprint_args.jobs)).await?;
            let deduped = dedupe::run(
                &context,
                &dedupe_args.options(),
                jobs(fingerprint_args.jobs),
            )
            .await?;
            let prioritised = prioritise::run(&context, jobs(fingerprint_args.jobs)).await?;
            let generated = run_generate(&context, generate_args, Some(limits)).await?;
            let summary = json!({
                "trigger": triggers,
                "download": downloaded,
                "fingerprint": fingerprinted,
                "dedupe": deduped,
                "prioritise": prioritised,
                "generate": generated,
                "statements": context.store.statements(),
            });
            print(cli, summary.clone(), || {
                format!(
                    "download {downloaded:?}\nfingerprint {fingerprinted:?}\ndedupe {deduped:?}\nprioritise {prioritised:?}\ngenerate {generated:?}"
                )
            });
        }
        Command::Worker(args) => {
            let mode = if args.exit_when_idle {
                Mode::DrainPipeline
            } else {
                Mode::Serve
            };
            let context = context(cli, mode).await?;
            let (summary, failed) = run_worker(&context, args).await?;
            print(cli, summary.clone(), || summary.to_string());
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Retry { stage, reason } => {
            let store = Store::open(&cli.db).await?;
            let requeued = store.retry_failed(*stage, reason.as_deref()).await?;
            print(cli, json!({"stage": stage, "requeued": requeued}), || {
                format!("{}: {requeued} failed item(s) queued again", stage.name())
            });
        }
        Command::HostLimit { host, max_inflight } => {
            let store = Store::open(&cli.db).await?;
            store.set_host_limit(host, i64::from(*max_inflight)).await?;
            print(
                cli,
                json!({"host": host, "max_inflight": max_inflight}),
                || format!("{host}: at most {max_inflight} request(s) in flight over the fleet"),
            );
        }
        Command::Status => {
            let status = Store::open(&cli.db).await?.status().await?;
            print(cli, json!(status), || status_text(&status));
        }
        Command::Eval {
            truth,
            html,
            whole_threshold,
        } => {
            let store = Store::open(&cli.db).await?;
            let report = eval::evaluate(&store, &eval::read_truth(truth)?).await?;
            if let Some(html) = html {
                let page = imgpipe::eval_html::page(&report, *whole_threshold);
                imgpipe::atomic::write(html, page.as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", html.display()))?;
            }
            print(cli, json!(report), || {
                let mut text = format!(
                    "{:<16} {:>9} {:>7} {:>5} {:>5} {:>5}\n",
                    "pairs", "precision", "recall", "tp", "fp", "fn"
                );
                let row = |name: &str, c: &eval::Counts| {
                    format!(
                        "{name:<16} {:>9.4} {:>7.4} {:>5} {:>5} {:>5}\n",
                        c.precision, c.recall, c.true_positive, c.false_positive, c.false_negative
                    )
                };
                text += &row("all", &report.overall);
                for (name, counts) in &report.per_transform {
                    text += &row(name, counts);
                }
                text + &format!(
                    "evaluated {} URLs ({} missing); over-merged groups: {}",
                    report.evaluated,
                    report.missing,
                    report.over_merged_groups.len()
                )
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `status` for people: a line per stage, then the counts.
fn status_text(status: &imgpipe::store::Status) -> String {
    let mut text = String::new();
    for (stage, s) in &status.stages {
        let failed: Vec<String> = s.failed.iter().map(|(r, n)| format!("{r}={n}")).collect();
        text += &format!(
            "{:<11} queued {:>7}  done {:>7}  failed {:>5} {}  {:.1}/s\n",
            stage.name(),
            s.queued,
            s.done,
            s.failed.values().sum::<u64>(),
            if failed.is_empty() {
                String::new()
            } else {
                format!("({})", failed.join(", "))
            },
            s.rate_per_second
        );
        for lease in &s.leased {
            text += &format!(
                "            leased {:>5} by {} since {} ms\n",
                lease.items, lease.owner, lease.since_ms
            );
        }
    }
    text + &format!(
        "catalog entries {:?}, {} catalog errors\nduplicate groups {}, duplicates {}, ranked {}, excluded {}, outputs {}",
        status.catalog_entries,
        status.catalog_errors.len(),
        status.duplicate_groups,
        status.duplicates,
        status.ranked,
        status.excluded,
        status.outputs
    )
}

async fn trigger(
    store: &Store,
    partner: &str,
    file: &Path,
) -> Result<imgpipe::store::TriggerSummary, Failure> {
    let items = catalog::stream(file)?.inspect(|item| {
        if let Err(problem) = item {
            eprintln!(
                "warning: {}:{}: {} (line skipped)",
                problem.file, problem.line, problem.message
            );
        }
    });
    Ok(store
        .trigger(
            partner,
            &file.display().to_string(),
            items,
            download::host_key,
        )
        .await?)
}

async fn run_download(
    context: &Context,
    args: &DownloadArgs,
) -> Result<download::DownloadSummary, Failure> {
    context.sweep(context.blobs.storage()).await?;
    if args.retry_failed {
        context.store.retry_failed(Stage::Download, None).await?;
    }
    Ok(download::run(context, &args.options()).await?)
}

fn load_configs(args: &GenerateArgs) -> Result<Vec<generate::OutputConfig>, Failure> {
    Ok(match &args.config {
        Some(path) => generate::load_configs(path)?,
        None => generate::default_configs(),
    })
}

async fn run_generate(
    context: &Context,
    args: &GenerateArgs,
    limits: Option<DecodeLimits>,
) -> Result<generate::GenerateSummary, Failure> {
    let configs = load_configs(args)?;
    let out = Storage::open(&args.out)?;
    context.sweep(&out).await?;
    Ok(generate::run(
        context,
        &out,
        &configs,
        limits.unwrap_or_default(),
        jobs(args.generate_jobs),
    )
    .await?)
}

/// `imgpipe worker`: every requested stage's loop at once, until SIGTERM (or SIGINT): then no
/// new claims, the items in hand are finished, leases given back, exit 0.
async fn run_worker(
    context: &Context,
    args: &WorkerArgs,
) -> Result<(serde_json::Value, bool), Failure> {
    if let Some(address) = args.metrics_addr {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&[0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])?
            .with_http_listener(address)
            .install()?;
    }
    context.sweep(context.blobs.storage()).await?;
    let out = Storage::open(&args.generate.out)?;
    context.sweep(&out).await?;
    let configs = load_configs(&args.generate)?;
    let _heartbeat = context.heartbeat();
    let _listener = context.listen(&args.stages).await?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stopper = context.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        stopper.stop();
    });
    let limits = args.fingerprint.limits.limits();
    let jobs = jobs(args.fingerprint.jobs);
    let mut loops = tokio::task::JoinSet::new();
    for stage in &args.stages {
        let (context, stage) = (context.clone(), *stage);
        let (download, dedupe) = (args.download.options(), args.dedupe.options());
        let (out, configs) = (out.clone(), configs.clone());
        let generate_jobs = args.generate.generate_jobs.unwrap_or(jobs);
        loops.spawn(Store::in_stage(stage, async move {
            let summary = match stage {
                Stage::Download => json!(download::run(&context, &download).await?),
                Stage::Fingerprint => json!(fingerprint::run(&context, limits, jobs).await?),
                Stage::Dedupe => json!(dedupe::run(&context, &dedupe, jobs).await?),
                Stage::Prioritise => json!(prioritise::run(&context, jobs).await?),
                Stage::Generate => {
                    json!(generate::run(&context, &out, &configs, limits, generate_jobs).await?)
                }
            };
            context.stage_ended(stage);
            Ok::<_, imgpipe::worker::StageError>((stage, summary))
        }));
    }
    let mut summary = serde_json::Map::new();
    let mut failure = None;
    while let Some(done) = loops.join_next().await {
        match done? {
            Ok((stage, stage_summary)) => {
                summary.insert(stage.name().to_owned(), stage_summary);
            }
            Err(error) => {
                // One stage failing stops the others: finish what they hold, then report.
                eprintln!("error: {error}");
                context.stop();
                failure = Some(error);
            }
        }
    }
    context
        .store
        .release(std::slice::from_ref(&context.owner))
        .await?;
    summary.insert("statements".to_owned(), json!(context.store.statements()));
    summary.insert(
        "statements_by_stage".to_owned(),
        json!(context.store.statements_by_stage()),
    );
    Ok((serde_json::Value::Object(summary), failure.is_some()))
}

fn hash(
    cli: &Cli,
    files: &[PathBuf],
    with_tiles: bool,
    limits: DecodeLimits,
) -> Result<ExitCode, Failure> {
    let mut results = Vec::new();
    let mut failed = false;
    for file in files {
        let outcome = std::fs::read(file)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                decode::decode_reduced(&bytes, limits, dhash::MIN_DECODE_SIDE)
                    .map_err(|e| e.to_string())
            });
        match outcome {
            Ok(decoded) => {
                let grey = to_pillow_grey(&decoded.image);
                let dhash = dhash_grey(&grey);
                let tiles = with_tiles.then(|| tiles::tiles(&grey));
                if cli.json {
                    let mut entry = json!({"file": file, "dhash": dhash.to_string()});
                    if let Some(tiles) = &tiles {
                        entry["tiles"] = json!({
                            "frame": tiles.frame.map(|h| h.to_string()),
                            "windows": tiles.windows.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        });
                    }
                    results.push(entry);
                } else {
                    println!("{dhash}  {}", file.display());
                    if let Some(tiles) = tiles {
                        let frame = tiles.frame.map_or("-".to_owned(), |h| h.to_string());
                        let windows: Vec<String> =
                            tiles.windows.iter().map(ToString::to_string).collect();
                        println!("  frame {frame}\n  windows {}", windows.join(" "));
                    }
                }
            }
            Err(error) => {
                failed = true;
                eprintln!("error: {}: {error}", file.display());
                if cli.json {
                    results.push(json!({"file": file, "error": error}));
                }
            }
        }
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
