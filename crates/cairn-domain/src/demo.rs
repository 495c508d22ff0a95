//! The deterministic demo cloud: a Tmall-Jushita-like merchant cloud to load into an
//! empty cairn so that every screen, report and detector has something realistic to
//! work on.
//!
//! [`generate`] builds, from nothing but the date it is given:
//! - three regions (华东1 杭州, 华东2 上海, 华北2 北京) with ten zones between them;
//! - six products (ECS, SLB, RDS, OSS, OTS, ODPS) and 42 pools selling them per zone;
//! - about 2,100 physical hosts in racks (`hz-g-r012`), serving the host-backed pools
//!   (ECS and RDS), plus spare and retired machines;
//! - 524 merchants: 500 sellers with Chinese shop names and 24 ISVs (software vendors
//!   serving sellers), about 4% of them VIP;
//! - about 18,500 instances whose per-pool usage stays within capacity, with pools
//!   spread between about 30% and 96% used;
//! - a layered, acyclic full-chain service topology of platform and merchant services;
//! - a promotion calendar (Double 11, 618, regional and merchant sales) around `today`.
//!
//! Determinism: the generator draws from a private splitmix64 stream with a fixed seed,
//! so the same `today` always yields exactly the same cloud. The fleet (everything but
//! the promotions) does not depend on `today` at all, so a demo loaded on different days
//! differs only in its calendar. Floating-point units are all multiples of 0.5, so sums
//! of them are exact whatever order they are added in.
//!
//! The demo also plants dispersal risks for later features to find: a handful of
//! merchants run all their instances on one host, and another handful run many
//! instances but all in one zone. [`DemoCloud::single_host_merchants`] and
//! [`DemoCloud::single_zone_merchants`] find them from the data itself, so they stay
//! correct for any cloud shaped like this one, not only for the planted merchants.
//!
//! Like the rest of the crate this module is pure: no I/O, no system clock, no `rand`.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

use time::macros::{offset, time};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::{
    Dependency, DependencyId, Host, HostId, HostState, Instance, InstanceId, InstanceState,
    Merchant, MerchantId, Pool, PoolId, Product, ProductId, Promotion, PromotionId, PromotionScope,
    Region, RegionId, Service, ServiceId, Tier, Zone, ZoneId,
};

/// A merchant needs at least this many live instances, all on one host, to count as a
/// single-host risk: one or two instances on a host is just a small shop, not a
/// deployment that a single hardware fault takes down entirely.
pub const SINGLE_HOST_MIN_INSTANCES: usize = 3;

/// A merchant needs at least this many live instances, all in one zone, to count as a
/// single-zone risk: a large deployment that could have spread over zones but did not.
pub const SINGLE_ZONE_MIN_INSTANCES: usize = 20;

/// The complete demo cloud, one vector per kind, in [`crate::Kind::load_order`].
#[derive(Debug, Clone, PartialEq)]
pub struct DemoCloud {
    pub regions: Vec<Region>,
    pub zones: Vec<Zone>,
    pub products: Vec<Product>,
    pub pools: Vec<Pool>,
    pub hosts: Vec<Host>,
    pub merchants: Vec<Merchant>,
    pub instances: Vec<Instance>,
    pub services: Vec<Service>,
    pub dependencies: Vec<Dependency>,
    pub promotions: Vec<Promotion>,
}

impl DemoCloud {
    /// Merchants with at least [`SINGLE_HOST_MIN_INSTANCES`] live (not released)
    /// instances that all run on the same host, sorted by id.
    pub fn single_host_merchants(&self) -> Vec<MerchantId> {
        self.concentrated(SINGLE_HOST_MIN_INSTANCES, |i| i.host_id.as_ref())
    }

    /// Merchants with at least [`SINGLE_ZONE_MIN_INSTANCES`] live (not released)
    /// instances that all sit in pools of the same zone, sorted by id.
    pub fn single_zone_merchants(&self) -> Vec<MerchantId> {
        let zone_of: HashMap<&PoolId, &ZoneId> =
            self.pools.iter().map(|p| (&p.id, &p.zone_id)).collect();
        self.concentrated(SINGLE_ZONE_MIN_INSTANCES, |i| {
            zone_of.get(&i.pool_id).copied()
        })
    }

    /// Merchants with at least `min` live instances that all share one place, where
    /// `place` says where an instance is (`None`: nowhere in particular, e.g. an SLB
    /// instance has no host, which rules its merchant out).
    fn concentrated<'a, K: Eq>(
        &'a self,
        min: usize,
        place: impl Fn(&'a Instance) -> Option<K>,
    ) -> Vec<MerchantId> {
        // Per merchant: the live instance count and the place every instance so far
        // shares, which becomes `None` for good as soon as two differ.
        let mut by_merchant: BTreeMap<&MerchantId, (usize, Option<K>)> = BTreeMap::new();
        for i in self
            .instances
            .iter()
            .filter(|i| i.state != InstanceState::Released)
        {
            let here = place(i);
            match by_merchant.entry(&i.merchant_id) {
                Entry::Vacant(e) => {
                    e.insert((1, here));
                }
                Entry::Occupied(mut e) => {
                    let (count, shared) = e.get_mut();
                    *count += 1;
                    if *shared != here {
                        *shared = None;
                    }
                }
            }
        }
        by_merchant
            .into_iter()
            .filter(|(_, (count, shared))| *count >= min && shared.is_some())
            .map(|(m, _)| m.clone())
            .collect()
    }
}

/// Builds the demo cloud. The same `today` always gives exactly the same cloud.
///
/// Promotions are placed relative to `today` by these rules:
/// - For each yearly festival (Double 11 on 11 November, 618 on 18 June) the *past*
///   occurrence is the latest one whose festival day is on or before `today`, and the
///   *next* occurrence is the one a year later. Both are global. The window of each
///   runs from its presale start (1 November, 1 June) 00:00 to the festival day
///   23:59:59 China Standard Time (+08:00), so on 2026-11-05 the "next" Double 11
///   (2026) is already running while the "past" one is 2025's.
/// - Regional festivals (Shanghai's 五五购物节, Beijing's 年货节) appear once, at their
///   first occurrence that has not ended before `today`.
/// - Three VIP merchants have brand days: two in the coming weeks and one a month ago.
///
/// All timestamps are stored in UTC. `today` must lie at least a year inside the range
/// of [`time::Date`], as the calendar looks one year ahead.
pub fn generate(today: Date) -> DemoCloud {
    let mut b = Builder::new();
    b.catalogue();
    b.hosts();
    b.merchants();
    b.plant_dispersal_risks();
    b.give_every_merchant_an_instance();
    b.fill_pools();
    b.services();
    b.promotions(today);
    b.cloud
}

// ---------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------

/// The fixed seed: changing it reshuffles the whole demo, so tests pin its properties
/// rather than particular ids.
const SEED: u64 = 0x00CA_1B2D_2026_1111;

/// splitmix64: tiny, fast and well mixed. The demo needs reproducible variety, not
/// statistical or cryptographic quality, and the crate takes no `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`, from the top 53 bits so every value is exact.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform index in `0..n` (`n > 0`), by multiply-shift, which has no modulo bias
    /// worth speaking of at these sizes.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A uniform integer in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// Picks a value from `(value, weight)` pairs with probability proportional to its
    /// weight.
    fn weighted<T: Copy>(&mut self, xs: &[(T, u32)]) -> T {
        let total: u32 = xs.iter().map(|&(_, w)| w).sum();
        let mut r = self.below(total as usize) as u32;
        for &(v, w) in xs {
            if r < w {
                return v;
            }
            r -= w;
        }
        xs[xs.len() - 1].0
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------------
// The catalogue: regions, zones, products
// ---------------------------------------------------------------------------------

struct RegionSpec {
    id: &'static str,
    name: &'static str,
    city: &'static str,
    /// The short form used in rack and host names (`hz-g-r012`).
    short: &'static str,
    /// The infix of instance ids, as the real cloud's `i-bp...` in Hangzhou.
    infix: &'static str,
    /// Relative share of merchants whose business is based here.
    home_share: u32,
    zones: &'static [ZoneSpec],
}

/// A zone and what is sold in it. Host counts are for the host-backed pools; the
/// flags say whether the zone has an OSS, OTS or ODPS pool (ECS and SLB are
/// everywhere, RDS wherever it has hosts).
struct ZoneSpec {
    letter: &'static str,
    ecs_hosts: usize,
    rds_hosts: usize,
    oss: bool,
    ots: bool,
    odps: bool,
}

const fn zone(
    letter: &'static str,
    ecs_hosts: usize,
    rds_hosts: usize,
    [oss, ots, odps]: [bool; 3],
) -> ZoneSpec {
    ZoneSpec {
        letter,
        ecs_hosts,
        rds_hosts,
        oss,
        ots,
        odps,
    }
}

/// Hangzhou is the biggest and busiest region, as it is for the real merchant cloud;
/// Shanghai's zone G is a newer, compute-only zone without RDS.
const REGIONS: &[RegionSpec] = &[
    RegionSpec {
        id: "cn-hangzhou",
        name: "华东1 杭州 (East China 1)",
        city: "杭州",
        short: "hz",
        infix: "bp",
        home_share: 55,
        zones: &[
            zone("g", 200, 55, [true, true, true]),
            zone("h", 190, 50, [true, true, false]),
            zone("i", 180, 45, [false, false, false]),
            zone("j", 150, 40, [false, false, false]),
        ],
    },
    RegionSpec {
        id: "cn-shanghai",
        name: "华东2 上海 (East China 2)",
        city: "上海",
        short: "sh",
        infix: "uf",
        home_share: 25,
        zones: &[
            zone("e", 170, 45, [true, true, true]),
            zone("f", 150, 40, [true, false, false]),
            zone("g", 120, 0, [false, false, false]),
        ],
    },
    RegionSpec {
        id: "cn-beijing",
        name: "华北2 北京 (North China 2)",
        city: "北京",
        short: "bj",
        infix: "2z",
        home_share: 20,
        zones: &[
            zone("g", 150, 40, [true, true, true]),
            zone("h", 130, 35, [true, false, false]),
            zone("i", 110, 30, [false, false, false]),
        ],
    },
];

/// The products the demo sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prod {
    Ecs,
    Slb,
    Rds,
    Oss,
    Ots,
    Odps,
}

