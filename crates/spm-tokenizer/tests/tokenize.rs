//! spm-tokenizer's rules on a small vocabulary built here, shaped like Gemma's: control
//! tokens, an unknown token, all 256 byte pieces, user-defined whitespace runs, and normal
//! pieces whose scores are merge priorities. (The real vocabulary, llama.cpp's ids on the
//! reference texts and the Hugging Face tokenizer are compared in testkit's tests.)

use std::error::Error as _;
use std::sync::OnceLock;

use spm_tokenizer::{EncodeOptions, ErrorKind, PieceType, SpecialTokens, Tokenizer};

const PAD: u32 = 0;
const EOS: u32 = 1;
const BOS: u32 = 2;
const UNK: u32 = 3;

/// Normal pieces, highest merge priority first.
const NORMAL: [&str; 31] = [
    "▁", "a", "b", "c", "d", "e", "h", "l", "o", "r", "w", ">", "<", "/", "é", "ab", "bc", "▁a",
    "he", "ll", "hell", "hello", "▁w", "or", "▁wor", "ld", "▁world", ">▁", ">▁<", "</", "▁▁",
];

/// Pieces always matched whole in the raw text.
const USER_DEFINED: [&str; 3] = ["  ", "   ", "\n\n"];

fn pieces_scores_types() -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut pieces: Vec<String> = ["<pad>", "<eos>", "<bos>", "<unk>"]
        .map(String::from)
        .into();
    let mut types = vec![
        PieceType::Control,
        PieceType::Control,
        PieceType::Control,
        PieceType::Unknown,
    ];
    for b in 0..=255u8 {
        pieces.push(format!("<0x{b:02X}>"));
        types.push(PieceType::Byte);
    }
    for run in USER_DEFINED {
        pieces.push(run.into());
        types.push(PieceType::UserDefined);
    }
    let mut scores = vec![0.0; pieces.len()];
    for (i, p) in NORMAL.iter().enumerate() {
        pieces.push(p.to_string());
        types.push(PieceType::Normal);
        scores.push(-(i as f32));
    }
    (
        pieces,
        scores,
        types.into_iter().map(|t| t as i32).collect(),
    )
}

fn toy() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let (pieces, scores, types) = pieces_scores_types();
        Tokenizer::new(
            pieces.iter().map(String::as_str),
            &scores,
            &types,
            SpecialTokens::GEMMA,
        )
        .unwrap()
    })
}

fn id(text: &str) -> u32 {
    toy()
        .piece_to_id(text)
        .unwrap_or_else(|| panic!("no piece {text:?}"))
}

fn pieces(ids: &[u32]) -> Vec<&'static str> {
    ids.iter().map(|&i| toy().piece(i).unwrap()).collect()
}

fn bare() -> EncodeOptions {
    EncodeOptions::default().with_add_special(false)
}

#[test]
fn hello_world_merges_to_whole_words() {
    let tok = toy();
    let ids = tok.encode("hello world", EncodeOptions::default());
    assert_eq!(pieces(&ids), ["<bos>", "hello", "▁world", "<eos>"]);
    assert_eq!((ids[0], ids[3]), (BOS, EOS));
    assert_eq!(tok.decode(&ids).unwrap(), "hello world");
    assert_eq!(
        tok.vocab_size(),
        4 + 256 + USER_DEFINED.len() + NORMAL.len()
    );
    assert_eq!(tok.special_tokens(), &SpecialTokens::GEMMA);
    assert_eq!(tok.piece_type(BOS), Some(PieceType::Control));
    assert_eq!(tok.piece_type(u32::MAX), None);
}

#[test]
fn the_highest_scoring_pair_merges_first_and_ties_go_left() {
    // "ab" outranks "bc": abc is ab + c.
    assert_eq!(pieces(&toy().encode("abc", bare())), ["ab", "c"]);
    // With "bc" ranked first, the same text is a + bc.
    let vocab = [
        "<pad>", "<eos>", "<bos>", "<unk>", "a", "b", "c", "ab", "bc",
    ];
    let types = [3, 3, 3, 2, 1, 1, 1, 1, 1];
    let bc_first = [0.0, 0.0, 0.0, 0.0, -1.0, -1.0, -1.0, -3.0, -2.0];
    let tok = Tokenizer::new(vocab, &bc_first, &types, SpecialTokens::GEMMA).unwrap();
    assert_eq!(tok.encode("abc", bare()), [4, 8]);
    // Equal scores: the leftmost pair merges.
    let tied = [0.0, 0.0, 0.0, 0.0, -1.0, -1.0, -1.0, -2.0, -2.0];
    let tok = Tokenizer::new(vocab, &tied, &types, SpecialTokens::GEMMA).unwrap();
    assert_eq!(tok.encode("abc", bare()), [7, 6]);
}

