//! [`Project`]: the Chopin project a command runs in, and what the generator reads from
//! it: its library's name, its resources, jobs and mailers, its migrations' versions.

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use crate::{
    error::{Error, Result},
    names,
    resource::Resource,
    templates::migrations::Backend,
};

/// A project made by `chopin new` (or laid out like one).
#[derive(Debug)]
pub(crate) struct Project {
    pub(crate) root: PathBuf,
}

impl Project {
    /// The nearest directory at or above `dir` with a `Cargo.toml` and a
    /// `src/resources/mod.rs`.
    pub(crate) fn find(dir: &Path) -> Result<Self> {
        dir.ancestors()
            .find(|d| d.join("Cargo.toml").is_file() && d.join("src/resources/mod.rs").is_file())
            .map(|root| Self {
                root: root.to_owned(),
            })
            .ok_or_else(|| {
                Error::new(format!(
                    "not in a Chopin project (no src/resources/mod.rs above {})",
                    dir.display()
                ))
            })
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The library's name in Rust: `[lib] name`, else the package name with `-` as `_`.
    pub(crate) fn crate_ident(&self) -> Result<String> {
        let path = self.path("Cargo.toml");
        let manifest = fs::read_to_string(&path).map_err(|e| Error::io(&path, &e))?;
        let mut section = "";
        let mut package = None;
        let mut lib = None;
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line;
            } else if let Some(value) = line.strip_prefix("name") {
                let value = value.trim_start().strip_prefix('=').map(str::trim);
                let value = value.map(|v| v.trim_matches('"').to_owned());
                match section {
                    "[package]" => package = package.or(value),
                    "[lib]" => lib = lib.or(value),
                    _ => {}
                }
            }
        }
        lib.or(package)
            .map(|name| names::crate_ident(&name))
            .ok_or_else(|| Error::new(format!("{}: no [package] name", path.display())))
    }

    /// The module names of the `.rs` files in `dir` (relative), `mod.rs` aside, sorted.
    pub(crate) fn modules(&self, dir: &str) -> Result<Vec<String>> {
        let dir = self.path(dir);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, &e)),
        };
        let mut modules = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&dir, &e))?.path();
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let is_module = path.extension().is_some_and(|e| e == "rs")
                && stem != "mod"
                && stem.starts_with(|c: char| c.is_ascii_lowercase())
                && stem
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if is_module {
                modules.push(stem.to_owned());
            }
        }
        modules.sort();
        Ok(modules)
    }

    /// The resources `chopin generate resource` wrote, by singular name, read back from
    /// their modules' first lines. Modules without that line are not among them.
    pub(crate) fn resources(&self) -> Result<BTreeMap<String, Resource>> {
        let mut resources = BTreeMap::new();
        for module in self.modules("src/resources")? {
            let path = self.path(&format!("src/resources/{module}.rs"));
            let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, &e))?;
            let first = text.lines().next().unwrap_or_default();
            let Some((name, specs)) = Resource::from_first_line(first) else {
                continue;
            };
            let resource = Resource::parse(&name, &specs)
                .map_err(|e| Error::new(format!("{}: its first line: {e}", path.display())))?;
            resources.insert(name, resource);
        }
        Ok(resources)
    }

    /// Whether a migration creates table `table`.
    pub(crate) fn has_table(&self, table: &str) -> Result<bool> {
        for backend in Backend::ALL {
            for (_, path) in self.migrations(backend)? {
                let sql = fs::read_to_string(&path).map_err(|e| Error::io(&path, &e))?;
                let sql = sql.to_ascii_lowercase();
                let words: Vec<&str> = sql
                    .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
                    .filter(|w| !w.is_empty())
                    .collect();
                let creates = words
                    .windows(3)
                    .any(|w| w[0] == "create" && w[1] == "table" && w[2] == table)
                    || words.windows(6).any(|w| {
                        w[..5] == ["create", "table", "if", "not", "exists"] && w[5] == table
                    });
                if creates {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The migrations of `backend`: version and path of every `.sql` file whose name
    /// starts with `VERSION_`.
    fn migrations(&self, backend: Backend) -> Result<Vec<(u64, PathBuf)>> {
        let dir = self.path(&format!("migrations/{}", backend.dir()));
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, &e)),
        };
        let mut migrations = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&dir, &e))?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let version = name
                .split_once('_')
                .and_then(|(v, _)| v.parse::<u64>().ok());
            if let Some(version) = version
                && name.ends_with(".sql")
            {
                migrations.push((version, path));
            }
        }
        Ok(migrations)
    }

    /// The version for a new migration: now as `YYYYMMDDHHMMSS` (UTC), or one more than
    /// the latest migration of either backend if that is not older, so that two
    /// migrations made in the same second keep their order.
    pub(crate) fn next_version(&self) -> Result<u64> {
        let mut latest = 0;
        for backend in Backend::ALL {
            for (version, _) in self.migrations(backend)? {
                latest = latest.max(version);
            }
        }
        Ok(next_version(now_version(), latest))
    }
}

/// `now`, or one more than `latest` if `now` is not newer.
pub(crate) fn next_version(now: u64, latest: u64) -> u64 {
    if now > latest { now } else { latest + 1 }
}

/// The current UTC time as the number `YYYYMMDDHHMMSS`.
pub(crate) fn now_version() -> u64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    version_at(secs)
}

/// The UTC time `secs` after the Unix epoch as `YYYYMMDDHHMMSS`.
fn version_at(secs: u64) -> u64 {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
    ((((year * 100 + month) * 100 + day) * 100 + hour) * 100 + minute) * 100 + second
}

/// The Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`, for
/// days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_utc_timestamps() {
        assert_eq!(version_at(0), 19700101000000);
        // 2024-02-29T23:59:59Z, a leap day.
        assert_eq!(version_at(1_709_251_199), 20240229235959);
        // 2026-12-31T12:34:56Z.
        assert_eq!(version_at(1_798_720_496), 20261231123456);
    }

    #[test]
    fn a_version_follows_the_latest() {
        assert_eq!(next_version(20260101000000, 4), 20260101000000);
        assert_eq!(next_version(20260101000000, 20260101000000), 20260101000001);
        assert_eq!(next_version(20260101000000, 20260101000007), 20260101000008);
    }
}
