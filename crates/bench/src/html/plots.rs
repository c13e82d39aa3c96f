//! The report's plots, drawn by plotters into SVG strings that the page inlines. Degenerate data
//! (no points, one value, all values equal) gets padded ranges or a framed message instead of a
//! panic; callers drop non-finite values and say so in the caption.

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::esc;

pub(crate) const STOLEN: RGBColor = RGBColor(213, 94, 0);
pub(crate) const INDEPENDENT: RGBColor = RGBColor(0, 114, 178);
pub(crate) const SUSPECT: RGBColor = RGBColor(170, 51, 119);
pub(crate) const GREY: RGBColor = RGBColor(120, 120, 120);

const W: u32 = 460;
const H: u32 = 320;
const FONT: &str = "sans-serif";
/// Plotters writes `font-size = size / 1.24` into the SVG: these read as about 13 px and 14 px.
const LABEL: u32 = 16;
const DESC: u32 = 17;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Plotters' errors borrow nothing but are not `Sync` for every backend; keep their text.
fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("plot: {e}")
}

/// The legend, in the one style every plot shares.
fn draw_legend<'a, DB, CT>(chart: &mut ChartContext<'a, DB, CT>, position: SeriesLabelPosition) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, LABEL))
        .background_style(WHITE.mix(0.9))
        .border_style(GREY)
        .draw()
        .map_err(err)
}

/// Draws into a fresh SVG string of `size`, labelled for screen readers.
fn render(size: (u32, u32), label: &str, draw: impl FnOnce(&Area<'_>) -> anyhow::Result<()>) -> anyhow::Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(buf.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{}\" ", esc(label)), 1))
}

/// A framed plot that only says why there is nothing to draw (so every plot slot stays an SVG).
pub(crate) fn message(label: &str, text: &str) -> anyhow::Result<String> {
    render((W, H / 2), label, |root| {
        let (w, h) = root.dim_in_pixel();
        root.draw(&Rectangle::new([(1, 1), (w as i32 - 2, h as i32 - 2)], GREY.mix(0.5))).map_err(err)?;
        let style = (FONT, 15).into_font().color(&GREY).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(text.to_string(), (w as i32 / 2, h as i32 / 2), style)).map_err(err)?;
        Ok(())
    })
}

/// `(lo, hi)` around the finite values, padded; a single value (or none) still gets a range.
pub(crate) fn padded_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if !span.is_finite() {
        return (lo, hi);
    }
    if span <= 1e-9 * lo.abs().max(1.0) {
        let d = (lo.abs() * 0.05).max(0.05);
        (lo - d, hi + d)
    } else {
        (lo - 0.08 * span, hi + 0.08 * span)
    }
}

/// Enough decimals to tell `ticks` labels across `lo..hi` apart, and no more (they would collide).
/// Plotters steps by the smallest of 1, 2, 5 x 10^k that fits `ticks` labels: the label needs k's decimals.
pub(crate) fn decimals(lo: f64, hi: f64, ticks: usize) -> usize {
    let raw = (hi - lo) / ticks as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return 2;
    }
    let base = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * base).find(|s| *s >= raw).unwrap_or(10.0 * base);
    (-step.log10().floor()).clamp(0.0, 6.0) as usize
}

/// The empirical ROC curve from (0, 0) to (1, 1), one point per distinct score taken as the
/// threshold `score >= t` (ties move diagonally, matching the mid-rank AUC).
pub(crate) fn roc_points(pos: &[f64], neg: &[f64]) -> Vec<(f64, f64)> {
    let mut cuts: Vec<f64> = pos.iter().chain(neg).copied().collect();
    cuts.sort_by(|a, b| b.total_cmp(a));
    cuts.dedup();
    let rate = |xs: &[f64], t: f64| xs.iter().filter(|&&s| s >= t).count() as f64 / xs.len() as f64;
    let mut points = vec![(0.0, 0.0)];
    points.extend(cuts.into_iter().map(|t| (rate(neg, t), rate(pos, t))));
    points
}