impl Prod {
    const ALL: [Prod; 6] = [
        Prod::Ecs,
        Prod::Slb,
        Prod::Rds,
        Prod::Oss,
        Prod::Ots,
        Prod::Odps,
    ];

    fn id(self) -> &'static str {
        match self {
            Prod::Ecs => "ecs",
            Prod::Slb => "slb",
            Prod::Rds => "rds",
            Prod::Oss => "oss",
            Prod::Ots => "ots",
            Prod::Odps => "odps",
        }
    }

    /// Whether instances run on the pool's physical hosts (and so carry a host id).
    fn host_backed(self) -> bool {
        matches!(self, Prod::Ecs | Prod::Rds)
    }

    /// The prefix of instance ids, as the real cloud names them.
    fn instance_prefix(self) -> &'static str {
        match self {
            Prod::Ecs => "i",
            Prod::Slb => "lb",
            Prod::Rds => "rm",
            Prod::Oss => "oss",
            Prod::Ots => "ots",
            Prod::Odps => "odps",
        }
    }

    /// The product's catalogue entry: name, unit, lead time in days, description.
    /// Lead times are how long new hardware takes from order to sellable capacity;
    /// storage and big-data clusters take longest as they are bought in large batches.
    fn catalogue(self) -> (&'static str, &'static str, u32, &'static str) {
        match self {
            Prod::Ecs => (
                "云服务器 ECS",
                "vCPU",
                45,
                "Elastic Compute Service: virtual machines on the pool's hosts; \
                 capacity is the hosts' vCPUs.",
            ),
            Prod::Slb => (
                "负载均衡 SLB",
                "instance",
                30,
                "Server Load Balancer: capacity is the number of load-balancer \
                 instances the zone's clusters can carry.",
            ),
            Prod::Rds => (
                "云数据库 RDS",
                "vCPU",
                45,
                "Relational Database Service (MySQL, PostgreSQL) on dedicated \
                 database hosts; capacity is the hosts' vCPUs.",
            ),
            Prod::Oss => (
                "对象存储 OSS",
                "TiB",
                60,
                "Object Storage Service: buckets for images, logs and archives.",
            ),
            Prod::Ots => (
                "表格存储 OTS",
                "CU",
                40,
                "Tablestore: wide-column NoSQL tables, sold in capacity units.",
            ),
            Prod::Odps => (
                "大数据计算 MaxCompute (ODPS)",
                "CU",
                60,
                "MaxCompute: batch analytics projects, sold in compute units.",
            ),
        }
    }

    /// The smallest instance the product sells, in its unit.
    fn min_units(self) -> f64 {
        match self {
            Prod::Ecs | Prod::Rds => 2.0,
            Prod::Slb => 1.0,
            Prod::Oss => 0.5,
            Prod::Ots => 10.0,
            Prod::Odps => 50.0,
        }
    }
}

/// Draws a plausible instance of `prod`: its spec and its size in the product's unit.
/// Small instances dominate, as they do on a real merchant cloud, with a long tail of
/// large ones.
fn draw_instance(rng: &mut Rng, prod: Prod) -> (String, f64) {
    match prod {
        Prod::Ecs => {
            let family = rng.pick(&["g7", "c7", "r7", "g8i"]);
            let (size, vcpu) = rng.weighted(&[
                (("large", 2), 30),
                (("xlarge", 4), 30),
                (("2xlarge", 8), 22),
                (("4xlarge", 16), 12),
                (("8xlarge", 32), 5),
                (("16xlarge", 64), 1),
            ]);
            (format!("ecs.{family}.{size}"), f64::from(vcpu))
        }
        Prod::Rds => {
            let engine = rng.weighted(&[("mysql", 80), ("pg", 20)]);
            let (class, vcpu) = rng.weighted(&[
                (("s2.large", 2), 25),
                (("m1.medium", 4), 30),
                (("c2.xlarge", 8), 25),
                (("x4.2xlarge", 16), 15),
                (("x8.4xlarge", 32), 5),
            ]);
            (format!("rds.{engine}.{class}"), f64::from(vcpu))
        }
        Prod::Slb => {
            let spec = rng.weighted(&[
                ("slb.s1.small", 40),
                ("slb.s2.small", 30),
                ("slb.s2.medium", 20),
                ("slb.s3.large", 10),
            ]);
            (spec.to_owned(), 1.0)
        }
        Prod::Oss => {
            let class = rng.weighted(&[("standard", 60), ("ia", 25), ("archive", 15)]);
            // Cubing a uniform draw gives a long tail: most buckets are a few TiB,
            // a few hold tens. Rounded to half a TiB to keep sums exact.
            let tib = ((0.5 + rng.unit().powi(3) * 60.0) * 2.0).round() / 2.0;
            (format!("oss.{class}.bucket"), tib)
        }
        Prod::Ots => {
            let kind = rng.weighted(&[("high-performance", 40), ("capacity", 60)]);
            let cu = ((10.0 + rng.unit().powi(2) * 300.0) / 10.0).round() * 10.0;
            (format!("ots.{kind}"), cu)
        }
        Prod::Odps => {
            let cu = ((50.0 + rng.unit().powi(3) * 2000.0) / 50.0).round() * 50.0;
            (format!("odps.prepaid.{cu}cu"), cu)
        }
    }
}

/// Pools pushed to the edge on purpose, so capacity reports have something urgent:
/// Hangzhou H's ECS, Hangzhou G's RDS, Shanghai E's SLB and Hangzhou G's MaxCompute.
/// Every other pool gets a utilisation between 30% and 88%.
const HOT_POOLS: &[(&str, &str, f64)] = &[
    ("ecs", "cn-hangzhou-h", 0.96),
    ("rds", "cn-hangzhou-g", 0.95),
    ("slb", "cn-shanghai-e", 0.93),
    ("odps", "cn-hangzhou-g", 0.92),
];

/// Hosts per rack; a new group of hosts (ECS, RDS, spare, retired) starts a new rack,
/// so racks are homogeneous, as they are when bought and installed in batches.
const HOSTS_PER_RACK: usize = 20;

// ---------------------------------------------------------------------------------
// Merchants
// ---------------------------------------------------------------------------------

/// Shop-name parts with their pinyin, for names such as 江南茶叶旗舰店 and email
/// domains such as `jiangnanchaye.com`. The names are invented, not real brands.
const NAME_PREFIXES: &[(&str, &str)] = &[
    ("江南", "jiangnan"),
    ("云裳", "yunshang"),
    ("青禾", "qinghe"),
    ("半亩", "banmu"),
    ("花间", "huajian"),
    ("北极", "beiji"),
    ("森屿", "senyu"),
    ("茶语", "chayu"),
    ("暖阳", "nuanyang"),
    ("小米粒", "xiaomili"),
    ("山野", "shanye"),
    ("西子", "xizi"),
    ("锦绣", "jinxiu"),
    ("橙心", "chengxin"),
    ("星河", "xinghe"),
    ("竹里", "zhuli"),
    ("南山", "nanshan"),
    ("初见", "chujian"),
    ("悦己", "yueji"),
    ("麦田", "maitian"),
    ("拾光", "shiguang"),
    ("知味", "zhiwei"),
    ("蓝鲸", "lanjing"),
    ("九州", "jiuzhou"),
    ("鹿角", "lujiao"),
];

