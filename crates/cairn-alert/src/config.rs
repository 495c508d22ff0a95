//! The Alertmanager-style configuration: global settings, the routing tree,
//! receivers, inhibition rules and named time intervals.
//!
//! Existing `alertmanager.yml` files load unchanged as long as they use
//! the integrations cairn has (webhook, Slack, email; plus cairn's own
//! DingTalk); anything else is refused with its line rather than ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::duration::parse_duration;
use crate::labels::{is_valid_label_name, LabelSet};
use crate::matchers::{parse_matchers, MatchType, Matcher, Matchers};
use crate::notify::{parse_receiver, GlobalNotify, ReceiverConfig};
use crate::timeinterval::{parse_time_interval, TimeInterval};
use crate::yaml::{self, MapReader, Node, YamlError};

/// A configuration error, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// How alerts are grouped on a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// `group_by: ['...']`: every label, so each alert is its own group.
    All,
    Labels(BTreeSet<String>),
}

impl GroupBy {
    /// The group labels of an alert (Alertmanager's `getGroupLabels`).
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match self {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => labels
                .iter()
                .filter(|(k, _)| names.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// A node of the routing tree, with inherited settings already applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub receiver: String,
    pub group_by: GroupBy,
    #[serde(with = "crate::duration::serde_text")]
    pub group_wait: time::Duration,
    #[serde(with = "crate::duration::serde_text")]
    pub group_interval: time::Duration,
    #[serde(with = "crate::duration::serde_text")]
    pub repeat_interval: time::Duration,
    pub matchers: Matchers,
    pub r#continue: bool,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub routes: Vec<Route>,
    /// Alertmanager's route key (`{}/{severity="critical"}`): the prefix of
    /// the group keys of this route.
    pub key: String,
    /// The key plus the position among siblings; unique in the tree.
    pub id: String,
    #[serde(default)]
    pub line: usize,
}

impl Route {
    /// The routes an alert goes to (Alertmanager's `Route.Match`): depth
    /// first, the first matching child unless it has `continue`, and the
    /// node itself when no child matches.
    pub fn match_routes(&self, labels: &LabelSet) -> Vec<&Route> {
        if !self.matchers.matches(labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let m = child.match_routes(labels);
            let matched = !m.is_empty();
            all.extend(m);
            if matched && !child.r#continue {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// Finds a route by id.
    pub fn find(&self, id: &str) -> Option<&Route> {
        if self.id == id {
            return Some(self);
        }
        self.routes.iter().find_map(|r| r.find(id))
    }

    /// Every route of the tree, depth first.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for r in &self.routes {
            out.extend(r.walk());
        }
        out
    }
}

/// An inhibition rule: while an alert matching `source` fires, alerts
/// matching `target` with the same values of the `equal` labels are muted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InhibitRule {
    pub source_matchers: Matchers,
    pub target_matchers: Matchers,
    pub equal: Vec<String>,
}

/// Global settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Global {
    /// The end given to alerts that arrive without one (default 5m).
    #[serde(with = "crate::duration::serde_text")]
    pub resolve_timeout: time::Duration,
    pub notify: GlobalNotify,
}

/// A whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub global: Global,
    pub route: Route,
    pub receivers: Vec<ReceiverConfig>,
    pub inhibit_rules: Vec<InhibitRule>,
    pub time_intervals: BTreeMap<String, Vec<TimeInterval>>,
    /// Template file names, kept for the app to load.
    pub templates: Vec<String>,
}

impl Config {
    pub fn receiver(&self, name: &str) -> Option<&ReceiverConfig> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

fn e(node: &Node, message: impl Into<String>) -> YamlError {
    YamlError {
        pos: node.pos,
        message: message.into(),
    }
}

fn duration(m: &mut MapReader<'_>, key: &str) -> Result<Option<time::Duration>, YamlError> {
    match m.get(key) {
        None => Ok(None),
        Some(n) => parse_duration(&n.str(key)?)
            .map(Some)
            .map_err(|msg| e(n, format!("{key}: {msg}"))),
    }
}

/// The three old and new ways to write matchers, merged.
fn matchers_of(
    m: &mut MapReader<'_>,
    list_key: &str,
    match_key: &str,
    match_re_key: &str,
) -> Result<Matchers, YamlError> {
    let mut out = Vec::new();
    if let Some(n) = m.get(match_key) {
        for (k, v, pos) in n.string_map(match_key)? {
            if !is_valid_label_name(&k) {
                return Err(YamlError {
                    pos,
                    message: format!("{match_key}: invalid label name {k:?}"),
                });
            }
            out.push(
                Matcher::new(k, MatchType::Equal, v)
                    .map_err(|msg| YamlError { pos, message: msg })?,
            );
        }
    }
    if let Some(n) = m.get(match_re_key) {
        for (k, v, pos) in n.string_map(match_re_key)? {
            if !is_valid_label_name(&k) {
                return Err(YamlError {
                    pos,
                    message: format!("{match_re_key}: invalid label name {k:?}"),
                });
            }
            out.push(
                Matcher::new(k, MatchType::Regex, v).map_err(|msg| YamlError {
                    pos,
                    message: format!("{match_re_key}: {msg}"),
                })?,
            );
        }
    }
    if let Some(n) = m.get(list_key) {
        for item in n.seq(list_key)? {
            let s = item.str(list_key)?;
            out.extend(parse_matchers(&s).map_err(|msg| e(item, format!("{list_key}: {msg}")))?);
        }
    }
    Ok(Matchers(out))
}

struct Parent<'a> {
    receiver: &'a str,
    group_by: &'a GroupBy,
    group_wait: time::Duration,
    group_interval: time::Duration,
    repeat_interval: time::Duration,
    key: &'a str,
}

