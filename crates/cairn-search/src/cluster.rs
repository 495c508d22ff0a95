//! Repeated requests, found by grouping tickets by text similarity and category over a
//! sliding window, so that support can see which needs come back again and again and
//! feed them to development ("frequent, repeated needs fed back to development").
//!
//! Pure: tickets and `now` come in as values; no index, clock or I/O.
//!
//! **How.** Each ticket in the window becomes a TF-IDF vector over the
//! [tokenizer](crate::tokenizer)'s precise words, with the title counted twice and
//! each word replaced by its [glossary](crate::glossary) concept, so "重置密码" and
//! "reset password" are the same features. Numbers are dropped: "100 hosts" and "20
//! hosts" are the same request. Tickets are then clustered per category:
//! 1. *leader pass*, oldest first: a ticket joins the most similar cluster (cosine to
//!    its centroid) if that similarity reaches the threshold, else it starts one;
//! 2. *refinement*: with the centroids fixed, each ticket moves to its most similar
//!    cluster, repeated a few times, which undoes most of the leader pass's dependence
//!    on order (the k-means step, started from the leaders instead of at random).
//!
//! Centroids rather than single links: single-link clustering chains unrelated tickets
//! through one ambiguous ticket ("slow database after scale-out"), centroids do not.
//!
//! **Stable ids.** A cluster is named after its medoid (the ticket nearest its centroid):
//! the same core tickets give the same id. As the window slides the medoid can change,
//! so [`Clustering::carry_ids`] gives a new cluster the id of last run's cluster it
//! shares most tickets with; that is what a "to be built into the product" mark should
//! be attached to.
//!
//! **Deterministic.** Input order does not matter (tickets are sorted by creation time
//! and id), no randomness, no hash-order iteration where it could change a result.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::tokenizer::{tokens, Segmentation};
use crate::{glossary, markdown, TicketId};

/// A ticket as clustering needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketText {
    pub id: TicketId,
    pub category: String,
    pub title: String,
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Handling time spent on the ticket, in minutes, over all tiers.
    pub time_spent_minutes: u32,
}

/// How to cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterParams {
    /// The end of the window (the caller's clock).
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// Tickets created in `(now - window_days, now]` are clustered.
    pub window_days: u32,
    /// The cosine similarity a ticket needs with a cluster's centroid to join it.
    pub threshold: f32,
    /// Clusters smaller than this are not repeated requests and are not reported.
    pub min_size: usize,
    /// How many of the most central tickets to show per cluster.
    pub examples: usize,
}

impl ClusterParams {
    /// The defaults cairn uses: 90 days, similarity 0.2, at least 3 tickets, 3 examples.
    ///
    /// 0.2 is low for cosine similarity, on purpose: clusters never cross categories,
    /// and within one category the demo's themes stay pure at 0.15 while 0.3 splits a
    /// theme by language and phrasing into several clusters.
    pub fn new(now: OffsetDateTime) -> Self {
        ClusterParams {
            now,
            window_days: 90,
            threshold: 0.2,
            min_size: 3,
            examples: 3,
        }
    }
}

/// The language most of a cluster's tickets are written in; its label is in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Zh,
    En,
}

/// A group of tickets asking for the same thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// `cl-<medoid ticket id>`, or the id carried over from an earlier run.
    pub id: String,
    /// The top words, in the cluster's language, joined by " · ".
    pub label: String,
    /// The top words alone.
    pub terms: Vec<String>,
    pub category: String,
    pub language: Language,
    pub size: usize,
    /// All its tickets, oldest first.
    pub tickets: Vec<TicketId>,
    /// The sum of its tickets' handling time.
    pub time_spent_minutes: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// The most central tickets, most central first; the first is the medoid.
    pub examples: Vec<TicketId>,
}

/// The result of a clustering run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clustering {
    /// Clusters of at least `min_size` tickets, by volume (largest first).
    pub clusters: Vec<Cluster>,
    /// Tickets in the window.
    pub in_window: usize,
    /// Tickets in the window that are in no reported cluster (one-off requests).
    pub unclustered: usize,
}

