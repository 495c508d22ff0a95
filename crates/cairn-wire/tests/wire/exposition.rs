//! The text exposition format, as a node_exporter-like target serves it.

use cairn_wire::exposition::{parse, render, Metadata, MetricType, ParsedSample};
use cairn_wire::WireError;

use crate::{assert_same_exposition, dump};

/// A scrape body in the shape node_exporter and client libraries produce.
const NODE_EXPORTER: &str = r#"# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.2e-05
go_gc_duration_seconds{quantile="1"} 0.000321
go_gc_duration_seconds_sum 0.0123
go_gc_duration_seconds_count 142
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 1.2345678e+06
node_cpu_seconds_total{mode="user",cpu="0"} 9876.5
# HELP node_filesystem_avail_bytes Space available to non-root users.\nEscapes: a backslash \\ stays one.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 4.2e+10 1712345678000
node_filesystem_avail_bytes{device="C:\\Windows",fstype="ntfs",mountpoint="say \"hi\"\nbye",} 0 1712345678000
# HELP http_request_duration_seconds Request latency.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{handler="/api",le="0.1"} 10
http_request_duration_seconds_bucket{handler="/api",le="0.5"} 25
http_request_duration_seconds_bucket{handler="/api",le="+Inf"} 27
http_request_duration_seconds_sum{handler="/api"} 8.5
http_request_duration_seconds_count{handler="/api"} 27
# A plain comment, not metadata.

node_hwmon_temp_celsius{chip="platform_coretemp_0",sensor="temp1"}	NaN
node_load1 -Inf
process_virtual_memory_max_bytes +Inf
"#;

#[test]
fn a_node_exporter_scrape_parses_into_samples_and_family_metadata() {
    let doc = parse(NODE_EXPORTER).expect("node_exporter document parses");

    assert_eq!(
        dump(&doc.samples),
        r#"{__name__="go_gc_duration_seconds", quantile="0"} 2.2e-5
{__name__="go_gc_duration_seconds", quantile="1"} 0.000321
{__name__="go_gc_duration_seconds_sum"} 0.0123
{__name__="go_gc_duration_seconds_count"} 142.0
{__name__="node_cpu_seconds_total", cpu="0", mode="idle"} 1234567.8
{__name__="node_cpu_seconds_total", cpu="0", mode="user"} 9876.5
{__name__="node_filesystem_avail_bytes", device="/dev/sda1", fstype="ext4", mountpoint="/"} 42000000000.0 @1712345678000
{__name__="node_filesystem_avail_bytes", device="C:\\Windows", fstype="ntfs", mountpoint="say \"hi\"\nbye"} 0.0 @1712345678000
{__name__="http_request_duration_seconds_bucket", handler="/api", le="0.1"} 10.0
{__name__="http_request_duration_seconds_bucket", handler="/api", le="0.5"} 25.0
{__name__="http_request_duration_seconds_bucket", handler="/api", le="+Inf"} 27.0
{__name__="http_request_duration_seconds_sum", handler="/api"} 8.5
{__name__="http_request_duration_seconds_count", handler="/api"} 27.0
{__name__="node_hwmon_temp_celsius", chip="platform_coretemp_0", sensor="temp1"} NaN
{__name__="node_load1"} -inf
{__name__="process_virtual_memory_max_bytes"} inf
"#
    );

    let family = |name: &str, kind, help: &str| Metadata {
        family: name.to_string(),
        kind,
        help: Some(help.to_string()),
        unit: None,
    };
    assert_eq!(
        doc.metadata,
        vec![
            family(
                "go_gc_duration_seconds",
                MetricType::Summary,
                "A summary of the pause duration of garbage collection cycles."
            ),
            family(
                "node_cpu_seconds_total",
                MetricType::Counter,
                "Seconds the CPUs spent in each mode."
            ),
            family(
                "node_filesystem_avail_bytes",
                MetricType::Gauge,
                "Space available to non-root users.\nEscapes: a backslash \\ stays one."
            ),
            family(
                "http_request_duration_seconds",
                MetricType::Histogram,
                "Request latency."
            ),
        ]
    );

    // Bucket, sum and count samples belong to their histogram's family.
    for sample in ["_bucket", "_sum", "_count"] {
        let name = format!("http_request_duration_seconds{sample}");
        let meta = doc.metadata_for(&name).expect(&name);
        assert_eq!(meta.family, "http_request_duration_seconds");
        assert_eq!(meta.kind, MetricType::Histogram);
    }
    assert_eq!(
        doc.metadata_for("go_gc_duration_seconds_count")
            .map(|m| m.kind),
        Some(MetricType::Summary)
    );
    assert!(doc.metadata_for("node_load1").is_none());
}

