//! HTML by hand: one escaping function every user-controlled string goes through, and the
//! page frame. (A template crate would cost more compile time than these few pages.)

use std::fmt::Write as _;
use std::time::SystemTime;

/// Escapes text for HTML element content and for double- or single-quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Bytes as docker prints them (decimal units): `1.23MB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
            + UNITS[unit]
    }
}

/// A `<time>` element for a moment, in UTC to the minute.
pub(crate) fn time(t: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Utc> = t.into();
    format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        t.format("%Y-%m-%d %H:%M UTC")
    )
}

/// An image config's `created` (RFC 3339), shown like [`time`]; kept as written (escaped) when
/// it does not parse.
pub(crate) fn created(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => time(t.with_timezone(&chrono::Utc).into()),
        Err(_) => esc(s),
    }
}

/// The signed-in user, for the header: their name and the sign-out form.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    pub user: String,
    pub csrf: String,
}

/// Everything around a page's content.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub title: &'a str,
    pub signed_in: Option<&'a SignedIn>,
    /// The registry has users (otherwise there is no sign-in link).
    pub users: bool,
    pub read_only: bool,
    /// The search box's current term.
    pub query: &'a str,
}

impl Frame<'_> {
    pub fn render(&self, content: &str) -> String {
        let mut out = String::with_capacity(content.len() + 2048);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{} · berth registry</title>\
             <link rel=\"stylesheet\" href=\"/static/style.css\"></head><body>\
             <header><a class=\"brand\" href=\"/\">berth registry</a>\
             <a href=\"/explore\">Explore</a>\
             <form class=\"search\" method=\"get\" action=\"/search\" role=\"search\">\
             <input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"Search repositories\" \
             aria-label=\"Search repositories\"><button type=\"submit\">Search</button></form>\
             <span class=\"who\">",
            esc(self.title),
            esc(self.query),
        );
        match self.signed_in {
            Some(s) => {
                let _ = write!(
                    out,
                    "<a id=\"me\" href=\"/u/{0}\">{0}</a>\
                     <form method=\"post\" action=\"/logout\">{1}\
                     <button type=\"submit\" id=\"sign-out\">Sign out</button></form>",
                    esc(&s.user),
                    csrf_field(&s.csrf),
                );
            }
            None if self.users => out.push_str("<a id=\"sign-in\" href=\"/login\">Sign in</a>"),
            None => {}
        }
        out.push_str("</span></header>");
        if self.read_only {
            out.push_str(
                "<p class=\"notice\">This registry is in read-only mode (maintenance): \
                 pages and pulls only, no changes.</p>",
            );
        }
        let _ = writeln!(out, "<main>{content}</main></body></html>");
        out
    }
}

/// The hidden field every state-changing form carries.
pub(crate) fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("alice/web:v1.0_rc-1"), "alice/web:v1.0_rc-1");
    }

    #[test]
    fn the_frame_escapes_what_the_visitor_typed() {
        let signed = SignedIn {
            user: "al\"ice".into(),
            csrf: "t<k".into(),
        };
        let html = Frame {
            title: "<b>",
            signed_in: Some(&signed),
            users: true,
            read_only: true,
            query: "\"><script>",
        }
        .render("<p>ok</p>");
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(html.contains("/u/al&quot;ice") && html.contains("value=\"t&lt;k\""));
        assert!(html.contains("read-only mode") && html.contains("<p>ok</p>"));
    }

    #[test]
    fn sizes_and_times() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(1000), "1kB");
        assert_eq!(size(2_345_678), "2.346MB");
        assert_eq!(size(5_000_000_000), "5GB");
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        assert_eq!(
            time(t),
            "<time datetime=\"2027-01-15T08:00:00Z\">2027-01-15 08:00 UTC</time>"
        );
        assert_eq!(created("2027-01-15T09:00:00+01:00"), time(t));
        assert_eq!(created("<yesterday>"), "&lt;yesterday&gt;");
    }
}
