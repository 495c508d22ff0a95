//! A small bilingual glossary of the merchant cloud's support vocabulary, which lets
//! Chinese and English text meet: "重置密码" and "password reset" share no token, yet
//! they are the same request.
//!
//! Each entry is a *concept* with the words that mean it in either language. Words are
//! written as people write them and pass through the [tokenizer](crate::tokenizer) when
//! the glossary is built, so an entry never has to guess a stem; a test checks that each
//! one is a single token, so that an entry that cannot match is noticed.
//!
//! Two users:
//! - search expands a query's words with the other words of their concept, at a lower
//!   weight than the words typed ("password" also finds "密码", ranked below);
//! - clustering counts concepts instead of words, so tickets in both languages about the
//!   same thing land in one cluster.
//!
//! It is deliberately small and hand-made: the themes of a merchant cloud's tickets,
//! not a dictionary. Words that are not in it keep their own identity.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::tokenizer::{terms, Segmentation};

/// Concepts: a name (the first English word) and words in either language.
const ENTRIES: &[&[&str]] = &[
    &["password", "passwords", "passwd", "pwd", "密码"],
    &["reset", "重置", "重设", "找回"],
    &["forget", "forgot", "forgotten", "lost", "忘记", "遗忘"],
    &["login", "logon", "signin", "登录", "登陆"],
    &["account", "账号", "帐号", "账户"],
    &["scale", "scaling", "expand", "expansion", "扩容", "扩充"],
    &[
        "server",
        "servers",
        "host",
        "hosts",
        "machine",
        "主机",
        "服务器",
        "机器",
    ],
    &["zone", "zones", "az", "可用区", "机房"],
    &["multi", "multiple", "多"],
    &["deploy", "deployment", "部署"],
    &["database", "databases", "db", "数据库"],
    &["slow", "slowly", "latency", "慢", "缓慢", "变慢", "卡顿"],
    &["query", "queries", "查询"],
    &["connection", "connections", "connect", "连接", "连接数"],
    &["certificate", "certificates", "cert", "ssl", "tls", "证书"],
    &["expire", "expired", "expiry", "过期", "到期"],
    &["bandwidth", "带宽"],
    &["traffic", "流量"],
    &["invoice", "invoices", "发票"],
    &["bill", "billing", "账单", "扣费"],
    &["double", "双"],
    &["promotion", "sale", "sales", "大促", "促销", "活动"],
    &["security", "secure", "安全"],
    &[
        "alert", "alerts", "alarm", "warning", "告警", "报警", "警告",
    ],
    &["attack", "attacks", "ddos", "攻击"],
    &["vulnerability", "vulnerabilities", "漏洞"],
    &["backup", "backups", "备份"],
    &["restore", "recover", "recovery", "恢复"],
    &["disk", "disks", "storage", "磁盘", "硬盘", "存储"],
    &["memory", "ram", "内存"],
    &["load", "负载"],
    &["balancer", "balancing", "slb", "均衡", "负载均衡"],
    &["domain", "dns", "域名", "解析", "域名解析"],
    &["upgrade", "upgrades", "升级"],
    &["error", "errors", "报错", "错误"],
    &["fail", "failed", "failure", "失败"],
    &["timeout", "timeouts", "超时"],
    &["instance", "instances", "实例"],
    &["monitor", "monitoring", "监控"],
    &["refund", "退款"],
    &["capacity", "quota", "容量", "配额"],
    &["release", "释放"],
    &["migrate", "migration", "迁移"],
    &[
        "config",
        "configuration",
        "configure",
        "settings",
        "配置",
        "设置",
    ],
    &["permission", "permissions", "权限"],
    &["key", "keys", "密钥"],
    &["firewall", "waf", "防火墙"],
    &["whitelist", "allowlist", "白名单"],
    &["log", "logs", "日志"],
    &[
        "malware", "backdoor", "trojan", "botnet", "木马", "后门", "肉鸡",
    ],
    &[
        "outage",
        "downtime",
        "unavailable",
        "宕机",
        "故障",
        "不可用",
    ],
    &["payment", "pay", "支付", "付款"],
    &["renew", "renewal", "续费"],
    &["cache", "redis", "缓存"],
    &["index", "indexes", "索引"],
    &["order", "orders", "订单"],
    &["shop", "store", "店铺", "网店"],
    &["test", "testing", "压测", "测试"],
    &["cpu", "处理器"],
    &["upload", "上传"],
    &["download", "下载"],
    &["image", "images", "镜像"],
    &["snapshot", "snapshots", "快照"],
    &["stock", "inventory", "库存"],
    &["pool", "资源池"],
    &["request", "apply", "申请"],
    &["suddenly", "突然"],
    &["site", "website", "网站"],
    &["mining", "miner", "挖矿"],
    &["blackhole", "黑洞"],
    &["unblock", "解封"],
    &["process", "进程"],
    &["file", "files", "文件"],
    &["effect", "生效"],
    &["delete", "deleted", "dropped", "删除", "误删"],
    &["data", "数据"],
    &["table", "tables", "表"],
    &["response", "响应"],
    &["page", "pages", "页面"],
    &["restart", "reboot", "rebooted", "重启"],
    &["vat", "增值税"],
    &["tax", "税号"],
    &["void", "作废", "红冲"],
    &["reissue", "重开"],
    &["old", "旧"],
    &["urgent", "紧急"],
];

