//! Stories of the index: what merchants and staff find, how it is highlighted, and
//! how writes become visible.

use cairn_search::{DocKind, DocRef, Query, SearchError, SearchIndex, TicketId, Visibility};
use expect_test::{expect, Expect};

use crate::support::*;

fn knowledge_base() -> Vec<cairn_search::ArticleDoc> {
    vec![
        article(
            "kb-rds-password-zh",
            "如何重置 RDS 数据库密码",
            "## 适用场景\n\n忘记了 RDS 实例的高权限账号密码。\n\n## 操作步骤\n\n1. 登录控制台，进入 **实例列表**。\n2. 选择实例，点击 **账号管理**，找到账号后点击 **重置密码**。\n3. 新密码需包含大小写字母、数字和特殊字符，长度 8 到 32 位。\n\n重置密码后，应用的数据库连接串需要同步更新，否则会出现 Access denied 报错。",
        ),
        article(
            "kb-rds-password-en",
            "How to reset an RDS database password",
            "## When\n\nYou have lost the password of an RDS account.\n\n## Steps\n\n1. Sign in to the console and open **Instances**.\n2. Pick the instance, open **Accounts** and click **Reset password**.\n3. The new password needs upper and lower case letters, digits and a symbol, 8 to 32 characters.\n\nAfter a reset, update the connection strings of your applications, or they will fail with `Access denied`.",
        ),
        article(
            "kb-rds-slow-zh",
            "RDS 数据库慢：排查慢查询与连接数",
            "数据库响应变慢时，先看监控中的 CPU、IOPS 和连接数。\n\n- 慢查询日志里找出耗时最长的 SQL，检查是否缺少索引。\n- 连接数接近上限（Too many connections）时，检查应用连接池配置。\n- 大促前请提前升级规格或增加只读实例。",
        ),
        article(
            "kb-scale-out-en",
            "Scaling out before Double 11",
            "Order traffic on Double 11 can be ten times a normal day. Plan your scale-out two weeks ahead:\n\n- add ECS hosts behind your SLB in **more than one zone**;\n- raise the RDS connection limit and add read-only instances;\n- run a load test at the expected peak.",
        ),
        internal(article(
            "kb-runbook-rds-failover",
            "Runbook: RDS primary failover (internal)",
            "Base ops only. When an RDS primary is unhealthy, switch to the standby in the other zone, then check the replication delay and the merchants' connection errors.",
        )),
    ]
}

fn tickets() -> Vec<cairn_search::TicketDoc> {
    vec![
        ticket(
            "t-1",
            "m-1001",
            "RDS 连接数满了",
            "双11预热后 RDS 报 Too many connections，应用大量超时。",
        ),
        ticket(
            "t-2",
            "m-1002",
            "数据库连接失败 Too many connections",
            "我们的 RDS 从昨晚开始连接失败，请帮忙看看。",
        ),
        ticket(
            "t-3",
            "m-1001",
            "Please reset the database password",
            "Our DBA left and nobody knows the root password of the RDS instance.",
        ),
    ]
}

/// Searches as `visibility` and shows each hit as `id | title_html | snippet_html`.
fn check(index: &SearchIndex, query: Query, expect: Expect) {
    let results = index.search(&query).expect("search");
    let mut shown = format!("total {}\n", results.total);
    for h in &results.hits {
        shown.push_str(&format!(
            "{} | {} | {}\n",
            hit_id(h),
            h.title_html,
            h.snippet_html
        ));
    }
    expect.assert_eq(&shown);
}

