//! `tests/{plural}.rs`: a test of every answer of a resource's routes, on the app with a
//! fresh database each (`chopin_core::testing::TestApp`).

use super::Text;
use crate::{
    layout::{array, call_chain, macro_call, signature},
    names::words,
    resource::{Kind, Resource},
};

/// A resource whose rows the tests create: the one tested, or one it refers to (at any
/// depth), with the path its rows are posted to.
struct Creatable<'a> {
    resource: &'a Resource,
    /// `PATH` for the resource tested, `BOOKS` for the others.
    path: String,
}

impl Creatable<'_> {
    fn needs_app(&self) -> bool {
        self.resource.references().next().is_some()
    }

    /// The expression for a new valid body, in a function with an app and a user.
    fn new_body(&self, app: &str, user: &str) -> String {
        let singular = &self.resource.singular;
        if self.needs_app() {
            format!("new_{singular}({app}, {user}).await?")
        } else {
            format!("new_{singular}()")
        }
    }
}

/// The test file of `resource`, whose references name `ancestors` (every resource
/// referred to, directly or not, in the order their helpers are written). `crate_ident`
/// is the project's library.
pub(crate) fn tests(resource: &Resource, ancestors: &[Resource], crate_ident: &str) -> String {
    let mut out = Text::default();
    let Resource { plural, .. } = resource;
    out.line(format!(
        "//! `/api/{plural}`: every answer of its routes, each test on a fresh database. Generated"
    ));
    out.line("//! by `chopin generate resource`, and yours to extend as the resource grows.");
    out.line("");
    let numbered = std::iter::once(resource)
        .chain(ancestors)
        .any(|r| r.fields.iter().any(|f| f.kind != Kind::References));
    if numbered {
        out.line("use std::sync::atomic::{AtomicI64, Ordering};");
        out.line("");
    }
    out.line("use chopin_core::{");
    out.line("    auth::Role,");
    out.line("    http::StatusCode,");
    out.line("    testing::{TestApp, TestResponse, TestUser},");
    out.line("};");
    out.line("use serde_json::{Value, json};");
    out.line("");
    out.line(format!("use {crate_ident}::project;"));
    out.line("");
    out.line("type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;");
    out.line("");
    out.line(format!("/// Where {} are.", words(plural)));
    out.line(format!("const PATH: &str = \"/api/{plural}\";"));
    for ancestor in ancestors {
        out.line(format!(
            "/// Where {}, which the tests create for the {} to refer to, are.",
            words(&ancestor.plural),
            words(plural)
        ));
        out.line(format!(
            "const {}: &str = \"/api/{}\";",
            ancestor.plural.to_ascii_uppercase(),
            ancestor.plural
        ));
    }
    out.line("");
    if numbered {
        out.line(
            "/// A new number at each call, for the values of a new row: unique fields differ.",
        );
        out.line("fn next() -> i64 {");
        out.line("    static NEXT: AtomicI64 = AtomicI64::new(1);");
        out.line("    NEXT.fetch_add(1, Ordering::Relaxed)");
        out.line("}");
        out.line("");
    }
    let main = Creatable {
        resource,
        path: "PATH".to_owned(),
    };
    helpers(&mut out, &main);
    for ancestor in ancestors {
        helpers(
            &mut out,
            &Creatable {
                resource: ancestor,
                path: ancestor.plural.to_ascii_uppercase(),
            },
        );
    }
    out.line("/// Posts `body` to `path` as `user`, which must answer `201`; the created row.");
    out.line("async fn create(app: &TestApp, user: &TestUser, path: &str, body: &Value) -> Result<Value> {");
    out.line("    let response = app.post(path).token(&user.token).json(body).await;");
    out.line("    assert_status(&response, StatusCode::CREATED);");
    out.line("    Ok(response.json())");
    out.line("}");
    out.line("");
    out.line("/// Fails unless `response` has `status`, showing its body.");
    out.line("fn assert_status(response: &TestResponse, status: StatusCode) {");
    out.line("    assert_eq!(response.status(), status, \"{}\", response.text());");
    out.line("}");
    out.line("");
    out.line("/// Fails unless `row` has each field of `body` with the same value.");
    out.line("fn assert_fields(row: &Value, body: &Value) {");
    out.line("    for (field, value) in body.as_object().into_iter().flatten() {");
    out.line("        assert_eq!(&row[field], value, \"{field} of {row}\");");
    out.line("    }");
    out.line("}");
    out.line("");
    cases(&mut out, &main);
    out.finish()
}

