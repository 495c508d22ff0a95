//! Line charts drawn as inline SVG on the server: no script and nothing fetched, so
//! they work on a closed ops network and on a phone.

use maud::{html, Markup, PreEscaped};

/// One line: its legend text and its points (ms, value).
pub struct Line {
    pub label: String,
    pub points: Vec<(i64, f64)>,
}

/// The most lines one chart draws; the legend says how many more there were.
pub const MAX_LINES: usize = 12;
const PALETTE: [&str; 8] = [
    "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563",
];
const W: f64 = 800.0;
const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Round tick values covering `lo..=hi`, about `n` of them.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || n == 0 {
        return Vec::new();
    }
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() * step;
    (0..=n + 2)
        .map(|i| first + step * i as f64)
        .take_while(|v| *v <= hi + step * 0.5)
        .collect()
}

fn short(v: f64) -> String {
    let a = v.abs();
    let (x, unit) = if a >= 1e12 {
        (v / 1e12, "T")
    } else if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{unit}")
}

fn clock(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// The chart, or a note when there is nothing to draw.
pub fn line_chart(lines: &[Line], title: &str) -> Markup {
    let finite = || {
        lines
            .iter()
            .take(MAX_LINES)
            .flat_map(|l| &l.points)
            .filter(|(_, v)| v.is_finite())
    };
    let (Some(t0), Some(t1)) = (finite().map(|p| p.0).min(), finite().map(|p| p.0).max()) else {
        return html! { p .muted .chart-empty { "No data for " (title) " in this range." } };
    };
    let lo = finite().map(|p| p.1).fold(f64::INFINITY, f64::min).min(0.0);
    let hi = finite().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let yt = ticks(lo, hi, 4);
    let (ylo, yhi) = (
        yt.first().copied().unwrap_or(lo),
        yt.last().copied().unwrap_or(hi).max(lo + 1e-12),
    );
    let tspan = (t1 - t0).max(1) as f64;
    let x = |t: i64| LEFT + (t - t0) as f64 / tspan * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - (v - ylo) / (yhi - ylo)) * (H - TOP - BOTTOM);
    let xt: Vec<i64> = (0..=4)
        .map(|i| t0 + ((t1 - t0) as f64 * i as f64 / 4.0) as i64)
        .collect();
    html! {
        figure .chart {
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title) preserveAspectRatio="none" {
                @for v in &yt {
                    line x1=(LEFT) x2=(W - RIGHT) y1=(y(*v)) y2=(y(*v)) class="grid" {}
                    text x=(LEFT - 6.0) y=(y(*v) + 4.0) text-anchor="end" class="axis" { (short(*v)) }
                }
                @for t in &xt {
                    text x=(x(*t)) y=(H - 8.0) text-anchor="middle" class="axis" { (clock(*t)) }
                }
                @for (i, l) in lines.iter().take(MAX_LINES).enumerate() {
                    path d=(PreEscaped(path(&l.points, &x, &y))) fill="none" stroke=(PALETTE[i % PALETTE.len()]) stroke-width="1.5" vector-effect="non-scaling-stroke" {
                        title { (l.label) }
                    }
                }
            }
            figcaption {
                ul .legend {
                    @for (i, l) in lines.iter().take(MAX_LINES).enumerate() {
                        li { span .swatch style=(format!("background:{}", PALETTE[i % PALETTE.len()])) {} (l.label) }
                    }
                    @if lines.len() > MAX_LINES {
                        li .muted { "and " (lines.len() - MAX_LINES) " more series" }
                    }
                }
            }
        }
    }
}

/// One forecast day: the mean and the 80% and 95% intervals.
pub struct BandPoint {
    pub day: time::Date,
    pub mean: f64,
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
}

/// A daily chart of history then forecast with its intervals, and marked spans (such
/// as promotions) drawn as shaded columns with their names.
pub struct ForecastChart<'a> {
    pub title: &'a str,
    pub history: Vec<(time::Date, f64)>,
    pub forecast: Vec<BandPoint>,
    /// Spans to mark: first day, last day, label.
    pub marks: Vec<(time::Date, time::Date, String)>,
    /// A horizontal line such as the stock left, with its label.
    pub level: Option<(f64, String)>,
}

fn epoch_day(d: time::Date) -> i64 {
    d.to_julian_day() as i64
}

fn day_label(d: time::Date) -> String {
    format!("{:02}-{:02}", u8::from(d.month()), d.day())
}

