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

#[cfg(test)]
mod tests {
    use super::*;

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
