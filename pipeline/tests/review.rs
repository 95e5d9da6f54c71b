//! The review desk (`imgpipe review`): review actions as overrides that dedupe and prioritise
//! apply (on both state engines), access by token with CSRF on every POST, and a real browser
//! (headless Chromium over WebDriver) pinning an image first and splitting a duplicate set.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{imgpipe, json, ok, Engine, State};
use imgpipe::store::{ActionKind, HotelCursor, NewAction, Store};

const EDITOR: &str = "editor-token-0123456789abcdef";
const REVIEWER: &str = "reviewer-token-0123456789abcdef";

/// A smooth picture of a few coloured blobs; different seeds give unrelated dHashes.
fn picture(seed: u64, width: u32, height: u32) -> image::RgbImage {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let blobs: Vec<(f64, f64, f64, [f64; 3])> = (0..7)
        .map(|_| {
            (
                next(),
                next(),
                0.05 + 0.2 * next(),
                [next() * 255.0, next() * 255.0, next() * 255.0],
            )
        })
        .collect();
    image::RgbImage::from_fn(width, height, |x, y| {
        let (u, v) = (
            f64::from(x) / f64::from(width),
            f64::from(y) / f64::from(height),
        );
        let mut pixel = [30.0, 30.0, 30.0];
        for (cx, cy, r, colour) in &blobs {
            let weight = (-((u - cx).powi(2) + (v - cy).powi(2)) / (r * r)).exp();
            for (p, c) in pixel.iter_mut().zip(colour) {
                *p += weight * c;
            }
        }
        image::Rgb(pixel.map(|p| p.min(255.0) as u8))
    })
}

/// Hotels for the desk, as two partners' catalogs of PNG files:
/// - `h1`: pictures 1 (p1 sends it large, p2 a half-size copy: one duplicate set), 2 and 3;
/// - `h2`: one picture; `h3`: a lead picture captioned "Bathroom"; `h4`: only a missing file;
///   `h5`: one tiny picture.
struct Corpus {
    state: State,
    /// sha256 of the large and the half-size copy of picture 1.
    large: String,
    small: String,
}

fn write_png(dir: &Path, name: &str, image: &image::RgbImage) -> String {
    let path = dir.join(name);
    image.save(&path).expect("write PNG");
    format!("file://{}", path.display())
}

fn sha256_of(dir: &Path, name: &str) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(dir.join(name)).expect("read PNG");
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn corpus(engine: Engine, dir: &Path) -> Option<Corpus> {
    let state = State::new(engine, dir)?;
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let one = picture(1, 800, 600);
    let one_small = image::imageops::resize(&one, 400, 300, image::imageops::FilterType::Lanczos3);
    let urls = [
        ("one.png", one.clone()),
        ("one-small.png", one_small.clone()),
        ("two.png", picture(2, 640, 480)),
        ("three.png", picture(3, 1024, 640)),
        ("four.png", picture(4, 640, 480)),
        ("five.png", picture(5, 1200, 900)),
        ("six.png", picture(6, 640, 480)),
        ("tiny.png", picture(7, 240, 180)),
    ]
    .map(|(name, image)| write_png(&images, name, &image));
    let missing = format!("file://{}", images.join("missing.png").display());
    let p1 = format!(
        "partner_hotel_id,hotel_group_id,image_url,caption\n\
         a1,h1,{},Garden view\na1,h1,{},Pool\nb1,h2,{},\nc1,h3,{},Bathroom\nc1,h3,{},Room\n\
         d1,h4,{missing},\ne1,h5,{},\n",
        urls[0], urls[2], urls[4], urls[5], urls[6], urls[7]
    );
    let p2 = format!(
        "partner_hotel_id,hotel_group_id,image_url,caption\nx9,h1,{},Garden\nx9,h1,{},Lobby\n",
        urls[1], urls[3]
    );
    for (partner, text) in [("p1", p1), ("p2", p2)] {
        let file = dir.join(format!("{partner}.csv"));
        std::fs::write(&file, text).unwrap();
        ok(imgpipe(&state)
            .args(["trigger", "--partner", partner, "--catalog"])
            .arg(&file));
    }
    ok(imgpipe(&state).args(["download", "--allow-file-urls", "--retries", "0"]));
    recompute(&state);
    Some(Corpus {
        large: sha256_of(&images, "one.png"),
        small: sha256_of(&images, "one-small.png"),
        state,
    })
}

