//! Compaction planning, and the merge of sample runs that queries and compaction share.
//!
//! Plans are pure functions of the blocks' time ranges, so they are tested without
//! files. Two kinds of merge, in this order:
//! 1. **overlap**: blocks whose time ranges overlap (a forced flush, out-of-order data,
//!    a crash between writing a block and truncating the WAL) are merged into one,
//!    deduplicating samples;
//! 2. **levels**: blocks that all lie inside one aligned window of `3^k ×
//!    block_duration` (k = 1, 2, …, up to the maximum block range) are merged once the
//!    newest data has moved past the window, so a window is rewritten once per level.

use crate::Sample;

/// What planning needs to know about a block.
#[derive(Clone, Debug)]
pub(crate) struct BlockInfo {
    pub(crate) id: String,
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
}

/// The window sizes blocks are merged into, smallest first.
pub(crate) fn level_ranges(block_duration: i64, max_range: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut r = block_duration.saturating_mul(3);
    while r <= max_range.max(block_duration.saturating_mul(3)) {
        out.push(r);
        match r.checked_mul(3) {
            Some(next) => r = next,
            None => break,
        }
    }
    out
}

/// The ids of the next group of blocks to merge, if any. `now` is the newest sample
/// time in the database.
pub(crate) fn plan(blocks: &[BlockInfo], ranges: &[i64], now: i64) -> Option<Vec<String>> {
    let mut sorted: Vec<&BlockInfo> = blocks.iter().collect();
    sorted.sort_by(|a, b| (a.min_t, &a.id).cmp(&(b.min_t, &b.id)));

    // Overlapping blocks first.
    let mut group: Vec<&BlockInfo> = Vec::new();
    let mut group_max = i64::MIN;
    for b in &sorted {
        if !group.is_empty() && b.min_t <= group_max {
            group.push(b);
            group_max = group_max.max(b.max_t);
            continue;
        }
        if group.len() > 1 {
            break;
        }
        group = vec![b];
        group_max = b.max_t;
    }
    if group.len() > 1 {
        return Some(group.iter().map(|b| b.id.clone()).collect());
    }

    for &r in ranges {
        let mut i = 0;
        while i < sorted.len() {
            let window = sorted[i].min_t.div_euclid(r);
            let start = window.saturating_mul(r);
            let end = start.saturating_add(r);
            let mut j = i;
            while j < sorted.len() && sorted[j].min_t < end {
                j += 1;
            }
            let members = &sorted[i..j];
            let inside = members.iter().all(|b| b.min_t >= start && b.max_t < end);
            if members.len() > 1 && inside && now >= end {
                return Some(members.iter().map(|b| b.id.clone()).collect());
            }
            i = j;
        }
    }
    None
}

/// Merges runs of samples (each sorted by time) into one sorted run without repeated
/// timestamps. Where runs disagree at a timestamp, the later run wins.
pub(crate) fn merge_runs(mut runs: Vec<Vec<Sample>>) -> Vec<Sample> {
    runs.retain(|r| !r.is_empty());
    if runs.len() <= 1 {
        return runs.pop().unwrap_or_default();
    }
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&i| runs[i][0].t);
    let disjoint = order
        .windows(2)
        .all(|w| runs[w[0]][runs[w[0]].len() - 1].t < runs[w[1]][0].t);
    if disjoint {
        let mut out = Vec::with_capacity(runs.iter().map(Vec::len).sum());
        for i in order {
            out.extend_from_slice(&runs[i]);
        }
        return out;
    }
    let mut tagged: Vec<(i64, usize, Sample)> = runs
        .iter()
        .enumerate()
        .flat_map(|(p, r)| r.iter().map(move |s| (s.t, p, *s)))
        .collect();
    tagged.sort_by_key(|&(t, p, _)| (t, p));
    let mut out: Vec<Sample> = Vec::with_capacity(tagged.len());
    for (t, _, s) in tagged {
        match out.last_mut() {
            Some(last) if last.t == t => *last = s,
            _ => out.push(s),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(id: &str, min_t: i64, max_t: i64) -> BlockInfo {
        BlockInfo {
            id: id.into(),
            min_t,
            max_t,
        }
    }

    #[test]
    fn overlapping_blocks_are_merged_first() {
        let blocks = [
            b("a", 0, 99),
            b("b", 100, 199),
            b("c", 150, 160),
            b("d", 300, 399),
        ];
        assert_eq!(
            plan(&blocks, &[300], 1000),
            Some(vec!["b".into(), "c".into()])
        );
    }

    #[test]
    fn a_complete_window_of_small_blocks_is_merged_into_one() {
        let blocks = [
            b("a", 0, 99),
            b("b", 100, 199),
            b("c", 200, 299),
            b("d", 300, 399),
        ];
        let ranges = level_ranges(100, 900);
        assert_eq!(ranges, vec![300, 900]);
        assert_eq!(
            plan(&blocks, &ranges, 399),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        // While the newest data is still inside the window, nothing is merged.
        assert_eq!(plan(&blocks[..2], &ranges, 250), None);
        // A window with one block has nothing to merge.
        assert_eq!(
            plan(&[b("x", 0, 299), b("d", 300, 399)], &ranges, 800),
            None
        );
    }

    #[test]
    fn runs_merge_sorted_with_later_runs_winning_ties() {
        let s = |t: i64, v: f64| Sample { t, v };
        let merged = merge_runs(vec![
            vec![s(1, 1.0), s(3, 1.0), s(5, 1.0)],
            vec![s(3, 2.0), s(4, 2.0)],
        ]);
        assert_eq!(merged, vec![s(1, 1.0), s(3, 2.0), s(4, 2.0), s(5, 1.0)]);
        let merged = merge_runs(vec![vec![s(10, 1.0)], vec![], vec![s(1, 2.0)]]);
        assert_eq!(merged, vec![s(1, 2.0), s(10, 1.0)]);
    }
}
