//! Subcommands that talk to a running server with a token: for scripts (`--output json`)
//! and people (`--output table`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use cairn_domain::Kind;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// The cairn server.
    #[arg(long, env = "CAIRN_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API token (see <data-dir>/admin-token, or POST /api/v1/tokens).
    #[arg(long, env = "CAIRN_TOKEN", hide_env_values = true)]
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ResourceCmd {
    /// List records, a page at a time or all of them.
    ///
    /// Examples:
    ///   cairn merchants list --filter tier=vip
    ///   cairn instances list --filter merchant_id=m-10001 --all --output json
    List(ListArgs),
    /// Show one record by id.
    Get {
        id: String,
        #[command(flatten)]
        conn: Conn,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Only records whose FIELD equals VALUE; repeatable.
    #[arg(long = "filter", value_name = "FIELD=VALUE")]
    pub filters: Vec<String>,
    /// Records per page (1..=1000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Follow next_cursor through every page.
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A .json or .csv file.
    pub file: PathBuf,
    /// The kind of records in the file [default: from the file name].
    #[arg(long)]
    pub kind: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().build()?)
}

/// Turns an error response into a message that says what the server said.
async fn check(res: reqwest::Response) -> anyhow::Result<Value> {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let e = &body["error"];
    let field = e["field"]
        .as_str()
        .map(|f| format!(" (field {f})"))
        .unwrap_or_default();
    bail!(
        "server answered {status}: {}{field}",
        e["message"].as_str().unwrap_or("no message")
    )
}

pub async fn resource(kind: Kind, cmd: ResourceCmd) -> anyhow::Result<()> {
    match cmd {
        ResourceCmd::List(a) => list(kind, a).await,
        ResourceCmd::Get { id, conn, output } => {
            let url = format!(
                "{}/api/v1/{}/{}",
                conn.server.trim_end_matches('/'),
                kind.plural(),
                id
            );
            let body = check(client()?.get(url).bearer_auth(&conn.token).send().await?).await?;
            print_records(kind, &[body], output);
            Ok(())
        }
    }
}

async fn list(kind: Kind, a: ListArgs) -> anyhow::Result<()> {
    let mut params: Vec<(String, String)> = Vec::new();
    for f in &a.filters {
        let (k, v) = f
            .split_once('=')
            .with_context(|| format!("--filter takes FIELD=VALUE, got {f:?}"))?;
        params.push((k.to_owned(), v.to_owned()));
    }
    params.push(("limit".into(), a.limit.to_string()));
    let http = client()?;
    let url = format!(
        "{}/api/v1/{}",
        a.conn.server.trim_end_matches('/'),
        kind.plural()
    );
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = params.clone();
        if let Some(c) = &cursor {
            q.push(("cursor".into(), c.clone()));
        }
        let page = check(
            http.get(&url)
                .query(&q)
                .bearer_auth(&a.conn.token)
                .send()
                .await?,
        )
        .await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if !a.all || cursor.is_none() {
            break;
        }
    }
    print_records(kind, &items, a.output);
    if let (Some(c), Output::Table) = (cursor, a.output) {
        eprintln!("(more records follow: --all, or the API's cursor={c})");
    }
    Ok(())
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_records(kind: Kind, items: &[Value], output: Output) {
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(items).unwrap_or_default()
        );
        return;
    }
    let cols: Vec<&str> = kind.columns().iter().map(|c| c.name).collect();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| cols.iter().map(|c| cell(&i[*c])).collect())
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |vals: Vec<String>| {
        vals.iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v}{}", " ".repeat(w - v.chars().count())))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(cols.iter().map(|c| c.to_uppercase()).collect()));
    for r in rows {
        println!("{}", line(r));
    }
}