fn parse_route(
    node: &Node,
    parent: Option<&Parent<'_>>,
    position: Option<usize>,
) -> Result<Route, YamlError> {
    let mut m = node.map("route")?;
    let receiver = m.opt_str("receiver")?.filter(|s| !s.is_empty());
    let group_by = match m.get("group_by") {
        None => None,
        Some(n) => {
            let names = n.string_list("group_by")?;
            if names.iter().any(|s| s == "...") {
                if names.len() > 1 {
                    return Err(e(
                        n,
                        "cannot have wildcard group_by (`...`) and other labels at the same time",
                    ));
                }
                Some(GroupBy::All)
            } else {
                let mut set = BTreeSet::new();
                for l in names {
                    if !is_valid_label_name(&l) {
                        return Err(e(n, format!("invalid label name {l:?} in group_by list")));
                    }
                    if !set.insert(l.clone()) {
                        return Err(e(n, format!("duplicated label {l:?} in group_by")));
                    }
                }
                Some(GroupBy::Labels(set))
            }
        }
    };
    let group_wait = duration(&mut m, "group_wait")?;
    let group_interval = duration(&mut m, "group_interval")?;
    let repeat_interval = duration(&mut m, "repeat_interval")?;
    if group_interval == Some(time::Duration::ZERO) {
        return Err(e(node, "group_interval cannot be zero"));
    }
    if repeat_interval == Some(time::Duration::ZERO) {
        return Err(e(node, "repeat_interval cannot be zero"));
    }
    let matchers = matchers_of(&mut m, "matchers", "match", "match_re")?;
    let r#continue = match m.get("continue") {
        Some(n) => n.bool("continue")?,
        None => false,
    };
    let mute = match m.get("mute_time_intervals") {
        Some(n) => n.string_list("mute_time_intervals")?,
        None => Vec::new(),
    };
    let active = match m.get("active_time_intervals") {
        Some(n) => n.string_list("active_time_intervals")?,
        None => Vec::new(),
    };
    let children = m.get("routes");
    m.finish()?;

    let key = match parent {
        None => matchers.to_string(),
        Some(p) => format!("{}/{}", p.key, matchers),
    };
    let id = match position {
        Some(i) => format!("{key}/{i}"),
        None => key.clone(),
    };
    let (receiver, group_by, group_wait, group_interval, repeat_interval) = match parent {
        None => {
            if !matchers.is_empty() {
                return Err(e(node, "root route must not have any matchers"));
            }
            if r#continue {
                return Err(e(node, "cannot have continue in root route"));
            }
            if !mute.is_empty() {
                return Err(e(node, "root route must not have any mute time intervals"));
            }
            if !active.is_empty() {
                return Err(e(
                    node,
                    "root route must not have any active time intervals",
                ));
            }
            (
                receiver.ok_or_else(|| e(node, "root route must specify a default receiver"))?,
                group_by.unwrap_or(GroupBy::Labels(BTreeSet::new())),
                group_wait.unwrap_or(time::Duration::seconds(30)),
                group_interval.unwrap_or(time::Duration::minutes(5)),
                repeat_interval.unwrap_or(time::Duration::hours(4)),
            )
        }
        Some(p) => (
            receiver.unwrap_or_else(|| p.receiver.to_string()),
            group_by.unwrap_or_else(|| p.group_by.clone()),
            group_wait.unwrap_or(p.group_wait),
            group_interval.unwrap_or(p.group_interval),
            repeat_interval.unwrap_or(p.repeat_interval),
        ),
    };
    let mut routes = Vec::new();
    if let Some(list) = children {
        let me = Parent {
            receiver: &receiver,
            group_by: &group_by,
            group_wait,
            group_interval,
            repeat_interval,
            key: &key,
        };
        for (i, c) in list.seq("routes")?.iter().enumerate() {
            routes.push(parse_route(c, Some(&me), Some(i))?);
        }
    }
    Ok(Route {
        receiver,
        group_by,
        group_wait,
        group_interval,
        repeat_interval,
        matchers,
        r#continue,
        mute_time_intervals: mute,
        active_time_intervals: active,
        routes,
        key,
        id,
        line: node.pos.line,
    })
}

