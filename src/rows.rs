//! Rows as the runtime's SQL APIs hand them over (a Durable Object's SQLite cursor, D1): one
//! JavaScript object per row, read column by column into typed rows. Each row type says which
//! columns it reads and how ([`FromRow`]); there is no serde layer in between (a generic
//! JavaScript-value deserializer per row type cost more upload than these readers). Also how a
//! page's size is written into a query ([`limit`]).

use std::cell::{Cell, RefCell};

use wasm_bindgen::{JsCast, JsValue};
use worker::js_sys::{Array, Reflect};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1PreparedStatement};

use crate::error::{ApiError, ApiResult};

/// ` LIMIT n`, for the end of a query. A page's size is written into the query, never bound:
/// SQLite plans with a bound LIMIT's value, so a statement with `LIMIT ?` is prepared again
/// on every run (workerd binds on every run; counted with a probe on `sqlite3Reprepare`,
/// each run of the session's event page was parsed and planned anew). A bound OFFSET is not.
pub fn limit(n: impl Into<i64>) -> String {
    format!(" LIMIT {}", n.into())
}

/// One row: a JavaScript object with a property per column, and which column was not what
/// its reader expected, if any.
pub struct Row {
    value: JsValue,
    bad: Cell<Option<(&'static str, &'static str)>>,
}

/// A column was not what its row type says (the [`Row`] keeps which one). Small on purpose:
/// a row type reads many columns, each of which may fail.
#[derive(Debug)]
pub struct BadColumn;

/// What a column reader answers.
pub type Read<T> = Result<T, BadColumn>;

/// A typed row read from a [`Row`].
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Read<Self>;
}

impl Row {
    /// Reads `value` (one row) as a `T`.
    pub fn read<T: FromRow>(value: JsValue) -> ApiResult<T> {
        Self::read_with(value, T::from_row)
    }

    /// Reads `value` (one row) with `read`.
    pub fn read_with<T>(value: JsValue, read: impl FnOnce(&Row) -> Read<T>) -> ApiResult<T> {
        let row = Row {
            value,
            bad: Cell::new(None),
        };
        read(&row).map_err(|_| {
            let (column, want) = row.bad.get().unwrap_or(("?", "readable"));
            ApiError::internal(format!("stored column {column} is not {want}"))
        })
    }

    /// Keeps the first column that was not what its reader expected.
    fn bad(&self, column: &'static str, want: &'static str) -> BadColumn {
        if self.bad.get().is_none() {
            self.bad.set(Some((column, want)));
        }
        BadColumn
    }
}

/// A JavaScript exception, as the error every other runtime failure is.
fn thrown(e: JsValue) -> ApiError {
    worker::Error::from(e).into()
}

