//! Templates: the subject and body of a push, the lines shown at the terminal, and
//! `mapping.template` (a user's PassBy\[ME\] ID), with `{name}` placeholders filled in for
//! each login. One list of names ([`Placeholder`]), one way of filling them ([`render`]
//! with the values of a [`Filled`]); each use says which names it allows ([`PUSH`], [`ID`],
//! a message's own set). `{{` and `}}` are literal braces.

use std::fmt;

/// A placeholder: the one list of names every template draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Placeholder {
    /// `{user}`: whose phone gets the push (the invoker under `user=invoker`).
    User,
    /// `{host}`: this machine.
    Host,
    /// `{service}`: the PAM service.
    Service,
    /// `{rhost}`: where the login comes from.
    Rhost,
    /// `{tty}`: the terminal.
    Tty,
    /// `{time}`: when the push is sent.
    Time,
    /// `{code}`: the verification code.
    Code,
    /// `{target}`: the user to become under `user=invoker`, else the user.
    Target,
    /// `{timeout}`: `login.timeout` in seconds.
    Timeout,
    /// `{until}`: when a lockout ends.
    Until,
}

impl Placeholder {
    /// Every placeholder.
    pub(crate) const ALL: [Placeholder; 10] = [
        Placeholder::User,
        Placeholder::Host,
        Placeholder::Service,
        Placeholder::Rhost,
        Placeholder::Tty,
        Placeholder::Time,
        Placeholder::Code,
        Placeholder::Target,
        Placeholder::Timeout,
        Placeholder::Until,
    ];

    /// Its name between the braces.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Placeholder::User => "user",
            Placeholder::Host => "host",
            Placeholder::Service => "service",
            Placeholder::Rhost => "rhost",
            Placeholder::Tty => "tty",
            Placeholder::Time => "time",
            Placeholder::Code => "code",
            Placeholder::Target => "target",
            Placeholder::Timeout => "timeout",
            Placeholder::Until => "until",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The placeholders a subject or body template may use: all but the terminal lines' own
/// (`{timeout}`, `{until}`), which come last in [`Placeholder::ALL`].
pub(crate) const PUSH: [Placeholder; 8] = match Placeholder::ALL.first_chunk::<8>() {
    Some(first) => *first,
    None => panic!("Placeholder::ALL lists fewer than 8"), // ok: a const, so a build error
};

/// The placeholders `mapping.template` may use.
pub(crate) const ID: [Placeholder; 1] = [Placeholder::User];

/// What is wrong with a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// A `{` without its `}` (or a name longer than any placeholder's).
    Unterminated,
    /// A `}` that closes nothing.
    Stray,
    /// A name that is not among those this template may use.
    Unknown {
        /// The name written (at most 32 characters of it).
        name: String,
        /// The placeholders this template may use.
        known: Vec<Placeholder>,
    },
    /// A placeholder this template must use is not there.
    Missing {
        /// The placeholder.
        placeholder: Placeholder,
        /// Why it is needed.
        why: &'static str,
    },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Unterminated => f.write_str("unterminated '{' (write '{{' for a brace)"),
            TemplateError::Stray => f.write_str("stray '}' (write '}}' for a brace)"),
            TemplateError::Unknown { name, known } => {
                let known: Vec<String> =
                    known.iter().map(|p| format!("{{{}}}", p.name())).collect();
                write!(
                    f,
                    "unknown placeholder {{{name}}}; known: {}",
                    known.join(" ")
                )
            }
            TemplateError::Missing { placeholder, why } => {
                write!(f, "must use {{{}}} ({why})", placeholder.name())
            }
        }
    }
}

impl std::error::Error for TemplateError {}

/// The values of the placeholders for one rendering. A placeholder without a value renders
/// empty. The values are put in as they must appear: whoever fills them cleans them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filled {
    values: [Option<String>; 10],
}

impl Filled {
    /// With `value` for `p`.
    pub(crate) fn with(mut self, p: Placeholder, value: impl Into<String>) -> Filled {
        self.values[p.index()] = Some(value.into());
        self
    }

