//! `krait copy SPEC --from-label dev --to-label main -c (URL | DIR)`: promote packages between
//! labels of a channel (on the server when the channel is a URL).

use crate::cli::args::TokenArgs;
use crate::cli::GlobalArgs;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The packages to copy, as a match spec (e.g. "mypkg ==1.2").
    spec: String,
    /// The channel: a `krait serve` URL (http://host:port/<channel>/), a channel folder or
    /// an S3 channel (s3://bucket/channel).
    #[arg(short = 'c', long, value_name = "URL|DIR|S3")]
    channel: String,
    /// The label to copy from.
    #[arg(long)]
    from_label: String,
    /// The label to copy to (`main`: the channel itself).
    #[arg(long, default_value = "main")]
    to_label: String,
    #[command(flatten)]
    token: TokenArgs,
    /// Replace archives that are in the target label with other content.
    #[arg(long)]
    force: bool,
    /// Print a JSON list of what was copied.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let uploader = args.token.uploader(&args.channel, args.force)?;
    let runtime = crate::cli::runtime()?;
    let copied = uploader.copy(&runtime, &args.spec, &args.from_label, &args.to_label)?;
    if args.json {
        println!("{}", serde_json::json!({ "copied": copied }));
    } else if !global.quiet {
        for target in &copied {
            println!(
                "copied {target} from {} to {}",
                args.from_label, args.to_label
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
