//! Stories of cairn's alerting core, one module per area, with small
//! fixture builders in `support`.

mod dispatch;
mod notify;
mod oncall;
mod problems;
mod rules;
mod support;
