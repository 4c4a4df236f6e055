//! The four embedding route families as a client sees them: the path, the input field,
//! where the vector is in an answer, and the shape of an error.

use serde_json::{Value, json};

/// A route family, by its embedding route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    OpenAi,
    Tei,
    Ollama,
    LlamaCpp,
}

impl Route {
    pub const ALL: [Route; 4] = [Route::OpenAi, Route::Tei, Route::Ollama, Route::LlamaCpp];

    pub fn path(self) -> &'static str {
        match self {
            Route::OpenAi => "/v1/embeddings",
            Route::Tei => "/embed",
            Route::Ollama => "/api/embed",
            Route::LlamaCpp => "/embedding",
        }
    }

    pub fn field(self) -> &'static str {
        match self {
            Route::OpenAi | Route::Ollama => "input",
            Route::Tei => "inputs",
            Route::LlamaCpp => "content",
        }
    }

    /// A body with `input` in this family's input field, and `extra` fields.
    pub fn body(self, input: Value, extra: Value) -> String {
        let mut m = serde_json::Map::new();
        m.insert(self.field().into(), input);
        m.extend(extra.as_object().cloned().unwrap_or_default());
        Value::Object(m).to_string()
    }

    /// A well-formed request for `text`.
    pub fn request(self, text: &str) -> String {
        self.body(json!([text]), json!({}))
    }

    /// The first vector of a successful answer.
    pub fn vector(self, answer: &Value) -> Vec<f32> {
        let v = match self {
            Route::OpenAi => &answer["data"][0]["embedding"],
            Route::Tei => &answer[0],
            Route::Ollama => &answer["embeddings"][0],
            Route::LlamaCpp => &answer[0]["embedding"][0],
        };
        super::floats(v)
    }

    /// Checks an error body has this family's shape; returns the message.
    pub fn error_message(self, status: u16, answer: &Value) -> Result<String, String> {
        let message = match self {
            Route::OpenAi if answer["error"]["type"].is_string() => &answer["error"]["message"],
            Route::LlamaCpp if answer["error"]["code"] == status => &answer["error"]["message"],
            Route::Tei if answer["error_type"].is_string() => &answer["error"],
            Route::Ollama => &answer["error"],
            _ => return Err(format!("{self:?}: not this family's error shape: {answer}")),
        };
        message
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{self:?}: no error message in {answer}"))
    }
}
