//! Any query text evaluates or fails cleanly over a small fixed dataset: no panic, no
//! hang past the engine's sample limit.
#![no_main]
use cairn_promql::testing::MemStorage;
use cairn_promql::Engine;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let mut storage = MemStorage::new();
    for (i, mode) in ["idle", "user"].iter().enumerate() {
        storage.add(
            vec![
                ("__name__".to_owned(), "node_cpu_seconds_total".to_owned()),
                ("mode".to_owned(), (*mode).to_owned()),
            ],
            (0..60).map(|s| (s * 15_000, (s * (i as i64 + 1)) as f64)),
        );
    }
    let engine = Engine { max_samples: 100_000, ..Engine::default() };
    let _ = engine.instant(&storage, query, 600_000);
    let _ = engine.range(&storage, query, 0, 900_000, 60_000);
});
