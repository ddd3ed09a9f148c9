//! Templates: the subject and body of a push, and `mapping.template` (a user's PassBy\[ME\]
//! ID), with `{name}` placeholders filled in for each login. `{{` and `}}` are literal
//! braces.

/// The placeholders a subject or body template may use.
pub const PLACEHOLDERS: [&str; 8] = [
    "user", "host", "service", "rhost", "tty", "time", "code", "target",
];

/// The placeholders `mapping.template` may use.
pub const ID_PLACEHOLDERS: [&str; 1] = ["user"];

/// Checks that a template only uses known placeholders and balanced braces.
pub fn check_template(t: &str) -> Result<(), String> {
    render(t, |_| Some(String::new())).map(|_| ())
}

/// Fills `{name}` placeholders from `value`; `{{` and `}}` are literal braces.
pub fn render(t: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    render_with(t, &PLACEHOLDERS, value)
}

/// Checks `mapping.template`: only `{user}`, which it must use (else every user would get
/// the same ID), and balanced braces.
pub fn check_id_template(t: &str) -> Result<(), String> {
    let mut used = false;
    render_with(t, &ID_PLACEHOLDERS, |_| {
        used = true;
        None
    })?;
    if !used {
        return Err("must use {user} (else every user would get the same ID)".into());
    }
    Ok(())
}

/// [`render`] with the placeholders `known`.
pub fn render_with(
    t: &str,
    known: &[&str],
    mut value: impl FnMut(&str) -> Option<String>,
) -> Result<String, String> {
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
                        _ => return Err("unterminated '{' (write '{{' for a brace)".into()),
                    }
                }
                if !known.contains(&name.as_str()) {
                    let known: Vec<String> = known.iter().map(|p| format!("{{{p}}}")).collect();
                    return Err(format!(
                        "unknown placeholder {{{name}}}; known: {}",
                        known.join(" ")
                    ));
                }
                out.push_str(&value(&name).unwrap_or_default());
            }
            '}' => return Err("stray '}' (write '}}' for a brace)".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_literal_braces() {
        let out = render("{{x}} {user}@{host}", |n| Some(n.to_uppercase())).unwrap();
        assert_eq!(out, "{x} USER@HOST");
        // A placeholder with no value is left empty.
        assert_eq!(render("[{tty}]", |_| None).unwrap(), "[]");
        for p in PLACEHOLDERS {
            assert_eq!(render(&format!("{{{p}}}"), |n| Some(n.into())).unwrap(), p);
        }
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(
            render("{user", |_| None).unwrap_err(),
            "unterminated '{' (write '{{' for a brace)"
        );
        assert_eq!(
            render("}", |_| None).unwrap_err(),
            "stray '}' (write '}}' for a brace)"
        );
        let e = check_template("{usr}").unwrap_err();
        assert!(
            e.starts_with("unknown placeholder {usr}; known: {user} {host}"),
            "{e}"
        );
        // The ID template knows only {user}, and must use it.
        assert!(check_id_template("{user}@example.com").is_ok());
        assert!(check_id_template("{host}@x")
            .unwrap_err()
            .starts_with("unknown placeholder {host}; known: {user}"));
        assert_eq!(
            check_id_template("admin@x").unwrap_err(),
            "must use {user} (else every user would get the same ID)"
        );
        assert!(check_id_template("{user").is_err());
        // A name longer than any placeholder is cut short, not collected without end.
        assert!(check_template(&format!("{{{}}}", "x".repeat(10_000))).is_err());
    }
}
