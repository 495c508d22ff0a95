//! The repeated themes of the demo's tickets: what merchants of a shop cloud ask for
//! again and again, written the way they write it, in Chinese and in English.
//!
//! Placeholders filled per ticket: `{n}` a host count, `{zone}` a zone, `{inst}` an ECS
//! instance id, `{rds}` an RDS instance id, `{domain}` a shop domain, `{ip}` a private
//! address, `{conn}` a connection count, `{pct}` a percentage.

/// The texts of a theme in one language.
pub(crate) struct Texts {
    pub titles: &'static [&'static str],
    pub bodies: &'static [&'static str],
    pub resolutions: &'static [&'static str],
}

/// A kind of request.
pub(crate) struct Theme {
    pub key: &'static str,
    pub category: &'static str,
    /// Relative frequency on an ordinary day.
    pub weight: f64,
    /// Multiplier in the weeks before Double 11 (618 gets half of the extra).
    pub promo: f64,
    /// Chance of escalating from support to app ops, then on to base ops, then on to
    /// developers (each given the one before).
    pub escalate: [f64; 3],
    /// Handling minutes per tier involved, low and high.
    pub minutes: (u32, u32),
    /// Weights of low, normal, high, urgent.
    pub priority: [f64; 4],
    pub zh: Texts,
    pub en: Texts,
}

