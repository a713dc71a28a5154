//! `GET /openapi.json`: the OpenAPI 3.1 description of every route (`openapi.json` beside
//! this file). A unit test keeps it and the route table in step; the end-to-end suite checks
//! every answer it receives against it.

use worker::Response;

use crate::error::ApiResult;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub fn get() -> ApiResult<Response> {
    let mut resp = Response::ok(DOCUMENT)?;
    resp.headers_mut()
        .set("content-type", "application/json; charset=utf-8")?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::route::Route;
    use serde_json::Value;
    use worker::Method;

    fn method(m: &str) -> Method {
        match m {
            "get" => Method::Get,
            "post" => Method::Post,
            "put" => Method::Put,
            "patch" => Method::Patch,
            "delete" => Method::Delete,
            other => panic!("unexpected method {other}"),
        }
    }

    /// Every documented operation is a route, and every route is documented.
    #[test]
    fn the_document_and_the_route_table_agree() {
        let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented = Vec::new();
        for (template, ops) in doc["paths"].as_object().unwrap() {
            for m in ops.as_object().unwrap().keys() {
                let path = template
                    .split('/')
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.split_once('}')) {
                            // Integration ids are a fixed list.
                            Some(("integration", rest)) => format!("sandbox{rest}"),
                            Some((_, rest)) => format!("x{rest}"),
                            None => s.to_string(),
                        },
                    )
                    .collect::<Vec<_>>()
                    .join("/");
                let route = Route::parse(&method(m), &path).unwrap_or_else(|e| {
                    panic!("{m} {template} is documented but not routed: {e:?}")
                });
                if matches!(route, Route::NotOffered(_)) {
                    // Many documented paths, one route: its log name is "not offered".
                    documented.push(route);
                    continue;
                }
                // Log names are the documented method (one of them) and template.
                let (methods, logged) = route.name().split_once(' ').unwrap_or_default();
                assert_eq!(logged, template, "{route:?}");
                assert!(
                    methods.split('|').any(|x| x == m.to_uppercase()),
                    "{route:?}: {m}"
                );
                documented.push(route);
            }
        }
        for route in crate::http::route::tests::all_samples() {
            assert!(
                documented.contains(&route),
                "{route:?} is routed but not documented"
            );
        }
    }

    /// Every `$ref` points at a schema that exists.
    #[test]
    fn every_reference_resolves() {
        let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(schemas.contains_key(name), "dangling {r}");
        }
    }
}
