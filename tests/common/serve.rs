//! A `krait serve` process on 127.0.0.1 for the serve tests, and a small HTTP client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running `krait serve`; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub url: String,
}

impl Server {
    /// Starts the built binary on a free port and waits for its "serving ... on URL" line.
    pub fn start(home: &Path, channel: &Path, extra: &[&str]) -> Server {
        let mut cmd: Command = super::krait(home);
        cmd.arg("serve")
            .arg(channel)
            .args(["--addr", "127.0.0.1:0"])
            .args(extra)
            // The access log is tested by hand; here it would only flood the test output.
            .env("KRAIT_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("krait serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .rsplit_once(" on ")
            .map(|(_, url)| url.trim_end_matches('/').to_string())
            .unwrap_or_else(|| panic!("unexpected first line of krait serve: {line:?}"));
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a token file and returns its path.
pub fn token_file(dir: &Path, name: &str, token: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path
}

/// One HTTP response as the tests look at it.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request on a fresh runtime (the tests are synchronous).
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Reply {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // No transparent decompression: the tests check what the server sends.
        let client = reqwest::Client::builder().no_gzip().build().unwrap();
        let mut req = client.request(method.parse().unwrap(), url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let response = req.send().await.expect("request is answered");
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        }
    })
}

/// Every file of the channel with its content: to check that a refused upload changed nothing.
pub fn snapshot(channel: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(channel)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(channel).unwrap().to_path_buf(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// py-rattler's solve of `spec` against `channel_url` (linux-64 + noarch), with its cache in
/// `home`: the file names of the solution.
pub fn py_rattler_solve(home: &Path, channel_url: &str, spec: &str) -> Vec<String> {
    let out = super::run_ok(super::peer_script("solve.py").args([
        home.join("rattler-cache").to_str().unwrap(),
        "linux-64",
        channel_url,
        spec,
    ]));
    serde_json::from_str(out.trim()).unwrap()
}

/// The file names a repodata.json lists (both archive formats), sorted.
pub fn listed_files(repodata: &serde_json::Value) -> Vec<String> {
    let mut files: Vec<String> = ["packages", "packages.conda"]
        .iter()
        .flat_map(|key| repodata[key].as_object().cloned().unwrap_or_default())
        .map(|(file, _)| file)
        .collect();
    files.sort();
    files
}

/// The versions in `krait search --json` output, in its order (none for output that is not
/// JSON, as after an error).
pub fn found_versions(search_stdout: &[u8]) -> Vec<String> {
    let found: serde_json::Value = serde_json::from_slice(search_stdout).unwrap_or_default();
    found
        .as_object()
        .into_iter()
        .flat_map(|names| names.values())
        .flat_map(|records| records.as_array().cloned().unwrap_or_default())
        .map(|r| r["version"].as_str().unwrap().to_string())
        .collect()
}
