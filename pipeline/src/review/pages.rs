//! The review desk's pages (maud templates): the hotels list and a hotel page.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;

use super::auth::{Role, Session, CSRF_FIELD};
use super::hotel_url;
use crate::dhash::DHash;
use crate::prioritise::{never_first, Features};
use crate::quality::Quality;
use crate::store::{GroupImage, HotelCursor, HotelRow, Store, StoreError, Variant};
use crate::tiles::Tiles;

/// Hotels per page of the list, by default and at most.
const PAGE: usize = 50;
/// Rows read per query while filling a filtered page, and queries per page at most.
const BATCH: i64 = 200;
const BATCHES: usize = 10;

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
.card{border:1px solid #ccc;border-radius:6px;padding:10px;margin:12px 0;display:flex;gap:16px}
.card img.main{max-width:320px;max-height:240px}.set img{max-width:96px;max-height:72px}
.pending{background:#fff3cd;padding:6px 10px;border-radius:4px}.undone{color:#999;text-decoration:line-through}
form.inline{display:inline}button{margin:2px}code{font-size:12px}.risky{color:#a00}";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " · imgpipe review" }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn when(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A one-button form posting an action on `image` (and `other`) of `group`.
fn action_button(
    session: &Session,
    group: &str,
    kind: &str,
    image: &str,
    other: Option<&str>,
    label: &str,
) -> Markup {
    html! {
        form.inline method="post" action={ "/hotel/action?" (query_group(group)) } {
            input type="hidden" name=(CSRF_FIELD) value=(session.csrf);
            input type="hidden" name="kind" value=(kind);
            input type="hidden" name="image" value=(image);
            @if let Some(other) = other { input type="hidden" name="other" value=(other); }
            button type="submit" id={ (kind) "-" (image) } { (label) }
        }
    }
}

fn query_group(group: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("group", group)
        .finish()
}

/// The hotels list's query string.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct HotelsQuery {
    /// Hotel group id, or its beginning.
    #[serde(default)]
    pub q: String,
    /// `id` (default) or `recent` (most recently ranked first).
    #[serde(default)]
    pub sort: String,
    /// none, no-images, fewer, risky, large-sets.
    #[serde(default)]
    pub filter: String,
    /// N of "fewer than N images" and "duplicate sets of N or more".
    pub n: Option<i64>,
    /// The keyset cursor: the last group id shown (and its ranked_at for `recent`).
    #[serde(default)]
    pub after: String,
    pub after_at: Option<i64>,
    /// Hotels per page (at most [`PAGE`]).
    pub limit: Option<usize>,
}

/// Why a hotel's first image needs a look, if it does.
fn risk(hotel: &HotelRow) -> Option<&'static str> {
    let (_, width, height, quality) = hotel.first.as_ref()?;
    let quality: Quality = serde_json::from_str(quality).unwrap_or_default();
    let ratio = *width as f64 / (*height).max(1) as f64;
    if never_first(&hotel.first_captions) {
        Some("bathroom words in a caption")
    } else if quality.brightness < 0.25 {
        Some("dark")
    } else if (*width).min(*height) < 400 {
        Some("tiny")
    } else if !(0.5..=2.5).contains(&ratio) {
        Some("extreme aspect")
    } else {
        None
    }
}

fn keep(query: &HotelsQuery, hotel: &HotelRow) -> bool {
    match query.filter.as_str() {
        "no-images" => hotel.images == 0,
        "fewer" => hotel.images < query.n.unwrap_or(3),
        "risky" => risk(hotel).is_some(),
        "large-sets" => hotel.largest_set >= query.n.unwrap_or(5),
        _ => true,
    }
}

pub async fn hotels(
    store: &Store,
    session: &Session,
    query: &HotelsQuery,
) -> Result<Markup, StoreError> {
    let recent = query.sort == "recent";
    let page = query.limit.unwrap_or(PAGE).clamp(1, PAGE);
    let mut cursor = if recent {
        HotelCursor::Recent {
            before: query.after_at.map(|at| (at, query.after.clone())),
        }
    } else {
        HotelCursor::ById {
            prefix: query.q.clone(),
            after: query.after.clone(),
        }
    };
    let mut shown = Vec::new();
    let mut more = None;
    for _ in 0..BATCHES {
        let batch = store.hotels_page(&cursor, BATCH).await?;
        let full = batch.len() as i64 == BATCH;
        let mut last = None;
        for hotel in batch {
            if !recent && !hotel.hotel_group.starts_with(&query.q) {
                last = None;
                break;
            }
            if recent && !hotel.hotel_group.starts_with(&query.q) {
                last = Some((hotel.ranked_at, hotel.hotel_group.clone()));
                continue;
            }
            last = Some((hotel.ranked_at, hotel.hotel_group.clone()));
            if keep(query, &hotel) {
                shown.push(hotel);
                if shown.len() == page {
                    break;
                }
            }
        }
        match last {
            Some(last) if full || shown.len() == page => {
                cursor = match cursor {
                    HotelCursor::ById { prefix, .. } => HotelCursor::ById {
                        prefix,
                        after: last.1.clone(),
                    },
                    HotelCursor::Recent { .. } => HotelCursor::Recent {
                        before: Some(last.clone()),
                    },
                };
                more = Some(last);
                if shown.len() == page {
                    break;
                }
            }
            _ => {
                more = None;
                break;
            }
        }
    }
    let next = more.map(|(at, group)| {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        url.append_pair("q", &query.q)
            .append_pair("sort", &query.sort)
            .append_pair("filter", &query.filter)
            .append_pair("after", &group);
        if let Some(n) = query.n {
            url.append_pair("n", &n.to_string());
        }
        if let Some(limit) = query.limit {
            url.append_pair("limit", &limit.to_string());
        }
        if recent {
            url.append_pair("after_at", &at.to_string());
        }
        format!("/?{}", url.finish())
    });
    let filters = [
        ("", "all"),
        ("no-images", "no images"),
        ("fewer", "fewer than N images"),
        ("risky", "risky first image"),
        ("large-sets", "duplicate sets of N or more"),
        ("recent", "recently changed"),
    ];
    Ok(layout(
        "Hotels",
        html! {
            h1 { "Hotels" }
            p { "Signed in as " b { (session.actor) } " (" (role_name(session.role)) ")" }
            form method="get" action="/" {
                input type="search" name="q" value=(query.q) placeholder="hotel group id (or its start)";
                " "
                select name="filter" {
                    @for (value, label) in filters.iter().filter(|(v, _)| *v != "recent") {
                        option value=(value) selected[query.filter == *value] { (label) }
                    }
                }
                " N " input type="number" name="n" value=[query.n] style="width:4em";
                " "
                select name="sort" {
                    option value="id" selected[!recent] { "by id" }
                    option value="recent" selected[recent] { "recently changed first" }
                }
                " " button type="submit" id="search" { "Search" }
            }
            table #hotels {
                tr { th { "hotel group" } th { "images" } th { "largest duplicate set" } th { "first image" } th { "ranked" } }
                @for hotel in &shown {
                    tr {
                        td { a href=(hotel_url(&hotel.hotel_group)) { (hotel.hotel_group) } }
                        td { (hotel.images) }
                        td { (hotel.largest_set) }
                        td {
                            @if let Some((sha, ..)) = &hotel.first {
                                img src={ "/thumb/" (sha) } height="48" alt="";
                            }
                            @if let Some(risk) = risk(hotel) { " " span.risky { (risk) } }
                        }
                        td {
                            @if hotel.ranked_at > 0 { (when(hotel.ranked_at)) }
                            @if hotel.ranked < hotel.version { " " span.pending { "changed, not ranked yet" } }
                        }
                    }
                }
            }
            @if shown.is_empty() { p { "No hotel matches." } }
            @if let Some(next) = next { p { a #next href=(next) { "Next page →" } } }
        },
    ))
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Reviewer => "reviewer: read only",
        Role::Editor => "editor",
    }
}

/// One member of a duplicate set, as the page shows it.
struct Member<'a> {
    image: &'a GroupImage,
    /// (partner, url) lines that sent these bytes.
    sources: Vec<(&'a str, &'a str)>,
    whole: u32,
    tile: Option<u32>,
}