pub(crate) const THEMES: &[Theme] = &[
    Theme {
        key: "password-reset",
        category: "account",
        weight: 14.0,
        promo: 1.2,
        escalate: [0.05, 0.1, 0.0],
        minutes: (8, 25),
        priority: [3.0, 6.0, 1.0, 0.2],
        zh: Texts {
            titles: &[
                "忘记 RDS 数据库密码，如何重置",
                "重置数据库账号密码",
                "ECS 登录密码忘记了",
                "账号密码重置",
                "DBA 离职，数据库 root 密码找不到了",
            ],
            bodies: &[
                "RDS 实例 {rds} 的高权限账号密码忘记了，请问怎么重置？",
                "我们的运维离职了，没人知道数据库 {rds} 的密码，需要重置密码。",
                "云服务器 {inst} 的登录密码忘记了，控制台重置密码后还是登录不上。",
                "子账号登录控制台提示密码错误，主账号密码也忘了，请帮忙重置。",
            ],
            resolutions: &[
                "已指导商家在 RDS 控制台“账号管理”中重置密码，并提醒同步更新应用连接串。",
                "重置 ECS 实例密码后需要重启实例才生效，商家重启后已能正常登录。",
            ],
        },
        en: Texts {
            titles: &[
                "Reset password for RDS account",
                "Forgot the database root password",
                "Cannot log in to ECS, password lost",
                "Password reset please",
            ],
            bodies: &[
                "I forgot the password of the privileged account on RDS instance {rds}. How do I reset it?",
                "Our DBA left and nobody knows the root password of {rds}. Please help us reset the password.",
                "Lost the login password of ECS {inst}; I reset it in the console but still cannot log in.",
            ],
            resolutions: &[
                "Walked the merchant through Reset password under Accounts in the RDS console; reminded them to update connection strings.",
                "An ECS password reset needs a restart; after the restart the merchant could log in.",
            ],
        },
    },
    Theme {
        key: "scale-out",
        category: "capacity",
        weight: 9.0,
        promo: 4.0,
        escalate: [0.9, 0.35, 0.02],
        minutes: (30, 150),
        priority: [0.5, 4.0, 4.0, 1.5],
        zh: Texts {
            titles: &[
                "扩容 {n} 台主机",
                "申请扩容 ECS {n} 台",
                "大促前扩容申请",
                "{zone} 扩容，库存不足",
                "紧急扩容 {n} 台云服务器",
            ],
            bodies: &[
                "双11前需要扩容 {n} 台 ECS 主机，地域杭州，请确认 {zone} 资源池库存。",
                "大促活动流量预计翻三倍，申请在 {zone} 扩容 {n} 台主机，规格与现有一致。",
                "在控制台扩容时提示 {zone} 库存不足，我们需要 {n} 台，能否协调资源？",
                "下周有店铺活动，需要临时扩容 {n} 台服务器，活动结束后释放。",
            ],
            resolutions: &[
                "已协调资源池，{zone} 新增 {n} 台库存，商家已完成扩容。",
                "目标可用区库存紧张，建议商家改为同地域另一个可用区扩容，顺便改善了分散部署。",
            ],
        },
        en: Texts {
            titles: &[
                "Scale out {n} hosts before Double 11",
                "Request to scale out ECS by {n}",
                "Scale-out request for our promotion",
                "Out of stock in {zone} when scaling out",
            ],
            bodies: &[
                "We need to scale out by {n} ECS hosts in {zone} before Double 11. Please confirm the stock.",
                "Traffic for our sale will triple. Please add {n} hosts of the same type in {zone}.",
                "The console says {zone} is out of stock. We need {n} servers, can you arrange capacity?",
            ],
            resolutions: &[
                "Capacity arranged in {zone}: {n} more hosts in stock, the merchant scaled out.",
                "The zone was short of stock; the merchant scaled out in another zone of the region instead, which also improves dispersal.",
            ],
        },
    },
    Theme {
        key: "multi-zone",
        category: "architecture",
        weight: 4.0,
        promo: 1.8,
        escalate: [0.85, 0.2, 0.0],
        minutes: (60, 240),
        priority: [1.0, 5.0, 2.0, 0.2],
        zh: Texts {
            titles: &[
                "多可用区部署咨询",
                "如何把应用部署到多个可用区",
                "申请多可用区部署方案",
                "单可用区故障风险，想做多机房部署",
            ],
            bodies: &[
                "我们的服务器都在 {zone}，担心机房故障影响下单，想做多可用区部署，需要怎么改造？",
                "健康检查提示我们所有实例都在一个可用区，请提供多可用区部署方案，包括 RDS 和 SLB。",
                "上次 {zone} 网络抖动导致店铺打不开，希望把应用和数据库分布到两个可用区。",
            ],
            resolutions: &[
                "提供多可用区部署方案：ECS 分布到两个可用区挂同一 SLB，RDS 改为高可用版主备跨可用区。",
                "协助商家创建跨可用区伸缩组，并完成一次摘除可用区的演练。",
            ],
        },
        en: Texts {
            titles: &[
                "Multi-zone deployment",
                "How to deploy across zones",
                "All our hosts are in one zone",
            ],
            bodies: &[
                "All our servers are in {zone}. We want a multi-zone deployment so a zone outage does not stop orders.",
                "The health check says every instance is in one zone. Please advise a multi-zone setup for ECS, SLB and RDS.",
            ],
            resolutions: &[
                "Proposed a multi-zone deployment: hosts in two zones behind one SLB, RDS high-availability edition across zones.",
                "Helped the merchant create a scaling group over two zones and drill a zone removal.",
            ],
        },
    },
    Theme {
        key: "slow-database",
        category: "database",
        weight: 8.0,
        promo: 2.5,
        escalate: [0.8, 0.4, 0.15],
        minutes: (40, 200),
        priority: [0.5, 3.0, 4.0, 1.5],
        zh: Texts {
            titles: &[
                "数据库很慢",
                "RDS 响应慢，页面加载超时",
                "数据库 CPU 100%",
                "慢查询很多，订单页面卡顿",
                "数据库变慢了",
            ],
            bodies: &[
                "从昨天开始 RDS {rds} 查询很慢，CPU 一直在 {pct}% 以上，订单页面经常超时。",
                "数据库响应变慢，慢查询日志里有很多查询超过 5 秒，请帮忙分析原因。",
                "大促预热开始后数据库 {rds} 卡顿，IOPS 打满，应用报超时。",
            ],
            resolutions: &[
                "慢查询为订单表缺少联合索引导致全表扫描，已建议添加索引，CPU 降至 30%。",
                "报表查询压在主库上，已建议增加只读实例并把报表切到只读实例。",
                "实例规格不足以支撑大促流量，商家已升级规格。",
            ],
        },
        en: Texts {
            titles: &[
                "Database is slow",
                "RDS slow, pages time out",
                "Database CPU at 100%",
                "Slow queries since yesterday",
            ],
            bodies: &[
                "Since yesterday RDS {rds} is very slow; CPU stays above {pct}% and the order pages time out.",
                "Our database got slow. The slow query log shows many queries over 5 seconds. Please help find the cause.",
                "After the presale started, {rds} hit its IOPS limit and the application times out.",
            ],
            resolutions: &[
                "Full table scans on the orders table for lack of a composite index; after adding it CPU dropped to 30%.",
                "Reports ran on the primary; advised a read-only instance for them.",
                "The instance type was too small for the promotion; the merchant upgraded it.",
            ],
        },
    },
    Theme {
        key: "too-many-connections",
        category: "database",
        weight: 5.0,
        promo: 2.5,
        escalate: [0.7, 0.25, 0.05],
        minutes: (20, 120),
        priority: [0.2, 2.0, 4.0, 2.0],
        zh: Texts {
            titles: &[
                "RDS 连接数满了",
                "数据库报 Too many connections",
                "连接数过多，应用连不上数据库",
            ],
            bodies: &[
                "RDS {rds} 报 Too many connections，当前连接数 {conn}，应用大量报错。",
                "高峰期应用连接数据库失败，错误是 ERROR 1040 Too many connections。",
                "应用扩容后数据库连接数一直打满，新实例连不上数据库。",
            ],
            resolutions: &[
                "应用连接池上限乘以服务器台数超过了实例最大连接数，已调小连接池并开启空闲回收。",
                "有应用异常重连导致连接泄漏，修复后连接数恢复正常。",
            ],
        },
        en: Texts {
            titles: &[
                "Too many connections on RDS",
                "ERROR 1040 Too many connections",
                "Database connections exhausted",
            ],
            bodies: &[
                "RDS {rds} says Too many connections, {conn} connections open, and the application fails.",
                "At peak our app cannot connect: ERROR 1040 Too many connections.",
                "After we scaled out the app servers, the database connections are always at the limit.",
            ],
            resolutions: &[
                "Pool size times app servers exceeded the instance's limit; the pool was reduced and idle eviction enabled.",
                "A service reconnected in a loop and leaked connections; fixed.",
            ],
        },
    },
    Theme {
        key: "ssl-certificate",
        category: "network",
        weight: 4.0,
        promo: 1.3,
        escalate: [0.4, 0.05, 0.0],
        minutes: (15, 60),
        priority: [1.0, 4.0, 2.0, 0.5],
        zh: Texts {
            titles: &[
                "SSL 证书过期",
                "证书到期，网站提示不安全",
                "HTTPS 证书更新后不生效",
            ],
            bodies: &[
                "{domain} 的 SSL 证书过期了，浏览器提示不是私密连接，买家无法下单。",
                "证书续费后在 SLB 上替换了，但访问 {domain} 显示的还是旧证书。",
                "收到证书即将到期的提醒，请问如何续费并部署到负载均衡？",
            ],
            resolutions: &[
                "SLB 的 HTTPS 监听仍绑定旧证书，切换到新证书后恢复。",
                "已指导商家续费证书并在 SLB 证书管理中上传替换。",
            ],
        },
        en: Texts {
            titles: &[
                "SSL certificate expired",
                "Certificate renewal not taking effect",
            ],
            bodies: &[
                "The SSL certificate of {domain} expired and browsers warn buyers away.",
                "We renewed the certificate and uploaded it, but {domain} still serves the old one.",
            ],
            resolutions: &[
                "The SLB HTTPS listener still used the old certificate; switched it.",
                "Guided the merchant through renewal and upload in SLB certificate management.",
            ],
        },
    },
    Theme {
        key: "bandwidth",
        category: "network",
        weight: 5.0,
        promo: 3.0,
        escalate: [0.6, 0.15, 0.0],
        minutes: (20, 90),
        priority: [0.5, 3.0, 3.0, 1.0],
        zh: Texts {
            titles: &[
                "带宽不够，网站很卡",
                "申请临时升级带宽",
                "公网带宽跑满",
            ],
            bodies: &[
                "活动期间公网带宽跑满，图片加载很慢，需要把带宽从 {n}M 临时升级。",
                "监控显示出带宽一直 {pct}%，买家反馈页面打不开，请问怎么处理？",
                "大促当天想临时升级带宽，活动结束后降回来，是否支持？",
            ],
            resolutions: &[
                "已临时升级带宽，并建议静态资源接入 CDN，出带宽下降约 70%。",
                "改为共享带宽包，活动期间按需调整。",
            ],
        },
        en: Texts {
            titles: &[
                "Bandwidth maxed out",
                "Temporary bandwidth upgrade",
            ],
            bodies: &[
                "Outbound bandwidth is at {pct}% during our sale and images load slowly. We need more than {n} Mbps.",
                "Can we upgrade bandwidth for the sale day and scale it back afterwards?",
            ],
            resolutions: &[
                "Upgraded the bandwidth for the sale and moved static files behind the CDN.",
                "Switched the merchant to a shared bandwidth package.",
            ],
        },
    },
    Theme {
        key: "invoice",
        category: "billing",
        weight: 6.0,
        promo: 1.0,
        escalate: [0.0, 0.0, 0.0],
        minutes: (5, 20),
        priority: [5.0, 4.0, 0.3, 0.0],
        zh: Texts {
            titles: &[
                "发票抬头修改",
                "申请开具增值税专用发票",
                "发票开错了需要重开",
            ],
            bodies: &[
                "上个月的发票抬头写错了，需要作废重开，正确抬头和税号已附上。",
                "请问如何开具增值税专用发票？需要提供哪些资料？",
                "发票一直没有收到，请帮忙查询物流。",
            ],
            resolutions: &[
                "已红冲原发票并按正确抬头重新开具。",
                "已告知专票所需资料，商家已在费用中心提交申请。",
            ],
        },
        en: Texts {
            titles: &[
                "Wrong invoice title",
                "Request a VAT invoice",
            ],
            bodies: &[
                "The title on last month's invoice is wrong. Please void it and reissue with the attached tax ID.",
                "How do I request a special VAT invoice, and what documents are needed?",
            ],
            resolutions: &[
                "Reversed the invoice and reissued it with the correct title.",
                "Explained the documents needed; the merchant applied in Billing.",
            ],
        },
    },
    Theme {
        key: "double11-prep",
        category: "promotion",
        weight: 1.5,
        promo: 9.0,
        escalate: [0.9, 0.3, 0.05],
        minutes: (60, 300),
        priority: [0.5, 3.0, 3.0, 0.5],
        zh: Texts {
            titles: &[
                "双11 大促准备咨询",
                "双十一前压测和容量评估",
                "大促保障申请",
            ],
            bodies: &[
                "今年双11预计订单是平时的 {n} 倍，请帮忙评估 ECS、RDS 和带宽的容量，并安排压测。",
                "我们想在双十一前做一次全链路压测，需要平台配合什么？",
                "申请大促保障，活动期间希望有专人值班支持。",
            ],
            resolutions: &[
                "已完成容量评估，给出扩容和升级建议，并协助完成压测。",
                "已将商家加入大促保障名单，提供值班联系人和变更冻结时间。",
            ],
        },
        en: Texts {
            titles: &[
                "Double 11 preparation",
                "Load test and capacity review before Double 11",
            ],
            bodies: &[
                "We expect {n} times the usual orders on Double 11. Please review our ECS, RDS and bandwidth capacity and help with a load test.",
                "We want a full-chain load test before Double 11. What do you need from us?",
            ],
            resolutions: &[
                "Capacity reviewed, scale-out and upgrade advice given, load test supported.",
                "Merchant added to the promotion support list with on-call contacts and the change freeze dates.",
            ],
        },
    },
    Theme {
        key: "security-alert",
        category: "security",
        weight: 4.0,
        promo: 1.5,
        escalate: [0.6, 0.5, 0.05],
        minutes: (30, 180),
        priority: [0.2, 2.0, 4.0, 2.0],
        zh: Texts {
            titles: &[
                "收到安全告警，主机被入侵",
                "服务器 CPU 被挖矿程序占满",
                "安全中心提示主机是肉鸡",
                "发现后门文件",
            ],
            bodies: &[
                "安全中心告警 {inst} 存在异常登录和可疑进程，来源 IP 不是我们的，怎么处理？",
                "主机 {inst} CPU 一直 {pct}%，发现一个陌生进程，怀疑是挖矿木马。",
                "收到通知说我们的服务器对外发起攻击，被当成肉鸡了，请协助排查。",
            ],
            resolutions: &[
                "确认为弱口令被暴力破解，已隔离木马、清理定时任务，商家改用密钥登录并收紧安全组。",
                "主机被植入后门，建议用干净镜像重建并修复漏洞，商家已完成重建。",
            ],
        },
        en: Texts {
            titles: &[
                "Security alert: host compromised",
                "Mining malware on our server",
                "Our host is flagged as a botnet node",
            ],
            bodies: &[
                "Security center reports strange logins and a suspicious process on {inst}. What should we do?",
                "CPU on {inst} is stuck at {pct}% and there is a process we do not know. Looks like mining malware.",
                "We were told our server attacks others and is part of a botnet. Please help.",
            ],
            resolutions: &[
                "Weak password brute-forced; malware quarantined, crontab cleaned, SSH keys enforced, security group tightened.",
                "Backdoor found; the merchant rebuilt the host from a clean image and patched the vulnerability.",
            ],
        },
    },
    Theme {
        key: "ddos",
        category: "security",
        weight: 2.5,
        promo: 2.5,
        escalate: [0.7, 0.6, 0.0],
        minutes: (20, 120),
        priority: [0.0, 1.0, 3.0, 4.0],
        zh: Texts {
            titles: &[
                "遭受 DDoS 攻击，IP 被黑洞",
                "网站被攻击打不开",
                "申请黑洞提前解封",
            ],
            bodies: &[
                "{domain} 从今晚开始被 DDoS 攻击，公网 IP 进入黑洞，店铺完全打不开。",
                "自助解封次数用完了，攻击已经停止，申请提前解封。",
                "活动期间网站频繁被攻击，请问如何接入高防？",
            ],
            resolutions: &[
                "确认攻击停止后经基础运维审批提前解封，并建议商家接入高防。",
                "已协助商家接入 DDoS 高防，源站 IP 已隐藏。",
            ],
        },
        en: Texts {
            titles: &[
                "DDoS attack, IP black-holed",
                "Site down under attack",
            ],
            bodies: &[
                "{domain} is under a DDoS attack since tonight and its IP is black-holed.",
                "We used up the self-service unblocks; the attack stopped. Please unblock early.",
            ],
            resolutions: &[
                "Attack confirmed over; early unblock approved by base ops; advised Anti-DDoS Pro.",
                "Helped the merchant move behind Anti-DDoS Pro and hide the origin IP.",
            ],
        },
    },
    Theme {
        key: "disk-full",
        category: "storage",
        weight: 4.0,
        promo: 1.5,
        escalate: [0.3, 0.05, 0.0],
        minutes: (15, 60),
        priority: [0.5, 3.0, 3.0, 1.0],
        zh: Texts {
            titles: &[
                "磁盘满了",
                "No space left on device",
                "云盘空间不足，申请扩容云盘",
            ],
            bodies: &[
                "{inst} 系统盘使用率 {pct}%，应用写日志失败，报 No space left on device。",
                "数据盘空间不够了，控制台扩容云盘后系统里看到的大小没变。",
            ],
            resolutions: &[
                "日志未轮转占满磁盘，已清理并配置 logrotate。",
                "云盘扩容后需要在系统内扩展分区和文件系统，已指导执行 growpart 和 resize2fs。",
            ],
        },
        en: Texts {
            titles: &[
                "Disk full",
                "No space left on device",
                "Resized the disk but the size did not change",
            ],
            bodies: &[
                "The system disk of {inst} is {pct}% full and the app cannot write logs: No space left on device.",
                "We resized the data disk in the console, but inside the system the size is unchanged.",
            ],
            resolutions: &[
                "Unrotated logs filled the disk; cleaned up and logrotate configured.",
                "After a resize the partition and file system must grow too; guided growpart and resize2fs.",
            ],
        },
    },
    Theme {
        key: "ecs-unreachable",
        category: "compute",
        weight: 5.0,
        promo: 1.5,
        escalate: [0.6, 0.45, 0.1],
        minutes: (20, 150),
        priority: [0.2, 2.0, 4.0, 2.5],
        zh: Texts {
            titles: &[
                "服务器连不上",
                "ECS 突然无法访问",
                "SSH 连接超时",
                "主机宕机",
            ],
            bodies: &[
                "{inst} 从 {ip} 无法 SSH 连接，网站也打不开，控制台显示运行中。",
                "云服务器突然宕机重启，日志里没有异常，请查一下宿主机是否有故障。",
                "安全组已经放通 22 端口，但还是连接超时。",
            ],
            resolutions: &[
                "宿主机硬件故障，已将实例热迁移到其他宿主机，业务恢复。",
                "实例内 iptables 规则拦截了 22 端口，通过 VNC 登录修改后恢复。",
            ],
        },
        en: Texts {
            titles: &[
                "Server unreachable",
                "ECS suddenly down",
                "SSH connection timed out",
            ],
            bodies: &[
                "Cannot SSH to {inst} from {ip} and the site is down, though the console says Running.",
                "Our server rebooted on its own and nothing is in the logs. Is the physical host faulty?",
            ],
            resolutions: &[
                "Host hardware fault; the instance was live-migrated to another host.",
                "iptables inside the instance blocked port 22; fixed through VNC.",
            ],
        },
    },
    Theme {
        key: "dns",
        category: "network",
        weight: 3.0,
        promo: 1.0,
        escalate: [0.2, 0.05, 0.0],
        minutes: (10, 40),
        priority: [2.0, 4.0, 1.0, 0.2],
        zh: Texts {
            titles: &[
                "域名解析不生效",
                "域名解析到错误的 IP",
            ],
            bodies: &[
                "修改了 {domain} 的解析记录两个小时了还没生效。",
                "部分地区访问 {domain} 解析到了旧的 IP。",
            ],
            resolutions: &[
                "原记录 TTL 较长，等待缓存过期后生效；建议后续调低 TTL。",
                "域名 NS 指向了旧的解析服务商，修改 NS 后恢复。",
            ],
        },
        en: Texts {
            titles: &[
                "DNS change not taking effect",
                "Domain resolves to the old IP",
            ],
            bodies: &[
                "I changed the record for {domain} two hours ago and it still resolves to the old address.",
                "Some regions resolve {domain} to our old IP.",
            ],
            resolutions: &[
                "Long TTL on the old record; resolved after caches expired; advised a shorter TTL.",
                "NS records pointed to the previous provider; fixed.",
            ],
        },
    },
    Theme {
        key: "backup-restore",
        category: "database",
        weight: 2.5,
        promo: 1.0,
        escalate: [0.7, 0.3, 0.05],
        minutes: (30, 150),
        priority: [0.2, 2.0, 3.0, 2.0],
        zh: Texts {
            titles: &[
                "数据误删，如何恢复",
                "RDS 按时间点恢复",
            ],
            bodies: &[
                "同事误删了 {rds} 的订单表，请问能恢复到今天上午十点的数据吗？",
                "执行了没有条件的 UPDATE，需要把数据恢复到操作之前。",
            ],
            resolutions: &[
                "已通过按时间点恢复到新实例，商家导出误删数据后导回原实例。",
                "使用日志备份恢复库表到误操作前一分钟。",
            ],
        },
        en: Texts {
            titles: &[
                "Restore deleted data",
                "Point-in-time restore of RDS",
            ],
            bodies: &[
                "A colleague dropped the orders table on {rds}. Can we get it back as of this morning?",
                "We ran an UPDATE without a WHERE clause and need the data from before it.",
            ],
            resolutions: &[
                "Restored to a new instance at a point in time; the merchant copied the table back.",
                "Restored the tables from log backups to one minute before the mistake.",
            ],
        },
    },
];

/// Sentences merchants add, in either language, that are about urgency or context
/// rather than the request itself.
pub(crate) const EXTRAS_ZH: &[&str] = &[
    "今晚有活动，比较急。",
    "我们是 VIP 商家，麻烦尽快处理。",
    "昨天开始出现的。",
    "之前也遇到过一次。",
    "影响到下单了，请尽快。",
    "谢谢！",
];

pub(crate) const EXTRAS_EN: &[&str] = &[
    "We have a sale tonight, this is urgent.",
    "This started yesterday.",
    "We saw this once before.",
    "Orders are failing, please hurry.",
    "Thanks!",
];