const NAME_CATEGORIES: &[(&str, &str)] = &[
    ("服饰", "fushi"),
    ("茶叶", "chaye"),
    ("母婴", "muying"),
    ("数码", "shuma"),
    ("家居", "jiaju"),
    ("美妆", "meizhuang"),
    ("零食", "lingshi"),
    ("户外", "huwai"),
    ("宠物", "chongwu"),
    ("鞋包", "xiebao"),
    ("珠宝", "zhubao"),
    ("生鲜", "shengxian"),
];

const NAME_SUFFIXES: &[&str] = &["旗舰店", "专营店", "官方店", "专卖店"];

const ISV_KINDS: &[(&str, &str)] = &[
    ("科技", "tech"),
    ("软件", "soft"),
    ("数据", "data"),
    ("云服", "cloud"),
];

const SELLERS: usize = 500;
const ISVS: usize = 24;
/// About 4% of all merchants.
const VIPS: usize = 21;
/// How many merchants of each planted dispersal risk there are.
const PLANTED_RISKS: usize = 5;

/// What the generator intends for a merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Instances are spread by weighted draws over all pools, favouring its home region.
    Regular,
    /// All instances on one host.
    SingleHost,
    /// Many instances, all in one zone.
    SingleZone,
}

struct MerchantInfo {
    home: usize,
    vip: bool,
    isv: bool,
    plan: Plan,
}

// ---------------------------------------------------------------------------------
// The builder
// ---------------------------------------------------------------------------------

/// What the generator knows about a zone beyond its record.
struct ZoneInfo {
    region: usize,
    spec: &'static ZoneSpec,
    ecs_pool: usize,
    slb_pool: usize,
    rds_pool: Option<usize>,
}

/// What the generator tracks per pool while placing instances.
struct PoolInfo {
    prod: Prod,
    zone: usize,
    /// Indices into `cloud.hosts` of the hosts serving the pool.
    hosts: Vec<usize>,
    /// Units taken by live instances.
    used: f64,
}

#[derive(Debug, Clone, Copy)]
enum HostRole {
    Serving(usize),
    Spare,
    Retired,
}

struct Builder {
    rng: Rng,
    cloud: DemoCloud,
    zones: Vec<ZoneInfo>,
    pools: Vec<PoolInfo>,
    /// Free vCPUs per host (0 for hosts serving no pool).
    host_free: Vec<f64>,
    merchants: Vec<MerchantInfo>,
    /// Per region, cumulative draw weights over `merchants` for filling pools there.
    region_weights: Vec<Vec<f64>>,
    next_instance: u64,
}

impl Builder {
    fn new() -> Self {
        Builder {
            rng: Rng(SEED),
            cloud: DemoCloud {
                regions: Vec::new(),
                zones: Vec::new(),
                products: Vec::new(),
                pools: Vec::new(),
                hosts: Vec::new(),
                merchants: Vec::new(),
                instances: Vec::new(),
                services: Vec::new(),
                dependencies: Vec::new(),
                promotions: Vec::new(),
            },
            zones: Vec::new(),
            pools: Vec::new(),
            host_free: Vec::new(),
            merchants: Vec::new(),
            region_weights: Vec::new(),
            next_instance: 1,
        }
    }

    /// Regions, zones, products and pools. Host-backed pools get their capacity later,
    /// from the hosts that serve them.
    fn catalogue(&mut self) {
        for p in Prod::ALL {
            let (name, unit, lead_time_days, description) = p.catalogue();
            self.cloud.products.push(Product {
                id: ProductId::new(p.id()),
                name: name.to_owned(),
                unit: unit.to_owned(),
                lead_time_days,
                description: Some(description.to_owned()),
            });
        }
        for (ri, r) in REGIONS.iter().enumerate() {
            self.cloud.regions.push(Region {
                id: RegionId::new(r.id),
                name: r.name.to_owned(),
            });
            for z in r.zones {
                let zone_id = format!("{}-{}", r.id, z.letter);
                let zi = self.zones.len();
                self.cloud.zones.push(Zone {
                    id: ZoneId::new(zone_id.as_str()),
                    region_id: RegionId::new(r.id),
                    name: format!("{} 可用区{}", r.city, z.letter.to_uppercase()),
                });
                let ecs_pool = self.add_pool(Prod::Ecs, zi, &zone_id, 0.0);
                // Load balancers scale with the compute they front: about two per ECS
                // host, rounded to the fifty the network team plans in.
                let slb_capacity = (z.ecs_hosts as f64 * 2.0 / 50.0).round() * 50.0;
                let slb_pool = self.add_pool(Prod::Slb, zi, &zone_id, slb_capacity);
                let rds_pool =
                    (z.rds_hosts > 0).then(|| self.add_pool(Prod::Rds, zi, &zone_id, 0.0));
                if z.oss {
                    let tib = 2000.0 + 500.0 * self.rng.below(8) as f64;
                    self.add_pool(Prod::Oss, zi, &zone_id, tib);
                }
                if z.ots {
                    let cu = 4000.0 + 1000.0 * self.rng.below(5) as f64;
                    self.add_pool(Prod::Ots, zi, &zone_id, cu);
                }
                if z.odps {
                    let cu = 20000.0 + 5000.0 * self.rng.below(4) as f64;
                    self.add_pool(Prod::Odps, zi, &zone_id, cu);
                }
                self.zones.push(ZoneInfo {
                    region: ri,
                    spec: z,
                    ecs_pool,
                    slb_pool,
                    rds_pool,
                });
            }
        }
    }

    fn add_pool(&mut self, prod: Prod, zone: usize, zone_id: &str, capacity: f64) -> usize {
        self.cloud.pools.push(Pool {
            id: PoolId::new(format!("pool-{}-{zone_id}", prod.id())),
            product_id: ProductId::new(prod.id()),
            zone_id: ZoneId::new(zone_id),
            capacity,
        });
        self.pools.push(PoolInfo {
            prod,
            zone,
            hosts: Vec::new(),
            used: 0.0,
        });
        self.pools.len() - 1
    }

    /// Racks of hosts per zone: ECS hosts, RDS hosts, spares awaiting a pool, and
    /// retired machines awaiting removal. A host-backed pool's capacity is the sum of
    /// the vCPUs of the hosts serving it, down or not, as that is what was installed.
    fn hosts(&mut self) {
        for zi in 0..self.zones.len() {
            let spec = self.zones[zi].spec;
            let mut rack = 0;
            let ecs_pool = self.zones[zi].ecs_pool;
            self.rack_group(zi, &mut rack, spec.ecs_hosts, HostRole::Serving(ecs_pool));
            if let Some(rds_pool) = self.zones[zi].rds_pool {
                self.rack_group(zi, &mut rack, spec.rds_hosts, HostRole::Serving(rds_pool));
            }
            let spares = self.rng.range(4, 10);
            self.rack_group(zi, &mut rack, spares, HostRole::Spare);
            let retired = self.rng.range(6, 14);
            self.rack_group(zi, &mut rack, retired, HostRole::Retired);
        }
        for (pool, info) in self.cloud.pools.iter_mut().zip(&self.pools) {
            if info.prod.host_backed() {
                pool.capacity = info
                    .hosts
                    .iter()
                    .map(|&h| f64::from(self.cloud.hosts[h].cpu_cores))
                    .sum();
            }
        }
    }

    fn rack_group(&mut self, zone: usize, rack: &mut usize, count: usize, role: HostRole) {
        let region = &REGIONS[self.zones[zone].region];
        let letter = self.zones[zone].spec.letter;
        let zone_id = self.cloud.zones[zone].id.clone();
        for n in 0..count {
            if n % HOSTS_PER_RACK == 0 {
                *rack += 1;
            }
            let slot = n % HOSTS_PER_RACK + 1;
            let rack_name = format!("{}-{letter}-r{:03}", region.short, *rack);
            // Cores and memory follow real server generations: database hosts carry
            // more memory per core, retired ones are older and smaller.
            let (cpu_cores, memory_gib) = match role {
                HostRole::Serving(p) if self.pools[p].prod == Prod::Rds => {
                    self.rng
                        .weighted(&[((64, 512), 40), ((96, 768), 40), ((104, 768), 20)])
                }
                HostRole::Serving(_) | HostRole::Spare => self.rng.weighted(&[
                    ((64, 256), 15),
                    ((96, 384), 40),
                    ((104, 384), 25),
                    ((128, 512), 20),
                ]),
                HostRole::Retired => self.rng.weighted(&[((32, 128), 50), ((48, 192), 50)]),
            };
            let state = match role {
                HostRole::Retired => HostState::Retired,
                HostRole::Spare => HostState::Up,
                HostRole::Serving(_) => {
                    let r = self.rng.unit();
                    if r < 0.02 {
                        HostState::Down
                    } else if r < 0.05 {
                        HostState::Maintenance
                    } else {
                        HostState::Up
                    }
                }
            };
            // Node exporters have been rolled out to most live hosts but not all; the
            // address encodes zone, rack and slot, so it is unique.
            let exporter = (state != HostState::Retired && self.rng.chance(0.8))
                .then(|| format!("10.{}.{}.{}:9100", 16 + zone, *rack, 10 + slot));
            let index = self.cloud.hosts.len();
            let pool_id = match role {
                HostRole::Serving(p) => {
                    self.pools[p].hosts.push(index);
                    Some(self.cloud.pools[p].id.clone())
                }
                HostRole::Spare | HostRole::Retired => None,
            };
            self.host_free.push(match role {
                HostRole::Serving(_) => f64::from(cpu_cores),
                HostRole::Spare | HostRole::Retired => 0.0,
            });
            self.cloud.hosts.push(Host {
                id: HostId::new(format!("host-{rack_name}-{slot:02}")),
                zone_id: zone_id.clone(),
                rack: rack_name,
                pool_id,
                state,
                cpu_cores,
                memory_gib,
                exporter,
            });
        }
    }

