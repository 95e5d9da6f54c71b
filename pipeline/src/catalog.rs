//! Partner catalogs: CSV (with a header row) or JSON Lines, one image per line.
//!
//! Fields: `partner_hotel_id`, `hotel_group_id`, `image_url`, optional `caption`. A malformed
//! line is reported with its file and line number and skipped; the rest of the catalog is read.
//! Catalogs are streamed: one line in memory at a time.

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use crate::store::{CatalogEntry, CatalogItem, CatalogProblem};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read catalog {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("catalog {path}: unknown format (name it *.csv, *.jsonl or *.ndjson)")]
    UnknownFormat { path: String },
    #[error("catalog {path}: bad CSV header: {source}")]
    Header { path: String, source: csv::Error },
    #[error("catalog {path}: the CSV header lacks column {column:?} (need partner_hotel_id, hotel_group_id, image_url; caption optional)")]
    MissingColumn { path: String, column: &'static str },
}

/// The entries read, and the lines that could not be.
#[derive(Debug, Default)]
pub struct Catalog {
    pub entries: Vec<CatalogEntry>,
    pub problems: Vec<CatalogProblem>,
}

#[derive(Deserialize)]
struct Line {
    partner_hotel_id: String,
    hotel_group_id: String,
    image_url: String,
    #[serde(default)]
    caption: Option<String>,
}

/// Reads a whole catalog into memory (small catalogs and tests; the pipeline streams).
pub fn read(path: &Path) -> Result<Catalog, CatalogError> {
    let mut catalog = Catalog::default();
    for item in stream(path)? {
        match item {
            Ok(entry) => catalog.entries.push(entry),
            Err(problem) => catalog.problems.push(problem),
        }
    }
    Ok(catalog)
}

/// Reads a catalog line by line: an entry or a problem per line, in order, holding one line in
/// memory at a time. An entry's position is its order among the catalog's entries (a partner
/// hotel's images are ranked by it).
pub fn stream(path: &Path) -> Result<Box<dyn Iterator<Item = CatalogItem>>, CatalogError> {
    let display = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| CatalogError::Read {
        path: display.clone(),
        source,
    })?;
    let reader = std::io::BufReader::new(file);
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let lines: Box<dyn Iterator<Item = (u64, Result<Line, String>)>> = match extension.as_deref() {
        Some("jsonl" | "ndjson") => {
            let file_name = display.clone();
            Box::new(reader.lines().enumerate().filter_map(move |(index, line)| {
                let number = index as u64 + 1;
                match line {
                    Ok(line) if line.trim().is_empty() => None,
                    Ok(line) => Some((
                        number,
                        serde_json::from_str::<Line>(&line)
                            .map_err(|e| format!("invalid JSON line: {e}")),
                    )),
                    Err(error) => Some((
                        number,
                        Err(format!("cannot read {file_name} here: {error}")),
                    )),
                }
            }))
        }
        Some("csv") => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
            let header = reader
                .headers()
                .map_err(|source| CatalogError::Header {
                    path: display.clone(),
                    source,
                })?
                .clone();
            let column = |name: &'static str| {
                header
                    .iter()
                    .position(|h| h.trim() == name)
                    .ok_or(CatalogError::MissingColumn {
                        path: display.clone(),
                        column: name,
                    })
            };
            let hotel = column("partner_hotel_id")?;
            let group = column("hotel_group_id")?;
            let url = column("image_url")?;
            let caption = header.iter().position(|h| h.trim() == "caption");
            Box::new(reader.into_records().map(move |record| match record {
                Ok(record) => {
                    let line = record.position().map_or(0, |p| p.line());
                    let field = |i: usize| record.get(i).map(|v| v.trim().to_owned());
                    let parsed = match (field(hotel), field(group), field(url)) {
                        (Some(h), Some(g), Some(u)) => Ok(Line {
                            partner_hotel_id: h,
                            hotel_group_id: g,
                            image_url: u,
                            caption: caption.and_then(field).filter(|c| !c.is_empty()),
                        }),
                        _ => Err(format!(
                            "expected at least {} fields, found {}",
                            hotel.max(group).max(url) + 1,
                            record.len()
                        )),
                    };
                    (line, parsed)
                }
                Err(error) => (
                    error.position().map_or(0, |p| p.line()),
                    Err(format!("invalid CSV: {error}")),
                ),
            }))
        }
        _ => return Err(CatalogError::UnknownFormat { path: display }),
    };
    let mut position = 0;
    Ok(Box::new(lines.map(
        move |(line, parsed)| match parsed.and_then(validate) {
            Ok(mut entry) => {
                entry.position = position;
                position += 1;
                Ok(entry)
            }
            Err(message) => Err(CatalogProblem {
                file: display.clone(),
                line,
                message,
            }),
        },
    )))
}

