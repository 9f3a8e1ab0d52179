//! Multi-row statements for bulk work (a year's receivables, a roster): one `INSERT … VALUES
//! (…), (…)` per chunk instead of one statement per row, so that an import costs a few thousand
//! statements, not millions. Placeholders are `$N` on PostgreSQL and plain `?` on SQLite, whose
//! `$N` names cost a walk of every name per bound value (quadratic in a long statement).

use std::fmt::Write as _;

use crate::db::Backend;

/// Bound parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535, and small
/// enough that a statement's text and arguments stay a few hundred kilobytes.
const MAX_BINDS: usize = 6_000;

/// Rows of `width` columns per statement.
pub(crate) fn chunk_rows(width: usize) -> usize {
    assert!(width > 0 && width <= MAX_BINDS, "a row of {width} columns");
    MAX_BINDS / width
}

/// The `n`th (1-based) placeholder.
fn placeholder(s: &mut String, backend: Backend, n: usize) {
    match backend {
        Backend::Postgres => {
            let _ = write!(s, "${n}");
        }
        Backend::Sqlite => s.push('?'),
    }
}

/// `{head} VALUES ($1, …, $width), (…)` for `rows` rows, then `tail`.
pub(crate) fn values_sql(backend: Backend, head: &str, width: usize, rows: usize, tail: &str) -> String {
    assert!(rows > 0 && rows * width <= MAX_BINDS, "{rows} rows of {width}");
    let mut s = String::with_capacity(head.len() + tail.len() + 12 + rows * width * 7);
    s.push_str(head);
    s.push_str(" VALUES ");
    let mut n = 1;
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                s.push_str(", ");
            }
            placeholder(&mut s, backend, n);
            n += 1;
        }
        s.push(')');
    }
    s.push(' ');
    s.push_str(tail);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbered_row_by_row() {
        let pg = Backend::Postgres;
        assert_eq!(values_sql(pg, "INSERT INTO t (a, b)", 2, 2, ""), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ");
        assert_eq!(values_sql(Backend::Sqlite, "INSERT INTO t (a)", 1, 2, ""), "INSERT INTO t (a) VALUES (?), (?) ");
        assert_eq!(chunk_rows(10), 600);
    }
}