    /// Sellers and ISVs with their tiers, home regions and draw weights.
    fn merchants(&mut self) {
        let mut isv_flags: Vec<bool> = (0..SELLERS + ISVS).map(|n| n >= SELLERS).collect();
        self.rng.shuffle(&mut isv_flags);
        let mut seller_names: Vec<usize> =
            (0..NAME_PREFIXES.len() * NAME_CATEGORIES.len() * NAME_SUFFIXES.len()).collect();
        self.rng.shuffle(&mut seller_names);
        let mut isv_names: Vec<usize> = (0..NAME_PREFIXES.len() * ISV_KINDS.len()).collect();
        self.rng.shuffle(&mut isv_names);
        let (mut sellers_named, mut isvs_named) = (0, 0);

        let mut weights = Vec::with_capacity(isv_flags.len());
        for (n, &isv) in isv_flags.iter().enumerate() {
            let number = 10001 + n;
            let (name, email) = if isv {
                let k = isv_names[isvs_named];
                isvs_named += 1;
                let (p, p_py) = NAME_PREFIXES[k / ISV_KINDS.len()];
                let (kind, kind_py) = ISV_KINDS[k % ISV_KINDS.len()];
                (
                    format!("{p}{kind} (聚石塔 ISV)"),
                    format!("support@{p_py}-{kind_py}.com"),
                )
            } else {
                let k = seller_names[sellers_named];
                sellers_named += 1;
                let per_prefix = NAME_CATEGORIES.len() * NAME_SUFFIXES.len();
                let (p, p_py) = NAME_PREFIXES[k / per_prefix];
                let (c, c_py) = NAME_CATEGORIES[k % per_prefix / NAME_SUFFIXES.len()];
                let s = NAME_SUFFIXES[k % NAME_SUFFIXES.len()];
                (
                    format!("{p}{c}{s}"),
                    format!("ops.{number}@{p_py}{c_py}.com"),
                )
            };
            let home = self.rng.weighted(
                &REGIONS
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i, r.home_share))
                    .collect::<Vec<_>>(),
            );
            // A few merchants never filled in a contact address.
            let contact_email = (!self.rng.chance(0.05)).then_some(email);
            self.cloud.merchants.push(Merchant {
                id: MerchantId::new(format!("m-{number}")),
                name,
                tier: Tier::Standard,
                contact_email,
            });
            self.merchants.push(MerchantInfo {
                home,
                vip: false,
                isv,
                plan: Plan::Regular,
            });
            // ISVs run steady middleware for many sellers; sellers range from
            // hobby shops to sizeable brands (cubing gives the long tail).
            weights.push(if isv {
                1.0 + 3.0 * self.rng.unit()
            } else {
                0.2 + 6.0 * self.rng.unit().powi(3)
            });
        }

        // VIPs are the big brands: a fixed 4% of sellers, with far heavier weights.
        let mut sellers: Vec<usize> = (0..self.merchants.len())
            .filter(|&m| !self.merchants[m].isv)
            .collect();
        self.rng.shuffle(&mut sellers);
        for &m in &sellers[..VIPS] {
            self.merchants[m].vip = true;
            self.cloud.merchants[m].tier = Tier::Vip;
            weights[m] = 25.0 + 25.0 * self.rng.unit();
        }

        // Pick the planted risks among standard sellers: mid-sized shops are the ones
        // that typically grow without ever spreading out.
        let risky: Vec<usize> = sellers[VIPS..VIPS + 2 * PLANTED_RISKS].to_vec();
        for (k, &m) in risky.iter().enumerate() {
            self.merchants[m].plan = if k < PLANTED_RISKS {
                Plan::SingleHost
            } else {
                Plan::SingleZone
            };
        }

        // Cumulative weights per region for filling pools. Merchants mostly buy in their
        // home region; VIPs deploy across regions far more than ordinary sellers do.
        // Planted risks get weight zero so general filling never touches them.
        for region in 0..REGIONS.len() {
            let mut total = 0.0;
            let cumulative = self
                .merchants
                .iter()
                .zip(&weights)
                .map(|(m, &w)| {
                    let affinity = match (m.plan, m.home == region, m.vip) {
                        (Plan::SingleHost | Plan::SingleZone, _, _) => 0.0,
                        (Plan::Regular, true, _) => 1.0,
                        (Plan::Regular, false, true) => 0.5,
                        (Plan::Regular, false, false) => 0.1,
                    };
                    total += w * affinity;
                    total
                })
                .collect();
            self.region_weights.push(cumulative);
        }
    }

    /// The zones of a region, optionally only those that sell RDS.
    fn zones_in(&self, region: usize, need_rds: bool) -> Vec<usize> {
        (0..self.zones.len())
            .filter(|&z| self.zones[z].region == region)
            .filter(|&z| !need_rds || self.zones[z].rds_pool.is_some())
            .collect()
    }

    /// Places the planted dispersal risks first, while every pool is empty, so they
    /// always find room.
    fn plant_dispersal_risks(&mut self) {
        for m in 0..self.merchants.len() {
            match self.merchants[m].plan {
                Plan::Regular => {}
                Plan::SingleHost => {
                    // A handful of small VMs on one healthy, still empty host.
                    let zones = self.zones_in(self.merchants[m].home, false);
                    let pool = self.zones[*self.rng.pick(&zones)].ecs_pool;
                    let host = loop {
                        let h = *self.rng.pick(&self.pools[pool].hosts);
                        let fresh = self.host_free[h] == f64::from(self.cloud.hosts[h].cpu_cores);
                        if self.cloud.hosts[h].state == HostState::Up && fresh {
                            break h;
                        }
                    };
                    for _ in 0..self.rng.range(SINGLE_HOST_MIN_INSTANCES, 6) {
                        let family = *self.rng.pick(&["g7", "c7"]);
                        let (size, vcpu) = self.rng.weighted(&[
                            (("large", 2.0), 40),
                            (("xlarge", 4.0), 40),
                            (("2xlarge", 8.0), 20),
                        ]);
                        let spec = format!("ecs.{family}.{size}");
                        self.push_instance(pool, m, Some(host), spec, vcpu, InstanceState::Running);
                    }
                }
                Plan::SingleZone => {
                    // Dozens of VMs, databases and load balancers, all in one zone.
                    let zones = self.zones_in(self.merchants[m].home, true);
                    let zone = *self.rng.pick(&zones);
                    let count = self.rng.range(SINGLE_ZONE_MIN_INSTANCES + 4, 40);
                    let mut placed = 0;
                    while placed < count {
                        let z = &self.zones[zone];
                        let pool = self.rng.weighted(&[
                            (z.ecs_pool, 70),
                            (z.rds_pool.unwrap_or(z.ecs_pool), 15),
                            (z.slb_pool, 15),
                        ]);
                        if self.place(pool, m) {
                            placed += 1;
                        }
                    }
                }
            }
        }
    }

    /// Every regular merchant rents at least one small VM in its home region, so no
    /// merchant is an empty shell.
    fn give_every_merchant_an_instance(&mut self) {
        for m in 0..self.merchants.len() {
            if self.merchants[m].plan != Plan::Regular {
                continue;
            }
            let zones = self.zones_in(self.merchants[m].home, false);
            let pool = self.zones[*self.rng.pick(&zones)].ecs_pool;
            let vcpu = *self.rng.pick(&[2.0, 4.0]);
            let spec = format!("ecs.g7.{}", if vcpu == 2.0 { "large" } else { "xlarge" });
            if let Some(host) = self.find_host(pool, vcpu) {
                let state = self.live_state(Some(host));
                self.push_instance(pool, m, Some(host), spec, vcpu, state);
            }
        }
    }

    /// Fills each pool with instances of weighted-random merchants up to a target
    /// utilisation: a few pools nearly full, the rest spread between 30% and 88%.
    fn fill_pools(&mut self) {
        for p in 0..self.pools.len() {
            let (prod, zone_id) = (self.pools[p].prod, &self.cloud.pools[p].zone_id);
            let hot = HOT_POOLS
                .iter()
                .find(|&&(pr, z, _)| pr == prod.id() && z == zone_id.as_str());
            let target = match hot {
                Some(&(_, _, t)) => t,
                None => 0.30 + 0.58 * self.rng.unit(),
            };
            let limit = target * self.cloud.pools[p].capacity;
            let region = self.zones[self.pools[p].zone].region;
            // Stop once not even the smallest instance fits, or after a run of draws
            // that no longer fit: either way the pool is at its target to within one
            // instance.
            let mut misses = 0;
            while misses < 16 && self.pools[p].used + prod.min_units() <= limit {
                let (spec, units) = draw_instance(&mut self.rng, prod);
                if self.pools[p].used + units > limit {
                    misses += 1;
                    continue;
                }
                let host = if prod.host_backed() {
                    match self.find_host(p, units) {
                        Some(h) => Some(h),
                        None => {
                            misses += 1;
                            continue;
                        }
                    }
                } else {
                    None
                };
                misses = 0;
                let m = self.pick_merchant(region);
                let state = self.live_state(host);
                self.push_instance(p, m, host, spec.clone(), units, state);
                // Churn: some merchants released an instance of the same shape
                // earlier; released instances no longer take capacity.
                if self.rng.chance(0.03) {
                    self.push_instance(p, m, host, spec, units, InstanceState::Released);
                }
            }
        }
    }

    /// Places one random instance of the pool's product for merchant `m`, if it fits
    /// within the pool's capacity (and a host, for host-backed pools).
    fn place(&mut self, pool: usize, m: usize) -> bool {
        let prod = self.pools[pool].prod;
        let (spec, units) = draw_instance(&mut self.rng, prod);
        if self.pools[pool].used + units > self.cloud.pools[pool].capacity {
            return false;
        }
        let host = if prod.host_backed() {
            match self.find_host(pool, units) {
                Some(h) => Some(h),
                None => return false,
            }
        } else {
            None
        };
        let state = self.live_state(host);
        self.push_instance(pool, m, host, spec, units, state);
        true
    }

    /// A host of the pool with at least `units` free vCPUs: a few random tries spread
    /// instances the way a scheduler does, then a scan from a random start makes sure
    /// a nearly full pool still finds the last gaps.
    fn find_host(&mut self, pool: usize, units: f64) -> Option<usize> {
        let n = self.pools[pool].hosts.len();
        if n == 0 {
            return None;
        }
        for _ in 0..4 {
            let h = self.pools[pool].hosts[self.rng.below(n)];
            if self.host_free[h] >= units {
                return Some(h);
            }
        }
        let start = self.rng.below(n);
        (0..n)
            .map(|k| self.pools[pool].hosts[(start + k) % n])
            .find(|&h| self.host_free[h] >= units)
    }

    /// A merchant drawn by weight for a pool in `region`.
    fn pick_merchant(&mut self, region: usize) -> usize {
        let cumulative = &self.region_weights[region];
        let total = cumulative.last().copied().unwrap_or(0.0);
        let x = self.rng.unit() * total;
        // The first merchant whose cumulative weight exceeds x; zero-weight merchants
        // add no width, so they are never drawn.
        cumulative
            .partition_point(|&c| c <= x)
            .min(cumulative.len() - 1)
    }

    /// The state of a new live instance: stopped on a host that is down, often
    /// stopped on a host in maintenance, and otherwise mostly running.
    fn live_state(&mut self, host: Option<usize>) -> InstanceState {
        match host.map(|h| self.cloud.hosts[h].state) {
            Some(HostState::Down) => InstanceState::Stopped,
            Some(HostState::Maintenance) if self.rng.chance(0.5) => InstanceState::Stopped,
            _ => {
                let r = self.rng.unit();
                if r < 0.03 {
                    InstanceState::Stopped
                } else if r < 0.045 {
                    InstanceState::Creating
                } else {
                    InstanceState::Running
                }
            }
        }
    }

    /// Records an instance and, unless it is released, the capacity it takes.
    fn push_instance(
        &mut self,
        pool: usize,
        merchant: usize,
        host: Option<usize>,
        spec: String,
        units: f64,
        state: InstanceState,
    ) {
        let prod = self.pools[pool].prod;
        if state != InstanceState::Released {
            self.pools[pool].used += units;
            if let Some(h) = host {
                self.host_free[h] -= units;
            }
        }
        let infix = REGIONS[self.zones[self.pools[pool].zone].region].infix;
        // One counter across all products keeps ids unique whatever the prefix.
        let id = format!(
            "{}-{infix}{:08}",
            prod.instance_prefix(),
            self.next_instance
        );
        self.next_instance += 1;
        self.cloud.instances.push(Instance {
            id: InstanceId::new(id),
            merchant_id: self.cloud.merchants[merchant].id.clone(),
            product_id: ProductId::new(prod.id()),
            pool_id: self.cloud.pools[pool].id.clone(),
            host_id: host.map(|h| self.cloud.hosts[h].id.clone()),
            spec,
            units,
            state,
        });
    }

    /// The full-chain topology. Every service has a level; dependencies only go from a
    /// higher level to a strictly lower one, which is what makes the graph acyclic:
    /// 7-6 merchant systems, 5 entry points, 4 traffic edge, 3 APIs, 2 business
    /// domains, 1 middleware, 0 data stores.
    fn services(&mut self) {
        let mut levels: HashMap<String, u8> = HashMap::new();
        for &(id, name, team, level, product, description) in PLATFORM_SERVICES {
            levels.insert(id.to_owned(), level);
            self.cloud.services.push(Service {
                id: ServiceId::new(id),
                name: name.to_owned(),
                merchant_id: None,
                team: Some(team.to_owned()),
                product_id: product.map(|p| ProductId::new(p.id())),
                description: Some(description.to_owned()),
            });
        }
        let mut edges: Vec<(String, String, Option<MerchantId>)> = PLATFORM_DEPENDENCIES
            .iter()
            .map(|&(from, to)| (from.to_owned(), to.to_owned(), None))
            .collect();

        // Four VIP brands and two ISVs run their own systems on the cloud: an ERP
        // bridge that syncs orders through the open platform into their own database.
        let vips = (0..self.merchants.len()).filter(|&m| self.merchants[m].vip);
        let isvs = (0..self.merchants.len()).filter(|&m| self.merchants[m].isv);
        let owners: Vec<usize> = vips.take(4).chain(isvs.take(2)).collect();
        for m in owners {
            let merchant = &self.cloud.merchants[m];
            let mid = merchant.id.clone();
            let shop = merchant.name.clone();
            let svc = |suffix: &str| format!("svc-{mid}-{suffix}");
            let own: [(String, String, u8, Option<Prod>, &str); 3] = [
                (
                    svc("erp"),
                    format!("{shop} ERP 对接"),
                    7,
                    None,
                    "The merchant's ERP bridge: pulls orders, pushes stock and shipping.",
                ),
                (
                    svc("order-sync"),
                    format!("{shop} 订单同步"),
                    6,
                    None,
                    "Syncs orders from the open platform and its message service.",
                ),
                (
                    svc("db"),
                    format!("{shop} 业务库"),
                    0,
                    Some(Prod::Rds),
                    "The merchant's own business database on RDS.",
                ),
            ];
            for (id, name, level, product, description) in own {
                levels.insert(id.clone(), level);
                self.cloud.services.push(Service {
                    id: ServiceId::new(id),
                    name,
                    merchant_id: Some(mid.clone()),
                    team: Some(format!("{shop} 技术部")),
                    product_id: product.map(|p| ProductId::new(p.id())),
                    description: Some(description.to_owned()),
                });
            }
            let owned = Some(mid.clone());
            edges.push((svc("erp"), svc("order-sync"), owned.clone()));
            edges.push((svc("erp"), svc("db"), owned.clone()));
            edges.push((svc("order-sync"), "svc-top-gateway".into(), owned.clone()));
            edges.push((svc("order-sync"), "svc-tmc".into(), owned.clone()));
            edges.push((svc("order-sync"), svc("db"), owned));
        }

        for (n, (from, to, merchant_id)) in edges.into_iter().enumerate() {
            debug_assert!(
                levels[&from] > levels[&to],
                "{from} -> {to} must go down the levels"
            );
            self.cloud.dependencies.push(Dependency {
                id: DependencyId::new(format!("dep-{:04}", n + 1)),
                from_service_id: ServiceId::new(from),
                to_service_id: ServiceId::new(to),
                merchant_id,
            });
        }
    }

    /// The promotion calendar around `today`; see [`generate`] for the rules.
    fn promotions(&mut self, today: Date) {
        for f in FESTIVALS {
            let past_year = if calendar(today.year(), f.month, f.day) <= today {
                today.year()
            } else {
                today.year() - 1
            };
            for (year, uplift) in [(past_year, f.past_uplift), (past_year + 1, f.next_uplift)] {
                let day = calendar(year, f.month, f.day);
                self.cloud.promotions.push(Promotion {
                    id: PromotionId::new(format!("promo-{}-{year}", f.key)),
                    name: format!("{year} {}", f.name),
                    starts_at: cst(day - Duration::days(f.presale_days), Time::MIDNIGHT),
                    ends_at: cst(day, LAST_SECOND),
                    scope: PromotionScope::Global,
                    region_id: None,
                    merchant_id: None,
                    expected_uplift: uplift,
                });
            }
        }

        for r in REGIONAL_FESTIVALS {
            let ends = |year| calendar(year, r.month, r.day) + Duration::days(r.days - 1);
            let year = if ends(today.year()) < today {
                today.year() + 1
            } else {
                today.year()
            };
            self.cloud.promotions.push(Promotion {
                id: PromotionId::new(format!("promo-{}-{year}", r.key)),
                name: format!("{year} {}", r.name),
                starts_at: cst(calendar(year, r.month, r.day), Time::MIDNIGHT),
                ends_at: cst(ends(year), LAST_SECOND),
                scope: PromotionScope::Region,
                region_id: Some(RegionId::new(r.region)),
                merchant_id: None,
                expected_uplift: r.uplift,
            });
        }

        // Brand days of the last three VIPs (the first four own services already, so
        // the demo spreads its stories over more merchants).
        let vips: Vec<usize> = (0..self.merchants.len())
            .filter(|&m| self.merchants[m].vip)
            .collect();
        let brand_days: [(i64, i64, &str, f64); 3] = [
            (21, 1, "超级品牌日 (Super Brand Day)", 5.0),
            (45, 3, "会员日 (Members' Days)", 3.0),
            (-30, 2, "周年庆 (Anniversary Sale)", 4.0),
        ];
        for (&m, (offset_days, days, label, uplift)) in vips.iter().rev().zip(brand_days) {
            let merchant = &self.cloud.merchants[m];
            let first = today + Duration::days(offset_days);
            let last = first + Duration::days(days - 1);
            self.cloud.promotions.push(Promotion {
                id: PromotionId::new(format!(
                    "promo-{}-{:04}{:02}{:02}",
                    merchant.id,
                    first.year(),
                    u8::from(first.month()),
                    first.day()
                )),
                name: format!("{} {label}", merchant.name),
                starts_at: cst(first, Time::MIDNIGHT),
                ends_at: cst(last, LAST_SECOND),
                scope: PromotionScope::Merchant,
                region_id: None,
                merchant_id: Some(merchant.id.clone()),
                expected_uplift: uplift,
            });
        }
    }
}

