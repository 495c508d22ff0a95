//! The `cairn` binary as an operator runs it: configured by file and environment,
//! bootstrapped, scripted with the CLI, stopped with SIGTERM, restarted on the same data.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const TOKEN: &str = "binary-test-admin-token-42";

fn cairn() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    for (k, _) in std::env::vars() {
        if k.starts_with("CAIRN_") {
            c.env_remove(k);
        }
    }
    c
}

/// A running `cairn serve`, killed if the test fails before stopping it.
struct Serve {
    child: Child,
    base: String,
    stdout: Vec<String>,
}

impl Serve {
    fn start(dir: &Path, extra_env: &[(&str, &str)]) -> Serve {
        let config = dir.join("cairn.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let mut cmd = cairn();
        cmd.args(["serve", "--config"]).arg(&config);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stdout = Vec::new();
        let base = loop {
            let line = lines
                .next()
                .expect("serve exited before listening")
                .unwrap();
            stdout.push(line.clone());
            if let Some(rest) = line.strip_prefix("cairn is serving on ") {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_end_matches('/')
                    .to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Serve {
            child,
            base,
            stdout,
        }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "serve ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn cli(base: &str, args: &[&str]) -> (bool, String, String) {
    let out = cairn()
        .args(args)
        .args(["--server", base, "--token", TOKEN])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_operator_serves_the_demo_scripts_it_and_restarts_on_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("CAIRN_BOOTSTRAP_TOKEN", TOKEN), ("CAIRN_DEMO", "true")];
    let serve = Serve::start(dir.path(), &env);
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/readyz", serve.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Scripts list with JSON output and filters.
    let (ok, out, err) = cli(
        &serve.base,
        &[
            "merchants",
            "list",
            "--filter",
            "tier=vip",
            "--all",
            "--output",
            "json",
        ],
    );
    assert!(ok, "{err}");
    let vips: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(
        vips.len() >= 5 && vips.iter().all(|m| m["tier"] == "vip"),
        "{out}"
    );
    let (ok, table, _) = cli(&serve.base, &["pools", "list", "--limit", "5"]);
    assert!(ok);
    assert!(table.starts_with("ID  "), "{table}");
    assert_eq!(table.lines().count(), 6, "{table}");

    // Import: a bad file is refused row by row, a good one lands.
    let bad = dir.path().join("regions.csv");
    std::fs::write(&bad, "id,name\ncn-sz,深圳\ncn bad,x\n").unwrap();
    let (ok, _, err) = cli(&serve.base, &["import", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("row 2 (cn bad): id:"), "{err}");
    std::fs::write(&bad, "id,name\ncn-sz,深圳\n").unwrap();
    let (ok, out, err) = cli(&serve.base, &["import", bad.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "imported 1 regions");

    let status = serve.stop();
    assert!(status.success(), "serve exited with {status}");

    // Restart on the same data: nothing is lost, the demo is not loaded twice.
    let serve = Serve::start(dir.path(), &env);
    let (ok, out, _) = cli(
        &serve.base,
        &["regions", "get", "cn-sz", "--output", "json"],
    );
    assert!(ok);
    assert!(out.contains("深圳"));
    let (ok, out, _) = cli(&serve.base, &["regions", "list", "--output", "json"]);
    assert!(ok);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&out).unwrap().len(), 4);

    // Changes from the terminal: the demo's history, a draft from a file, and a
    // submission refused with the field that is missing.
    let (ok, table, err) = cli(&serve.base, &["changes", "list"]);
    assert!(ok, "{err}");
    assert!(
        table.contains("rolled_back") && table.starts_with("ID"),
        "{table}"
    );
    let draft = dir.path().join("change.json");
    std::fs::write(
        &draft,
        r#"{"title": "Resize the Tair cache", "type": "normal", "targets": {"services": ["svc-tair-cache"]},
            "rollback_plan": "resize back", "executor": {"kind": "webhook", "url": "http://127.0.0.1:9/x"}}"#,
    )
    .unwrap();
    let (ok, out, err) = cli(&serve.base, &["changes", "create", draft.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains(" draft "), "{out}");
    let id = out.split_whitespace().next().unwrap().to_owned();
    let (ok, _, err) = cli(&serve.base, &["changes", "submit", &id]);
    assert!(!ok);
    assert!(err.contains("description"), "{err}");
    assert!(serve.stop().success());
}

#[test]
fn a_fresh_store_prints_a_generated_admin_token_once_and_keeps_it_private() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]);
    let printed = serve.stdout.join("\n");
    let file = dir.path().join("data/admin-token");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(token.starts_with("cairn_") && token.len() > 40);
    assert!(printed.contains(&token), "{printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(serve.stop().success());
    let again = Serve::start(dir.path(), &[]);
    assert!(
        !again.stdout.join("\n").contains("admin API token"),
        "printed twice"
    );
    assert!(again.stop().success());
}

#[test]
fn a_config_file_with_an_unknown_setting_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cairn.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nlisten_port = 9\n").unwrap();
    let out = cairn()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen_port"), "{err}");
}

