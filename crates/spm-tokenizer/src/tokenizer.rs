//! llama.cpp's SPM tokenizer (`llama_vocab::impl::tokenize`, SPM branch, and
//! `llm_tokenizer_spm_session`), reimplemented step for step.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use crate::error::{Error, ErrorKind};
use crate::model_proto::{PieceType, SentencePieceModel};
use crate::vocab::Vocab;

/// Special ids and flags, as the GGUF `tokenizer.ggml.*` keys give them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    /// `bos_token_id`.
    pub bos: u32,
    /// `eos_token_id`.
    pub eos: u32,
    /// `unknown_token_id`.
    pub unk: Option<u32>,
    /// `padding_token_id`.
    pub pad: Option<u32>,
    /// `add_bos_token`.
    pub add_bos: bool,
    /// `add_eos_token`.
    pub add_eos: bool,
    /// `add_space_prefix`: a space before raw text at the start or after a special token.
    pub add_space_prefix: bool,
}

impl SpecialTokens {
    /// llama.cpp's defaults for an SPM vocabulary whose GGUF has no such keys.
    pub const SPM_DEFAULTS: SpecialTokens = SpecialTokens {
        bos: 1,
        eos: 2,
        unk: Some(0),
        pad: None,
        add_bos: true,
        add_eos: false,
        add_space_prefix: true,
    };

    /// EmbeddingGemma's values (`<bos>` 2, `<eos>` 1, both added, no space prefix).
    pub const GEMMA: SpecialTokens = SpecialTokens {
        bos: 2,
        eos: 1,
        unk: Some(3),
        pad: Some(0),
        add_bos: true,
        add_eos: true,
        add_space_prefix: false,
    };
}

/// How to encode.
///
/// More options may be added; start from the defaults and change what you need:
///
/// ```
/// let literal = spm_tokenizer::EncodeOptions::default().with_parse_special(false);
/// assert!(literal.add_special && !literal.parse_special);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodeOptions {
    /// Add BOS and EOS as the vocabulary's flags say (llama.cpp's `add_special`).
    pub add_special: bool,
    /// Match control and unknown token texts in the input (`parse_special`).
    /// User-defined tokens are always matched.
    pub parse_special: bool,
}

impl Default for EncodeOptions {
    /// What `llama-embedding` and `llama-tokenize` do: both true.
    fn default() -> Self {
        EncodeOptions {
            add_special: true,
            parse_special: true,
        }
    }
}

impl EncodeOptions {
    /// These options with [`add_special`](Self::add_special) set to `yes`.
    pub fn with_add_special(mut self, yes: bool) -> Self {
        self.add_special = yes;
        self
    }

    /// These options with [`parse_special`](Self::parse_special) set to `yes`.
    pub fn with_parse_special(mut self, yes: bool) -> Self {
        self.parse_special = yes;
        self
    }
}

/// Ids of a text cut to a maximum length, from [`Tokenizer::encode_truncated`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Encoding {
    /// The ids, BOS and EOS included when added.
    pub ids: Vec<u32>,
    /// Tokens of the text that were cut to fit.
    pub truncated: usize,
}

/// Texts llama.cpp marks CONTROL whatever their stored type (its end-of-generation list).
const EOG_TEXTS: [&str; 23] = [
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
    "<|endofprompt|>",
];

/// A byte trie over the special tokens' texts, to find which of them occur in a text in
/// one pass.
#[derive(Clone, Debug, Default)]
struct Trie {
    /// Per node: sorted (byte, child) edges.
    edges: Vec<Vec<(u8, u32)>>,
    /// Per node: the special-cache index of the token ending here, if any.
    terminal: Vec<Option<u32>>,
}

impl Trie {
    fn new() -> Self {
        Trie {
            edges: vec![Vec::new()],
            terminal: vec![None],
        }
    }

    fn insert(&mut self, text: &[u8], value: u32) {
        let mut node = 0usize;
        for &b in text {
            node = match self.edges[node].binary_search_by_key(&b, |e| e.0) {
                Ok(i) => self.edges[node][i].1 as usize,
                Err(i) => {
                    let child = self.edges.len() as u32;
                    self.edges.push(Vec::new());
                    self.terminal.push(None);
                    self.edges[node].insert(i, (b, child));
                    child as usize
                }
            };
        }
        self.terminal[node].get_or_insert(value);
    }