/// The stages after download, as a worker would run them for changed groups.
fn recompute(state: &State) {
    for stage in ["fingerprint", "dedupe", "prioritise"] {
        ok(imgpipe(state).arg(stage));
    }
}

fn ranking(state: &State, hotel: &str) -> Vec<String> {
    json(imgpipe(state).args(["ranking", "--hotel", hotel]))
        .as_array()
        .expect("a list")
        .iter()
        .map(|row| row["image"].as_str().expect("image").to_owned())
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn action(kind: ActionKind, sha256: &str, other: Option<&str>) -> NewAction {
    NewAction {
        kind,
        sha256: sha256.to_owned(),
        other: other.map(str::to_owned),
        order: Vec::new(),
    }
}

/// Split, merge, pin, exclude and an explicit order, each recorded in the store, change what
/// the next dedupe and prioritise runs decide, and undoing each brings the old decision back.
fn overrides_hold_on_later_runs_and_undo(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let Some(corpus) = corpus(engine, dir.path()) else {
        return;
    };
    let state = &corpus.state;
    let rt = runtime();
    let store = rt.block_on(Store::open(&state.db)).expect("open the store");
    let duplicates = || rt.block_on(store.duplicates("h1")).unwrap();
    let before = duplicates();
    assert_eq!(
        before[&corpus.small], corpus.large,
        "the copies start as one set"
    );
    let original = ranking(state, "h1");
    assert_eq!(original.len(), 3, "{original:?}");

    // Split: the half-size copy is not the same picture; it holds over later runs.
    let (version, _) = rt.block_on(store.group_versions("h1")).unwrap().unwrap();
    let split = rt
        .block_on(store.record_action(
            "h1",
            &action(ActionKind::Split, &corpus.small, Some(&corpus.large)),
            "ana",
        ))
        .unwrap();
    let (changed, ranked) = rt.block_on(store.group_versions("h1")).unwrap().unwrap();
    assert!(
        changed > version && ranked < changed,
        "an action marks its group changed"
    );
    recompute(state);
    assert_eq!(duplicates()[&corpus.small], corpus.small);
    assert_eq!(ranking(state, "h1").len(), 4);
    recompute(state);
    assert_eq!(duplicates()[&corpus.small], corpus.small, "the split holds");

    // Merge two unrelated sets; undo it, then undo the split: the hashes decide again.
    let lobby = original
        .iter()
        .find(|sha| **sha != corpus.large)
        .unwrap()
        .clone();
    let merge = rt
        .block_on(store.record_action(
            "h1",
            &action(ActionKind::Merge, &lobby, Some(&corpus.large)),
            "ana",
        ))
        .unwrap();
    recompute(state);
    assert_eq!(duplicates()[&lobby], duplicates()[&corpus.large]);
    assert!(rt.block_on(store.undo_action("h1", merge, "ben")).unwrap());
    assert!(
        !rt.block_on(store.undo_action("h1", merge, "ben")).unwrap(),
        "an action is undone once"
    );
    assert!(rt.block_on(store.undo_action("h1", split, "ben")).unwrap());
    recompute(state);
    assert_eq!(duplicates(), before);
    assert_eq!(ranking(state, "h1"), original);

    // Pin the last first, exclude the first, then an explicit order; undo all three.
    let last = original.last().unwrap().clone();
    let pin = rt
        .block_on(store.record_action("h1", &action(ActionKind::First, &last, None), "ana"))
        .unwrap();
    let exclude = rt
        .block_on(store.record_action(
            "h1",
            &action(ActionKind::Exclude, &original[0], None),
            "ana",
        ))
        .unwrap();
    recompute(state);
    assert_eq!(ranking(state, "h1"), [last.clone(), original[1].clone()]);
    rt.block_on(store.undo_action("h1", pin, "ana")).unwrap();
    rt.block_on(store.undo_action("h1", exclude, "ana"))
        .unwrap();
    let reversed: Vec<String> = original.iter().rev().cloned().collect();
    let order = rt
        .block_on(store.record_action(
            "h1",
            &NewAction {
                order: reversed.clone(),
                ..action(ActionKind::Order, &last, None)
            },
            "ana",
        ))
        .unwrap();
    recompute(state);
    assert_eq!(ranking(state, "h1"), reversed);
    rt.block_on(store.undo_action("h1", order, "ana")).unwrap();
    recompute(state);
    assert_eq!(ranking(state, "h1"), original);

    // The hotels list's keyset pages, on this engine's SQL.
    let page = |cursor: HotelCursor| rt.block_on(store.hotels_page(&cursor, 2)).unwrap();
    let first = page(HotelCursor::ById {
        prefix: "h".to_owned(),
        after: String::new(),
    });
    let names = |rows: &[imgpipe::store::HotelRow]| {
        rows.iter()
            .map(|row| row.hotel_group.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first), ["h1", "h2"]);
    assert_eq!((first[0].images, first[0].largest_set), (3, 2));
    assert_eq!(first[0].first.as_ref().unwrap().0, original[0]);
    let second = page(HotelCursor::ById {
        prefix: "h".to_owned(),
        after: "h2".to_owned(),
    });
    assert_eq!(names(&second), ["h3", "h4"]);
    assert_eq!(second[0].first_captions, ["Room"]);
    assert_eq!(second[1].images, 0);
    let recent = page(HotelCursor::Recent { before: None });
    assert_eq!(recent[0].hotel_group, "h1", "h1 was ranked last");
    let before = Some((recent[1].ranked_at, recent[1].hotel_group.clone()));
    let older = page(HotelCursor::Recent { before });
    assert!(older
        .iter()
        .all(|row| !names(&recent).contains(&row.hotel_group)));

    let audit = rt.block_on(store.actions("h1")).unwrap();
    assert_eq!(audit.len(), 5);
    assert!(audit.iter().all(|a| a.undone_at.is_some() && a.at > 0));
    assert_eq!(audit.last().unwrap().actor, "ana");
    assert_eq!(audit.last().unwrap().undone_by.as_deref(), Some("ben"));
    rt.block_on(store.close());
}

on_both_engines!(overrides_hold_on_later_runs_and_undo: overrides_hold_on_later_runs_and_undo_sqlite, overrides_hold_on_later_runs_and_undo_postgres);

/// A server this test started (`imgpipe review`, chromedriver) at `url`, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `imgpipe review` on a free port.
fn desk(state: &State) -> Server {
    let tokens = state.dir.join("tokens");
    std::fs::write(
        &tokens,
        format!("# test tokens\n{EDITOR} editor Ana\n{REVIEWER} reviewer\n"),
    )
    .unwrap();
    let mut child = imgpipe(state)
        .args(["review", "--addr", "127.0.0.1:0", "--token-file"])
        .arg(&tokens)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start imgpipe review");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the address");
    let url = line
        .trim()
        .strip_prefix("review desk on ")
        .unwrap_or_else(|| panic!("imgpipe review printed {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    Server { child, url }
}

/// A URL-encoded form body (reqwest is built without its `form` feature).
trait FormBody {
    fn form_body<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn form_body<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in pairs {
            body.append_pair(key.as_ref(), value.as_ref());
        }
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish())
    }
}

fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..at + 32].to_owned()
}

/// Nothing is served without a token (the browser is asked for one), a reviewer sees but
/// cannot act, a POST without its session's CSRF token is refused, and none of those refused
/// requests records anything; thumbnails carry caching headers.
#[test]
fn access_needs_a_token_reviewers_cannot_act_and_posts_need_csrf() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(Engine::Sqlite, dir.path()).expect("SQLite is built in");
    let desk = desk(&corpus.state);
    let rt = runtime();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let hotel = format!("{}/hotel?group=h1", desk.url);
        let action = format!("{}/hotel/action?group=h1", desk.url);
        let pin = [("kind", "first"), ("image", corpus.small.as_str())];

        let anonymous = client.get(&hotel).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        assert!(anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm="));
        let wrong = client.get(&hotel).bearer_auth("not-a-token").send().await;
        assert_eq!(wrong.unwrap().status(), 401);
        assert_eq!(
            client
                .post(&action)
                .form_body(&pin)
                .send()
                .await
                .unwrap()
                .status(),
            401
        );

        // The reviewer: the page, without action forms; a POST even with a valid CSRF token
        // is refused.
        let page = client
            .get(&hotel)
            .bearer_auth(REVIEWER)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let cookie = session_cookie(&page);
        let body = page.text().await.unwrap();
        assert!(body.contains(&corpus.large[..12]) && !body.contains("Pin first"));
        let reviewer_page = client
            .get(format!("{}/", desk.url))
            .bearer_auth(REVIEWER)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(reviewer_page.status(), 200);
        let refused = client
            .post(&action)
            .bearer_auth(REVIEWER)
            .header("cookie", &cookie)
            .header("x-csrf-token", "0".repeat(32))
            .form_body(&pin)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);

        // The editor, through the browser prompt's basic auth: without the CSRF token, with
        // another session's, refused; with its own, done.
        let page = client
            .get(&hotel)
            .basic_auth("ana", Some(EDITOR))
            .send()
            .await
            .unwrap();
        let cookie = session_cookie(&page);
        let csrf = csrf_of(&page.text().await.unwrap());
        let post = |form: Vec<(&'static str, String)>, cookie: Option<&str>| {
            let mut request = client
                .post(&action)
                .basic_auth("ana", Some(EDITOR))
                .form_body(&form);
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            request.send()
        };
        let pin_form = |csrf: Option<&str>| {
            let mut form = vec![
                ("kind", "first".to_owned()),
                ("image", corpus.small.clone()),
            ];
            form.extend(csrf.map(|csrf| ("csrf", csrf.to_owned())));
            form
        };
        assert_eq!(
            post(pin_form(None), Some(&cookie)).await.unwrap().status(),
            403
        );
        assert_eq!(
            post(pin_form(Some(&csrf)), None).await.unwrap().status(),
            403
        );
        let other_session = format!("imgpipe_review_session={}", "ab".repeat(16));
        assert_eq!(
            post(pin_form(Some(&csrf)), Some(&other_session))
                .await
                .unwrap()
                .status(),
            403
        );
        let store = Store::open(&corpus.state.db).await.unwrap();
        assert!(store.actions("h1").await.unwrap().is_empty());
        let done = post(pin_form(Some(&csrf)), Some(&cookie)).await.unwrap();
        assert_eq!(done.status(), 303);
        let audit = store.actions("h1").await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(
            (audit[0].actor.as_str(), audit[0].kind.as_str()),
            ("Ana", "first")
        );

        // Move the second image up (an explicit order), a merge naming an image of another
        // hotel is refused, and an undo is recorded with who did it.
        let ranked: Vec<String> = store
            .ranked("h1")
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.sha256)
            .collect();
        let up = vec![
            ("kind", "up".to_owned()),
            ("image", ranked[1].clone()),
            ("csrf", csrf.clone()),
        ];
        assert_eq!(post(up, Some(&cookie)).await.unwrap().status(), 303);
        let order: Vec<String> = serde_json::from_str(
            store.actions("h1").await.unwrap()[0]
                .detail
                .as_ref()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            order,
            [ranked[1].clone(), ranked[0].clone(), ranked[2].clone()]
        );
        let h2 = store.ranked("h2").await.unwrap()[0].sha256.clone();
        let merge = vec![
            ("kind", "merge".to_owned()),
            ("image", ranked[0].clone()),
            ("other", h2),
            ("csrf", csrf.clone()),
        ];
        assert_eq!(post(merge, Some(&cookie)).await.unwrap().status(), 400);
        let undo = client
            .post(format!("{}/hotel/undo?group=h1", desk.url))
            .basic_auth("ana", Some(EDITOR))
            .header("cookie", &cookie)
            .form_body(&[("id", "1"), ("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(undo.status(), 303);
        let audit = store.actions("h1").await.unwrap();
        assert_eq!(audit.len(), 2);
        assert_eq!(audit[1].undone_by.as_deref(), Some("Ana"));
        assert!(audit[0].undone_at.is_none());

        // The hotels list: search, filters, keyset pages.
        let list = |query: &'static str| {
            let request = client
                .get(format!("{}/?{query}", desk.url))
                .bearer_auth(REVIEWER);
            async move {
                let page = request.send().await.unwrap().text().await.unwrap();
                let hotels: Vec<String> = page
                    .match_indices("href=\"/hotel?group=")
                    .map(|(at, _)| {
                        let rest = &page[at + 19..];
                        rest[..rest.find('"').unwrap()].to_owned()
                    })
                    .collect();
                let next = page.find("id=\"next\" href=\"").map(|at| {
                    let rest = &page[at + 16..];
                    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
                });
                (hotels, next)
            }
        };
        assert_eq!(list("q=h").await.0, ["h1", "h2", "h3", "h4", "h5"]);
        assert_eq!(list("q=h3").await.0, ["h3"]);
        assert_eq!(list("filter=no-images").await.0, ["h4"]);
        assert_eq!(list("filter=fewer&n=2").await.0, ["h2", "h4", "h5"]);
        assert_eq!(list("filter=large-sets&n=2").await.0, ["h1"]);
        assert_eq!(list("filter=risky").await.0, ["h5"]);
        assert_eq!(list("sort=recent").await.0.len(), 5);
        let (first, next) = list("limit=2").await;
        assert_eq!(first, ["h1", "h2"]);
        let next = next.expect("a next page");
        let page = client
            .get(format!("{}{next}", desk.url))
            .bearer_auth(REVIEWER)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("group=h3") && page.contains("group=h4"));
        assert!(
            !page.contains("group=h2") && !page.contains("group=h5"),
            "{next}: {page}"
        );

        // Thumbnails: made on demand, cached by the browser, paths validated.
        let thumb = format!("{}/thumb/{}", desk.url, corpus.large);
        let image = client
            .get(&thumb)
            .bearer_auth(REVIEWER)
            .send()
            .await
            .unwrap();
        assert_eq!(image.status(), 200);
        assert_eq!(image.headers()["content-type"], "image/jpeg");
        assert!(image.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));
        let etag = image.headers()["etag"].clone();
        let jpeg = image.bytes().await.unwrap();
        assert!(jpeg.starts_with(&[0xff, 0xd8]));
        let again = client
            .get(&thumb)
            .bearer_auth(REVIEWER)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        for bad in ["..%2F..%2Fetc%2Fpasswd", "ABC", &"0".repeat(64)] {
            let status = client
                .get(format!("{}/thumb/{bad}", desk.url))
                .bearer_auth(REVIEWER)
                .send()
                .await
                .unwrap()
                .status();
            assert!(status == 400 || status == 404, "{bad}: {status}");
        }
        store.close().await;
    });
}