// ---------------------------------------------------------------------------------
// Topology and calendar tables
// ---------------------------------------------------------------------------------

/// Platform services: id, name, team, level, backing product, description.
type ServiceRow = (
    &'static str,
    &'static str,
    &'static str,
    u8,
    Option<Prod>,
    &'static str,
);

#[rustfmt::skip]
const PLATFORM_SERVICES: &[ServiceRow] = &[
    ("svc-top-gateway", "TOP 开放平台网关", "open-platform", 5, None,
     "Open-platform API gateway through which ISVs and merchant systems call in."),
    ("svc-seller-console", "千牛商家工作台", "seller-tools", 5, None,
     "The sellers' web and desktop workbench."),
    ("svc-mtop-gateway", "无线网关 MTOP", "mobile", 5, None,
     "Mobile API gateway for the shopping apps."),
    ("svc-slb-public", "公网负载均衡", "network", 4, Some(Prod::Slb),
     "Public load balancers in front of every API cluster."),
    ("svc-auth", "统一认证 OAuth", "security", 4, None,
     "OAuth sessions and app keys for buyers, sellers and ISVs."),
    ("svc-sentinel", "Sentinel 限流", "middleware", 4, None,
     "Rate limiting and circuit breaking at the edge."),
    ("svc-trade-api", "交易 API", "trade", 3, None, "Order placement and queries."),
    ("svc-item-api", "商品 API", "item", 3, None, "Item listing, detail and stock queries."),
    ("svc-member-api", "会员 API", "member", 3, None, "Buyer profiles and loyalty points."),
    ("svc-logistics-api", "物流 API", "logistics", 3, None, "Shipping labels and tracking."),
    ("svc-marketing-api", "营销 API", "marketing", 3, None, "Coupons, discounts and campaigns."),
    ("svc-order", "订单中心", "trade", 2, None, "Order lifecycle from creation to settlement."),
    ("svc-payment", "支付接入", "payment", 2, None, "Payment via Alipay and refunds."),
    ("svc-inventory", "库存中心", "trade", 2, None, "Stock reservation and deduction."),
    ("svc-search", "商品搜索", "search", 2, None, "Item search and ranking."),
    ("svc-promotion-engine", "优惠计算", "marketing", 2, None,
     "Computes the final price under stacked promotions."),
    ("svc-logistics", "物流跟踪", "logistics", 2, None, "Carrier integration and tracking."),
    ("svc-member", "会员中心", "member", 2, None, "Membership tiers and points ledger."),
    ("svc-tmc", "消息服务 TMC", "open-platform", 2, None,
     "Pushes order and item change messages to ISVs and merchant systems."),
    ("svc-rocketmq", "消息队列 RocketMQ", "middleware", 1, None,
     "Asynchronous messaging between business domains."),
    ("svc-tair-cache", "缓存 Tair", "middleware", 1, None, "Distributed cache."),
    ("svc-diamond-config", "配置中心 Diamond", "middleware", 1, None,
     "Dynamic configuration and switches."),
    ("svc-schedulerx", "任务调度 SchedulerX", "middleware", 1, None,
     "Scheduled jobs: order timeouts, nightly exports."),
    ("svc-order-db", "订单库", "dba", 0, Some(Prod::Rds), "Sharded order database."),
    ("svc-payment-db", "支付库", "dba", 0, Some(Prod::Rds), "Payment and refund ledger."),
    ("svc-inventory-db", "库存库", "dba", 0, Some(Prod::Rds), "Stock levels per item and warehouse."),
    ("svc-member-db", "会员库", "dba", 0, Some(Prod::Rds), "Member profiles and points."),
    ("svc-item-store", "商品表格存储", "item", 0, Some(Prod::Ots), "Item details in Tablestore."),
    ("svc-logistics-store", "物流轨迹存储", "logistics", 0, Some(Prod::Ots),
     "Tracking events in Tablestore."),
    ("svc-image-store", "商品图片存储", "item", 0, Some(Prod::Oss), "Item images on OSS."),
    ("svc-log-archive", "日志归档", "sre", 0, Some(Prod::Oss),
     "Access logs and message traces archived on OSS."),
    ("svc-bi-warehouse", "经营分析数仓", "data", 0, Some(Prod::Odps),
     "Sales analytics on MaxCompute."),
];

