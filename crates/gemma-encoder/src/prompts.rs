//! EmbeddingGemma's sentence-transformers prompts (`config_sentence_transformers.json`).
//! A GGUF does not carry them, so they live here; names and texts are the release's,
//! character for character.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind};

/// The prompt put before a text: one of the model's named prompts, or any text.
///
/// A name parses to its prompt (`"query".parse::<Prompt>()`), exactly as
/// sentence-transformers matches names (case and punctuation included); an unknown name
/// is an [`ErrorKind::Input`] error that lists the known ones. [`Prompt::custom`] takes
/// free text instead.
///
/// ```
/// use gemma_encoder::Prompt;
///
/// let p: Prompt = "STS".parse()?;
/// assert_eq!(p, Prompt::Sts);
/// assert_eq!(p.text(), "task: sentence similarity | query: ");
/// assert_eq!(p.to_string(), "STS");
/// assert!("Qeury".parse::<Prompt>().is_err());
/// # Ok::<(), gemma_encoder::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Prompt {
    /// `query`: `task: search result | query: `.
    Query,
    /// `document`: `title: none | text: ` (with a title, `title: {title} | text: `).
    Document,
    /// `BitextMining`: `task: search result | query: `.
    BitextMining,
    /// `Clustering`: `task: clustering | query: `.
    Clustering,
    /// `Classification`: `task: classification | query: `.
    Classification,
    /// `InstructionRetrieval`: `task: code retrieval | query: `.
    InstructionRetrieval,
    /// `MultilabelClassification`: `task: classification | query: `.
    MultilabelClassification,
    /// `PairClassification`: `task: sentence similarity | query: `.
    PairClassification,
    /// `Reranking`: `task: search result | query: `.
    Reranking,
    /// `Retrieval`: `task: search result | query: `.
    Retrieval,
    /// `Retrieval-query`: `task: search result | query: `.
    RetrievalQuery,
    /// `Retrieval-document`: `title: none | text: ` (with a title, as [`Prompt::Document`]).
    RetrievalDocument,
    /// `STS`: `task: sentence similarity | query: `.
    Sts,
    /// `Summarization`: `task: summarization | query: `.
    Summarization,
    /// Any text, put before the input as it is.
    Custom(String),
}

impl Prompt {
    /// The prompts the model was released with, in the order of its configuration.
    pub const KNOWN: [Prompt; 14] = [
        Prompt::Query,
        Prompt::Document,
        Prompt::BitextMining,
        Prompt::Clustering,
        Prompt::Classification,
        Prompt::InstructionRetrieval,
        Prompt::MultilabelClassification,
        Prompt::PairClassification,
        Prompt::Reranking,
        Prompt::Retrieval,
        Prompt::RetrievalQuery,
        Prompt::RetrievalDocument,
        Prompt::Sts,
        Prompt::Summarization,
    ];

    /// A prompt of free text.
    pub fn custom(text: impl Into<String>) -> Prompt {
        Prompt::Custom(text.into())
    }

    /// The sentence-transformers name (`query`, `STS`, `Retrieval-document`, ...);
    /// `None` for a custom prompt.
    pub fn name(&self) -> Option<&'static str> {
        Some(match self {
            Prompt::Query => "query",
            Prompt::Document => "document",
            Prompt::BitextMining => "BitextMining",
            Prompt::Clustering => "Clustering",
            Prompt::Classification => "Classification",
            Prompt::InstructionRetrieval => "InstructionRetrieval",
            Prompt::MultilabelClassification => "MultilabelClassification",
            Prompt::PairClassification => "PairClassification",
            Prompt::Reranking => "Reranking",
            Prompt::Retrieval => "Retrieval",
            Prompt::RetrievalQuery => "Retrieval-query",
            Prompt::RetrievalDocument => "Retrieval-document",
            Prompt::Sts => "STS",
            Prompt::Summarization => "Summarization",
            Prompt::Custom(_) => return None,
        })
    }

    /// The text put before the input (for the document prompts, the one without a
    /// title: see [`Prompt::with_title`]).
    pub fn text(&self) -> &str {
        const SEARCH: &str = "task: search result | query: ";
        const CLASSIFICATION: &str = "task: classification | query: ";
        const SIMILARITY: &str = "task: sentence similarity | query: ";
        const DOCUMENT: &str = "title: none | text: ";
        match self {
            Prompt::Query
            | Prompt::BitextMining
            | Prompt::Reranking
            | Prompt::Retrieval
            | Prompt::RetrievalQuery => SEARCH,
            Prompt::Document | Prompt::RetrievalDocument => DOCUMENT,
            Prompt::Clustering => "task: clustering | query: ",
            Prompt::Classification | Prompt::MultilabelClassification => CLASSIFICATION,
            Prompt::InstructionRetrieval => "task: code retrieval | query: ",
            Prompt::PairClassification | Prompt::Sts => SIMILARITY,
            Prompt::Summarization => "task: summarization | query: ",
            Prompt::Custom(text) => text,
        }
    }

    /// Whether this is a document prompt, the one a title goes into.
    pub fn is_document(&self) -> bool {
        matches!(self, Prompt::Document | Prompt::RetrievalDocument)
    }

    /// The text put before the input, with `title` in a document prompt (the model
    /// card's `title: {title} | text: `); other prompts have no place for a title and
    /// ignore it.
    pub fn with_title(&self, title: Option<&str>) -> String {
        match title {
            Some(title) if self.is_document() => document_prompt(Some(title)),
            _ => self.text().to_string(),
        }
    }
}