    /// The value of `p`, if it has one.
    pub(crate) fn get(&self, p: Placeholder) -> Option<&str> {
        self.values[p.index()].as_deref()
    }
}

/// `t` with its placeholders filled from `values`; a name not in `known` is an error.
pub(crate) fn render(
    t: &str,
    known: &[Placeholder],
    values: &Filled,
) -> Result<String, TemplateError> {
    walk(t, known, |p, out| {
        out.push_str(values.get(p).unwrap_or_default())
    })
}

/// Checks that `t` uses only `known` placeholders and balanced braces; returns those it
/// uses, in their order.
pub(crate) fn check(t: &str, known: &[Placeholder]) -> Result<Vec<Placeholder>, TemplateError> {
    let mut used = Vec::new();
    walk(t, known, |p, _| used.push(p))?;
    Ok(used)
}

/// Checks `mapping.template`: only `{user}`, which it must use (else every user would get
/// the same ID), and balanced braces.
pub(crate) fn check_id_template(t: &str) -> Result<(), TemplateError> {
    if check(t, &ID)?.is_empty() {
        return Err(TemplateError::Missing {
            placeholder: Placeholder::User,
            why: "else every user would get the same ID",
        });
    }
    Ok(())
}

/// The one reader of the syntax: copies `t`, calling `fill` at each placeholder.
fn walk(
    t: &str,
    known: &[Placeholder],
    mut fill: impl FnMut(Placeholder, &mut String),
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(t.len() + 64);
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if name.len() < 32 => name.push(c),
                        _ => return Err(TemplateError::Unterminated),
                    }
                }
                let Some(p) = known.iter().copied().find(|p| p.name() == name) else {
                    return Err(TemplateError::Unknown {
                        name,
                        known: known.to_vec(),
                    });
                };
                fill(p, &mut out);
            }
            '}' => return Err(TemplateError::Stray),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upper() -> Filled {
        Placeholder::ALL
            .into_iter()
            .fold(Filled::default(), |f, p| f.with(p, p.name().to_uppercase()))
    }

    #[test]
    fn placeholders_and_literal_braces() {
        let out = render("{{x}} {user}@{host}", &PUSH, &upper()).unwrap();
        assert_eq!(out, "{x} USER@HOST");
        // A placeholder with no value is left empty.
        assert_eq!(render("[{tty}]", &PUSH, &Filled::default()).unwrap(), "[]");
        for p in Placeholder::ALL {
            let f = Filled::default().with(p, p.name());
            let t = format!("{{{}}}", p.name());
            assert_eq!(render(&t, &Placeholder::ALL, &f).unwrap(), p.name());
            assert_eq!(check(&t, &Placeholder::ALL).unwrap(), [p]);
            assert_eq!(Placeholder::ALL[p.index()], p);
        }
        assert_eq!(
            check("{code} {user}{code}", &PUSH).unwrap(),
            [Placeholder::Code, Placeholder::User, Placeholder::Code]
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |t: &str| check(t, &PUSH).unwrap_err().to_string();
        assert_eq!(err("{user"), "unterminated '{' (write '{{' for a brace)");
        assert_eq!(err("}"), "stray '}' (write '}}' for a brace)");
        let e = err("{usr}");
        assert!(
            e.starts_with("unknown placeholder {usr}; known: {user} {host}"),
            "{e}"
        );
        assert_eq!(
            check("{timeout}", &PUSH).unwrap_err(),
            TemplateError::Unknown {
                name: "timeout".into(),
                known: PUSH.to_vec()
            }
        );
        // The ID template knows only {user}, and must use it.
        assert!(check_id_template("{user}@example.com").is_ok());
        assert!(check_id_template("{host}@x")
            .unwrap_err()
            .to_string()
            .starts_with("unknown placeholder {host}; known: {user}"));
        assert_eq!(
            check_id_template("admin@x").unwrap_err().to_string(),
            "must use {user} (else every user would get the same ID)"
        );
        assert!(check_id_template("{user").is_err());
        // A name longer than any placeholder is cut short, not collected without end.
        assert_eq!(
            check(&format!("{{{}}}", "x".repeat(10_000)), &PUSH),
            Err(TemplateError::Unterminated)
        );
    }
}
