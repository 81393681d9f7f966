//! [`Changes`]: the files a command writes, computed in full before any is written and
//! undone together if one write fails, so a failed command leaves the tree as it was.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

/// Whether a write may replace a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The file must not exist.
    Create,
    /// The file may exist; its contents are kept to put back on failure.
    Replace,
}

#[derive(Debug)]
struct Write {
    path: PathBuf,
    contents: String,
    mode: Mode,
}

/// Files to write.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    writes: Vec<Write>,
}

/// What to undo if a later write fails.
enum Undo {
    RemoveFile(PathBuf),
    RemoveDir(PathBuf),
    Restore(PathBuf, Vec<u8>),
}

impl Changes {
    /// Writes a new file at `path`; refused if it exists.
    pub(crate) fn create(&mut self, path: PathBuf, contents: String) {
        self.writes.push(Write {
            path,
            contents,
            mode: Mode::Create,
        });
    }

    /// Writes `path`, whether it exists or not.
    pub(crate) fn replace(&mut self, path: PathBuf, contents: String) {
        self.writes.push(Write {
            path,
            contents,
            mode: Mode::Replace,
        });
    }

    /// The paths to write, in order.
    pub(crate) fn paths(&self) -> impl Iterator<Item = &Path> {
        self.writes.iter().map(|w| w.path.as_path())
    }

    /// Checks every write first (no file to create exists, no path twice), then writes
    /// them in order, creating missing directories; if one fails, removes what was
    /// created and puts back what was replaced, then returns the error.
    pub(crate) fn apply(self) -> Result<()> {
        for (i, write) in self.writes.iter().enumerate() {
            if self.writes[..i].iter().any(|w| w.path == write.path) {
                return Err(Error::new(format!(
                    "{} would be written twice",
                    write.path.display()
                )));
            }
            if write.mode == Mode::Create && exists(&write.path)? {
                return Err(Error::new(format!(
                    "{} exists already",
                    write.path.display()
                )));
            }
        }
        let mut undo = Vec::new();
        for write in &self.writes {
            if let Err(error) = write_one(write, &mut undo) {
                roll_back(undo);
                return Err(error);
            }
        }
        Ok(())
    }
}

/// Whether anything is at `path` (a dangling link counts).
fn exists(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, &e)),
    }
}

fn write_one(write: &Write, undo: &mut Vec<Undo>) -> Result<()> {
    let path = &write.path;
    if let Some(parent) = path.parent() {
        // The missing ancestors, outermost first, so they are removed innermost first.
        let missing: Vec<&Path> = parent
            .ancestors()
            .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
            .collect();
        for dir in missing.into_iter().rev() {
            fs::create_dir(dir).map_err(|e| Error::io(dir, &e))?;
            undo.push(Undo::RemoveDir(dir.to_owned()));
        }
    }
    let previous = match fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(path, &e)),
    };
    fs::write(path, &write.contents).map_err(|e| Error::io(path, &e))?;
    undo.push(match previous {
        Some(bytes) => Undo::Restore(path.clone(), bytes),
        None => Undo::RemoveFile(path.clone()),
    });
    Ok(())
}

/// Undoes `undo`, latest first. Best effort: the error already being reported is the
/// one that matters.
fn roll_back(undo: Vec<Undo>) {
    for step in undo.into_iter().rev() {
        let _ = match step {
            Undo::RemoveFile(path) => fs::remove_file(path),
            Undo::RemoveDir(path) => fs::remove_dir(path),
            Undo::Restore(path, bytes) => fs::write(path, bytes),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("chopin-changes-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_failed_write_undoes_the_others() {
        let dir = temp_dir("undo");
        fs::write(dir.join("kept.txt"), "before").expect("write");
        let mut changes = Changes::default();
        changes.replace(dir.join("kept.txt"), "after".to_owned());
        changes.create(dir.join("new/deeper/file.txt"), "new".to_owned());
        // A directory cannot be written as a file: the third write fails.
        changes.create(dir.join("new"), "clash".to_owned());
        assert!(changes.apply().is_err());
        assert_eq!(
            fs::read_to_string(dir.join("kept.txt")).expect("read"),
            "before"
        );
        assert!(!dir.join("new").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_existing_file_is_refused_before_anything_is_written() {
        let dir = temp_dir("exists");
        fs::write(dir.join("there.txt"), "x").expect("write");
        let mut changes = Changes::default();
        changes.create(dir.join("first.txt"), "1".to_owned());
        changes.create(dir.join("there.txt"), "2".to_owned());
        let error = changes.apply().unwrap_err();
        assert!(
            error.to_string().ends_with("there.txt exists already"),
            "{error}"
        );
        assert!(!dir.join("first.txt").exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
