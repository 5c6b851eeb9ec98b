//! JSON output as `PVE::CLIFormatter::print_api_result` renders it: canonical (keys sorted), one
//! line, UTF-8, trailing newline; `json-pretty` = pretty + canonical (pve-cli.md §1.3).
//! Keys are sorted here explicitly so the result does not depend on serde_json features.

use serde_json::Value;

pub fn canonical(v: &Value) -> String {
    let mut s = String::new();
    write(v, &mut s, None, 0);
    s
}

pub fn pretty(v: &Value) -> String {
    let mut s = String::new();
    write(v, &mut s, Some(3), 0);
    s
}

fn write(v: &Value, out: &mut String, indent: Option<usize>, level: usize) {
    match v {
        Value::Object(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(if indent.is_some() { " : " } else { ":" });
                write(&m[*k], out, indent, level + 1);
            }
            newline(out, indent, level);
            out.push('}');
        }
        Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write(x, out, indent, level + 1);
            }
            newline(out, indent, level);
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(n) = indent {
        out.push('\n');
        out.push_str(&" ".repeat(n * level));
    }
}

/// Print an API result like pvesh/pvenode with `--output-format`: `null` prints nothing at all.
pub fn print_result(v: &Value, format: &str) {
    if v.is_null() {
        return;
    }
    match format {
        "json" => println!("{}", canonical(v)),
        "json-pretty" => println!("{}", pretty(v)),
        // Text tables are not reproduced (tools must use JSON, pve-cli.md §7.3); pretty JSON instead.
        _ => println!("{}", pretty(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_one_line() {
        let v = json!([{"type":"cluster","id":"cluster","nodes":2,"quorate":1,"name":"pvecl","version":3}]);
        assert_eq!(canonical(&v), r#"[{"id":"cluster","name":"pvecl","nodes":2,"quorate":1,"type":"cluster","version":3}]"#);
        assert_eq!(canonical(&json!([])), "[]");
        assert_eq!(canonical(&json!({})), "{}");
    }
}