/// A cluster of an earlier run, for [`Clustering::carry_ids`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousCluster {
    pub id: String,
    pub tickets: Vec<TicketId>,
}

impl Clustering {
    /// Clusters by volume: most tickets first (ties: most time spent, then id).
    pub fn by_volume(&self) -> Vec<&Cluster> {
        let mut v: Vec<&Cluster> = self.clusters.iter().collect();
        v.sort_by(|a, b| {
            b.size
                .cmp(&a.size)
                .then(b.time_spent_minutes.cmp(&a.time_spent_minutes))
                .then(a.id.cmp(&b.id))
        });
        v
    }

    /// Clusters by the handling time spent on them, most first (ties: volume, then id).
    pub fn by_time_spent(&self) -> Vec<&Cluster> {
        let mut v: Vec<&Cluster> = self.clusters.iter().collect();
        v.sort_by(|a, b| {
            b.time_spent_minutes
                .cmp(&a.time_spent_minutes)
                .then(b.size.cmp(&a.size))
                .then(a.id.cmp(&b.id))
        });
        v
    }

    /// Gives each cluster the id of the earlier cluster it shares the most tickets
    /// with, when they share at least half of the smaller one's tickets; each earlier
    /// id goes to one cluster at most, the one with the largest overlap.
    pub fn carry_ids(&mut self, previous: &[PreviousCluster]) {
        let mut owner: HashMap<&TicketId, usize> = HashMap::new();
        for (p, prev) in previous.iter().enumerate() {
            for t in &prev.tickets {
                owner.insert(t, p);
            }
        }
        // (overlap, cluster, previous), largest overlap first.
        let mut pairs: Vec<(usize, usize, usize)> = Vec::new();
        for (c, cluster) in self.clusters.iter().enumerate() {
            let mut shared: BTreeMap<usize, usize> = BTreeMap::new();
            for t in &cluster.tickets {
                if let Some(&p) = owner.get(t) {
                    *shared.entry(p).or_default() += 1;
                }
            }
            for (p, n) in shared {
                let smaller = cluster.size.min(previous[p].tickets.len());
                if 2 * n >= smaller {
                    pairs.push((n, c, p));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut taken_c = HashSet::new();
        let mut taken_p = HashSet::new();
        for (_, c, p) in pairs {
            if taken_c.contains(&c) || taken_p.contains(&p) {
                continue;
            }
            taken_c.insert(c);
            taken_p.insert(p);
            self.clusters[c].id = previous[p].id.clone();
        }
    }
}

/// A sparse vector: (feature, weight), sorted by feature.
type Vector = Vec<(u32, f32)>;

/// Per feature: how often each surface form was seen, per language.
type Surfaces = HashMap<u32, BTreeMap<(Language, String), u32>>;

/// Clusters the tickets in the window (see the module documentation).
pub fn cluster(tickets: &[TicketText], params: &ClusterParams) -> Clustering {
    let start = params.now - Duration::days(i64::from(params.window_days));
    let mut window: Vec<&TicketText> = tickets
        .iter()
        .filter(|t| t.created_at > start && t.created_at <= params.now)
        .collect();
    window.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));

    let mut features = Features::default();
    let counts: Vec<BTreeMap<u32, f32>> = window.iter().map(|t| features.count(t)).collect();
    let vectors = tf_idf(&counts);

    // Cluster per category; categories in name order so ids come out the same.
    let mut by_category: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, t) in window.iter().enumerate() {
        by_category.entry(t.category.as_str()).or_default().push(i);
    }
    let mut clusters = Vec::new();
    let mut clustered = 0;
    for (category, members) in by_category {
        for group in cluster_category(&members, &vectors, params.threshold) {
            if group.len() < params.min_size {
                continue;
            }
            clustered += group.len();
            clusters.push(describe(
                category, &group, &window, &vectors, &features, params,
            ));
        }
    }
    let mut out = Clustering {
        in_window: window.len(),
        unclustered: window.len() - clustered,
        clusters,
    };
    out.clusters = out.by_volume().into_iter().cloned().collect();
    out
}

