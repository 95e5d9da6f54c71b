//! The `imgpipe` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use imgpipe::blobstore::BlobStore;
use imgpipe::decode::{self, DecodeLimits};
use imgpipe::dedupe::DedupeOptions;
use imgpipe::dhash::{self, dhash_grey, to_pillow_grey};
use imgpipe::download::DownloadOptions;
use imgpipe::store::{OverrideKind, Store};
use imgpipe::{catalog, dedupe, download, eval, fingerprint, generate, prioritise, tiles};

#[derive(Parser)]
#[command(name = "imgpipe", version, about = "Hotel-image ingestion pipeline")]
struct Cli {
    /// State database (SQLite).
    #[arg(long, global = true, default_value = "imgpipe.db", env = "IMGPIPE_DB")]
    db: PathBuf,
    /// Content-addressed store of downloaded bodies.
    #[arg(
        long,
        global = true,
        default_value = "imgpipe-store",
        env = "IMGPIPE_STORE"
    )]
    store: PathBuf,
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
    /// Counts per stage and per failure reason.
    Status,
    /// Dedupe quality against a ground truth (JSON Lines from scripts/make-sample-partners).
    Eval {
        #[arg(long)]
        truth: PathBuf,
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
    /// Output folder: <out>/<hotel>/<image>/<config>.<ext>.
    #[arg(long, default_value = "imgpipe-out")]
    out: PathBuf,
    /// JSON list of configurations (default: the 14 built-in ones).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Rendering threads (default: all cores).
    #[arg(long = "generate-jobs")]
    generate_jobs: Option<usize>,
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
    match execute(&cli) {
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

fn execute(cli: &Cli) -> Result<ExitCode, Failure> {
    let hidden = cli.quiet || cli.json;
    let blobs = BlobStore::new(&cli.store);
    match &cli.command {
        Command::Hash {
            files,
            tiles,
            limits,
        } => return hash(cli, files, *tiles, limits.limits()),
        Command::Trigger { partner, catalog } => {
            let summary = trigger(&mut Store::open(&cli.db)?, partner, catalog)?;
            print(cli, json!(summary), || format!("{summary:?}"));
        }
        Command::Download(args) => {
            let summary = run_download(&mut Store::open(&cli.db)?, &blobs, args, hidden)?;
            print(cli, json!(summary), || format!("{summary:?}"));
        }
        Command::Fingerprint(args) => {
            let store = Store::open(&cli.db)?;
            let summary = fingerprint::run(
                &store,
                &blobs,
                args.limits.limits(),
                jobs(args.jobs),
                hidden,
            )?;
            print(cli, json!(summary), || format!("{summary:?}"));
        }
        Command::Dedupe(args) => {
            let summary = dedupe::run(&mut Store::open(&cli.db)?, &args.options(), hidden)?;
            print(cli, json!(summary), || format!("{summary:?}"));
        }
        Command::Prioritise => {
            let summary = prioritise::run(&mut Store::open(&cli.db)?, hidden)?;
            print(cli, json!(summary), || format!("{summary:?}"));
        }
        Command::Override {
            hotel,
            first,
            exclude,
        } => {
            let mut store = Store::open(&cli.db)?;
            let (image, kind) = match (first, exclude) {
                (Some(image), _) => (image, OverrideKind::First),
                (None, Some(image)) => (image, OverrideKind::Exclude),
                (None, None) => unreachable!("clap requires --first or --exclude"),
            };
            let sha256 = store.resolve_image(hotel, image)?;
            store.set_override(hotel, &sha256, kind)?;
            // The ranking is derived state: recompute it so the override shows at once.
            prioritise::run(&mut store, true)?;
            print(cli, json!({"hotel": hotel, "image": sha256}), || {
                format!("hotel {hotel}: override recorded for {sha256}")
            });
        }
        Command::DefaultConfigs => {
            println!(
                "{}",
                serde_json::to_string_pretty(&generate::default_configs())?
            );
        }
        Command::Ranking { hotel } => {
            let ranking = Store::open(&cli.db)?.hotel_ranking(hotel)?;
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
            let summary = run_generate(&Store::open(&cli.db)?, &blobs, args, None, hidden)?;
            print(cli, json!(summary), || format!("{summary:?}"));
        }
        Command::Run {
            catalogs,
            download,
            fingerprint: fingerprint_args,
            dedupe: dedupe_args,
            generate: generate_args,
        } => {
            let mut store = Store::open(&cli.db)?;
            let mut triggers = serde_json::Map::new();
            for (partner, file) in catalogs {
                triggers.insert(partner.clone(), json!(trigger(&mut store, partner, file)?));
            }
            let limits = fingerprint_args.limits.limits();
            let downloaded = run_download(&mut store, &blobs, download, hidden)?;
            let fingerprinted =
                fingerprint::run(&store, &blobs, limits, jobs(fingerprint_args.jobs), hidden)?;
            let deduped = dedupe::run(&mut store, &dedupe_args.options(), hidden)?;
            let prioritised = prioritise::run(&mut store, hidden)?;
            let generated = run_generate(&store, &blobs, generate_args, Some(limits), hidden)?;
            let summary = json!({
                "trigger": triggers,
                "download": downloaded,
                "fingerprint": fingerprinted,
                "dedupe": deduped,
                "prioritise": prioritised,
                "generate": generated,
            });
            print(cli, summary.clone(), || {
                format!(
                    "download {downloaded:?}\nfingerprint {fingerprinted:?}\ndedupe {deduped:?}\nprioritise {prioritised:?}\ngenerate {generated:?}"
                )
            });
        }
        Command::Status => {
            let status = Store::open(&cli.db)?.status()?;
            print(cli, json!(status), || {
                serde_json::to_string_pretty(&status).expect("status serialises")
            });
        }
        Command::Eval { truth } => {
            let report = eval::evaluate(&Store::open(&cli.db)?, &eval::read_truth(truth)?)?;
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

fn trigger(
    store: &mut Store,
    partner: &str,
    file: &Path,
) -> Result<imgpipe::store::TriggerSummary, Failure> {
    let catalog = catalog::read(file)?;
    for problem in &catalog.problems {
        eprintln!(
            "warning: {}:{}: {} (line skipped)",
            problem.file, problem.line, problem.message
        );
    }
    Ok(store.trigger(
        partner,
        &file.display().to_string(),
        &catalog.entries,
        &catalog.problems,
    )?)
}

fn run_download(
    store: &mut Store,
    blobs: &BlobStore,
    args: &DownloadArgs,
    hidden: bool,
) -> Result<download::DownloadSummary, Failure> {
    blobs.sweep()?;
    if args.retry_failed {
        store.requeue_failed_downloads()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(download::run(store, blobs, &args.options(), hidden))?)
}

fn run_generate(
    store: &Store,
    blobs: &BlobStore,
    args: &GenerateArgs,
    limits: Option<DecodeLimits>,
    hidden: bool,
) -> Result<generate::GenerateSummary, Failure> {
    let configs = match &args.config {
        Some(path) => generate::load_configs(path)?,
        None => generate::default_configs(),
    };
    let summary = generate::run(
        store,
        blobs,
        &args.out,
        &configs,
        limits.unwrap_or_default(),
        jobs(args.generate_jobs),
        hidden,
    )?;
    Ok(summary)
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
