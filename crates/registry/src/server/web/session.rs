//! Session cookies and CSRF tokens for the web pages.
//!
//! A cookie is `base64url(json).base64url(hmac)`, signed with a key derived from the token key
//! for this purpose only (so a bearer token never passes for a cookie). It carries the user
//! (empty before sign-in: the login form needs a session to bind its CSRF token to), a random
//! session id and an expiry. Anything that does not verify — truncated, tampered, expired,
//! signed with another key, not base64, not JSON, too long — is no session at all: the visitor
//! is anonymous, never an error.
//!
//! A CSRF token is the HMAC of the session id: every state-changing form carries it, and a
//! POST whose token does not match its cookie's session is refused.

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The cookie's name.
pub(crate) const COOKIE: &str = "berth_session";
/// How long a sign-in lasts.
pub(crate) const SIGNED_IN_TTL: u64 = 8 * 3600;
/// How long a login form stays usable.
pub(crate) const LOGIN_FORM_TTL: u64 = 3600;
/// Longer values are not looked at (a real one is about 150 bytes).
const MAX_COOKIE_LEN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Session {
    /// The signed-in user; empty before sign-in.
    #[serde(rename = "u")]
    pub user: String,
    /// Random, fresh at each sign-in (a session fixed before sign-in is not the one after).
    #[serde(rename = "s")]
    pub sid: String,
    /// Expiry, seconds since the epoch.
    #[serde(rename = "e")]
    pub exp: u64,
    /// The user's password stamp at sign-in ([`Access::password_stamp`]): a changed
    /// password ends the sessions opened with the old one.
    ///
    /// [`Access::password_stamp`]: crate::server::access::Access::password_stamp
    #[serde(rename = "p", default, skip_serializing_if = "String::is_empty")]
    pub stamp: String,
}

impl Session {
    pub fn new(user: &str, now: u64, ttl: u64) -> Session {
        Session {
            user: user.to_owned(),
            sid: hex::encode(rand::random::<[u8; 16]>()),
            exp: now + ttl,
            stamp: String::new(),
        }
    }

    pub fn signed_in(&self) -> Option<&str> {
        (!self.user.is_empty()).then_some(self.user.as_str())
    }
}

/// Signs and checks cookies and CSRF tokens with one key.
pub(crate) struct Keys {
    key: [u8; 32],
}

impl Keys {
    pub fn new(key: [u8; 32]) -> Keys {
        Keys { key }
    }

    fn mac(&self, domain: &[u8], data: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
        mac.update(domain);
        mac.update(data);
        mac
    }

    /// The cookie value for `s`.
    pub fn seal(&self, s: &Session) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(s).unwrap_or_default());
        let sig = self.mac(b"cookie\0", payload.as_bytes()).finalize();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(sig.into_bytes()))
    }

    /// The session of a cookie value this server sealed, if it has not expired at `now`.
    pub fn open(&self, value: &str, now: u64) -> Option<Session> {
        if value.len() > MAX_COOKIE_LEN {
            return None;
        }
        let (payload, sig) = value.split_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        self.mac(b"cookie\0", payload.as_bytes())
            .verify_slice(&sig)
            .ok()?;
        let s: Session = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (s.exp > now && !s.sid.is_empty()).then_some(s)
    }

    /// The CSRF token of the forms of session `s`.
    pub fn csrf(&self, s: &Session) -> String {
        let tag = self.mac(b"csrf\0", s.sid.as_bytes()).finalize();
        URL_SAFE_NO_PAD.encode(tag.into_bytes())
    }

    /// True when `token` is the CSRF token of session `s` (compared in constant time).
    pub fn check_csrf(&self, s: &Session, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        self.mac(b"csrf\0", s.sid.as_bytes())
            .verify_slice(&tag)
            .is_ok()
    }

    /// The first valid session among the request's cookies (there may be several `Cookie`
    /// headers, and several cookies of our name from different paths).
    pub fn find_in(&self, headers: &HeaderMap, now: u64) -> Option<Session> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == COOKIE)
            .find_map(|(_, value)| self.open(value.trim_matches('"'), now))
    }
}

