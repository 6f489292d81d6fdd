//! The pages' content (pure: data in, HTML out; the frame is [`Frame`](super::html::Frame)).

use std::fmt::Write as _;

use super::data::{platforms, Listing, RepoDetail, RepoRow, TagRow, PAGE_SIZE};
use super::html::{created, csrf_field, esc, size, time};

/// A table of repositories with links to the other pages, or a line saying there are none.
/// `here` is the page's path and query without `page` (`/search?q=web`).
pub(crate) fn listing(l: &Listing, here: &str, empty: &str) -> String {
    let mut out = repo_table(&l.rows, empty);
    let pages = l.total.div_ceil(PAGE_SIZE);
    if pages > 1 {
        let sep = if here.contains('?') { '&' } else { '?' };
        let link = |page: usize, label: &str, rel: &str| {
            let href = format!("{here}{sep}page={}", page + 1);
            format!("<a rel=\"{rel}\" href=\"{}\">{label}</a>", esc(&href))
        };
        out.push_str("<nav class=\"pager\">");
        if l.page > 0 {
            out.push_str(&link(l.page - 1, "← Previous", "prev"));
        }
        let _ = write!(out, "<span>Page {} of {pages}</span>", l.page + 1);
        if l.page + 1 < pages {
            out.push_str(&link(l.page + 1, "Next →", "next"));
        }
        out.push_str("</nav>");
    }
    out
}

/// A table of repositories, or a line saying there are none.
fn repo_table(rows: &[RepoRow], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", esc(empty));
    }
    let mut out = String::from(
        "<table class=\"repos\"><thead><tr><th>Repository</th><th>Visibility</th>\
         <th>Tags</th><th>Last push</th><th>Size</th></tr></thead><tbody>",
    );
    for r in rows {
        let _ = write!(
            out,
            "<tr data-repo=\"{0}\"><td><a href=\"/r/{0}\">{0}</a></td><td>{1}</td><td>{2}</td>\
             <td>{3}</td><td>{4}</td></tr>",
            esc(&r.name),
            badge(r.private),
            r.tags,
            r.last_push.map(time).unwrap_or_else(|| "—".into()),
            r.size.map(size).unwrap_or_else(|| "—".into()),
        );
    }
    out.push_str("</tbody></table>");
    out
}

fn badge(private: bool) -> &'static str {
    if private {
        "<span class=\"badge private\">private</span>"
    } else {
        "<span class=\"badge public\">public</span>"
    }
}

pub(crate) fn explore(l: &Listing) -> String {
    format!(
        "<h1>Explore</h1><p>Public repositories of this registry.</p>{}",
        listing(l, "/explore", "No public repositories yet.")
    )
}

pub(crate) fn namespace(ns: &str, l: &Listing, own: bool) -> String {
    let empty = if own {
        "You have no repositories yet: push one as NAMESPACE/REPOSITORY."
    } else {
        "No repositories to show."
    };
    format!(
        "<h1>{}</h1>{}",
        esc(ns),
        listing(l, &format!("/u/{ns}"), &empty.replace("NAMESPACE", ns))
    )
}

pub(crate) fn search(q: &str, l: &Listing) -> String {
    if q.is_empty() {
        return "<h1>Search</h1><p>Type part of a repository name.</p>".into();
    }
    let here = format!("/search?q={}", query_value(q));
    format!(
        "<h1>Results for “{}”</h1>{}",
        esc(q),
        listing(l, &here, "No repository matches.")
    )
}

