//! Rows as the runtime's SQL APIs hand them over (a Durable Object's SQLite cursor, D1): one
//! JavaScript object per row, read column by column into typed rows. Each row type says which
//! columns it reads and how ([`FromRow`]); there is no serde layer in between (a generic
//! JavaScript-value deserializer per row type cost more upload than these readers).

use wasm_bindgen::{JsCast, JsValue};
use worker::js_sys::{Array, Reflect};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, D1PreparedStatement};

use crate::error::{ApiError, ApiResult};

/// One row: a JavaScript object with a property per column.
pub struct Row(JsValue);

/// A typed row read from a [`Row`].
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> ApiResult<Self>;
}

impl From<JsValue> for Row {
    fn from(v: JsValue) -> Self {
        Row(v)
    }
}

/// A JavaScript exception, as the error every other runtime failure is.
fn thrown(e: JsValue) -> ApiError {
    worker::Error::from(e).into()
}

fn bad(column: &str, want: &str) -> ApiError {
    ApiError::internal(format!("stored column {column} is not {want}"))
}

impl Row {
    /// The column's value; a column the row lacks is `undefined`, read as `NULL`.
    fn get(&self, column: &str) -> JsValue {
        Reflect::get(&self.0, &JsValue::from_str(column)).unwrap_or(JsValue::UNDEFINED)
    }

    /// A text column that may be `NULL`.
    pub fn opt_text(&self, column: &str) -> ApiResult<Option<String>> {
        let v = self.get(column);
        if v.is_null() || v.is_undefined() {
            return Ok(None);
        }
        v.as_string().map(Some).ok_or_else(|| bad(column, "text"))
    }

    /// A text column.
    pub fn text(&self, column: &str) -> ApiResult<String> {
        self.opt_text(column)?.ok_or_else(|| bad(column, "text"))
    }

    /// An integer column that may be `NULL` (SQLite hands integers over as numbers).
    pub fn opt_int(&self, column: &str) -> ApiResult<Option<i64>> {
        let v = self.get(column);
        if v.is_null() || v.is_undefined() {
            return Ok(None);
        }
        match v.as_f64() {
            Some(n) if n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_991.0 => Ok(Some(n as i64)),
            _ => Err(bad(column, "an integer")),
        }
    }

    /// An integer column.
    pub fn int(&self, column: &str) -> ApiResult<i64> {
        self.opt_int(column)?
            .ok_or_else(|| bad(column, "an integer"))
    }

    /// A state stored by name (`parse` knows the names) that may be `NULL`.
    pub fn opt_state<T>(&self, column: &str, parse: fn(&str) -> Option<T>) -> ApiResult<Option<T>> {
        match self.opt_text(column)? {
            None => Ok(None),
            Some(name) => parse(&name)
                .map(Some)
                .ok_or_else(|| bad(column, "a known state")),
        }
    }

    /// A state stored by name.
    pub fn state<T>(&self, column: &str, parse: fn(&str) -> Option<T>) -> ApiResult<T> {
        self.opt_state(column, parse)?
            .ok_or_else(|| bad(column, "a known state"))
    }
}

/// Reads every row of a JavaScript array of rows.
pub fn read_all<T: FromRow>(rows: &Array) -> ApiResult<Vec<T>> {
    rows.iter().map(|r| T::from_row(&Row(r))).collect()
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

/// The first row a D1 statement answers, if any.
pub async fn d1_first<T: FromRow>(stmt: &D1PreparedStatement) -> ApiResult<Option<T>> {
    Ok(d1_all(stmt).await?.into_iter().next())
}

/// How many rows a D1 write changed.
pub async fn d1_changes(stmt: &D1PreparedStatement) -> ApiResult<i64> {
    let answer = JsFuture::from(stmt.inner().run().map_err(thrown)?)
        .await
        .map_err(thrown)?;
    let meta = Reflect::get(&answer, &JsValue::from_str("meta")).unwrap_or(JsValue::UNDEFINED);
    Ok(Row(meta).opt_int("changes")?.unwrap_or(0))
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