fn member<'a>(
    sha: &str,
    canonical: &GroupImage,
    by_sha: &BTreeMap<&str, &'a GroupImage>,
    variants: &'a [Variant],
) -> Option<Member<'a>> {
    let image = *by_sha.get(sha)?;
    let tiles = |i: &GroupImage| Tiles::from_bytes(&i.tiles).unwrap_or_default();
    let hash = |i: &GroupImage| DHash::from_hex(&i.dhash).unwrap_or(DHash(0));
    let (a, b) = (tiles(image), tiles(canonical));
    Some(Member {
        image,
        sources: variants
            .iter()
            .filter(|v| v.sha256 == sha)
            .map(|v| (v.partner.as_str(), v.url.as_str()))
            .collect(),
        whole: hash(image).distance(hash(canonical)),
        tile: [a.containment_distance(&b), b.containment_distance(&a)]
            .into_iter()
            .flatten()
            .min(),
    })
}

pub async fn hotel(store: &Store, session: &Session, group: &str) -> Result<Markup, StoreError> {
    let images = store.group_images(group).await?;
    let duplicates = store.duplicates(group).await?;
    let ranked = store.ranked(group).await?;
    let variants = store.group_variants(group).await?;
    let actions = store.actions(group).await?;
    let overrides = store.group_overrides(group).await?;
    let versions = store.group_versions(group).await?;
    let by_sha: BTreeMap<&str, &GroupImage> =
        images.iter().map(|i| (i.sha256.as_str(), i)).collect();
    let mut sets: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (sha, canonical) in &duplicates {
        sets.entry(canonical.as_str())
            .or_default()
            .push(sha.as_str());
    }
    let editor = session.role == Role::Editor;
    let canonicals: Vec<&str> = ranked.iter().map(|r| r.sha256.as_str()).collect();
    let cards: Vec<Markup> = ranked
        .iter()
        .filter_map(|row| {
            let canonical = *by_sha.get(row.sha256.as_str())?;
            let members: Vec<Member> = sets
                .get(row.sha256.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|sha| member(sha, canonical, &by_sha, &variants))
                .collect();
            let partners: BTreeSet<&str> = members
                .iter()
                .flat_map(|m| m.image.partners.iter().map(String::as_str))
                .collect();
            let quality: Quality = serde_json::from_str(&canonical.quality).unwrap_or_default();
            let features =
                Features::measure(canonical.width, canonical.height, &quality, partners.len());
            let captions: BTreeSet<&str> = members
                .iter()
                .flat_map(|m| m.image.captions.iter().map(String::as_str))
                .collect();
            let sha = row.sha256.as_str();
            Some(html! {
                div.card id={ "image-" (sha) } data-rank=(row.rank) {
                    div {
                        img.main src={ "/thumb/" (sha) } alt={ "image " (short(sha)) };
                    }
                    div {
                        h3 { "#" (row.rank) " " code { (short(sha)) } " score " (format!("{:.3}", row.score))
                            @if overrides.first.as_deref() == Some(sha) { " · pinned first" } }
                        p { (canonical.width) "×" (canonical.height) " · partners: " (partners.iter().copied().collect::<Vec<_>>().join(", "))
                            @if !captions.is_empty() { " · captions: " (captions.iter().copied().collect::<Vec<_>>().join(" | ")) } }
                        table.breakdown {
                            tr { th { "resolution" } th { "sharpness" } th { "exposure" } th { "colourfulness" } th { "aspect" } th { "partners" } }
                            tr {
                                @for value in [features.resolution, features.sharpness, features.exposure, features.colourfulness, features.aspect, features.partners] {
                                    td { (format!("{value:.2}")) }
                                }
                            }
                        }
                        @if editor {
                            p {
                                (action_button(session, group, "first", sha, None, "Pin first"))
                                (action_button(session, group, "up", sha, None, "Move up"))
                                (action_button(session, group, "down", sha, None, "Move down"))
                                (action_button(session, group, "exclude", sha, None, "Exclude"))
                            }
                        }
                        h4 { "Duplicate set (" (members.len()) ")" }
                        table.set {
                            tr { th {} th { "image" } th { "sent by" } th { "distance to canonical" } th {} }
                            @for m in &members {
                                tr {
                                    td { img src={ "/thumb/" (m.image.sha256) } alt=""; }
                                    td { code { (short(&m.image.sha256)) } br; (m.image.width) "×" (m.image.height)
                                        @if m.image.sha256 == sha { br; "canonical" } }
                                    td { @for (partner, url) in &m.sources { b { (partner) } " " code { (url) } br; } }
                                    td { @if m.image.sha256 != sha { "dHash " (m.whole) " bits"
                                        @if let Some(tile) = m.tile { ", tiles " (tile) } } }
                                    td { @if editor && m.image.sha256 != sha {
                                        (action_button(session, group, "split", &m.image.sha256, Some(sha), "Not the same picture: split"))
                                    } }
                                }
                            }
                        }
                        @if editor && canonicals.len() > 1 {
                            form.inline method="post" action={ "/hotel/action?" (query_group(group)) } {
                                input type="hidden" name=(CSRF_FIELD) value=(session.csrf);
                                input type="hidden" name="kind" value="merge";
                                input type="hidden" name="image" value=(sha);
                                "Same picture as "
                                select name="other" id={ "merge-with-" (sha) } {
                                    @for other in canonicals.iter().filter(|o| **o != sha) {
                                        option value=(other) { (short(other)) }
                                    }
                                }
                                button type="submit" id={ "merge-" (sha) } { "Merge sets" }
                            }
                        }
                    }
                }
            })
        })
        .collect();
    let excluded: Vec<&str> = overrides
        .excluded
        .iter()
        .map(String::as_str)
        .filter(|sha| by_sha.contains_key(sha))
        .collect();
    Ok(layout(
        group,
        html! {
            p { a href="/" { "← Hotels" } " · signed in as " b { (session.actor) } " (" (role_name(session.role)) ")" }
            h1 { "Hotel " (group) }
            @match versions {
                None => p { "The state store has no hotel group " (group) "." },
                Some((version, ranked)) if ranked < version => p.pending #pending {
                    "Changed since the last ranking: what is shown is the last ranking; \
                     dedupe and prioritise apply the changes on their next run."
                },
                Some(_) => {}
            }
            p { (images.len()) " stored images, " (ranked.len()) " kept, " (duplicates.len() - sets.len().min(duplicates.len())) " duplicates folded" }
            @for card in &cards { (card) }
            @if !excluded.is_empty() {
                h2 { "Excluded" }
                @for sha in &excluded { img src={ "/thumb/" (sha) } height="72" alt={ "excluded " (short(sha)) }; " " }
            }
            h2 { "Audit" }
            table #audit {
                tr { th { "#" } th { "when (UTC)" } th { "who" } th { "what" } th {} }
                @for action in &actions {
                    tr.undone[action.undone_at.is_some()] {
                        td { (action.id) }
                        td { (when(action.at)) }
                        td { (action.actor) }
                        td { (action.kind) " " code { (short(&action.sha256)) }
                            @if let Some(other) = &action.other { " / " code { (short(other)) } } }
                        td {
                            @if let (Some(by), Some(at)) = (&action.undone_by, action.undone_at) {
                                "undone by " (by) " at " (when(at))
                            } @else if editor {
                                form.inline method="post" action={ "/hotel/undo?" (query_group(group)) } {
                                    input type="hidden" name=(CSRF_FIELD) value=(session.csrf);
                                    input type="hidden" name="id" value=(action.id);
                                    button type="submit" id={ "undo-" (action.id) } { "Undo" }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}
