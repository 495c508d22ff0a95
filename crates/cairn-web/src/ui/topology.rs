//! The full-chain service topology drawn as an inline SVG graph.
//!
//! Services are placed in rows by [`cairn_domain::topology::layers`]: row 0 holds the
//! entry points that nothing calls, and every call goes down to a later row. Within a
//! row, services are ordered by the mean position of their callers, which keeps most
//! edges short and uncrossed without a full layout engine. A merchant sees its own
//! services; a dependency of theirs on a service they may not see (a platform
//! gateway) still shows, its far end drawn as a dashed box with only the id.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::response::Response;
use cairn_app::records::read_filter;
use cairn_app::App;
use cairn_domain::{topology, Dependency, Kind, Principal, Service};
use maud::{html, Markup};

use super::layout::respond;
use super::{Page, UiError};
use crate::auth::Viewer;
use crate::AppState;

/// The height of a node box.
const NODE_H: f64 = 34.0;
/// The vertical distance from one row's top to the next row's top.
const ROW_PITCH: f64 = 100.0;
/// The horizontal gap between boxes in a row.
const GAP: f64 = 18.0;
/// The margin around the drawing.
const MARGIN: f64 = 16.0;
/// The narrowest and widest node boxes; longer labels are cut with an ellipsis.
const MIN_W: f64 = 96.0;
const MAX_W: f64 = 240.0;
/// Horizontal padding inside a node box, on both sides together.
const PAD: f64 = 20.0;

/// `GET /ui/topology`: the graph of every service the user may see.
pub async fn show(State(s): State<AppState>, Viewer(p): Viewer) -> Response {
    respond(&p, page(&s.app, &p).await)
}

async fn page(app: &App, p: &Principal) -> Result<Page, UiError> {
    let services = app
        .store
        .all::<Service>(&read_filter(p, Kind::Service)?)
        .await
        .map_err(cairn_app::AppError::from)?;
    let dependencies = app
        .store
        .all::<Dependency>(&read_filter(p, Kind::Dependency)?)
        .await
        .map_err(cairn_app::AppError::from)?;
    let nodes: Vec<Node> = services
        .iter()
        .map(|s| Node {
            id: s.id.to_string(),
            label: s.name.clone(),
            owned: s.merchant_id.is_some(),
            visible: true,
        })
        .collect();
    let edges: Vec<(String, String)> = dependencies
        .iter()
        .map(|d| (d.from_service_id.to_string(), d.to_service_id.to_string()))
        .collect();
    let graph = layout(&nodes, &edges);
    Ok(Page {
        title: "Topology".into(),
        section: Some("/ui/topology"),
        body: view(&graph, edges.len()),
    })
}

/// A service to draw.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub id: String,
    pub label: String,
    /// Whether a merchant owns it (otherwise it is a platform service).
    pub owned: bool,
    /// Whether the viewer may open it; ends of dependencies the viewer cannot see are
    /// drawn without a link.
    pub visible: bool,
}

/// A node with its place in the drawing: the top-left corner and the width.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placed {
    pub node: Node,
    /// The label as drawn, cut to fit the box.
    pub text: String,
    pub layer: usize,
    pub x: f64,
    pub y: f64,
    pub w: f64,
}

impl Placed {
    fn centre_x(&self) -> f64 {
        self.x + self.w / 2.0
    }
}

/// The laid-out graph: nodes in input order (the given nodes, then the ends of edges
/// that were missing from them), edges as indices into `nodes`, and the drawing's size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Graph {
    pub nodes: Vec<Placed>,
    pub edges: Vec<(usize, usize)>,
    pub width: f64,
    pub height: f64,
}

/// The estimated width of a label in pixels at the drawing's 12 px font: CJK and other
/// wide characters take a full em, the rest a little over half.
fn text_width(s: &str) -> f64 {
    s.chars()
        .map(|c| if u32::from(c) >= 0x2E80 { 12.5 } else { 7.2 })
        .sum()
}

