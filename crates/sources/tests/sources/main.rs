//! The sources crate's integration tests, as one test binary (`cargo test -p smb-sources --test
//! sources`): one module a former test file.

mod dotenv_reference;
mod http_sources;
mod versions;
