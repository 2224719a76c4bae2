//! The HTML report (`report.html`, beside `--output`): one self-contained
//! page, its charts inline SVG ([`super::charts`]) and its style inline, with
//! no script and nothing to fetch, so that it reads offline and in an email.
//! The figures are the run's counts ([`super::sections`]), not its rows: the
//! page costs the same for a thousand users as for ten million.

use std::fmt::Write;
use std::time::Duration;

use super::markup::{count, escape, percent};
use super::render::elapsed;
use super::sections;
use crate::manifest::Manifest;
use crate::matching::stats::PlatformCounts;

/// The page's style: inline, system fonts only.
const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#111827;background:#fff;\
max-width:980px;margin:0 auto;padding:24px}\
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:32px 0 8px}\
.meta{color:#4b5563;margin:0 0 20px}.meta code{font-size:.95em}\
.headline{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 16px}\
.headline div{border:1px solid #e5e7eb;border-radius:8px;padding:10px 16px;min-width:140px}\
.headline .value{display:block;font-size:1.6em;font-weight:600}.headline .label{color:#4b5563;font-size:.9em}\
figure{margin:0 0 28px;padding-top:12px;border-top:1px solid #e5e7eb}\
figcaption{font-weight:600;margin-bottom:6px}\
svg{max-width:100%;height:auto}\
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}\
th,td{border:1px solid #e5e7eb;padding:4px 10px;text-align:right}th:first-child,td:first-child{text-align:left}\
th{background:#f9fafb}.note{color:#4b5563}\
.legend{margin:0 0 4px;color:#374151}.key{display:inline-block;width:12px;height:12px;margin:0 4px 0 14px;vertical-align:-1px}\
";

/// The whole page. `total_elapsed` is the run's time so far, as output.txt gives it.
pub fn page(manifest: &Manifest, total_elapsed: Duration) -> String {
    let stats = manifest.match_output.as_ref().map(|m| m.stats.clone()).unwrap_or_default();
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("vendor-match report: {}", manifest.settings.report_date);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let settings = &manifest.settings;
    let _ = writeln!(
        out,
        "<p class=\"meta\">Run <code id=\"run-id\">{}</code> · report date <span id=\"report-date\">{}</span> · \
         warehouse table <code id=\"warehouse-table\">{}</code> · active: last active within {} days · \
         elapsed {}</p>",
        escape(&manifest.run_id),
        settings.report_date,
        escape(&settings.warehouse_table.to_string()),
        settings.active_days,
        escape(&elapsed(total_elapsed))
    );
    out.push_str("<section class=\"headline\" id=\"headline\">\n");
    headline(&mut out, "total-matches", &count(stats.rows.matched), "Total Matches");
    platform_headline(&mut out, "internal", "our", &stats.internal);
    platform_headline(&mut out, "vendor", "vendor", &stats.vendor);
    let phi = stats.active.phi().map_or("undefined".to_string(), |p| format!("{p:.4}"));
    headline(&mut out, "phi", &phi, "phi of matched pairs' active flags");
    out.push_str("</section>\n");
    sections::all(&mut out, manifest, &stats);
    out.push_str("</body>\n</html>\n");
    out
}

fn platform_headline(out: &mut String, id: &str, whose: &str, counts: &PlatformCounts) {
    headline(out, &format!("{id}-users"), &count(counts.users), &format!("{whose} users"));
    let share = counts.share().map_or("no users".to_string(), percent);
    headline(out, &format!("{id}-active-share"), &share, &format!("{whose} users active"));
}

fn headline(out: &mut String, id: &str, value: &str, label: &str) {
    let _ = writeln!(
        out,
        "<div><span class=\"value\" id=\"{id}\">{}</span><span class=\"label\">{}</span></div>",
        escape(value),
        escape(label)
    );
}

#[cfg(test)]
mod tests;
