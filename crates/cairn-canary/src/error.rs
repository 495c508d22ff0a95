/// Everything that can go wrong in this crate. Samples themselves never fail a
/// judgement (too few or non-finite values make a metric `NoData`); only input to the
/// bare test and configuration can be invalid.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CanaryError {
    /// A sample given to the Mann–Whitney test has no values.
    #[error("sample {sample} is empty")]
    EmptySample {
        /// Which sample: `"x"` or `"y"`.
        sample: &'static str,
    },
    /// A value given to the Mann–Whitney test is NaN or infinite.
    #[error("sample {sample} has the non-finite value {value} at index {index}")]
    NonFinite {
        /// Which sample: `"x"` or `"y"`.
        sample: &'static str,
        /// The value's position in the sample.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A confidence level outside the open interval (0, 1).
    #[error("confidence {0} is not strictly between 0 and 1")]
    Confidence(f64),
    /// A metric's tolerance that is negative or not finite, or an allowed decrease of
    /// 1 (100 %) or more, which would scale the baseline to zero or below.
    #[error("metric {metric:?}: {field} {value} must be finite, at least 0{limit}")]
    Tolerance {
        /// The metric's name.
        metric: String,
        /// `allowed_increase` or `allowed_decrease`.
        field: &'static str,
        /// The value given.
        value: f64,
        /// Any further limit, written for the message.
        limit: &'static str,
    },
    /// A metric's weight that is negative or not finite.
    #[error("metric {metric:?}: weight {value} must be finite and at least 0")]
    Weight {
        /// The metric's name.
        metric: String,
        /// The value given.
        value: f64,
    },
    /// A metric that has no name.
    #[error("a metric has an empty name")]
    EmptyName,
    /// Two metrics of one configuration with the same name.
    #[error("metric {0:?} is configured twice")]
    DuplicateMetric(String),
    /// Score thresholds outside 0..=100 or with the marginal one above the pass one.
    #[error(
        "thresholds pass {pass} and marginal {marginal} must satisfy 0 <= marginal <= pass <= 100"
    )]
    Thresholds {
        /// The pass threshold given.
        pass: f64,
        /// The marginal threshold given.
        marginal: f64,
    },
}
