//! Message templates: the subject and body of a push, with `{name}` placeholders filled in
//! for each login. `{{` and `}}` are literal braces.

/// The placeholders a subject or body template may use.
pub const PLACEHOLDERS: [&str; 7] = ["user", "host", "service", "rhost", "tty", "time", "code"];

/// Checks that a template only uses known placeholders and balanced braces.
pub fn check_template(t: &str) -> Result<(), String> {
    render(t, |_| Some(String::new())).map(|_| ())
}

/// Fills `{name}` placeholders from `value`; `{{` and `}}` are literal braces.
pub fn render(t: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, String> {
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
                if !PLACEHOLDERS.contains(&name.as_str()) {
                    return Err(format!(
                        "unknown placeholder {{{name}}}; known: {}",
                        PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
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
        // A name longer than any placeholder is cut short, not collected without end.
        assert!(check_template(&format!("{{{}}}", "x".repeat(10_000))).is_err());
    }
}
