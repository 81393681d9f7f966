//! `chopin new NAME`: a project with an example resource, built in a hidden sibling
//! directory and renamed into place, so a failure leaves nothing behind.

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::{
    changes::Changes,
    error::{Error, Result},
    generate, names,
    project::{Project, now_version},
    resource::Resource,
    templates::{
        fields::FIELDS_RS,
        project::{self, Core, Db},
        registry,
    },
};

/// Creates the project `name` in `cwd`; its directory.
pub(crate) fn new(cwd: &Path, name: &str, db: Db, core_path: Option<&Path>) -> Result<PathBuf> {
    names::check_package(name)?;
    // A project inside another is a mistake (`chopin new` run after `cd` into one): cargo
    // would build it, but the outer one's `cargo package` would take it in.
    if let Ok(outer) = Project::find(cwd) {
        return Err(Error::new(format!(
            "{} is in the Chopin project {}: run `chopin new` outside it",
            cwd.display(),
            outer.root.display()
        )));
    }
    let target = cwd.join(name);
    if target.is_dir() {
        let mut entries = fs::read_dir(&target).map_err(|e| Error::io(&target, &e))?;
        if entries.next().is_some() {
            return Err(Error::new(format!("{name} exists and is not empty")));
        }
    } else if fs::symlink_metadata(&target).is_ok() {
        return Err(Error::new(format!("{name} exists and is not a directory")));
    }
    let core = match core_path {
        None => Core::Registry,
        Some(path) => Core::Path(chopin_core_path(cwd, path)?),
    };
    let staging = cwd.join(format!(".{name}.chopin-new-{}", std::process::id()));
    let changes = files(name, db, &core, &staging)?;
    fs::create_dir(&staging).map_err(|e| Error::io(&staging, &e))?;
    let built = changes
        .apply()
        // An empty directory named `name` is replaced whole.
        .and_then(|()| fs::rename(&staging, &target).map_err(|e| Error::io(&target, &e)));
    if let Err(error) = built {
        let _ = fs::remove_dir_all(&staging);
        return Err(error);
    }
    Ok(target)
}

/// `--path`: absolute, and a crate's directory.
fn chopin_core_path(cwd: &Path, path: &Path) -> Result<String> {
    let absolute = cwd.join(path);
    let absolute = absolute
        .canonicalize()
        .map_err(|e| Error::new(format!("--path {}: {e}", path.display())))?;
    if !absolute.join("Cargo.toml").is_file() {
        return Err(Error::new(format!(
            "--path {}: no Cargo.toml there (give chopin-core's directory)",
            path.display()
        )));
    }
    absolute
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::new(format!("--path {}: not valid UTF-8", path.display())))
}

/// Every file of the project, under `root`.
fn files(name: &str, db: Db, core: &Core, root: &Path) -> Result<Changes> {
    let ident = names::crate_ident(name);
    let mut changes = Changes::default();
    let mut add = |path: &str, text: String| changes.create(root.join(path), text);
    add("Cargo.toml", project::cargo_toml(name, core));
    add("build.rs", project::BUILD_RS.to_owned());
    add(".gitignore", project::GITIGNORE.to_owned());
    add(".env.example", project::env_example(&ident, db));
    add("README.md", project::readme(name, db));
    add("src/main.rs", project::main_rs(&ident));
    add("src/lib.rs", project::lib_rs(name));
    add("src/seed.rs", project::SEED_RS.to_owned());
    add("src/fields.rs", FIELDS_RS.to_owned());
    add("src/jobs/mod.rs", registry::jobs(&[]));
    add("src/mailers/mod.rs", registry::mailers(&[]));
    let note = Resource::parse("note", &["title:string".to_owned(), "body:text".to_owned()])?;
    add(
        "src/resources/mod.rs",
        registry::resources(std::slice::from_ref(&note.plural)),
    );
    generate::add_resource(&mut changes, root, &note, &[], &ident, now_version());
    Ok(changes)
}
