//! The demo cloud's telemetry: what its services and hosts would report, sample by
//! sample, with a few faults injected on a schedule so that a new user sees alerts,
//! anomalies and a correlated problem within minutes of `cairn serve --demo`.
//!
//! Series (all with `job="demo"` except the hosts' `job="node"`):
//! - `http_requests_total{service, code="200"|"500"}` — counters per platform service,
//!   with a daily curve (quiet at night, busy in the evening, China Standard Time);
//! - `http_request_duration_seconds{service, quantile="0.99"}` — p99 latency gauges;
//! - `node_load1{instance, job="node"}` — the load of every live host with an exporter,
//!   following its pool's utilisation.
//!
//! Faults repeat every [`FAULT_PERIOD_MS`], counted from an `origin` (the moment the
//! server started; the backfilled history before it is calm), so a long-running demo
//! keeps showing fresh ones:
//! 1. **Order database slow** (minutes 3–25): `svc-order-db`'s p99 rises twentyfold and
//!    a third of its requests fail; the failures travel up the chain to `svc-order`
//!    and `svc-trade-api`, so correlation has a root to find.
//! 2. **Host overload** (minutes 5–40): one host of the busiest ECS pool runs at three
//!    times its core count.
//! 3. **Search traffic drop** (minutes 8–30): `svc-search`'s requests fall to a third
//!    with no error: only an anomaly detector, not a threshold, notices.
//!
//! Pure and deterministic: the noise is a hash of the series and the time step.

use crate::demo::DemoCloud;
use crate::HostState;

/// The step the telemetry is sampled at.
pub const STEP_MS: i64 = 15_000;
/// Faults repeat with this period from the origin.
pub const FAULT_PERIOD_MS: i64 = 2 * 3600 * 1000;
/// China Standard Time, in which the daily curve is drawn.
const CST_OFFSET_MS: i64 = 8 * 3600 * 1000;

/// The services whose requests fail when the order database is slow, and how much
/// (share of requests answered 500).
const CHAIN: &[(&str, f64)] = &[
    ("svc-order-db", 0.33),
    ("svc-order", 0.12),
    ("svc-trade-api", 0.08),
];
const SEARCH: &str = "svc-search";

/// An injected fault, for tests and the UI to refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultWindow {
    pub name: &'static str,
    /// Milliseconds after the start of each period.
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The schedule of faults within each period.
pub const FAULTS: [FaultWindow; 3] = [
    FaultWindow {
        name: "order database slow",
        from_ms: 3 * 60_000,
        to_ms: 25 * 60_000,
    },
    FaultWindow {
        name: "host overload",
        from_ms: 5 * 60_000,
        to_ms: 40 * 60_000,
    },
    FaultWindow {
        name: "search traffic drop",
        from_ms: 8 * 60_000,
        to_ms: 30 * 60_000,
    },
];

#[derive(Debug, Clone)]
struct ServiceShape {
    id: String,
    /// Requests per second at the daily peak.
    peak_rps: f64,
    /// p99 latency in seconds on a normal day.
    p99: f64,
    /// Share of requests failing on a normal day.
    errors: f64,
}

#[derive(Debug, Clone)]
struct HostShape {
    exporter: String,
    cores: f64,
    /// Its pool's utilisation, which sets the host's normal load.
    busy: f64,
}

/// The demo's telemetry, ready to be sampled at any time.
#[derive(Debug, Clone)]
pub struct Telemetry {
    origin_ms: i64,
    services: Vec<ServiceShape>,
    hosts: Vec<HostShape>,
    /// The index in `hosts` of the host that overloads.
    overloaded: Option<usize>,
}

/// One sample: labels (with `__name__`, sorted by name) and the value.
pub type Point = (Vec<(String, String)>, f64);

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) for a series and a step.
fn unit(series: u64, step: i64) -> f64 {
    (mix(series.wrapping_mul(0x100_0000_01B3) ^ step as u64) >> 11) as f64 / (1u64 << 53) as f64
}

/// The daily curve: 0.25 at 04:00, 1.0 around 21:00 (CST).
fn daily(t_ms: i64) -> f64 {
    let hour = ((t_ms + CST_OFFSET_MS).rem_euclid(86_400_000)) as f64 / 3_600_000.0;
    let x = std::f64::consts::TAU * (hour - 21.0) / 24.0;
    0.625 + 0.375 * x.cos()
}