#[derive(Default)]
struct Features {
    ids: HashMap<String, u32>,
    names: Vec<String>,
    surfaces: Surfaces,
}

impl Features {
    fn id(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(key.to_owned(), id);
        self.names.push(key.to_owned());
        id
    }

    /// Feature counts of one ticket, recording the words behind each feature.
    fn count(&mut self, t: &TicketText) -> BTreeMap<u32, f32> {
        let mut counts = BTreeMap::new();
        // The title says what the ticket is about in few words: it counts twice.
        for (text, weight) in [(&t.title, 2.0), (&t.body, 1.0)] {
            for tok in tokens(text, Segmentation::Precise) {
                if tok.text.chars().all(|c| c.is_ascii_digit()) {
                    continue;
                }
                let key = glossary::concept(&tok.text).unwrap_or(&tok.text);
                let id = self.id(key);
                *counts.entry(id).or_insert(0.0) += weight;
                let surface = text[tok.offset_from..tok.offset_to].to_lowercase();
                let word_language = if surface.chars().any(crate::tokenizer::is_han) {
                    Language::Zh
                } else {
                    Language::En
                };
                *self
                    .surfaces
                    .entry(id)
                    .or_default()
                    .entry((word_language, surface))
                    .or_insert(0) += 1;
            }
        }
        counts
    }
}

/// TF-IDF with sublinear term frequency and smoothed IDF, each vector of unit length.
fn tf_idf(counts: &[BTreeMap<u32, f32>]) -> Vec<Vector> {
    let n = counts.len() as f32;
    let mut df: HashMap<u32, f32> = HashMap::new();
    for c in counts {
        for &f in c.keys() {
            *df.entry(f).or_insert(0.0) += 1.0;
        }
    }
    counts
        .iter()
        .map(|c| {
            let mut v: Vector = c
                .iter()
                .map(|(&f, &tf)| {
                    let idf = ((1.0 + n) / (1.0 + df[&f])).ln() + 1.0;
                    (f, (1.0 + tf.ln()) * idf)
                })
                .collect();
            let norm = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            if norm > 0.0 {
                for (_, w) in &mut v {
                    *w /= norm;
                }
            }
            v
        })
        .collect()
}

/// A cluster's centroid as a sum of unit vectors, with its squared norm kept up to
/// date so that a cosine costs one pass over the ticket's few features.
#[derive(Default, Clone)]
struct Centroid {
    sum: HashMap<u32, f32>,
    norm2: f32,
}

impl Centroid {
    fn dot(&self, v: &Vector) -> f32 {
        v.iter()
            .map(|(f, w)| self.sum.get(f).copied().unwrap_or(0.0) * w)
            .sum()
    }

    fn cosine(&self, v: &Vector) -> f32 {
        if self.norm2 <= 0.0 {
            return 0.0;
        }
        // The ticket vector has unit length.
        self.dot(v) / self.norm2.sqrt()
    }

    fn add(&mut self, v: &Vector) {
        // |c + v|² = |c|² + 2 c·v + |v|², and |v| = 1.
        self.norm2 += 2.0 * self.dot(v) + 1.0;
        for &(f, w) in v {
            *self.sum.entry(f).or_insert(0.0) += w;
        }
    }
}

