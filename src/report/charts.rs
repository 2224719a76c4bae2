//! The HTML report's charts: bars and lines drawn by plotters' SVG backend
//! into strings, ready to inline.
//!
//! No font is needed to build or to draw them: without a font feature,
//! plotters estimates text extents from the character count, and its SVG
//! backend writes `<text>` elements (escaped) that the reader's browser lays
//! out with its own sans-serif font.
//!
//! Categories sit on an `f64` axis ([`Axis`]) with one tick at each one's
//! centre, the labels given by a formatter: plotters' segmented axes cannot
//! place the bars of several series side by side within one category. (Its
//! own `with_key_points` decorator would do, but drops the value formatter
//! that `configure_mesh` requires.)

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
pub use plotters::style::RGBColor;

/// Drawing a chart failed (it can't, short of a bug: the target is a string).
pub type ChartError = DrawingAreaErrorKind<std::io::Error>;

/// Our platform's colour.
pub const INTERNAL: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// The vendor's platform's colour.
pub const VENDOR: RGBColor = RGBColor(0xe6, 0x7e, 0x22);
/// Matched pairs' colour.
pub const MATCHED: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);
/// Everything else.
pub const NEUTRAL: RGBColor = RGBColor(0x6b, 0x72, 0x80);

/// Chart width in pixels; the page scales charts down to fit narrower screens.
const WIDTH: u32 = 720;
/// Characters of a category label kept before it is cut with `…`.
const LABEL_CHARS: usize = 28;

/// One series of values, one per category; `NaN` draws no bar (no users).
pub struct Series {
    /// Its name, for the legend.
    pub name: String,
    /// Its colour.
    pub color: RGBColor,
    /// The values.
    pub values: Vec<f64>,
    /// A (low, high) interval per value, drawn as error bars.
    pub intervals: Option<Vec<(f64, f64)>>,
}

impl Series {
    /// A series without intervals.
    pub fn new(name: &str, color: RGBColor, values: Vec<f64>) -> Series {
        Series { name: name.to_string(), color, values, intervals: None }
    }
}

/// How values read: shares as percentages, counts, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// 0..1, shown as percent (`42.0 %`, as the text report).
    Share,
    /// Whole numbers.
    Count,
    /// Seconds.
    Seconds,
}

impl Scale {
    /// A value as the chart prints it.
    pub fn format(self, value: f64) -> String {
        match self {
            Scale::Share => format!("{:.1} %", value * 100.0),
            Scale::Count => thousands(value.round() as u64),
            Scale::Seconds => format!("{value:.2} s"),
        }
    }

    /// The axis' top and its ticks for values up to `max`.
    fn axis(self, max: f64) -> (f64, Vec<f64>) {
        let top = match self {
            // To the next 10 %: small shares stay readable.
            Scale::Share => ((max * 10.0).ceil() / 10.0).clamp(0.1, 1.0),
            Scale::Count | Scale::Seconds => nice_ceiling(max),
        };
        // Shares tick at round percentages, every 10 or 20; the rest in fifths.
        let steps = match self {
            Scale::Share if top > 0.5 => (top / 0.2).round() as u32,
            Scale::Share => (top / 0.1).round() as u32,
            Scale::Count | Scale::Seconds => 5,
        };
        (top, (0..=steps).map(|i| top * f64::from(i) / f64::from(steps)).collect())
    }

    fn tick(self, value: f64) -> String {
        match self {
            Scale::Share => format!("{:.0} %", value * 100.0),
            Scale::Count => compact(value),
            Scale::Seconds => format!("{value:.3}").trim_end_matches('0').trim_end_matches('.').to_string() + " s",
        }
    }
}

/// A linear `f64` axis with the ticks it is given.
#[derive(Debug, Clone)]
pub struct Axis {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let fraction = if span == 0.0 { 0.0 } else { (value - self.range.start) / span };
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// A bar chart: a group of bars per category, one bar per series.
pub struct Bars<'a> {
    /// The categories' labels.
    pub categories: &'a [String],
    /// The series.
    pub series: &'a [Series],
    /// How the values read.
    pub scale: Scale,
    /// Bars along the horizontal axis (categories down the side, for long labels).
    pub horizontal: bool,
}

/// `n` with thousands separators: 9,726,125.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// An axis tick: 0, 500, 2.5k, 10M.
fn compact(value: f64) -> String {
    let trim = |s: String| s.trim_end_matches('0').trim_end_matches('.').to_string();
    match value {
        v if v >= 1e9 => trim(format!("{:.2}", v / 1e9)) + "G",
        v if v >= 1e6 => trim(format!("{:.2}", v / 1e6)) + "M",
        v if v >= 1e3 => trim(format!("{:.2}", v / 1e3)) + "k",
        v => trim(format!("{v:.2}")),
    }
}

