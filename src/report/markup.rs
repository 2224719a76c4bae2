//! The HTML report's building blocks: escaping, a figure with its caption,
//! legend and chart, a table of plain-text cells, and numbers as the page
//! prints them.

use std::fmt::Write;

use super::charts::{self, ChartError, RGBColor, Scale};

/// A count with thousands separators.
pub fn count(n: u64) -> String {
    charts::thousands(n)
}

/// A share as a percentage with one decimal (`42.0 %`).
pub fn percent(share: f64) -> String {
    Scale::Share.format(share)
}

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A `<figure>`: its caption (plain text), a legend of (name, colour), the
/// chart (or why it is missing), then `extra` (HTML).
pub fn figure(
    out: &mut String,
    id: &str,
    caption: &str,
    legend: &[(&str, RGBColor)],
    chart: Result<String, ChartError>,
    extra: &str,
) {
    let _ = writeln!(out, "<figure id=\"{id}\">\n<figcaption>{}</figcaption>", escape(caption));
    if !legend.is_empty() {
        out.push_str("<p class=\"legend\">");
        for (name, RGBColor(r, g, b)) in legend {
            let _ =
                write!(out, "<span class=\"key\" style=\"background:#{r:02x}{g:02x}{b:02x}\"></span>{}", escape(name));
        }
        out.push_str("</p>\n");
    }
    match chart {
        Ok(svg) => out.push_str(&svg),
        Err(error) => {
            let _ = writeln!(out, "<p class=\"note\">The chart could not be drawn: {}</p>", escape(&error.to_string()));
        }
    }
    out.push_str(extra);
    out.push_str("</figure>\n");
}

/// A table of plain-text cells (escaped here), the first row its header.
pub fn table(rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table>\n");
    for (i, row) in rows.iter().enumerate() {
        let cell = if i == 0 { "th" } else { "td" };
        out.push_str("<tr>");
        for text in row {
            let _ = write!(out, "<{cell}>{}</{cell}>", escape(text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}
