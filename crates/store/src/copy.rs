//! `db copy` (issue 16 part 4): the journal's tables copied from one database to another —
//! SQLite or PostgreSQL on either side — verified by a row count and a checksum per table.
//!
//! - Both databases are first brought to this version's schema by their store's own `open`
//!   (migrations), so their tables and columns are the same; any difference left (a table or
//!   column on one side only) stops the copy before anything is written, naming it.
//! - The source is read in one snapshot (a read transaction), so a daemon still writing to it
//!   does not tear the copy; everything is written to the destination in one transaction, so
//!   a failed copy leaves the destination as it was.
//! - Idempotent and never destructive: into an empty destination it copies; into one that
//!   already holds exactly the source's rows it does nothing and says so; into any other
//!   non-empty destination it refuses, naming the tables that hold rows.
//! - After the commit the destination is read back and its counts and checksums must equal the
//!   source's.
//!
//! The checksum of a table is independent of row order and of the backend: the sum (mod
//! 2^128) of the SHA-256 (first 16 bytes) of each row's canonical encoding — its columns in
//! name order, each as name, kind and value. Row ids are copied as they are (PostgreSQL's
//! identity columns are then moved past the largest id).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use futures_util::TryStreamExt as _;
use sha2::{Digest, Sha256};
use smb_engine::StoreError;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::postgres::is_postgres_url;
use crate::{PgSettings, PgStore, SqliteSettings, SqliteStore};

/// Bind parameters per multi-row `INSERT` at most (SQLite allows 32766, PostgreSQL 65535).
const MAX_BINDS: usize = 30_000;

/// Rows per `INSERT` at most, whatever the column count.
const MAX_ROWS: usize = 1_000;

/// One table as copied (or as found identical).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCopy {
    /// The table's name.
    pub table: String,
    /// Rows in the source, equal to the rows in the destination afterwards.
    pub rows: u64,
    /// The table's checksum (32 hex digits), the same on both sides.
    pub checksum: String,
}

/// What [`copy`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// `true`: the rows were copied; `false`: the destination already held exactly the
    /// source's rows and nothing was written.
    pub copied: bool,
    /// Every table, by name.
    pub tables: Vec<TableCopy>,
}

/// A column's kind: the journal has integers (`INTEGER` / `BIGINT`) and text only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Int,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

/// Tables and their columns (name, kind), in the database's column order.
type Schema = BTreeMap<String, Vec<(String, Kind)>>;

/// Counts and checksums per table.
type Digests = BTreeMap<String, (u64, u128)>;

/// One side of the copy: a connection of its own (the store that migrated it is closed).
enum Side {
    Lite(SqliteConnection),
    Pg(PgConnection),
}

/// How a database is named in messages: a SQLite file's path, a server's `host:port/db`
/// (never a password).
pub fn database_name(url: &str) -> String {
    if is_postgres_url(url) {
        match PgConnectOptions::from_str(url.trim()) {
            Ok(o) => format!(
                "{}:{}/{}",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("(the user's database)")
            ),
            Err(_) => smb_domain::redact::redact(url),
        }
    } else {
        SqliteConnectOptions::from_str(url).map_or_else(
            |_| url.to_owned(),
            |o| o.get_filename().display().to_string(),
        )
    }
}

/// Opens `url` through its store (which applies the migrations), closes the store and
/// connects anew. A SQLite source must exist (`open_existing`); a destination is created.
async fn open(url: &str, source: bool) -> Result<Side, StoreError> {
    if is_postgres_url(url) {
        let store = PgStore::open(url, PgSettings::default()).await?;
        store.close().await?;
        let opts = PgConnectOptions::from_str(url.trim())
            .map_err(|e| StoreError::Invalid(smb_domain::redact::redact(&e.to_string())))?;
        let conn = PgConnection::connect_with(&opts).await.map_err(|e| {
            StoreError::database_in(format!("cannot connect to {}", database_name(url)), e)
        })?;
        return Ok(Side::Pg(conn));
    }
    let store = if source {
        SqliteStore::open_existing(url, SqliteSettings::default()).await?
    } else {
        SqliteStore::open(url, SqliteSettings::default()).await?
    };
    let path = store.path().to_owned();
    store.close().await?;
    let opts = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(10));
    let conn = SqliteConnection::connect_with(&opts).await.map_err(|e| {
        StoreError::database_in(format!("cannot open the database {}", path.display()), e)
    })?;
    Ok(Side::Lite(conn))
}