/// Clusters one category's tickets (indices into `vectors`, oldest first); returns
/// groups of indices, each oldest first, in the order the groups were started.
fn cluster_category(members: &[usize], vectors: &[Vector], threshold: f32) -> Vec<Vec<usize>> {
    // Leader pass.
    let mut centroids: Vec<Centroid> = Vec::new();
    let mut assignment: Vec<usize> = Vec::with_capacity(members.len());
    for &i in members {
        let v = &vectors[i];
        match best(&centroids, v) {
            Some((c, sim)) if sim >= threshold => {
                centroids[c].add(v);
                assignment.push(c);
            }
            _ => {
                let mut c = Centroid::default();
                c.add(v);
                centroids.push(c);
                assignment.push(centroids.len() - 1);
            }
        }
    }
    // Refinement: move each ticket to its nearest centroid, centroids fixed per round.
    for _ in 0..3 {
        let mut next: Vec<Centroid> = vec![Centroid::default(); centroids.len()];
        let mut changed = false;
        for (k, &i) in members.iter().enumerate() {
            let v = &vectors[i];
            let current = assignment[k];
            let target = match best(&centroids, v) {
                Some((c, sim)) if c != current && sim > centroids[current].cosine(v) => c,
                _ => current,
            };
            changed |= target != current;
            assignment[k] = target;
            next[target].add(v);
        }
        centroids = next;
        if !changed {
            break;
        }
    }
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); centroids.len()];
    for (k, &i) in members.iter().enumerate() {
        groups[assignment[k]].push(i);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// The most similar centroid; ties go to the older cluster.
fn best(centroids: &[Centroid], v: &Vector) -> Option<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    for (c, centroid) in centroids.iter().enumerate() {
        let sim = centroid.cosine(v);
        if best.is_none_or(|(_, s)| sim > s) {
            best = Some((c, sim));
        }
    }
    best
}

fn describe(
    category: &str,
    group: &[usize],
    window: &[&TicketText],
    vectors: &[Vector],
    features: &Features,
    params: &ClusterParams,
) -> Cluster {
    let mut centroid = Centroid::default();
    for &i in group {
        centroid.add(&vectors[i]);
    }
    // Most central first; ties by id so the medoid is well defined.
    let mut central: Vec<(f32, &TicketId)> = group
        .iter()
        .map(|&i| (centroid.cosine(&vectors[i]), &window[i].id))
        .collect();
    central.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));

    let zh = group
        .iter()
        .filter(|&&i| {
            let t = window[i];
            markdown::is_mostly_chinese(&format!("{}{}", t.title, t.body))
        })
        .count();
    let language = if 2 * zh >= group.len() {
        Language::Zh
    } else {
        Language::En
    };
    let terms = top_terms(&centroid, features, language, 3);
    let separator = " · ";
    Cluster {
        id: format!("cl-{}", central[0].1 .0),
        label: terms.join(separator),
        terms,
        category: category.to_owned(),
        language,
        size: group.len(),
        tickets: group.iter().map(|&i| window[i].id.clone()).collect(),
        time_spent_minutes: group
            .iter()
            .map(|&i| u64::from(window[i].time_spent_minutes))
            .sum(),
        first_seen: window[group[0]].created_at,
        last_seen: group
            .iter()
            .map(|&i| window[i].created_at)
            .max()
            .unwrap_or(window[group[0]].created_at),
        examples: central
            .iter()
            .take(params.examples.max(1))
            .map(|(_, id)| (*id).clone())
            .collect(),
    }
}

/// The centroid's heaviest features, each shown as the word most often written for it
/// in the cluster's language (in the other language if it never appears in this one).
fn top_terms(
    centroid: &Centroid,
    features: &Features,
    language: Language,
    n: usize,
) -> Vec<String> {
    let mut weights: Vec<(u32, f32)> = centroid.sum.iter().map(|(&f, &w)| (f, w)).collect();
    weights.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| features.names[a.0 as usize].cmp(&features.names[b.0 as usize]))
    });
    let mut out: Vec<String> = Vec::new();
    for (f, _) in weights {
        let Some(forms) = features.surfaces.get(&f) else {
            continue;
        };
        let pick = |lang: Language| {
            forms
                .iter()
                .filter(|((l, _), _)| *l == lang)
                .max_by(|a, b| a.1.cmp(b.1).then(b.0 .1.cmp(&a.0 .1)))
                .map(|((_, s), _)| s.clone())
        };
        let other = match language {
            Language::Zh => Language::En,
            Language::En => Language::Zh,
        };
        if let Some(word) = pick(language).or_else(|| pick(other)) {
            if !out.contains(&word) {
                out.push(word);
            }
        }
        if out.len() == n {
            break;
        }
    }
    out
}
