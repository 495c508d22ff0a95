//! Stories of the detector on synthetic metrics built by [`Metric`].

use cairn_anomaly::{detect, Assessment, Band, Config, Detector, Kind};
use expect_test::expect;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A synthetic metric: points at a fixed step from midnight of day 0, built from a
/// shape plus deterministic noise, with anomalies painted in.
struct Metric {
    step: i64,
    points: Vec<(i64, f64)>,
}

/// A small deterministic generator (xorshift64*), so stories need no seed files.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

impl Metric {
    /// `duration` of points every `step`, valued `shape(t) + sd · N(0, 1)`.
    fn new(duration: i64, step: i64, sd: f64, shape: impl Fn(i64) -> f64) -> Self {
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        let points = (0..duration / step)
            .map(|i| {
                let t = i * step;
                (t, shape(t) + sd * noise.normal())
            })
            .collect();
        Self { step, points }
    }

    /// Requests per minute of a shop: about 1,300 at night, rising to about 4,000 in
    /// the afternoon, every 5 minutes.
    fn shop_traffic(days: i64) -> Self {
        Self::new(days * DAY, 5 * MINUTE, 40.0, |t| {
            let hour = (t % DAY) as f64 / HOUR as f64;
            let daylight = (std::f64::consts::PI * (hour - 6.0) / 16.0).sin().max(0.0);
            1_300.0 + 2_700.0 * daylight.powi(2)
        })
    }

    /// Sets the value of every point in `[from, to)` to `f(old value)`.
    fn paint(mut self, from: i64, to: i64, f: impl Fn(f64) -> f64) -> Self {
        for (t, v) in &mut self.points {
            if (from..to).contains(t) {
                *v = f(*v);
            }
        }
        self
    }

    fn run(&self, config: Config) -> Vec<Assessment> {
        detect(config, self.points.iter().copied())
    }

    fn index(&self, t: i64) -> usize {
        (t / self.step) as usize
    }
}

/// The alerts among `assessments` from `from` on (earlier ones are the learning days).
fn alerts(assessments: &[Assessment], from: i64) -> Vec<&Assessment> {
    assessments
        .iter()
        .filter(|a| a.alert && a.timestamp_ms >= from)
        .collect()
}

#[test]
fn a_spike_is_flagged_with_the_night_band_while_daily_peaks_are_not() {
    // Six quiet days, then at 02:00 on day 6 ten minutes at 8,000: above anything
    // seen, and far above what the night should bring.
    let spike_at = 6 * DAY + 2 * HOUR;
    let metric = Metric::shop_traffic(8).paint(spike_at, spike_at + 10 * MINUTE, |_| 8_000.0);
    let out = metric.run(Config::default());

    let flagged = alerts(&out, 3 * DAY);
    assert_eq!(flagged.len(), 1, "{flagged:#?}");
    let a = flagged[0];
    assert_eq!(a.timestamp_ms, spike_at);
    assert_eq!(a.kind, Kind::Spike);
    // The expectation is the night's level, with a band of the deviations this series
    // has shown (at 1 in 1,000 on each side).
    let band = a.band.expect("a band");
    assert!((1_200.0..1_400.0).contains(&band.expected), "{a}");
    assert!(band.hi < 1_700.0 && band.lo > 900.0, "{a}");
    // The afternoon peaks of the same days are within their bands.
    let peak = &out[metric.index(6 * DAY + 14 * HOUR)];
    let b = peak.band.expect("a band");
    assert!(b.lo <= peak.value && peak.value <= b.hi, "{peak}");
}

#[test]
fn a_night_surge_to_the_afternoon_level_is_flagged_when_every_episode_alerts() {
    // An hour at 02:00 at the level of an afternoon peak: no value is new, only its
    // time of day is wrong. A run of surprising points is an episode; at the default
    // sensitivity only episodes that start strongly alert, from 0.6875 on all do.
    let surge_at = 6 * DAY + 2 * HOUR;
    let metric = Metric::shop_traffic(8).paint(surge_at, surge_at + HOUR, |v| v + 2_700.0);
    let out = metric.run(Config::with_sensitivity(0.6875));

    let flagged = alerts(&out, 3 * DAY);
    assert_eq!(flagged.len(), 1, "{flagged:#?}");
    let a = flagged[0];
    assert!(
        (surge_at..surge_at + 15 * MINUTE).contains(&a.timestamp_ms),
        "{a}"
    );
    assert_eq!(a.kind, Kind::Spike, "{a}");
    let band = a.band.expect("a band");
    assert!(band.hi < 2_500.0 && a.value > 3_500.0, "{a}");
}