fn kind_of(table: &str, column: &str, ty: &str) -> Result<Kind, StoreError> {
    match ty.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => Ok(Kind::Int),
        "text" => Ok(Kind::Text),
        other => Err(StoreError::Invalid(format!(
            "{table}.{column} has the type `{other}`, which db copy does not know (integers and \
             text only)"
        ))),
    }
}

impl Side {
    async fn schema(&mut self) -> Result<Schema, StoreError> {
        let mut schema = Schema::new();
        match self {
            Side::Lite(c) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table'
                     AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
                )
                .fetch_all(&mut *c)
                .await
                .map_err(StoreError::database)?;
                for table in tables {
                    let rows =
                        sqlx::query("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
                            .bind(&table)
                            .fetch_all(&mut *c)
                            .await
                            .map_err(StoreError::database)?;
                    let mut cols = Vec::new();
                    for r in &rows {
                        let name: String = r.try_get("name").map_err(StoreError::database)?;
                        let ty: String = r.try_get("type").map_err(StoreError::database)?;
                        cols.push((name.clone(), kind_of(&table, &name, &ty)?));
                    }
                    schema.insert(table, cols);
                }
            }
            Side::Pg(c) => {
                let rows = sqlx::query(
                    "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty
                     FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'
                     ORDER BY table_name, ordinal_position",
                )
                .fetch_all(&mut *c)
                .await
                .map_err(StoreError::database)?;
                for r in &rows {
                    let table: String = r.try_get("t").map_err(StoreError::database)?;
                    let name: String = r.try_get("c").map_err(StoreError::database)?;
                    let ty: String = r.try_get("ty").map_err(StoreError::database)?;
                    let kind = kind_of(&table, &name, &ty)?;
                    schema.entry(table).or_default().push((name, kind));
                }
            }
        }
        Ok(schema)
    }

    /// Opens a transaction that reads one snapshot.
    async fn begin_read(&mut self) -> Result<(), StoreError> {
        let sql = match self {
            Side::Lite(_) => "BEGIN",
            Side::Pg(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        self.exec(sql).await
    }

    async fn exec(&mut self, sql: &'static str) -> Result<(), StoreError> {
        match self {
            Side::Lite(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()),
            Side::Pg(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()),
        }
        .map_err(StoreError::database)
    }

    /// Rows in every table of `schema`.
    async fn counts(&mut self, schema: &Schema) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut out = BTreeMap::new();
        for table in schema.keys() {
            let sql = format!("SELECT COUNT(*) FROM {}", quote(table));
            let n: i64 = match self {
                Side::Lite(c) => {
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_one(&mut *c)
                        .await
                }
                Side::Pg(c) => {
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_one(&mut *c)
                        .await
                }
            }
            .map_err(StoreError::database)?;
            out.insert(table.clone(), u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// Reads every row of `table` (its `columns`), handing each to `each` in chunks.
    async fn read_table(
        &mut self,
        table: &str,
        columns: &[(String, Kind)],
        mut each: impl AsyncChunk,
    ) -> Result<(), StoreError> {
        let list = columns
            .iter()
            .map(|(c, _)| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {list} FROM {}", quote(table));
        let per_chunk = chunk_rows(columns.len());
        let mut chunk: Vec<Vec<Value>> = Vec::with_capacity(per_chunk);
        match self {
            Side::Lite(c) => {
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *c);
                while let Some(row) = rows.try_next().await.map_err(StoreError::database)? {
                    chunk.push(lite_values(&row, table, columns)?);
                    if chunk.len() == per_chunk {
                        each.chunk(std::mem::take(&mut chunk)).await?;
                    }
                }
            }
            Side::Pg(c) => {
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *c);
                while let Some(row) = rows.try_next().await.map_err(StoreError::database)? {
                    chunk.push(pg_values(&row, table, columns)?);
                    if chunk.len() == per_chunk {
                        each.chunk(std::mem::take(&mut chunk)).await?;
                    }
                }
            }
        }
        if !chunk.is_empty() {
            each.chunk(chunk).await?;
        }
        Ok(())
    }

    /// Counts and checksums of every table of `schema`, read in one snapshot.
    async fn digests(&mut self, schema: &Schema) -> Result<Digests, StoreError> {
        self.begin_read().await?;
        let mut out = Digests::new();
        for (table, columns) in schema {
            let mut sum = Sum::new(columns);
            self.read_table(table, columns, &mut sum).await?;
            out.insert(table.clone(), (sum.rows, sum.sum));
        }
        self.exec("COMMIT").await?;
        Ok(out)
    }

    async fn insert(
        &mut self,
        table: &str,
        columns: &[(String, Kind)],
        rows: &[Vec<Value>],
    ) -> Result<(), StoreError> {
        let head = format!(
            "INSERT INTO {} ({}) ",
            quote(table),
            columns
                .iter()
                .map(|(c, _)| quote(c))
                .collect::<Vec<_>>()
                .join(", ")
        );
        match self {
            Side::Lite(c) => {
                let mut q = QueryBuilder::<Sqlite>::new(head);
                q.push_values(rows, |mut b, row| {
                    for v in row {
                        match v {
                            Value::Int(i) => b.push_bind(*i),
                            Value::Text(t) => b.push_bind(t.clone()),
                        };
                    }
                });
                q.build().execute(&mut *c).await.map(|_| ())
            }
            Side::Pg(c) => {
                let mut q = QueryBuilder::<Postgres>::new(head);
                q.push_values(rows, |mut b, row| {
                    for v in row {
                        match v {
                            Value::Int(i) => b.push_bind(*i),
                            Value::Text(t) => b.push_bind(t.clone()),
                        };
                    }
                });
                q.build().execute(&mut *c).await.map(|_| ())
            }
        }
        .map_err(|e| StoreError::database_in(format!("cannot write the table {table}"), e))
    }

    /// After rows with explicit ids went into PostgreSQL, its identity columns continue past
    /// the largest id (SQLite's rowids do so by themselves).
    async fn move_identities(&mut self) -> Result<(), StoreError> {
        let Side::Pg(c) = self else { return Ok(()) };
        let rows = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns
             WHERE table_schema = current_schema() AND is_identity = 'YES'",
        )
        .fetch_all(&mut *c)
        .await
        .map_err(StoreError::database)?;
        for r in &rows {
            let table: String = r.try_get("t").map_err(StoreError::database)?;
            let column: String = r.try_get("c").map_err(StoreError::database)?;
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({col}), 0) + 1, false) \
                 FROM {tab}",
                col = quote(&column),
                tab = quote(&table)
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(quote(&table))
                .bind(&column)
                .execute(&mut *c)
                .await
                .map_err(|e| {
                    StoreError::database_in(format!("cannot move the ids of {table} on"), e)
                })?;
        }
        Ok(())
    }
}