#[test]
fn special_tokens_parse_only_when_asked() {
    let tok = toy();
    let parsed = tok.encode("a<eos>b", bare());
    assert_eq!(parsed, [id("a"), EOS, id("b")]);
    let literal = tok.encode("a<eos>b", bare().with_parse_special(false));
    assert!(!literal.contains(&EOS));
    assert_eq!(tok.decode(&literal).unwrap(), "a<eos>b");
    // User-defined pieces (whitespace runs) split out either way, longest first.
    for opts in [bare(), bare().with_parse_special(false)] {
        assert_eq!(pieces(&tok.encode("a   b", opts)), ["a", "   ", "b"]);
        assert_eq!(pieces(&tok.encode("a    b", opts)), ["a", "   ", "▁", "b"]);
    }
}

#[test]
fn bytes_without_a_piece_fall_back_to_byte_pieces() {
    let tok = toy();
    // 's' and '☃' have no piece: their UTF-8 bytes are the byte pieces.
    assert_eq!(pieces(&tok.encode("s", bare())), ["<0x73>"]);
    assert_eq!(
        pieces(&tok.encode("☃", bare())),
        ["<0xE2>", "<0x98>", "<0x83>"]
    );
    for text in ["\u{1F9EA}\u{E000}\u{10FFFD}", "Ꙭ̈ℵ⁂", "a\u{0}b", "é☃é"] {
        let ids = tok.encode(text, EncodeOptions::default());
        assert_eq!(tok.decode(&ids).unwrap(), text);
    }
    // Without byte pieces, an unmatched byte becomes the unknown token.
    let vocab = ["<pad>", "<eos>", "<bos>", "<unk>", "a"];
    let tok = Tokenizer::new(vocab, &[0.0; 5], &[3, 3, 3, 2, 1], SpecialTokens::GEMMA).unwrap();
    assert_eq!(tok.encode("a☃", bare()), [4, UNK, UNK, UNK]);
}

#[test]
fn truncation_keeps_bos_head_and_eos() {
    let tok = toy();
    let text = "word ".repeat(3000);
    let full = tok.encode(&text, EncodeOptions::default());
    let cut = tok.encode_truncated(&text, true, 2048);
    assert_eq!(cut.ids.len(), 2048);
    assert_eq!(cut.truncated, full.len() - 2048);
    assert_eq!(&cut.ids[..2047], &full[..2047]);
    assert_eq!(cut.ids[2047], EOS);
    let short = tok.encode_truncated("hello world", true, 2048);
    assert_eq!((short.ids.len(), short.truncated), (4, 0));
    let tiny = tok.encode_truncated("hello world", true, 1);
    assert_eq!((tiny.ids, tiny.truncated), (vec![BOS, EOS], 2));
}

