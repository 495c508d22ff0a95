//! The demo's tickets and knowledge base: their shape, and what search and clustering
//! make of them.

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use cairn_search::cluster::{cluster, ClusterParams, Language};
use cairn_search::demo::{self, Demo, TicketStatus};
use cairn_search::{markdown, Audience, DocRef, Query, SearchIndex, Visibility};
use expect_test::expect;
use time::macros::date;
use time::{Date, Duration};

const TODAY: Date = date!(2026 - 03 - 15);

static DEMO: LazyLock<Demo> = LazyLock::new(|| demo::generate_for_demo_cloud(TODAY));

#[test]
fn the_demo_has_two_years_of_tickets_on_repeated_themes_in_both_languages() {
    let d = &*DEMO;
    let mut by_theme: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    let mut zh = 0;
    for t in &d.tickets {
        *by_theme.entry(&t.theme).or_default() += 1;
        *by_status.entry(t.status.as_str()).or_default() += 1;
        zh += usize::from(t.language == Language::Zh);
    }
    let first = d.tickets.first().unwrap().created_at.date();
    let last = d.tickets.last().unwrap().created_at.date();
    let summary = format!(
        "{} tickets from {first} to {last}, {zh} in Chinese\nthemes {by_theme:?}\nstatus {by_status:?}\n{} articles",
        d.tickets.len(),
        d.articles.len()
    );
    expect![[r#"
        3870 tickets from 2024-03-15 to 2026-03-15, 2873 in Chinese
        themes {"backup-restore": 122, "bandwidth": 260, "ddos": 128, "disk-full": 196, "dns": 129, "double11-prep": 106, "ecs-unreachable": 232, "invoice": 267, "multi-zone": 206, "password-reset": 627, "scale-out": 532, "security-alert": 197, "slow-database": 432, "ssl-certificate": 207, "too-many-connections": 229}
        status {"closed": 3847, "in-progress": 5, "resolved": 18}
        42 articles"#]].assert_eq(&summary);
}

#[test]
fn the_same_day_gives_the_same_demo() {
    assert_eq!(*DEMO, demo::generate_for_demo_cloud(TODAY));
}

#[test]
fn double_11_brings_a_burst_of_tickets() {
    let d = &*DEMO;
    let per_day = |from: Date, to: Date| {
        let n = d
            .tickets
            .iter()
            .filter(|t| (from..=to).contains(&t.created_at.date()))
            .count();
        n as f64 / ((to - from).whole_days() + 1) as f64
    };
    let run_up = per_day(date!(2025 - 10 - 25), date!(2025 - 11 - 11));
    let summer = per_day(date!(2025 - 07 - 01), date!(2025 - 09 - 30));
    assert!(
        run_up > 1.8 * summer,
        "run-up {run_up:.1}/day vs summer {summer:.1}/day"
    );
    let scale_outs = |from: Date, to: Date| {
        d.tickets
            .iter()
            .filter(|t| t.theme == "scale-out" && (from..=to).contains(&t.created_at.date()))
            .count()
    };
    assert!(
        scale_outs(date!(2025 - 10 - 25), date!(2025 - 11 - 11))
            > 3 * scale_outs(date!(2025 - 08 - 01), date!(2025 - 08 - 18))
    );
}

#[test]
fn ticket_timelines_are_consistent() {
    let now = demo::demo_now(TODAY);
    let mut ids = HashSet::new();
    for t in &DEMO.tickets {
        assert!(ids.insert(&t.id), "duplicate id {:?}", t.id);
        assert!(t.created_at <= now && t.created_at > now - Duration::days(demo::DAYS + 1));
        let mut last = t.created_at;
        if let Some(r) = t.first_response_at {
            assert!(r >= last, "{t:?}");
            last = r;
        }
        for e in &t.escalations {
            assert!(e.at >= last && e.at <= now, "{t:?}");
            last = e.at;
        }
        match t.status {
            TicketStatus::Resolved | TicketStatus::Closed => {
                assert!(
                    t.resolved_at.is_some_and(|r| r >= last && r <= now),
                    "{t:?}"
                );
                assert!(t.resolution.is_some());
            }
            TicketStatus::Open | TicketStatus::InProgress => {
                assert!(t.resolved_at.is_none() && t.resolution.is_none(), "{t:?}");
            }
        }
        assert!(
            t.time_spent_minutes > 0 || t.status == TicketStatus::Open,
            "{t:?}"
        );
        let tiers: Vec<_> = t.escalations.iter().map(|e| e.to).collect();
        let mut sorted = tiers.clone();
        sorted.sort();
        assert_eq!(tiers, sorted, "escalations go down the chain in order");
    }
}

#[test]
fn the_starter_knowledge_base_is_complete_and_renders() {
    let articles = &DEMO.articles;
    assert!((30..=60).contains(&articles.len()), "{}", articles.len());
    let mut ids = HashSet::new();
    for a in articles {
        assert!(ids.insert(&a.id), "duplicate {:?}", a.id);
        assert!(
            !a.title.is_empty() && !a.category.is_empty() && !a.tags.is_empty(),
            "{a:?}"
        );
        assert!(a.body_markdown.len() > 200, "{:?} is too short", a.id);
        let html = markdown::to_safe_html(&a.body_markdown);
        assert!(html.contains("<p>") || html.contains("<li>"), "{:?}", a.id);
        assert!(a.updated_at < demo::demo_now(TODAY));
    }
    let count = |lang: Language, aud: Audience| {
        articles
            .iter()
            .filter(|a| a.language == lang && a.audience == aud)
            .count()
    };
    assert!(count(Language::Zh, Audience::Public) >= 15);
    assert!(count(Language::En, Audience::Public) >= 15);
    assert!(count(Language::Zh, Audience::Internal) >= 2);
    assert!(count(Language::En, Audience::Internal) >= 2);
}

/// The demo indexed once, for the stories below.
static INDEX: LazyLock<SearchIndex> = LazyLock::new(|| {
    let index = SearchIndex::open_in_ram().unwrap();
    for a in &DEMO.articles {
        index.upsert_article(&a.to_doc()).unwrap();
    }
    for t in &DEMO.tickets {
        index.upsert_ticket(&t.to_doc()).unwrap();
    }
    index.commit().unwrap();
    index
});

#[test]
fn a_merchant_never_sees_another_merchants_ticket_or_an_internal_article() {
    let internal: HashSet<&str> = DEMO
        .articles
        .iter()
        .filter(|a| a.audience == Audience::Internal)
        .map(|a| a.id.0.as_str())
        .collect();
    let owner: BTreeMap<&str, &str> = DEMO
        .tickets
        .iter()
        .map(|t| (t.id.0.as_str(), t.merchant_id.as_str()))
        .collect();
    // Every 23rd merchant with tickets, and one with none.
    let mut merchants: Vec<&str> = owner
        .values()
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    merchants.sort();
    let mut sample: Vec<&str> = merchants.iter().step_by(23).copied().collect();
    sample.push("m-none");
    let queries = [
        "",
        "密码",
        "reset password",
        "扩容",
        "scale out",
        "数据库慢",
        "Too many connections",
        "runbook",
        "黑洞 解封",
        "证书",
        "发票",
        "双11",
        "failover 主备切换",
        "rota",
    ];
    let mut seen_own = 0;
    for m in &sample {
        for q in queries {
            let r = INDEX
                .search(&Query::new(q, Visibility::Merchant((*m).into())).page(0, 100))
                .unwrap();
            for h in &r.hits {
                match &h.doc {
                    DocRef::Ticket(t) => {
                        assert_eq!(owner[t.0.as_str()], *m, "{m} searching {q:?} got {t:?}");
                        seen_own += 1;
                    }
                    DocRef::Article(a) => assert!(
                        !internal.contains(a.0.as_str()),
                        "{m} searching {q:?} got internal {a:?}"
                    ),
                }
            }
            for s in INDEX
                .suggest_articles(q, &Visibility::Merchant((*m).into()), 10)
                .unwrap()
            {
                assert!(!internal.contains(s.id.0.as_str()), "{m}: {s:?}");
            }
        }
    }
    // The property is not vacuous: merchants do find their own tickets.
    assert!(seen_own > 50, "{seen_own}");
}

#[test]
fn demo_clusters_are_the_themes() {
    let tickets: Vec<_> = DEMO.tickets.iter().map(|t| t.to_text()).collect();
    let theme_of: BTreeMap<&str, &str> = DEMO
        .tickets
        .iter()
        .map(|t| (t.id.0.as_str(), t.theme.as_str()))
        .collect();
    let lang_of: BTreeMap<&str, Language> = DEMO
        .tickets
        .iter()
        .map(|t| (t.id.0.as_str(), t.language))
        .collect();
    let c = cluster(&tickets, &ClusterParams::new(demo::demo_now(TODAY)));
    let mut shown = String::new();
    for cl in c.by_volume().into_iter().take(8) {
        let mut themes: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &cl.tickets {
            *themes.entry(theme_of[t.0.as_str()]).or_default() += 1;
        }
        let (top, n) = themes.iter().max_by_key(|(_, n)| **n).unwrap();
        let purity = *n as f64 / cl.size as f64;
        let langs: HashSet<Language> = cl.tickets.iter().map(|t| lang_of[t.0.as_str()]).collect();
        shown.push_str(&format!(
            "{:<10} {:<22} size {:>3} purity {:.2} langs {} \"{}\"\n",
            cl.category,
            top,
            cl.size,
            purity,
            langs.len(),
            cl.label
        ));
    }
    expect![[r#"
        account    password-reset         size  76 purity 1.00 langs 2 "密码 · 重置 · 忘记"
        database   slow-database          size  64 purity 1.00 langs 2 "慢 · 数据库 · 页面"
        capacity   scale-out              size  62 purity 1.00 langs 2 "扩容 · 库存 · 活动"
        compute    ecs-unreachable        size  39 purity 1.00 langs 2 "ssh · 突然 · 故障"
        architecture multi-zone             size  30 purity 1.00 langs 2 "可用区 · 部署 · 多"
        database   too-many-connections   size  29 purity 1.00 langs 2 "连接数 · too · many"
        network    bandwidth              size  25 purity 1.00 langs 2 "带宽 · 升级 · 临时"
        billing    invoice                size  24 purity 1.00 langs 2 "增值税 · 专用发票 · 开具"
    "#]]
    .assert_eq(&shown);
}