#[test]
fn a_level_shift_alerts_once_and_is_then_called_a_level_shift() {
    // A gauge at 100 ± 2 for three days, then at 130 for good.
    let shift_at = 3 * DAY;
    let metric =
        Metric::new(4 * DAY, 5 * MINUTE, 2.0, |_| 100.0).paint(shift_at, 4 * DAY, |v| v + 30.0);
    let out = metric.run(Config::default());
    let at = metric.index(shift_at);

    // The first point alerts; nobody can tell a spike from a shift yet.
    let first = &out[at];
    assert!(first.alert, "{first}");
    assert_eq!(first.kind, Kind::Spike);
    // The next points belong to the same episode (no new alert), and the detector
    // now says what it is.
    let next = &out[at + 1..at + 6];
    assert!(next.iter().all(|a| !a.alert), "{next:#?}");
    let kinds: Vec<Kind> = next.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, vec![Kind::LevelShift; 5]);
}

#[test]
fn higher_sensitivity_gives_more_alerts() {
    let metric = Metric::shop_traffic(10)
        .paint(5 * DAY + 3 * HOUR, 5 * DAY + 4 * HOUR, |v| v * 1.8)
        .paint(7 * DAY + 13 * HOUR, 7 * DAY + 16 * HOUR, |v| v * 0.7)
        .paint(8 * DAY, 10 * DAY, |v| v * 1.1);
    let counts: Vec<usize> = [0.3, 0.65, 0.95]
        .iter()
        .map(|&s| alerts(&metric.run(Config::with_sensitivity(s)), 3 * DAY).len())
        .collect();
    assert!(counts[0] < counts[1] && counts[1] < counts[2], "{counts:?}");
}

#[test]
fn scores_of_a_prefix_do_not_change_when_points_are_appended() {
    let metric = Metric::shop_traffic(4).paint(3 * DAY, 3 * DAY + HOUR, |v| v * 2.0);
    let all = metric.run(Config::default());
    let half = metric.points.len() / 2 + 17;
    let prefix = detect(Config::default(), metric.points[..half].iter().copied());
    assert_eq!(prefix, all[..half]);
}

#[test]
fn a_restored_detector_scores_exactly_as_one_that_never_stopped() {
    let metric = Metric::shop_traffic(5).paint(4 * DAY, 4 * DAY + HOUR, |v| v * 2.0);
    let straight = metric.run(Config::default());

    let split = metric.index(3 * DAY + 7 * HOUR);
    let mut d = Detector::new(Config::default());
    let mut resumed: Vec<Assessment> = metric.points[..split]
        .iter()
        .map(|&(t, v)| d.update(t, v))
        .collect();
    let saved = serde_json::to_string(&d).expect("serialises");
    let mut d: Detector = serde_json::from_str(&saved).expect("deserialises");
    resumed.extend(metric.points[split..].iter().map(|&(t, v)| d.update(t, v)));
    assert_eq!(resumed, straight);
    // A detector is small enough to keep one per series.
    assert!(saved.len() < 64 * 1024, "{} bytes", saved.len());
}

#[test]
fn a_point_without_a_number_is_reported_and_not_learned() {
    let mut d = Detector::new(Config::default());
    for i in 0..200 {
        d.update(i * MINUTE, 5.0 + (i % 3) as f64);
    }
    let before = d.clone();
    let a = d.update(200 * MINUTE, f64::NAN);
    assert_eq!((a.kind, a.score, a.alert), (Kind::NoData, 0.0, false));
    assert_eq!(d, before);
}

#[test]
fn an_alert_explains_itself() {
    let a = Assessment {
        timestamp_ms: 0,
        value: 4_210.0,
        score: 0.74,
        alert: true,
        kind: Kind::Spike,
        band: Some(Band {
            expected: 1_300.0,
            lo: 1_100.0,
            hi: 1_500.0,
            model: cairn_anomaly::detector::Model::Daily,
        }),
    };
    expect![["value 4,210 vs expected 1,100–1,500 (spike, score 0.74)"]].assert_eq(&a.to_string());
    let small = Assessment {
        value: -0.0421,
        band: None,
        kind: Kind::Normal,
        score: 0.0,
        ..a
    };
    expect![["value -0.042 (normal, score 0.00)"]].assert_eq(&small.to_string());
}
