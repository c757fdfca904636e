//! Reading columns of a PostgreSQL row: the twin of `crate::row` (which reads SQLite's rows),
//! with the same rules: every value through `try_get`, a missing column or another type is a
//! [`StoreError::Decode`] naming it, the journal's words parsed into their enums here.

use std::str::FromStr;
use std::sync::Arc;

use smb_domain::UnknownWord;
use smb_engine::StoreError;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row};

fn decode_err(column: &str, source: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Decode {
        column: column.to_owned(),
        source: Arc::new(source),
    }
}

/// The value of `column`.
pub(crate) fn col<'r, T>(row: &'r PgRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(column).map_err(|e| decode_err(column, e))
}

/// The `BIGINT` in `column` as an unsigned or narrower number (`u64`, `u32`): a negative or
/// too large value is a [`StoreError::Decode`] naming the column, never a wrapped number.
pub(crate) fn count<T>(row: &PgRow, column: &str) -> Result<T, StoreError>
where
    T: TryFrom<i64, Error = std::num::TryFromIntError>,
{
    let n: i64 = col(row, column)?;
    T::try_from(n).map_err(|e| decode_err(column, e))
}

/// The word in `column`, read as its enum.
pub(crate) fn word<T>(row: &PgRow, column: &str) -> Result<T, StoreError>
where
    T: FromStr<Err = UnknownWord>,
{
    let text: String = col(row, column)?;
    text.parse().map_err(|e| decode_err(column, e))
}

/// The word in a nullable `column`, read as its enum.
pub(crate) fn opt_word<T>(row: &PgRow, column: &str) -> Result<Option<T>, StoreError>
where
    T: FromStr<Err = UnknownWord>,
{
    let text: Option<String> = col(row, column)?;
    text.map(|t| t.parse().map_err(|e| decode_err(column, e)))
        .transpose()
}
