//! `--user` / image `User` → uid, gid, supplementary gids and home, with runc's
//! `GetExecUser` rules over the image's `/etc/passwd` and `/etc/group` contents.

use serde::{Deserialize, Serialize};

use super::SpecError;

/// runc's upper bound for ids (`1<<31 - 1`).
const MAX_ID: u64 = (1 << 31) - 1;

/// The process identity, as it goes into `process.user`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// The primary gid first, then the groups listing the user by name (Docker's order).
    pub additional_gids: Vec<u32>,
    /// From passwd; "/" when there is no entry.
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn lines(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

fn parse_id(field: &str) -> Option<u32> {
    field
        .parse::<u64>()
        .ok()
        .filter(|id| *id <= MAX_ID)
        .and_then(|id| u32::try_from(id).ok())
}

fn passwd_entries(passwd: Option<&str>) -> impl Iterator<Item = PasswdEntry<'_>> {
    // name:password:uid:gid:gecos:home:shell; malformed lines are skipped.
    lines(passwd).filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        Some(PasswdEntry {
            name: f.first()?,
            uid: parse_id(f.get(2)?)?,
            gid: parse_id(f.get(3)?)?,
            home: f.get(5).copied().unwrap_or_default(),
        })
    })
}

fn group_entries(group: Option<&str>) -> impl Iterator<Item = GroupEntry<'_>> {
    // name:password:gid:member,member
    lines(group).filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        Some(GroupEntry {
            name: f.first()?,
            gid: parse_id(f.get(2)?)?,
            members: f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    })
}

/// A numeric id as the user wrote it: `Ok(None)` if not numeric, an error if out of range.
/// `--group-add NAME|GID`: a gid, named groups looked up in the image's /etc/group.
pub(crate) fn group_id(name: &str, group: Option<&str>) -> Result<u32, SpecError> {
    if let Some(gid) = numeric(name, name)? {
        return Ok(gid);
    }
    group_entries(group)
        .find(|g| g.name == name)
        .map(|g| g.gid)
        .ok_or_else(|| SpecError::InvalidUser {
            user: name.to_string(),
            reason: "no such group in the image's /etc/group (--group-add)".to_string(),
        })
}

fn numeric(spec: &str, part: &str) -> Result<Option<u32>, SpecError> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    parse_id(part)
        .map(Some)
        .ok_or_else(|| SpecError::InvalidUser {
            user: spec.to_string(),
            reason: format!("id {part} is out of range"),
        })
}