/// Percent-encodes a query value (the search term in the pager's links).
fn query_value(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What the repository page may offer its visitor.
#[derive(Debug, Clone, Default)]
pub(crate) struct Controls {
    /// The CSRF token when the visitor may change something.
    pub csrf: Option<String>,
    pub set_visibility: bool,
    pub delete_tags: bool,
    /// Why nothing may be changed, shown instead of the forms.
    pub note: Option<String>,
}

/// A repository: its badge, pull commands, tags, and the owner's forms.
pub(crate) fn repository(d: &RepoDetail, host: &str, c: &Controls) -> String {
    let name = esc(&d.row.name);
    let mut out = format!(
        "<h1>{name} {}</h1><p class=\"meta\">{} tag(s){}</p>",
        badge(d.row.private),
        d.tags.len(),
        d.row
            .last_push
            .map(|t| format!(", last pushed {}", time(t)))
            .unwrap_or_default(),
    );
    let first = d.tags.first().map(|t| t.tag.as_str()).unwrap_or("latest");
    let reference = esc(&format!("{host}/{}:{first}", d.row.name));
    let _ = write!(
        out,
        "<section class=\"pull\"><h2>Pull</h2>\
         <pre><code class=\"copy\">berth pull {reference}</code></pre>\
         <pre><code class=\"copy\">docker pull {reference}</code></pre></section>",
    );
    if let (Some(csrf), true) = (&c.csrf, c.set_visibility) {
        let (to, label) = if d.row.private {
            ("public", "Make public")
        } else {
            ("private", "Make private")
        };
        let _ = write!(
            out,
            "<form class=\"visibility\" method=\"post\" action=\"/r/{name}/-/visibility\">{}\
             <input type=\"hidden\" name=\"visibility\" value=\"{to}\">\
             <button type=\"submit\" id=\"make-{to}\">{label}</button></form>",
            csrf_field(csrf),
        );
    }
    if let Some(note) = &c.note {
        let _ = write!(out, "<p class=\"note\">{}</p>", esc(note));
    }
    out.push_str(&tag_table(d, host, c));
    out
}

fn tag_table(d: &RepoDetail, host: &str, c: &Controls) -> String {
    if d.tags.is_empty() {
        return "<h2>Tags</h2><p class=\"empty\">No tags.</p>".into();
    }
    let delete = c.csrf.as_deref().filter(|_| c.delete_tags);
    let mut out = String::from(
        "<h2>Tags</h2><table class=\"tags\"><thead><tr><th>Tag</th><th>Digest</th><th>Size</th>\
         <th>Platforms</th><th>Created</th><th>Pushed</th><th>Pull</th>",
    );
    if delete.is_some() {
        out.push_str("<th></th>");
    }
    out.push_str("</tr></thead><tbody>");
    for t in &d.tags {
        out.push_str(&tag_row(&d.row.name, t, host, delete));
    }
    out.push_str("</tbody></table>");
    out
}

fn tag_row(repo: &str, t: &TagRow, host: &str, delete: Option<&str>) -> String {
    let digest = t.digest.to_string();
    let short = digest.get(..19).unwrap_or(&digest);
    let created = t
        .images
        .iter()
        .filter_map(|i| i.created.as_deref())
        .max()
        .map(created)
        .unwrap_or_else(|| "—".into());
    let per_platform: Vec<String> = t
        .images
        .iter()
        .map(|i| match &i.platform {
            Some(p) if t.images.len() > 1 => format!("{} ({})", esc(p), size(i.size)),
            Some(p) => esc(p),
            None => "—".into(),
        })
        .collect();
    let plats = if per_platform.is_empty() || platforms(t).is_empty() {
        "—".to_owned()
    } else {
        per_platform.join("<br>")
    };
    let mut out = format!(
        "<tr data-tag=\"{tag}\"><td class=\"tag\">{tag}</td>\
         <td><code title=\"{digest}\">{short}…</code></td><td>{size}</td><td>{plats}</td>\
         <td>{created}</td><td>{pushed}</td>\
         <td><code class=\"copy\">berth pull {host}/{repo}:{tag}</code></td>",
        tag = esc(&t.tag),
        digest = esc(&digest),
        short = esc(short),
        size = size(t.size()),
        pushed = t.pushed.map(time).unwrap_or_else(|| "—".into()),
        host = esc(host),
        repo = esc(repo),
    );
    if let Some(csrf) = delete {
        let _ = write!(
            out,
            "<td><form method=\"post\" action=\"/r/{}/-/delete-tag\">{}\
             <input type=\"hidden\" name=\"tag\" value=\"{tag}\">\
             <button type=\"submit\" class=\"danger\" id=\"delete-{tag}\">Delete</button>\
             </form></td>",
            esc(repo),
            csrf_field(csrf),
            tag = esc(&t.tag),
        );
    }
    out.push_str("</tr>");
    out
}

/// The sign-in form (`csrf` is `None` when the registry has no users).
pub(crate) fn login(csrf: Option<&str>, user: &str, error: Option<&str>) -> String {
    let Some(csrf) = csrf else {
        return "<h1>Sign in</h1><p class=\"note\">This registry has no users (it runs without \
                --htpasswd): everyone may pull and push every repository, and there is \
                nothing to sign in to.</p>"
            .into();
    };
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    format!(
        "<h1>Sign in</h1>{error}<form class=\"login\" method=\"post\" action=\"/login\">{}\
         <label>Username <input name=\"username\" id=\"username\" value=\"{}\" \
         autocomplete=\"username\" required></label>\
         <label>Password <input type=\"password\" name=\"password\" id=\"password\" \
         autocomplete=\"current-password\" required></label>\
         <button type=\"submit\" id=\"submit\">Sign in</button></form>\
         <p class=\"hint\">The same user and password as <code>berth login</code>.</p>",
        csrf_field(csrf),
        esc(user),
    )
}

/// An error page's content.
pub(crate) fn error(title: &str, message: &str) -> String {
    format!(
        "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/explore\">Explore repositories</a></p>",
        esc(title),
        esc(message)
    )
}

#[cfg(test)]
mod tests {
    use super::super::data::ImageRow;
    use super::*;
    use berth_image::Digest;

    fn detail(private: bool) -> RepoDetail {
        let image = |p: &str, size| ImageRow {
            platform: Some(p.into()),
            size,
            created: Some("2027-01-15T08:00:00Z".into()),
        };
        RepoDetail {
            row: RepoRow {
                name: "alice/web".into(),
                private,
                tags: 2,
                last_push: None,
                size: Some(3000),
            },
            tags: vec![
                TagRow {
                    tag: "v1".into(),
                    digest: Digest::of(b"x"),
                    pushed: None,
                    images: vec![image("linux/amd64", 1000), image("linux/arm64", 2000)],
                },
                TagRow {
                    tag: "<x>".into(),
                    digest: Digest::of(b"y"),
                    pushed: None,
                    images: vec![],
                },
            ],
        }
    }

    #[test]
    fn the_owner_gets_forms_and_others_do_not() {
        let d = detail(false);
        let owner = Controls {
            csrf: Some("tok".into()),
            set_visibility: true,
            delete_tags: true,
            note: None,
        };
        let html = repository(&d, "reg:5000", &owner);
        assert!(html.contains("id=\"make-private\"") && html.contains("id=\"delete-v1\""));
        assert_eq!(html.matches("name=\"csrf\" value=\"tok\"").count(), 3);
        assert!(html.contains("berth pull reg:5000/alice/web:v1"));
        assert!(html.contains("docker pull reg:5000/alice/web:v1"));
        assert!(html.contains("linux/amd64 (1kB)<br>linux/arm64 (2kB)"));
        assert!(html.contains("3kB"));
        let other = repository(&d, "reg:5000", &Controls::default());
        assert!(!other.contains("<form") && !other.contains("csrf"));
        let private = repository(&detail(true), "h", &owner);
        assert!(private.contains("id=\"make-public\"") && private.contains("badge private"));
    }

    #[test]
    fn long_lists_have_pages() {
        let row = |i: usize| RepoRow {
            name: format!("a/r{i}"),
            private: false,
            tags: 1,
            last_push: None,
            size: None,
        };
        let l = |page, total| Listing {
            rows: (0..3).map(row).collect(),
            page,
            total,
        };
        assert!(!listing(&l(0, 3), "/explore", "").contains("pager"));
        let first = listing(&l(0, 2 * PAGE_SIZE + 1), "/explore", "");
        assert!(first.contains("Page 1 of 3") && first.contains("href=\"/explore?page=2\""));
        assert!(!first.contains("rel=\"prev\""));
        let last = search("a &b", &l(2, 2 * PAGE_SIZE + 1));
        assert!(
            last.contains("href=\"/search?q=a+%26b&amp;page=2\""),
            "{last}"
        );
        assert!(!last.contains("rel=\"next\""));
    }

    #[test]
    fn names_and_tags_are_escaped() {
        let html = repository(&detail(false), "h<", &Controls::default());
        assert!(!html.contains("<x>") && html.contains("&lt;x&gt;"));
        assert!(!html.contains("h<"));
        let rows = [RepoRow {
            name: "a\"<b>".into(),
            private: false,
            tags: 0,
            last_push: None,
            size: None,
        }];
        let t = repo_table(&rows, "none");
        assert!(t.contains("a&quot;&lt;b&gt;") && !t.contains("<b>"));
        let none = Listing {
            rows: Vec::new(),
            page: 0,
            total: 0,
        };
        assert!(search("<q>", &none).contains("&lt;q&gt;"));
        assert!(login(Some("c"), "<u>", Some("<e>")).contains("&lt;u&gt;"));
        assert!(error("<t>", "<m>").contains("&lt;t&gt;"));
    }
}
