//! The demo's tickets and knowledge base: two years of tickets with the repeated themes
//! of a shop cloud (password resets, scale-out requests, multi-zone deployments, slow
//! databases, certificates, bandwidth, invoices, Double 11 preparation, security alerts,
//! …) in Chinese and English, with bursts before Double 11 and 618, and a starter
//! knowledge base of articles about the same themes.
//!
//! [`generate`] takes the day and the merchants, nothing else; the same inputs always
//! give the same output (a private splitmix64 stream with a fixed seed, like the demo
//! cloud's). [`generate_for_demo_cloud`] takes the merchants from
//! [`cairn_domain::demo::generate`]. The output is plain serde structs for the use-case
//! layer to map onto cairn's records; [`DemoTicket::to_doc`],
//! [`DemoTicket::to_text`] and [`DemoArticle::to_doc`] feed this crate's index and
//! clustering.
//!
//! Shape of the data:
//! - about 4 tickets a day at the start, growing by 60% over the two years (tickets pile
//!   up as sales grow), fewer at weekends, and up to several times more of the
//!   promotion-driven themes in the weeks before Double 11 (half as much before 618);
//! - VIP merchants file four times as many tickets; a merchant writes in one language;
//! - each ticket starts with technical support and may escalate to application ops,
//!   base product ops and developers, with the theme's chances; time spent and the time
//!   to resolve grow with each tier;
//! - some tickets wait days on the merchant; tickets of the last days are still open or
//!   in progress; resolved ones carry the
//!   resolution comment that a draft article can be made from.

mod themes;

use cairn_domain::MerchantId;
use serde::{Deserialize, Serialize};
use time::macros::{offset, time};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Weekday};

use crate::cluster::{Language, TicketText};
use crate::{ArticleDoc, ArticleId, Audience, TicketDoc, TicketId};
use themes::{Theme, EXTRAS_EN, EXTRAS_ZH, THEMES};

/// A merchant as the generator needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoMerchant {
    pub id: MerchantId,
    pub vip: bool,
}

/// The merchants of the demo cloud.
pub fn merchants_of(cloud: &cairn_domain::demo::DemoCloud) -> Vec<DemoMerchant> {
    cloud
        .merchants
        .iter()
        .map(|m| DemoMerchant {
            id: m.id.clone(),
            vip: m.tier == cairn_domain::Tier::Vip,
        })
        .collect()
}

/// How urgent a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TicketStatus {
    Open,
    InProgress,
    Resolved,
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::InProgress => "in-progress",
            TicketStatus::Resolved => "resolved",
            TicketStatus::Closed => "closed",
        }
    }
}

/// The layers of operators a ticket flows through, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// Technical support, facing merchants.
    Support,
    /// Application ops, facing support.
    AppOps,
    /// Base product ops, facing application ops.
    BaseOps,
    /// The developers of the products.
    Developers,
}

const TIERS: [Tier; 4] = [Tier::Support, Tier::AppOps, Tier::BaseOps, Tier::Developers];

/// A hand-over to the next tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub to: Tier,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A demo ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoTicket {
    pub id: TicketId,
    pub merchant_id: MerchantId,
    pub title: String,
    pub body: String,
    pub language: Language,
    pub category: String,
    /// The theme it was generated from (`password-reset`, `scale-out`, …): the truth
    /// that clustering should find.
    pub theme: String,
    pub priority: Priority,
    pub status: TicketStatus,
    /// The tier holding it now, or the last one that worked on it.
    pub tier: Tier,
    pub escalations: Vec<Escalation>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_response_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    /// Handling time over all tiers so far.
    pub time_spent_minutes: u32,
    /// The resolution comment of a resolved or closed ticket.
    pub resolution: Option<String>,
}

impl DemoTicket {
    /// The ticket as the search index takes it.
    pub fn to_doc(&self) -> TicketDoc {
        TicketDoc {
            id: self.id.clone(),
            merchant_id: self.merchant_id.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            category: self.category.clone(),
            status: self.status.as_str().to_owned(),
            created_at: self.created_at,
        }
    }

    /// The ticket as clustering takes it.
    pub fn to_text(&self) -> TicketText {
        TicketText {
            id: self.id.clone(),
            category: self.category.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            created_at: self.created_at,
            time_spent_minutes: self.time_spent_minutes,
        }
    }
}