thread_local! {
    /// Column names as JavaScript strings, made once per name: a list of 50 sessions reads
    /// 850 columns, and a fresh key string for each would cost a conversion every time.
    static KEYS: RefCell<Vec<(&'static str, JsValue)>> = const { RefCell::new(Vec::new()) };
}

impl Row {
    /// The column's value; a column the row lacks is `undefined`, read as `NULL`.
    fn get(&self, column: &'static str) -> JsValue {
        KEYS.with(|keys| {
            let mut keys = keys.borrow_mut();
            let at = match keys.iter().position(|(name, _)| *name == column) {
                Some(at) => at,
                None => {
                    keys.push((column, JsValue::from_str(column)));
                    keys.len() - 1
                }
            };
            Reflect::get(&self.value, &keys[at].1).unwrap_or(JsValue::UNDEFINED)
        })
    }

    // The readers below answer a value whatever they find; a column that is not what they
    // expect is kept on the row, and [`Row::done`] refuses the row then. (No early return per
    // column: a row type of many columns stays small code.)

    /// A text column that may be `NULL`.
    pub fn opt_text(&self, column: &'static str) -> Option<String> {
        let v = self.get(column);
        if v.is_null() || v.is_undefined() {
            return None;
        }
        let text = v.as_string();
        if text.is_none() {
            self.bad(column, "text");
        }
        text
    }

    /// A text column.
    pub fn text(&self, column: &'static str) -> String {
        self.opt_text(column).unwrap_or_else(|| {
            self.bad(column, "text");
            String::new()
        })
    }

    /// An integer column that may be `NULL` (SQLite hands integers over as numbers).
    pub fn opt_int(&self, column: &'static str) -> Option<i64> {
        let v = self.get(column);
        if v.is_null() || v.is_undefined() {
            return None;
        }
        match v.as_f64() {
            Some(n) if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0 => Some(n as i64),
            _ => {
                self.bad(column, "an integer");
                None
            }
        }
    }

    /// An integer column.
    pub fn int(&self, column: &'static str) -> i64 {
        self.opt_int(column).unwrap_or_else(|| {
            self.bad(column, "an integer");
            0
        })
    }

    /// `value`, read from this row, unless a column was not what its reader expected.
    pub fn done<T>(&self, value: T) -> Read<T> {
        match self.bad.get() {
            None => Ok(value),
            Some(_) => Err(BadColumn),
        }
    }

    /// A state stored by name (`parse` knows the names) that may be `NULL`.
    pub fn opt_state<T>(&self, column: &'static str, parse: fn(&str) -> Option<T>) -> Option<T> {
        let state = parse(&self.opt_text(column)?);
        if state.is_none() {
            self.bad(column, "a known state");
        }
        state
    }

    /// A state stored by name; read before the other columns (it has no stand-in value).
    pub fn state<T>(&self, column: &'static str, parse: fn(&str) -> Option<T>) -> Read<T> {
        self.opt_state(column, parse)
            .ok_or_else(|| self.bad(column, "a known state"))
    }
}

/// Reads every row of a JavaScript array of rows.
pub fn read_all<T: FromRow>(rows: &Array) -> ApiResult<Vec<T>> {
    rows.iter().map(Row::read).collect()
}

/// The `results` array of a D1 answer (`all()`, or one answer of a batch).
fn d1_results<T: FromRow>(answer: &JsValue) -> ApiResult<Vec<T>> {
    match Reflect::get(answer, &JsValue::from_str("results")) {
        Ok(rows) if Array::is_array(&rows) => read_all(rows.unchecked_ref()),
        _ => Ok(Vec::new()),
    }
}

/// Every row a D1 statement answers.
pub async fn d1_all<T: FromRow>(stmt: &D1PreparedStatement) -> ApiResult<Vec<T>> {
    let answer = JsFuture::from(stmt.inner().all().map_err(thrown)?)
        .await
        .map_err(thrown)?;
    d1_results(&answer)
}

/// The first row a D1 statement answers, if any (for statements of at most one row: a key
/// lookup or `LIMIT 1`; every row answered is read).
pub async fn d1_first<T: FromRow>(stmt: &D1PreparedStatement) -> ApiResult<Option<T>> {
    Ok(d1_all(stmt).await?.into_iter().next())
}

/// An integer bound to a D1 statement.
pub fn bind_int(v: i64) -> JsValue {
    JsValue::from_f64(v as f64)
}

/// An optional integer bound to a D1 statement (`NULL` when absent).
pub fn bind_opt_int(v: Option<i64>) -> JsValue {
    v.map(bind_int).unwrap_or(JsValue::NULL)
}

/// An optional text bound to a D1 statement (`NULL` when absent).
pub fn bind_opt_text(v: Option<&str>) -> JsValue {
    v.map(JsValue::from).unwrap_or(JsValue::NULL)
}

/// How many rows a D1 write changed.
pub async fn d1_changes(stmt: &D1PreparedStatement) -> ApiResult<i64> {
    let answer = JsFuture::from(stmt.inner().run().map_err(thrown)?)
        .await
        .map_err(thrown)?;
    let meta = Reflect::get(&answer, &JsValue::from_str("meta")).unwrap_or(JsValue::UNDEFINED);
    Row::read_with(meta, |r| r.done(r.opt_int("changes").unwrap_or(0)))
}

/// Runs D1 statements as one batch (one round trip, one transaction); answers each one's
/// answer, in order.
pub async fn d1_batch(db: &D1Database, stmts: &[D1PreparedStatement]) -> ApiResult<Vec<Answer>> {
    let list = Array::new();
    for s in stmts {
        list.push(s.inner());
    }
    let batch = Reflect::get(db.as_ref(), &JsValue::from_str("batch")).map_err(thrown)?;
    let promise = batch
        .unchecked_ref::<worker::js_sys::Function>()
        .call1(db.as_ref(), &list)
        .map_err(thrown)?;
    let answers = JsFuture::from(worker::js_sys::Promise::from(promise))
        .await
        .map_err(thrown)?;
    Ok(answers
        .dyn_into::<Array>()
        .map(|a| a.iter().map(Answer).collect())
        .unwrap_or_default())
}

/// One statement's answer in a D1 batch.
pub struct Answer(JsValue);

impl Answer {
    /// Its rows.
    pub fn rows<T: FromRow>(&self) -> ApiResult<Vec<T>> {
        d1_results(&self.0)
    }
}