/// Rows per chunk for a table of `columns` columns (the binds of one `INSERT`).
fn chunk_rows(columns: usize) -> usize {
    (MAX_BINDS / columns.max(1)).clamp(1, MAX_ROWS)
}

/// An identifier quoted for SQL (both backends use double quotes).
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn lite_values(
    row: &SqliteRow,
    table: &str,
    columns: &[(String, Kind)],
) -> Result<Vec<Value>, StoreError> {
    columns
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| {
            match kind {
                Kind::Int => row.try_get::<Option<i64>, _>(i).map(Value::Int),
                Kind::Text => row.try_get::<Option<String>, _>(i).map(Value::Text),
            }
            .map_err(|e| decode_err(table, name, e))
        })
        .collect()
}

fn pg_values(
    row: &PgRow,
    table: &str,
    columns: &[(String, Kind)],
) -> Result<Vec<Value>, StoreError> {
    columns
        .iter()
        .enumerate()
        .map(|(i, (name, kind))| {
            match kind {
                Kind::Int => row.try_get::<Option<i64>, _>(i).map(Value::Int),
                Kind::Text => row.try_get::<Option<String>, _>(i).map(Value::Text),
            }
            .map_err(|e| decode_err(table, name, e))
        })
        .collect()
}

fn decode_err(table: &str, column: &str, e: sqlx::Error) -> StoreError {
    StoreError::Decode {
        column: format!("{table}.{column}"),
        source: Arc::new(e),
    }
}