fn validate(line: Line) -> Result<CatalogEntry, String> {
    for (name, value) in [
        ("partner_hotel_id", &line.partner_hotel_id),
        ("hotel_group_id", &line.hotel_group_id),
        ("image_url", &line.image_url),
    ] {
        if value.trim().is_empty() {
            return Err(format!("empty {name}"));
        }
    }
    let url = url::Url::parse(line.image_url.trim())
        .map_err(|e| format!("image_url {:?} is not a URL: {e}", line.image_url))?;
    if !matches!(url.scheme(), "http" | "https" | "file") {
        return Err(format!(
            "image_url {:?}: scheme {:?} is not supported (use http, https or file)",
            line.image_url,
            url.scheme()
        ));
    }
    Ok(CatalogEntry {
        partner_hotel: line.partner_hotel_id.trim().to_owned(),
        hotel_group: line.hotel_group_id.trim().to_owned(),
        url: url.to_string(),
        caption: line.caption.filter(|c| !c.trim().is_empty()),
        position: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn csv_and_jsonl_give_the_same_entries_and_report_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let csv = write(
            dir.path(),
            "p.csv",
            "partner_hotel_id,hotel_group_id,image_url,caption\n\
             h1,g1,http://127.0.0.1/a.jpg,Lobby\n\
             h1,g1\n\
             h1,g1,http://127.0.0.1/b.jpg,\n\
             h2,g2,ftp://example/c.jpg,\n",
        );
        let jsonl = write(
            dir.path(),
            "p.jsonl",
            "{\"partner_hotel_id\":\"h1\",\"hotel_group_id\":\"g1\",\"image_url\":\"http://127.0.0.1/a.jpg\",\"caption\":\"Lobby\"}\n\
             {\"partner_hotel_id\":\"h1\",\n\
             {\"partner_hotel_id\":\"h1\",\"hotel_group_id\":\"g1\",\"image_url\":\"http://127.0.0.1/b.jpg\"}\n",
        );
        let from_csv = read(&csv).unwrap();
        let from_jsonl = read(&jsonl).unwrap();
        assert_eq!(from_csv.entries, from_jsonl.entries);
        assert_eq!(from_csv.entries.len(), 2);
        assert_eq!(from_csv.entries[1].position, 1);
        assert_eq!(
            from_csv.problems.iter().map(|p| p.line).collect::<Vec<_>>(),
            vec![3, 5]
        );
        assert!(from_csv.problems[1].message.contains("ftp"));
        assert_eq!(from_jsonl.problems.len(), 1);
        assert_eq!(from_jsonl.problems[0].line, 2);
        assert!(from_jsonl.problems[0].file.ends_with("p.jsonl"));
    }

    #[test]
    fn missing_column_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let csv = write(dir.path(), "p.csv", "hotel,image_url\nh1,http://x/a.jpg\n");
        let error = read(&csv).unwrap_err().to_string();
        assert!(error.contains("partner_hotel_id"), "{error}");
    }
}
