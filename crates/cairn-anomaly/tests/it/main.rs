//! The integration tests of cairn-anomaly, one binary: the NAB scorer against the
//! published results, and detector stories.

mod corpus;
mod scorer;
