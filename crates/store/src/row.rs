//! Reading columns of a row: every value through `try_get`, so a column that is missing or
//! holds another type is a [`StoreError::Decode`] naming it, never a panic; the journal's
//! words (`sent`, `flood_wait`, …) are parsed into their enums here, at the SQL edge.

use std::str::FromStr;
use std::sync::Arc;

use smb_domain::UnknownWord;
use smb_engine::StoreError;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite};

fn decode_err(column: &str, source: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Decode {
        column: column.to_owned(),
        source: Arc::new(source),
    }
}

/// The value of `column` (a name, or an index for unnamed results).
pub(crate) fn col<'r, T, I>(row: &'r SqliteRow, column: I) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
    I: sqlx::ColumnIndex<SqliteRow> + std::fmt::Display + Copy,
{
    row.try_get(column)
        .map_err(|e| decode_err(&column.to_string(), e))
}

/// The integer in `column` as a count, cycle number or other unsigned or narrower type
/// (`u64`, `u32`): SQLite keeps every integer as `i64`, and a negative or too large value is a
/// [`StoreError::Decode`] naming the column, never a wrapped number.
pub(crate) fn count<T, I>(row: &SqliteRow, column: I) -> Result<T, StoreError>
where
    T: TryFrom<i64, Error = std::num::TryFromIntError>,
    I: sqlx::ColumnIndex<SqliteRow> + std::fmt::Display + Copy,
{
    let n: i64 = col(row, column)?;
    T::try_from(n).map_err(|e| decode_err(&column.to_string(), e))
}

/// [`count`] of a nullable `column`.
pub(crate) fn opt_count<T, I>(row: &SqliteRow, column: I) -> Result<Option<T>, StoreError>
where
    T: TryFrom<i64, Error = std::num::TryFromIntError>,
    I: sqlx::ColumnIndex<SqliteRow> + std::fmt::Display + Copy,
{
    let n: Option<i64> = col(row, column)?;
    n.map(|n| T::try_from(n).map_err(|e| decode_err(&column.to_string(), e)))
        .transpose()
}

/// The word in `column`, read as its enum.
pub(crate) fn word<T>(row: &SqliteRow, column: &str) -> Result<T, StoreError>
where
    T: FromStr<Err = UnknownWord>,
{
    let text: String = col(row, column)?;
    text.parse().map_err(|e| decode_err(column, e))
}

/// The word in a nullable `column`, read as its enum.
pub(crate) fn opt_word<T>(row: &SqliteRow, column: &str) -> Result<Option<T>, StoreError>
where
    T: FromStr<Err = UnknownWord>,
{
    let text: Option<String> = col(row, column)?;
    text.map(|t| t.parse().map_err(|e| decode_err(column, e)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use smb_domain::DeliveryStatus;
    use sqlx::Connection;

    #[tokio::test]
    async fn a_negative_or_too_large_count_is_an_error_that_names_it() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let row = sqlx::query("SELECT -1 AS n, 4294967296 AS attempts")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let e = count::<u64, _>(&row, "n").unwrap_err();
        assert!(
            matches!(&e, StoreError::Decode { column, .. } if column == "n"),
            "{e:?}"
        );
        let e = count::<u32, _>(&row, "attempts").unwrap_err();
        assert!(
            matches!(&e, StoreError::Decode { column, .. } if column == "attempts"),
            "{e:?}"
        );
        assert_eq!(count::<u64, _>(&row, "attempts").unwrap(), 4_294_967_296);
        let e = opt_count::<u64, _>(&row, "n").unwrap_err();
        assert!(matches!(&e, StoreError::Decode { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn a_bad_column_is_an_error_that_names_it() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let row = sqlx::query("SELECT 'sent' AS status, 'later' AS odd, 7 AS n, NULL AS none")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            word::<DeliveryStatus>(&row, "status").unwrap(),
            DeliveryStatus::Sent
        );
        assert_eq!(opt_word::<DeliveryStatus>(&row, "none").unwrap(), None);
        assert_eq!(col::<i64, _>(&row, "n").unwrap(), 7);
        assert_eq!(count::<u64, _>(&row, "n").unwrap(), 7);
        assert_eq!(opt_count::<u64, _>(&row, "none").unwrap(), None);

        let e = word::<DeliveryStatus>(&row, "odd").unwrap_err();
        assert!(
            matches!(&e, StoreError::Decode { column, .. } if column == "odd"),
            "{e:?}"
        );
        assert!(
            e.report().contains("`later` is not a delivery status"),
            "{}",
            e.report()
        );

        let e = col::<String, _>(&row, "missing").unwrap_err();
        assert!(matches!(&e, StoreError::Decode { column, .. } if column == "missing"));
        let e = col::<i64, _>(&row, "status").unwrap_err();
        assert_eq!(e.to_string(), "database error: status cannot be read");
        assert!(
            std::error::Error::source(&e).is_some(),
            "the sqlx error is kept"
        );
    }
}