/// The label cut with an ellipsis so that it fits the widest box.
fn fit(label: &str) -> String {
    if text_width(label) + PAD <= MAX_W {
        return label.to_owned();
    }
    let mut out = String::new();
    let mut width = text_width("…");
    for c in label.chars() {
        width += text_width(c.encode_utf8(&mut [0; 4]));
        if width + PAD > MAX_W {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// Places the nodes in rows by layer and orders each row by the mean position of the
/// callers above it. Ends of edges missing from `nodes` are added as invisible nodes
/// labelled with their id. The result depends only on the input, not on its order.
pub(crate) fn layout(nodes: &[Node], edges: &[(String, String)]) -> Graph {
    let mut all: Vec<Node> = nodes.to_vec();
    let mut index: HashMap<String, usize> = all
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.clone(), i))
        .collect();
    for (from, to) in edges {
        for end in [from, to] {
            if !index.contains_key(end) {
                index.insert(end.clone(), all.len());
                all.push(Node {
                    id: end.clone(),
                    label: end.clone(),
                    owned: false,
                    visible: false,
                });
            }
        }
    }
    let edge_refs: Vec<(&str, &str)> = edges
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let layer_of = topology::layers(all.iter().map(|n| n.id.as_str()), &edge_refs);
    let edges: Vec<(usize, usize)> = edges
        .iter()
        .map(|(a, b)| (index[a.as_str()], index[b.as_str()]))
        .collect();

    let texts: Vec<String> = all.iter().map(|n| fit(&n.label)).collect();
    let widths: Vec<f64> = texts
        .iter()
        .map(|t| (text_width(t) + PAD).clamp(MIN_W, MAX_W))
        .collect();
    let mut rows: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, n) in all.iter().enumerate() {
        rows.entry(layer_of[n.id.as_str()]).or_default().push(i);
    }
    let row_width = |row: &[usize]| -> f64 {
        row.iter().map(|&i| widths[i]).sum::<f64>() + GAP * row.len().saturating_sub(1) as f64
    };
    let inner_width = rows.values().map(|r| row_width(r)).fold(0.0, f64::max);

    let mut callers: HashMap<usize, Vec<usize>> = HashMap::new();
    for &(from, to) in &edges {
        callers.entry(to).or_default().push(from);
    }
    // Centres of the nodes placed so far, row by row from the top.
    let mut centre: HashMap<usize, f64> = HashMap::new();
    let mut placed: Vec<Option<Placed>> = vec![None; all.len()];
    for (&layer, row) in &mut rows {
        let mean_caller = |i: usize| -> Option<f64> {
            let xs: Vec<f64> = callers
                .get(&i)
                .into_iter()
                .flatten()
                .filter_map(|c| centre.get(c).copied())
                .collect();
            (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
        };
        // Nodes without a placed caller go last; ties are broken by label, then id.
        let key = |i: usize| {
            (
                mean_caller(i).unwrap_or(f64::INFINITY),
                &all[i].label,
                &all[i].id,
            )
        };
        row.sort_by(|&a, &b| {
            let (ka, kb) = (key(a), key(b));
            ka.0.total_cmp(&kb.0)
                .then(ka.1.cmp(kb.1))
                .then(ka.2.cmp(kb.2))
        });
        let mut x = MARGIN + (inner_width - row_width(row)) / 2.0;
        let y = MARGIN + layer as f64 * ROW_PITCH;
        for &i in row.iter() {
            centre.insert(i, x + widths[i] / 2.0);
            placed[i] = Some(Placed {
                node: all[i].clone(),
                text: texts[i].clone(),
                layer,
                x,
                y,
                w: widths[i],
            });
            x += widths[i] + GAP;
        }
    }
    let layers = rows.keys().next_back().map_or(0, |&l| l + 1);
    Graph {
        nodes: placed.into_iter().flatten().collect(),
        edges,
        width: (inner_width + 2.0 * MARGIN).ceil(),
        height: (MARGIN * 2.0 + (layers.max(1) - 1) as f64 * ROW_PITCH + NODE_H).ceil(),
    }
}

/// The path of an edge: from the bottom of the caller to the top of the callee, as a
/// curve that leaves and arrives vertically.
fn edge_path(from: &Placed, to: &Placed) -> String {
    let (x1, y1) = (from.centre_x(), from.y + NODE_H);
    let (x2, y2) = (to.centre_x(), to.y);
    let bend = ((y2 - y1).abs() / 2.0).max(20.0);
    let (c1, c2) = if y2 >= y1 {
        (y1 + bend, y2 - bend)
    } else {
        (y1 - bend, y2 + bend)
    };
    format!("M{x1:.1} {y1:.1} C{x1:.1} {c1:.1} {x2:.1} {c2:.1} {x2:.1} {y2:.1}")
}

/// The page body: the drawing, a legend, and the same graph as lists by row, which
/// reads better on a phone and to a screen reader.
fn view(g: &Graph, edge_count: usize) -> Markup {
    let services = g.nodes.iter().filter(|n| n.node.visible).count();
    let mut by_layer: BTreeMap<usize, Vec<&Placed>> = BTreeMap::new();
    for n in &g.nodes {
        by_layer.entry(n.layer).or_default().push(n);
    }
    html! {
        h1 { "Service topology" }
        p .muted #topology-summary {
            (services) " services, " (edge_count) " dependencies. Calls go downwards: the top row holds the entry points that nothing calls."
        }
        @if g.nodes.is_empty() {
            p #empty .muted { "No services to show." }
        } @else {
            ul .legend {
                li { span .swatch .platform {} "platform service" }
                li { span .swatch .owned {} "merchant service" }
                li { span .swatch .hidden {} "not visible to you" }
            }
            div .graph-wrap {
                (svg(g))
            }
            section aria-labelledby="rows-title" {
                h2 #rows-title { "By row" }
                ol .layers start="0" {
                    @for (layer, nodes) in &by_layer {
                        li data-layer=(layer) {
                            ul .link-list .inline {
                                @for n in nodes {
                                    li {
                                        @if n.node.visible {
                                            a href=(format!("/ui/services/{}", n.node.id)) { (n.node.label) }
                                        } @else {
                                            code { (n.node.id) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The graph as SVG, at its natural size: boxes with names linking to the services,
/// and curved edges with arrowheads.
pub(crate) fn svg(g: &Graph) -> Markup {
    html! {
        svg #topology .topology xmlns="http://www.w3.org/2000/svg"
            width=(g.width) height=(g.height) viewBox=(format!("0 0 {} {}", g.width, g.height))
            aria-labelledby="topology-svg-title" {
            title #topology-svg-title { "Service topology: calls from the top row downwards" }
            defs {
                marker #arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7"
                    orient="auto-start-reverse" {
                    path d="M0 0 L10 5 L0 10 z" {}
                }
            }
            g .edges {
                @for &(from, to) in &g.edges {
                    path .edge d=(edge_path(&g.nodes[from], &g.nodes[to]))
                        marker-end="url(#arrow)" {}
                }
            }
            g .nodes {
                @for n in &g.nodes {
                    @let class = if !n.node.visible { "node hidden" } else if n.node.owned { "node owned" } else { "node platform" };
                    @let shape = html! {
                        rect x=(n.x) y=(n.y) width=(n.w) height=(NODE_H) rx="6" {}
                        text x=(n.centre_x()) y=(n.y + NODE_H / 2.0) { (n.text) }
                        title { (n.node.label) " (" (n.node.id) ")" }
                    };
                    g class=(class) id=(format!("node-{}", n.node.id)) data-service=(n.node.id) {
                        @if n.node.visible {
                            a href=(format!("/ui/services/{}", n.node.id)) { (shape) }
                        } @else {
                            (shape)
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, label: &str) -> Node {
        Node {
            id: id.into(),
            label: label.into(),
            owned: false,
            visible: true,
        }
    }

    fn edge(a: &str, b: &str) -> (String, String) {
        (a.into(), b.into())
    }

    #[test]
    fn every_service_gets_one_box_and_calls_go_down() {
        let nodes = [
            node("web", "网关"),
            node("api", "交易 API"),
            node("db", "订单库"),
            node("cron", "任务调度"),
        ];
        let edges = [edge("web", "api"), edge("api", "db"), edge("cron", "db")];
        let g = layout(&nodes, &edges);
        assert_eq!(g.nodes.len(), 4);
        let at = |id: &str| g.nodes.iter().find(|n| n.node.id == id).unwrap();
        assert_eq!(at("web").layer, 0);
        assert_eq!(at("cron").layer, 0);
        assert_eq!(at("api").layer, 1);
        assert_eq!(at("db").layer, 2);
        for &(a, b) in &g.edges {
            assert!(g.nodes[a].y < g.nodes[b].y, "edges point down the rows");
        }
        for n in &g.nodes {
            assert!(
                n.x >= MARGIN && n.x + n.w <= g.width - MARGIN + 0.5,
                "{n:?}"
            );
            assert!(n.y + NODE_H <= g.height);
        }
    }

    #[test]
    fn unseen_ends_of_dependencies_are_drawn_without_links() {
        let nodes = [node("erp", "ERP 对接")];
        let g = layout(&nodes, &[edge("erp", "svc-top-gateway")]);
        assert_eq!(g.nodes.len(), 2);
        let svg = svg(&g).into_string();
        assert!(svg.contains(r#"<a href="/ui/services/erp">"#));
        assert!(!svg.contains(r#"href="/ui/services/svc-top-gateway""#));
        assert!(svg.contains(r#"class="node hidden""#));
        assert_eq!(svg.matches("<path class=\"edge\"").count(), 1);
    }

    #[test]
    fn names_are_escaped_and_long_ones_cut() {
        let long = "某某某某某某某某某某某某某某某某某某某某某某某 旗舰店";
        let g = layout(
            &[node("x", "<script>alert(1)</script>"), node("y", long)],
            &[],
        );
        let svg = svg(&g).into_string();
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!svg.contains("<script>"));
        let y = g.nodes.iter().find(|n| n.node.id == "y").unwrap();
        assert!(y.text.ends_with('…'));
        assert!(y.w <= MAX_W);
    }

    #[test]
    fn the_layout_does_not_depend_on_input_order() {
        let nodes = [
            node("a", "A"),
            node("b", "B"),
            node("c", "C"),
            node("d", "D"),
        ];
        let edges = [edge("a", "c"), edge("b", "d"), edge("a", "d")];
        let one = layout(&nodes, &edges);
        let mut reversed = nodes.to_vec();
        reversed.reverse();
        let two = layout(&reversed, &edges);
        let pos = |g: &Graph| {
            let mut v: Vec<(String, f64, f64)> = g
                .nodes
                .iter()
                .map(|n| (n.node.id.clone(), n.x, n.y))
                .collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(pos(&one), pos(&two));
    }
}
