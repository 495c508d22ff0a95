//! Remote write 1.0: what a receiver decodes from a Prometheus agent.

use cairn_wire::remote_write::{
    decode_write_request, decode_write_request_with_limit, encode_write_request, into_series,
    DecodedSeries, Exemplar, Label, MetadataType, MetricMetadata, Sample, TimeSeries, WriteRequest,
    MAX_DECOMPRESSED_BYTES,
};
use cairn_wire::WireError;

/// Prometheus' stale marker: a NaN with this exact bit pattern.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.into(),
        value: value.into(),
    }
}

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

fn request(timeseries: Vec<TimeSeries>) -> WriteRequest {
    WriteRequest {
        timeseries,
        metadata: vec![],
    }
}

/// `WriteRequest { timeseries: [{ labels: [__name__="up"], samples: [{1.0, 1000}] }] }`
/// encoded by hand from the protobuf wire format (tag byte = field << 3 | wire type).
const GOLDEN_UP: [u8; 32] = [
    0x0a, 0x1e, // WriteRequest.timeseries (1, length-delimited), 30 bytes
    0x0a, 0x0e, //   TimeSeries.labels (1, length-delimited), 14 bytes
    0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', // Label.name (1) "__name__"
    0x12, 0x02, b'u', b'p', //     Label.value (2) "up"
    0x12, 0x0c, //   TimeSeries.samples (2, length-delimited), 12 bytes
    0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, // Sample.value (1, 64-bit) 1.0 LE
    0x10, 0xe8, 0x07, //     Sample.timestamp (2, varint) 1000
];

#[test]
fn golden_bytes_pin_the_field_numbers() {
    let req = request(vec![series(&[("__name__", "up")], &[(1000, 1.0)])]);

    let body = encode_write_request(&req);
    let protobuf = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
    assert_eq!(protobuf, GOLDEN_UP);

    // A snappy block holding the golden bytes as one literal, the way any
    // sender may compress it: length varint 32, literal tag (32 - 1) << 2.
    let mut hand_made = vec![0x20, 0x7c];
    hand_made.extend_from_slice(&GOLDEN_UP);
    assert_eq!(decode_write_request(&hand_made).unwrap(), req);
}

#[test]
fn metadata_field_numbers_match_remote_proto() {
    let req = WriteRequest {
        timeseries: vec![],
        metadata: vec![MetricMetadata {
            r#type: MetadataType::Counter.into(),
            metric_family_name: "a".into(),
            help: "h".into(),
            unit: "u".into(),
        }],
    };
    let protobuf = snap::raw::Decoder::new()
        .decompress_vec(&encode_write_request(&req))
        .unwrap();
    #[rustfmt::skip]
    let expected = [
        0x1a, 0x0b, // WriteRequest.metadata (3, length-delimited), 11 bytes
        0x08, 0x01, //   MetricMetadata.type (1, varint) COUNTER
        0x12, 0x01, b'a', // metric_family_name (2)
        0x22, 0x01, b'h', // help (4)
        0x2a, 0x01, b'u', // unit (5)
    ];
    assert_eq!(protobuf, expected);
}

#[test]
fn an_agent_push_round_trips_into_sorted_validated_series() {
    let mut with_extras = series(
        &[
            ("job", "node"),
            ("__name__", "node_load1"),
            ("instance", "a:9100"),
            ("zone", ""),
        ],
        &[(1000, 0.5), (2000, f64::from_bits(STALE_NAN_BITS))],
    );
    with_extras.exemplars.push(Exemplar {
        labels: vec![label("trace_id", "abc")],
        value: 0.5,
        timestamp: 1000,
    });
    // Raw bytes of a `prometheus.Histogram` with count_int (field 1) = 3.
    with_extras.histograms.push(vec![0x08, 0x03]);
    let histogram_only = TimeSeries {
        labels: vec![label("__name__", "rpc_latency")],
        histograms: vec![vec![0x08, 0x05]],
        ..Default::default()
    };
    let req = WriteRequest {
        timeseries: vec![
            with_extras,
            histogram_only,
            series(&[("__name__", "up"), ("job", "node")], &[(1000, 1.0)]),
        ],
        metadata: vec![MetricMetadata {
            r#type: MetadataType::Gauge.into(),
            metric_family_name: "node_load1".into(),
            help: "1m load average.".into(),
            unit: String::new(),
        }],
    };

    let decoded = decode_write_request(&encode_write_request(&req)).unwrap();
    assert_eq!(decoded.timeseries.len(), 3);
    assert_eq!(decoded.metadata, req.metadata);
    assert_eq!(decoded.metadata[0].r#type(), MetadataType::Gauge);
    assert_eq!(decoded.sample_count(), 3);
    assert_eq!(decoded.exemplar_count(), 1);
    // Native histograms are not supported, but they are counted and kept
    // byte for byte for forwarding.
    assert_eq!(decoded.native_histogram_count(), 2);
    assert_eq!(decoded.timeseries[1].histograms, vec![vec![0x08, 0x05]]);

    let series = into_series(decoded).unwrap();
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        series.len(),
        2,
        "the histogram-only series has no float samples"
    );
    assert_eq!(
        series[0].labels,
        owned(&[
            ("__name__", "node_load1"),
            ("instance", "a:9100"),
            ("job", "node")
        ])
    );
    assert_eq!(series[0].samples[0], (1000, 0.5));
    assert_eq!(series[0].samples[1].0, 2000);
    assert_eq!(
        series[0].samples[1].1.to_bits(),
        STALE_NAN_BITS,
        "stale marker bits survive"
    );
    assert_eq!(
        series[1],
        DecodedSeries {
            labels: owned(&[("__name__", "up"), ("job", "node")]),
            samples: vec![(1000, 1.0)],
        }
    );
}

