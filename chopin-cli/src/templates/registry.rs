//! The `mod.rs` files `chopin generate` owns: `src/resources/mod.rs`, `src/jobs/mod.rs`
//! and `src/mailers/mod.rs`, each written whole from the modules beside it, so that a
//! new resource, job or mailer needs no hand edit to be registered.

use super::Text;
use crate::{layout::chain, names::camel};

/// The header every owned `mod.rs` starts with: `each` says what each module is.
fn header(out: &mut Text, each: &[&str]) {
    out.line(
        "//! Written by `chopin generate`, which rewrites it whole from the `.rs` files beside it:",
    );
    for line in each {
        out.line(format!("//! {line}"));
    }
    out.line("");
}

/// `src/resources/mod.rs`: every resource's documented routes.
pub(crate) fn resources(modules: &[String]) -> String {
    let mut out = Text::default();
    header(
        &mut out,
        &["each is a resource, with a `routes()` function. Edits here are overwritten."],
    );
    for module in modules {
        out.line(format!("mod {module};"));
    }
    if !modules.is_empty() {
        out.line("");
    }
    out.line("use chopin_core::AppState;");
    out.line("use utoipa_axum::router::OpenApiRouter;");
    out.line("");
    out.line("/// Every resource's routes, with their OpenAPI documentation.");
    out.line("pub(crate) fn routes() -> OpenApiRouter<AppState> {");
    let calls: Vec<String> = modules
        .iter()
        .map(|m| format!("merge({m}::routes())"))
        .collect();
    out.raw(chain(4, "", "OpenApiRouter::new()", &calls, ""));
    out.line("}");
    out.finish()
}

/// `src/jobs/mod.rs`: registers every job with the app.
pub(crate) fn jobs(modules: &[String]) -> String {
    let mut out = Text::default();
    header(
        &mut out,
        &[
            "each is a job, `x.rs` defining the job `X` (`x` in UpperCamelCase). Edits here are",
            "overwritten.",
        ],
    );
    for module in modules {
        out.line(format!("pub mod {module};"));
    }
    if !modules.is_empty() {
        out.line("");
    }
    out.line("use chopin_core::App;");
    out.line("");
    out.line("/// Registers every job with `app`, so that its workers can run them.");
    out.line("pub(crate) fn register(app: App) -> App {");
    let calls: Vec<String> = modules
        .iter()
        .map(|m| format!("job::<{m}::{}>()", camel(m)))
        .collect();
    out.raw(chain(4, "", "app", &calls, ""));
    out.line("}");
    out.finish()
}

/// `src/mailers/mod.rs`: declares every mailer.
pub(crate) fn mailers(modules: &[String]) -> String {
    let mut out = Text::default();
    header(
        &mut out,
        &["each is a mailer, public for handlers and jobs to send. Edits here are overwritten."],
    );
    for module in modules {
        out.line(format!("pub mod {module};"));
    }
    out.finish().trim_end().to_owned() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_list_their_modules() {
        let modules = vec!["books".to_owned(), "notes".to_owned()];
        let routes = resources(&modules);
        assert!(routes.contains("mod books;\nmod notes;\n"), "{routes}");
        assert!(routes.contains(
            "    OpenApiRouter::new()\n        .merge(books::routes())\n        .merge(notes::routes())\n"
        ), "{routes}");
        let none = resources(&[]);
        assert!(none.contains("{\n    OpenApiRouter::new()\n}"), "{none}");
        let registered = jobs(&["send_digest".to_owned()]);
        assert!(
            registered.contains("    app.job::<send_digest::SendDigest>()\n"),
            "{registered}"
        );
        assert!(jobs(&[]).contains("{\n    app\n}"));
    }
}
