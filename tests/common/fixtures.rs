//! Real conda package archives for tests and the demo, written with `rattler_package_streaming`.

use rattler_conda_types::compression_level::CompressionLevel;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Conda,
    TarBz2,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Conda => ".conda",
            Format::TarBz2 => ".tar.bz2",
        }
    }
}

/// What goes into one package.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub build: String,
    pub build_number: u64,
    pub subdir: String,
    pub depends: Vec<String>,
    pub constrains: Vec<String>,
    pub license: String,
    /// Files of the package payload: path relative to the prefix, contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// Files (among `files`) holding a prefix placeholder: path, placeholder, `text`/`binary`.
    pub placeholders: Vec<(String, String, &'static str)>,
    /// Files (among `files`) to mark executable.
    pub executables: Vec<String>,
    /// Symbolic links: path, target.
    pub symlinks: Vec<(String, String)>,
    /// `noarch` kind (`python` or `generic`) for a noarch package; `generic` by default.
    pub noarch: Option<&'static str>,
    /// Content of `info/link.json`.
    pub link_json: Option<serde_json::Value>,
    pub timestamp_ms: i64,
    /// Files (among `files`) whose `paths.json` sha256 is wrong: a package that contradicts
    /// itself.
    pub wrong_sha256: Vec<String>,
}

/// conda's legacy prefix placeholder.
pub const PLACEHOLDER: &str = "/opt/anaconda1anaconda2anaconda3";

impl Package {
    pub fn new(name: &str, version: &str, build: &str, subdir: &str) -> Package {
        let build_number = build
            .rsplit('_')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Package {
            name: name.into(),
            version: version.into(),
            build: build.into(),
            build_number,
            subdir: subdir.into(),
            depends: Vec::new(),
            constrains: Vec::new(),
            license: "MIT".into(),
            files: vec![(
                format!("share/{name}/README"),
                format!("{name} {version}\n").into_bytes(),
            )],
            placeholders: Vec::new(),
            executables: Vec::new(),
            symlinks: Vec::new(),
            noarch: None,
            link_json: None,
            timestamp_ms: 1_700_000_000_000,
            wrong_sha256: Vec::new(),
        }
    }

    /// Adds a file.
    pub fn file(mut self, path: &str, data: impl Into<Vec<u8>>) -> Package {
        self.files.push((path.into(), data.into()));
        self
    }

    /// Adds an executable file.
    pub fn executable(mut self, path: &str, data: impl Into<Vec<u8>>) -> Package {
        self.executables.push(path.into());
        self.file(path, data)
    }

    /// Marks an added file as holding [`PLACEHOLDER`] in `text` or `binary` mode.
    pub fn with_placeholder(mut self, path: &str, mode: &'static str) -> Package {
        self.placeholders
            .push((path.into(), PLACEHOLDER.into(), mode));
        self
    }

    /// Records a wrong sha256 for an added file in `info/paths.json`.
    pub fn with_wrong_sha256(mut self, path: &str) -> Package {
        self.wrong_sha256.push(path.into());
        self
    }

    /// Adds a symbolic link.
    pub fn symlink(mut self, path: &str, target: &str) -> Package {
        self.symlinks.push((path.into(), target.into()));
        self
    }

