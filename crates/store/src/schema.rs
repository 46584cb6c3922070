//! The migrated schema as a backend-neutral description — tables, columns (type mapped to a
//! kind, nullability, default), and indexes (columns, uniqueness, partial predicate) — so the
//! drift test can migrate both backends and compare what the two migration folders made.
//!
//! Normalisation keeps only what must agree: SQLite's and PostgreSQL's spellings of the same
//! type, default and predicate compare equal; auto-made indexes of primary keys and `UNIQUE`
//! constraints are named by what they cover, since each engine names them its own way.

use std::collections::BTreeMap;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

use crate::{Db, Result};

/// A column's type family: what the application binds and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Text,
    Integer,
    Boolean,
    Bytes,
    Real,
    /// A type the mapping does not know (named, so a new one shows in the failure).
    Other(&'static str),
}

/// A column as both backends must agree on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Column {
    pub kind: Kind,
    pub nullable: bool,
    /// The default, lower-cased, without casts; `autoincrement` for generated ids.
    pub default: Option<String>,
}

/// An index as both backends must agree on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Index {
    pub table: String,
    pub columns: Vec<String>,
    pub unique: bool,
    /// The partial index's predicate reduced to its quoted literals and words, sorted.
    pub predicate: Option<Vec<String>>,
}

/// The whole schema: `table -> column -> Column`, `index name -> Index`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: BTreeMap<String, BTreeMap<String, Column>>,
    pub indexes: BTreeMap<String, Index>,
}

/// Tables that exist on one backend by design: SQLite draws invoice numbers from a `counters`
/// row where PostgreSQL has a sequence; sqlx keeps its own migration ledger.
const BACKEND_OWN_TABLES: &[&str] = &["counters", "_sqlx_migrations"];

fn kind(declared: &str) -> Kind {
    match declared.to_ascii_lowercase().as_str() {
        "text" | "character varying" | "varchar" => Kind::Text,
        "bigint" | "integer" | "int" | "smallint" => Kind::Integer,
        "boolean" | "bool" => Kind::Boolean,
        "blob" | "bytea" => Kind::Bytes,
        "real" | "double precision" | "double" => Kind::Real,
        _ => Kind::Other(match declared {
            "" => "(none)",
            _ => "unknown",
        }),
    }
}

/// `'sleep'::text` and `'sleep'` alike; `FALSE` and `false` alike.
fn default(text: Option<String>) -> Option<String> {
    let text = text?;
    if text.starts_with("nextval(") {
        return Some("autoincrement".to_owned());
    }
    let without_cast = match text.find("::") {
        Some(at) if !text[at..].contains('\'') => &text[..at],
        _ => text.as_str(),
    };
    Some(without_cast.trim_matches(['(', ')']).to_ascii_lowercase())
}

/// The quoted literals and the words of a predicate, sorted: `status <> 'canceled'` and
/// PostgreSQL's `(status <> 'canceled'::text)` both give `['canceled', status]`; `IN (...)` and
/// `= ANY (ARRAY[...])` give the same literals.
fn predicate(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('\'') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('\'') else { break };
        parts.push(format!("'{}'", &after[..close]));
        words(&rest[..open], &mut parts);
        rest = &after[close + 1..];
    }
    words(rest, &mut parts);
    parts.sort();
    parts
}

/// Column names and boolean constants of a predicate's unquoted text (operators, casts and
/// PostgreSQL's `ANY`/`ARRAY`/`text` are not kept).
fn words(text: &str, into: &mut Vec<String>) {
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let word = word.to_ascii_lowercase();
        if !word.is_empty()
            && !matches!(
                word.as_str(),
                "in" | "any" | "array" | "text" | "and" | "or"
            )
        {
            into.push(word);
        }
    }
}

/// How a constraint's index is named for comparison: `<table>(<columns>) primary key` or
/// `... unique`.
fn constraint_index_name(table: &str, columns: &[String], what: &str) -> String {
    format!("{table}({}) {what}", columns.join(", "))
}

impl Db {
    /// The migrated schema of this database (see the module doc).
    pub async fn schema(&self) -> Result<Schema> {
        match &self.pool {
            crate::db::Pool::Sqlite(pool) => sqlite_schema(pool).await,
            crate::db::Pool::Postgres(pool) => postgres_schema(pool).await,
        }
    }
}

