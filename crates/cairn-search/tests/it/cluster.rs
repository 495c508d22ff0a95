//! Stories of clustering: repeated requests found across languages, kept apart from
//! other requests, bounded by the window, named stably.

use cairn_search::cluster::{cluster, ClusterParams, Clustering, PreviousCluster, TicketText};
use cairn_search::TicketId;
use expect_test::expect;

use crate::support::*;

fn t(id: &str, category: &str, day: i64, minutes: u32, title: &str, body: &str) -> TicketText {
    TicketText {
        id: TicketId(id.to_owned()),
        category: category.to_owned(),
        title: title.to_owned(),
        body: body.to_owned(),
        created_at: days_later(day),
        time_spent_minutes: minutes,
    }
}

fn tickets() -> Vec<TicketText> {
    vec![
        t(
            "p1",
            "account",
            80,
            10,
            "忘记 RDS 密码，如何重置",
            "数据库账号密码忘记了，请帮忙重置密码。",
        ),
        t(
            "p2",
            "account",
            81,
            15,
            "Reset password for RDS account",
            "I forgot the password of our database account, please reset it.",
        ),
        t(
            "p3",
            "account",
            83,
            12,
            "重置数据库密码",
            "RDS 高权限账号密码丢失，需要重置。",
        ),
        t(
            "p4",
            "account",
            85,
            8,
            "How do I reset the root password?",
            "Lost the database root password after our DBA left. Need a password reset.",
        ),
        t(
            "p5",
            "account",
            86,
            9,
            "账号密码重置",
            "主账号密码忘记，无法登录控制台，请重置密码。",
        ),
        t(
            "s1",
            "capacity",
            82,
            60,
            "扩容 100 台主机",
            "双11前需要扩容 100 台 ECS 主机，请确认资源池库存。",
        ),
        t(
            "s2",
            "capacity",
            84,
            90,
            "Scale out 100 hosts before Double 11",
            "We need to scale out by 100 ECS hosts in Hangzhou before Double 11.",
        ),
        t(
            "s3",
            "capacity",
            87,
            45,
            "申请扩容 ECS 主机 50 台",
            "大促前扩容，需要 50 台主机，请尽快安排。",
        ),
        t(
            "s4",
            "capacity",
            88,
            75,
            "Request to scale out servers",
            "Please scale out our ECS servers by 40 hosts for the promotion.",
        ),
        t(
            "x1",
            "billing",
            84,
            5,
            "发票抬头修改",
            "上个月的发票抬头写错了，需要重开。",
        ),
        // Long ago: outside a 90-day window that ends on day 90.
        t("old1", "account", -30, 10, "重置密码", "忘记密码，请重置。"),
        t(
            "old2",
            "account",
            -20,
            10,
            "Reset my password",
            "Forgot password, please reset.",
        ),
    ]
}

fn params() -> ClusterParams {
    ClusterParams::new(days_later(90))
}

fn show(c: &Clustering) -> String {
    let mut s = format!("in window {}, unclustered {}\n", c.in_window, c.unclustered);
    for cl in &c.clusters {
        let ids: Vec<&str> = cl.tickets.iter().map(|t| t.0.as_str()).collect();
        let ex: Vec<&str> = cl.examples.iter().map(|t| t.0.as_str()).collect();
        s.push_str(&format!(
            "{} [{}] {:?} \"{}\" size {} {}m {} → {} tickets {:?} examples {:?}\n",
            cl.id,
            cl.category,
            cl.language,
            cl.label,
            cl.size,
            cl.time_spent_minutes,
            cl.first_seen.date(),
            cl.last_seen.date(),
            ids,
            ex
        ));
    }
    s
}

