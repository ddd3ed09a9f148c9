//! A user's PassBy\[ME\] IDs, from the sources of the configuration in their order.

use crate::config::{self, Config};
use crate::os::{Host, LookupError};

/// Where a user's IDs came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A `[users]` table: the main file or a file of `mapping.users_dir`, and the line.
    File(std::path::PathBuf, usize),
    /// `mapping.template`.
    Template,
    /// `mapping.gecos_field` (the field number).
    Gecos(usize),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(path, line) => write!(f, "{} line {line}", path.display()),
            Source::Template => f.write_str("mapping.template"),
            Source::Gecos(n) => write!(f, "mapping.gecos_field {n} (GECOS)"),
        }
    }
}

/// What the sources of IDs say of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The IDs, and where they came from.
    Ids(Vec<String>, Source),
    /// No source maps the user (why).
    Unmapped(String),
    /// A source gave something that is not a PassBy\[ME\] ID: the login is refused.
    Invalid(String),
}

/// The IDs of the canonical name `user`, from the sources in their order: `[users]` of the
/// main file, then of the files of `mapping.users_dir` (one table: a name in two places is
/// a configuration error), then `mapping.template`, then `mapping.gecos_field`. `Err` when
/// the user database lookup failed.
pub fn map_user(config: &Config, host: &dyn Host, user: &str) -> Result<Lookup, LookupError> {
    if let Some((ids, o)) = config.table_entry(user) {
        let file = config.files.get(o.file).unwrap_or(&config.path).clone();
        return Ok(Lookup::Ids(ids.to_vec(), Source::File(file, o.line)));
    }
    let mapping = &config.mapping;
    if let Some(rendered) = mapping.template_id(user) {
        let id = match rendered {
            Ok(id) => id,
            Err(e) => return Ok(Lookup::Invalid(format!("mapping.template: {e}"))),
        };
        return Ok(match config::check_id(&id) {
            Ok(()) => Lookup::Ids(vec![id], Source::Template),
            Err(e) => Lookup::Invalid(format!("mapping.template: for this user it gives {e}")),
        });
    }
    if let Some(g) = &mapping.gecos {
        let Some(gecos) = host.gecos(user)? else {
            return Ok(Lookup::Unmapped("no GECOS field".into()));
        };
        let Some(id) = g.pick(&gecos) else {
            return Ok(Lookup::Unmapped(format!(
                "GECOS has no part {} (delimiter '{}')",
                g.field, g.delimiter
            )));
        };
        return Ok(match config::check_id(id) {
            Ok(()) => Lookup::Ids(vec![id.to_owned()], Source::Gecos(g.field)),
            Err(e) => Lookup::Invalid(format!(
                "mapping.gecos_field: part {} of the GECOS field: {e}",
                g.field
            )),
        });
    }
    Ok(Lookup::Unmapped(match &mapping.users_dir {
        Some(d) => format!(
            "in no [users] table ({} and {})",
            config.path.display(),
            d.display()
        ),
        None => format!("not in [users] of {}", config.path.display()),
    }))
}