pub async fn import(a: ImportArgs) -> anyhow::Result<()> {
    let name = a
        .file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let kind = match &a.kind {
        Some(k) => Kind::from_plural(k)
            .with_context(|| format!("unknown kind {k:?}; kinds are {}", kinds()))?,
        None => {
            let stem = name.split('.').next().unwrap_or_default();
            Kind::from_plural(stem).with_context(|| {
                format!(
                    "cannot tell the kind from the file name {name:?}; pass --kind ({})",
                    kinds()
                )
            })?
        }
    };
    let format = cairn_app::import::Format::guess(&name)
        .with_context(|| format!("{name:?} is neither .json nor .csv"))?;
    let content_type = match format {
        cairn_app::import::Format::Csv => "text/csv",
        cairn_app::import::Format::Json => "application/json",
    };
    let text =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let url = format!(
        "{}/api/v1/{}/import",
        a.conn.server.trim_end_matches('/'),
        kind.plural()
    );
    let res = client()?
        .post(url)
        .bearer_auth(&a.conn.token)
        .header("content-type", content_type)
        .body(text)
        .send()
        .await?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        println!("imported {} {}", body["imported"], kind.plural());
        return Ok(());
    }
    if let Some(errors) = body["report"]["errors"].as_array() {
        for e in errors {
            eprintln!(
                "row {}{}: {}{}",
                e["row"],
                e["id"]
                    .as_str()
                    .map(|i| format!(" ({i})"))
                    .unwrap_or_default(),
                e["field"]
                    .as_str()
                    .map(|f| format!("{f}: "))
                    .unwrap_or_default(),
                e["message"].as_str().unwrap_or_default()
            );
        }
    }
    bail!(
        "server answered {status}: {}",
        body["error"]["message"].as_str().unwrap_or("no message")
    )
}

fn kinds() -> String {
    Kind::ALL.map(|k| k.plural()).join(", ")
}

/// `cairn rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCmd {
    /// Import a Prometheus rule file unchanged (replacing one of the same name); every
    /// mistake is reported with its line, group and rule.
    Import(RulesImportArgs),
    /// List every rule with its health: last evaluation, duration, error.
    List {
        #[command(flatten)]
        conn: Conn,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
}

