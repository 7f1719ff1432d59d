//! The report pages' charts, drawn on the server as inline SVG: a metric's control and experiment over time
//! on one axis, and their distributions side by side as box plots.
//!
//! Written with maud, like the pages, so every label is escaped the same way; the browser lays out the text,
//! so no font is needed on the server (a plotting crate would need one to measure its labels). Colours are
//! the Okabe–Ito pair blue/vermillion, safe for colour-blind readers, and the experiment is also dashed, so
//! the two never depend on colour alone.

use std::fmt::Write;

use jiff::Timestamp;
use maud::{Markup, html};

use crate::display::number;

/// The control's colour (Okabe–Ito blue).
pub const CONTROL_COLOUR: &str = "#0072B2";
/// The experiment's colour (Okabe–Ito vermillion).
pub const EXPERIMENT_COLOUR: &str = "#D55E00";

/// One side's values, `step_millis` apart from `start_millis`; NaN and infinities are gaps.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub start_millis: i64,
    pub step_millis: i64,
    pub values: &'a [f64],
}

impl Series<'_> {
    fn points(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.values.iter().enumerate().map(|(index, value)| {
            (
                self.start_millis
                    .saturating_add(self.step_millis.saturating_mul(index as i64)),
                *value,
            )
        })
    }

    fn finite(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.points().filter(|(_, value)| value.is_finite())
    }
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 46.0;

/// Control and experiment over time on one axis, values in `unit`.
pub fn time_series(control: Series<'_>, experiment: Series<'_>, unit: &str) -> Markup {
    let all: Vec<(i64, f64)> = control.finite().chain(experiment.finite()).collect();
    let points = all.len();
    let (Some(t0), Some(t1)) = (
        all.iter().map(|(t, _)| *t).min(),
        all.iter().map(|(t, _)| *t).max(),
    ) else {
        return empty(WIDTH, "time-series", "no data points on either side");
    };
    let (t0, t1) = if t0 == t1 {
        (t0 - 30_000, t1 + 30_000)
    } else {
        (t0, t1)
    };
    let y_ticks = nice_ticks(all.iter().map(|(_, v)| *v));
    let (y0, y1) = (y_ticks[0], y_ticks[y_ticks.len() - 1]);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let x = |t: i64| LEFT + (t - t0) as f64 / (t1 - t0) as f64 * plot_width;
    let y = |v: f64| TOP + (y1 - v) / (y1 - y0) * plot_height;
    let (time_step, time_format) = time_step(t1 - t0);
    let time_ticks: Vec<i64> = {
        let first = t0.div_euclid(time_step) * time_step;
        let first = if first < t0 { first + time_step } else { first };
        (0..)
            .map(|i| first + i * time_step)
            .take_while(|t| *t <= t1)
            .collect()
    };
    let date = Timestamp::from_millisecond(t0)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let label =
        format!("Control and experiment over time, {points} points, {unit} against time (UTC)");
    html! {
        svg.chart.time-series xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            role="img" aria-label=(label) data-points=(points) {
            title { (label) }
            (legend(LEFT))
            g.grid {
                @for tick in &y_ticks {
                    line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(fmt(y(*tick))) y2=(fmt(y(*tick))) stroke="#ddd" {}
                    text x=(LEFT - 6.0) y=(fmt(y(*tick) + 4.0)) text-anchor="end" font-size="12" { (number(*tick)) }
                }
                @for tick in &time_ticks {
                    line x1=(fmt(x(*tick))) x2=(fmt(x(*tick))) y1=(TOP) y2=(HEIGHT - BOTTOM) stroke="#eee" {}
                    text x=(fmt(x(*tick))) y=(HEIGHT - BOTTOM + 16.0) text-anchor="middle" font-size="12" {
                        (Timestamp::from_millisecond(*tick).map(|t| t.strftime(time_format).to_string()).unwrap_or_default())
                    }
                }
            }
            line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(HEIGHT - BOTTOM) stroke="#444" {}
            line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(HEIGHT - BOTTOM) y2=(HEIGHT - BOTTOM) stroke="#444" {}
            text x=(LEFT + plot_width / 2.0) y=(HEIGHT - 6.0) text-anchor="middle" font-size="12" fill="#333" {
                "time (UTC) " (date)
            }
            text transform=(format!("translate(14 {}) rotate(-90)", fmt(TOP + plot_height / 2.0)))
                text-anchor="middle" font-size="12" fill="#333" { (unit) }
            (line_path(control, "control", CONTROL_COLOUR, None, &x, &y))
            (line_path(experiment, "experiment", EXPERIMENT_COLOUR, Some("6 4"), &x, &y))
        }
    }
}