#[test]
fn rendering_then_parsing_gives_back_the_same_document() {
    let doc = parse(NODE_EXPORTER).unwrap();
    let text = render(&doc.samples, &doc.metadata);
    let again = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_same_exposition(&doc, &again);
    // Rendering is stable: a second pass writes the same text.
    assert_eq!(render(&again.samples, &again.metadata), text);
}

#[test]
fn rendering_escapes_help_and_label_values_and_puts_metadata_before_samples() {
    let samples = vec![
        ParsedSample {
            labels: vec![("__name__".into(), "temperature".into())],
            value: -1.0,
            timestamp: None,
        },
        ParsedSample {
            labels: vec![
                ("__name__".into(), "disk_bytes".into()),
                ("path".into(), "C:\\x \"q\"\nz".into()),
            ],
            value: 1.5,
            timestamp: Some(1000),
        },
    ];
    let metadata = vec![
        Metadata {
            family: "disk_bytes".into(),
            kind: MetricType::Gauge,
            help: Some("line one\nback\\slash".into()),
            unit: Some("bytes".into()),
        },
        Metadata {
            family: "unused_total".into(),
            kind: MetricType::Counter,
            help: None,
            unit: None,
        },
    ];
    let text = render(&samples, &metadata);
    assert_eq!(
        text,
        r#"temperature -1
# HELP disk_bytes line one\nback\\slash
# TYPE disk_bytes gauge
# UNIT disk_bytes bytes
disk_bytes{path="C:\\x \"q\"\nz"} 1.5 1000
# TYPE unused_total counter
"#
    );
    let back = parse(&text).unwrap();
    assert_eq!(back.samples, samples);
    assert_eq!(back.metadata, metadata);
}

#[test]
fn openmetrics_extras_are_tolerated() {
    let doc = parse(
        "# TYPE requests counter\n\
         # UNIT requests seconds\n\
         # HELP requests Requests served.\n\
         requests_total{code=\"200\"} 1027 # {trace_id=\"abc\"} 1.0 1520879607789\n\
         requests_created{code=\"200\"} 1.6e9\n\
         # TYPE build info\n\
         build_info{version=\"1.2\"} 1\n\
         # EOF\n\
         \n",
    )
    .unwrap();
    assert_eq!(
        dump(&doc.samples),
        r#"{__name__="requests_total", code="200"} 1027.0
{__name__="requests_created", code="200"} 1600000000.0
{__name__="build_info", version="1.2"} 1.0
"#
    );
    let requests = doc.metadata_for("requests_total").unwrap();
    assert_eq!(requests.kind, MetricType::Counter);
    assert_eq!(requests.unit.as_deref(), Some("seconds"));
    assert_eq!(requests.help.as_deref(), Some("Requests served."));
    assert_eq!(doc.metadata_for("requests_created"), Some(requests));
    assert_eq!(
        doc.metadata_for("build_info").map(|m| m.kind),
        Some(MetricType::Info)
    );
}

#[test]
fn whitespace_trailing_commas_and_odd_values_follow_prometheus() {
    let doc = parse(
        "  up  1\r\n\
         \tspaced { a = \"1\" , b=\"2\", } 0x1p-2\t-5\r\n\
         #HELP spaced  Leading blanks are not part of help.\n\
         empty{gone=\"\",kept=\"x\"} 1E3\n\
         braces{} +inf 0\n\
         unknown_escape{v=\"a\\tb\"} .5\n",
    )
    .unwrap();
    assert_eq!(
        dump(&doc.samples),
        r#"{__name__="up"} 1.0
{__name__="spaced", a="1", b="2"} 0.25 @-5
{__name__="empty", kept="x"} 1000.0
{__name__="braces"} inf @0
{__name__="unknown_escape", v="a\\tb"} 0.5
"#
    );
    assert_eq!(
        doc.metadata[0].help.as_deref(),
        Some("Leading blanks are not part of help.")
    );
    assert_eq!(doc.metadata[0].kind, MetricType::Untyped);
}

/// Parses `input` and checks that it fails with exactly `expected`.
fn check_error(input: &str, expected: &str) {
    match parse(input) {
        Ok(doc) => panic!(
            "{input:?} parsed, expected {expected:?}:\n{}",
            dump(&doc.samples)
        ),
        Err(e) => {
            assert!(matches!(e, WireError::Exposition { .. }), "{e:?}");
            assert_eq!(e.to_string(), expected, "for input {input:?}");
        }
    }
}