/// A starter knowledge-base article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoArticle {
    pub id: ArticleId,
    pub title: String,
    pub body_markdown: String,
    pub category: String,
    pub tags: Vec<String>,
    pub audience: Audience,
    pub language: Language,
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl DemoArticle {
    /// The article as the search index takes it.
    pub fn to_doc(&self) -> ArticleDoc {
        ArticleDoc {
            id: self.id.clone(),
            title: self.title.clone(),
            body_markdown: self.body_markdown.clone(),
            category: self.category.clone(),
            tags: self.tags.clone(),
            audience: self.audience,
            version: self.version,
            updated_at: self.updated_at,
        }
    }
}

/// The demo's tickets and articles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demo {
    /// Oldest first.
    pub tickets: Vec<DemoTicket>,
    pub articles: Vec<DemoArticle>,
}

/// How many days of tickets the demo holds.
pub const DAYS: i64 = 730;

/// Tickets per day at the start of the two years, before weekday and promotion effects.
const BASE_PER_DAY: f64 = 4.0;

/// China Standard Time, in which merchants live and "today" is meant.
const CST: time::UtcOffset = offset!(+8);

/// The demo's tickets and articles as of `today` (see the module documentation).
/// Tickets are created up to `today` 18:00 China Standard Time.
pub fn generate(today: Date, merchants: &[DemoMerchant]) -> Demo {
    Demo {
        tickets: tickets(today, merchants),
        articles: articles(today),
    }
}

/// [`generate`] with the merchants of the demo cloud for `today`.
pub fn generate_for_demo_cloud(today: Date) -> Demo {
    let cloud = cairn_domain::demo::generate(today);
    generate(today, &merchants_of(&cloud))
}

/// The moment the demo's data ends: `today` at 18:00 China Standard Time.
pub fn demo_now(today: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(today, time!(18:00))
        .assume_offset(CST)
        .to_offset(offset!(UTC))
}

fn tickets(today: Date, merchants: &[DemoMerchant]) -> Vec<DemoTicket> {
    if merchants.is_empty() {
        return Vec::new();
    }
    let mut rng = Rng(0x7a3c_91d2_0b55_e4f1);
    let now = demo_now(today);
    // VIPs file four times as many tickets as others.
    let weights: Vec<f64> = merchants
        .iter()
        .map(|m| if m.vip { 4.0 } else { 1.0 })
        .collect();
    let total_weight: f64 = THEMES.iter().map(|t| t.weight).sum();
    let mut out = Vec::new();
    let mut seq: u64 = 0;
    for k in 0..=DAYS {
        let day = today - Duration::days(DAYS - k);
        let growth = 1.0 + 0.6 * k as f64 / DAYS as f64;
        let weekday = match day.weekday() {
            Weekday::Saturday | Weekday::Sunday => 0.6,
            _ => 1.0,
        };
        let (d11, d618) = promotion_ramps(day);
        // Everyone is busier before a festival, whatever they ask about.
        let busy = 1.0 + 0.8 * d11 + 0.3 * d618;
        for theme in THEMES {
            let promo = 1.0 + (theme.promo - 1.0) * (d11 + 0.5 * d618);
            let lambda =
                BASE_PER_DAY * theme.weight / total_weight * growth * weekday * busy * promo;
            for _ in 0..rng.poisson(lambda) {
                seq += 1;
                let merchant = &merchants[rng.weighted(&weights)];
                let t = ticket(&mut rng, seq, theme, merchant, day, now);
                if t.created_at <= now {
                    out.push(t);
                }
            }
        }
    }
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    out
}

/// How far `day` is into the run-up of Double 11 and of 618, from 0 (not at all) to 1
/// (the festival day). The run-up starts four weeks before Double 11 and three weeks
/// before 618; a short tail follows each festival.
fn promotion_ramps(day: Date) -> (f64, f64) {
    let ramp = |month: Month, dom: u8, lead: i64| -> f64 {
        let Ok(festival) = Date::from_calendar_date(day.year(), month, dom) else {
            return 0.0;
        };
        let before = (festival - day).whole_days();
        if (0..=lead).contains(&before) {
            1.0 - before as f64 / lead as f64
        } else if (-3..0).contains(&before) {
            0.4
        } else {
            0.0
        }
    };
    (ramp(Month::November, 11, 28), ramp(Month::June, 18, 21))
}

/// The values filled into one ticket's templates, so title, body and resolution agree.
struct Fill {
    n: u32,
    zone: &'static str,
    inst: String,
    rds: String,
    domain: String,
    ip: String,
    conn: u32,
    pct: u32,
}

