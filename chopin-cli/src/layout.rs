//! Rust laid out as rustfmt's defaults would lay it out, for the shapes of generated code
//! whose layout depends on the length of a name: the generated files pass `cargo fmt
//! --check` without the CLI running rustfmt.

/// rustfmt's `max_width`.
const MAX_WIDTH: usize = 100;
/// rustfmt's `fn_call_width`: wider arguments go one per line.
const CALL_WIDTH: usize = 60;
/// rustfmt's `chain_width`: a longer chain goes one call per line.
const CHAIN_WIDTH: usize = 60;
/// rustfmt's `array_width`: a wider array goes one item per line.
const ARRAY_WIDTH: usize = 60;

/// `n` spaces.
pub(crate) fn pad(n: usize) -> String {
    " ".repeat(n)
}

/// `head(args)tail` at `indent` columns, one or more lines each ending in `\n`: on one
/// line if the arguments take at most 60 columns (a lone literal may take more) and the
/// line at most 100, else one argument per line with a trailing comma. A multi-line
/// argument (a string literal continued with `\`) forces the second form.
pub(crate) fn call(indent: usize, head: &str, args: &[String], tail: &str) -> String {
    lay_out_call(indent, head, args, tail, ",")
}

/// A macro call as [`call`] lays it out, but without a trailing comma when vertical.
pub(crate) fn macro_call(indent: usize, head: &str, args: &[String], tail: &str) -> String {
    lay_out_call(indent, head, args, tail, "")
}

fn lay_out_call(
    indent: usize,
    head: &str,
    args: &[String],
    tail: &str,
    last_comma: &str,
) -> String {
    let joined = args.join(", ");
    let one_line = format!("{}{head}({joined}){tail}", pad(indent));
    // rustfmt holds a call to `fn_call_width` unless its one argument is simple.
    let simple = args.len() == 1 && is_simple(&joined);
    let narrow = simple || joined.len() <= CALL_WIDTH;
    if !joined.contains('\n') && narrow && one_line.len() <= MAX_WIDTH {
        return one_line + "\n";
    }
    let mut out = format!("{}{head}(\n", pad(indent));
    for (i, arg) in args.iter().enumerate() {
        let comma = if i + 1 == args.len() { last_comma } else { "," };
        out += &format!("{}{arg}{comma}\n", pad(indent + 4));
    }
    out + &format!("{}){tail}\n", pad(indent))
}

/// Whether rustfmt takes `expr` for a simple expression: a literal or a name.
fn is_simple(expr: &str) -> bool {
    let literal = expr.starts_with('"') && expr.ends_with('"') && !expr.contains('\n');
    let name = expr
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    literal || name
}

/// `head parent.calls[0].calls[1]...tail` at `indent`: on one line within the widths,
/// else one call per line, indented once more than `head`'s line; after a multi-line
/// `parent` (which ends in a line of its own, `)` at `indent`) the calls line up with it.
/// A call starting with `//` is a comment on a line of its own.
pub(crate) fn chain(
    indent: usize,
    head: &str,
    parent: &str,
    calls: &[String],
    tail: &str,
) -> String {
    let joined: String = calls.iter().map(|c| format!(".{c}")).collect();
    let one_line = format!("{}{head}{parent}{joined}{tail}", pad(indent));
    let chain_len = parent.len() + joined.len();
    let comments = calls.iter().any(|c| c.starts_with("//"));
    let multi_line = parent.contains('\n') || comments;
    if !multi_line && chain_len <= CHAIN_WIDTH && one_line.len() <= MAX_WIDTH {
        return one_line + "\n";
    }
    let call_indent = if parent.contains('\n') {
        indent
    } else {
        indent + 4
    };
    let mut out = format!("{}{head}{parent}", pad(indent));
    let mut calls = calls.iter();
    // A root no wider than an indent, at the start of its line, keeps its first call.
    if head.is_empty()
        && parent.len() <= 4
        && let Some(first) = calls.next()
    {
        out += &format!(".{first}");
    }
    for call in calls {
        let dot = if call.starts_with("//") { "" } else { "." };
        out += &format!("\n{}{dot}{call}", pad(call_indent));
    }
    out + tail + "\n"
}

/// A call (as [`call`] lays it out) followed by a chain (as [`chain`] does), the call's
/// line starting with `head` (e.g. `let rows = `), which counts for the line's width but
/// not for the chain's.
pub(crate) fn call_chain(
    indent: usize,
    head: &str,
    callee: &str,
    args: &[String],
    calls: &[String],
    tail: &str,
) -> String {
    let parent = call(indent, &format!("{head}{callee}"), args, "");
    let parent = parent.trim_end_matches('\n');
    let parent = parent
        .strip_prefix(&format!("{}{head}", pad(indent)))
        .unwrap_or(parent);
    chain(indent, head, parent, calls, tail)
}

/// A function's signature up to its `{`: on one line within 100 columns, else one
/// parameter per line. `ret` is the return type, if any.
pub(crate) fn signature(indent: usize, head: &str, params: &[String], ret: Option<&str>) -> String {
    let ret = ret.map(|r| format!(" -> {r}")).unwrap_or_default();
    let one_line = format!("{}{head}({}){ret} {{", pad(indent), params.join(", "));
    if one_line.len() <= MAX_WIDTH {
        return one_line + "\n";
    }
    let mut out = format!("{}{head}(\n", pad(indent));
    for param in params {
        out += &format!("{}{param},\n", pad(indent + 4));
    }
    out + &format!("{}){ret} {{\n", pad(indent))
}