    fn child(&self, node: usize, b: u8) -> Option<usize> {
        let e = &self.edges[node];
        e.binary_search_by_key(&b, |e| e.0)
            .ok()
            .map(|i| e[i].1 as usize)
    }
}

/// SentencePiece tokenization exactly as llama.cpp does it for `tokenizer.ggml.model =
/// "llama"`: special pieces split out longest first, spaces escaped to `▁`, greedy
/// bigram merging by score, byte fallback. No normalization.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    special: SpecialTokens,
    /// Ids llama.cpp caches as special (CONTROL, USER_DEFINED or UNKNOWN attributes),
    /// longest text first.
    special_cache: Vec<u32>,
    /// Whether each cache entry is matched only when parsing special tokens.
    special_needs_parse: Vec<bool>,
    trie: Trie,
    byte_tokens: [Option<u32>; 256],
    /// Characters `c` such that some piece contains `c▁` (`c` not itself `▁`): a word
    /// boundary after them may be crossed by a merge.
    joins_space: Vec<char>,
}

impl Tokenizer {
    /// Builds a tokenizer from the GGUF arrays `tokenizer.ggml.tokens`, `.scores` and
    /// `.token_type` (whose numbers are [`PieceType`]s) and the special-token keys.
    pub fn new<'a>(
        tokens: impl IntoIterator<Item = &'a str>,
        scores: &[f32],
        types: &[i32],
        special: SpecialTokens,
    ) -> Result<Self, Error> {
        let vocab = Vocab::new(tokens, scores, types)?;
        let n = vocab.len() as u32;
        for (name, id) in [
            ("bos", Some(special.bos)),
            ("eos", Some(special.eos)),
            ("unknown", special.unk),
            ("padding", special.pad),
        ] {
            if let Some(id) = id.filter(|&id| id >= n) {
                return Err(Error::new(ErrorKind::InvalidModel(format!(
                    "{name} token id {id} is outside the {n}-token vocabulary"
                ))));
            }
        }
        // Attributes: the stored type, plus CONTROL for llama.cpp's end-of-generation texts.
        let mut cache: Vec<(u32, bool)> = Vec::new();
        for id in 0..n {
            let ty = vocab.types[id as usize];
            let control = ty == PieceType::Control || EOG_TEXTS.contains(&vocab.text(id));
            let user = ty == PieceType::UserDefined;
            let unknown = ty == PieceType::Unknown;
            if control || user || unknown {
                // CONTROL and UNKNOWN are matched only with parse_special; USER_DEFINED always.
                cache.push((id, (control || unknown) && !user));
            }
        }
        // Longest text first; llama.cpp's unstable sort leaves equal lengths in an
        // unspecified order, we keep id order.
        cache.sort_by(|a, b| {
            vocab
                .text(b.0)
                .len()
                .cmp(&vocab.text(a.0).len())
                .then(a.0.cmp(&b.0))
        });
        let mut trie = Trie::new();
        for (i, (id, _)) in cache.iter().enumerate() {
            trie.insert(vocab.text(*id).as_bytes(), i as u32);
        }
        let mut byte_tokens = [None; 256];
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            *slot = vocab
                .get(format!("<0x{b:02X}>").as_bytes())
                .or_else(|| (b < 0x80).then(|| vocab.get(&[b as u8])).flatten());
        }
        let mut joins_space: Vec<char> = Vec::new();
        for id in 0..n {
            let mut prev = None;
            for c in vocab.text(id).chars() {
                if c == '\u{2581}'
                    && let Some(p) = prev.filter(|&p| p != '\u{2581}' && !joins_space.contains(&p))
                {
                    joins_space.push(p);
                }
                prev = Some(c);
            }
        }
        Ok(Tokenizer {
            joins_space,
            vocab,
            special,
            special_cache: cache.iter().map(|c| c.0).collect(),
            special_needs_parse: cache.iter().map(|c| c.1).collect(),
            trie,
            byte_tokens,
        })
    }

    /// Builds a tokenizer straight from a SentencePiece `tokenizer.model`, with the given
    /// special tokens. (A GGUF made by llama.cpp's converter may re-type some pieces; use
    /// [`Tokenizer::new`] with the GGUF arrays to match llama.cpp on such a file.)
    pub fn from_sentencepiece(
        model: &SentencePieceModel,
        special: SpecialTokens,
    ) -> Result<Self, Error> {
        let scores: Vec<f32> = model.pieces.iter().map(|p| p.score).collect();
        let types: Vec<i32> = model.pieces.iter().map(|p| p.kind as i32).collect();
        Self::new(
            model.pieces.iter().map(|p| p.text.as_str()),
            &scores,
            &types,
            special,
        )
    }

    /// The number of pieces.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The special ids and flags.
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }

    /// The text of piece `id` as stored (with `▁` for spaces).
    pub fn piece(&self, id: u32) -> Option<&str> {
        ((id as usize) < self.vocab.len()).then(|| self.vocab.text(id))
    }

    /// The type of piece `id`.
    pub fn piece_type(&self, id: u32) -> Option<PieceType> {
        self.vocab.types.get(id as usize).copied()
    }

    /// The id of the piece whose text is exactly `text`.
    pub fn piece_to_id(&self, text: &str) -> Option<u32> {
        self.vocab.get(text.as_bytes())
    }

    /// Token ids for `text`, as `llama_tokenize` gives them.
    pub fn encode(&self, text: &str, opts: EncodeOptions) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if opts.add_special && self.special.add_bos {
            out.push(self.special.bos);
        }
        self.encode_body(text, opts.parse_special, &mut out);
        if opts.add_special && self.special.add_eos {
            out.push(self.special.eos);
        }
        out
    }

    /// Like [`encode`](Self::encode) for bytes, which must be UTF-8: anything else is an
    /// error naming the first bad byte's offset.
    pub fn encode_bytes(&self, bytes: &[u8], opts: EncodeOptions) -> Result<Vec<u32>, Error> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::new(ErrorKind::InvalidUtf8 {
                offset: e.valid_up_to(),
            })
            .with_source(e)
        })?;
        Ok(self.encode(text, opts))
    }

    /// Encodes `text` with BOS and EOS (as the flags say) and cuts it to at most
    /// `max_tokens` as sentence-transformers does: BOS + the first `max_tokens - 2` tokens
    /// + EOS. The result says how many tokens of the text were cut.
    pub fn encode_truncated(&self, text: &str, parse_special: bool, max_tokens: usize) -> Encoding {
        let mut body = Vec::with_capacity(text.len() / 3 + 2);
        self.encode_body(text, parse_special, &mut body);
        let n_special = usize::from(self.special.add_bos) + usize::from(self.special.add_eos);
        let keep = max_tokens.saturating_sub(n_special).min(body.len());
        let truncated = body.len() - keep;
        body.truncate(keep);
        let mut ids = Vec::with_capacity(keep + n_special);
        if self.special.add_bos {
            ids.push(self.special.bos);
        }
        ids.extend_from_slice(&body);
        if self.special.add_eos {
            ids.push(self.special.eos);
        }
        Encoding { ids, truncated }
    }

    /// The text of `ids`: pieces with `▁` turned back into spaces, byte-fallback pieces
    /// reassembled into characters, control tokens (BOS, EOS...) left out. Bytes that do
    /// not form UTF-8 become U+FFFD. An id outside the vocabulary is an error naming its
    /// index.
    pub fn decode(&self, ids: &[u32]) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(&self.decode_bytes(ids)?).into_owned())
    }

    /// The bytes of `ids`, as [`decode`](Self::decode) assembles them.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        for (index, &id) in ids.iter().enumerate() {
            let Some(ty) = self.piece_type(id) else {
                return Err(Error::new(ErrorKind::UnknownId {
                    id,
                    index,
                    vocab_size: self.vocab.len(),
                }));
            };
            let text = self.vocab.text(id);
            match ty {
                PieceType::Normal => {
                    out.extend_from_slice(text.replace('\u{2581}', " ").as_bytes())
                }
                PieceType::UserDefined => out.extend_from_slice(text.as_bytes()),
                PieceType::Byte => {
                    let byte = text
                        .strip_prefix("<0x")
                        .and_then(|h| h.strip_suffix('>'))
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match byte {
                        Some(b) => out.push(b),
                        None => out.extend_from_slice(text.as_bytes()),
                    }
                }
                PieceType::Control | PieceType::Unknown | PieceType::Unused => {}
            }
        }
        Ok(out)
    }

    /// [`encode`](Self::encode) with one BPE session per raw fragment, as llama.cpp runs
    /// it, without the word split: the reference the split is tested against.
    #[doc(hidden)]
    pub fn encode_unsplit(&self, text: &str, opts: EncodeOptions) -> Vec<u32> {
        let mut out = Vec::new();
        if opts.add_special && self.special.add_bos {
            out.push(self.special.bos);
        }
        self.encode_fragments(text, opts.parse_special, false, &mut out);
        if opts.add_special && self.special.add_eos {
            out.push(self.special.eos);
        }
        out
    }

    /// Splits out special tokens, then runs a fresh BPE session on each raw fragment.
    fn encode_body(&self, text: &str, parse_special: bool, out: &mut Vec<u32>) {
        self.encode_fragments(text, parse_special, true, out);
    }

    /// The body of [`encode`](Self::encode); `split` cuts raw fragments into words
    /// (same ids, see [`bpe_words`](Self::bpe_words)).
    fn encode_fragments(&self, text: &str, parse_special: bool, split: bool, out: &mut Vec<u32>) {
        let mut escaped = String::new();
        let mut cache = HashMap::new();
        let mut prev_special = true;
        for frag in self.partition(text, parse_special) {
            match frag {
                Fragment::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Fragment::Raw(start, end) => {
                    escaped.clear();
                    if self.special.add_space_prefix && prev_special {
                        escaped.push('\u{2581}');
                    }
                    for c in text[start..end].chars() {
                        if c == ' ' {
                            escaped.push('\u{2581}');
                        } else {
                            escaped.push(c);
                        }
                    }
                    if split {
                        self.bpe_words(escaped.as_bytes(), &mut cache, out);
                    } else {
                        self.bpe(escaped.as_bytes(), out);
                    }
                    prev_special = false;
                }
            }
        }
    }

    /// `tokenizer_st_partition`: for each special token present in `text`, longest
    /// first, split every raw fragment at each of its left-to-right, non-overlapping
    /// occurrences.
    fn partition(&self, text: &str, parse_special: bool) -> Vec<Fragment> {
        let mut frags = vec![Fragment::Raw(0, text.len())];
        if text.is_empty() {
            return Vec::new();
        }
        // Which cache entries occur anywhere in the text (one trie walk per position).
        let bytes = text.as_bytes();
        let mut present = vec![false; self.special_cache.len()];
        let mut any = false;
        for start in 0..bytes.len() {
            let mut node = 0;
            for &b in &bytes[start..] {
                match self.trie.child(node, b) {
                    Some(n) => node = n,
                    None => break,
                }
                if let Some(i) = self.trie.terminal[node]
                    && (parse_special || !self.special_needs_parse[i as usize])
                {
                    present[i as usize] = true;
                    any = true;
                }
            }
        }
        if !any {
            return frags;
        }
        for (i, &id) in self.special_cache.iter().enumerate() {
            if !present[i] {
                continue;
            }
            let needle = self.vocab.text(id);
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                let Fragment::Raw(mut start, end) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(pos) = text[start..end].find(needle) {
                    let at = start + pos;
                    if at > start {
                        next.push(Fragment::Raw(start, at));
                    }
                    next.push(Fragment::Token(id));
                    start = at + needle.len();
                }
                if start < end {
                    next.push(Fragment::Raw(start, end));
                }
            }
            frags = next;
        }
        frags
    }

    /// [`bpe`](Self::bpe) on one escaped fragment, cut into words where no vocabulary
    /// piece can span the cut, each word's ids computed once per call.
    ///
    /// A merged symbol is always a vocabulary piece, so a boundary between a character
    /// `c` and a following `▁` can be crossed only by a piece containing `c▁`. At every
    /// other such boundary the merges on either side never interact, and the greedy
    /// order (highest score, then leftmost) restricted to each side is the same: the
    /// result equals one session over the whole fragment.
    fn bpe_words(&self, text: &[u8], cache: &mut HashMap<Vec<u8>, Vec<u32>>, out: &mut Vec<u32>) {
        const SPACE: &[u8] = "\u{2581}".as_bytes();
        let mut start = 0;
        let mut prev: Option<char> = None;
        let mut flush = |from: usize, to: usize, out: &mut Vec<u32>| {
            let word = &text[from..to];
            if let Some(ids) = cache.get(word) {
                out.extend_from_slice(ids);
                return;
            }
            let at = out.len();
            self.bpe(word, out);
            if cache.len() < 65_536 {
                cache.insert(word.to_vec(), out[at..].to_vec());
            }
        };
        let mut i = 0;
        while i < text.len() {
            let len = utf8_len(text[i]).min(text.len() - i);
            let here = &text[i..i + len];
            let cut = prev.is_some_and(|c| c != '\u{2581}' && !self.joins_space.contains(&c));
            if here == SPACE && cut && i > start {
                flush(start, i, out);
                start = i;
            }
            prev = std::str::from_utf8(here)
                .ok()
                .and_then(|s| s.chars().next());
            i += len;
        }
        if start < text.len() {
            flush(start, text.len(), out);
        }
    }

    /// `llm_tokenizer_spm_session::tokenize` on one escaped fragment.
    fn bpe(&self, text: &[u8], out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        // Symbols: UTF-8 characters by their lead byte, clamped to the bytes left.
        let mut syms: Vec<Symbol> = Vec::with_capacity(text.len());
        let mut offs = 0usize;
        while offs < text.len() {
            let len = utf8_len(text[offs]).min(text.len() - offs);
            let i = syms.len() as i32;
            syms.push(Symbol {
                start: offs as u32,
                n: len as u32,
                prev: i - 1,
                next: if offs + len < text.len() { i + 1 } else { -1 },
            });
            offs += len;
        }
        let mut heap = BinaryHeap::with_capacity(syms.len());
        for i in 1..syms.len() {
            self.try_add_bigram(text, &syms, i as i32 - 1, i as i32, &mut heap);
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (b.left as usize, b.right as usize);
            if syms[l].n == 0 || syms[r].n == 0 || syms[l].n + syms[r].n != b.size {
                continue;
            }
            syms[l].n += syms[r].n;
            syms[r].n = 0;
            syms[l].next = syms[r].next;
            let after = syms[r].next;
            if after >= 0 {
                syms[after as usize].prev = b.left;
            }
            self.try_add_bigram(text, &syms, syms[l].prev, b.left, &mut heap);
            self.try_add_bigram(text, &syms, b.left, syms[l].next, &mut heap);
        }
        let mut i = 0i32;
        while i >= 0 {
            let s = syms[i as usize];
            let piece = &text[s.start as usize..(s.start + s.n) as usize];
            match self.vocab.get(piece) {
                Some(id) => out.push(id),
                None => {
                    for &b in piece {
                        // Every vocabulary with byte pieces has all 256; one that lacks a
                        // byte falls back to the unknown token rather than aborting.
                        if let Some(id) = self.byte_tokens[b as usize].or(self.special.unk) {
                            out.push(id);
                        }
                    }
                }
            }
            i = s.next;
        }
    }

    fn try_add_bigram(
        &self,
        text: &[u8],
        syms: &[Symbol],
        left: i32,
        right: i32,
        heap: &mut BinaryHeap<Bigram>,
    ) {
        if left < 0 || right < 0 {
            return;
        }
        let (l, r) = (syms[left as usize], syms[right as usize]);
        let piece = &text[l.start as usize..(l.start + l.n + r.n) as usize];
        if let Some(id) = self.vocab.get(piece) {
            heap.push(Bigram {
                score: self.vocab.scores[id as usize],
                left,
                right,
                size: l.n + r.n,
            });
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fragment {
    Raw(usize, usize),
    Token(u32),
}

#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: u32,
    n: u32,
    prev: i32,
    next: i32,
}

/// `unicode_len_utf8`: the length a lead byte announces (1 for continuation bytes).
fn utf8_len(b: u8) -> usize {
    const LOOKUP: [usize; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    LOOKUP[(b >> 4) as usize]
}

/// `llm_bigram_spm`: the highest score first, on ties the leftmost.
#[derive(Clone, Copy, Debug)]
struct Bigram {
    score: f32,
    left: i32,
    right: i32,
    size: u32,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}