/// The distributions of both sides as box plots on one axis: quartiles, median, min–max whiskers and mean.
pub fn distributions(control: &[f64], experiment: &[f64], unit: &str) -> Markup {
    const WIDTH: f64 = 360.0;
    let control = Summary::of(control);
    let experiment = Summary::of(experiment);
    let sides: Vec<(&str, &str, &Summary)> = [
        ("control", CONTROL_COLOUR, &control),
        ("experiment", EXPERIMENT_COLOUR, &experiment),
    ]
    .into_iter()
    .filter(|(_, _, summary)| summary.count > 0)
    .collect();
    if sides.is_empty() {
        return empty(WIDTH, "distribution", "no data points on either side");
    }
    let y_ticks = nice_ticks(sides.iter().flat_map(|(_, _, s)| [s.min, s.max]));
    let (y0, y1) = (y_ticks[0], y_ticks[y_ticks.len() - 1]);
    let plot_height = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + (y1 - v) / (y1 - y0) * plot_height;
    let slot = (WIDTH - LEFT - RIGHT) / 2.0;
    let label = format!(
        "Distributions: box plots of control (n={}) and experiment (n={}), {unit}",
        control.count, experiment.count
    );
    html! {
        svg.chart.distribution xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            role="img" aria-label=(label) data-points=(control.count + experiment.count) {
            title { (label) }
            @for tick in &y_ticks {
                line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(fmt(y(*tick))) y2=(fmt(y(*tick))) stroke="#ddd" {}
                text x=(LEFT - 6.0) y=(fmt(y(*tick) + 4.0)) text-anchor="end" font-size="12" { (number(*tick)) }
            }
            line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(HEIGHT - BOTTOM) stroke="#444" {}
            text transform=(format!("translate(14 {}) rotate(-90)", fmt(TOP + plot_height / 2.0)))
                text-anchor="middle" font-size="12" fill="#333" { (unit) }
            text x=(LEFT) y="16" font-size="12" fill="#333" { "box: quartiles and median · whiskers: min–max · ◆ mean" }
            @for (index, name) in ["control", "experiment"].iter().enumerate() {
                @let centre = LEFT + slot * (index as f64 + 0.5);
                @let summary = if index == 0 { &control } else { &experiment };
                @let colour = if index == 0 { CONTROL_COLOUR } else { EXPERIMENT_COLOUR };
                text x=(fmt(centre)) y=(HEIGHT - BOTTOM + 18.0) text-anchor="middle" font-size="12" fill=(colour) {
                    (name) " (n=" (summary.count) ")"
                }
                @if summary.count > 0 {
                    g class=(format!("box {name}")) stroke=(colour) fill="none" stroke-width="2" {
                        line x1=(fmt(centre)) x2=(fmt(centre)) y1=(fmt(y(summary.max))) y2=(fmt(y(summary.q3))) {}
                        line x1=(fmt(centre)) x2=(fmt(centre)) y1=(fmt(y(summary.q1))) y2=(fmt(y(summary.min))) {}
                        line x1=(fmt(centre - 14.0)) x2=(fmt(centre + 14.0)) y1=(fmt(y(summary.max))) y2=(fmt(y(summary.max))) {}
                        line x1=(fmt(centre - 14.0)) x2=(fmt(centre + 14.0)) y1=(fmt(y(summary.min))) y2=(fmt(y(summary.min))) {}
                        rect x=(fmt(centre - 32.0)) width="64" y=(fmt(y(summary.q3)))
                            height=(fmt((y(summary.q1) - y(summary.q3)).max(1.0))) fill=(colour) fill-opacity="0.15" {}
                        line x1=(fmt(centre - 32.0)) x2=(fmt(centre + 32.0)) y1=(fmt(y(summary.median))) y2=(fmt(y(summary.median))) stroke-width="3" {}
                        path d=(diamond(centre, y(summary.mean))) fill=(colour) {}
                    }
                } @else {
                    text x=(fmt(centre)) y=(fmt(TOP + plot_height / 2.0)) text-anchor="middle" font-size="12" { "no data" }
                }
            }
        }
    }
}

