//! The web API and its OpenAPI document, driven in-process: one test binary, a module per
//! former binary, `common` shared.

mod api;
mod common;
mod openapi;
