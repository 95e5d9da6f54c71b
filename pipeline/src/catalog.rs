//! Partner catalogs: CSV (with a header row) or JSON Lines, one image per line.
//!
//! Fields: `partner_hotel_id`, `hotel_group_id`, `image_url`, optional `caption`. A malformed
//! line (bad syntax, missing fields, bytes that are not UTF-8) is reported with its file and line
//! number and skipped; the rest of the catalog is read. Catalogs are streamed: one line in memory
//! at a time.

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
    #[error("catalog {path}, line 1: bad CSV header: {source}")]
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
    collect(stream(path)?)
}

/// Parses a catalog's bytes; `display` names it in problems and errors, `extension` (lower
/// case) picks the format.
pub fn parse(
    display: &str,
    extension: Option<&str>,
    bytes: &[u8],
) -> Result<Catalog, CatalogError> {
    collect(items(display.to_owned(), extension, bytes)?)
}

fn collect(items: impl Iterator<Item = CatalogItem>) -> Result<Catalog, CatalogError> {
    let mut catalog = Catalog::default();
    for item in items {
        match item {
            Ok(entry) => catalog.entries.push(entry),
            Err(problem) => catalog.problems.push(problem),
        }
    }
    Ok(catalog)
}

/// Reads a catalog file line by line (see [`items`]).
pub fn stream(path: &Path) -> Result<Box<dyn Iterator<Item = CatalogItem>>, CatalogError> {
    let display = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| CatalogError::Read {
        path: display.clone(),
        source,
    })?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    items(display, extension.as_deref(), std::io::BufReader::new(file))
}

