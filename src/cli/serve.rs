//! `krait serve ROOT`: serve a channel folder (or a folder of channels) over HTTP, with optional
//! tokens and uploads.

use crate::channel::serve::{self, read_token_file, ServeOptions};
use crate::channel::serve_limits::Limits;
use crate::channel::serve_tls::TlsFiles;
use crate::channel::serve_tokens::{hash_token, Tokens};
use crate::cli::GlobalArgs;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// What `krait serve --help` adds after the options.
const PROTOCOL: &str = "\
Channels: ROOT is one channel, or, when it holds folders and none is a subdir (noarch,
linux-64, ...), a folder of channels, each served at /<channel>/. Labels as anaconda.org has
them: /<channel>/label/<label>/ is the folder <channel>/label/<label>/; 'main' is the channel.
Every path below is relative to a channel (and label).

Downloads: <subdir>/repodata.json (+ .zst, gzip on request), channeldata.json and archives,
with ETag, Last-Modified, conditional requests and Range; all but archives with
'Cache-Control: public, max-age=0, must-revalidate'. Tokens go in the URL as conda does
(http://host:port/t/<token>/) or as 'Authorization: Bearer <token>'.

Uploads: PUT /api/upload/<subdir>/<file name>[?force=true] with the archive as body, the write
token, and optionally 'X-Content-Sha256: <hex>' (krait upload --to URL does this). Answers:
201 stored and indexed; 400 bad path, truncated body or sha256 mismatch; 401 no or unknown
token; 403 read token, or uploads disabled; 409 exists; 413 too large; 422 not a valid package
for that file name and subdir; 503 too many connections (--max-connections).

Deletions: DELETE /<subdir>/<file name> with the write token (krait upload --remove does
this): the repodata entry goes, then the file. Promotions: POST /api/copy with the write
token and {\"spec\": \"pkg ==1.0\", \"from_label\": \"dev\", \"to_label\": \"main\"} (krait copy).

Scoped tokens (--tokens-file, next to or instead of the two token files), TOML:
  public_channels = [\"ops\"]               # readable without a token (\"*\": all)
  [[tokens]]
  name = \"ci\"                             # who, in the audit log
  hash = \"hmac-sha256:...\"                # echo TOKEN | krait serve --hash-token
  expires = \"2027-01-01T00:00:00Z\"        # optional
  scopes = { team = [\"write\", \"delete\"], \"*\" = [\"read\"] }
Any scope in a channel lets a token read it. With a tokens file, channels not listed as
public need a token to be read. A single-channel ROOT's channel name is its folder name.
Every write is appended to the audit log (--audit-log) as JSON: time, who, action, channel,
label, what.

Slow clients: a request head must arrive within --header-timeout seconds (also the longest a
keep-alive connection may sit idle), and an upload body that stops arriving or a download the
client stops reading for --idle-timeout seconds ends the connection.";

#[derive(Debug, clap::Args)]
#[command(after_long_help = PROTOCOL)]
pub struct Args {
    /// The channel folder (holding linux-64/, noarch/, ...) or a folder of channel folders;
    /// indexed at start, labels included.
    #[arg(required_unless_present = "hash_token")]
    channel: Option<PathBuf>,
    /// Print the line to store in a tokens file for the token read from stdin, and exit.
    #[arg(long)]
    hash_token: bool,
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// File whose first line is the token every read needs (default: reads are open).
    #[arg(long, value_name = "FILE")]
    read_token_file: Option<PathBuf>,
    /// File whose first line is the token uploads need (default: uploads are refused).
    #[arg(long, value_name = "FILE")]
    write_token_file: Option<PathBuf>,
    /// Scoped tokens: a TOML (or .yaml) file of hashed tokens with per-channel scopes (read,
    /// write, delete) and optional expiry; see below.
    #[arg(long, value_name = "FILE")]
    tokens_file: Option<PathBuf>,
    /// Where every upload, copy and deletion is logged as a JSON line (who, what, when)
    /// [default: ROOT/.krait-audit.jsonl].
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Largest accepted upload, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    max_upload_mib: u64,
    /// Serve HTTPS with this PEM certificate chain (clients trust it through their system
    /// roots, or `.condarc` `ssl_verify: <this file>` when it is self-signed).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Connections served at once; past it a new connection is answered 503.
    #[arg(long, default_value_t = Limits::default().max_connections, value_name = "N")]
    max_connections: usize,
    /// Seconds a client has to send a request head (and an idle keep-alive connection its
    /// next one) before the connection is closed.
    #[arg(long, default_value_t = Limits::default().header_timeout.as_secs_f64(), value_name = "SECS")]
    header_timeout: f64,
    /// Seconds an upload body may stop arriving, or a download stop being read, before the
    /// connection is closed.
    #[arg(long, default_value_t = Limits::default().idle_timeout.as_secs_f64(), value_name = "SECS")]
    idle_timeout: f64,
}

fn seconds(flag: &str, value: f64) -> miette::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| miette::miette!("{flag} must be a positive number of seconds, not {value}"))
}

pub fn run(args: Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let Some(channel) = args.channel.filter(|_| !args.hash_token) else {
        let mut token = String::new();
        std::io::stdin()
            .read_line(&mut token)
            .map_err(|e| miette::miette!("cannot read the token from stdin: {e}"))?;
        let token = token.trim();
        if token.is_empty() {
            miette::bail!("--hash-token reads the token from stdin, and it was empty");
        }
        println!("{}", hash_token(token));
        return Ok(ExitCode::SUCCESS);
    };
    let options = ServeOptions {
        channel,
        addr: args.addr,
        read_token: args
            .read_token_file
            .as_deref()
            .map(read_token_file)
            .transpose()?,
        write_token: args
            .write_token_file
            .as_deref()
            .map(read_token_file)
            .transpose()?,
        tokens: args.tokens_file.as_deref().map(Tokens::load).transpose()?,
        audit_log: args.audit_log,
        max_upload_bytes: args.max_upload_mib.saturating_mul(1024 * 1024),
        tls: args
            .tls_cert
            .zip(args.tls_key)
            .map(|(cert, key)| TlsFiles { cert, key }),
        limits: Limits {
            max_connections: args.max_connections.max(1),
            header_timeout: seconds("--header-timeout", args.header_timeout)?,
            idle_timeout: seconds("--idle-timeout", args.idle_timeout)?,
        },
    };
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let quiet = global.quiet;
    let channel = options.channel.display().to_string();
    let runtime = crate::cli::runtime()?;
    runtime.block_on(serve::serve(options, |addr| {
        // The one line scripts (and tests) read to learn the port.
        if !quiet {
            println!("serving {channel} on {scheme}://{addr}/");
            let _ = std::io::stdout().flush();
        }
    }))?;
    Ok(ExitCode::SUCCESS)
}
