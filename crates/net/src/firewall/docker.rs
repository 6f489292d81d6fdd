//! Living next to Docker (or anything that sets the `ip filter` FORWARD policy to drop).
//!
//! In nftables every base chain on a hook runs, and a packet survives only if *all* of them
//! accept it: berth's own `forward` chain accepting does not save a packet from the drop policy
//! of Docker's `FORWARD` chain (iptables-nft keeps it in `table ip filter`). Like netavark's
//! iptables driver, berth therefore puts two accept rules per bridge into that table:
//! `iifname BR accept` and `oifname BR accept` (berth's own chain still filters what reaches
//! the containers). They go into Docker's `DOCKER-USER` chain when it exists — the chain Docker
//! documents for exactly this and never flushes — otherwise at the top of a drop-policy
//! `FORWARD`; when neither exists nothing is touched. Each rule carries the comment
//! `berth:<table>:<bridge>`, which is how they are found again for removal. The expressions are
//! the ones iptables-nft itself writes for `-i/-o BR -j ACCEPT -m comment`, so `iptables -S`
//! and Docker keep working on the chain.

use serde_json::Value;

use super::Nft;
use crate::NetError;

/// A berth rule found in `ip filter`.
#[derive(Debug, PartialEq)]
struct Found {
    chain: String,
    handle: u64,
    comment: String,
}

/// What `nft -j list table ip filter` says: the chain to use and berth's rules in it.
#[derive(Debug, Default, PartialEq)]
struct FilterTable {
    target: Option<String>,
    ours: Vec<Found>,
}

fn comment_for(table: &str, bridge: &str) -> String {
    format!("berth:{table}:{bridge}")
}

fn parse(json: &str, table: &str) -> FilterTable {
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return FilterTable::default();
    };
    let items = v["nftables"].as_array().cloned().unwrap_or_default();
    let mut docker_user = false;
    let mut forward_drop: Option<String> = None;
    let mut ours = Vec::new();
    let prefix = format!("berth:{table}:");
    for item in &items {
        if let Some(c) = item.get("chain") {
            let name = c["name"].as_str().unwrap_or_default();
            if name == "DOCKER-USER" {
                docker_user = true;
            }
            if c["hook"] == "forward" && c["policy"] == "drop" {
                forward_drop = Some(name.to_string());
            }
        }
        if let Some(r) = item.get("rule") {
            let comment = r["comment"].as_str().unwrap_or_default();
            if comment.starts_with(&prefix) {
                ours.push(Found {
                    chain: r["chain"].as_str().unwrap_or_default().to_string(),
                    handle: r["handle"].as_u64().unwrap_or_default(),
                    comment: comment.to_string(),
                });
            }
        }
    }
    let target = if docker_user {
        Some("DOCKER-USER".to_string())
    } else {
        forward_drop
    };
    FilterTable { target, ours }
}

fn list(nft: &Nft) -> Option<String> {
    // No `ip filter` table (the usual case without Docker) is not an error.
    nft.run("list nft table ip filter", "list table ip filter", true)
        .ok()
}

/// The script that makes `bridges` pass `ip filter`, given what is there now.
fn ensure_script(state: &FilterTable, table: &str, bridges: &[&str]) -> String {
    let Some(chain) = &state.target else {
        return String::new();
    };
    let mut s = String::new();
    for b in bridges {
        let comment = comment_for(table, b);
        let present: Vec<&Found> = state
            .ours
            .iter()
            .filter(|f| f.comment == comment && &f.chain == chain)
            .collect();
        if present.len() == 2 {
            continue;
        }
        for f in present {
            s.push_str(&format!(
                "delete rule ip filter {} handle {}\n",
                f.chain, f.handle
            ));
        }
        for dir in ["oifname", "iifname"] {
            s.push_str(&format!(
                "insert rule ip filter {chain} {dir} \"{b}\" accept comment \"{comment}\"\n"
            ));
        }
    }
    s
}

/// Makes sure a drop-policy `ip filter` FORWARD lets traffic of `bridges` through.
pub(crate) fn ensure(nft: &Nft, bridges: &[&str]) -> Result<(), NetError> {
    let table = nft.table();
    let Some(json) = list(nft) else {
        warn_if_legacy(bridges);
        return Ok(());
    };
    let script = ensure_script(&parse(&json, table), table, bridges);
    if script.is_empty() {
        return Ok(());
    }
    tracing::info!(table, "adding accept rules for berth bridges to ip filter");
    nft.run(
        "allow berth bridges through ip filter FORWARD",
        &script,
        false,
    )
    .map(|_| ())
}

/// iptables-legacy tables are invisible to nft; say what to do if one may be dropping.
fn warn_if_legacy(bridges: &[&str]) {
    let legacy = std::fs::read_to_string("/proc/net/ip_tables_names")
        .is_ok_and(|t| t.lines().any(|l| l.trim() == "filter"));
    if legacy {
        for b in bridges {
            tracing::warn!(
                bridge = b,
                "an iptables-legacy filter table exists; if its FORWARD policy is DROP, allow \
                 berth's bridge there: iptables -I FORWARD -i {b} -j ACCEPT; \
                 iptables -I FORWARD -o {b} -j ACCEPT"
            );
        }
    }
}

/// Removes berth's rules for `bridge` (all of this table's when `None`) from `ip filter`.
pub(crate) fn remove(nft: &Nft, bridge: Option<&str>) -> Result<(), NetError> {
    let table = nft.table();
    let Some(json) = list(nft) else {
        return Ok(());
    };
    let state = parse(&json, table);
    let want = bridge.map(|b| comment_for(table, b));
    let script: String = state
        .ours
        .iter()
        .filter(|f| want.as_ref().is_none_or(|w| &f.comment == w))
        .map(|f| format!("delete rule ip filter {} handle {}\n", f.chain, f.handle))
        .collect();
    if script.is_empty() {
        return Ok(());
    }
    nft.run("remove berth rules from ip filter", &script, false)
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERISH: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6"}},
      {"table": {"family": "ip", "name": "filter", "handle": 1}},
      {"chain": {"family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 1}},
      {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 2, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
      {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 3, "expr": []}},
      {"rule": {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "handle": 5, "comment": "berth:t:br0", "expr": []}},
      {"rule": {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "handle": 6, "comment": "berth:other:br0", "expr": []}}]}"#;

    #[test]
    fn prefers_docker_user_and_repairs_half_rules() {
        let st = parse(DOCKERISH, "t");
        assert_eq!(st.target.as_deref(), Some("DOCKER-USER"));
        assert_eq!(
            st.ours.len(),
            1,
            "rules of another berth table are not ours"
        );
        let s = ensure_script(&st, "t", &["br0", "br1"]);
        assert!(s.contains("delete rule ip filter DOCKER-USER handle 5\n"));
        assert!(s.contains(
            "insert rule ip filter DOCKER-USER iifname \"br0\" accept comment \"berth:t:br0\""
        ));
        assert!(s.contains(
            "insert rule ip filter DOCKER-USER oifname \"br1\" accept comment \"berth:t:br1\""
        ));
    }

    #[test]
    fn forward_drop_without_docker_user_and_accept_policy() {
        let json = DOCKERISH.replace("DOCKER-USER", "OTHER");
        let st = parse(&json, "t");
        assert_eq!(st.target.as_deref(), Some("FORWARD"));
        let accept = json.replace("\"drop\"", "\"accept\"");
        assert_eq!(parse(&accept, "t").target, None);
        assert_eq!(ensure_script(&parse(&accept, "t"), "t", &["br0"]), "");
    }
}
