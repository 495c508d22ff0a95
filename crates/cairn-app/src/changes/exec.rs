//! The executors: a command run with the batch's targets as arguments and in its
//! environment, or a webhook told about the batch that calls back when done.

use std::process::Stdio;

use serde_json::json;
use tokio::io::AsyncReadExt;

use super::{BatchRun, Change, Executor, OUTPUT_LIMIT};
use crate::App;

/// What an executor did.
pub enum Outcome {
    /// The command ended (or timed out): success, exit code, output.
    Finished {
        ok: bool,
        code: Option<i32>,
        output: String,
    },
    /// The webhook took the batch; its callback tells the end.
    Accepted { output: String },
    /// It could not be run at all.
    Error(String),
}

fn clip(mut s: String) -> String {
    if s.len() > OUTPUT_LIMIT {
        let mut cut = OUTPUT_LIMIT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("\n… (output cut)");
    }
    s
}

/// Runs `run` (a batch, or the rollback) with `executor`; `action` is `deploy` or
/// `rollback`.
pub async fn run(
    app: &App,
    c: &Change,
    run: &BatchRun,
    executor: &Executor,
    action: &str,
) -> Outcome {
    let addresses: Vec<String> = c
        .hosts
        .iter()
        .filter(|h| run.targets.contains(&h.id))
        .filter_map(|h| h.address.clone())
        .collect();
    let batch = c
        .batches
        .iter()
        .position(|b| b.name == run.name)
        .map(|n| n.to_string())
        .unwrap_or_else(|| "rollback".into());
    match executor {
        Executor::Command {
            program,
            args,
            timeout_s,
        } => {
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args)
                .args(&run.targets)
                .env("CAIRN_CHANGE_ID", &c.id)
                .env("CAIRN_BATCH", &batch)
                .env("CAIRN_BATCH_NAME", &run.name)
                .env("CAIRN_ACTION", action)
                .env("CAIRN_TARGETS", run.targets.join(" "))
                .env("CAIRN_TARGET_ADDRESSES", addresses.join(" "))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) => return Outcome::Error(format!("{program} could not start: {e}")),
            };
            let mut stdout = child.stdout.take();
            let mut stderr = child.stderr.take();
            let read = async {
                let mut out = Vec::new();
                let mut err = Vec::new();
                if let Some(s) = stdout.as_mut() {
                    let _ = s.read_to_end(&mut out).await;
                }
                if let Some(s) = stderr.as_mut() {
                    let _ = s.read_to_end(&mut err).await;
                }
                let status = child.wait().await;
                (out, err, status)
            };
            match tokio::time::timeout(std::time::Duration::from_secs(*timeout_s), read).await {
                Ok((out, err, status)) => {
                    let mut text = String::from_utf8_lossy(&out).into_owned();
                    if !err.is_empty() {
                        text.push_str(&String::from_utf8_lossy(&err));
                    }
                    match status {
                        Ok(s) => Outcome::Finished {
                            ok: s.success(),
                            code: s.code(),
                            output: clip(text),
                        },
                        Err(e) => Outcome::Error(format!("{program}: {e}")),
                    }
                }
                Err(_) => Outcome::Finished {
                    ok: false,
                    code: None,
                    output: format!("{program} did not finish within {timeout_s}s and was killed"),
                },
            }
        }
        Executor::Webhook { url, timeout_s } => {
            let base = app
                .alerting()
                .map(|a| a.options.external_url.clone())
                .unwrap_or_default();
            let callback = run.callback_key.as_ref().map(|k| {
                format!(
                    "{base}/api/v1/changes/{}/batches/{batch}/callback?key={k}",
                    c.id
                )
            });
            let body = json!({
                "change_id": c.id,
                "title": c.title,
                "action": action,
                "batch": batch,
                "batch_name": run.name,
                "targets": run.targets,
                "addresses": addresses,
                "callback": callback,
            });
            let res = reqwest::Client::new()
                .post(url)
                .timeout(std::time::Duration::from_secs((*timeout_s).min(30)))
                .json(&body)
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    let text = r.text().await.unwrap_or_default();
                    if callback.is_some() {
                        Outcome::Accepted { output: clip(text) }
                    } else {
                        Outcome::Finished {
                            ok: true,
                            code: None,
                            output: clip(text),
                        }
                    }
                }
                Ok(r) => Outcome::Error(format!("{url} answered {}", r.status())),
                Err(e) => Outcome::Error(format!("{url}: {e}")),
            }
        }
    }
}