/// `head[items]tail` at `indent`: on one line within the widths, else one item per line.
pub(crate) fn array(indent: usize, head: &str, items: &[String], tail: &str) -> String {
    let joined = items.join(", ");
    let one_line = format!("{}{head}[{joined}]{tail}", pad(indent));
    if joined.len() <= ARRAY_WIDTH && one_line.len() <= MAX_WIDTH {
        return one_line + "\n";
    }
    let mut out = format!("{}{head}[\n", pad(indent));
    for item in items {
        out += &format!("{}{item},\n", pad(indent + 4));
    }
    out + &format!("{}]{tail}\n", pad(indent))
}

/// `head{names};`, a `use` of a flat list of names at the start of a line (`head` is
/// `use path::`), as rustfmt's `imports_layout = "Mixed"` lays it out: on one line if that
/// takes at most 98 columns; else the names inside the braces, on one line if it takes at
/// most 100 columns with its trailing comma, else filling lines of at most 99 columns.
pub(crate) fn use_list(head: &str, names: &[String]) -> String {
    let one_line = format!("{head}{{{}}};", names.join(", "));
    if one_line.len() <= MAX_WIDTH - 2 {
        return one_line + "\n";
    }
    let inside = format!("{}{},", pad(4), names.join(", "));
    if inside.len() <= MAX_WIDTH {
        return format!("{head}{{\n{inside}\n}};\n");
    }
    let mut out = format!("{head}{{\n");
    let mut line = String::new();
    for name in names {
        if !line.is_empty() && line.len() + 1 + name.len() + 1 > MAX_WIDTH - 1 {
            out += &line;
            out.push('\n');
            line.clear();
        }
        line += if line.is_empty() { "    " } else { " " };
        line += name;
        line.push(',');
    }
    out + &line + "\n};\n"
}

/// An SQL string literal whose opening quote is at column `column` and which is followed
/// by `,`: on one line if it fits, else one clause per line (long clauses broken between
/// words), continued with `\` and lined up one column right of the quote.
pub(crate) fn sql(column: usize, clauses: &[String]) -> String {
    let whole = clauses.join(" ");
    if column + whole.len() + 3 <= MAX_WIDTH {
        return format!("\"{whole}\"");
    }
    // The room for a line's SQL: the quote or the alignment space, then ` \` or `",`.
    let room = MAX_WIDTH.saturating_sub(column + 3);
    let mut lines: Vec<String> = Vec::new();
    for clause in clauses {
        let mut line = String::new();
        for word in clause.split(' ') {
            if !line.is_empty() && line.len() + 1 + word.len() > room {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    let last = lines.len().saturating_sub(1);
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        match i {
            0 => out += &format!("\"{line}"),
            _ => out += &format!("{}{line}", pad(column + 1)),
        }
        if i == last {
            out.push('"');
        } else {
            out += " \\\n";
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn calls_break_past_sixty_columns_of_arguments() {
        assert_eq!(
            call(8, "a: check", &strings(&["&mut errors", "\"a\""]), ","),
            "        a: check(&mut errors, \"a\"),\n"
        );
        let long = strings(&[
            "&mut errors",
            "\"released_a\"",
            "required(input.released_a, timestam)",
        ]);
        assert_eq!(
            call(8, "b: check", &long, ","),
            "        b: check(\n            &mut errors,\n            \"released_a\",\n            \
             required(input.released_a, timestam),\n        ),\n"
        );
    }

    #[test]
    fn use_lists_fill_their_lines() {
        assert_eq!(
            use_list("use a::", &strings(&["B", "c"])),
            "use a::{B, c};\n"
        );
        let names: Vec<String> = (0..9)
            .map(|i| format!("name_{i}_{}", "x".repeat(i)))
            .collect();
        assert_eq!(
            use_list("use crate::fields::", &names),
            "use crate::fields::{\n    name_0_, name_1_x, name_2_xx, name_3_xxx, name_4_xxxx, \
             name_5_xxxxx, name_6_xxxxxx,\n    name_7_xxxxxxx, name_8_xxxxxxxx,\n};\n"
        );
    }

    #[test]
    fn long_sql_is_continued() {
        let clauses = strings(&[
            "INSERT INTO books (user_id, title, created_at, updated_at)",
            "VALUES ($1, $2, $3, $3)",
            "RETURNING id, user_id, title, created_at, updated_at",
        ]);
        let literal = sql(8, &clauses);
        assert_eq!(
            literal,
            "\"INSERT INTO books (user_id, title, created_at, updated_at) \\\n         \
             VALUES ($1, $2, $3, $3) \\\n         \
             RETURNING id, user_id, title, created_at, updated_at\""
        );
        assert_eq!(
            sql(8, &strings(&["DELETE FROM books", "WHERE id = $1"])),
            "\"DELETE FROM books WHERE id = $1\""
        );
    }
}
