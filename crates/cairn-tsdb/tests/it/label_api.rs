//! Label names, label values and series, with matchers and time ranges, across the
//! head and blocks.

use crate::support::*;

fn two_eras() -> TestDb {
    let db = TestDb::new();
    db.append(&[
        (r#"up{job="api", instance="a"}"#, &[(1000, 1.0)]),
        (r#"up{job="db", instance="b", zone="eu"}"#, &[(2000, 1.0)]),
    ]);
    db.db().flush().unwrap();
    db.append(&[
        (r#"up{job="api", instance="c"}"#, &[(5000, 1.0)]),
        (r#"errors_total{job="api", code="500"}"#, &[(6000, 3.0)]),
    ]);
    db
}

#[test]
fn label_names_follow_matchers_and_time() {
    let db = two_eras();
    let names = |m: &str, a, b| db.db().label_names(&sel(m), a, b).unwrap().join(",");
    assert_eq!(names("", 0, 10_000), "__name__,code,instance,job,zone");
    assert_eq!(names("up", 0, 10_000), "__name__,instance,job,zone");
    assert_eq!(names("up", 3000, 10_000), "__name__,instance,job");
    assert_eq!(names(r#"{job="db"}"#, 5000, 10_000), "");
}

#[test]
fn label_values_follow_matchers_and_time() {
    let db = two_eras();
    let values = |n: &str, m: &str, a, b| db.db().label_values(n, &sel(m), a, b).unwrap().join(",");
    assert_eq!(values("instance", "", 0, 10_000), "a,b,c");
    assert_eq!(values("instance", "", 1500, 10_000), "b,c");
    assert_eq!(values("job", r#"{instance=~"a|c"}"#, 0, 10_000), "api");
    assert_eq!(
        values("__name__", r#"{job="api"}"#, 0, 10_000),
        "errors_total,up"
    );
    assert_eq!(values("nope", "", 0, 10_000), "");
}

#[test]
fn series_follow_matchers_and_time() {
    let db = two_eras();
    let series = |m: &str, a, b| render_labels(&db.db().series(&sel(m), a, b).unwrap());
    check(
        &series(r#"{job="api"}"#, 0, 10_000),
        r#"
        errors_total{code="500", job="api"}
        up{instance="a", job="api"}
        up{instance="c", job="api"}
        "#,
    );
    check(
        &series(r#"up{zone!=""}"#, 0, 10_000),
        r#"up{instance="b", job="db", zone="eu"}"#,
    );
    check(&series("up", 4000, 5000), r#"up{instance="c", job="api"}"#);
}