/// An entry or a problem per line, in order, holding one line in memory at a time. An entry's
/// position is its order among the catalog's entries (the store ranks a partner hotel's images
/// by it). Bytes that are not UTF-8 are a problem of their line, not of the whole catalog.
fn items<'a, R: BufRead + 'a>(
    display: String,
    extension: Option<&str>,
    reader: R,
) -> Result<Box<dyn Iterator<Item = CatalogItem> + 'a>, CatalogError> {
    let lines: Box<dyn Iterator<Item = (u64, Result<Line, String>)> + 'a> = match extension {
        Some("jsonl" | "ndjson") => {
            let file_name = display.clone();
            Box::new(
                reader
                    .split(b'\n')
                    .enumerate()
                    .filter_map(move |(index, line)| {
                        let number = index as u64 + 1;
                        match line {
                            Ok(line) if line.trim_ascii().is_empty() => None,
                            Ok(line) => Some((
                                number,
                                std::str::from_utf8(&line)
                                    .map_err(|e| format!("not UTF-8: {e}"))
                                    .and_then(|line| {
                                        serde_json::from_str::<Line>(line)
                                            .map_err(|e| format!("invalid JSON line: {e}"))
                                    }),
                            )),
                            Err(error) => Some((
                                number,
                                Err(format!("cannot read {file_name} here: {error}")),
                            )),
                        }
                    }),
            )
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
            // The csv crate counts lines from 1; a record's line is where it starts.
            Box::new(reader.into_records().map(move |record| match record {
                Ok(record) => {
                    let line = record.position().map_or(1, |p| p.line());
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
                    error.position().map_or(1, |p| p.line()),
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

    #[test]
    fn a_line_that_is_not_utf8_is_a_problem_of_that_line_only() {
        let row = |name: &str| format!("h1,g1,http://127.0.0.1/{name}.jpg\n").into_bytes();
        let mut csv = b"partner_hotel_id,hotel_group_id,image_url\n".to_vec();
        csv.extend(row("a"));
        csv.extend(b"h1,g\xff\xfe,http://127.0.0.1/b.jpg\n");
        csv.extend(row("c"));
        let catalog = parse("p.csv", Some("csv"), &csv).unwrap();
        assert_eq!(catalog.entries.len(), 2);
        assert_eq!(catalog.problems.len(), 1);
        assert_eq!(catalog.problems[0].line, 3, "{:?}", catalog.problems);
        let jsonl = b"{\"partner_hotel_id\":\"h1\",\"hotel_group_id\":\"g\xff\",\"image_url\":\"http://x/a.jpg\"}\n";
        let catalog = parse("p.jsonl", Some("jsonl"), jsonl).unwrap();
        assert_eq!(catalog.problems[0].line, 1);
        assert!(catalog.problems[0].message.contains("UTF-8"));
    }

    mod fuzz {
        //! Property tests with shrinking: whatever a partner sends, parsing never panics, and
        //! every problem names a line of the file. Each run is bounded (the case counts below
        //! take about a second in a debug build; PROPTEST_CASES scales them) and prints how
        //! many inputs it tried.

        use super::super::*;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        use std::sync::atomic::{AtomicUsize, Ordering};

        fn cases(default: u32) -> u32 {
            std::env::var("PROPTEST_CASES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(default)
        }

        /// Runs `check` on `cases` inputs, shrinking a failure to a minimal input.
        fn run<S: Strategy>(
            name: &str,
            cases: u32,
            strategy: S,
            check: impl Fn(S::Value) -> Result<(), TestCaseError>,
        ) {
            let mut runner = TestRunner::new(Config {
                cases,
                failure_persistence: None,
                ..Config::default()
            });
            let tried = AtomicUsize::new(0);
            let start = std::time::Instant::now();
            let result = runner.run(&strategy, |input| {
                tried.fetch_add(1, Ordering::Relaxed);
                check(input)
            });
            eprintln!(
                "catalog fuzz {name}: {} inputs tried in {:.1} s",
                tried.load(Ordering::Relaxed),
                start.elapsed().as_secs_f64()
            );
            if let Err(error) = result {
                panic!("{name}: {error}");
            }
        }

        /// Lines as the parser counts them: one more than the newlines.
        fn line_count(bytes: &[u8]) -> u64 {
            bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1
        }

        fn check_problems_name_lines(
            display: &str,
            bytes: &[u8],
            catalog: &Catalog,
        ) -> Result<(), TestCaseError> {
            let lines = line_count(bytes);
            for problem in &catalog.problems {
                prop_assert_eq!(&problem.file, display);
                prop_assert!(
                    (1..=lines).contains(&problem.line),
                    "line {} of {lines}: {}",
                    problem.line,
                    problem.message
                );
                prop_assert!(!problem.message.is_empty());
            }
            // At most one record per line; the csv crate also ends records at a lone `\r`.
            let records = bytes.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 1;
            prop_assert!(catalog.entries.len() + catalog.problems.len() <= records);
            Ok(())
        }

        /// Bytes that look a little like catalogs: arbitrary bytes, with newlines, commas,
        /// quotes, braces and a valid header or row mixed in.
        fn catalog_like_bytes(header: &'static str) -> impl Strategy<Value = Vec<u8>> {
            let piece = prop_oneof![
                4 => proptest::collection::vec(any::<u8>(), 0..12),
                2 => Just(b"\n".to_vec()),
                2 => Just(b",".to_vec()),
                1 => Just(b"\"".to_vec()),
                1 => Just(b"\r\n".to_vec()),
                1 => Just(b"{\"partner_hotel_id\":".to_vec()),
                1 => Just(b"h1,g1,http://127.0.0.1/a.jpg\n".to_vec()),
            ];
            proptest::collection::vec(piece, 0..24).prop_map(move |pieces| {
                let mut bytes = header.as_bytes().to_vec();
                bytes.extend(pieces.concat());
                bytes
            })
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_problems_name_lines() {
            for (extension, header) in [
                ("csv", ""),
                ("csv", "partner_hotel_id,hotel_group_id,image_url,caption\n"),
                ("jsonl", ""),
            ] {
                let display = format!("fuzz.{extension}");
                run(
                    extension,
                    cases(2000),
                    catalog_like_bytes(header),
                    |bytes| {
                        match parse(&display, Some(extension), &bytes) {
                            Ok(catalog) => check_problems_name_lines(&display, &bytes, &catalog),
                            Err(error) => {
                                // Only the CSV header can sink a whole catalog, and it says so.
                                let text = error.to_string();
                                prop_assert!(
                                    extension == "csv" && text.contains(&display),
                                    "{text}"
                                );
                                Ok(())
                            }
                        }
                    },
                );
            }
        }

        /// A valid row (ids of any printable text, even `..` or `/`) or a junk line.
        #[derive(Clone, Debug)]
        enum Row {
            Valid {
                hotel: String,
                group: String,
                n: u32,
            },
            Junk(String),
        }

        fn id() -> impl Strategy<Value = String> {
            "\\PC{1,10}".prop_filter("no surrounding space", |s| s.trim() == s && !s.is_empty())
        }

        fn rows() -> impl Strategy<Value = Vec<Row>> {
            let row = prop_oneof![
                3 => (id(), id(), 0u32..1000).prop_map(|(hotel, group, n)| Row::Valid { hotel, group, n }),
                // One CSV field, and not a JSON object.
                1 => "[^{,\"\\s][^,\"\r\n]{0,20}".prop_map(Row::Junk),
            ];
            proptest::collection::vec(row, 0..12)
        }

        /// Writes rows in either format; returns the bytes and each row's first line.
        fn render(rows: &[Row], csv: bool) -> (Vec<u8>, Vec<u64>) {
            let mut bytes = Vec::new();
            let mut starts = Vec::new();
            if csv {
                bytes.extend(b"partner_hotel_id,hotel_group_id,image_url\n");
            }
            for row in rows {
                starts.push(line_count(&bytes));
                match (row, csv) {
                    (Row::Valid { hotel, group, n }, true) => {
                        let mut writer = ::csv::Writer::from_writer(Vec::new());
                        writer
                            .write_record([
                                hotel.as_str(),
                                group,
                                &format!("http://127.0.0.1/{n}.jpg"),
                            ])
                            .unwrap();
                        bytes.extend(writer.into_inner().unwrap());
                    }
                    (Row::Valid { hotel, group, n }, false) => {
                        let line = serde_json::json!({
                            "partner_hotel_id": hotel,
                            "hotel_group_id": group,
                            "image_url": format!("http://127.0.0.1/{n}.jpg"),
                        });
                        bytes.extend(format!("{line}\n").into_bytes());
                    }
                    (Row::Junk(text), _) => bytes.extend(format!("{text}\n").into_bytes()),
                }
            }
            (bytes, starts)
        }

        #[test]
        fn valid_rows_are_read_and_each_junk_line_is_reported_at_its_line() {
            for (extension, csv) in [("csv", true), ("jsonl", false)] {
                let display = format!("rows.{extension}");
                run(extension, cases(600), rows(), |rows| {
                    let (bytes, starts) = render(&rows, csv);
                    let catalog = parse(&display, Some(extension), &bytes)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    check_problems_name_lines(&display, &bytes, &catalog)?;
                    let expected_entries: Vec<(String, String, String)> = rows
                        .iter()
                        .filter_map(|row| match row {
                            Row::Valid { hotel, group, n } => Some((
                                hotel.clone(),
                                group.clone(),
                                format!("http://127.0.0.1/{n}.jpg"),
                            )),
                            Row::Junk(_) => None,
                        })
                        .collect();
                    let entries: Vec<(String, String, String)> = catalog
                        .entries
                        .iter()
                        .map(|e| {
                            (
                                e.partner_hotel.clone(),
                                e.hotel_group.clone(),
                                e.url.clone(),
                            )
                        })
                        .collect();
                    prop_assert_eq!(entries, expected_entries);
                    let junk_lines: Vec<u64> = rows
                        .iter()
                        .zip(&starts)
                        .filter(|(row, _)| matches!(row, Row::Junk(_)))
                        .map(|(_, &line)| line)
                        .collect();
                    let problem_lines: Vec<u64> = catalog.problems.iter().map(|p| p.line).collect();
                    prop_assert_eq!(problem_lines, junk_lines);
                    Ok(())
                });
            }
        }
    }
}