#[test]
fn errors_name_the_line_and_what_is_wrong() {
    let eleven_good_lines = "# HELP up Whether the target is up.\n# TYPE up gauge\n".to_string()
        + &"up{job=\"node\"} 1\n".repeat(9);
    check_error(
        &(eleven_good_lines + "up{job \"x\"} 1\n"),
        "line 12: expected '=' after label name \"job\"",
    );

    let cases = [
        ("up{job=\"x} 1", "line 1: unterminated value of label \"job\""),
        ("up{job=\"x\\", "line 1: unterminated value of label \"job\""),
        (
            "up{job=\"x\"",
            "line 1: unterminated label set after the value of label \"job\"",
        ),
        (
            "up 1\nup{job=\"a\" 2",
            "line 2: expected ',' or '}' after the value of label \"job\", found '2'",
        ),
        (
            "up{1job=\"x\"} 1",
            "line 1: invalid label name \"1job\": label names must not start with a digit",
        ),
        ("up{job=x} 1", "line 1: expected '\"' to start the value of label \"job\""),
        ("up{,} 1", "line 1: expected a label name or '}', found ','"),
        ("up{\"job\"=\"x\"} 1", "line 1: quoted label names are not supported"),
        ("up{job=\"x\"} abc", "line 1: invalid value \"abc\" for metric \"up\""),
        ("up", "line 1: missing value for metric \"up\""),
        (
            "up 1 12.5",
            "line 1: invalid timestamp \"12.5\" for metric \"up\": expected integer milliseconds",
        ),
        ("up 1 2 3", "line 1: unexpected text \"3\" after the sample of metric \"up\""),
        (
            "{job=\"x\"} 1",
            "line 1: missing metric name before '{' (quoted metric names are not supported)",
        ),
        ("up-time 1", "line 1: invalid character '-' after metric name \"up\""),
        (
            "9up 1",
            "line 1: invalid metric name \"9up\": metric names must not start with a digit",
        ),
        ("=1", "line 1: expected a metric name, found '='"),
        (
            "up{job=\"a\",job=\"b\"} 1",
            "line 1: label \"job\" appears more than once in a sample of metric \"up\"",
        ),
        (
            "up{__name__=\"down\"} 1",
            "line 1: label \"__name__\" appears more than once in a sample of metric \"up\"",
        ),
        (
            "# TYPE up countr",
            "line 1: unknown metric type \"countr\" for metric family \"up\" (expected counter, gauge, histogram, summary, untyped, info, stateset, gaugehistogram or unknown)",
        ),
        ("# TYPE up", "line 1: missing type in TYPE line for metric family \"up\""),
        (
            "# TYPE up counter extra",
            "line 1: unexpected text \"extra\" after the type of metric family \"up\"",
        ),
        (
            "# TYPE up counter\n\n# TYPE up gauge",
            "line 3: second TYPE line for metric family \"up\"",
        ),
        (
            "# HELP up a\n# HELP up b",
            "line 2: second HELP line for metric family \"up\"",
        ),
        ("# UNIT up", "line 1: missing unit in UNIT line for metric family \"up\""),
        ("# HELP", "line 1: missing metric name after HELP"),
        (
            "# HELP 9up x",
            "line 1: invalid metric name \"9up\" after HELP: metric names must not start with a digit",
        ),
        (
            "# HELP up.x y",
            "line 1: invalid character '.' after metric name \"up\" in HELP line",
        ),
        (
            "up 1\n# EOF\nup 2",
            "line 3: unexpected content after \"# EOF\" on line 2",
        ),
    ];
    for (input, expected) in cases {
        check_error(input, expected);
    }
}

#[test]
fn an_empty_document_has_nothing_in_it() {
    for text in ["", "\n\n", "# just a comment\n", "# EOF\n"] {
        let doc = parse(text).unwrap();
        assert!(
            doc.samples.is_empty() && doc.metadata.is_empty(),
            "{text:?}"
        );
    }
}

#[test]
fn metadata_keeps_its_order_through_render_even_when_samples_do_not_follow_it() {
    let doc = parse(
        "# TYPE a counter\n\
         # HELP b_total Second family.\r\r\n\
         b_total 1\n\
         a_total 2\n",
    )
    .unwrap();
    assert_eq!(
        doc.metadata
            .iter()
            .map(|m| m.family.as_str())
            .collect::<Vec<_>>(),
        ["a", "b_total"]
    );
    assert_eq!(doc.metadata[1].help.as_deref(), Some("Second family."));
    let text = render(&doc.samples, &doc.metadata);
    assert_eq!(
        text,
        "# TYPE a counter\n\
         # HELP b_total Second family.\n\
         # TYPE b_total untyped\n\
         b_total 1\n\
         a_total 2\n"
    );
    assert_same_exposition(&doc, &parse(&text).unwrap());
}