/// Platform dependencies: caller, callee.
const PLATFORM_DEPENDENCIES: &[(&str, &str)] = &[
    ("svc-top-gateway", "svc-slb-public"),
    ("svc-top-gateway", "svc-auth"),
    ("svc-top-gateway", "svc-sentinel"),
    ("svc-top-gateway", "svc-tmc"),
    ("svc-seller-console", "svc-slb-public"),
    ("svc-seller-console", "svc-auth"),
    ("svc-mtop-gateway", "svc-slb-public"),
    ("svc-mtop-gateway", "svc-auth"),
    ("svc-mtop-gateway", "svc-sentinel"),
    ("svc-slb-public", "svc-trade-api"),
    ("svc-slb-public", "svc-item-api"),
    ("svc-slb-public", "svc-member-api"),
    ("svc-slb-public", "svc-logistics-api"),
    ("svc-slb-public", "svc-marketing-api"),
    ("svc-auth", "svc-tair-cache"),
    ("svc-auth", "svc-member-db"),
    ("svc-sentinel", "svc-diamond-config"),
    ("svc-trade-api", "svc-order"),
    ("svc-trade-api", "svc-payment"),
    ("svc-trade-api", "svc-inventory"),
    ("svc-trade-api", "svc-promotion-engine"),
    ("svc-item-api", "svc-search"),
    ("svc-item-api", "svc-inventory"),
    ("svc-item-api", "svc-image-store"),
    ("svc-member-api", "svc-member"),
    ("svc-logistics-api", "svc-logistics"),
    ("svc-marketing-api", "svc-promotion-engine"),
    ("svc-marketing-api", "svc-member"),
    ("svc-order", "svc-order-db"),
    ("svc-order", "svc-rocketmq"),
    ("svc-order", "svc-tair-cache"),
    ("svc-order", "svc-schedulerx"),
    ("svc-payment", "svc-payment-db"),
    ("svc-payment", "svc-rocketmq"),
    ("svc-inventory", "svc-inventory-db"),
    ("svc-inventory", "svc-tair-cache"),
    ("svc-search", "svc-item-store"),
    ("svc-search", "svc-tair-cache"),
    ("svc-promotion-engine", "svc-tair-cache"),
    ("svc-promotion-engine", "svc-diamond-config"),
    ("svc-promotion-engine", "svc-item-store"),
    ("svc-logistics", "svc-logistics-store"),
    ("svc-logistics", "svc-rocketmq"),
    ("svc-member", "svc-member-db"),
    ("svc-member", "svc-tair-cache"),
    ("svc-tmc", "svc-rocketmq"),
    ("svc-rocketmq", "svc-log-archive"),
    ("svc-schedulerx", "svc-bi-warehouse"),
];