#[test]
fn garbage_is_not_a_snappy_block() {
    for body in [
        &b""[..],
        b"\xff\xff\xff\xff\xff\xff",
        b"hello, world",
        b"\x05\x00",
    ] {
        let err = decode_write_request(body).unwrap_err();
        assert!(matches!(err, WireError::Snappy { .. }), "{body:?}: {err:?}");
        assert_eq!(err.code(), "wire.snappy_invalid");
        assert!(
            err.to_string()
                .starts_with("body is not a valid snappy block: "),
            "{err}"
        );
    }
}

#[test]
fn valid_snappy_around_garbage_is_a_protobuf_error() {
    let body = snap::raw::Encoder::new()
        .compress_vec(b"\x0a\xff\xff\xff\xff\x0f not a message")
        .unwrap();
    let err = decode_write_request(&body).unwrap_err();
    assert!(matches!(err, WireError::Protobuf { .. }), "{err:?}");
    assert_eq!(err.code(), "wire.protobuf_invalid");

    // Valid UTF-8 is part of the contract for string fields.
    let mut bad_utf8 = GOLDEN_UP;
    bad_utf8[14] = 0xff; // first byte of "up"
    let body = snap::raw::Encoder::new().compress_vec(&bad_utf8).unwrap();
    assert!(matches!(
        decode_write_request(&body),
        Err(WireError::Protobuf { .. })
    ));
}

#[test]
fn oversized_bodies_are_refused_before_decompression() {
    // A 6-byte body whose header claims 100 MiB.
    let mut claims_huge = Vec::new();
    let mut n: u64 = 100 << 20;
    while n >= 0x80 {
        claims_huge.push((n as u8) | 0x80);
        n >>= 7;
    }
    claims_huge.push(n as u8);
    claims_huge.extend_from_slice(b"\x00\x00");
    assert_eq!(
        decode_write_request(&claims_huge).unwrap_err(),
        WireError::TooLarge {
            size: 100 << 20,
            limit: MAX_DECOMPRESSED_BYTES as u64
        }
    );

    let body = encode_write_request(&request(vec![series(
        &[("__name__", "up")],
        &[(1000, 1.0)],
    )]));
    let err = decode_write_request_with_limit(&body, 31).unwrap_err();
    assert_eq!(
        err.to_string(),
        "body decompresses to 32 bytes, over the limit of 31 bytes"
    );
    assert_eq!(err.code(), "wire.body_too_large");
    assert!(decode_write_request_with_limit(&body, 32).is_ok());
}

/// Runs `into_series` on one series with these labels and returns the error.
fn label_error(labels: &[(&str, &str)]) -> WireError {
    into_series(request(vec![series(labels, &[(0, 1.0)])])).unwrap_err()
}

#[test]
fn label_validation_errors_name_the_series_and_the_label() {
    let err = label_error(&[("__name__", "up"), ("bad-name", "x")]);
    assert_eq!(
        err.to_string(),
        r#"series {__name__="up", bad-name="x"}: invalid label name "bad-name" (label names must match [a-zA-Z_][a-zA-Z0-9_]*)"#
    );
    assert_eq!(err.code(), "wire.label_name_invalid");

    let err = label_error(&[("__name__", "http.requests"), ("job", "api")]);
    assert_eq!(
        err,
        WireError::InvalidMetricName {
            series: r#"{__name__="http.requests", job="api"}"#.into(),
            name: "http.requests".into(),
        }
    );

    let err = label_error(&[("job", "a"), ("__name__", "up"), ("job", "b")]);
    assert_eq!(
        err.to_string(),
        r#"series {__name__="up", job="a", job="b"}: label "job" appears more than once"#
    );

    // An empty value counts as absent, so an empty name is a missing one.
    for labels in [&[("job", "a")][..], &[("__name__", ""), ("job", "a")][..]] {
        let err = label_error(labels);
        assert_eq!(
            err.to_string(),
            r#"series {job="a"}: missing metric name (no non-empty label "__name__")"#
        );
    }

    assert!(matches!(
        label_error(&[("__name__", "up"), ("", "x")]),
        WireError::InvalidLabelName { name, .. } if name.is_empty()
    ));
    assert!(matches!(
        label_error(&[("__name__", "up"), ("0day", "x")]),
        WireError::InvalidLabelName { name, .. } if name == "0day"
    ));
}

#[test]
fn one_bad_series_fails_the_whole_request() {
    let req = request(vec![
        series(&[("__name__", "up")], &[(0, 1.0)]),
        series(&[("__name__", "up"), ("a b", "x")], &[(0, 1.0)]),
    ]);
    assert!(matches!(
        into_series(req),
        Err(WireError::InvalidLabelName { name, .. }) if name == "a b"
    ));
}

#[test]
fn concatenated_bare_requests_decode_as_one_request_with_every_series() {
    use cairn_wire::remote_write::{compress, decode_write_request, encode_protobuf};
    let one = |name: &str, t: i64| WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: name.into(),
            }],
            samples: vec![Sample {
                value: 1.0,
                timestamp: t,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut raw = encode_protobuf(&one("a", 1));
    raw.extend(encode_protobuf(&one("b", 2)));
    let merged = decode_write_request(&compress(&raw)).unwrap();
    let names: Vec<_> = merged
        .timeseries
        .iter()
        .map(|t| t.labels[0].value.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
}
