//! The text of every generated file. Each function returns a whole file, formatted as
//! rustfmt would format it (see `layout`).

pub(crate) mod fields;
pub(crate) mod items;
pub(crate) mod migrations;
pub(crate) mod module;
pub(crate) mod project;
pub(crate) mod registry;
pub(crate) mod tests;

/// Generated text, built a line at a time.
#[derive(Default)]
pub(crate) struct Text(String);

impl Text {
    /// Appends `line` and a newline.
    pub(crate) fn line(&mut self, line: impl AsRef<str>) {
        self.0.push_str(line.as_ref());
        self.0.push('\n');
    }

    /// Appends `lines` as they are: each must end in a newline.
    pub(crate) fn raw(&mut self, lines: impl AsRef<str>) {
        self.0.push_str(lines.as_ref());
    }

    pub(crate) fn finish(self) -> String {
        self.0
    }
}