#[test]
fn total_on_hostile_input() {
    let tok = toy();
    let opts = EncodeOptions::default();
    for text in [
        "",
        "\u{0301}\u{0301}",
        "\0\u{1}\u{7f}",
        "\u{10FFFF}\u{FFFD}",
        "🧪🧬👩‍🔬",
        "<bos><eos><unk><pad>",
        "\u{2581} \u{2581}",
    ] {
        let ids = tok.encode(text, opts);
        assert!(ids.len() >= 2 && ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
    }
    assert_eq!(tok.encode("", opts), [BOS, EOS]);
    // Long runs stay linear (each would take minutes if they were not).
    let one_char = "a".repeat(1 << 20);
    assert_eq!(tok.encode(&one_char, opts).len(), (1 << 20) + 2);
    let spaces = " ".repeat(1 << 20);
    assert!(tok.encode(&spaces, opts).len() > 2);
}

#[test]
fn bad_input_errors_name_the_place_and_keep_the_cause() {
    let tok = toy();
    let e = tok
        .encode_bytes(b"ok\xff\xfe", EncodeOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidUtf8 { offset: 2 });
    assert_eq!(e.to_string(), "input is not valid UTF-8 at byte 2");
    let utf8 = e
        .source()
        .and_then(|s| s.downcast_ref::<std::str::Utf8Error>());
    assert_eq!(utf8.map(|u| u.valid_up_to()), Some(2));
    assert_eq!(
        tok.encode_bytes("hello".as_bytes(), EncodeOptions::default()),
        Ok(tok.encode("hello", EncodeOptions::default()))
    );

    let e = tok.decode(&[BOS, 999_999]).unwrap_err();
    let vocab_size = tok.vocab_size();
    assert_eq!(
        e.kind(),
        &ErrorKind::UnknownId {
            id: 999_999,
            index: 1,
            vocab_size
        }
    );
    assert_eq!(
        e.to_string(),
        format!("token 1: id 999999 is outside the {vocab_size}-token vocabulary")
    );
    assert!(e.source().is_none());
    assert_eq!(tok.decode(&[PAD, BOS, EOS]).unwrap(), "");
}

#[test]
fn unusable_vocabularies_are_errors() {
    let invalid = |pieces: &[&str], scores: &[f32], types: &[i32], special| {
        let e = Tokenizer::new(pieces.iter().copied(), scores, types, special).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidModel(_)), "{e:?}");
        e.to_string()
    };
    let g = SpecialTokens::GEMMA;
    assert_eq!(
        invalid(&["a", "b"], &[0.0], &[1, 1], g),
        "vocabulary arrays disagree: 2 pieces, 1 scores, 2 types"
    );
    assert_eq!(
        invalid(&[], &[], &[], g),
        "vocabulary arrays disagree: 0 pieces, 0 scores, 0 types"
    );
    assert_eq!(
        invalid(&["a", "b", "c", "d"], &[0.0; 4], &[1, 1, 9, 1], g),
        "token 2 has unknown type 9"
    );
    assert_eq!(
        invalid(&["a", "b"], &[0.0; 2], &[1, 1], g),
        "bos token id 2 is outside the 2-token vocabulary"
    );
    // Two pieces with one text (llama.cpp refuses such a vocabulary too).
    assert_eq!(
        invalid(
            &["<pad>", "<eos>", "<bos>", "x", "y", "x"],
            &[0.0; 6],
            &[1; 6],
            g
        ),
        "pieces 3 and 5 are both \"x\""
    );
    // An empty piece is renamed as llama.cpp renames it, so a piece of that name clashes.
    assert_eq!(
        invalid(
            &["<pad>", "<eos>", "<bos>", "", "[EMPTY_3]"],
            &[0.0; 5],
            &[1; 5],
            g
        ),
        "pieces 3 and 4 are both \"[EMPTY_3]\""
    );
}

#[test]
fn an_empty_piece_is_kept_but_never_matches() {
    let pieces = ["<pad>", "<eos>", "<bos>", "", "a"];
    let tok = Tokenizer::new(pieces, &[0.0; 5], &[3, 3, 3, 1, 1], SpecialTokens::GEMMA).unwrap();
    assert_eq!(tok.piece(3), Some("[EMPTY_3]"));
    assert_eq!(tok.piece_to_id(""), None);
    assert_eq!(tok.encode("a", EncodeOptions::default()), [BOS, 4, EOS]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

    /// Text without special-token syntax and without a literal `▁` (SentencePiece's own
    /// space marker, which decodes to a space) comes back unchanged.
    #[test]
    fn decode_inverts_encode(s in "[^<\u{2581}]{0,64}") {
        let ids = toy().encode(&s, EncodeOptions::default());
        proptest::prop_assert_eq!(toy().decode(&ids).unwrap(), s);
    }

    /// Cutting fragments into words (for speed) gives llama.cpp's single-session ids,
    /// also where a piece (`>▁`, `>▁<`) spans a word boundary.
    #[test]
    fn word_split_equals_one_session(s in "([a-e>< ]{1,6}|\\PC{1,3}| {1,4}|>\u{2581}</?|hello|world){0,24}") {
        let tok = toy();
        for opts in [EncodeOptions::default(), bare().with_parse_special(false)] {
            proptest::prop_assert_eq!(tok.encode(&s, opts), tok.encode_unsplit(&s, opts));
        }
    }

    #[test]
    fn encode_never_panics(s in "\\PC{0,64}|[<>a-z \n\t]{0,64}") {
        let ids = toy().encode(&s, EncodeOptions::default());
        proptest::prop_assert!(ids.iter().all(|&i| (i as usize) < toy().vocab_size()));
    }
}
