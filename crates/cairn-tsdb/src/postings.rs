//! Postings lists (sorted series ids) and the evaluation of label matchers over an
//! inverted index, shared by the head and the blocks.

use crate::MatchOp;
use crate::Matcher;

/// What matcher evaluation needs from an inverted index. Series ids are the index's
/// own (head ids or block ordinals); every list returned is sorted and unique.
pub(crate) trait IndexReader {
    /// Every series id in the index.
    fn all_postings(&self) -> Vec<u32>;
    /// Series whose label `name` has exactly `value`.
    fn postings_eq(&self, name: &str, value: &str) -> Vec<u32>;
    /// Series whose label `name` has a value for which `pred` is true.
    fn postings_matching(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> Vec<u32>;
}

/// The ids of the series that satisfy every matcher, with Prometheus' rule that an
/// absent label counts as the empty value.
pub(crate) fn postings_for_matchers(ix: &dyn IndexReader, matchers: &[Matcher]) -> Vec<u32> {
    let mut result: Option<Vec<u32>> = None;
    // Matchers that reject the empty value require the label: intersect their
    // postings, most selective kind (equality) first.
    let mut positive: Vec<&Matcher> = matchers.iter().filter(|m| !m.matches_empty()).collect();
    positive.sort_by_key(|m| m.op != MatchOp::Equal);
    for m in positive {
        let p = match m.op {
            MatchOp::Equal => ix.postings_eq(&m.name, &m.value),
            _ => ix.postings_matching(&m.name, &mut |v| m.matches(v)),
        };
        result = Some(match result {
            None => p,
            Some(r) => intersect(&r, &p),
        });
        if result.as_ref().is_some_and(|r| r.is_empty()) {
            return Vec::new();
        }
    }
    let mut result = result.unwrap_or_else(|| ix.all_postings());
    // Matchers that accept the empty value keep series without the label; they only
    // remove series whose value they reject.
    for m in matchers.iter().filter(|m| m.matches_empty()) {
        let excluded = match m.op {
            MatchOp::NotEqual => ix.postings_eq(&m.name, &m.value),
            _ => ix.postings_matching(&m.name, &mut |v| !m.matches(v)),
        };
        result = subtract(&result, &excluded);
        if result.is_empty() {
            break;
        }
    }
    result
}

pub(crate) fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    if small.len() * 16 < large.len() {
        // Galloping: binary-search each id of the short list in the long one.
        let mut rest = large;
        for &x in small {
            match rest.binary_search(&x) {
                Ok(i) => {
                    out.push(x);
                    rest = &rest[i + 1..];
                }
                Err(i) => rest = &rest[i..],
            }
        }
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

pub(crate) fn subtract(a: &[u32], b: &[u32]) -> Vec<u32> {
    if b.is_empty() {
        return a.to_vec();
    }
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Merges sorted lists into one sorted, duplicate-free list.
pub(crate) fn union(lists: Vec<&[u32]>) -> Vec<u32> {
    match lists.len() {
        0 => Vec::new(),
        1 => lists[0].to_vec(),
        _ => {
            let mut out: Vec<u32> = Vec::with_capacity(lists.iter().map(|l| l.len()).sum());
            for l in lists {
                out.extend_from_slice(l);
            }
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations_on_sorted_lists() {
        let a = [1, 3, 5, 7, 9];
        let b = [3, 4, 5, 10];
        assert_eq!(intersect(&a, &b), vec![3, 5]);
        let long: Vec<u32> = (0..1000).collect();
        assert_eq!(intersect(&[5, 500, 2000], &long), vec![5, 500]);
        assert_eq!(subtract(&a, &b), vec![1, 7, 9]);
        assert_eq!(union(vec![&a, &b]), vec![1, 3, 4, 5, 7, 9, 10]);
    }
}
