//! The report as text (the monitoring-plugin first line, the alerts, the tables) or as
//! one JSON document, and its exit code.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use time::OffsetDateTime;

use super::parse::{fmt_time, Kind};
use super::summary::{Level, Row, Summary};

impl Summary {
    fn worst(&self) -> Option<Level> {
        self.alerts.iter().map(|a| a.level).max()
    }

    fn first_line(&self) -> String {
        match self.worst() {
            None => format!(
                "PASSBYME OK - {} decision(s): {} approved, no alert",
                self.lines,
                self.total.count(Kind::Approved)
            ),
            Some(w) => {
                let n = |l: Level| self.alerts.iter().filter(|a| a.level == l).count();
                let mut parts = Vec::new();
                for l in [Level::Critical, Level::Warning] {
                    if n(l) > 0 {
                        parts.push(format!("{} {}", n(l), l.word().to_lowercase()));
                    }
                }
                format!(
                    "PASSBYME {} - {}: {}: {}",
                    w.word(),
                    parts.join(", "),
                    self.alerts[0].id,
                    self.alerts[0].message
                )
            }
        }
    }

    pub(super) fn code(&self) -> u8 {
        match self.worst() {
            None => 0,
            Some(Level::Warning) => 1,
            Some(Level::Critical) => 2,
        }
    }

    fn table(out: &mut String, title: &str, rows: &BTreeMap<String, Row>) {
        let kinds: Vec<Kind> = Kind::ALL
            .iter()
            .copied()
            .filter(|k| rows.values().any(|r| r.count(*k) > 0))
            .collect();
        let width = rows
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len());
        let _ = write!(out, "{title:<width$}");
        for k in &kinds {
            let _ = write!(out, " {:>w$}", k.column(), w = k.column().len().max(3));
        }
        let _ = writeln!(out, " {:>6} {:>6}", "p50", "p95");
        for (name, row) in rows {
            let _ = write!(out, "{name:<width$}");
            for k in &kinds {
                let _ = write!(out, " {:>w$}", row.count(*k), w = k.column().len().max(3));
            }
            let p = |q| row.latency(q).map_or("-".into(), |s| format!("{s:.1}s"));
            let _ = writeln!(out, " {:>6} {:>6}", p(50), p(95));
        }
    }

    pub(super) fn text(&self, about: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.first_line());
        for a in &self.alerts {
            let tag = match a.level {
                Level::Critical => "FAIL",
                Level::Warning => "WARN",
            };
            let _ = writeln!(out, "{tag}  {}: {}", a.id, a.message);
        }
        let _ = writeln!(out, "{about}");
        let _ = writeln!(
            out,
            "{} decision line(s) counted, {} malformed, {} untrusted",
            self.lines,
            self.rejected.malformed,
            self.rejected.untrusted.values().sum::<u64>()
        );
        if !self.users.is_empty() {
            out.push('\n');
            Summary::table(&mut out, "user", &self.users);
            out.push('\n');
            Summary::table(&mut out, "source", &self.sources);
        }
        out
    }

    pub(super) fn json(&self, about: &str, since: OffsetDateTime, until: OffsetDateTime) -> String {
        let row = |r: &Row| {
            let mut m = serde_json::Map::new();
            for k in Kind::ALL {
                m.insert(k.column().into(), r.count(k).into());
            }
            m.insert("latency_p50".into(), r.latency(50).into());
            m.insert("latency_p95".into(), r.latency(95).into());
            serde_json::Value::Object(m)
        };
        let rows = |rows: &BTreeMap<String, Row>, key: &str| {
            rows.iter()
                .map(|(n, r)| {
                    let mut v = row(r);
                    v[key] = n.clone().into();
                    v
                })
                .collect::<Vec<_>>()
        };
        let doc = serde_json::json!({
            "summary": self.first_line(),
            "exit": self.code(),
            "since": fmt_time(since),
            "until": fmt_time(until),
            "source": about,
            "decisions": self.lines,
            "malformed": self.rejected.malformed,
            "untrusted": self.rejected.untrusted.values().sum::<u64>(),
            "alerts": self.alerts.iter().map(|a| serde_json::json!({
                "level": a.level.word(),
                "id": a.id,
                "user": a.user,
                "message": a.message,
            })).collect::<Vec<_>>(),
            "total": row(&self.total),
            "users": rows(&self.users, "user"),
            "sources": rows(&self.sources, "source"),
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixtures::{now, OK};
    use super::super::parse::parse_message;
    use super::super::read::Input;
    use super::super::summary::summarize;
    use super::*;

    /// A summary of decision lines, one a second from `now()`.
    fn of(lines: &[&str]) -> Summary {
        let mut input = Input::default();
        for (i, l) in lines.iter().enumerate() {
            let at = now() + time::Duration::seconds(i64::try_from(i).unwrap());
            input.decisions.push((at, parse_message(l).unwrap()));
        }
        summarize(input, 3, Duration::from_secs(600))
    }

    #[test]
    fn no_alert_is_ok_with_the_tables() {
        let s = of(&[OK]);
        assert_eq!(s.code(), 0);
        assert_eq!(
            s.text("about"),
            "PASSBYME OK - 1 decision(s): 1 approved, no alert\n\
             about\n\
             1 decision line(s) counted, 0 malformed, 0 untrusted\n\
             \n\
             user  approved    p50    p95\n\
             alice        1   2.5s   2.5s\n\
             \n\
             source    approved    p50    p95\n\
             192.0.2.1        1   2.5s   2.5s\n"
        );
    }

    #[test]
    fn the_worst_alert_leads_the_first_line() {
        let refused = OK.replace("decision=approved", "decision=refused");
        let error = OK.replace("decision=approved", "decision=error");
        let s = of(&[&error, &refused, &refused, &refused]);
        assert_eq!(s.code(), 2);
        let text = s.text("about");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with(
                "PASSBYME CRITICAL - 1 critical, 1 warning: push-fatigue: push fatigue: 3 denied"
            ),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("FAIL  push-fatigue: "));
        assert!(lines[2].starts_with("WARN  errors: 1 login(s) ended in an error"));
        let doc: serde_json::Value = serde_json::from_str(&s.json("about", now(), now())).unwrap();
        assert_eq!(doc["exit"], 2);
        assert_eq!(doc["alerts"][0]["level"], "CRITICAL");
        assert_eq!(doc["alerts"][1]["id"], "errors");
        assert_eq!(doc["total"]["denied"], 3);
        assert_eq!(doc["users"][0]["user"], "alice");
        assert_eq!(doc["since"], "2026-11-03T12:00:00Z");
    }
}
