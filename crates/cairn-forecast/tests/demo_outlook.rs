//! The demo cloud's capacity story, end to end: its sales history forecast per pool, with
//! one or two pools at risk of running out inside their product's lead time.
use cairn_domain::demo;
use cairn_domain::demo_sales;
use cairn_forecast::demand::DemandConfig;
use cairn_forecast::demo::{bench_today, pool_cases};
use cairn_forecast::outlook::pool_outlook;

#[test]
fn one_or_two_pools_are_at_risk_and_they_are_the_hot_ones() {
    let today = bench_today();
    let cloud = demo::generate(today);
    let sales = demo_sales::generate(&cloud, today);
    let cfg = DemandConfig {
        horizon: 120,
        paths: 100,
        ..DemandConfig::default()
    };
    let mut at_risk: Vec<String> = Vec::new();
    for (_, case) in pool_cases(&cloud, &sales) {
        let o = pool_outlook(&case, &cfg).unwrap();
        if o.advice.at_risk {
            at_risk.push(case.pool_id.to_string());
        }
    }
    assert_eq!(
        at_risk,
        ["pool-rds-cn-hangzhou-g", "pool-ecs-cn-hangzhou-h"]
    );
}