/// What is done with each chunk of rows read.
trait AsyncChunk {
    async fn chunk(&mut self, rows: Vec<Vec<Value>>) -> Result<(), StoreError>;
}

/// The running count and checksum of one table.
struct Sum {
    /// Column positions in name order, and the names.
    order: Vec<(usize, String)>,
    rows: u64,
    sum: u128,
}

impl Sum {
    fn new(columns: &[(String, Kind)]) -> Self {
        let mut order: Vec<(usize, String)> = columns
            .iter()
            .enumerate()
            .map(|(i, (c, _))| (i, c.clone()))
            .collect();
        order.sort_by(|a, b| a.1.cmp(&b.1));
        Sum {
            order,
            rows: 0,
            sum: 0,
        }
    }

    fn add(&mut self, row: &[Value]) {
        let mut h = Sha256::new();
        for (i, name) in &self.order {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            match row.get(*i) {
                Some(Value::Int(Some(v))) => {
                    h.update([1]);
                    h.update(v.to_le_bytes());
                }
                Some(Value::Text(Some(t))) => {
                    h.update([2]);
                    h.update((t.len() as u64).to_le_bytes());
                    h.update(t.as_bytes());
                }
                Some(Value::Int(None) | Value::Text(None)) | None => h.update([0]),
            }
        }
        let digest = h.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        self.sum = self.sum.wrapping_add(u128::from_le_bytes(first));
        self.rows += 1;
    }
}

impl AsyncChunk for &mut Sum {
    async fn chunk(&mut self, rows: Vec<Vec<Value>>) -> Result<(), StoreError> {
        for row in &rows {
            self.add(row);
        }
        Ok(())
    }
}

/// Copies each chunk into the destination while summing it.
struct CopyInto<'a> {
    to: &'a mut Side,
    table: &'a str,
    columns: &'a [(String, Kind)],
    sum: &'a mut Sum,
}

impl AsyncChunk for CopyInto<'_> {
    async fn chunk(&mut self, rows: Vec<Vec<Value>>) -> Result<(), StoreError> {
        for row in &rows {
            self.sum.add(row);
        }
        self.to.insert(self.table, self.columns, &rows).await
    }
}

fn hex(sum: u128) -> String {
    format!("{sum:032x}")
}

fn report(copied: bool, digests: &Digests) -> CopyReport {
    CopyReport {
        copied,
        tables: digests
            .iter()
            .map(|(table, (rows, sum))| TableCopy {
                table: table.clone(),
                rows: *rows,
                checksum: hex(*sum),
            })
            .collect(),
    }
}