/// China Standard Time, in which the festivals are held.
const CST: UtcOffset = offset!(+8);
const LAST_SECOND: Time = time!(23:59:59);

/// A yearly global festival, with its presale window and expected uplift for the past
/// and the next occurrence (the next one is planned a little bigger, as each year's is).
struct Festival {
    key: &'static str,
    name: &'static str,
    month: Month,
    day: u8,
    /// Days between the window's opening and the festival day.
    presale_days: i64,
    past_uplift: f64,
    next_uplift: f64,
}

const FESTIVALS: &[Festival] = &[
    Festival {
        key: "double11",
        name: "天猫双11 (Double 11)",
        month: Month::November,
        day: 11,
        presale_days: 10,
        past_uplift: 8.5,
        next_uplift: 9.2,
    },
    Festival {
        key: "618",
        name: "618 年中大促 (Mid-year 618)",
        month: Month::June,
        day: 18,
        presale_days: 17,
        past_uplift: 4.2,
        next_uplift: 4.6,
    },
];

/// A yearly festival of one region.
struct RegionalFestival {
    key: &'static str,
    name: &'static str,
    region: &'static str,
    month: Month,
    day: u8,
    days: i64,
    uplift: f64,
}

const REGIONAL_FESTIVALS: &[RegionalFestival] = &[
    RegionalFestival {
        key: "shanghai-55",
        name: "上海五五购物节 (Shanghai 5.5 Shopping Festival)",
        region: "cn-shanghai",
        month: Month::May,
        day: 1,
        days: 10,
        uplift: 2.2,
    },
    RegionalFestival {
        key: "beijing-nianhuo",
        name: "北京年货节 (Beijing New Year Goods Fair)",
        region: "cn-beijing",
        month: Month::January,
        day: 10,
        days: 15,
        uplift: 2.5,
    },
];

/// A calendar date that exists in every year (none of the demo's is 29 February).
fn calendar(year: i32, month: Month, day: u8) -> Date {
    Date::from_calendar_date(year, month, day)
        .expect("the demo calendar only uses dates that exist in every supported year")
}