/// chromedriver on a free port.
fn chromedriver() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "start chromedriver (Debian packages chromium and chromium-driver, installed by \
             scripts/setup-test-env)",
        );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, url }
}

/// Screenshots (and the eval page) go under the test's folder, and to $IMGPIPE_SCREENSHOT_DIR
/// when it is set.
fn keep_screenshot(path: &Path) {
    if let Some(dir) = std::env::var_os("IMGPIPE_SCREENSHOT_DIR") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(path, dir.join(path.file_name().unwrap())).unwrap();
    }
}

/// In headless Chromium, an editor opens the hotels list, opens a hotel, pins its last image
/// first and splits its duplicate set; the state store and a re-run of dedupe and prioritise
/// show the new order and the split, and the page shows them and the audit list.
#[test]
fn browser_pin_first_and_split_then_the_rerun_keeps_them() {
    use thirtyfour::prelude::*;

    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(Engine::Sqlite, dir.path()).expect("SQLite is built in");
    let state = &corpus.state;
    let original = ranking(state, "h1");
    let last = original.last().unwrap().clone();
    assert_ne!(original[0], last);
    let desk = desk(state);
    let driver = chromedriver();
    let shots = dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    runtime().block_on(async {
        let mut caps = DesiredCapabilities::chrome();
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,1600",
        ] {
            caps.add_arg(arg).unwrap();
        }
        let browser = WebDriver::new(&driver.url, caps)
            .await
            .expect("a Chromium session");
        let result: WebDriverResult<()> = async {
            // The token as the basic password, as the browser's prompt would send it.
            let cdp = browser.cdp();
            cdp.send_raw("Network.enable", serde_json::json!({}))
                .await?;
            let basic = base64_basic("ana", EDITOR);
            cdp.send_raw(
                "Network.setExtraHTTPHeaders",
                serde_json::json!({"headers": {"Authorization": basic}}),
            )
            .await?;
            browser.goto(format!("{}/", desk.url)).await?;
            let list = browser.find(By::Id("hotels")).await?;
            let text = list.text().await?;
            for hotel in ["h1", "h2", "h3", "h4", "h5"] {
                assert!(text.contains(hotel), "{text}");
            }
            let list_shot = shots.join("review-hotels.png");
            browser.screenshot(&list_shot).await?;
            keep_screenshot(&list_shot);

            // Each click loads a page: wait (polling) for what only the new page has, such as
            // the undo button of the action just recorded (ids 1 and 2 in this store).
            browser.find(By::LinkText("h1")).await?.click().await?;
            let pin = By::Id(format!("first-{last}"));
            browser.query(pin).first().await?.click().await?;
            browser.query(By::Id("undo-1")).first().await?;
            browser.find(By::Id("pending")).await?;
            let split = By::Id(format!("split-{}", corpus.small));
            browser.query(split).first().await?.click().await?;
            browser.query(By::Id("undo-2")).first().await?;
            let audit = browser.find(By::Id("audit")).await?.text().await?;
            assert!(
                audit.contains("split") && audit.contains("first"),
                "{audit}"
            );
            assert!(audit.contains("Ana"), "{audit}");
            Ok(())
        }
        .await;
        let after = async {
            result?;
            // The fleet's recompute, here by hand: the order changed and the split holds.
            recompute(state);
            let ranked = ranking(state, "h1");
            assert_eq!(ranked[0], last, "{ranked:?}");
            assert!(
                ranked.contains(&corpus.small),
                "the split copy is kept on its own"
            );
            let store = Store::open(&state.db).await.unwrap();
            let duplicates = store.duplicates("h1").await.unwrap();
            assert_eq!(duplicates[&corpus.small], corpus.small);
            assert_eq!(duplicates[&corpus.large], corpus.large);
            store.close().await;
            recompute(state);
            assert_eq!(ranking(state, "h1"), ranked, "a later run keeps both");

            browser.refresh().await?;
            let cards = browser.find_all(By::ClassName("card")).await?;
            assert_eq!(cards.len(), 4);
            assert_eq!(
                cards[0].id().await?.as_deref(),
                Some(format!("image-{last}").as_str())
            );
            assert!(browser.find(By::Id("pending")).await.is_err());
            let hotel_shot = shots.join("review-hotel.png");
            browser.screenshot(&hotel_shot).await?;
            keep_screenshot(&hotel_shot);
            Ok::<_, WebDriverError>(())
        }
        .await;
        browser.quit().await.expect("close the browser");
        after.expect("the browser steps");
    });
    assert!(shots.join("review-hotels.png").is_file());
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `imgpipe eval --html`: the report as a page with its two plots, from a ground truth of the
/// corpus (picture 1's half-size copy is its only variant).
#[test]
fn eval_html_plots_precision_recall_and_distances() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = corpus(Engine::Sqlite, dir.path()).expect("SQLite is built in");
    let images = dir.path().join("images");
    let truth: String = [
        ("one.png", "h1", "1", "original"),
        ("one-small.png", "h1", "1", "half-size"),
        ("two.png", "h1", "2", "original"),
        ("three.png", "h1", "3", "original"),
        ("five.png", "h3", "5", "original"),
        ("six.png", "h3", "6", "original"),
    ]
    .iter()
    .map(|(file, group, picture, transform)| {
        format!(
            "{}\n",
            serde_json::json!({
                "url": format!("file://{}", images.join(file).display()),
                "hotel_group": group, "picture": picture, "transform": transform,
            })
        )
    })
    .collect();
    let truth_file = dir.path().join("truth.jsonl");
    std::fs::write(&truth_file, truth).unwrap();
    let page = dir.path().join("report/eval.html");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    let report = json(
        imgpipe(&corpus.state)
            .args(["eval", "--truth"])
            .arg(&truth_file)
            .arg("--html")
            .arg(&page),
    );
    assert_eq!(report["per_transform"]["half-size"]["recall"], 1.0);
    let same: u64 = report["distances"]["same"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(same, 1);
    let different = &report["distances"]["different"];
    assert_eq!(
        different.as_array().unwrap()[..9]
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>(),
        0,
        "unrelated pictures are far apart: {different}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    for part in [
        "<svg id=\"precision-recall\"",
        "<svg id=\"distances\"",
        "half-size",
        "id=\"threshold\"",
        "match at ≤ 8 bits",
    ] {
        assert!(html.contains(part), "{part} missing from the page");
    }
    assert!(html.matches("<rect").count() >= 6);
    keep_screenshot(&page);
}
