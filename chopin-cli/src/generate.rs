//! `chopin generate`: a resource, a migration, a job or a mailer in the current project,
//! every file computed and checked before any is written.

use std::{collections::BTreeMap, path::Path};

use crate::{
    changes::Changes,
    error::{Error, Result},
    names,
    project::Project,
    resource::Resource,
    templates::{
        items,
        migrations::{self, Backend},
        module, registry, tests,
    },
};

/// `chopin generate resource NAME FIELD...`: its migrations, module, tests, and the
/// resources' `mod.rs` rewritten. The project must have the `src/fields.rs` that `chopin
/// new` writes, whose helpers the module imports: it is the user's, so a project without
/// it (made by an older `chopin new`) is refused rather than given one.
pub(crate) fn resource(cwd: &Path, name: &str, specs: &[String]) -> Result<Changes> {
    let project = Project::find(cwd)?;
    if !project.path("src/fields.rs").is_file() {
        return Err(Error::new(
            "src/fields.rs is missing: generated resources import their checks from it; copy \
             it from a project made by this `chopin new` and add `pub mod fields;` to \
             src/lib.rs",
        ));
    }
    let resource = Resource::parse(name, specs)?;
    let existing = project.resources()?;
    let modules = project.modules("src/resources")?;
    for (field, target) in resource.references() {
        if !existing.contains_key(target) {
            let module = names::plural(target);
            let why = if modules.contains(&module) {
                format!(
                    "the first line of src/resources/{module}.rs does not record its fields \
                     (`chopin generate resource` writes it), so tests cannot make its rows"
                )
            } else {
                format!("no resource {target}; generate it first")
            };
            return Err(Error::new(format!("{}: {why}", field.spec)));
        }
    }
    let plural = &resource.plural;
    if modules.contains(plural) {
        return Err(Error::new(format!(
            "resource {name} exists: src/resources/{plural}.rs"
        )));
    }
    if project.has_table(plural)? {
        return Err(Error::new(format!(
            "resource {name}: a migration creates the table {plural} already"
        )));
    }
    let ancestors = ancestors(&resource, &existing);
    let version = project.next_version()?;
    let mut changes = Changes::default();
    add_resource(
        &mut changes,
        &project.root,
        &resource,
        &ancestors,
        &project.crate_ident()?,
        version,
    );
    let mut modules = modules;
    modules.push(plural.clone());
    modules.sort();
    changes.replace(
        project.path("src/resources/mod.rs"),
        registry::resources(&modules),
    );
    Ok(changes)
}

/// The files of `resource`, written under `root`: what `generate resource` and `new`
/// both write.
pub(crate) fn add_resource(
    changes: &mut Changes,
    root: &Path,
    resource: &Resource,
    ancestors: &[Resource],
    crate_ident: &str,
    version: u64,
) {
    let plural = &resource.plural;
    for backend in Backend::ALL {
        let (up, down) = migrations::create_table(resource, backend);
        let base = root.join(format!(
            "migrations/{}/{version}_create_{plural}",
            backend.dir()
        ));
        changes.create(base.with_extension("up.sql"), up);
        changes.create(base.with_extension("down.sql"), down);
    }
    changes.create(
        root.join(format!("src/resources/{plural}.rs")),
        module::module(resource),
    );
    changes.create(
        root.join(format!("tests/{plural}.rs")),
        tests::tests(resource, ancestors, crate_ident),
    );
}

/// The resources `resource` refers to, directly or through others, each once, nearest
/// first.
fn ancestors(resource: &Resource, existing: &BTreeMap<String, Resource>) -> Vec<Resource> {
    let mut found: Vec<Resource> = Vec::new();
    let mut queue: Vec<&str> = resource.references().map(|(_, target)| target).collect();
    while !queue.is_empty() {
        let target = queue.remove(0);
        if target == resource.singular || found.iter().any(|r| r.singular == target) {
            continue;
        }
        if let Some(other) = existing.get(target) {
            queue.extend(other.references().map(|(_, t)| t));
            found.push(other.clone());
        }
    }
    found
}

/// `chopin generate migration NAME`: empty up and down steps for both backends.
pub(crate) fn migration(cwd: &Path, name: &str) -> Result<Changes> {
    let project = Project::find(cwd)?;
    names::check_migration(name)?;
    let version = project.next_version()?;
    let mut changes = Changes::default();
    for backend in Backend::ALL {
        let (up, down) = migrations::empty(name, backend);
        let base = project.path(&format!("migrations/{}/{version}_{name}", backend.dir()));
        changes.create(base.with_extension("up.sql"), up);
        changes.create(base.with_extension("down.sql"), down);
    }
    Ok(changes)
}

/// `chopin generate job NAME`.
pub(crate) fn job(cwd: &Path, name: &str) -> Result<Changes> {
    item(
        cwd,
        "job",
        "src/jobs",
        name,
        items::job(name),
        registry::jobs,
    )
}

/// `chopin generate mailer NAME`.
pub(crate) fn mailer(cwd: &Path, name: &str) -> Result<Changes> {
    item(
        cwd,
        "mailer",
        "src/mailers",
        name,
        items::mailer(name),
        registry::mailers,
    )
}

/// A job or mailer: its file in `dir`, and `dir/mod.rs` rewritten by `registry`.
fn item(
    cwd: &Path,
    what: &str,
    dir: &str,
    name: &str,
    source: String,
    registry: fn(&[String]) -> String,
) -> Result<Changes> {
    let project = Project::find(cwd)?;
    names::check_item(what, name)?;
    if !project.path(&format!("{dir}/mod.rs")).is_file() {
        return Err(Error::new(format!(
            "no {dir}/mod.rs in {} (a project made by `chopin new` has one, declared in \
             src/lib.rs)",
            project.root.display()
        )));
    }
    let mut modules = project.modules(dir)?;
    if modules.iter().any(|m| m == name) {
        return Err(Error::new(format!("{what} {name} exists: {dir}/{name}.rs")));
    }
    modules.push(name.to_owned());
    modules.sort();
    let mut changes = Changes::default();
    changes.create(project.path(&format!("{dir}/{name}.rs")), source);
    changes.replace(project.path(&format!("{dir}/mod.rs")), registry(&modules));
    Ok(changes)
}