/// Copies every table of the database at `from` into the database at `to` (each a
/// `sqlite://…` or `postgres://…` URL), as the module docs describe.
///
/// Errors: `Invalid` when `from` and `to` are the same database, when the two schemas differ
/// (naming the tables and columns), when the destination holds other rows (naming the tables
/// and their row counts) or when the destination read back differs from the source (naming
/// the tables); the stores' errors (a missing SQLite source, an unreachable server) as they
/// come. A failed copy leaves the destination as it was.
pub async fn copy(from: &str, to: &str) -> Result<CopyReport, StoreError> {
    let (from_name, to_name) = (database_name(from), database_name(to));
    if from_name == to_name && is_postgres_url(from) == is_postgres_url(to) {
        return Err(StoreError::Invalid(format!(
            "--from and --to are the same database ({from_name}); copy into another one"
        )));
    }
    let mut src = open(from, true).await?;
    let mut dst = open(to, false).await?;
    let schema = src.schema().await?;
    let theirs = dst.schema().await?;
    // Columns are named in every statement, so only their names and kinds must agree, not
    // their order.
    if sorted(&schema) != sorted(&theirs) {
        return Err(StoreError::Invalid(format!(
            "{from_name} and {to_name} do not have the same tables and columns ({}); both \
             were migrated by this version, so one of them holds tables of another program \
             or of a newer version",
            schema_difference(&schema, &theirs)
        )));
    }
    let held: Vec<String> = dst
        .counts(&schema)
        .await?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| format!("{t} ({n} rows)"))
        .collect();
    if !held.is_empty() {
        let source = src.digests(&schema).await?;
        let dest = dst.digests(&schema).await?;
        if source == dest {
            return Ok(report(false, &source));
        }
        return Err(StoreError::Invalid(format!(
            "{to_name} already holds other data: {}; db copy writes only into an empty \
             database (or one that already holds exactly the source's rows) — create a new \
             database and copy into it",
            held.join(", ")
        )));
    }
    src.begin_read().await?;
    dst.exec("BEGIN").await?;
    let mut source = Digests::new();
    let copied: Result<(), StoreError> = async {
        for (table, columns) in &schema {
            let mut sum = Sum::new(columns);
            let into = CopyInto {
                to: &mut dst,
                table,
                columns,
                sum: &mut sum,
            };
            src.read_table(table, columns, into).await?;
            source.insert(table.clone(), (sum.rows, sum.sum));
        }
        dst.move_identities().await
    }
    .await;
    if let Err(e) = copied {
        // Nothing of a failed copy stays; the rollback's own failure adds nothing to tell.
        let _ = dst.exec("ROLLBACK").await;
        let _ = src.exec("ROLLBACK").await;
        return Err(e);
    }
    dst.exec("COMMIT").await?;
    src.exec("COMMIT").await?;
    let dest = dst.digests(&schema).await?;
    let differ: Vec<&str> = source
        .iter()
        .filter(|(t, d)| dest.get(*t) != Some(d))
        .map(|(t, _)| t.as_str())
        .collect();
    if !differ.is_empty() {
        return Err(StoreError::Invalid(format!(
            "the copy in {to_name} differs from {from_name} in {} after writing: do not use \
             it; report this",
            differ.join(", ")
        )));
    }
    Ok(report(true, &source))
}

/// `cols` in name order.
fn sorted_cols(cols: &[(String, Kind)]) -> Vec<(String, Kind)> {
    let mut cols = cols.to_vec();
    cols.sort();
    cols
}

/// `schema` with each table's columns in name order.
fn sorted(schema: &Schema) -> Schema {
    schema
        .iter()
        .map(|(t, cols)| (t.clone(), sorted_cols(cols)))
        .collect()
}

/// What one schema has and the other has not, in words.
fn schema_difference(a: &Schema, b: &Schema) -> String {
    let mut out = Vec::new();
    for (table, cols) in a {
        match b.get(table) {
            None => out.push(format!("table {table} only in the source")),
            Some(other) if sorted_cols(other) != sorted_cols(cols) => {
                out.push(format!("table {table}: {cols:?} against {other:?}"));
            }
            Some(_) => {}
        }
    }
    for table in b.keys().filter(|t| !a.contains_key(*t)) {
        out.push(format!("table {table} only in the destination"));
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_does_not_depend_on_row_or_column_order() {
        let cols = [("a".to_owned(), Kind::Int), ("b".to_owned(), Kind::Text)];
        let swapped = [("b".to_owned(), Kind::Text), ("a".to_owned(), Kind::Int)];
        let r1 = [Value::Int(Some(1)), Value::Text(Some("x".into()))];
        let r2 = [Value::Int(None), Value::Text(Some(String::new()))];
        let mut s = Sum::new(&cols);
        s.add(&r1);
        s.add(&r2);
        let mut t = Sum::new(&swapped);
        t.add(&[r2[1].clone(), r2[0].clone()]);
        t.add(&[r1[1].clone(), r1[0].clone()]);
        assert_eq!((s.rows, s.sum), (t.rows, t.sum));
        // NULL, 0 and "" are different values; so is a changed one.
        let mut u = Sum::new(&cols);
        u.add(&r1);
        u.add(&[Value::Int(Some(0)), Value::Text(Some(String::new()))]);
        assert_ne!(s.sum, u.sum);
        let mut v = Sum::new(&cols);
        v.add(&r1);
        v.add(&[Value::Int(None), Value::Text(None)]);
        assert_ne!(s.sum, v.sum);
    }

    #[test]
    fn chunks_stay_under_the_bind_limit() {
        assert_eq!(chunk_rows(1), MAX_ROWS);
        assert_eq!(chunk_rows(60), 500);
        assert_eq!(chunk_rows(0), MAX_ROWS);
        assert!(chunk_rows(40_000) >= 1);
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("until"), "\"until\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
    }
}
