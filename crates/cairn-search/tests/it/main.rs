//! The stories of `cairn-search`, in one test binary.

mod support;

mod cluster;
mod demo;
mod index;