/// A wall-clock time in China Standard Time, as a UTC timestamp.
fn cst(date: Date, at: Time) -> OffsetDateTime {
    PrimitiveDateTime::new(date, at)
        .assume_offset(CST)
        .to_offset(UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};
    use std::sync::OnceLock;

    use time::macros::date;

    use super::*;
    use crate::kind::{Entity, Kind};
    use crate::topology::{cycle_if_added, layers};

    /// The cloud as loaded on 25 November 2026, generated once for all tests.
    fn cloud() -> &'static DemoCloud {
        static CLOUD: OnceLock<DemoCloud> = OnceLock::new();
        CLOUD.get_or_init(|| generate(date!(2026 - 11 - 25)))
    }

    /// Every entity of the cloud as (kind, id, references), for kind-generic checks.
    fn all_records(c: &DemoCloud) -> Vec<(Kind, String, Vec<crate::Reference>)> {
        fn rows<E: Entity>(
            xs: &[E],
        ) -> impl Iterator<Item = (Kind, String, Vec<crate::Reference>)> + '_ {
            xs.iter()
                .map(|e| (E::KIND, e.id().to_owned(), e.references()))
        }
        rows(&c.regions)
            .chain(rows(&c.zones))
            .chain(rows(&c.products))
            .chain(rows(&c.pools))
            .chain(rows(&c.hosts))
            .chain(rows(&c.merchants))
            .chain(rows(&c.instances))
            .chain(rows(&c.services))
            .chain(rows(&c.dependencies))
            .chain(rows(&c.promotions))
            .collect()
    }

    fn pool_usage(c: &DemoCloud) -> HashMap<&PoolId, f64> {
        let mut used: HashMap<&PoolId, f64> = HashMap::new();
        for i in c
            .instances
            .iter()
            .filter(|i| i.state != InstanceState::Released)
        {
            *used.entry(&i.pool_id).or_default() += i.units;
        }
        used
    }

    #[test]
    fn an_operator_opening_the_demo_finds_a_cloud_of_realistic_size() {
        let c = cloud();
        assert_eq!(c.regions.len(), 3);
        assert!(c.zones.len() >= 8, "{} zones", c.zones.len());
        assert!(c.products.len() >= 6);
        assert!(c.pools.len() >= 30, "{} pools", c.pools.len());
        assert!(c.hosts.len() >= 2000, "{} hosts", c.hosts.len());
        assert!(c.merchants.len() >= 500, "{} merchants", c.merchants.len());
        assert!(
            c.instances.len() >= 10_000,
            "{} instances",
            c.instances.len()
        );
        assert!(c.services.len() >= 30, "{} services", c.services.len());

        let vip = c.merchants.iter().filter(|m| m.tier == Tier::Vip).count();
        let share = vip as f64 / c.merchants.len() as f64;
        assert!((0.03..=0.05).contains(&share), "VIP share {share}");

        let hosts_in = |s: HostState| c.hosts.iter().filter(|h| h.state == s).count();
        assert!(hosts_in(HostState::Up) as f64 > 0.85 * c.hosts.len() as f64);
        for s in [HostState::Down, HostState::Maintenance, HostState::Retired] {
            assert!(hosts_in(s) > 0, "no host is {s:?}");
        }
        assert!(c.hosts.iter().any(|h| h.exporter.is_some()));
        assert!(c.hosts.iter().any(|h| h.exporter.is_none()));

        let running = c
            .instances
            .iter()
            .filter(|i| i.state == InstanceState::Running)
            .count();
        assert!(running as f64 > 0.85 * c.instances.len() as f64);
        assert!(c
            .instances
            .iter()
            .any(|i| i.state == InstanceState::Released));
    }

    #[test]
    fn the_same_day_always_gives_the_same_cloud_and_other_days_only_move_the_calendar() {
        let a = generate(date!(2026 - 11 - 25));
        let b = generate(date!(2026 - 11 - 25));
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a.instances).unwrap(),
            serde_json::to_string(&b.instances).unwrap()
        );

        let later = generate(date!(2027 - 03 - 01));
        assert_eq!(a.hosts, later.hosts);
        assert_eq!(a.instances, later.instances);
        assert_eq!(a.services, later.services);
        assert_ne!(a.promotions, later.promotions);
    }

    #[test]
    fn every_record_passes_its_own_validation() {
        let c = cloud();
        fn check<E: Entity>(xs: &[E]) {
            for e in xs {
                if let Err(err) = e.validate() {
                    panic!("{} {}: {err}", E::KIND.singular(), e.id());
                }
            }
        }
        check(&c.regions);
        check(&c.zones);
        check(&c.products);
        check(&c.pools);
        check(&c.hosts);
        check(&c.merchants);
        check(&c.instances);
        check(&c.services);
        check(&c.dependencies);
        check(&c.promotions);
    }

    #[test]
    fn ids_are_unique_per_kind_and_every_reference_resolves() {
        let records = all_records(cloud());
        let mut ids: HashMap<Kind, HashSet<&str>> = HashMap::new();
        for (kind, id, _) in &records {
            assert!(
                ids.entry(*kind).or_default().insert(id.as_str()),
                "duplicate {kind} id {id}"
            );
        }
        for (kind, id, refs) in &records {
            for r in refs {
                assert!(
                    ids.get(&r.kind).is_some_and(|s| s.contains(r.id.as_str())),
                    "{kind} {id}: {} refers to missing {} {}",
                    r.field,
                    r.kind,
                    r.id
                );
            }
        }
    }

    #[test]
    fn instances_sit_in_pools_that_sell_their_product_on_hosts_of_those_pools() {
        let c = cloud();
        let pools: HashMap<&PoolId, &Pool> = c.pools.iter().map(|p| (&p.id, p)).collect();
        let hosts: HashMap<&HostId, &Host> = c.hosts.iter().map(|h| (&h.id, h)).collect();
        for h in &c.hosts {
            if let Some(p) = &h.pool_id {
                assert_eq!(pools[p].zone_id, h.zone_id, "host {}", h.id);
                assert!(["ecs", "rds"].contains(&pools[p].product_id.as_str()));
            }
        }
        for i in &c.instances {
            let pool = pools[&i.pool_id];
            assert_eq!(i.product_id, pool.product_id, "instance {}", i.id);
            let host_backed = ["ecs", "rds"].contains(&pool.product_id.as_str());
            match &i.host_id {
                Some(h) => {
                    assert!(host_backed, "instance {} has a host", i.id);
                    assert_eq!(
                        hosts[h].pool_id.as_ref(),
                        Some(&i.pool_id),
                        "instance {}",
                        i.id
                    );
                }
                None => assert!(!host_backed, "instance {} lacks a host", i.id),
            }
            assert!(i.units > 0.0);
        }
    }

    #[test]
    fn no_pool_is_oversold_yet_some_are_nearly_full() {
        let c = cloud();
        let used = pool_usage(c);
        let mut utilisations = Vec::new();
        for p in &c.pools {
            let u = used.get(&p.id).copied().unwrap_or(0.0);
            assert!(u <= p.capacity, "{} uses {u} of {}", p.id, p.capacity);
            utilisations.push(u / p.capacity);
        }
        let full = utilisations.iter().filter(|&&u| u >= 0.90).count();
        assert!(full >= 1, "no pool at 90% or more");
        assert!(
            utilisations.iter().any(|&u| u < 0.5),
            "no pool has room left"
        );

        // No host carries more vCPUs than it has.
        let mut on_host: HashMap<&HostId, f64> = HashMap::new();
        for i in c
            .instances
            .iter()
            .filter(|i| i.state != InstanceState::Released)
        {
            if let Some(h) = &i.host_id {
                *on_host.entry(h).or_default() += i.units;
            }
        }
        for h in &c.hosts {
            let u = on_host.get(&h.id).copied().unwrap_or(0.0);
            assert!(u <= f64::from(h.cpu_cores), "host {} carries {u}", h.id);
        }
    }

    #[test]
    fn the_topology_is_layered_and_acyclic() {
        let c = cloud();
        let mut added: Vec<(&str, &str)> = Vec::new();
        for d in &c.dependencies {
            let (from, to) = (d.from_service_id.as_str(), d.to_service_id.as_str());
            assert_eq!(
                cycle_if_added(added.iter().copied(), from, to),
                None,
                "{} closes a cycle",
                d.id
            );
            added.push((from, to));
        }
        let layer = layers(c.services.iter().map(|s| s.id.as_str()), &added);
        for &(from, to) in &added {
            assert!(layer[from] < layer[to], "{from} -> {to}");
        }
        assert!(layer.values().copied().max().unwrap_or(0) >= 5);

        // Platform services are shared, merchant services belong to one merchant, and a
        // dependency belongs to the merchant of its calling service.
        let services: HashMap<&ServiceId, &Service> =
            c.services.iter().map(|s| (&s.id, s)).collect();
        assert!(
            c.services
                .iter()
                .filter(|s| s.merchant_id.is_none())
                .count()
                >= 20
        );
        assert!(
            c.services
                .iter()
                .filter(|s| s.merchant_id.is_some())
                .count()
                >= 6
        );
        for d in &c.dependencies {
            assert_eq!(d.merchant_id, services[&d.from_service_id].merchant_id);
        }
        let backed: BTreeSet<&str> = c
            .services
            .iter()
            .filter_map(|s| s.product_id.as_ref().map(ProductId::as_str))
            .collect();
        assert_eq!(backed, BTreeSet::from(["odps", "oss", "ots", "rds", "slb"]));
    }

    #[test]
    fn dispersal_risks_are_there_for_the_detectors_to_find() {
        let c = cloud();
        let single_host = c.single_host_merchants();
        let single_zone = c.single_zone_merchants();
        assert_eq!(single_host.len(), PLANTED_RISKS, "{single_host:?}");
        assert_eq!(single_zone.len(), PLANTED_RISKS, "{single_zone:?}");
        assert!(single_host.iter().all(|m| !single_zone.contains(m)));

        let pool_zone: HashMap<&PoolId, &ZoneId> =
            c.pools.iter().map(|p| (&p.id, &p.zone_id)).collect();
        let live = |m: &MerchantId| -> Vec<&Instance> {
            c.instances
                .iter()
                .filter(|i| &i.merchant_id == m && i.state != InstanceState::Released)
                .collect()
        };
        for m in &single_host {
            let xs = live(m);
            let hosts: BTreeSet<_> = xs.iter().map(|i| i.host_id.as_ref()).collect();
            assert!(xs.len() >= SINGLE_HOST_MIN_INSTANCES);
            assert_eq!(hosts.len(), 1);
            assert!(hosts.first().is_some_and(Option::is_some));
        }
        for m in &single_zone {
            let xs = live(m);
            let zones: BTreeSet<_> = xs.iter().map(|i| pool_zone[&i.pool_id]).collect();
            let hosts: BTreeSet<_> = xs.iter().filter_map(|i| i.host_id.as_ref()).collect();
            assert!(xs.len() >= SINGLE_ZONE_MIN_INSTANCES);
            assert_eq!(zones.len(), 1);
            assert!(hosts.len() > 1, "{m} is also on a single host");
        }
    }

    fn promotion<'a>(c: &'a DemoCloud, id: &str) -> &'a Promotion {
        c.promotions
            .iter()
            .find(|p| p.id.as_str() == id)
            .unwrap_or_else(|| panic!("no promotion {id}"))
    }

    /// The promotion's first and last day in China Standard Time.
    fn days_of(p: &Promotion) -> (Date, Date) {
        (
            p.starts_at.to_offset(CST).date(),
            p.ends_at.to_offset(CST).date(),
        )
    }

    #[test]
    fn late_november_plans_with_this_years_festivals_and_next_years() {
        let c = cloud();
        let cases = [
            (
                "promo-double11-2026",
                date!(2026 - 11 - 01),
                date!(2026 - 11 - 11),
            ),
            (
                "promo-double11-2027",
                date!(2027 - 11 - 01),
                date!(2027 - 11 - 11),
            ),
            (
                "promo-618-2026",
                date!(2026 - 06 - 01),
                date!(2026 - 06 - 18),
            ),
            (
                "promo-618-2027",
                date!(2027 - 06 - 01),
                date!(2027 - 06 - 18),
            ),
        ];
        for (id, first, last) in cases {
            let p = promotion(c, id);
            assert_eq!(days_of(p), (first, last), "{id}");
            assert_eq!(p.scope, PromotionScope::Global);
            assert_eq!(p.starts_at.offset(), UtcOffset::UTC);
        }
        let d11 = promotion(c, "promo-double11-2027").expected_uplift;
        let s618 = promotion(c, "promo-618-2027").expected_uplift;
        assert!((8.0..=10.0).contains(&d11) && (4.0..=5.0).contains(&s618));

        let scoped = |s: PromotionScope| c.promotions.iter().filter(|p| p.scope == s).count();
        assert!(scoped(PromotionScope::Region) >= 2);
        assert!(scoped(PromotionScope::Merchant) >= 2);
        for p in &c.promotions {
            assert!(p.ends_at > p.starts_at, "{}", p.id);
        }
        // The regional fairs are the next ones: Beijing's in January, Shanghai's in May.
        assert_eq!(
            days_of(promotion(c, "promo-beijing-nianhuo-2027")).0,
            date!(2027 - 01 - 10)
        );
        assert_eq!(
            days_of(promotion(c, "promo-shanghai-55-2027")).0,
            date!(2027 - 05 - 01)
        );
    }

    #[test]
    fn during_the_presale_the_past_double_11_is_last_years() {
        let c = generate(date!(2026 - 11 - 05));
        let ids: BTreeSet<&str> = c.promotions.iter().map(|p| p.id.as_str()).collect();
        assert!(ids.contains("promo-double11-2025"));
        assert!(ids.contains("promo-double11-2026"));
        assert!(!ids.contains("promo-double11-2027"));
        // The 2026 one is already running on the 5th.
        let running = promotion(&c, "promo-double11-2026");
        assert!(running.starts_at < cst(date!(2026 - 11 - 05), Time::MIDNIGHT));

        // On the festival day itself, that day's festival counts as the past one.
        let on_the_day = generate(date!(2026 - 11 - 11));
        promotion(&on_the_day, "promo-double11-2026");
        promotion(&on_the_day, "promo-double11-2027");
    }
}
