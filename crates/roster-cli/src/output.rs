//! How client commands print: an aligned table for people, or with
//! `--json` the API's own JSON (what scripts should parse; tables may
//! change).

use comfy_table::{CellAlignment, ContentArrangement, Table as Inner, presets};
use serde_json::Value;

/// `--json`, shared by every list and show.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct OutputArgs {
    /// Print the API's JSON instead of a table (stable for scripts).
    #[arg(long)]
    pub json: bool,
}

impl OutputArgs {
    /// Prints `value` as JSON when asked, and says whether it did.
    pub fn json(&self, value: &impl serde::Serialize) -> anyhow::Result<bool> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        }
        Ok(self.json)
    }
}

/// A borderless table whose columns are as wide as their widest cell.
pub struct Table(Inner);

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        let mut t = Inner::new();
        t.load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(headers);
        // No padding on the left of the first column: lines start at the margin.
        for column in t.column_iter_mut() {
            column.set_padding((0, 2));
        }
        Self(t)
    }

    /// Right-aligns the columns at these indexes (numbers).
    pub fn numeric(mut self, columns: &[usize]) -> Self {
        for &i in columns {
            if let Some(c) = self.0.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        self
    }

    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        self.0.add_row(cells.into_iter().collect::<Vec<_>>());
    }

    pub fn print(&self) {
        for line in self.0.lines() {
            println!("{}", line.trim_end());
        }
    }

    /// Without the header line (a table of `name value` pairs).
    pub fn print_body(&self) {
        for line in self.0.lines().skip(1) {
            println!("{}", line.trim_end());
        }
    }
}

/// A JSON string as a cell; `-` for none. Numbers and booleans as written.
pub fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Table {
        fn text(&self) -> String {
            self.0.lines().map(|l| l.trim_end().to_owned()).collect::<Vec<_>>().join("\n")
        }
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_without_borders() {
        let mut t = Table::new(&["ID", "NAME", "COUNT"]).numeric(&[2]);
        t.row(["E1".to_owned(), "Ada Lovelace".to_owned(), "7".to_owned()]);
        t.row(["E10000".to_owned(), "-".to_owned(), "1234".to_owned()]);
        assert_eq!(
            t.text(),
            "ID      NAME          COUNT\n\
             E1      Ada Lovelace      7\n\
             E10000  -              1234"
        );
    }
}
