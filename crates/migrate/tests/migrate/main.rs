//! The migration crate's integration tests, as one test binary (`cargo test -p smb-migrate
//! --test migrate`): one module a former test file.

mod env_round_trip;
mod legacy;
