//! The full-chain topology as a directed graph of service ids: cycle detection for new
//! edges and a layering for drawing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// If adding `from -> to` to `edges` would close a cycle, returns the cycle's path
/// (`to -> ... -> from -> to`), else `None`.
pub fn cycle_if_added<'a>(
    edges: impl IntoIterator<Item = (&'a str, &'a str)>,
    from: &'a str,
    to: &'a str,
) -> Option<Vec<String>> {
    if from == to {
        return Some(vec![from.to_owned(), to.to_owned()]);
    }
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    // Breadth-first search from `to`; reaching `from` means the new edge closes a loop.
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([to]);
    let mut seen = BTreeSet::from([to]);
    while let Some(n) = queue.pop_front() {
        if n == from {
            let mut path = vec![from.to_owned()];
            let mut cur = from;
            while let Some(p) = parent.get(cur) {
                path.push((*p).to_owned());
                cur = p;
            }
            path.reverse();
            path.push(to.to_owned());
            return Some(path);
        }
        for &m in next.get(n).map(Vec::as_slice).unwrap_or_default() {
            if seen.insert(m) {
                parent.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    None
}

/// Assigns each node a layer: 0 for nodes nothing depends on (entry points), and one
/// more than the deepest caller otherwise. Nodes on a cycle (which the model rejects)
/// are placed after the rest rather than looping.
pub fn layers<'a>(
    nodes: impl IntoIterator<Item = &'a str>,
    edges: &[(&'a str, &'a str)],
) -> BTreeMap<&'a str, usize> {
    let mut indeg: BTreeMap<&str, usize> = nodes.into_iter().map(|n| (n, 0)).collect();
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for &(a, b) in edges {
        indeg.entry(a).or_insert(0);
        *indeg.entry(b).or_insert(0) += 1;
        next.entry(a).or_default().push(b);
    }
    let mut layer: BTreeMap<&str, usize> = BTreeMap::new();
    let mut queue: VecDeque<&str> = indeg
        .iter()
        .filter(|(_, &d)| d == 0)
        .map(|(&n, _)| n)
        .collect();
    for &n in &queue {
        layer.insert(n, 0);
    }
    while let Some(n) = queue.pop_front() {
        let l = layer[n];
        for &m in next.get(n).map(Vec::as_slice).unwrap_or_default() {
            let e = layer.entry(m).or_insert(0);
            *e = (*e).max(l + 1);
            let d = indeg.get_mut(m).expect("every edge end is a node");
            *d -= 1;
            if *d == 0 {
                queue.push_back(m);
            }
        }
    }
    let deepest = layer.values().copied().max().unwrap_or(0);
    for n in indeg.keys() {
        layer.entry(n).or_insert(deepest + 1);
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_back_up_the_chain_is_a_cycle() {
        let edges = [("web", "api"), ("api", "db")];
        assert_eq!(cycle_if_added(edges, "web", "db"), None);
        assert_eq!(
            cycle_if_added(edges, "db", "web"),
            Some(vec!["web".into(), "api".into(), "db".into(), "web".into()])
        );
        assert!(cycle_if_added(edges, "api", "api").is_some());
    }

    #[test]
    fn layers_follow_the_longest_call_chain() {
        let edges = [("web", "api"), ("api", "db"), ("web", "db"), ("cron", "db")];
        let l = layers(["web", "api", "db", "cron", "lonely"], &edges);
        assert_eq!(l["web"], 0);
        assert_eq!(l["cron"], 0);
        assert_eq!(l["lonely"], 0);
        assert_eq!(l["api"], 1);
        assert_eq!(l["db"], 2);
    }
}