/// `new_{singular}` and `create_{singular}`.
fn helpers(out: &mut Text, creatable: &Creatable<'_>) {
    let resource = creatable.resource;
    let singular = &resource.singular;
    let what = words(singular);
    out.line(format!("/// A valid new {what}."));
    let app_params = ["app: &TestApp".to_owned(), "user: &TestUser".to_owned()];
    if creatable.needs_app() {
        out.raw(signature(
            0,
            &format!("async fn new_{singular}"),
            &app_params,
            Some("Result<Value>"),
        ));
    } else {
        out.raw(signature(
            0,
            &format!("fn new_{singular}"),
            &[],
            Some("Value"),
        ));
    }
    if resource.fields.iter().any(|f| f.kind != Kind::References) {
        out.line("    let n = next();");
    }
    let open = if creatable.needs_app() {
        "Ok(json!({"
    } else {
        "json!({"
    };
    let close = if creatable.needs_app() { "}))" } else { "})" };
    out.line(format!("    {open}"));
    for field in &resource.fields {
        let value = match field.target.as_deref() {
            Some(target) => format!("create_{target}(app, user).await?[\"id\"]"),
            None => field.kind.test_value(&field.column),
        };
        out.line(format!("        \"{}\": {value},", field.column));
    }
    out.line(format!("    {close}"));
    out.line("}");
    out.line("");
    out.line(format!(
        "/// Creates a {what} as `user` through the API; the {what}."
    ));
    out.raw(signature(
        0,
        &format!("async fn create_{singular}"),
        &app_params,
        Some("Result<Value>"),
    ));
    out.line(format!(
        "    let body = {};",
        creatable.new_body("app", "user")
    ));
    let args = [
        "app".to_owned(),
        "user".to_owned(),
        creatable.path.clone(),
        "&body".to_owned(),
    ];
    out.raw(call_chain(
        4,
        "",
        "create",
        &args,
        &["await".to_owned()],
        "",
    ));
    out.line("}");
    out.line("");
}

/// The start of a test: its attribute and signature, the app, and its users.
fn start(out: &mut Text, name: &str, users: &[&str]) {
    out.line("#[tokio::test]");
    out.line(format!("async fn {name}() -> Result {{"));
    out.line("    let app = TestApp::new(project()).await?;");
    for user in users {
        out.line(format!("    let {user} = app.user(\"{user}\").await?;"));
    }
}

fn end(out: &mut Text) {
    out.line("    Ok(())");
    out.line("}");
}