const ZONES: &[&str] = &[
    "cn-hangzhou-g",
    "cn-hangzhou-h",
    "cn-hangzhou-i",
    "cn-hangzhou-j",
    "cn-shanghai-e",
    "cn-shanghai-f",
    "cn-shanghai-g",
    "cn-beijing-g",
    "cn-beijing-h",
    "cn-beijing-i",
];

impl Fill {
    fn new(rng: &mut Rng, merchant: &DemoMerchant) -> Fill {
        let shop = merchant.id.as_str().trim_start_matches("m-");
        Fill {
            n: [10, 20, 30, 50, 80, 100, 150, 200][rng.below(8)],
            zone: ZONES[rng.below(ZONES.len())],
            inst: format!("i-bp1{:010x}", rng.next() & 0xff_ffff_ffff),
            rds: format!("rm-bp1{:010x}", rng.next() & 0xff_ffff_ffff),
            domain: format!("shop{shop}.example.cn"),
            ip: format!(
                "10.{}.{}.{}",
                rng.below(256),
                rng.below(256),
                1 + rng.below(254)
            ),
            conn: [2000, 4000, 8000][rng.below(3)],
            pct: 85 + rng.below(15) as u32,
        }
    }

    fn apply(&self, template: &str) -> String {
        template
            .replace("{n}", &self.n.to_string())
            .replace("{zone}", self.zone)
            .replace("{inst}", &self.inst)
            .replace("{rds}", &self.rds)
            .replace("{domain}", &self.domain)
            .replace("{ip}", &self.ip)
            .replace("{conn}", &self.conn.to_string())
            .replace("{pct}", &self.pct.to_string())
    }
}

fn ticket(
    rng: &mut Rng,
    seq: u64,
    theme: &Theme,
    merchant: &DemoMerchant,
    day: Date,
    now: OffsetDateTime,
) -> DemoTicket {
    // A merchant writes in one language: about a quarter of them in English.
    let language = if hash(merchant.id.as_str()).is_multiple_of(4) {
        Language::En
    } else {
        Language::Zh
    };
    let (texts, extras) = match language {
        Language::Zh => (&theme.zh, EXTRAS_ZH),
        Language::En => (&theme.en, EXTRAS_EN),
    };
    let fill = Fill::new(rng, merchant);
    let title = fill.apply(texts.titles[rng.below(texts.titles.len())]);
    let mut body = fill.apply(texts.bodies[rng.below(texts.bodies.len())]);
    if rng.chance(0.35) {
        body.push(if language == Language::Zh { '\n' } else { ' ' });
        body.push_str(extras[rng.below(extras.len())]);
    }
    let resolution = fill.apply(texts.resolutions[rng.below(texts.resolutions.len())]);

    // Merchants write in the daytime and evening, China time.
    const HOURS: [f64; 24] = [
        0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0, 3.5, 3.2, 2.0, 2.8, 3.2, 3.0, 2.8, 2.5,
        2.0, 2.0, 2.2, 2.0, 1.2, 0.6,
    ];
    let hour = rng.weighted(&HOURS) as u8;
    let minute = rng.below(60) as u8;
    let created_at = PrimitiveDateTime::new(
        day,
        time::Time::from_hms(hour, minute, rng.below(60) as u8).unwrap_or(time::Time::MIDNIGHT),
    )
    .assume_offset(CST)
    .to_offset(offset!(UTC));

    let mut priority = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ][rng.weighted(&theme.priority)];
    if merchant.vip && priority < Priority::Urgent && rng.chance(0.3) {
        priority = [Priority::Normal, Priority::High, Priority::Urgent][priority as usize];
    }

    // The tiers it goes through.
    let mut reached = 0;
    while reached < 3 && rng.chance(theme.escalate[reached]) {
        reached += 1;
    }
    let fast = merchant.vip || priority >= Priority::High;
    let first_response = Duration::minutes(if fast {
        2 + rng.below(14) as i64
    } else {
        5 + rng.below(86) as i64
    });
    let mut at = created_at + first_response;
    let mut escalations = Vec::new();
    let mut spent = 0u32;
    for (i, tier) in TIERS.iter().enumerate().take(reached + 1) {
        spent +=
            theme.minutes.0 + rng.below((theme.minutes.1 - theme.minutes.0 + 1) as usize) as u32;
        if i > 0 {
            escalations.push(Escalation { to: *tier, at });
        }
        // Time until this tier resolves or hands over: support works in hours,
        // each later tier takes longer, developers days.
        let hours = match tier {
            Tier::Support => 0.3 + 5.0 * rng.unit(),
            Tier::AppOps => 2.0 + 20.0 * rng.unit(),
            Tier::BaseOps => 4.0 + 30.0 * rng.unit(),
            Tier::Developers => 24.0 + 200.0 * rng.unit(),
        };
        let hours = if priority == Priority::Urgent {
            hours / 3.0
        } else {
            hours
        };
        at += Duration::minutes((hours * 60.0) as i64);
    }
    // Some tickets wait on the merchant (a reply, a test, a maintenance window).
    if rng.chance(0.15) {
        at += Duration::minutes(60 + rng.below(71 * 60) as i64);
    }
    let resolved_at = at;

    // What is known as of `now`: a ticket still being worked on has no resolution,
    // and only the escalations and time spent so far.
    let (status, resolved, first_response_at) = if created_at + first_response > now {
        (TicketStatus::Open, None, None)
    } else if resolved_at > now {
        (
            TicketStatus::InProgress,
            None,
            Some(created_at + first_response),
        )
    } else if now - resolved_at > Duration::days(3) {
        (
            TicketStatus::Closed,
            Some(resolved_at),
            Some(created_at + first_response),
        )
    } else {
        (
            TicketStatus::Resolved,
            Some(resolved_at),
            Some(created_at + first_response),
        )
    };
    if resolved.is_none() {
        escalations.retain(|e| e.at <= now);
        let elapsed = (now - created_at).whole_minutes().max(0) as u32;
        spent = spent.min(elapsed / 2);
    }
    let tier = escalations.last().map(|e| e.to).unwrap_or(Tier::Support);

    DemoTicket {
        id: TicketId(format!("tk-{:012x}", splitmix(seq) & 0xffff_ffff_ffff)),
        merchant_id: merchant.id.clone(),
        title,
        body,
        language,
        category: theme.category.to_owned(),
        theme: theme.key.to_owned(),
        priority,
        status,
        tier,
        escalations,
        created_at,
        first_response_at,
        resolved_at: resolved,
        time_spent_minutes: spent,
        resolution: resolved.map(|_| resolution),
    }
}