/// The forecast chart, or a note when there is nothing to draw.
pub fn forecast_chart(c: &ForecastChart) -> Markup {
    let days: Vec<i64> = c
        .history
        .iter()
        .map(|(d, _)| epoch_day(*d))
        .chain(c.forecast.iter().map(|p| epoch_day(p.day)))
        .collect();
    let (Some(&t0), Some(&t1)) = (days.iter().min(), days.iter().max()) else {
        return html! { p .muted .chart-empty { "No data for " (c.title) "." } };
    };
    let values = c
        .history
        .iter()
        .map(|(_, v)| *v)
        .chain(c.forecast.iter().flat_map(|p| [p.lo95, p.hi95, p.mean]))
        .chain(c.level.iter().map(|(v, _)| *v))
        .filter(|v| v.is_finite());
    let (lo, hi) = values.fold((0.0f64, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let yt = ticks(lo, hi.max(lo + 1.0), 4);
    let (ylo, yhi) = (
        yt.first().copied().unwrap_or(lo),
        yt.last().copied().unwrap_or(hi).max(lo + 1e-12),
    );
    let span = (t1 - t0).max(1) as f64;
    let x = |t: i64| LEFT + (t - t0) as f64 / span * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - (v - ylo) / (yhi - ylo)) * (H - TOP - BOTTOM);
    let xt: Vec<i64> = (0..=4)
        .map(|i| t0 + ((t1 - t0) as f64 * i as f64 / 4.0) as i64)
        .collect();
    let band = |lo: &dyn Fn(&BandPoint) -> f64, hi: &dyn Fn(&BandPoint) -> f64| -> String {
        let mut d = String::new();
        for (i, p) in c.forecast.iter().enumerate() {
            d.push_str(if i == 0 { "M" } else { " L" });
            d.push_str(&format!("{:.1},{:.1}", x(epoch_day(p.day)), y(hi(p))));
        }
        for p in c.forecast.iter().rev() {
            d.push_str(&format!(" L{:.1},{:.1}", x(epoch_day(p.day)), y(lo(p))));
        }
        if !d.is_empty() {
            d.push_str(" Z");
        }
        d
    };
    let history: Vec<(i64, f64)> = c.history.iter().map(|(d, v)| (epoch_day(*d), *v)).collect();
    let mean: Vec<(i64, f64)> = c
        .forecast
        .iter()
        .map(|p| (epoch_day(p.day), p.mean))
        .collect();
    let today = c.forecast.first().map(|p| epoch_day(p.day) - 1);
    let from_day = |t: i64| {
        time::Date::from_julian_day(t as i32)
            .map(day_label)
            .unwrap_or_default()
    };
    html! {
        figure .chart .forecast-chart {
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(c.title) preserveAspectRatio="none" {
                @for (a, b, label) in &c.marks {
                    @let (xa, xb) = (x(epoch_day(*a).max(t0)), x(epoch_day(*b).min(t1) + 1).min(W - RIGHT));
                    @if epoch_day(*b) >= t0 && epoch_day(*a) <= t1 {
                        rect .mark x=(format!("{xa:.1}")) y=(TOP) width=(format!("{:.1}", (xb - xa).max(1.5))) height=(H - TOP - BOTTOM) {
                            title { (label) }
                        }
                    }
                }
                @for v in &yt {
                    line x1=(LEFT) x2=(W - RIGHT) y1=(y(*v)) y2=(y(*v)) class="grid" {}
                    text x=(LEFT - 6.0) y=(y(*v) + 4.0) text-anchor="end" class="axis" { (short(*v)) }
                }
                @for t in &xt {
                    text x=(x(*t)) y=(H - 8.0) text-anchor="middle" class="axis" { (from_day(*t)) }
                }
                path .band95 d=(PreEscaped(band(&|p| p.lo95, &|p| p.hi95))) {}
                path .band80 d=(PreEscaped(band(&|p| p.lo80, &|p| p.hi80))) {}
                path .history d=(PreEscaped(path(&history, &x, &y))) fill="none" vector-effect="non-scaling-stroke" { title { "history" } }
                path .mean d=(PreEscaped(path(&mean, &x, &y))) fill="none" vector-effect="non-scaling-stroke" { title { "forecast mean" } }
                @if let Some(t) = today {
                    line .today x1=(x(t)) x2=(x(t)) y1=(TOP) y2=(H - BOTTOM) {}
                }
                @if let Some((v, label)) = &c.level {
                    line .level x1=(LEFT) x2=(W - RIGHT) y1=(y(*v)) y2=(y(*v)) { title { (label) } }
                }
            }
            figcaption {
                ul .legend {
                    li { span .swatch .history {} "history" }
                    li { span .swatch .mean {} "forecast" }
                    li { span .swatch .band80 {} "80%" }
                    li { span .swatch .band95 {} "95%" }
                    @if !c.marks.is_empty() { li { span .swatch .mark {} "promotions" } }
                    @if let Some((_, label)) = &c.level { li { span .swatch .level {} (label) } }
                }
            }
        }
    }
}

/// An SVG path through the points; gaps (non-finite values or missing steps) break it.
fn path(points: &[(i64, f64)], x: &dyn Fn(i64) -> f64, y: &dyn Fn(f64) -> f64) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (t, v) in points {
        if !v.is_finite() {
            pen_down = false;
            continue;
        }
        d.push_str(if pen_down { " L" } else { " M" });
        d.push_str(&format!("{:.1},{:.1}", x(*t), y(*v)));
        pen_down = true;
    }
    d
}