impl fmt::Display for Prompt {
    /// The name of a known prompt; a custom prompt's text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name().unwrap_or_else(|| self.text()))
    }
}

impl FromStr for Prompt {
    type Err = Error;

    /// The known prompt called `name` (the exact name, as sentence-transformers
    /// matches it).
    fn from_str(name: &str) -> Result<Prompt, Error> {
        Prompt::KNOWN
            .iter()
            .find(|p| p.name() == Some(name))
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = Prompt::KNOWN.iter().filter_map(Prompt::name).collect();
                Error::new(
                    ErrorKind::Input,
                    format!(
                        "unknown prompt {name:?}; known prompts: {}",
                        names.join(", ")
                    ),
                )
            })
    }
}

/// The model card's document prompt: `title: {title} | text: `, `title: none | text: `
/// without a title.
pub(crate) fn document_prompt(title: Option<&str>) -> String {
    format!("title: {} | text: ", title.unwrap_or("none"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The release's `config_sentence_transformers.json` prompts, as written there.
    const RELEASE: [(&str, &str); 14] = [
        ("query", "task: search result | query: "),
        ("document", "title: none | text: "),
        ("BitextMining", "task: search result | query: "),
        ("Clustering", "task: clustering | query: "),
        ("Classification", "task: classification | query: "),
        ("InstructionRetrieval", "task: code retrieval | query: "),
        ("MultilabelClassification", "task: classification | query: "),
        ("PairClassification", "task: sentence similarity | query: "),
        ("Reranking", "task: search result | query: "),
        ("Retrieval", "task: search result | query: "),
        ("Retrieval-query", "task: search result | query: "),
        ("Retrieval-document", "title: none | text: "),
        ("STS", "task: sentence similarity | query: "),
        ("Summarization", "task: summarization | query: "),
    ];

    #[test]
    fn every_name_parses_to_its_text_and_prints_back() {
        for (p, (name, text)) in Prompt::KNOWN.iter().zip(RELEASE) {
            let parsed: Prompt = name.parse().unwrap();
            assert_eq!(&parsed, p);
            assert_eq!(parsed.text(), text, "{name}");
            assert_eq!(parsed.to_string(), name);
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        for bad in ["Qeury", "Query", "sts", "", " query"] {
            let e = bad.parse::<Prompt>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Input);
            let msg = e.to_string();
            assert!(msg.contains(&format!("unknown prompt {bad:?}")), "{msg}");
            assert!(msg.contains("query, document, BitextMining"), "{msg}");
            assert!(msg.ends_with("STS, Summarization"), "{msg}");
        }
    }

    #[test]
    fn titles_go_into_document_prompts_only() {
        assert_eq!(
            Prompt::Document.with_title(Some("Paris")),
            "title: Paris | text: "
        );
        assert_eq!(
            Prompt::RetrievalDocument.with_title(None),
            "title: none | text: "
        );
        assert_eq!(
            Prompt::Query.with_title(Some("Paris")),
            "task: search result | query: "
        );
        let custom = Prompt::custom("Represent this: ");
        assert_eq!(custom.name(), None);
        assert_eq!(custom.with_title(Some("x")), "Represent this: ");
        assert_eq!(custom.to_string(), "Represent this: ");
    }
}
