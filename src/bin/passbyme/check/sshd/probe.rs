//! A connection the real sshd applies a `Match` block to: candidates from the block's
//! criteria (group members from the group database), each tried on a probe file holding
//! only that `Match` line until sshd applies it.

use super::census::getent;
use super::match_lines::{wildmatch, Block};
use super::program::Sshd;
use super::spec::{addresses, filled, positives, Choice, Spec, DEFAULT_ADDR};

/// At most this many probes per Match block.
const MAX_PROBES: usize = 48;

/// Why no connection could be built for a block.
pub(super) enum NoSpec {
    /// A criterion check does not know.
    Unknown(String),
    /// No account is in a group the block names.
    NoMember(String),
    /// Candidates were tried and sshd applied the block to none of them.
    NoneMatched(String),
}

/// The accounts in the groups matching the positive patterns of `list`: members listed in
/// the group database, and accounts whose primary group it is.
fn group_members(list: &str) -> Result<Vec<String>, String> {
    let groups = getent("group", None)?;
    let mut gids = Vec::new();
    let mut users: Vec<String> = Vec::new();
    for g in &groups {
        let name = g.first().map(String::as_str).unwrap_or_default();
        if positives(list).iter().any(|p| wildmatch(p, name)) {
            if let Some(gid) = g.get(2) {
                gids.push(gid.clone());
            }
            for m in g.get(3).map(String::as_str).unwrap_or_default().split(',') {
                if !m.is_empty() && !users.iter().any(|u| u == m) {
                    users.push(m.to_owned());
                }
            }
        }
    }
    if !gids.is_empty() {
        for p in getent("passwd", None)? {
            if let (Some(name), Some(gid)) = (p.first(), p.get(3)) {
                if gids.contains(gid) && !users.contains(name) {
                    users.push(name.clone());
                }
            }
        }
    }
    Ok(users)
}

/// A connection that the real sshd applies `b` to (confirmed with a probe file holding only
/// its Match line), and how many probes it took.
pub(super) fn spec_for(sshd: &mut Sshd, b: &Block, lport: &str) -> Result<Spec, NoSpec> {
    let mut choices = Vec::new();
    let mut only_negated = Vec::new();
    let mut group = None;
    let mut user_patterns = None;
    let mut i = 0;
    while i < b.args.len() {
        let k = b.args[i].to_lowercase();
        if k == "all" {
            i += 1;
            continue;
        }
        let Some(v) = b.args.get(i + 1) else {
            return Err(NoSpec::Unknown(format!("'{}' has no value", b.args[i])));
        };
        i += 2;
        // A list of negations alone: tried with a value none of them names (sshd applies a
        // list only when a positive pattern matches, so the probe fails and says so).
        let mut pos = positives(v);
        if pos.is_empty() {
            only_negated.push(format!("{} {v}", b.args[i - 2]));
            pos = if matches!(k.as_str(), "address" | "localaddress") {
                vec![DEFAULT_ADDR]
            } else if k == "localport" {
                vec![lport]
            } else {
                vec!["pbm"]
            };
        }
        match k.as_str() {
            "user" => {
                user_patterns = Some(v.clone());
                choices.push(Choice::User(pos.iter().map(|p| filled(p, "pbm")).collect()));
            }
            "group" => group = Some(v.clone()),
            "host" => choices.push(Choice::Host(pos.iter().map(|p| filled(p, "pbm")).collect())),
            "address" => choices.push(Choice::Addr(pos.iter().flat_map(|p| addresses(p)).collect())),
            "localaddress" => {
                choices.push(Choice::LAddr(pos.iter().flat_map(|p| addresses(p)).collect()))
            }
            "localport" => choices.push(Choice::LPort(pos.iter().map(|p| filled(p, "2")).collect())),
            "rdomain" => choices.push(Choice::RDomain(pos.iter().map(|p| filled(p, "pbm")).collect())),
            _ => {
                return Err(NoSpec::Unknown(format!(
                    "the criterion '{}' is not one check knows (User, Group, Host, Address, LocalAddress, LocalPort, RDomain, All)",
                    b.args[i - 2]
                )))
            }
        }
    }
    if let Some(g) = &group {
        let members = group_members(g).map_err(NoSpec::Unknown)?;
        // With User criteria too, the members are tried first, then the user candidates.
        let members: Vec<String> = match &user_patterns {
            Some(u) => members
                .into_iter()
                .filter(|m| positives(u).iter().any(|p| wildmatch(p, m)))
                .collect(),
            None => members,
        };
        if members.is_empty() {
            return Err(NoSpec::NoMember(g.clone()));
        }
        choices.retain(|c| !matches!(c, Choice::User(_)));
        choices.push(Choice::User(members));
    }
    if choices.iter().any(|c| c.len() == 0) {
        return Err(NoSpec::NoneMatched(
            "check could not build a value for one of its criteria".into(),
        ));
    }
    // The probe: this Match line alone, setting a Banner nothing else sets.
    let dir = sshd.scratch().map_err(NoSpec::Unknown)?.to_path_buf();
    let probe = dir.join("probe_config");
    let marker = "/passbyme-match-probe";
    std::fs::write(
        &probe,
        format!(
            "HostKey {}\nMatch {}\n\tBanner {marker}\n",
            dir.join("host_key").display(),
            b.raw
        ),
    )
    .map_err(|e| NoSpec::Unknown(format!("{}: {e}", probe.display())))?;
    // Every combination of the candidates, first ones first, up to MAX_PROBES.
    let mut idx = vec![0usize; choices.len()];
    let mut tried = Vec::new();
    for _ in 0..MAX_PROBES {
        let mut spec = Spec::new(lport);
        for (c, &i) in choices.iter().zip(&idx) {
            c.apply(i, &mut spec);
        }
        let text = spec.text();
        match sshd.run(Some(&probe), Some(&text)) {
            Ok(Ok(c)) if c.get("banner").map(String::as_str) == Some(marker) => return Ok(spec),
            Ok(Ok(_)) => tried.push(text),
            Ok(Err(e)) | Err(e) => {
                return Err(NoSpec::Unknown(format!(
                    "sshd -T -C {text} on the Match line alone: {}",
                    e.replace('\n', "; ")
                )))
            }
        }
        // The next combination.
        let mut k = 0;
        loop {
            if k == idx.len() {
                let hint = if only_negated.is_empty() {
                    String::new()
                } else {
                    format!(" ('{}' has only negated patterns, and sshd applies a pattern list only when one of its positive patterns matches: it matches no connection; write e.g. 'User *,!root')", only_negated.join("', '"))
                };
                return Err(NoSpec::NoneMatched(format!(
                    "sshd applied it to none of the connections check built ({}){hint}",
                    tried.join("; ")
                )));
            }
            idx[k] += 1;
            if idx[k] < choices[k].len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
    Err(NoSpec::NoneMatched(format!(
        "sshd applied it to none of the {MAX_PROBES} connections check built"
    )))
}
