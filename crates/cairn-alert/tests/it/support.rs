//! Fixture builders shared by the stories.

use cairn_alert::{LabelSet, Timestamp};

/// Minutes after a fixed start (Double 11, midnight UTC), so stories read
/// as "at minute 5 …".
pub fn at(minutes: i64) -> Timestamp {
    time::macros::datetime!(2024-11-11 00:00 UTC) + time::Duration::minutes(minutes)
}

/// Seconds after the fixed start.
#[allow(dead_code)]
pub fn at_s(seconds: i64) -> Timestamp {
    time::macros::datetime!(2024-11-11 00:00 UTC) + time::Duration::seconds(seconds)
}

/// `labels!["a" => "1", "b" => "2"]`
#[macro_export]
macro_rules! labels {
    ($($k:expr => $v:expr),* $(,)?) => {
        cairn_alert::labels::label_set([$(($k, $v)),*])
    };
}

pub fn ls(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