/// The tests of the resource.
fn cases(out: &mut Text, main: &Creatable<'_>) {
    let resource = main.resource;
    let singular = &resource.singular;
    let created = format!("    let created = create_{singular}(&app, &alice).await?;");
    let url = "    let url = format!(\"{PATH}/{}\", created[\"id\"]);";
    let body_by = |user: &str| {
        format!(
            "    let body = {};",
            main.new_body("&app", &format!("&{user}"))
        )
    };

    start(
        out,
        &format!("list_is_empty_then_has_the_new_{singular}"),
        &["alice"],
    );
    out.line("    let empty = app.get(PATH).await;");
    out.line("    assert_status(&empty, StatusCode::OK);");
    out.line(
        "    let expected = json!({\"items\": [], \"page\": 1, \"per_page\": 20, \"total\": 0});",
    );
    out.line("    assert_eq!(empty.json(), expected);");
    out.line(&created);
    out.line("    let expected = json!({\"items\": [created], \"page\": 1, \"per_page\": 20, \"total\": 1});");
    out.line("    assert_eq!(app.get(PATH).await.json(), expected);");
    end(out);
    out.line("");

    start(out, "list_pages_newest_first", &["alice"]);
    out.line("    let mut ids = Vec::new();");
    out.line("    for _ in 0..3 {");
    out.line(format!(
        "        let created = create_{singular}(&app, &alice).await?;"
    ));
    out.line("        ids.push(created[\"id\"].clone());");
    out.line("    }");
    out.line("    let first = app.get(&format!(\"{PATH}?per_page=2\")).await.json();");
    out.line("    assert_eq!(first[\"total\"], 3);");
    out.line("    assert_eq!(first[\"items\"][0][\"id\"], ids[2]);");
    out.line("    assert_eq!(first[\"items\"][1][\"id\"], ids[1]);");
    out.line("    let second = app.get(&format!(\"{PATH}?page=2&per_page=2\")).await.json();");
    out.line("    assert_eq!(second[\"items\"].as_array().map(Vec::len), Some(1));");
    out.line("    assert_eq!(second[\"items\"][0][\"id\"], ids[0]);");
    out.line("    for query in [\"page=0\", \"per_page=0\", \"per_page=101\"] {");
    out.line("        let response = app.get(&format!(\"{PATH}?{query}\")).await;");
    out.line("        assert_status(&response, StatusCode::UNPROCESSABLE_ENTITY);");
    out.line("    }");
    end(out);
    out.line("");

    start(
        out,
        &format!("create_answers_201_with_the_{singular}"),
        &["alice"],
    );
    out.line(body_by("alice"));
    out.line("    let response = app.post(PATH).token(&alice.token).json(&body).await;");
    out.line("    assert_status(&response, StatusCode::CREATED);");
    out.line("    let created = response.json();");
    out.line("    assert_eq!(created[\"user_id\"], alice.id);");
    out.line("    assert_fields(&created, &body);");
    end(out);
    out.line("");

    let users: &[&str] = if main.needs_app() { &["alice"] } else { &[] };
    start(out, "create_needs_a_signed_in_user", users);
    out.line(body_by("alice"));
    out.line("    let response = app.post(PATH).json(&body).await;");
    out.line("    assert_status(&response, StatusCode::UNAUTHORIZED);");
    end(out);
    out.line("");

    if let Some(field) = resource.fields.iter().find(|f| !f.nullable) {
        let column = &field.column;
        start(out, "create_names_a_missing_field", &["alice"]);
        out.line(format!(
            "    let mut body = {};",
            main.new_body("&app", "&alice")
        ));
        out.line("    if let Some(fields) = body.as_object_mut() {");
        out.line(format!("        fields.remove(\"{column}\");"));
        out.line("    }");
        out.line("    let response = app.post(PATH).token(&alice.token).json(&body).await;");
        out.line("    assert_status(&response, StatusCode::UNPROCESSABLE_ENTITY);");
        let args = [
            format!("response.json()[\"fields\"][\"{column}\"]"),
            "\"is required\"".to_owned(),
        ];
        out.raw(macro_call(4, "assert_eq!", &args, ";"));
        end(out);
        out.line("");
    }

    let nullable: Vec<String> = columns(resource, |f| f.nullable);
    if !nullable.is_empty() {
        start(out, "optional_fields_may_be_null", &["alice"]);
        out.line(format!(
            "    let mut body = {};",
            main.new_body("&app", "&alice")
        ));
        out.raw(array(4, "let fields = ", &nullable, ";"));
        out.line("    for field in fields {");
        out.line("        body[field] = Value::Null;");
        out.line("    }");
        out.line("    let response = app.post(PATH).token(&alice.token).json(&body).await;");
        out.line("    assert_status(&response, StatusCode::CREATED);");
        out.line("    assert_fields(&response.json(), &body);");
        end(out);
        out.line("");
    }

    let unique: Vec<String> = columns(resource, |f| f.unique);
    if !unique.is_empty() {
        start(out, "a_taken_unique_field_is_409", &["alice"]);
        out.line(&created);
        out.raw(array(4, "let fields = ", &unique, ";"));
        out.line("    for field in fields {");
        out.line(format!(
            "        let mut body = {};",
            main.new_body("&app", "&alice")
        ));
        out.line("        body[field] = created[field].clone();");
        out.line("        let response = app.post(PATH).token(&alice.token).json(&body).await;");
        out.line("        assert_status(&response, StatusCode::CONFLICT);");
        out.line("        assert!(response.text().contains(field), \"{}\", response.text());");
        out.line("    }");
        end(out);
        out.line("");
    }

    let references: Vec<String> = columns(resource, |f| f.target.is_some());
    if !references.is_empty() {
        start(out, "a_reference_to_no_row_is_409", &["alice"]);
        out.raw(array(4, "let fields = ", &references, ";"));
        out.line("    for field in fields {");
        out.line(format!(
            "        let mut body = {};",
            main.new_body("&app", "&alice")
        ));
        out.line("        body[field] = json!(999_999);");
        out.line("        let response = app.post(PATH).token(&alice.token).json(&body).await;");
        out.line("        assert_status(&response, StatusCode::CONFLICT);");
        out.line("        assert!(response.text().contains(field), \"{}\", response.text());");
        out.line("    }");
        end(out);
        out.line("");
    }
    // A row referred to is not deleted while the reference stands.
    for field in (resource.fields.iter()).filter(|f| !f.nullable) {
        let Some(target) = &field.target else {
            continue;
        };
        let (column, constant) = (
            &field.column,
            crate::names::plural(target).to_ascii_uppercase(),
        );
        start(
            out,
            &format!("a_{target}_referred_to_is_not_deleted"),
            &["alice"],
        );
        out.line(&created);
        out.raw(crate::layout::macro_call(
            4,
            "let parent = format!",
            &[
                format!("\"{{{constant}}}/{{}}\""),
                format!("created[\"{column}\"]"),
            ],
            ";",
        ));
        out.line("    let response = app.delete(&parent).token(&alice.token).await;");
        out.line("    assert_status(&response, StatusCode::CONFLICT);");
        out.line(url);
        out.line("    let response = app.delete(&url).token(&alice.token).await;");
        out.line("    assert_status(&response, StatusCode::NO_CONTENT);");
        out.line("    let response = app.delete(&parent).token(&alice.token).await;");
        out.line("    assert_status(&response, StatusCode::NO_CONTENT);");
        end(out);
        out.line("");
    }

    start(
        out,
        &format!("read_answers_the_{singular}_or_404"),
        &["alice"],
    );
    out.line(&created);
    out.line(url);
    out.line("    let response = app.get(&url).await;");
    out.line("    assert_status(&response, StatusCode::OK);");
    out.line("    assert_eq!(response.json(), created);");
    out.line("    let response = app.get(&format!(\"{PATH}/999999\")).await;");
    out.line("    assert_status(&response, StatusCode::NOT_FOUND);");
    end(out);
    out.line("");

    start(out, "update_by_the_owner_answers_200", &["alice"]);
    out.line(&created);
    out.line(url);
    out.line(body_by("alice"));
    out.line("    let response = app.put(&url).token(&alice.token).json(&body).await;");
    out.line("    assert_status(&response, StatusCode::OK);");
    out.line("    let updated = response.json();");
    out.line("    assert_eq!(updated[\"id\"], created[\"id\"]);");
    out.line("    assert_fields(&updated, &body);");
    end(out);
    out.line("");

    start(out, "update_by_another_user_is_403", &["alice", "bob"]);
    out.line(&created);
    out.line(url);
    out.line(body_by("bob"));
    out.line("    let response = app.put(&url).token(&bob.token).json(&body).await;");
    out.line("    assert_status(&response, StatusCode::FORBIDDEN);");
    end(out);
    out.line("");

    start(out, "delete_by_the_owner_answers_204_then_404", &["alice"]);
    out.line(&created);
    out.line(url);
    out.line("    let response = app.delete(&url).token(&alice.token).await;");
    out.line("    assert_status(&response, StatusCode::NO_CONTENT);");
    out.line("    assert_eq!(app.get(&url).await.status(), StatusCode::NOT_FOUND);");
    out.line("    let response = app.delete(&url).token(&alice.token).await;");
    out.line("    assert_status(&response, StatusCode::NOT_FOUND);");
    end(out);
    out.line("");

    start(
        out,
        "delete_by_another_user_is_403_by_a_moderator_204",
        &["alice", "bob"],
    );
    out.line("    let moderator = app.user_with_role(\"moderator\", Role::Moderator).await?;");
    out.line(&created);
    out.line(url);
    out.line("    let response = app.delete(&url).token(&bob.token).await;");
    out.line("    assert_status(&response, StatusCode::FORBIDDEN);");
    out.line("    let response = app.delete(&url).token(&moderator.token).await;");
    out.line("    assert_status(&response, StatusCode::NO_CONTENT);");
    end(out);
}

/// The quoted columns of the fields that `keep`.
fn columns(resource: &Resource, keep: impl Fn(&crate::resource::Field) -> bool) -> Vec<String> {
    resource
        .fields
        .iter()
        .filter(|f| keep(f))
        .map(|f| format!("\"{}\"", f.column))
        .collect()
}