fn parse_intervals(
    node: &Node,
    into: &mut BTreeMap<String, Vec<TimeInterval>>,
    key: &str,
) -> Result<(), YamlError> {
    for item in node.seq(key)? {
        let mut m = item.map(key)?;
        let name = m
            .opt_str("name")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| e(item, format!("{key}: missing name")))?;
        let mut list = Vec::new();
        if let Some(n) = m.get("time_intervals") {
            for ti in n.seq("time_intervals")? {
                list.push(parse_time_interval(ti)?);
            }
        }
        m.finish()?;
        if into.insert(name.clone(), list).is_some() {
            return Err(e(item, format!("time interval {name:?} is not unique")));
        }
    }
    Ok(())
}

fn check_route_refs(
    r: &Route,
    receivers: &BTreeSet<&str>,
    intervals: &BTreeMap<String, Vec<TimeInterval>>,
) -> Result<(), YamlError> {
    let at = |msg: String| YamlError {
        pos: yaml::Pos {
            line: r.line,
            col: 1,
        },
        message: msg,
    };
    if !receivers.contains(r.receiver.as_str()) {
        return Err(at(format!(
            "undefined receiver {:?} used in route",
            r.receiver
        )));
    }
    for name in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
        if !intervals.contains_key(name) {
            return Err(at(format!(
                "undefined time interval {name:?} used in route"
            )));
        }
    }
    r.routes
        .iter()
        .try_for_each(|c| check_route_refs(c, receivers, intervals))
}

/// Parses and checks an Alertmanager-style configuration file.
pub fn parse_config(file: &str, text: &str) -> Result<Config, ConfigError> {
    parse_inner(text).map_err(|y| ConfigError {
        file: file.to_string(),
        line: y.pos.line,
        column: y.pos.col,
        message: y.message,
    })
}

fn parse_inner(text: &str) -> Result<Config, YamlError> {
    let doc = yaml::parse(text)?;
    let mut top = doc.map("config")?;
    let mut resolve_timeout = time::Duration::minutes(5);
    let mut gn = GlobalNotify::default();
    if let Some(g) = top.get("global") {
        let mut m = g.map("global")?;
        if let Some(d) = duration(&mut m, "resolve_timeout")? {
            resolve_timeout = d;
        }
        gn.smtp_from = m.opt_str("smtp_from")?;
        gn.smtp_smarthost = m.opt_str("smtp_smarthost")?;
        gn.smtp_hello = m.opt_str("smtp_hello")?;
        gn.smtp_auth_username = m.opt_str("smtp_auth_username")?;
        gn.smtp_auth_password = m.opt_str("smtp_auth_password")?;
        gn.smtp_require_tls = match m.get("smtp_require_tls") {
            Some(n) => Some(n.bool("smtp_require_tls")?),
            None => None,
        };
        gn.slack_api_url = m.opt_str("slack_api_url")?;
        m.finish()?;
    }
    let route_node = top
        .get("route")
        .ok_or_else(|| e(&doc, "no route provided in config"))?;
    let route = parse_route(route_node, None, None)?;
    let mut receivers = Vec::new();
    if let Some(list) = top.get("receivers") {
        for r in list.seq("receivers")? {
            let rc = parse_receiver(r, &gn)?;
            if receivers.iter().any(|x: &ReceiverConfig| x.name == rc.name) {
                return Err(e(
                    r,
                    format!("notification config name {:?} is not unique", rc.name),
                ));
            }
            receivers.push(rc);
        }
    }
    let mut inhibit_rules = Vec::new();
    if let Some(list) = top.get("inhibit_rules") {
        for n in list.seq("inhibit_rules")? {
            let mut m = n.map("inhibit rule")?;
            let source_matchers =
                matchers_of(&mut m, "source_matchers", "source_match", "source_match_re")?;
            let target_matchers =
                matchers_of(&mut m, "target_matchers", "target_match", "target_match_re")?;
            let equal = match m.get("equal") {
                Some(eq) => {
                    let names = eq.string_list("equal")?;
                    if let Some(bad) = names.iter().find(|l| !is_valid_label_name(l)) {
                        return Err(e(eq, format!("equal: invalid label name {bad:?}")));
                    }
                    names
                }
                None => Vec::new(),
            };
            m.finish()?;
            inhibit_rules.push(InhibitRule {
                source_matchers,
                target_matchers,
                equal,
            });
        }
    }
    let mut time_intervals = BTreeMap::new();
    for key in ["time_intervals", "mute_time_intervals"] {
        if let Some(n) = top.get(key) {
            parse_intervals(n, &mut time_intervals, key)?;
        }
    }
    let templates = match top.get("templates") {
        Some(n) => n.string_list("templates")?,
        None => Vec::new(),
    };
    top.finish()?;
    let names: BTreeSet<&str> = receivers.iter().map(|r| r.name.as_str()).collect();
    check_route_refs(&route, &names, &time_intervals)?;
    Ok(Config {
        global: Global {
            resolve_timeout,
            notify: gn,
        },
        route,
        receivers,
        inhibit_rules,
        time_intervals,
        templates,
    })
}
