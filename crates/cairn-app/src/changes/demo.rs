//! The demo cloud's change history.
