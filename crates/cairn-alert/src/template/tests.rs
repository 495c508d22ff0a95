use super::*;
use crate::labels::label_set;

fn alert(text: &str, value: f64) -> String {
    let labels = label_set([
        ("__name__", "node_filesystem_avail_bytes"),
        ("instance", "db-1.hz.example:9100"),
        ("job", "node"),
        ("mountpoint", "/data"),
    ]);
    let ext = label_set([("cluster", "hz-a")]);
    match expand_alert_template(
        "t",
        text,
        &labels,
        value,
        &ext,
        "http://cairn.example/prom",
        None,
    ) {
        Ok(s) => s,
        Err(e) => format!("ERROR: {e}"),
    }
}

#[test]
fn prometheus_variables_and_fields() {
    assert_eq!(
        alert("{{ $labels.instance }} on {{ .Labels.job }}", 1.0),
        "db-1.hz.example:9100 on node"
    );
    assert_eq!(alert("{{ $value }}", 1234567.0), "1.234567e+06");
    assert_eq!(
        alert("{{ $externalLabels.cluster }} {{ $externalURL }}", 0.0),
        "hz-a http://cairn.example/prom"
    );
    assert_eq!(alert("[{{ $labels.missing }}]", 0.0), "[]");
    assert_eq!(alert("{{ index $labels \"mountpoint\" }}", 0.0), "/data");
}

#[test]
fn humanize_family() {
    assert_eq!(alert("{{ humanize $value }}", 1234567.0), "1.235M");
    assert_eq!(alert("{{ $value | humanize }}", 0.000123), "123u");
    assert_eq!(alert("{{ $value | humanize }}", 0.0), "0");
    assert_eq!(alert("{{ humanize1024 $value }}", 1073741824.0), "1Gi");
    assert_eq!(alert("{{ humanizePercentage $value }}", 0.1234), "12.34%");
    assert_eq!(
        alert("{{ humanizeDuration $value }}", 93784.0),
        "1d 2h 3m 4s"
    );
    assert_eq!(alert("{{ humanizeDuration $value }}", 1.5), "1.5s");
    assert_eq!(alert("{{ humanizeDuration $value }}", 0.25), "250ms");
    assert_eq!(
        alert("{{ humanizeTimestamp $value }}", 1_700_000_000.0),
        "2023-11-14 22:13:20 +0000 UTC"
    );
    assert_eq!(alert(r#"{{ printf "%.2f" $value }}%"#, 97.456), "97.46%");
}

#[test]
fn control_structures() {
    let t = r#"{{ if gt $value 90.0 }}critical{{ else if gt $value 80.0 }}warning{{ else }}ok{{ end }}"#;
    assert_eq!(alert(t, 95.0), "critical");
    assert_eq!(alert(t, 85.0), "warning");
    assert_eq!(alert(t, 10.0), "ok");
    assert_eq!(
        alert("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", 0.0),
        "__name__=node_filesystem_avail_bytes;instance=db-1.hz.example:9100;job=node;mountpoint=/data;"
    );
    assert_eq!(
        alert("{{ with $labels.job }}job {{ . }}{{ end }}", 0.0),
        "job node"
    );
    assert_eq!(
        alert("{{ with $labels.nope }}x{{ else }}none{{ end }}", 0.0),
        "none"
    );
    assert_eq!(alert("a  {{- /* comment */ -}}  b", 0.0), "ab");
    assert_eq!(
        alert(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            0.0
        ),
        "2"
    );
    assert_eq!(
        alert("{{ range $i, $e := stringSlice \"a\" \"b\" \"c\" }}{{ if eq $e \"b\" }}{{ continue }}{{ end }}{{ $i }}{{ $e }}{{ end }}", 0.0),
        "0a2c"
    );
}

#[test]
fn string_functions() {
    assert_eq!(
        alert(
            "{{ $labels.job | toUpper }} {{ title \"disk almost full\" }}",
            0.0
        ),
        "NODE Disk Almost Full"
    );
    assert_eq!(
        alert(r#"{{ reReplaceAll "(.*):.*" "$1" $labels.instance }}"#, 0.0),
        "db-1.hz.example"
    );
    assert_eq!(
        alert(
            "{{ $labels.instance | stripPort }} {{ $labels.instance | stripDomain }}",
            0.0
        ),
        "db-1.hz.example db-1:9100"
    );
    assert_eq!(
        alert(r#"{{ if match "^db-" $labels.instance }}db{{ end }}"#, 0.0),
        "db"
    );
    assert_eq!(
        alert(r#"{{ graphLink "up == 0" }}"#, 0.0),
        "http://cairn.example/prom/graph?g0.expr=up+%3D%3D+0&g0.tab=0"
    );
}

#[test]
fn errors_name_the_template_and_line() {
    assert_eq!(
        alert("{{ nosuch $value }}", 0.0),
        "ERROR: template: t: function \"nosuch\" not defined"
    );
    assert_eq!(
        alert("{{ if $value }}x", 0.0),
        "ERROR: template: t:1: unexpected EOF"
    );
    assert_eq!(
        alert("line\n{{ end }}", 0.0),
        "ERROR: template: t:2: unexpected {{end}}"
    );
    assert_eq!(
        alert("{{ $nope }}", 0.0),
        "ERROR: template: t:1: executing: undefined variable: $nope"
    );
    assert_eq!(
        alert("{{ .Labels.job.x }}", 0.0),
        "ERROR: template: t:1: executing: can't evaluate field x in type string"
    );
}

#[test]
fn alertmanager_style_data() {
    let alerts = Value::List(vec![
        Value::map([
            ("Status", Value::str("firing")),
            (
                "Labels",
                Value::labels(&label_set([("alertname", "A"), ("instance", "x")])),
            ),
        ]),
        Value::map([
            ("Status", Value::str("resolved")),
            (
                "Labels",
                Value::labels(&label_set([("alertname", "A"), ("instance", "y")])),
            ),
        ]),
    ]);
    let data = Value::map([
        ("Status", Value::str("firing")),
        ("Alerts", alerts),
        (
            "GroupLabels",
            Value::labels(&label_set([("alertname", "A")])),
        ),
        (
            "CommonLabels",
            Value::labels(&label_set([("alertname", "A"), ("severity", "page")])),
        ),
    ]);
    let t = Template::parse(
        "subject",
        r#"{{ define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}{{ end }}{{ template "__subject" . }}"#,
    )
    .unwrap();
    assert_eq!(
        t.render(&data, &Env::default()).unwrap(),
        "[FIRING:1] A (page)"
    );
}

#[test]
fn query_uses_the_callers_engine() {
    let q = |expr: &str| -> Result<Vec<(LabelSet, f64)>, String> {
        assert_eq!(expr, "up{job=\"node\"}");
        Ok(vec![
            (label_set([("instance", "b")]), 0.0),
            (label_set([("instance", "a")]), 1.0),
        ])
    };
    let labels = LabelSet::new();
    let out = expand_alert_template(
        "t",
        r#"{{ range query "up{job=\"node\"}" | sortByLabel "instance" }}{{ .Labels.instance }}={{ .Value }} {{ end }}{{ with query "up{job=\"node\"}" }}{{ . | first | value }}{{ end }}"#,
        &labels, 0.0, &labels, "", Some(&q),
    )
    .unwrap();
    assert_eq!(out, "a=1 b=0 0");
    let err = expand_alert_template("t", "{{ query \"up\" }}", &labels, 0.0, &labels, "", None)
        .unwrap_err();
    assert!(
        err.to_string().contains("query function is not available"),
        "{err}"
    );
}