/// A `Set-Cookie` value: HttpOnly (no script reads it), SameSite=Lax (other sites' forms do
/// not carry it), Secure when served over TLS.
pub(crate) fn set_cookie(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

/// The `Set-Cookie` value that removes the cookie.
pub(crate) fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const NOW: u64 = 1_800_000_000;

    fn keys() -> Keys {
        Keys::new([7; 32])
    }

    #[test]
    fn cookies_round_trip() {
        let s = Session::new("alice", NOW, 60);
        let v = keys().seal(&s);
        assert_eq!(keys().open(&v, NOW), Some(s.clone()));
        assert_eq!(s.signed_in(), Some("alice"));
        assert_eq!(Session::new("", NOW, 60).signed_in(), None);
    }

    #[test]
    fn bad_cookies_are_no_session() {
        let k = keys();
        let v = k.seal(&Session::new("alice", NOW, 60));
        let (payload, sig) = v.split_once('.').unwrap();
        // Another user's name under alice's signature.
        let forged = URL_SAFE_NO_PAD.encode(br#"{"u":"bob","s":"x","e":9999999999}"#);
        let mut flipped = sig.as_bytes().to_vec();
        flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        // Valid signature over a payload that is not a session.
        let not_json = {
            let p = URL_SAFE_NO_PAD.encode(b"not json");
            let sig = k.mac(b"cookie\0", p.as_bytes()).finalize().into_bytes();
            format!("{p}.{}", URL_SAFE_NO_PAD.encode(sig))
        };
        let bad = [
            String::new(),
            ".".into(),
            payload.into(),
            format!("{payload}."),
            format!("{payload}.{}", &sig[..sig.len() - 2]),
            v[..v.len() / 2].to_string(),
            format!("{forged}.{sig}"),
            format!("{payload}.{flipped}"),
            "%%%.@@@".into(),
            "\u{1F600}.\u{1F600}".into(),
            format!("{v}{}", "A".repeat(2000)),
            not_json,
        ];
        for b in &bad {
            assert_eq!(k.open(b, NOW), None, "{b:?}");
        }
        // Expired, and signed with another key.
        assert_eq!(k.open(&v, NOW + 61), None);
        assert_eq!(Keys::new([8; 32]).open(&v, NOW), None);
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let k = keys();
        let a = Session::new("alice", NOW, 60);
        let b = Session::new("alice", NOW, 60);
        let t = k.csrf(&a);
        assert!(k.check_csrf(&a, &t));
        assert!(!k.check_csrf(&b, &t), "another session of the same user");
        assert!(!k.check_csrf(&a, ""));
        assert!(!k.check_csrf(&a, "not base64!"));
        assert!(!k.check_csrf(&a, &t[..t.len() - 1]));
        assert!(!Keys::new([8; 32]).check_csrf(&a, &t));
    }

    #[test]
    fn the_first_valid_cookie_of_the_request_counts() {
        let k = keys();
        let s = Session::new("alice", NOW, 60);
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("other=1; berth_session=junk"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert_eq!(k.find_in(&h, NOW), None);
        let good = format!("berth_session={}; x=y", k.seal(&s));
        h.append(header::COOKIE, HeaderValue::from_str(&good).unwrap());
        assert_eq!(k.find_in(&h, NOW), Some(s));
    }

    #[test]
    fn cookie_attributes() {
        assert_eq!(
            set_cookie("v", 10, false),
            "berth_session=v; Max-Age=10; Path=/; HttpOnly; SameSite=Lax"
        );
        assert!(set_cookie("v", 10, true).ends_with("; Secure"));
        assert!(clear_cookie(false).starts_with("berth_session=; Max-Age=0;"));
    }
}