#[test]
fn every_subcommand_explains_itself() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["demo", "--help"],
        vec!["import", "--help"],
        vec!["merchants", "list", "--help"],
    ] {
        let out = cairn().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
    let serve = cairn().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&serve.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--database-url",
        "--config",
        "CAIRN_LISTEN",
    ] {
        assert!(text.contains(flag), "serve --help lacks {flag}");
    }
}

/// Sends one remote-write request of `n` samples of series `crash_test` from `t`.
async fn write_crash_batch(
    http: &reqwest::Client,
    base: &str,
    t: i64,
    n: i64,
) -> Result<(), String> {
    use cairn_wire::remote_write::{encode_write_request, Label, Sample, TimeSeries, WriteRequest};
    let ts = TimeSeries {
        labels: vec![Label {
            name: "__name__".into(),
            value: "crash_test".into(),
        }],
        samples: (0..n)
            .map(|i| Sample {
                timestamp: t + i * 1000,
                value: (t + i) as f64,
            })
            .collect(),
        ..Default::default()
    };
    let body = encode_write_request(&WriteRequest {
        timeseries: vec![ts],
        ..Default::default()
    });
    let res = http
        .post(format!("{base}/prometheus/api/v1/write"))
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if res.status().as_u16() == 204 {
        Ok(())
    } else {
        Err(res.status().to_string())
    }
}

#[tokio::test]
async fn every_acknowledged_sample_survives_a_sigkill_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("CAIRN_BOOTSTRAP_TOKEN", TOKEN),
        ("CAIRN_METRICS_FSYNC", "always"),
    ];
    let mut serve = Serve::start(dir.path(), &env);
    let http = reqwest::Client::new();
    let t0 = 1_790_000_000_000_i64;
    let per = 500;
    // A writer streams batches; the server is killed while it is still writing.
    let writer = {
        let (http, base) = (http.clone(), serve.base.clone());
        tokio::spawn(async move {
            let mut acked = 0_i64;
            for b in 0..10_000 {
                match write_crash_batch(&http, &base, t0 + b * per * 1000, per).await {
                    Ok(()) => acked += per,
                    Err(_) => break,
                }
            }
            acked
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    serve.child.kill().unwrap(); // SIGKILL
    serve.child.wait().unwrap();
    let acked = writer.await.unwrap();
    assert!(acked > 0, "nothing was acknowledged before the kill");

    let serve = Serve::start(dir.path(), &env);
    let end_s = (t0 + acked * 1000 * 2) / 1000;
    let res: Value = http
        .get(format!("{}/prometheus/api/v1/query", serve.base))
        .bearer_auth(TOKEN)
        .query(&[
            ("query", "count_over_time(crash_test[100y])".to_owned()),
            ("time", end_s.to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: i64 = res["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap();
    assert!(
        stored >= acked,
        "acknowledged {acked} samples, found {stored} after the crash: {res}"
    );
    // The store is consistent: the series still takes new samples after the restart.
    write_crash_batch(&http, &serve.base, t0 + (stored + 10) * 1000, 10)
        .await
        .unwrap();
    assert!(serve.stop().success());
}