/// The smallest 1, 2 or 5 times a power of ten at or above `max` (1 for nothing).
fn nice_ceiling(max: f64) -> f64 {
    if max.is_nan() || max <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|v| *v >= max).unwrap_or(10.0 * power)
}

/// A label no longer than [`LABEL_CHARS`] characters.
fn shortened(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_string();
    }
    label.chars().take(LABEL_CHARS - 1).chain(['…']).collect()
}

/// Draws `bars` into an SVG document.
pub fn bars(bars: &Bars<'_>) -> Result<String, ChartError> {
    let n = bars.categories.len().max(1);
    let per_group = bars.series.len().max(1);
    let max = bars.series.iter().flat_map(|s| s.values.iter().chain(s.intervals.iter().flatten().map(|(_, h)| h)));
    let (top, ticks) = bars.scale.axis(max.copied().filter(|v| v.is_finite()).fold(0.0, f64::max));
    // Room past the top for the value printed beyond the longest bar.
    let value_range = 0.0..top * if bars.horizontal { 1.25 } else { 1.12 };
    let centres: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
    let category_axis = Axis { range: 0.0..n as f64, ticks: centres };
    let value_axis = Axis { range: value_range, ticks };
    let labels: Vec<String> = bars.categories.iter().map(|c| shortened(c)).collect();
    // Horizontal bars list the categories top down: the first at the top of the axis.
    let index = |slot: usize| if bars.horizontal { n - 1 - slot.min(n - 1) } else { slot };
    let label_of = |v: &f64| labels.get(index(v.floor().max(0.0) as usize)).cloned().unwrap_or_default();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32 * 7 + 16;
    let size = if bars.horizontal { (WIDTH, 40 + n as u32 * (12 * per_group as u32 + 10)) } else { (WIDTH, 300) };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(10).margin_right(20);
        let mut chart = if bars.horizontal {
            builder.x_label_area_size(30).y_label_area_size(label_width.max(60));
            builder.build_cartesian_2d(value_axis, category_axis)?
        } else {
            builder.x_label_area_size(30).y_label_area_size(60);
            builder.build_cartesian_2d(category_axis, value_axis)?
        };
        let scale = bars.scale;
        let tick_of = |v: &f64| scale.tick(*v);
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(WHITE).bold_line_style(RGBColor(0xe5, 0xe7, 0xeb)).label_style(("sans-serif", 15));
        if bars.horizontal {
            mesh.disable_y_mesh().x_label_formatter(&tick_of).y_label_formatter(&label_of);
        } else {
            mesh.disable_x_mesh().x_label_formatter(&label_of).y_label_formatter(&tick_of);
        }
        mesh.draw()?;
        draw_bars(&mut chart, bars, n)?;
        root.present()?;
    }
    Ok(svg)
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

/// The bars, their values and intervals.
fn draw_bars(chart: &mut Chart<'_, '_>, bars: &Bars<'_>, n: usize) -> Result<(), ChartError> {
    let per_group = bars.series.len().max(1) as f64;
    let band = 0.8 / per_group;
    // A value is printed over a vertical bar only where it fits (about 7
    // pixels a character on some 630 pixels of axis); the figure's table has them all.
    let bar_pixels = 630.0 * band * 0.84 / n as f64;
    let fits = |text: &str| bars.horizontal || text.chars().count() as f64 * 7.0 <= bar_pixels + 8.0;
    // (category position, value) in the chart's own order of axes.
    let at = |position: f64, value: f64| if bars.horizontal { (value, position) } else { (position, value) };
    for (s, series) in bars.series.iter().enumerate() {
        for (i, value) in series.values.iter().enumerate().take(n).filter(|(_, v)| v.is_finite()) {
            // Horizontal: categories top down, and each one's series too.
            let slot = if bars.horizontal {
                (n - 1 - i) as f64 + 0.9 - band * (s as f64 + 1.0)
            } else {
                i as f64 + 0.1 + band * s as f64
            };
            let (from, to) = (slot + band * 0.08, slot + band * 0.92);
            chart.draw_series([Rectangle::new([at(from, 0.0), at(to, *value)], series.color.filled())])?;
            let middle = (from + to) / 2.0;
            let interval = series.intervals.as_ref().and_then(|all| all.get(i));
            if let Some((low, high)) = interval.filter(|(low, high)| low.is_finite() && high.is_finite()) {
                // Drawn as three lines: plotters' ErrorBar also marks the
                // value with a circle, over the printed value when the interval is narrow.
                let cap = band * 0.15;
                let style = BLACK.stroke_width(2);
                let lines = [
                    vec![at(middle, *low), at(middle, *high)],
                    vec![at(middle - cap, *low), at(middle + cap, *low)],
                    vec![at(middle - cap, *high), at(middle + cap, *high)],
                ];
                chart.draw_series(lines.into_iter().map(|points| PathElement::new(points, style)))?;
            }
            let end = interval.map_or(*value, |(_, high)| high.max(*value));
            let anchor =
                if bars.horizontal { Pos::new(HPos::Left, VPos::Center) } else { Pos::new(HPos::Center, VPos::Bottom) };
            let style = TextStyle::from(("sans-serif", 14).into_font()).color(&BLACK).pos(anchor);
            let (x, y) = at(middle, end);
            let label = bars.scale.format(*value);
            if fits(&label) {
                chart.draw_series([Text::new(format!(" {label} "), (x, y), style)])?;
            }
        }
    }
    Ok(())
}

