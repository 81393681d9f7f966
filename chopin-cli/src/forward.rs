//! The app's own commands (`chopin db migrate`, `chopin routes`, ...): the project's
//! binary implements them (`Project::main` in chopin-core), so `chopin` builds and runs
//! it with `cargo run`, in the project's directory.

use std::{path::Path, process::Command};

use crate::error::{Error, Result};

/// Runs `cargo run --quiet -- COMMAND ARGS...` in the nearest directory at or above
/// `cwd` with a `Cargo.toml`, with this process's stdin, stdout and stderr; its exit
/// status (1 if it was killed by a signal).
pub(crate) fn forward(cwd: &Path, command: &str, args: &[String]) -> Result<u8> {
    let root = cwd
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file())
        .ok_or_else(|| {
            Error::new(format!(
                "no Cargo.toml in {} or above: run `chopin {command}` in a Chopin project",
                cwd.display()
            ))
        })?;
    let status = Command::new("cargo")
        .args(["run", "--quiet", "--"])
        .arg(command)
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|e| Error::new(format!("cannot run cargo: {e}")))?;
    Ok(status
        .code()
        .and_then(|code| u8::try_from(code).ok())
        .unwrap_or(1))
}