/// The five-number summary and mean of the finite values.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    count: usize,
    min: f64,
    q1: f64,
    median: f64,
    q3: f64,
    max: f64,
    mean: f64,
}

impl Summary {
    fn of(values: &[f64]) -> Summary {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len();
        let quantile = |q: f64| {
            if count == 0 {
                return f64::NAN;
            }
            let position = q * (count - 1) as f64;
            let (low, high) = (position.floor() as usize, position.ceil() as usize);
            sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
        };
        Summary {
            count,
            min: quantile(0.0),
            q1: quantile(0.25),
            median: quantile(0.5),
            q3: quantile(0.75),
            max: quantile(1.0),
            mean: sorted.iter().sum::<f64>() / count.max(1) as f64,
        }
    }
}

/// A side's line: a path broken at gaps, and a dot for each point that has no neighbour.
fn line_path(
    series: Series<'_>,
    side: &str,
    colour: &str,
    dash: Option<&str>,
    x: &dyn Fn(i64) -> f64,
    y: &dyn Fn(f64) -> f64,
) -> Markup {
    let mut path = String::new();
    let mut lonely = Vec::new();
    let values: Vec<(i64, f64)> = series.points().collect();
    for (index, (t, v)) in values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let previous = index > 0 && values[index - 1].1.is_finite();
        let following = values.get(index + 1).is_some_and(|(_, v)| v.is_finite());
        let _ = write!(
            path,
            "{}{} {} ",
            if previous { "L" } else { "M" },
            fmt(x(*t)),
            fmt(y(*v))
        );
        if !previous && !following {
            lonely.push((x(*t), y(*v)));
        }
    }
    html! {
        g class=(format!("series {side}")) data-points=(series.finite().count()) {
            path d=(path.trim_end()) fill="none" stroke=(colour) stroke-width="2" stroke-dasharray=[dash] {}
            @for (cx, cy) in lonely {
                circle cx=(fmt(cx)) cy=(fmt(cy)) r="2.5" fill=(colour) {}
            }
        }
    }
}

/// The legend: a line of each side's colour and dash.
fn legend(left: f64) -> Markup {
    html! {
        g.legend font-size="12" {
            line x1=(left) x2=(left + 24.0) y1="14" y2="14" stroke=(CONTROL_COLOUR) stroke-width="2" {}
            text x=(left + 30.0) y="18" { "control (baseline)" }
            line x1=(left + 170.0) x2=(left + 194.0) y1="14" y2="14" stroke=(EXPERIMENT_COLOUR) stroke-width="2" stroke-dasharray="6 4" {}
            text x=(left + 200.0) y="18" { "experiment (canary)" }
        }
    }
}

/// An empty chart saying why.
fn empty(width: f64, kind: &str, why: &str) -> Markup {
    html! {
        svg class=(format!("chart {kind} empty")) xmlns="http://www.w3.org/2000/svg"
            viewBox=(format!("0 0 {width} 60")) role="img" aria-label=(why) data-points="0" {
            text x=(width / 2.0) y="34" text-anchor="middle" font-size="13" fill="#555" { (why) }
        }
    }
}

