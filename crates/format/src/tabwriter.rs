//! Column alignment matching Go's `text/tabwriter` as docker configures it:
//! `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
//!
//! A cell is text terminated by a tab; the text after the last tab of a line
//! is not part of any column and is written as is. A column spans a block of
//! consecutive lines that all have a tab-terminated cell at that index; its
//! width is the widest cell plus the padding, but at least the minimum width.
//! Widths count characters (Go counts runes), not display columns.

/// Minimum cell width, padding included.
const MIN_WIDTH: usize = 10;
/// Spaces added after the widest cell of a column.
const PADDING: usize = 3;

/// Align tab-separated `text` (lines separated by `\n`).
pub(crate) fn align_text(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    align(&lines)
}

/// Align pre-split lines. Every line but the last is newline-terminated in
/// the output; the last element of each line is its unpadded trailing cell.
pub(crate) fn align(lines: &[Vec<&str>]) -> String {
    let mut f = Formatter {
        lines,
        widths: Vec::new(),
        out: String::new(),
    };
    f.format(0, lines.len());
    f.out
}

struct Formatter<'a> {
    lines: &'a [Vec<&'a str>],
    widths: Vec<usize>,
    out: String,
}

impl Formatter<'_> {
    /// Whether line `i` has a tab-terminated cell in column `col`.
    fn has_cell(&self, i: usize, col: usize) -> bool {
        col + 1 < self.lines[i].len()
    }

    /// Go's recursive block formatting: find each block of lines that have a
    /// cell in the current column, fix its width, then format the next
    /// column within that block.
    fn format(&mut self, mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if !self.has_cell(this, column) {
                this += 1;
                continue;
            }
            self.write_lines(line0, this);
            line0 = this;
            let mut width = MIN_WIDTH;
            while this < line1 && self.has_cell(this, column) {
                width = width.max(self.lines[this][column].chars().count() + PADDING);
                this += 1;
            }
            self.widths.push(width);
            self.format(line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(line0, line1);
    }

    fn write_lines(&mut self, line0: usize, line1: usize) {
        for i in line0..line1 {
            for (j, cell) in self.lines[i].iter().enumerate() {
                self.out.push_str(cell);
                if let Some(width) = self.widths.get(j) {
                    let fill = width.saturating_sub(cell.chars().count());
                    self.out.extend(std::iter::repeat_n(' ', fill));
                }
            }
            if i + 1 < self.lines.len() {
                self.out.push('\n');
            }
        }
    }
}
