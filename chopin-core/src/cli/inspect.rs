//! `routes` and `openapi`: what the application serves, read from the application.

use std::path::PathBuf;

use serde_json::Value;

use super::Failure;
use crate::{app::App, config::Config, paths, project::Project};

/// The application built on a database in memory: its routes do not depend on the
/// data, and a database that is down or unmigrated must not hide them.
async fn app(project: &Project) -> Result<App, Failure> {
    let mut config = Config::from_env()?;
    config.database_url = crate::config::DatabaseUrl::new("sqlite::memory:")?;
    Ok(project.app(config).await?)
}

/// One line per method and path.
pub(super) async fn routes(project: &Project) -> Result<(), Failure> {
    let app = app(project).await?;
    let document = serde_json::to_value(app.api_document())?;
    let global_security = document.get("security");
    let mut rows = vec![[
        "METHOD".to_owned(),
        "PATH".to_owned(),
        "AUTH".to_owned(),
        "SERVED BY".to_owned(),
        "SUMMARY".to_owned(),
    ]];
    let empty = serde_json::Map::new();
    let paths = document["paths"].as_object().unwrap_or(&empty);
    for (path, item) in paths {
        let operations = item.as_object().unwrap_or(&empty);
        for method in [
            "get", "head", "post", "put", "patch", "delete", "options", "trace",
        ] {
            let Some(operation) = operations.get(method) else {
                continue;
            };
            let security = operation.get("security").or(global_security);
            let fast = app.is_fast_route(path) && matches!(method, "get" | "head");
            rows.push([
                method.to_uppercase(),
                path.clone(),
                auth(security),
                if fast { "fast route" } else { "router" }.to_owned(),
                (operation.get("summary").and_then(Value::as_str))
                    .unwrap_or("")
                    .to_owned(),
            ]);
        }
    }
    for (path, summary) in [
        (paths::DOCS_PATH, "The API docs page"),
        (paths::SPEC_PATH, "This OpenAPI document"),
    ] {
        let row = ["GET", path, "-", "router", summary];
        rows.push(row.map(str::to_owned));
    }
    let widths: Vec<usize> = (0..4)
        .map(|column| rows.iter().map(|r| r[column].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        println!("{}", line.trim_end());
    }
    Ok(())
}

/// The schemes an operation's `security` requires, or `-` when anyone may call it
/// (no requirement, or an empty one among the alternatives).
fn auth(security: Option<&Value>) -> String {
    let Some(alternatives) = security.and_then(Value::as_array) else {
        return "-".to_owned();
    };
    let schemes: Vec<&str> = (alternatives.iter())
        .filter_map(Value::as_object)
        .flat_map(|requirement| requirement.keys().map(String::as_str))
        .collect();
    let optional = (alternatives.iter()).any(|r| r.as_object().is_some_and(|r| r.is_empty()));
    if schemes.is_empty() || optional {
        "-".to_owned()
    } else {
        schemes.join(",")
    }
}

pub(super) async fn openapi(project: &Project, output: Option<PathBuf>) -> Result<(), Failure> {
    let app = app(project).await?;
    let json = serde_json::to_string_pretty(&app.api_document())?;
    match output {
        Some(path) => {
            // Written beside, then renamed: a failed write leaves the old file whole.
            let partial = path.with_extension("json.partial");
            std::fs::write(&partial, json + "\n")
                .and_then(|()| std::fs::rename(&partial, &path))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&partial);
                    format!("cannot write {}: {e}", path.display())
                })?;
            eprintln!("wrote {}", path.display());
        }
        None => println!("{json}"),
    }
    Ok(())
}