/// A mean length of time in minutes for the numbers pages, or a dash when there is
/// none.
pub fn minutes(m: Option<f64>) -> Markup {
    match m {
        Some(m) => html! { (super::format::span(time::Duration::seconds_f64(m * 60.0))) },
        None => html! { span .muted { "—" } },
    }
}

/// Counts by key as a table of bars, largest first (at most twelve), for the
/// breakdowns of the numbers pages.
pub fn breakdown(
    title: &str,
    id: &str,
    counts: &std::collections::BTreeMap<String, usize>,
) -> Markup {
    let mut rows: Vec<(&String, &usize)> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let max = rows.first().map(|r| *r.1).unwrap_or(1).max(1);
    html! {
        section .panel id=(id) {
            h2 { (title) }
            @if rows.is_empty() { p .muted { "None." } }
            div .table-wrap {
                table {
                    tbody {
                        @for (k, n) in rows.iter().take(12) {
                            tr {
                                td .wrap { (k) }
                                td .num { (n) }
                                td { div .bar { div .fill .warn style=(format!("width:{}%", *n * 100 / max)) {} } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forecast_chart_draws_history_mean_both_bands_and_marks() {
        use time::macros::date;
        let c = ForecastChart {
            title: "demand",
            history: vec![(date!(2026 - 11 - 01), 10.0), (date!(2026 - 11 - 02), 12.0)],
            forecast: vec![
                BandPoint {
                    day: date!(2026 - 11 - 03),
                    mean: 11.0,
                    lo80: 9.0,
                    hi80: 13.0,
                    lo95: 8.0,
                    hi95: 14.0,
                },
                BandPoint {
                    day: date!(2026 - 11 - 04),
                    mean: 11.5,
                    lo80: 9.0,
                    hi80: 14.0,
                    lo95: 7.0,
                    hi95: 16.0,
                },
            ],
            marks: vec![(date!(2026 - 11 - 04), date!(2026 - 11 - 04), "sale".into())],
            level: Some((15.0, "stock left".into())),
        };
        let svg = forecast_chart(&c).into_string();
        for class in [
            "band95", "band80", "history", "mean", "mark", "today", "level",
        ] {
            assert!(svg.contains(&format!("class=\"{class}")), "{class}: {svg}");
        }
        assert!(svg.contains("11-03"), "day labels on the axis");
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 100.0, 4), vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        let t = ticks(0.0, 0.37, 4);
        assert!(
            t.first() == Some(&0.0) && *t.last().unwrap() >= 0.37,
            "{t:?}"
        );
    }

    #[test]
    fn a_chart_draws_one_path_per_line_and_breaks_on_gaps() {
        let lines = vec![
            Line {
                label: "a".into(),
                points: vec![(0, 1.0), (60_000, 2.0)],
            },
            Line {
                label: "b".into(),
                points: vec![(0, 3.0), (30_000, f64::NAN), (60_000, 1.0)],
            },
        ];
        let svg = line_chart(&lines, "test").into_string();
        assert_eq!(svg.matches("<path").count(), 2);
        assert_eq!(svg.matches(" M").count(), 3, "{svg}");
        assert!(line_chart(&[], "nothing").into_string().contains("No data"));
    }
}
