//! Writing the commands' output to stdout without panicking: `outln!`/`out!` are `println!` and
//! `print!` that give the write's [`std::io::Result`] back. Commands pass it on with `?`, so a
//! reader that closes early (`sendmessagebot stats | head`) ends the command with an
//! [`std::io::ErrorKind::BrokenPipe`] in its error chain, which `main` ends quietly on
//! ([`is_broken_pipe`]). `println!` would panic there instead.

/// `println!` that returns the write's `io::Result<()>` instead of panicking on a closed stdout.
macro_rules! outln {
    () => {
        $crate::out::write_line(::std::format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::write_line(::std::format_args!($($arg)*))
    };
}

/// `print!` that returns the write's `io::Result<()>` instead of panicking on a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(::std::format_args!($($arg)*))
    };
}

use std::io::{self, Write as _};

/// Writes `args` and a newline to stdout under one lock, as `println!` does.
///
/// # Errors
/// The write's error, e.g. [`io::ErrorKind::BrokenPipe`] once the reader has gone.
pub fn write_line(args: std::fmt::Arguments<'_>) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_fmt(args)?;
    stdout.write_all(b"\n")
}

/// Writes `args` to stdout, as `print!` does.
///
/// # Errors
/// The write's error, e.g. [`io::ErrorKind::BrokenPipe`] once the reader has gone.
pub fn write(args: std::fmt::Arguments<'_>) -> io::Result<()> {
    io::stdout().lock().write_fmt(args)
}

/// Whether `error` (or any error it wraps) is a write into a pipe whose reader has gone.
#[must_use]
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(io_broken_pipe)
    })
}

/// An `io::Error` that wraps another (clap_mangen's man page writer gives one) reports the
/// kind `Other` and hides the inner one from `source()`: look inside.
fn io_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<io::Error>())
            .is_some_and(io_broken_pipe)
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    fn closed() -> io::Error {
        io::Error::from(io::ErrorKind::BrokenPipe)
    }

    #[test]
    fn a_broken_pipe_is_found_below_any_context() {
        assert!(is_broken_pipe(&anyhow::Error::from(closed())));
        let wrapped: anyhow::Result<()> = Err(closed()).context("writing the man page");
        assert!(is_broken_pipe(&wrapped.unwrap_err().context("manpage")));
        let os = io::Error::from_raw_os_error(32);
        assert!(is_broken_pipe(&anyhow::Error::from(os).context("writing")));
        let inside = io::Error::other(closed());
        assert!(is_broken_pipe(&anyhow::Error::from(inside)));
    }

    #[test]
    fn other_errors_are_not_a_broken_pipe() {
        assert!(!is_broken_pipe(&anyhow::anyhow!("Broken pipe")));
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert!(!is_broken_pipe(&anyhow::Error::from(denied).context("x")));
        let inside = io::Error::other(io::Error::from(io::ErrorKind::NotFound));
        assert!(!is_broken_pipe(&anyhow::Error::from(inside)));
    }
}
