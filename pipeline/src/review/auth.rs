//! Access to the review desk: tokens from `--token-file`, sent as `Authorization: Bearer` or as
//! the HTTP basic password (what a browser's prompt sends), and a CSRF token per session that
//! every POST must carry.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{App, ReviewError};
use crate::blobstore::hex;

/// The session cookie; the CSRF token of a session is derived from it.
const SESSION_COOKIE: &str = "imgpipe_review_session";
/// The form field (or `X-CSRF-Token` header) that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sees everything, changes nothing.
    Reviewer,
    /// May act.
    Editor,
}

/// One line of the token file: `TOKEN ROLE [NAME]`.
#[derive(Clone, Debug)]
struct Account {
    digest: [u8; 32],
    role: Role,
    /// Who the audit list names: NAME, else the basic-auth user name, else the line.
    name: Option<String>,
    line: usize,
}

#[derive(Clone, Debug)]
pub struct Tokens(Vec<Account>);

fn digest(text: &[u8]) -> [u8; 32] {
    Sha256::digest(text).into()
}

/// Reads a token file: one `TOKEN ROLE [NAME]` per line (role `reviewer` or `editor`), blank
/// lines and `#` comments ignored.
pub fn load_tokens(path: &Path) -> Result<Tokens, ReviewError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReviewError::TokenFileRead {
        path: path.display().to_string(),
        source,
    })?;
    let mut accounts: Vec<Account> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let problem = |message: &str| ReviewError::TokenFile {
            path: path.display().to_string(),
            line: index + 1,
            message: message.to_owned(),
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(token), Some(role)) = (fields.next(), fields.next()) else {
            return Err(problem("expected `TOKEN ROLE [NAME]`"));
        };
        let role = match role {
            "reviewer" => Role::Reviewer,
            "editor" => Role::Editor,
            _ => return Err(problem("the role must be `reviewer` or `editor`")),
        };
        if token.len() < 16 {
            return Err(problem(
                "the token is shorter than 16 characters: use a long random one \
                 (e.g. `openssl rand -hex 24`)",
            ));
        }
        let digest = digest(token.as_bytes());
        if accounts.iter().any(|a| a.digest == digest) {
            return Err(problem("this token is already on an earlier line"));
        }
        let name = fields.collect::<Vec<_>>().join(" ");
        accounts.push(Account {
            digest,
            role,
            name: (!name.is_empty()).then_some(name),
            line: index + 1,
        });
    }
    if accounts.is_empty() {
        return Err(ReviewError::NoTokens(path.display().to_string()));
    }
    Ok(Tokens(accounts))
}

/// The person behind a request, and their session's CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub actor: String,
    pub role: Role,
    pub csrf: String,
}

/// The token and basic-auth user name a request carries.
fn credentials(headers: &HeaderMap) -> Option<(String, Option<String>)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some((rest.trim().to_owned(), None));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((
        password.to_owned(),
        (!user.is_empty()).then(|| user.to_owned()),
    ))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"imgpipe review\", charset=\"UTF-8\"",
        )],
        "401: give a review token: as the password of the browser's prompt, or as \
         `Authorization: Bearer TOKEN`\n",
    )
        .into_response()
}

fn forbidden(message: &'static str) -> Response {
    (StatusCode::FORBIDDEN, format!("403: {message}\n")).into_response()
}

/// Equal in time that does not depend on where the two differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Authenticates every request, keeps a session cookie, and refuses a POST from a reviewer or
/// without its session's CSRF token.
pub async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some((token, user)) = credentials(request.headers()) else {
        return unauthorized();
    };
    let token_digest = digest(token.as_bytes());
    let Some(account) = app.tokens.0.iter().find(|a| same(&a.digest, &token_digest)) else {
        return unauthorized();
    };
    let existing = cookie(request.headers(), SESSION_COOKIE);
    let session_id = existing.clone().unwrap_or_else(|| {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the system's random source");
        hex(&bytes)
    });
    let mut mac = Sha256::new();
    mac.update(app.secret);
    mac.update(session_id.as_bytes());
    mac.update(account.digest);
    let csrf = hex(&mac.finalize())[..32].to_owned();
    let session = Session {
        actor: account
            .name
            .clone()
            .or(user)
            .unwrap_or_else(|| format!("token on line {}", account.line)),
        role: account.role,
        csrf,
    };
    let (parts, body) = request.into_parts();
    let request = if parts.method == Method::GET || parts.method == Method::HEAD {
        Request::from_parts(parts, body)
    } else {
        if session.role != Role::Editor {
            return forbidden("this token is a reviewer's: it may look, not act");
        }
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "413: form too large\n").into_response();
        };
        let from_header = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let from_form = url::form_urlencoded::parse(&bytes)
            .find(|(key, _)| key == CSRF_FIELD)
            .map(|(_, value)| value.into_owned());
        let sent = from_header.or(from_form);
        if existing.is_none()
            || !sent.is_some_and(|sent| same(sent.as_bytes(), session.csrf.as_bytes()))
        {
            return forbidden(
                "missing or wrong CSRF token: reload the page and submit its form again",
            );
        }
        Request::from_parts(parts, Body::from(bytes))
    };
    let mut request = request;
    request.extensions_mut().insert(session);
    let mut response = next.run(request).await;
    if existing.is_none() {
        let cookie = format!("{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Strict");
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("hex cookie"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(
            &path,
            "# reviewers\n0123456789abcdef0123 editor Ana\nshort editor\n",
        )
        .unwrap();
        let error = load_tokens(&path).unwrap_err().to_string();
        assert!(error.contains("line 3") && error.contains("16"), "{error}");
        std::fs::write(&path, "0123456789abcdef0123 admin\n").unwrap();
        let error = load_tokens(&path).unwrap_err().to_string();
        assert!(
            error.contains("line 1") && error.contains("reviewer"),
            "{error}"
        );
        std::fs::write(&path, "0123456789abcdef0123 reviewer\n").unwrap();
        assert_eq!(load_tokens(&path).unwrap().0[0].role, Role::Reviewer);
    }
}
