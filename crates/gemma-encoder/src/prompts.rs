//! EmbeddingGemma's sentence-transformers prompts (`config_sentence_transformers.json`).
//! A GGUF does not carry them, so they live here; the strings are exact.

/// `(name, prefix)` for every prompt the model was released with.
pub const PROMPTS: [(&str, &str); 14] = [
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

/// The prefix of the prompt called `name` (exact name, as sentence-transformers matches).
pub fn prompt(name: &str) -> Option<&'static str> {
    PROMPTS.iter().find(|p| p.0 == name).map(|p| p.1)
}

/// The model card's document prompt with a title: `title: {title} | text: `.
pub fn document_prompt(title: Option<&str>) -> String {
    format!("title: {} | text: ", title.unwrap_or("none"))
}