impl Telemetry {
    /// The telemetry of `cloud` with faults counted from `origin_ms`.
    pub fn new(cloud: &DemoCloud, origin_ms: i64) -> Telemetry {
        let services = cloud
            .services
            .iter()
            .filter(|s| s.merchant_id.is_none())
            .enumerate()
            .map(|(i, s)| {
                let h = mix(i as u64 + 17);
                ServiceShape {
                    id: s.id.to_string(),
                    peak_rps: 200.0 + (h % 4000) as f64,
                    p99: 0.03 + ((h >> 16) % 200) as f64 / 1000.0,
                    errors: 0.001 + ((h >> 32) % 5) as f64 / 1000.0,
                }
            })
            .collect();
        let mut used: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
        for i in cloud
            .instances
            .iter()
            .filter(|i| i.state != crate::InstanceState::Released)
        {
            *used.entry(i.pool_id.as_str()).or_default() += i.units;
        }
        let utilisation = |pool: &str| -> f64 {
            cloud
                .pools
                .iter()
                .find(|p| p.id.as_str() == pool)
                .map(|p| used.get(pool).copied().unwrap_or(0.0) / p.capacity.max(1.0))
                .unwrap_or(0.2)
        };
        let mut hosts = Vec::new();
        let mut overloaded = None;
        let busiest = cloud
            .pools
            .iter()
            .filter(|p| p.product_id.as_str() == "ecs")
            .max_by(|a, b| utilisation(a.id.as_str()).total_cmp(&utilisation(b.id.as_str())))
            .map(|p| p.id.clone());
        for h in &cloud.hosts {
            let (Some(exporter), HostState::Up) = (&h.exporter, h.state) else {
                continue;
            };
            let busy = h.pool_id.as_ref().map_or(0.1, |p| utilisation(p.as_str()));
            if overloaded.is_none() && h.pool_id.is_some() && h.pool_id == busiest {
                overloaded = Some(hosts.len());
            }
            hosts.push(HostShape {
                exporter: exporter.clone(),
                cores: f64::from(h.cpu_cores),
                busy,
            });
        }
        Telemetry {
            origin_ms,
            services,
            hosts,
            overloaded,
        }
    }

    /// Whether fault `i` of [`FAULTS`] is on at `t_ms`. Faults start at the origin:
    /// the history before it is calm, so detectors learn what normal looks like.
    pub fn fault_active(&self, i: usize, t_ms: i64) -> bool {
        if t_ms < self.origin_ms {
            return false;
        }
        let f = FAULTS[i];
        let into = (t_ms - self.origin_ms).rem_euclid(FAULT_PERIOD_MS);
        (f.from_ms..f.to_ms).contains(&into)
    }

    /// The exporter address of the host that overloads.
    pub fn overloaded_host(&self) -> Option<&str> {
        self.overloaded.map(|i| self.hosts[i].exporter.as_str())
    }

    /// How many series [`Telemetry::samples_at`] returns.
    pub fn series_count(&self) -> usize {
        self.services.len() * 3 + self.hosts.len()
    }

    /// Every series' value at `t_ms` (rounded down to the step). Counters count from
    /// the Unix epoch, as if the services had always run, so any window of them gives
    /// the right rate.
    pub fn samples_at(&self, t_ms: i64) -> Vec<Point> {
        let t = t_ms - t_ms.rem_euclid(STEP_MS);
        let step = t / STEP_MS;
        let slow_db = self.fault_active(0, t);
        let overload = self.fault_active(1, t);
        let mut out = Vec::with_capacity(self.series_count());
        let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            let mut v: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            v.sort();
            v
        };
        for (i, s) in self.services.iter().enumerate() {
            let mut p99 = s.p99 * (0.85 + 0.3 * unit(i as u64 + 1000, step));
            if slow_db && CHAIN.iter().any(|(id, _)| *id == s.id) {
                p99 *= if s.id == "svc-order-db" { 20.0 } else { 4.0 };
            }
            let (ok_total, err_total) = self.counters(s, t);
            out.push((
                l(&[
                    ("__name__", "http_requests_total"),
                    ("code", "200"),
                    ("job", "demo"),
                    ("service", &s.id),
                ]),
                ok_total.floor(),
            ));
            out.push((
                l(&[
                    ("__name__", "http_requests_total"),
                    ("code", "500"),
                    ("job", "demo"),
                    ("service", &s.id),
                ]),
                err_total.floor(),
            ));
            out.push((
                l(&[
                    ("__name__", "http_request_duration_seconds"),
                    ("job", "demo"),
                    ("quantile", "0.99"),
                    ("service", &s.id),
                ]),
                (p99 * 1000.0).round() / 1000.0,
            ));
        }
        for (i, h) in self.hosts.iter().enumerate() {
            let mut load = h.cores
                * h.busy
                * (0.4 + 0.6 * daily(t))
                * (0.85 + 0.3 * unit(i as u64 + 5000, step));
            if overload && Some(i) == self.overloaded {
                load = h.cores * (2.8 + 0.4 * unit(i as u64 + 9000, step));
            }
            out.push((
                l(&[
                    ("__name__", "node_load1"),
                    ("instance", &h.exporter),
                    ("job", "node"),
                ]),
                (load * 100.0).round() / 100.0,
            ));
        }
        out
    }

    /// The counters' epoch: they count from one fault period before the origin, which
    /// is as far back as the demo's history goes.
    fn epoch(&self) -> i64 {
        self.origin_ms - FAULT_PERIOD_MS
    }

    /// Requests answered OK and with an error from the epoch to `t`: the integral of
    /// the request rate (the daily curve, less the search drop) split by the error
    /// share (raised during the slow-database fault). Integrals keep the counters
    /// monotone and make `rate()` over any window read the rate of that window.
    fn counters(&self, s: &ServiceShape, t: i64) -> (f64, f64) {
        let epoch = self.epoch();
        let t = t.max(epoch);
        let total = s.peak_rps * (daily_integral(t) - daily_integral(epoch));
        // Fault windows between the epoch and `t`: each one's share of the curve.
        let in_windows = |f: FaultWindow| -> f64 {
            let mut sum = 0.0;
            let mut period = self.origin_ms;
            while period < t {
                let (a, b) = (period + f.from_ms, (period + f.to_ms).min(t));
                if b > a {
                    sum += daily_integral(b) - daily_integral(a);
                }
                period += FAULT_PERIOD_MS;
            }
            sum * s.peak_rps
        };
        let mut total = total;
        if s.id == SEARCH {
            total -= 0.7 * in_windows(FAULTS[2]);
        }
        let mut errors = total * s.errors;
        if let Some((_, share)) = CHAIN.iter().find(|(id, _)| *id == s.id) {
            errors += (share - s.errors) * in_windows(FAULTS[0]);
        }
        (total - errors, errors)
    }
}