    pub fn depends(mut self, deps: &[&str]) -> Package {
        self.depends = deps.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn constrains(mut self, deps: &[&str]) -> Package {
        self.constrains = deps.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn file_name(&self, format: Format) -> String {
        format!(
            "{}-{}-{}{}",
            self.name,
            self.version,
            self.build,
            format.extension()
        )
    }

    /// The `info/index.json` content.
    pub fn index_json(&self) -> serde_json::Value {
        let mut index = json!({
            "name": self.name,
            "version": self.version,
            "build": self.build,
            "build_number": self.build_number,
            "subdir": self.subdir,
            "depends": self.depends,
            "constrains": self.constrains,
            "license": self.license,
            "timestamp": self.timestamp_ms,
        });
        if self.subdir == "noarch" {
            index["noarch"] = json!(self.noarch.unwrap_or("generic"));
        } else if let Some((platform, arch)) = self.subdir.split_once('-') {
            index["platform"] = json!(platform);
            index["arch"] = json!(if arch == "64" { "x86_64" } else { arch });
        }
        index
    }

    /// Writes the archive into `<channel>/<subdir>/` and returns its path.
    pub fn write(&self, channel: &Path, format: Format) -> PathBuf {
        let staging = tempfile::tempdir().unwrap();
        let root = staging.path();
        let mut paths = Vec::new();
        let mut paths_json = Vec::new();
        for (rel, data) in &self.files {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, data).unwrap();
            if self.executables.contains(rel) {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            paths.push(path.clone());
            let mut entry = json!({
                "_path": rel,
                "path_type": "hardlink",
                "sha256": hex::encode(rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(data)),
                "size_in_bytes": data.len(),
            });
            if self.wrong_sha256.contains(rel) {
                entry["sha256"] = json!("0".repeat(64));
            }
            if let Some((_, placeholder, mode)) = self.placeholders.iter().find(|p| &p.0 == rel) {
                entry["prefix_placeholder"] = json!(placeholder);
                entry["file_mode"] = json!(mode);
            }
            paths_json.push(entry);
        }
        for (rel, target) in &self.symlinks {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, &path).unwrap();
            paths.push(path.clone());
            paths_json.push(json!({"_path": rel, "path_type": "softlink", "size_in_bytes": 0}));
        }
        let info = root.join("info");
        std::fs::create_dir_all(&info).unwrap();
        let mut write_info = |name: &str, content: String| {
            std::fs::write(info.join(name), content).unwrap();
            paths.push(info.join(name));
        };
        write_info(
            "index.json",
            serde_json::to_string_pretty(&self.index_json()).unwrap(),
        );
        write_info(
            "paths.json",
            serde_json::to_string_pretty(&json!({"paths": paths_json, "paths_version": 1}))
                .unwrap(),
        );
        write_info(
            "about.json",
            serde_json::to_string(&json!({"license": self.license})).unwrap(),
        );
        let files: String = self
            .files
            .iter()
            .map(|(p, _)| p)
            .chain(self.symlinks.iter().map(|(p, _)| p))
            .map(|p| format!("{p}\n"))
            .collect();
        write_info("files", files);
        if !self.placeholders.is_empty() {
            let has_prefix: String = self
                .placeholders
                .iter()
                .map(|(p, ph, mode)| format!("{ph} {mode} {p}\n"))
                .collect();
            write_info("has_prefix", has_prefix);
        }
        if let Some(link) = &self.link_json {
            write_info("link.json", serde_json::to_string_pretty(link).unwrap());
        }

        let dir = channel.join(&self.subdir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join(self.file_name(format));
        let file = std::fs::File::create(&out).unwrap();
        let timestamp = jiff::Timestamp::from_millisecond(self.timestamp_ms).unwrap();
        match format {
            Format::Conda => rattler_package_streaming::write::write_conda_package(
                file,
                root,
                &paths,
                CompressionLevel::Default,
                None,
                &format!("{}-{}-{}", self.name, self.version, self.build),
                Some(&timestamp),
                None,
            )
            .unwrap(),
            Format::TarBz2 => rattler_package_streaming::write::write_tar_bz2_package(
                file,
                root,
                &paths,
                CompressionLevel::Default,
                Some(&timestamp),
                None,
            )
            .unwrap(),
        }
        out
    }
}

/// Deterministic bytes that do not compress (xorshift), so sizes on disk are real.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The bytes of a `.conda` archive with 64 bytes (or half, if smaller) in the middle of its
/// `pkg-*.tar.zst` member flipped: the zip still opens and `info/` still reads, only the
/// content is damaged. For a `.tar.bz2`, the middle of the file is flipped.
pub fn damaged_content(archive: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(archive).unwrap();
    let (start, len) = if archive.to_string_lossy().ends_with(".conda") {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
        let name = zip
            .file_names()
            .filter_map(Result::ok)
            .find(|n| n.starts_with("pkg-"))
            .unwrap()
            .into_owned();
        let member = zip.by_name(&name).unwrap();
        (
            member.data_start().unwrap() as usize,
            member.compressed_size() as usize,
        )
    } else {
        (0, bytes.len())
    };
    let flipped = 64.min(len / 2);
    let from = start + (len - flipped) / 2;
    for byte in &mut bytes[from..from + flipped] {
        *byte ^= 0x5a;
    }
    bytes
}