/// ROC of oriented scores; `operating` marks the calibrated threshold's (FPR, TPR).
pub(crate) fn roc(pos: &[f64], neg: &[f64], operating: Option<f64>) -> anyhow::Result<String> {
    if pos.is_empty() || neg.is_empty() {
        return message("ROC curve", "ROC needs stolen and independent scores");
    }
    let points = roc_points(pos, neg);
    render((W, H), "ROC curve", |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.02..1.02, -0.02..1.02)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("false-positive rate (independents)")
            .y_desc("true-positive rate (stolen)")
            .light_line_style(WHITE)
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, DESC))
            .draw()
            .map_err(err)?;
        chart.draw_series(DashedLineSeries::new([(0.0, 0.0), (1.0, 1.0)], 4, 4, GREY.stroke_width(1))).map_err(err)?;
        chart
            .draw_series(LineSeries::new(points.clone(), STOLEN.stroke_width(2)))
            .map_err(err)?
            .label("ROC")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], STOLEN.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, STOLEN.filled()))).map_err(err)?;
        if let Some(t) = operating.filter(|t| t.is_finite()) {
            let rate = |xs: &[f64]| xs.iter().filter(|&&s| s >= t).count() as f64 / xs.len() as f64;
            let p = (rate(neg), rate(pos));
            chart
                .draw_series([Circle::new(p, 6, BLACK.stroke_width(2))])
                .map_err(err)?
                .label("calibrated threshold")
                .legend(|(x, y)| Circle::new((x + 8, y), 5, BLACK.stroke_width(2)));
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

/// IPGuard's robustness and uniqueness against tau.
pub(crate) fn ru_curves(curve: &[mown_eval::RuPoint]) -> anyhow::Result<String> {
    let finite: Vec<_> =
        curve.iter().filter(|p| p.tau.is_finite() && p.robustness.is_finite() && p.uniqueness.is_finite()).collect();
    if finite.is_empty() {
        return message("R/U curves", "no robustness/uniqueness curve");
    }
    let (lo, hi) = padded_range(finite.iter().map(|p| p.tau).chain([0.0, 1.0]));
    render((W, H), "robustness and uniqueness curves", |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(lo..hi, -0.02..1.3)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("threshold tau")
            .y_desc("rate")
            .light_line_style(WHITE)
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, DESC))
            // The band above 1 holds the legend, clear of the curves.
            .y_label_formatter(&|y| if *y > 1.0001 { String::new() } else { format!("{y:.1}") })
            .draw()
            .map_err(err)?;
        for (label, color, get) in [
            ("robustness (stolen >= tau)", STOLEN, (|p: &mown_eval::RuPoint| p.robustness) as fn(&_) -> f64),
            ("uniqueness (independent < tau)", INDEPENDENT, |p| p.uniqueness),
        ] {
            chart
                .draw_series(LineSeries::new(finite.iter().map(|p| (p.tau, get(p))), color.stroke_width(2)))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperMiddle)?;
        Ok(())
    })
}

/// One row of points along the x axis.
pub(crate) struct Strip {
    pub label: String,
    pub values: Vec<f64>,
    pub color: RGBColor,
    pub size: u32,
}

/// A vertical marker line (a threshold, alpha).
pub(crate) struct Marker {
    pub x: f64,
    pub label: String,
    pub color: RGBColor,
}

/// Strips of points, first strip at the top, with vertical markers. With `log10` the values are
/// already log10 and the axis is labelled in powers of ten.
pub(crate) fn strips(
    label: &str,
    strips: &[Strip],
    markers: &[Marker],
    x_desc: &str,
    log10: bool,
) -> anyhow::Result<String> {
    let markers: Vec<&Marker> = markers.iter().filter(|m| m.x.is_finite()).collect();
    let values = || strips.iter().flat_map(|s| s.values.iter().copied()).filter(|v| v.is_finite());
    if values().next().is_none() && markers.is_empty() {
        return message(label, "no finite values to draw");
    }
    let (lo, hi) = padded_range(values().chain(markers.iter().map(|m| m.x)));
    let n = strips.len().max(1);
    // Below the last strip, a band for the legend so that it hides no point.
    let bottom = if markers.is_empty() { -0.7 } else { -1.4 };
    let height = if markers.is_empty() { 110 } else { 150 } + 60 * n as u32;
    // Strip names sit left of the plot, where no point can hide them.
    let name_px = 16 + 8 * strips.iter().map(|s| s.label.chars().count()).max().unwrap_or(0) as u32;
    render((W + name_px / 2, height), label, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(name_px)
            .build_cartesian_2d(lo..hi, bottom..(n as f64 - 0.1))
            .map_err(err)?;
        let decimals = decimals(lo, hi, 6);
        let fmt = |x: &f64| if log10 { format!("{:.0e}", 10f64.powf(*x)) } else { format!("{x:.decimals$}") };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .light_line_style(WHITE)
            .x_labels(6)
            .x_label_formatter(&fmt)
            .x_desc(x_desc)
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, DESC))
            .draw()
            .map_err(err)?;
        for (k, s) in strips.iter().enumerate() {
            let row = (n - 1 - k) as f64;
            let (px, py) = chart.backend_coord(&(lo, row));
            let style = (FONT, LABEL).into_font().color(&s.color).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(s.label.clone(), (px - 8, py), style)).map_err(err)?;
            // A fixed golden-ratio jitter keeps equal values apart and the picture reproducible.
            let points = s.values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, &v)| {
                let y = row + ((i as f64 * 0.618_034).fract() - 0.5) * 0.45;
                Circle::new((v, y), s.size, s.color.mix(0.75).filled())
            });
            chart.draw_series(points).map_err(err)?;
        }
        for m in &markers {
            let color = m.color;
            chart
                .draw_series(DashedLineSeries::new([(m.x, bottom), (m.x, n as f64 - 0.1)], 6, 4, color.stroke_width(2)))
                .map_err(err)?
                .label(m.label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        if !markers.is_empty() {
            draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        }
        Ok(())
    })
}