fn diamond(cx: f64, cy: f64) -> String {
    format!(
        "M {} {} L {} {} L {} {} L {} {} Z",
        fmt(cx),
        fmt(cy - 6.0),
        fmt(cx + 6.0),
        fmt(cy),
        fmt(cx),
        fmt(cy + 6.0),
        fmt(cx - 6.0),
        fmt(cy)
    )
}

/// A coordinate to a tenth of a pixel.
fn fmt(value: f64) -> String {
    format!("{value:.1}")
}

/// Round tick values covering every finite value: about five steps of 1, 2, 2.5 or 5 times a power of ten.
fn nice_ticks(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let (mut low, mut high) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
            (low.min(v), high.max(v))
        });
    if !low.is_finite() {
        (low, high) = (0.0, 1.0);
    }
    if low == high {
        let pad = if low == 0.0 { 1.0 } else { low.abs() * 0.1 };
        (low, high) = (low - pad, high + pad);
    }
    let raw = (high - low) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (low / step).floor();
    let last = (high / step).ceil();
    // Multiplying (rather than adding steps) keeps 0.1 · 3 from drifting into 0.30000000000000004 labels.
    (0..=((last - first) as i64).clamp(1, 20))
        .map(|i| (first + i as f64) * step)
        .collect()
}

/// A time-axis step for a span of `span_millis` (at most about eight ticks), and how to print its ticks.
fn time_step(span_millis: i64) -> (i64, &'static str) {
    const STEPS: [i64; 14] = [
        1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 86_400,
    ];
    let seconds = STEPS
        .iter()
        .copied()
        .find(|step| span_millis / (step * 1000) <= 8)
        .unwrap_or(86_400 * ((span_millis / 86_400_000) / 8 + 1));
    let format = if seconds < 60 {
        "%H:%M:%S"
    } else if seconds < 86_400 {
        "%H:%M"
    } else {
        "%m-%d"
    };
    (seconds * 1000, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_values() {
        assert_eq!(
            nice_ticks([0.1, 0.17].into_iter()),
            vec![0.1, 0.12, 0.14, 0.16, 0.18]
        );
        assert_eq!(
            nice_ticks([3.0, 97.0].into_iter()),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let flat = nice_ticks([5.0, 5.0].into_iter());
        assert!(flat[0] < 5.0 && *flat.last().unwrap() > 5.0, "{flat:?}");
        assert_eq!(nice_ticks([f64::NAN].into_iter()).first(), Some(&0.0));
    }

    #[test]
    fn an_hour_is_ticked_every_ten_minutes() {
        assert_eq!(time_step(3_600_000), (600_000, "%H:%M"));
        assert_eq!(time_step(60_000), (15_000, "%H:%M:%S"));
    }

    #[test]
    fn quartiles_interpolate_and_skip_gaps() {
        let summary = Summary::of(&[4.0, f64::NAN, 1.0, 3.0, 2.0, f64::INFINITY]);
        assert_eq!(
            summary,
            Summary {
                count: 4,
                min: 1.0,
                q1: 1.75,
                median: 2.5,
                q3: 3.25,
                max: 4.0,
                mean: 2.5
            }
        );
    }

    #[test]
    fn a_gap_breaks_the_line_and_a_lonely_point_is_a_dot() {
        let values = [1.0, 2.0, f64::NAN, 3.0, f64::NAN, 4.0, 5.0];
        let series = Series {
            start_millis: 0,
            step_millis: 60_000,
            values: &values,
        };
        let svg = time_series(series, series, "seconds").into_string();
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        assert!(svg.contains("data-points=\"10\""), "{svg}");
        let path = svg.split("d=\"").nth(1).unwrap();
        assert_eq!(path.split('"').next().unwrap().matches('M').count(), 3);
    }

    #[test]
    fn no_data_is_said_not_drawn() {
        let series = Series {
            start_millis: 0,
            step_millis: 1000,
            values: &[f64::NAN],
        };
        let svg = time_series(series, series, "seconds").into_string();
        assert!(svg.contains("no data points on either side"), "{svg}");
        assert!(
            distributions(&[], &[], "seconds")
                .into_string()
                .contains("data-points=\"0\"")
        );
    }
}
