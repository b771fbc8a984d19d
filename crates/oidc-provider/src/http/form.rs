//! Strict parsing of `application/x-www-form-urlencoded` data and of cookies.

use axum::http::{header, HeaderMap};

/// Why a query string or form body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MalformedForm;

/// Most parameters any endpoint accepts; more is refused before any parsing work.
const MAX_PAIRS: usize = 100;

/// Parses form-urlencoded bytes, refusing invalid percent-encoding results that are not UTF-8
/// (the `url` crate's parser would replace them silently).
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<(String, String)>, MalformedForm> {
    let mut pairs = Vec::new();
    for piece in bytes
        .split(|byte| *byte == b'&')
        .filter(|piece| !piece.is_empty())
    {
        if pairs.len() == MAX_PAIRS {
            return Err(MalformedForm);
        }
        let (name, value) = match piece.iter().position(|byte| *byte == b'=') {
            Some(at) => (&piece[..at], &piece[at + 1..]),
            None => (piece, &b""[..]),
        };
        pairs.push((decode(name)?, decode(value)?));
    }
    Ok(pairs)
}

fn decode(raw: &[u8]) -> Result<String, MalformedForm> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|byte| if *byte == b'+' { b' ' } else { *byte })
        .collect();
    let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
    String::from_utf8(decoded).map_err(|_| MalformedForm)
}

/// The value of the one form field `name` (None if absent or repeated).
pub(super) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = pairs
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    let first = values.next();
    if values.next().is_some() {
        return None;
    }
    first
}

/// A cookie's value from the request.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure unless plain-http loopback.
pub(super) fn set_cookie(name: &str, value: &str, max_age_seconds: i64, secure: bool) -> String {
    let mut cookie = cookie::Cookie::build((name.to_owned(), value.to_owned()))
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age_seconds))
        .secure(secure)
        .build();
    if max_age_seconds <= 0 {
        cookie.make_removal();
    }
    cookie.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pluses_and_percents_decode() {
        let pairs = parse(b"a=b+c&d=%C3%A6&e").expect("valid");
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "b c".into()),
                ("d".into(), "æ".into()),
                ("e".into(), String::new())
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert_eq!(parse(b"a=%FF"), Err(MalformedForm));
    }

    #[test]
    fn repeated_fields_have_no_single_value() {
        let pairs = parse(b"a=1&a=2&b=3").expect("valid");
        assert_eq!(field(&pairs, "a"), None);
        assert_eq!(field(&pairs, "b"), Some("3"));
    }

    #[test]
    fn session_cookie_is_strict() {
        let cookie = set_cookie("segl_session", "abc", 60, true);
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Secure"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
    }
}