/// The starter knowledge base, dated relative to `today`.
pub fn articles(today: Date) -> Vec<DemoArticle> {
    parse_articles(include_str!("articles.md"), today)
}

/// Parses the article file: each article starts with `=== <id>`, then `key: value`
/// lines (title, category, tags, audience, age_days, version), then `---` and the
/// Markdown body. The file is part of the crate, so a malformed entry is a bug that the
/// tests catch; here a missing field takes a harmless default.
fn parse_articles(text: &str, today: Date) -> Vec<DemoArticle> {
    let mut out = Vec::new();
    for chunk in text.split("=== ").filter(|c| !c.trim().is_empty()) {
        let (head, body) = chunk.split_once("\n---\n").unwrap_or((chunk, ""));
        let id = head.lines().next().unwrap_or("").trim().to_owned();
        let field = |name: &str| -> String {
            head.lines()
                .skip(1)
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
                .map(|v| v.trim().trim_matches('"').to_owned())
                .unwrap_or_default()
        };
        let title = field("title");
        let age_days: i64 = field("age_days").parse().unwrap_or(0);
        let updated_at = PrimitiveDateTime::new(today - Duration::days(age_days), time!(10:00))
            .assume_offset(CST)
            .to_offset(offset!(UTC));
        out.push(DemoArticle {
            id: ArticleId(id),
            language: if crate::markdown::is_mostly_chinese(&title) {
                Language::Zh
            } else {
                Language::En
            },
            title,
            body_markdown: body.trim().to_owned() + "\n",
            category: field("category"),
            tags: field("tags")
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
            audience: if field("audience") == "internal" {
                Audience::Internal
            } else {
                Audience::Public
            },
            version: field("version").parse().unwrap_or(1),
            updated_at,
        });
    }
    out
}

/// splitmix64: the generator's random stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix_mix(self.0)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// Knuth's method: fine for the small means of tickets per theme per day.
    fn poisson(&mut self, lambda: f64) -> u32 {
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = self.unit();
        while p > limit {
            k += 1;
            p *= self.unit();
        }
        k
    }
}

fn splitmix_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn splitmix(seq: u64) -> u64 {
    splitmix_mix(seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed)
}

/// FNV-1a: a stable hash of a merchant id (std's hasher is not stable across releases).
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
