//! The web API and its OpenAPI document, driven in-process: one test binary, a module per
//! former binary, `common` shared.
// Test helpers outside `#[test]` functions unwrap too; clippy.toml's allow-unwrap-in-tests
// covers only `#[test]` functions and `#[cfg(test)]` modules.
#![allow(clippy::unwrap_used)]

mod api;
mod check;
mod common;
mod openapi;
mod spec_agrees;
