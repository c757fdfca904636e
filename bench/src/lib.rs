//! What the bench binaries share with the test suite: the chaos soak ([`soak`]), which
//! `live soak` runs in full and `crates/cli/tests/cli/soak.rs` runs shortened.

pub mod soak;