/// Resolve `""`, `name`, `uid`, `name:group`, `uid:gid` (and mixes) against the image's
/// passwd and group files. A name that is not in passwd is an error; a number need not be.
pub fn resolve_user(
    user: Option<&str>,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, SpecError> {
    let spec = user.unwrap_or_default().trim();
    let (user_part, group_part) = spec.split_once(':').unwrap_or((spec, ""));
    let uid_arg = numeric(spec, user_part)?;

    let matched = passwd_entries(passwd).find(|e| match (user_part, uid_arg) {
        ("", _) => e.uid == 0,
        (_, Some(uid)) => e.uid == uid,
        (name, None) => e.name == name,
    });
    let mut resolved = ResolvedUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".to_string(),
    };
    let matched_name = match (&matched, uid_arg) {
        (Some(e), _) => {
            resolved.uid = e.uid;
            resolved.gid = e.gid;
            if !e.home.is_empty() {
                resolved.home = e.home.to_string();
            }
            Some(e.name)
        }
        (None, Some(uid)) => {
            resolved.uid = uid;
            None
        }
        (None, None) if user_part.is_empty() => None,
        (None, None) => return Err(SpecError::UserNotFound(user_part.to_string())),
    };

    let mut supplementary = Vec::new();
    if !group_part.is_empty() {
        let gid_arg = numeric(spec, group_part)?;
        let found = group_entries(group).find(|g| match gid_arg {
            Some(gid) => g.gid == gid,
            None => g.name == group_part,
        });
        resolved.gid = match (found, gid_arg) {
            (Some(g), _) => g.gid,
            (None, Some(gid)) => gid,
            (None, None) => return Err(SpecError::GroupNotFound(group_part.to_string())),
        };
    } else if let Some(name) = matched_name {
        // Supplementary groups only in the implicit form, as runc does.
        supplementary = group_entries(group)
            .filter(|g| g.members.contains(&name))
            .map(|g| g.gid)
            .collect();
    }
    resolved.additional_gids = std::iter::once(resolved.gid).chain(supplementary).collect();
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
app:x:1000:1000:App,,,:/home/app:/bin/sh
nohome:x:1001:1001::
broken line
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
";
    const GROUP: &str = "\
root:x:0:
daemon:x:1:
www-data:x:33:app
app:x:1000:
audio:x:29:app,nohome
staff:x:50:
";

    fn ok(uid: u32, gid: u32, gids: &[u32], home: &str) -> Result<ResolvedUser, SpecError> {
        Ok(ResolvedUser {
            uid,
            gid,
            additional_gids: gids.to_vec(),
            home: home.to_string(),
        })
    }

    #[test]
    fn user_table() {
        type Row<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            Result<ResolvedUser, SpecError>,
        );
        let rows: Vec<Row> = vec![
            (
                "default is root",
                None,
                Some(PASSWD),
                Some(GROUP),
                ok(0, 0, &[0], "/root"),
            ),
            (
                "empty is root",
                Some(""),
                Some(PASSWD),
                Some(GROUP),
                ok(0, 0, &[0], "/root"),
            ),
            ("no passwd file", None, None, None, ok(0, 0, &[0], "/")),
            (
                "by name, with groups",
                Some("app"),
                Some(PASSWD),
                Some(GROUP),
                ok(1000, 1000, &[1000, 33, 29], "/home/app"),
            ),
            (
                "by uid finds the entry",
                Some("1000"),
                Some(PASSWD),
                Some(GROUP),
                ok(1000, 1000, &[1000, 33, 29], "/home/app"),
            ),
            (
                "unknown uid is fine",
                Some("4242"),
                Some(PASSWD),
                Some(GROUP),
                ok(4242, 0, &[0], "/"),
            ),
            (
                "uid without passwd",
                Some("1000"),
                None,
                None,
                ok(1000, 0, &[0], "/"),
            ),
            (
                "uid:gid numeric",
                Some("4242:4343"),
                Some(PASSWD),
                Some(GROUP),
                ok(4242, 4343, &[4343], "/"),
            ),
            (
                "name:group",
                Some("app:staff"),
                Some(PASSWD),
                Some(GROUP),
                ok(1000, 50, &[50], "/home/app"),
            ),
            (
                "name:gid",
                Some("daemon:33"),
                Some(PASSWD),
                Some(GROUP),
                ok(1, 33, &[33], "/usr/sbin"),
            ),
            (
                "uid:group name",
                Some("33:audio"),
                Some(PASSWD),
                Some(GROUP),
                ok(33, 29, &[29], "/var/www"),
            ),
            (
                "empty home falls back",
                Some("nohome"),
                Some(PASSWD),
                Some(GROUP),
                ok(1001, 1001, &[1001, 29], "/"),
            ),
            (
                "unknown name",
                Some("ghost"),
                Some(PASSWD),
                Some(GROUP),
                Err(SpecError::UserNotFound("ghost".into())),
            ),
            (
                "name without passwd",
                Some("app"),
                None,
                None,
                Err(SpecError::UserNotFound("app".into())),
            ),
            (
                "unknown group",
                Some("app:nogroup"),
                Some(PASSWD),
                Some(GROUP),
                Err(SpecError::GroupNotFound("nogroup".into())),
            ),
            (
                "uid out of range",
                Some("4294967296"),
                Some(PASSWD),
                None,
                Err(SpecError::InvalidUser {
                    user: "4294967296".into(),
                    reason: "id 4294967296 is out of range".into(),
                }),
            ),
        ];
        for (name, user, passwd, group, want) in rows {
            assert_eq!(resolve_user(user, passwd, group), want, "{name}");
        }
    }

    #[test]
    fn user_error_messages() {
        assert_eq!(
            SpecError::UserNotFound("app".into()).to_string(),
            "unable to find user app: no matching entries in passwd file"
        );
        assert_eq!(
            SpecError::GroupNotFound("web".into()).to_string(),
            "unable to find group web: no matching entries in group file"
        );
    }
}