#[derive(Debug, Args)]
pub struct RulesImportArgs {
    /// A Prometheus rule file (YAML).
    pub file: PathBuf,
    /// The name to store it under [default: the file's name].
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

pub async fn rules(cmd: RulesCmd) -> anyhow::Result<()> {
    match cmd {
        RulesCmd::Import(a) => {
            let name = match a.name {
                Some(n) => n,
                None => a
                    .file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("rules.yml")
                    .to_owned(),
            };
            let text = std::fs::read_to_string(&a.file)
                .with_context(|| format!("cannot read {}", a.file.display()))?;
            let url = format!("{}/api/v1/rules", a.conn.server.trim_end_matches('/'));
            let res = client()?
                .post(url)
                .query(&[("name", &name)])
                .bearer_auth(&a.conn.token)
                .header("content-type", "application/yaml")
                .body(text)
                .send()
                .await?;
            let body = check(res).await?;
            println!(
                "imported {name}: {} groups, {} rules",
                body["groups"], body["rules"]
            );
            Ok(())
        }
        RulesCmd::List { conn, output } => {
            let url = format!("{}/api/v1/rules", conn.server.trim_end_matches('/'));
            let res = client()?.get(url).bearer_auth(&conn.token).send().await?;
            let body = check(res).await?;
            match output {
                Output::Json => println!("{body}"),
                Output::Table => {
                    println!(
                        "{:<16} {:<20} {:<28} {:<9} {:>7} {:>6}  ERROR",
                        "FILE", "GROUP", "RULE", "HEALTH", "PENDING", "FIRING"
                    );
                    for r in body.as_array().into_iter().flatten() {
                        println!(
                            "{:<16} {:<20} {:<28} {:<9} {:>7} {:>6}  {}",
                            r["file"].as_str().unwrap_or_default(),
                            r["group"].as_str().unwrap_or_default(),
                            r["name"].as_str().unwrap_or_default(),
                            r["health"]["health"].as_str().unwrap_or_default(),
                            r["pending"],
                            r["firing"],
                            r["health"]["last_error"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

/// `cairn changes ...`
#[derive(Debug, Subcommand)]
pub enum ChangesCmd {
    /// List change requests, newest first: state, type, risk, progress.
    List {
        #[command(flatten)]
        conn: Conn,
        #[arg(long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Show one change as JSON: risk factors, approvals, batches, gate verdicts, log.
    Show {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create a draft from a JSON file shaped as `POST /api/v1/changes` takes it
    /// (title, type, targets, window_start/window_end, test_plan, rollback_plan, plan,
    /// executor, rollback, gate).
    Create {
        file: PathBuf,
        #[command(flatten)]
        conn: Conn,
    },
    /// Submit a draft: required fields are checked, risk scored, freezes checked.
    Submit {
        id: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Approve a change (someone other than its requester).
    Approve {
        id: String,
        #[arg(long, default_value = "")]
        comment: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Reject a change; the reason is required.
    Reject {
        id: String,
        #[arg(long)]
        comment: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Start, pause, resume, skip the current batch of, or abort a change.
    Run {
        id: String,
        #[arg(value_parser = ["start", "pause", "resume", "skip", "abort"])]
        action: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Run the rollback plan's executor now.
    Rollback {
        id: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        conn: Conn,
    },
}

pub async fn changes(cmd: ChangesCmd) -> anyhow::Result<()> {
    let url = |conn: &Conn, path: &str| {
        format!("{}/api/v1/changes{path}", conn.server.trim_end_matches('/'))
    };
    let post = |conn: &Conn, path: &str, body: Value| {
        let req = client().map(|c| c.post(url(conn, path)).bearer_auth(&conn.token).json(&body));
        async move { check(req?.send().await?).await }
    };
    let summary = |c: &Value| {
        println!(
            "{} {} ({}): {}{}",
            c["id"].as_str().unwrap_or(""),
            c["state"].as_str().unwrap_or(""),
            c["risk"]["level"].as_str().unwrap_or("not scored"),
            c["title"].as_str().unwrap_or(""),
            c["reason"]
                .as_str()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        )
    };
    match cmd {
        ChangesCmd::List { conn, output } => {
            let res = client()?
                .get(url(&conn, ""))
                .bearer_auth(&conn.token)
                .send()
                .await?;
            let body = check(res).await?;
            match output {
                Output::Json => println!("{body}"),
                Output::Table => {
                    println!(
                        "{:<18} {:<11} {:<10} {:<7} {:>7}  TITLE",
                        "ID", "STATE", "TYPE", "RISK", "BATCHES"
                    );
                    for c in body.as_array().into_iter().flatten() {
                        let batches = c["batches"].as_array().map_or(0, Vec::len);
                        let done = c["batches"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|b| b["status"] == "done")
                            .count();
                        println!(
                            "{:<18} {:<11} {:<10} {:<7} {:>7}  {}",
                            c["id"].as_str().unwrap_or(""),
                            c["state"].as_str().unwrap_or(""),
                            c["type"].as_str().unwrap_or(""),
                            c["risk"]["level"].as_str().unwrap_or("-"),
                            format!("{done}/{batches}"),
                            c["title"].as_str().unwrap_or("")
                        );
                    }
                }
            }
        }
        ChangesCmd::Show { id, conn } => {
            let res = client()?
                .get(url(&conn, &format!("/{id}")))
                .bearer_auth(&conn.token)
                .send()
                .await?;
            println!("{:#}", check(res).await?);
        }
        ChangesCmd::Create { file, conn } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            summary(&post(&conn, "", body).await?);
        }
        ChangesCmd::Submit { id, conn } => {
            summary(&post(&conn, &format!("/{id}/submit"), Value::Null).await?)
        }
        ChangesCmd::Approve { id, comment, conn } => summary(
            &post(
                &conn,
                &format!("/{id}/approve"),
                serde_json::json!({"approve": true, "comment": comment}),
            )
            .await?,
        ),
        ChangesCmd::Reject { id, comment, conn } => summary(
            &post(
                &conn,
                &format!("/{id}/approve"),
                serde_json::json!({"approve": false, "comment": comment}),
            )
            .await?,
        ),
        ChangesCmd::Run { id, action, conn } => {
            summary(&post(&conn, &format!("/{id}/{action}"), Value::Null).await?)
        }
        ChangesCmd::Rollback { id, reason, conn } => summary(
            &post(
                &conn,
                &format!("/{id}/rollback"),
                serde_json::json!({"reason": reason}),
            )
            .await?,
        ),
    }
    Ok(())
}