#[test]
fn a_merchant_finds_the_password_article_in_its_language_first_with_highlights() {
    let index = index_with(&knowledge_base(), &tickets());
    check(
        &index,
        Query::new("忘记数据库密码怎么办？", merchant("m-1001")).kind(DocKind::Article),
        expect![[r#"
            total 2
            kb-rds-password-zh | 如何重置 RDS <mark>数据库</mark><mark>密码</mark> | 适用场景
            <mark>忘记</mark>了 RDS 实例的高权限账号<mark>密码</mark>。
            操作步骤
            登录控制台，进入 实例列表。
            选择实例，点击 账号管理，找到账号后点击 重置<mark>密码</mark>。
            新<mark>密码</mark>需包含大小写字母、数字
            kb-rds-password-en | How to reset an RDS <mark>database</mark> <mark>password</mark> | When
            You have <mark>lost</mark> the <mark>password</mark> of an RDS account.
            Steps
            Sign in to the console and open Instances.
            Pick the instance, open Accounts and click Reset <mark>password</mark>.
            The new <mark>password</mark> needs upper and lower case letters, digits and a symbol, 8 to 32
        "#]],
    );
    check(
        &index,
        Query::new("reset password", merchant("m-1001")).kind(DocKind::Article),
        expect![[r#"
            total 2
            kb-rds-password-en | How to <mark>reset</mark> an RDS database <mark>password</mark> | When
            You have lost the <mark>password</mark> of an RDS account.
            Steps
            Sign in to the console and open Instances.
            Pick the instance, open Accounts and click <mark>Reset</mark> <mark>password</mark>.
            The new <mark>password</mark> needs upper and lower case letters, digits and a symbol, 8 to 32
            kb-rds-password-zh | 如何<mark>重置</mark> RDS 数据库<mark>密码</mark> | 适用场景
            忘记了 RDS 实例的高权限账号<mark>密码</mark>。
            操作步骤
            登录控制台，进入 实例列表。
            选择实例，点击 账号管理，找到账号后点击 <mark>重置</mark><mark>密码</mark>。
            新<mark>密码</mark>需包含大小写字母、数字
        "#]],
    );
}

#[test]
fn mixed_language_queries_match_tickets_in_either_language() {
    let index = index_with(&knowledge_base(), &tickets());
    check(
        &index,
        Query::new("RDS 连接数 too many connections", Visibility::Staff).kind(DocKind::Ticket),
        expect![[r#"
            total 2
            t-2 | 数据库<mark>连接</mark>失败 <mark>Too</mark> <mark>many</mark> <mark>connections</mark> | 我们的 <mark>RDS</mark> 从昨晚开始<mark>连接</mark>失败，请帮忙看看
            t-1 | <mark>RDS</mark> <mark>连接数</mark>满了 | 双11预热后 <mark>RDS</mark> 报 <mark>Too</mark> <mark>many</mark> <mark>connections</mark>，应用大量超时
        "#]],
    );
}

#[test]
fn a_merchant_sees_public_articles_and_its_own_tickets_only() {
    let index = index_with(&knowledge_base(), &tickets());
    for text in ["RDS", "connections 连接", "failover", "", "password 密码"] {
        for m in ["m-1001", "m-1002", "m-9999"] {
            let results = index
                .search(&Query::new(text, merchant(m)).page(0, 100))
                .expect("search");
            for h in &results.hits {
                match &h.doc {
                    DocRef::Ticket(_) => assert_eq!(
                        h.merchant_id.as_ref().map(|m| m.as_str()),
                        Some(m),
                        "{text:?} as {m}: {h:?}"
                    ),
                    DocRef::Article(a) => {
                        assert_eq!(h.audience, Some(cairn_search::Audience::Public), "{a:?}")
                    }
                }
            }
        }
    }
    // The filter is the difference: staff see the runbook and every merchant's tickets.
    assert_eq!(
        ids(&index, &Query::new("failover", Visibility::Staff)),
        ["kb-runbook-rds-failover"]
    );
    assert!(ids(&index, &Query::new("failover", merchant("m-1001"))).is_empty());
    let mut staff_tickets = ids(
        &index,
        &Query::new("Too many connections", Visibility::Staff).kind(DocKind::Ticket),
    );
    staff_tickets.sort();
    assert_eq!(staff_tickets, ["t-1", "t-2"]);
    assert_eq!(
        ids(
            &index,
            &Query::new("Too many connections", merchant("m-1002")).kind(DocKind::Ticket)
        ),
        ["t-2"]
    );
}

#[test]
fn changes_are_visible_after_commit_and_upsert_replaces() {
    let index = index_with(&knowledge_base(), &[]);
    let q = Query::new("SSL 证书", Visibility::Staff);
    assert!(ids(&index, &q).is_empty());

    let mut cert = article(
        "kb-ssl",
        "SSL 证书即将过期",
        "在证书到期前 30 天续费并重新部署到 SLB。",
    );
    index.upsert_article(&cert).unwrap();
    assert!(ids(&index, &q).is_empty(), "not visible before commit");
    index.commit().unwrap();
    assert_eq!(ids(&index, &q), ["kb-ssl"]);

    cert.title = "HTTPS certificate renewal".to_owned();
    cert.body_markdown = "Renew the certificate 30 days before it expires.".to_owned();
    cert.version = 2;
    index.upsert_article(&cert).unwrap();
    index.commit().unwrap();
    let hits = index
        .search(&Query::new("certificate", Visibility::Staff))
        .unwrap();
    assert_eq!(hits.total, 1, "one document per id after an upsert");
    assert_eq!(hits.hits[0].version, Some(2));
    assert!(ids(&index, &Query::new("部署", Visibility::Staff)).is_empty());

    index.delete(&DocRef::Article(cert.id.clone())).unwrap();
    index
        .delete(&DocRef::Ticket(TicketId("never-indexed".to_owned())))
        .unwrap();
    index.commit().unwrap();
    assert!(ids(&index, &Query::new("certificate", Visibility::Staff)).is_empty());
    assert_eq!(index.num_docs(), knowledge_base().len() as u64);
}

#[test]
fn filters_paging_and_totals() {
    let mut kb = knowledge_base();
    kb[0].category = "account".to_owned();
    kb[1].category = "account".to_owned();
    kb[1].tags = vec!["rds".to_owned(), "password".to_owned()];
    kb[2].category = "database".to_owned();
    kb[2].tags = vec!["rds".to_owned()];
    let index = index_with(&kb, &tickets());

    let all = index.search(&Query::new("RDS", Visibility::Staff)).unwrap();
    assert_eq!(all.total, 8);
    let page2 = index
        .search(&Query::new("RDS", Visibility::Staff).page(3, 3))
        .unwrap();
    assert_eq!(page2.total, 8, "the total counts every match, not the page");
    assert_eq!(
        page2.hits.iter().map(hit_id).collect::<Vec<_>>(),
        all.hits[3..6].iter().map(hit_id).collect::<Vec<_>>()
    );

    let mut by_category = ids(
        &index,
        &Query::new("RDS", Visibility::Staff)
            .category("account")
            .category("database"),
    );
    by_category.sort();
    assert_eq!(
        by_category,
        ["kb-rds-password-en", "kb-rds-password-zh", "kb-rds-slow-zh"]
    );
    assert_eq!(
        ids(
            &index,
            &Query::new("RDS", Visibility::Staff)
                .tag("rds")
                .tag("password")
        ),
        ["kb-rds-password-en"]
    );
    assert_eq!(
        ids(
            &index,
            &Query::new("", merchant("m-1002")).kind(DocKind::Ticket)
        ),
        ["t-2"]
    );
}

#[test]
fn an_empty_query_lists_what_is_visible_newest_first() {
    let mut kb = knowledge_base();
    for (i, a) in kb.iter_mut().enumerate() {
        a.updated_at = days_later(i as i64);
    }
    let index = index_with(&kb, &[]);
    assert_eq!(
        ids(&index, &Query::new("  ", merchant("m-1"))),
        [
            "kb-scale-out-en",
            "kb-rds-slow-zh",
            "kb-rds-password-en",
            "kb-rds-password-zh"
        ]
    );
}

#[test]
fn odd_input_never_errors() {
    let index = index_with(&knowledge_base(), &tickets());
    let odd = [
        "\"",
        "\"\"\"",
        "title:",
        ":",
        "(",
        ")",
        "((RDS",
        "RDS)",
        "[1 TO",
        "{*}",
        "*",
        "?",
        "~2",
        "^3",
        "AND",
        "OR NOT",
        "-",
        "+",
        "+-+",
        "\\",
        "'; DROP TABLE tickets; --",
        "<script>",
        "\u{0}",
        "\u{feff}密码",
        "🙂🙂",
        "密码:\"重置\"",
        "title:(\"RDS\" OR",
        "a:b:c",
        "   \t\n ",
        "𠀀𠀁",
        "ｒｅｓｅｔ　ｐａｓｓｗｏｒｄ",
        "%s%s%n",
        "NaN",
        "../../etc/passwd",
    ];
    for text in odd {
        for v in [Visibility::Staff, merchant("m-1001")] {
            index
                .search(&Query::new(text, v.clone()))
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
            index
                .suggest_articles(text, &v, 5)
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        }
    }
    // And random strings over an alphabet of query syntax, letters and Han characters.
    let alphabet: Vec<char> = "\"'():*?~^+-[]{}\\/!&| aZ9数据库密码。，："
        .chars()
        .collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..500 {
        let len = (next(&mut state) % 24) as usize;
        let text: String = (0..len)
            .map(|_| alphabet[(next(&mut state) % alphabet.len() as u64) as usize])
            .collect();
        index
            .search(&Query::new(text.clone(), Visibility::Staff))
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
}

fn next(state: &mut u64) -> u64 {
    // xorshift64: enough randomness for input generation, and reproducible.
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn a_page_size_out_of_range_is_refused_naming_the_field() {
    let index = index_with(&[], &[]);
    for limit in [0, cairn_search::MAX_LIMIT + 1] {
        match index.search(&Query::new("x", Visibility::Staff).page(0, limit)) {
            Err(SearchError::Invalid { field: "limit", .. }) => {}
            other => panic!("limit {limit}: {other:?}"),
        }
    }
}

#[test]
fn suggestions_while_writing_a_ticket() {
    let index = index_with(&knowledge_base(), &tickets());
    let draft = "数据库最近很慢，监控里连接数很高，大促前要不要扩容？";
    let got: Vec<String> = index
        .suggest_articles(draft, &merchant("m-1001"), 3)
        .unwrap()
        .into_iter()
        .map(|s| s.id.0)
        .collect();
    assert_eq!(got[0], "kb-rds-slow-zh", "{got:?}");

    // A merchant is never shown the internal runbook, which staff do get.
    let draft = "RDS primary failover, replication delay in the other zone";
    let merchant_ids: Vec<String> = index
        .suggest_articles(draft, &merchant("m-1001"), 5)
        .unwrap()
        .into_iter()
        .map(|s| s.id.0)
        .collect();
    assert!(!merchant_ids.contains(&"kb-runbook-rds-failover".to_owned()));
    let staff = index
        .suggest_articles(draft, &Visibility::Staff, 5)
        .unwrap();
    assert_eq!(staff[0].id.0, "kb-runbook-rds-failover");
    // Suggestions are articles only, never tickets.
    assert!(index
        .suggest_articles("Too many connections", &Visibility::Staff, 10)
        .unwrap()
        .iter()
        .all(|s| s.id.0.starts_with("kb-")));
}

#[test]
fn the_index_on_disk_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("search");
    {
        let index = SearchIndex::open(&path).unwrap();
        for a in knowledge_base() {
            index.upsert_article(&a).unwrap();
        }
        index.commit().unwrap();
        // Queued but never committed: lost on close, as documented.
        index
            .upsert_ticket(&ticket("t-lost", "m-1", "zebra", "never committed"))
            .unwrap();
    }
    let index = SearchIndex::open(&path).unwrap();
    assert_eq!(index.num_docs(), knowledge_base().len() as u64);
    assert_eq!(
        ids(&index, &Query::new("Double 11", Visibility::Staff))[0],
        "kb-scale-out-en"
    );
    assert!(ids(&index, &Query::new("zebra", Visibility::Staff)).is_empty());
}

#[test]
fn searches_run_from_several_threads_while_writes_commit() {
    let index = std::sync::Arc::new(index_with(&knowledge_base(), &tickets()));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let index = index.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let r = index
                        .search(&Query::new("RDS 密码", merchant("m-1001")))
                        .unwrap();
                    assert!(r.total >= 2);
                }
            })
        })
        .collect();
    for i in 0..20 {
        index
            .upsert_article(&article(
                &format!("kb-new-{i}"),
                "扩容 FAQ",
                "扩容前请确认库存。",
            ))
            .unwrap();
        if i % 5 == 4 {
            index.commit().unwrap();
        }
    }
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(
        index
            .search(&Query::new("扩容 FAQ", Visibility::Staff))
            .unwrap()
            .total,
        20,
        "every new article, each once"
    );
}
