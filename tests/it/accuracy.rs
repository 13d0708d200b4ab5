//! Field-by-field accuracy of parsed records against a hand-made golden export.

use std::collections::BTreeMap;

use serde_json::Value;

/// Every leaf value of an export, keyed by record id and field path
/// (`2020-21/x/kr1 quarters.Q2.status`), so that a missing or extra record
/// does not shift the comparison of the others.
pub fn leaves(export: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    walk(&format!("{prefix}.{k}"), v, out);
                }
            }
            Value::Array(a) if a.iter().all(|x| !x.is_object()) => {
                out.insert(prefix.to_string(), v.clone());
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), v, out);
                }
            }
            _ => {
                out.insert(prefix.to_string(), v.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    for fy in export["fiscal_years"].as_array().into_iter().flatten() {
        for o in fy["objectives"].as_array().into_iter().flatten() {
            let id = o["id"].as_str().unwrap_or("?");
            for (k, v) in o.as_object().into_iter().flatten() {
                if k != "key_results" {
                    walk(&format!("{id} {k}"), v, &mut out);
                }
            }
            for kr in o["key_results"].as_array().into_iter().flatten() {
                let kid = kr["id"].as_str().unwrap_or("?");
                for (k, v) in kr.as_object().into_iter().flatten() {
                    walk(&format!("{kid} {k}"), v, &mut out);
                }
            }
        }
    }
    out
}

/// `(fields of the golden that the parsed export has with the same value,
/// fields of the golden)`.
pub fn accuracy(golden: &Value, parsed: &Value) -> (usize, usize) {
    let g = leaves(golden);
    let p = leaves(parsed);
    let right = g.iter().filter(|(k, v)| p.get(*k) == Some(v)).count();
    (right, g.len())
}
