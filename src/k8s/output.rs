//! The rendered objects as text: YAML documents (each after its comment
//! lines) or one JSON `List`. Objects become JSON values first, so both
//! formats print the same fields.

use super::{K8sError, OutputFormat};
use serde::Serialize;
use serde_json::Value;

/// One rendered object and the comment lines printed above it in YAML.
#[derive(Debug, Clone)]
pub struct Document {
    pub comments: Vec<String>,
    pub value: Value,
}

impl Document {
    pub fn new(comments: Vec<String>, object: &impl Serialize) -> Result<Document, K8sError> {
        let value = serde_json::to_value(object).map_err(|e| K8sError::Encode(e.to_string()))?;
        Ok(Document { comments, value })
    }

    /// The object's `kind`.
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }
}

/// All documents in one format.
pub fn encode(docs: &[Document], format: OutputFormat) -> Result<String, K8sError> {
    let enc = |e: &dyn std::fmt::Display| K8sError::Encode(e.to_string());
    match format {
        OutputFormat::Json => {
            let list = serde_json::json!({
                "apiVersion": "v1",
                "kind": "List",
                "items": docs.iter().map(|d| d.value.clone()).collect::<Vec<_>>(),
            });
            let mut text = serde_json::to_string_pretty(&list).map_err(|e| enc(&e))?;
            text.push('\n');
            Ok(text)
        }
        OutputFormat::Yaml => {
            let mut text = String::new();
            for doc in docs {
                text.push_str("---\n");
                for line in &doc.comments {
                    text.push_str("# ");
                    text.push_str(line);
                    text.push('\n');
                }
                text.push_str(&serde_yaml_ng::to_string(&doc.value).map_err(|e| enc(&e))?);
            }
            Ok(text)
        }
    }
}
