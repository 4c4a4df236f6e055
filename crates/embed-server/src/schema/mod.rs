//! Request and response shapes of each route family, and the input forms they share.

pub(crate) mod llamacpp;
pub(crate) mod ollama;
pub(crate) mod openai;
pub(crate) mod tei;

use serde_json::Value;

use crate::error::{Error, ErrorKind};

/// An input field as sent: one text, a list of texts, or token ids (one sequence or a
/// list of them).
#[derive(Debug, PartialEq)]
pub(crate) enum TextsOrIds {
    Texts(Vec<String>),
    Ids(Vec<Vec<u32>>),
}

/// Reads `field` (a string, a list of strings, a list of token ids, or a list of such
/// lists) with an error that names the field and what was wrong.
pub(crate) fn texts_or_ids(value: &Value, field: &str) -> Result<TextsOrIds, Error> {
    let wrong = || {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("`{field}` must be a string or a list of strings"),
        )
    };
    match value {
        Value::String(s) => Ok(TextsOrIds::Texts(vec![s.clone()])),
        Value::Array(items) if items.is_empty() => Ok(TextsOrIds::Texts(Vec::new())),
        Value::Array(items) => match &items[0] {
            Value::String(_) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(wrong))
                .collect::<Result<_, _>>()
                .map(TextsOrIds::Texts),
            Value::Number(_) => Ok(TextsOrIds::Ids(vec![ids(items, field)?])),
            Value::Array(_) => items
                .iter()
                .map(|v| v.as_array().ok_or_else(wrong).and_then(|a| ids(a, field)))
                .collect::<Result<_, _>>()
                .map(TextsOrIds::Ids),
            _ => Err(wrong()),
        },
        Value::Null => Err(Error::new(
            ErrorKind::InvalidRequest,
            format!("`{field}` is missing"),
        )),
        _ => Err(wrong()),
    }
}

fn ids(items: &[Value], field: &str) -> Result<Vec<u32>, Error> {
    items
        .iter()
        .map(|v| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidRequest,
                        format!(
                            "`{field}` token ids must be integers from 0 to 4294967295, got {v}"
                        ),
                    )
                })
        })
        .collect()
}

/// Reads `field` as texts only (a list of token ids is refused with `ids_refusal`).
pub(crate) fn texts(value: &Value, field: &str, ids_refusal: &str) -> Result<Vec<String>, Error> {
    match texts_or_ids(value, field)? {
        TextsOrIds::Texts(t) => Ok(t),
        TextsOrIds::Ids(_) => Err(Error::new(
            ErrorKind::InvalidRequest,
            ids_refusal.to_string(),
        )),
    }
}

/// The dimension asked for, 768 when absent.
pub(crate) fn dimension(dimensions: Option<usize>) -> usize {
    dimensions.unwrap_or(768)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_in_every_form() {
        assert_eq!(
            texts_or_ids(&json!("a"), "input").unwrap(),
            TextsOrIds::Texts(vec!["a".into()])
        );
        assert_eq!(
            texts_or_ids(&json!(["a", "b"]), "input").unwrap(),
            TextsOrIds::Texts(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            texts_or_ids(&json!([1, 2]), "input").unwrap(),
            TextsOrIds::Ids(vec![vec![1, 2]])
        );
        assert_eq!(
            texts_or_ids(&json!([[1], [2, 3]]), "input").unwrap(),
            TextsOrIds::Ids(vec![vec![1], vec![2, 3]])
        );
        for bad in [
            json!(1),
            json!({"a": 1}),
            json!(["a", 1]),
            json!([-1]),
            json!([1.5]),
            json!(null),
            json!([true]),
        ] {
            assert_eq!(
                texts_or_ids(&bad, "input").unwrap_err().kind(),
                ErrorKind::InvalidRequest,
                "{bad}"
            );
        }
    }
}
