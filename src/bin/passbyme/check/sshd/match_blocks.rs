//! Evaluating every `Match` block: a connection it applies to, that connection's
//! effective configuration, and the problems it has that the global configuration does not.

use std::path::Path;

use super::judge::{judge, Problem};
use super::match_lines::read_blocks;
use super::probe::{spec_for, NoSpec};
use super::program::{Conf, Program, Sshd};
use crate::check::stack::Stack;
use crate::check::{Level, Report};

/// Evaluates every Match block: a connection it applies to, that connection's effective
/// configuration, and the problems it has that the global configuration does not.
/// Returns how many blocks there are and whether one weakens a login.
pub(super) fn check_blocks(
    r: &mut Report,
    sshd: &mut Sshd,
    main: &Path,
    (global_conf, global): (&Conf, &[Problem]),
    (stack, third_factor, program): (Option<&Stack>, bool, Program),
) -> Result<(usize, bool), String> {
    let mut blocks = Vec::new();
    read_blocks(main, 0, &mut blocks)?;
    if blocks.is_empty() {
        return Ok((0, false));
    }
    let lport = global_conf
        .get("port")
        .cloned()
        .unwrap_or_else(|| "22".into());
    let mut weak = false;
    let mut summary = Vec::new();
    for b in &blocks {
        let at = Some((b.file.as_path(), b.line));
        let name = b.name();
        let evaluated = spec_for(sshd, b, &lport)
            .map_err(|e| unevaluated(&name, e))
            .and_then(|spec| {
                let text = spec.text();
                match sshd.conf(&text) {
                    Ok(conf) => Ok((text, conf)),
                    Err(e) => Err((Level::Unknown, format!("{name}: {e}"))),
                }
            });
        let (text, conf) = match evaluated {
            Ok(t) => t,
            Err((level, message)) => {
                weak = true;
                summary.push(format!("{name} (line {}): not evaluated", b.line));
                r.add(level, "sshd-match-unevaluated", message, at);
                continue;
            }
        };
        let (problems, _) = judge(&conf, stack, third_factor, program);
        let new = weaker(&problems, global);
        if new.is_empty() {
            summary.push(format!("{name} (line {}) as {text}: no weaker", b.line));
            continue;
        }
        weak = true;
        summary.push(format!("{name} (line {}) as {text}: WEAKER", b.line));
        for p in new {
            r.add(
                p.level,
                p.id,
                format!("{name} (for connections such as {text}): {}", p.body),
                at,
            );
        }
    }
    r.ok(
        "sshd-match",
        format!(
            "{} Match block(s) evaluated, each for a connection the real sshd applies it to: {}",
            blocks.len(),
            summary.join("; ")
        ),
    );
    Ok((blocks.len(), weak))
}

/// The finding for a block no connection could be built for: its level and message.
fn unevaluated(name: &str, why: NoSpec) -> (Level, String) {
    match why {
        NoSpec::NoMember(g) => (Level::Warning, format!("{name}: no account is in a group matching '{g}' (group database), so no connection check can build matches it: not evaluated. It applies to nobody today, and to whoever joins the group later: check again then")),
        NoSpec::NoneMatched(why) => (Level::Warning, format!("{name}: {why}: not evaluated")),
        NoSpec::Unknown(why) => (Level::Unknown, format!("{name}: {why}: not evaluated")),
    }
}

/// The problems of a block's connection that the global configuration does not have
/// (the same finding with the same text).
fn weaker<'a>(problems: &'a [Problem], global: &[Problem]) -> Vec<&'a Problem> {
    problems
        .iter()
        .filter(|p| !global.iter().any(|g| g.id == p.id && g.body == p.body))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_not_evaluated_says_why_at_its_level() {
        let (level, m) = unevaluated("Match Group ops", NoSpec::NoMember("ops".into()));
        assert_eq!(level, Level::Warning);
        assert!(m.starts_with(
            "Match Group ops: no account is in a group matching 'ops' (group database)"
        ));
        assert_eq!(
            unevaluated("Match User x", NoSpec::NoneMatched("none".into())),
            (
                Level::Warning,
                "Match User x: none: not evaluated".to_owned()
            )
        );
        assert_eq!(
            unevaluated("Match Foo y", NoSpec::Unknown("unknown criterion".into())),
            (
                Level::Unknown,
                "Match Foo y: unknown criterion: not evaluated".to_owned()
            )
        );
    }

    #[test]
    fn only_what_the_global_configuration_lacks_is_weaker() {
        let p = |id, body: &str| Problem::new(Level::Critical, id, body.to_owned());
        let global = [p("sshd-usepam-off", "UsePAM no")];
        let block = [
            p("sshd-usepam-off", "UsePAM no"),
            p("sshd-method-without-push", "'password' logs in"),
            // The same id with another text (another method list) counts again.
            p("sshd-usepam-off", "UsePAM maybe"),
        ];
        let new: Vec<(&str, &str)> = weaker(&block, &global)
            .iter()
            .map(|p| (p.id, p.body.as_str()))
            .collect();
        assert_eq!(
            new,
            [
                ("sshd-method-without-push", "'password' logs in"),
                ("sshd-usepam-off", "UsePAM maybe")
            ]
        );
        assert!(weaker(&global, &global).is_empty());
    }
}