/// Two bar panels side by side, one bar per method: median queries and seconds per verification.
pub(crate) fn cost_bars(names: &[String], queries: &[f64], seconds: &[f64]) -> anyhow::Result<String> {
    if names.is_empty() {
        return message("queries and seconds", "no methods");
    }
    let n = names.len();
    let short: Vec<String> = names
        .iter()
        .map(|s| if s.chars().count() > 24 { s.chars().take(23).chain(['…']).collect() } else { s.clone() })
        .collect();
    let name_px = 20 + 7 * short.iter().map(|s| s.chars().count()).max().unwrap_or(4) as u32;
    let height = 90 + 30 * n as u32;
    render((2 * W, height), "queries and seconds per verification", |root| {
        let (left, right) = root.split_horizontally(name_px + W - 40);
        for (area, values, desc, pad_left, color, whole) in [
            (&left, queries, "median queries per verification", name_px, INDEPENDENT, true),
            (&right, seconds, "seconds per verification", 20, STOLEN, false),
        ] {
            let (_, hi) = padded_range(values.iter().copied().chain([0.0]));
            let mut chart = ChartBuilder::on(area)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(pad_left)
                .build_cartesian_2d(0.0..hi.max(1e-6), -0.6..(n as f64 - 0.4))
                .map_err(err)?;
            let decimals = decimals(0.0, hi, 5);
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_labels(5)
                .x_label_formatter(&|x| format!("{x:.decimals$}"))
                .light_line_style(WHITE)
                .x_desc(desc)
                .label_style((FONT, LABEL))
                .axis_desc_style((FONT, DESC))
                .draw()
                .map_err(err)?;
            let rows = values.iter().enumerate().map(|(i, &v)| ((n - 1 - i) as f64, v));
            chart
                .draw_series(
                    rows.clone()
                        .filter(|(_, v)| v.is_finite() && *v > 0.0)
                        .map(|(y, v)| Rectangle::new([(0.0, y - 0.32), (v, y + 0.32)], color.mix(0.8).filled())),
                )
                .map_err(err)?;
            let style = (FONT, LABEL - 1).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
            chart
                .draw_series(rows.map(|(y, v)| {
                    let text = if whole && v.is_finite() { format!(" {v:.0}") } else { format!(" {}", super::secs(v)) };
                    Text::new(text, (if v.is_finite() { v.max(0.0) } else { 0.0 }, y), style.clone())
                }))
                .map_err(err)?;
            if pad_left == name_px {
                let style = (FONT, LABEL - 1).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
                for (i, name) in short.iter().enumerate() {
                    let (px, py) = chart.backend_coord(&(0.0, (n - 1 - i) as f64));
                    root.draw(&Text::new(name.clone(), (px - 6, py), style.clone())).map_err(err)?;
                }
            }
        }
        Ok(())
    })
}

/// One suspect's p-values across draw sizes (log10, non-finite dropped by the caller).
pub(crate) struct PCurve {
    pub points: Vec<(f64, f64)>,
    pub stolen: bool,
}

/// Seed 000's Fig. 4: log10 p against the samples per draw, a line per suspect (stolen and
/// independent coloured as everywhere), the alpha line dashed.
pub(crate) fn draw_size_curves(curves: &[PCurve], alpha: f64) -> anyhow::Result<String> {
    let points = || curves.iter().flat_map(|c| c.points.iter());
    if points().next().is_none() {
        return message("p-value against draw size", "no p-values to draw");
    }
    let (x_lo, x_hi) = padded_range(points().map(|p| p.0));
    let (y_lo, y_hi) = padded_range(points().map(|p| p.1).chain([alpha.log10(), 0.0]));
    render((W, H), "p-value against draw size", |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("samples per draw (m)")
            .y_desc("p-value (log10)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(WHITE)
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, DESC))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(DashedLineSeries::new(
                [(x_lo, alpha.log10()), (x_hi, alpha.log10())],
                4,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
        for (stolen, label, color) in [(false, "independent", INDEPENDENT), (true, "stolen", STOLEN)] {
            let mut first = true;
            for c in curves.iter().filter(|c| c.stolen == stolen) {
                let series = chart
                    .draw_series(LineSeries::new(c.points.clone(), color.mix(0.8).stroke_width(2)))
                    .map_err(err)?;
                if std::mem::take(&mut first) {
                    series
                        .label(label)
                        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
                }
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        Ok(())
    })
}