/// Lines over report dates: one point per date and series.
pub fn lines(dates: &[String], series: &[Series], scale: Scale) -> Result<String, ChartError> {
    let n = dates.len().max(1);
    let max = series.iter().flat_map(|s| s.values.iter()).copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
    let (top, ticks) = scale.axis(max);
    // At most 12 dates named on the axis.
    let step = n.div_ceil(12);
    let named: Vec<f64> = (0..n).step_by(step).map(|i| i as f64).collect();
    let date_of = |v: &f64| dates.get(v.round().max(0.0) as usize).cloned().unwrap_or_default();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 300)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(30)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(
                Axis { range: -0.3..n as f64 - 0.7, ticks: named },
                Axis { range: 0.0..top * 1.05, ticks },
            )?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xe5, 0xe7, 0xeb))
            .label_style(("sans-serif", 15))
            .x_label_formatter(&date_of)
            .y_label_formatter(&|v| scale.tick(*v))
            .draw()?;
        for s in series {
            let points: Vec<(f64, f64)> =
                s.values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, v)| (i as f64, *v)).collect();
            chart.draw_series(LineSeries::new(points.iter().copied(), s.color.stroke_width(2)))?;
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, s.color.filled())))?;
        }
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_and_compact_ticks() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(9_726_125), "9,726,125");
        assert_eq!(compact(2_500.0), "2.5k");
        assert_eq!(compact(10_000_000.0), "10M");
        assert_eq!(compact(0.0), "0");
    }

    #[test]
    fn the_count_axis_ends_on_a_round_number() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(1_200.0), 2_000.0);
        assert_eq!(nice_ceiling(9_726_125.0), 10_000_000.0);
    }

    #[test]
    fn share_axes_tick_at_round_percentages() {
        let ticks = |max: f64| Scale::Share.axis(max).1.iter().map(|t| Scale::Share.tick(*t)).collect::<Vec<_>>();
        assert_eq!(ticks(0.744), ["0 %", "20 %", "40 %", "60 %", "80 %"]);
        assert_eq!(ticks(0.25), ["0 %", "10 %", "20 %", "30 %"]);
        assert_eq!(ticks(0.0), ["0 %", "10 %"]);
        assert_eq!(ticks(1.0).len(), 6);
    }

    #[test]
    fn long_labels_are_cut_by_characters() {
        let long = "é".repeat(40);
        assert_eq!(shortened(&long).chars().count(), LABEL_CHARS);
        assert!(shortened(&long).ends_with('…'));
    }

    #[test]
    fn bars_escape_their_labels_and_skip_missing_values() {
        let categories = ["<b>&".to_string(), "empty".to_string()];
        let series = [Series::new("ours", INTERNAL, vec![0.5, f64::NAN])];
        let svg =
            bars(&Bars { categories: &categories, series: &series, scale: Scale::Share, horizontal: true }).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("&lt;b&gt;&amp;") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("50.0 %"));
    }

    /// The `y` attribute of the first element holding `marker`.
    fn y_of(svg: &str, marker: &str) -> i32 {
        let element = svg.lines().position(|l| l.contains(marker)).unwrap();
        // A text's content is on the line after its tag.
        let line = svg.lines().nth(if marker.starts_with('<') { element } else { element - 1 }).unwrap();
        line.split(" y=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap()
    }

    #[test]
    fn horizontal_bars_list_the_first_category_at_the_top_with_its_own_bar() {
        let categories = ["first".to_string(), "second".to_string()];
        let series = [Series::new("ours", INTERNAL, vec![0.9, 0.1])];
        let svg =
            bars(&Bars { categories: &categories, series: &series, scale: Scale::Share, horizontal: true }).unwrap();
        assert!(y_of(&svg, "first") < y_of(&svg, "second"), "{svg}");
        assert!(y_of(&svg, " 90.0 % ") < y_of(&svg, " 10.0 % "), "{svg}");
        assert!((y_of(&svg, "first") - y_of(&svg, " 90.0 % ")).abs() < 20, "{svg}");
    }

    #[test]
    fn lines_draw_one_point_per_date() {
        let dates = ["2017-01-01".to_string(), "2017-02-01".to_string()];
        let series = [Series::new("ours", INTERNAL, vec![0.2, 0.3])];
        let svg = lines(&dates, &series, Scale::Share).unwrap();
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        assert!(svg.contains("2017-02-01"));
    }
}