async fn sqlite_schema(pool: &SqlitePool) -> Result<Schema> {
    let mut schema = Schema::default();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(pool)
    .await?;
    for (table,) in tables {
        if BACKEND_OWN_TABLES.contains(&table.as_str()) {
            continue;
        }
        let columns: Vec<(String, String, bool, Option<String>, i64)> = sqlx::query_as(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info($1)",
        )
        .bind(&table)
        .fetch_all(pool)
        .await?;
        let single_integer_key = columns.iter().filter(|c| c.4 > 0).count() == 1;
        let mut described = BTreeMap::new();
        for (name, declared, not_null, dflt, pk) in columns {
            // A lone INTEGER PRIMARY KEY is the rowid: generated, like an identity column.
            let generated =
                pk > 0 && single_integer_key && declared.eq_ignore_ascii_case("integer");
            described.insert(
                name,
                Column {
                    kind: kind(&declared),
                    // SQLite lets a non-integer primary key hold NULL; no row ever does here.
                    nullable: !not_null && pk == 0,
                    default: if generated {
                        Some("autoincrement".to_owned())
                    } else {
                        default(dflt)
                    },
                },
            );
        }
        let indexes: Vec<(String, bool, String, bool)> =
            sqlx::query_as("SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)")
                .bind(&table)
                .fetch_all(pool)
                .await?;
        for (name, unique, origin, partial) in indexes {
            let columns: Vec<(String,)> =
                sqlx::query_as("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(pool)
                    .await?;
            let columns: Vec<String> = columns.into_iter().map(|(c,)| c).collect();
            let predicate = if partial {
                let sql: (Option<String>,) = sqlx::query_as(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = $1",
                )
                .bind(&name)
                .fetch_one(pool)
                .await?;
                let sql = sql.0.unwrap_or_default();
                let upper = sql.to_ascii_uppercase();
                upper.rfind(" WHERE ").map(|at| predicate(&sql[at + 7..]))
            } else {
                None
            };
            let key = match origin.as_str() {
                "pk" => constraint_index_name(&table, &columns, "primary key"),
                "u" => constraint_index_name(&table, &columns, "unique"),
                _ => name,
            };
            schema.indexes.insert(
                key,
                Index {
                    table: table.clone(),
                    columns,
                    unique,
                    predicate,
                },
            );
        }
        if single_integer_key {
            // The rowid key has no index of its own in SQLite; PostgreSQL's has one.
            if let Some((name, _)) = described
                .iter()
                .find(|(_, c)| c.default.as_deref() == Some("autoincrement"))
            {
                let columns = vec![name.clone()];
                schema.indexes.insert(
                    constraint_index_name(&table, &columns, "primary key"),
                    Index {
                        table: table.clone(),
                        columns,
                        unique: true,
                        predicate: None,
                    },
                );
            }
        }
        schema.tables.insert(table, described);
    }
    Ok(schema)
}

/// An index as `pg_index` tells it: name, table, unique, primary key, made by a `UNIQUE`
/// constraint, partial predicate, columns.
type PgIndexRow = (
    String,
    String,
    bool,
    bool,
    bool,
    Option<String>,
    Vec<String>,
);

async fn postgres_schema(pool: &PgPool) -> Result<Schema> {
    let mut schema = Schema::default();
    let columns: Vec<(String, String, String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable::text, \
             c.column_default::text, c.is_identity::text \
             FROM information_schema.columns c JOIN information_schema.tables t \
             ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await?;
    for (table, name, declared, nullable, dflt, identity) in columns {
        if BACKEND_OWN_TABLES.contains(&table.as_str()) {
            continue;
        }
        schema.tables.entry(table).or_default().insert(
            name,
            Column {
                kind: kind(&declared),
                nullable: nullable == "YES",
                default: if identity == "YES" {
                    Some("autoincrement".to_owned())
                } else {
                    default(dflt)
                },
            },
        );
    }
    let indexes: Vec<PgIndexRow> = sqlx::query_as(
            "SELECT i.relname::text, t.relname::text, ix.indisunique, ix.indisprimary, \
             EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype = 'u'), \
             pg_get_expr(ix.indpred, ix.indrelid), \
             ARRAY(SELECT a.attname::text FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord) \
                   JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum ORDER BY k.ord) \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema()",
        )
        .fetch_all(pool)
        .await?;
    for (name, table, unique, primary, constraint, pred, columns) in indexes {
        if BACKEND_OWN_TABLES.contains(&table.as_str()) {
            continue;
        }
        let key = if primary {
            constraint_index_name(&table, &columns, "primary key")
        } else if constraint {
            constraint_index_name(&table, &columns, "unique")
        } else {
            name
        };
        schema.indexes.insert(
            key,
            Index {
                table,
                columns,
                unique,
                predicate: pred.as_deref().map(predicate),
            },
        );
    }
    Ok(schema)
}

impl Schema {
    /// What differs between `self` and `other`, one line each (empty when they agree).
    pub fn differences(&self, other: &Schema) -> Vec<String> {
        let mut found = Vec::new();
        let tables = self.tables.keys().chain(other.tables.keys());
        let mut seen = std::collections::BTreeSet::new();
        for table in tables {
            if !seen.insert(table) {
                continue;
            }
            match (self.tables.get(table), other.tables.get(table)) {
                (Some(a), Some(b)) => {
                    let names: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).collect();
                    for name in names {
                        match (a.get(name), b.get(name)) {
                            (Some(x), Some(y)) if x == y => {}
                            (x, y) => found.push(format!("column {table}.{name}: {x:?} vs {y:?}")),
                        }
                    }
                }
                (a, b) => found.push(format!(
                    "table {table}: {} vs {}",
                    if a.is_some() { "present" } else { "missing" },
                    if b.is_some() { "present" } else { "missing" }
                )),
            }
        }
        let names: std::collections::BTreeSet<_> =
            self.indexes.keys().chain(other.indexes.keys()).collect();
        for name in names {
            match (self.indexes.get(name), other.indexes.get(name)) {
                (Some(x), Some(y)) if x == y => {}
                (x, y) => found.push(format!("index {name}: {x:?} vs {y:?}")),
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_predicate_in_either_spelling_compares_equal() {
        assert_eq!(
            predicate("status <> 'canceled'"),
            predicate("(status <> 'canceled'::text)")
        );
        assert_eq!(
            predicate("status IN ('pending', 'unknown')"),
            predicate("(status = ANY (ARRAY['pending'::text, 'unknown'::text]))")
        );
        assert_ne!(predicate("status = 'paid'"), predicate("status = 'open'"));
    }

    #[test]
    fn defaults_compare_without_casts_or_case() {
        assert_eq!(
            default(Some("'sleep'::text".into())),
            default(Some("'sleep'".into()))
        );
        assert_eq!(default(Some("FALSE".into())), default(Some("false".into())));
        assert_eq!(default(Some("'{}'::text".into())).as_deref(), Some("'{}'"));
        assert_eq!(
            default(Some("nextval('x_seq'::regclass)".into())).as_deref(),
            Some("autoincrement")
        );
    }
}