struct Glossary {
    /// Term (as the tokenizer emits it) → index of its concept.
    concept_of: HashMap<String, usize>,
    /// Per concept: its name and its terms, in entry order.
    concepts: Vec<(String, Vec<String>)>,
}

static GLOSSARY: LazyLock<Glossary> = LazyLock::new(|| {
    let mut concept_of = HashMap::new();
    let mut concepts = Vec::new();
    for (i, words) in ENTRIES.iter().enumerate() {
        let mut ts: Vec<String> = Vec::new();
        for w in words.iter() {
            // An entry that is not a single token cannot match; the test below catches
            // it, and here it is simply skipped.
            if let [t] = terms(w, Segmentation::Precise).as_slice() {
                if !ts.contains(t) {
                    ts.push(t.clone());
                }
            }
        }
        for t in &ts {
            concept_of.entry(t.clone()).or_insert(i);
        }
        concepts.push((format!("@{}", words[0]), ts));
    }
    Glossary {
        concept_of,
        concepts,
    }
});

/// The concept a term belongs to, as a token that cannot collide with a word
/// (`"@password"` for "密码", "password" and "passwords").
pub fn concept(term: &str) -> Option<&'static str> {
    let g = &*GLOSSARY;
    g.concept_of.get(term).map(|&i| g.concepts[i].0.as_str())
}

/// The other terms that mean what `term` means, in either language.
pub fn equivalents(term: &str) -> impl Iterator<Item = &'static str> + '_ {
    let g = &*GLOSSARY;
    let words: &'static [String] = match g.concept_of.get(term) {
        Some(&i) => &g.concepts[i].1,
        None => &[],
    };
    words.iter().map(String::as_str).filter(move |w| *w != term)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_glossary_word_is_one_token_so_it_can_match() {
        let mut bad = Vec::new();
        for words in ENTRIES {
            for w in words.iter() {
                let ts = terms(w, Segmentation::Precise);
                if ts.len() != 1 {
                    bad.push(format!("{w} → {ts:?}"));
                }
            }
        }
        assert!(
            bad.is_empty(),
            "glossary words that are not one token: {bad:#?}"
        );
    }

    #[test]
    fn chinese_and_english_words_share_a_concept() {
        assert_eq!(concept("密码"), Some("@password"));
        let stemmed = terms("passwords", Segmentation::Precise);
        assert_eq!(concept(&stemmed[0]), Some("@password"));
        assert_eq!(
            concept("扩容"),
            concept(&terms("scaling", Segmentation::Precise)[0])
        );
        assert_eq!(concept("天气"), None);
        let eq: Vec<&str> = equivalents("密码").collect();
        assert!(eq.contains(&"password") && !eq.contains(&"密码"), "{eq:?}");
    }
}