#[test]
fn password_resets_in_both_languages_cluster_together_apart_from_scale_outs() {
    let c = cluster(&tickets(), &params());
    expect![[r#"
        in window 10, unclustered 1
        cl-p1 [account] Zh "重置 · 密码 · 忘记" size 5 54m 2025-08-20 → 2025-08-26 tickets ["p1", "p2", "p3", "p4", "p5"] examples ["p1", "p3", "p2"]
        cl-s4 [capacity] Zh "主机 · 扩容 · ecs" size 4 270m 2025-08-22 → 2025-08-28 tickets ["s1", "s2", "s3", "s4"] examples ["s4", "s3", "s1"]
    "#]].assert_eq(&show(&c));
}

#[test]
fn the_window_excludes_old_tickets() {
    let c = cluster(&tickets(), &params());
    assert_eq!(c.in_window, 10);
    assert!(c
        .clusters
        .iter()
        .flat_map(|cl| &cl.tickets)
        .all(|t| !t.0.starts_with("old")));
    // Widen the window and the old password resets join their cluster.
    let mut wide = params();
    wide.window_days = 365;
    let c = cluster(&tickets(), &wide);
    let account = c
        .clusters
        .iter()
        .find(|cl| cl.category == "account")
        .unwrap();
    assert_eq!(account.size, 7);
}

#[test]
fn input_order_does_not_change_the_result() {
    let a = cluster(&tickets(), &params());
    let mut reversed = tickets();
    reversed.reverse();
    let mut rotated = tickets();
    rotated.rotate_left(5);
    assert_eq!(a, cluster(&reversed, &params()));
    assert_eq!(a, cluster(&rotated, &params()));
}

#[test]
fn ranking_by_volume_and_by_time_spent_differ() {
    let c = cluster(&tickets(), &params());
    let by_volume: Vec<&str> = c
        .by_volume()
        .iter()
        .map(|cl| cl.category.as_str())
        .collect();
    let by_time: Vec<&str> = c
        .by_time_spent()
        .iter()
        .map(|cl| cl.category.as_str())
        .collect();
    assert_eq!(by_volume, ["account", "capacity"]);
    assert_eq!(by_time, ["capacity", "account"]);
}

#[test]
fn ids_carry_over_when_the_window_slides() {
    let first = cluster(&tickets(), &params());
    let previous: Vec<PreviousCluster> = first
        .clusters
        .iter()
        .map(|cl| PreviousCluster {
            id: cl.id.clone(),
            tickets: cl.tickets.clone(),
        })
        .collect();
    // A week later: the oldest password reset has left the window and new ones came.
    let mut more = tickets();
    more.push(t(
        "p6",
        "account",
        93,
        7,
        "Password reset please",
        "Forgot the RDS password again.",
    ));
    more.push(t(
        "p7",
        "account",
        95,
        11,
        "数据库密码重置",
        "忘记密码，请重置数据库账号密码。",
    ));
    let mut later = params();
    later.now = days_later(98);
    later.window_days = 18;
    let mut second = cluster(&more, &later);
    second.carry_ids(&previous);
    let account = second
        .clusters
        .iter()
        .find(|cl| cl.category == "account")
        .unwrap();
    let old = first
        .clusters
        .iter()
        .find(|cl| cl.category == "account")
        .unwrap();
    assert_eq!(account.id, old.id);
    assert!(!account.tickets.contains(&TicketId("p1".to_owned())));
}

#[test]
fn text_alone_separates_the_themes_when_categories_do_not() {
    // Support does not always pick the right category: with one category for all,
    // the words still keep password resets and scale-outs apart.
    let same: Vec<TicketText> = tickets()
        .into_iter()
        .map(|mut t| {
            t.category = "general".to_owned();
            t
        })
        .collect();
    let c = cluster(&same, &params());
    let mut groups: Vec<Vec<String>> = c
        .clusters
        .iter()
        .map(|cl| cl.tickets.iter().map(|t| t.0.clone()).collect())
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            vec!["p1", "p2", "p3", "p4", "p5"],
            vec!["s1", "s2", "s3", "s4"]
        ]
    );
}