/// ∫ daily(t) dt from the Unix epoch to `t_ms`, in seconds.
fn daily_integral(t_ms: i64) -> f64 {
    let secs = t_ms as f64 / 1000.0;
    let day = 86_400.0;
    let phase =
        std::f64::consts::TAU * ((t_ms + CST_OFFSET_MS) as f64 / 1000.0 - 21.0 * 3600.0) / day;
    0.625 * secs + 0.375 * day / std::f64::consts::TAU * phase.sin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telemetry() -> Telemetry {
        let cloud = crate::demo::generate(time::macros::date!(2026 - 11 - 25));
        Telemetry::new(&cloud, 1_795_000_000_000)
    }

    fn value(points: &[Point], name: &str, label: (&str, &str)) -> f64 {
        points
            .iter()
            .find(|(l, _)| {
                l.iter().any(|(k, v)| k == "__name__" && v == name)
                    && l.iter().any(|(k, v)| k == label.0 && v == label.1)
            })
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no {name} with {label:?}"))
    }

    #[test]
    fn counters_never_go_down_through_a_fault() {
        let t = telemetry();
        let origin = 1_795_000_000_000;
        let mut last = [0.0f64; 2];
        // Every fourth step keeps the test quick; the counters are integrals, smooth
        // between steps.
        for k in (-(FAULT_PERIOD_MS / STEP_MS)..(3 * FAULT_PERIOD_MS / STEP_MS)).step_by(4) {
            let s = t.samples_at(origin + k * STEP_MS);
            for (j, code) in ["200", "500"].iter().enumerate() {
                let v = s
                    .iter()
                    .find(|(l, _)| {
                        l.iter().any(|(k, v)| k == "service" && v == "svc-order-db")
                            && l.iter().any(|(k, v)| k == "code" && v == *code)
                    })
                    .unwrap()
                    .1;
                assert!(
                    v >= last[j],
                    "code {code} fell at step {k}: {} → {v}",
                    last[j]
                );
                last[j] = v;
            }
        }
    }

    #[test]
    fn the_order_database_fault_shows_in_errors_and_latency_up_the_chain() {
        let t = telemetry();
        let origin = 1_795_000_000_000;
        let calm = t.samples_at(origin + 60_000);
        let hot = t.samples_at(origin + 10 * 60_000);
        let p99 = |s: &[Point]| {
            value(
                s,
                "http_request_duration_seconds",
                ("service", "svc-order-db"),
            )
        };
        assert!(p99(&hot) > 10.0 * p99(&calm));
        assert!(t.fault_active(0, origin + 10 * 60_000));
        assert!(!t.fault_active(0, origin + 60 * 60_000));
        assert!(
            t.fault_active(0, origin + FAULT_PERIOD_MS + 10 * 60_000),
            "faults repeat"
        );
        let host = t.overloaded_host().expect("a host to overload").to_owned();
        let load = |s: &[Point]| value(s, "node_load1", ("instance", &host));
        assert!(load(&hot) > 2.0 * load(&calm));
        // Rates read from the counters over five minutes: the search drop and the
        // errors of the chain show there.
        let tel = &t;
        let rate = |at: i64, service: &str, code: &str| {
            let v = |t: i64| {
                tel.samples_at(t)
                    .into_iter()
                    .find(|(l, _)| {
                        l.iter().any(|(k, v)| k == "service" && v == service)
                            && l.iter().any(|(k, v)| k == "code" && v == code)
                    })
                    .unwrap()
                    .1
            };
            (v(at) - v(at - 300_000)) / 300.0
        };
        let before = rate(origin + 7 * 60_000, SEARCH, "200");
        let during = rate(origin + 20 * 60_000, SEARCH, "200");
        assert!(during < 0.5 * before, "search drops: {before} → {during}");
        let errors = rate(origin + 20 * 60_000, "svc-trade-api", "500");
        let ok = rate(origin + 20 * 60_000, "svc-trade-api", "200");
        assert!(errors / (errors + ok) > 0.05, "{errors} / {ok}");
        assert!(t.series_count() > 1000);
        assert_eq!(calm.len(), t.series_count());
    }
}
