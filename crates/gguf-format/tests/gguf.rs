//! Integration tests for gguf-format: round trips, hostile files, mapped files and errors.
//! (A file written by gguf-py and the real model are read by testkit's tests, which have the
//! repository's data.)

use gguf_format::{
    ErrorKind, GgmlType, Gguf, GgufWriter, Limits, MappedGguf, MetadataArray, MetadataValue,
    TensorSpec, Value, write_to_vec,
};
use proptest::prelude::*;

fn md(k: &str, v: impl Into<MetadataValue>) -> (String, MetadataValue) {
    (k.to_string(), v.into())
}

/// A small file with every value type, an array of arrays and three tensors.
fn sample() -> Vec<u8> {
    let f32s: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let q8 = [7u8; 34 * 2];
    let empty: Vec<u8> = Vec::new();
    write_to_vec(
        &[
            md("general.architecture", "test"),
            md("u8", 1u8),
            md("i8", -1i8),
            md("u16", 2u16),
            md("i16", -2i16),
            md("u32", 3u32),
            md("i32", -3i32),
            md("f32", 0.5f32),
            md("bool", true),
            md("u64", 4u64),
            md("i64", -4i64),
            md("f64", 0.25f64),
            md("strs", vec!["a".to_string(), "▁b".to_string()]),
            md("bools", vec![true, false]),
            (
                "nested".into(),
                MetadataValue::Array(MetadataArray::Array(vec![
                    MetadataArray::U8(vec![1, 2]),
                    MetadataArray::String(vec!["x".into()]),
                ])),
            ),
        ],
        &[
            (TensorSpec::new("a", GgmlType::F32, &[4, 2]), &f32s[..]),
            (TensorSpec::new("b", GgmlType::Q8_0, &[32, 2]), &q8[..]),
            (TensorSpec::new("c", GgmlType::F32, &[0]), &empty[..]),
        ],
    )
    .unwrap()
}

#[test]
fn sample_parses_with_every_value_type() {
    let bytes = sample();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version(), 3);
    assert_eq!(g.alignment(), 32);
    assert_eq!(g.data_offset() % 32, 0);
    assert_eq!(g.get("u8"), Some(Value::U8(1)));
    assert_eq!(g.get_i64("i16").unwrap(), -2);
    assert_eq!(g.get_u32("u64").unwrap(), 4);
    assert_eq!(g.get_f32("f64").unwrap(), 0.25);
    assert!(g.get_bool("bool").unwrap());
    let strs: Vec<&str> = g.get_array("strs").unwrap().strs().unwrap().collect();
    assert_eq!(strs, ["a", "▁b"]);
    let nested = g.get_array("nested").unwrap();
    assert_eq!(nested.len(), 2);
    let inner: Vec<_> = nested
        .iter()
        .map(|v| v.as_array().unwrap().to_owned_array())
        .collect();
    assert_eq!(
        inner,
        [
            MetadataArray::U8(vec![1, 2]),
            MetadataArray::String(vec!["x".into()])
        ]
    );
    let a = g.tensor("a").unwrap();
    assert_eq!(a.dims(), [4, 2]);
    assert_eq!(a.n_elements(), 8);
    assert_eq!(&a.data()[4..8], &1.0f32.to_le_bytes());
    let b = g.tensor("b").unwrap();
    assert_eq!(
        (b.ggml_type(), b.n_bytes(), b.offset()),
        (GgmlType::Q8_0, 68, 32)
    );
    assert_eq!(g.tensor("c").unwrap().n_bytes(), 0);
}

#[test]
fn typed_getters_name_the_key_and_the_types() {
    let bytes = sample();
    let g = Gguf::parse(&bytes).unwrap();
    let e = g.get_u32("missing.key").unwrap_err();
    assert_eq!(e.to_string(), "gguf: missing metadata key \"missing.key\"");
    let e = g.get_str("u32").unwrap_err();
    assert_eq!(
        e.to_string(),
        "gguf: metadata key \"u32\" is UINT32, expected a string"
    );
    assert!(g.get_u64("i8").is_err(), "negative values are not u64");
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let bytes = sample();
    for n in 0..bytes.len() {
        let r = Gguf::parse(&bytes[..n]);
        // The only prefixes that may parse are those that keep every tensor's data.
        if let Ok(g) = r {
            panic!(
                "prefix of {n} bytes parsed with {} tensors",
                g.tensors().len()
            );
        }
    }
}

#[test]
fn flipped_bytes_give_an_error_or_a_valid_parse() {
    let bytes = sample();
    let mut rng = 0x9e3779b97f4a7c15u64;
    for i in 0..bytes.len() * 16 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut b = bytes.clone();
        let at = i % bytes.len();
        b[at] ^= (rng as u8) | 1;
        if let Ok(g) = Gguf::parse(&b) {
            for t in g.tensors() {
                assert_eq!(t.data().len() as u64, t.n_bytes());
                assert!(t.file_offset() + t.n_bytes() <= b.len() as u64);
            }
        }
    }
}

/// Builds a header by hand: magic, version, counts, then `rest`.
fn raw(version: u32, n_tensors: u64, n_kv: u64, rest: &[u8]) -> Vec<u8> {
    let mut v = b"GGUF".to_vec();
    v.extend_from_slice(&version.to_le_bytes());
    v.extend_from_slice(&n_tensors.to_le_bytes());
    v.extend_from_slice(&n_kv.to_le_bytes());
    v.extend_from_slice(rest);
    v
}

fn kstr(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

fn tensor_info(name: &str, dims: &[u64], ty: u32, offset: u64) -> Vec<u8> {
    let mut v = kstr(name.as_bytes());
    v.extend_from_slice(&(dims.len() as u32).to_le_bytes());
    for d in dims {
        v.extend_from_slice(&d.to_le_bytes());
    }
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
    v
}

fn err(bytes: &[u8]) -> gguf_format::Error {
    Gguf::parse(bytes).expect_err("hostile file must not parse")
}

#[test]
fn hostile_headers() {
    assert!(matches!(
        err(b"GGML\x03\0\0\0").kind(),
        ErrorKind::BadMagic(_)
    ));
    let mut be = b"GGUF".to_vec();
    be.extend_from_slice(&3u32.to_be_bytes());
    be.extend_from_slice(&[0; 16]);
    let e = err(&be);
    assert_eq!(e.kind(), &ErrorKind::BigEndian);
    assert_eq!(
        e.to_string(),
        "gguf: big-endian GGUF is not supported at byte 4"
    );
    assert_eq!(
        err(&raw(1, 0, 0, &[])).kind(),
        &ErrorKind::UnsupportedVersion(1)
    );
    assert!(matches!(
        err(b"GGUF\x03\0").kind(),
        ErrorKind::UnexpectedEof { .. }
    ));
    // Counts that the remaining bytes cannot hold are refused before allocating.
    let e = err(&raw(3, u64::MAX, 0, &[]));
    assert!(matches!(
        e.kind(),
        ErrorKind::TooLarge {
            what: "tensor count",
            ..
        }
    ));
    assert_eq!(e.offset(), Some(8));
    let e = err(&raw(3, 0, 1 << 40, &[0; 64]));
    assert!(matches!(
        e.kind(),
        ErrorKind::TooLarge {
            what: "metadata key count",
            ..
        }
    ));
    assert_eq!(raw(2, 0, 0, &[]).len(), 24);
    assert!(
        Gguf::parse(&raw(2, 0, 0, &[])).is_ok(),
        "an empty v2 file is valid"
    );
}

#[test]
fn hostile_metadata() {
    // A string length far beyond the file.
    let mut kv = (u64::MAX).to_le_bytes().to_vec();
    kv.extend_from_slice(&[0; 16]);
    let e = err(&raw(3, 0, 1, &kv));
    assert!(matches!(
        e.kind(),
        ErrorKind::TooLarge {
            what: "string length",
            ..
        }
    ));
    assert_eq!(e.offset(), Some(24));

    // Invalid UTF-8 in a key: the offset names the bad byte.
    let mut kv = kstr(b"ab\xffc");
    kv.extend_from_slice(&4u32.to_le_bytes());
    kv.extend_from_slice(&1u32.to_le_bytes());
    let e = err(&raw(3, 0, 1, &kv));
    assert_eq!(
        (e.kind(), e.offset()),
        (&ErrorKind::InvalidUtf8, Some(24 + 8 + 2))
    );

    // Unknown value type, named with its key.
    let mut kv = kstr(b"k");
    kv.extend_from_slice(&13u32.to_le_bytes());
    kv.extend_from_slice(&[0; 8]);
    let e = err(&raw(3, 0, 1, &kv));
    assert_eq!(e.kind(), &ErrorKind::UnknownValueType(13));
    assert_eq!(e.context(), Some("key \"k\""));

    // A bool that is neither 0 nor 1.
    let mut kv = kstr(b"k");
    kv.extend_from_slice(&7u32.to_le_bytes());
    kv.push(2);
    assert_eq!(err(&raw(3, 0, 1, &kv)).kind(), &ErrorKind::InvalidBool(2));

    // An array longer than the file.
    let mut kv = kstr(b"k");
    kv.extend_from_slice(&9u32.to_le_bytes());
    kv.extend_from_slice(&6u32.to_le_bytes());
    kv.extend_from_slice(&(1u64 << 50).to_le_bytes());
    kv.extend_from_slice(&[0; 64]);
    let e = err(&raw(3, 0, 1, &kv));
    assert!(matches!(
        e.kind(),
        ErrorKind::TooLarge {
            what: "array length",
            ..
        }
    ));

    // Arrays nested past the limit.
    let mut kv = kstr(b"k");
    kv.extend_from_slice(&9u32.to_le_bytes());
    for _ in 0..20 {
        kv.extend_from_slice(&9u32.to_le_bytes());
        kv.extend_from_slice(&1u64.to_le_bytes());
    }
    kv.extend_from_slice(&[0; 64]);
    assert!(matches!(
        err(&raw(3, 0, 1, &kv)).kind(),
        ErrorKind::NestingTooDeep(8)
    ));

    // Duplicate keys.
    let mut one = kstr(b"k");
    one.extend_from_slice(&0u32.to_le_bytes());
    one.push(1);
    let two = [one.clone(), one].concat();
    let e = err(&raw(3, 0, 2, &two));
    assert_eq!(e.kind(), &ErrorKind::DuplicateKey("k".into()));
    assert_eq!(e.offset(), Some(24 + 14));

    // general.alignment of the wrong type or not a power of two.
    let mut kv = kstr(b"general.alignment");
    kv.extend_from_slice(&4u32.to_le_bytes());
    kv.extend_from_slice(&24u32.to_le_bytes());
    assert!(matches!(
        err(&raw(3, 0, 1, &kv)).kind(),
        ErrorKind::BadAlignment(_)
    ));
    let mut kv = kstr(b"general.alignment");
    kv.extend_from_slice(&10u32.to_le_bytes());
    kv.extend_from_slice(&32u64.to_le_bytes());
    assert!(matches!(
        err(&raw(3, 0, 1, &kv)).kind(),
        ErrorKind::BadAlignment(_)
    ));

    // Custom limits apply.
    let bytes = sample();
    let tight = Limits::default().with_max_string_len(4);
    let e = Gguf::parse_with_limits(&bytes, tight).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::TooLarge {
            what: "string length",
            limit: 4,
            ..
        }
    ));
}

/// A file with the given tensor infos (no metadata) and `data_len` bytes of data.
fn with_tensors(infos: &[Vec<u8>], data_len: usize) -> Vec<u8> {
    let mut v = raw(3, infos.len() as u64, 0, &infos.concat());
    v.resize(v.len().next_multiple_of(32) + data_len, 0);
    v
}

#[test]
fn hostile_tensor_infos() {
    let ok = with_tensors(&[tensor_info("t", &[8], 0, 0)], 32);
    assert!(Gguf::parse(&ok).is_ok());

    let e = err(&with_tensors(
        &[tensor_info("t", &[1, 1, 1, 1, 1], 0, 0)],
        32,
    ));
    assert_eq!(e.kind(), &ErrorKind::TooManyDims(5));
    assert_eq!(e.context(), Some("tensor \"t\""));
    assert_eq!(e.offset(), Some(24 + 9));

    let e = err(&with_tensors(&[tensor_info("t", &[8], 4, 0)], 32));
    assert_eq!(e.kind(), &ErrorKind::UnknownGgmlType(4));

    let e = err(&with_tensors(&[tensor_info("t", &[33], 8, 0)], 64));
    assert!(matches!(
        e.kind(),
        ErrorKind::NotBlockMultiple {
            ggml_type: GgmlType::Q8_0,
            ne0: 33
        }
    ));

    let e = err(&with_tensors(
        &[tensor_info("t", &[1 << 32, 1 << 32, 1 << 2], 0, 0)],
        32,
    ));
    assert_eq!(e.kind(), &ErrorKind::Overflow);

    let e = err(&with_tensors(&[tensor_info("t", &[8], 0, 16)], 64));
    assert!(matches!(
        e.kind(),
        ErrorKind::MisalignedTensor {
            offset: 16,
            alignment: 32
        }
    ));

    let e = err(&with_tensors(&[tensor_info("t", &[9], 0, 0)], 32));
    assert!(matches!(
        e.kind(),
        ErrorKind::TensorOutOfBounds {
            end: 36,
            data_len: 32
        }
    ));

    let e = err(&with_tensors(
        &[tensor_info("t", &[8], 0, u64::MAX - 31)],
        32,
    ));
    assert_eq!(e.kind(), &ErrorKind::Overflow);

    let e = err(&with_tensors(
        &[tensor_info("t", &[8], 0, 0), tensor_info("t", &[8], 0, 32)],
        64,
    ));
    assert_eq!(e.kind(), &ErrorKind::DuplicateTensor("t".into()));

    let e = err(&with_tensors(
        &[tensor_info("a", &[16], 0, 0), tensor_info("b", &[8], 0, 32)],
        96,
    ));
    assert_eq!(e.kind(), &ErrorKind::TensorsOverlap("a".into()));
    assert_eq!(e.context(), Some("tensor \"b\""));

    // Tensor infos promise data the file does not have, not even the padding.
    let mut short = raw(3, 1, 0, &tensor_info("t", &[8], 0, 0));
    short.push(0);
    assert!(matches!(
        err(&short).kind(),
        ErrorKind::UnexpectedEof { .. }
    ));
}

#[test]
fn writer_rejects_bad_input_and_streams_in_pieces() {
    let spec = TensorSpec::new("t", GgmlType::F32, &[4]);
    let dup = vec![md("k", 1u8), md("k", 2u8)];
    assert!(matches!(
        GgufWriter::new(Vec::new(), &dup, &[]).unwrap_err().kind(),
        ErrorKind::DuplicateKey(_)
    ));
    assert!(matches!(
        GgufWriter::new(Vec::new(), &[], &[spec.clone(), spec.clone()])
            .unwrap_err()
            .kind(),
        ErrorKind::DuplicateTensor(_)
    ));
    let bad = TensorSpec::new("q", GgmlType::Q4_K, &[1152]);
    assert!(matches!(
        GgufWriter::new(Vec::new(), &[], &[bad]).unwrap_err().kind(),
        ErrorKind::NotBlockMultiple { .. }
    ));

    let mut w = GgufWriter::new(
        Vec::new(),
        &[md("general.alignment", 64u32)],
        std::slice::from_ref(&spec),
    )
    .unwrap();
    assert_eq!(w.next_tensor(), Some("t"));
    w.write_data(&[1; 6]).unwrap();
    assert!(
        w.write_data(&[1; 11]).is_err(),
        "a chunk may not overrun its tensor"
    );
    w.write_data(&[2; 10]).unwrap();
    assert_eq!(w.next_tensor(), None);
    let bytes = w.finish().unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.alignment(), 64);
    assert_eq!(g.data_offset() % 64, 0);
    assert_eq!(bytes.len() as u64 % 64, 0);
    assert_eq!(
        g.tensor("t").unwrap().data(),
        [[1u8; 6].as_slice(), &[2; 10]].concat()
    );

    let w = GgufWriter::new(Vec::new(), &[], &[spec]).unwrap();
    let e = w.finish().unwrap_err();
    assert!(
        e.to_string().contains("16 bytes of tensor data missing"),
        "{e}"
    );
}

/// A file in the temporary folder, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> Self {
        let path = std::env::temp_dir().join(format!("gguf-format-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn mapped_file_parses_like_its_bytes_and_borrows_the_map() {
    let bytes = sample();
    let tmp = TempFile::new("sample.gguf", &bytes);
    let file = MappedGguf::open(&tmp.0).unwrap();
    assert_eq!(file.path(), tmp.0);
    assert_eq!(file.bytes(), bytes);
    let (mapped, in_memory) = (file.parse().unwrap(), Gguf::parse(&bytes).unwrap());
    assert_eq!(mapped.metadata(), in_memory.metadata());
    let map = file.bytes().as_ptr_range();
    for (t, u) in mapped.tensors().iter().zip(in_memory.tensors()) {
        assert_eq!((t.name(), t.data()), (u.name(), u.data()));
        let d = t.data().as_ptr_range();
        assert!(
            map.start <= d.start && d.end <= map.end,
            "{} is a copy",
            t.name()
        );
    }
    let tight = Limits::default().with_max_tensor_count(2);
    let e = file.parse_with_limits(tight).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::TooLarge {
            what: "tensor count",
            value: 3,
            limit: 2
        }
    ));
}

#[test]
fn mapped_open_names_the_path_and_keeps_the_io_error() {
    use std::error::Error as _;
    let e = MappedGguf::open("/nonexistent/model.gguf").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Io(_)));
    assert_eq!(e.context(), Some("/nonexistent/model.gguf"));
    assert!(e.to_string().contains("/nonexistent/model.gguf"), "{e}");
    let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(io.map(|io| io.kind()), Some(std::io::ErrorKind::NotFound));
}

#[test]
fn mapped_open_refuses_an_empty_file_before_parsing() {
    let tmp = TempFile::new("empty.gguf", &[]);
    let e = MappedGguf::open(&tmp.0).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::UnexpectedEof {
            needed: 4,
            available: 0
        }
    );
    assert_eq!(e.offset(), Some(0));
    assert_eq!(e.context(), Some(tmp.0.display().to_string().as_str()));
}

#[test]
fn errors_keep_their_cause() {
    use std::error::Error as _;
    // A string that is not UTF-8: the source is the UTF-8 error.
    let mut kv = kstr(b"k");
    kv.extend_from_slice(&8u32.to_le_bytes());
    kv.extend_from_slice(&kstr(b"a\xffb"));
    let e = err(&raw(3, 0, 1, &kv));
    assert_eq!(e.kind(), &ErrorKind::InvalidUtf8);
    assert_eq!(e.context(), Some("key \"k\""));
    let utf8 = e
        .source()
        .and_then(|s| s.downcast_ref::<std::str::Utf8Error>());
    assert_eq!(utf8.map(|u| u.valid_up_to()), Some(1));

    // A failed write: the source is the writer's I/O error.
    #[derive(Debug)]
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let e = GgufWriter::new(Broken, &[md("k", 1u8)], &[]).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Io("disk full".into()));
    assert_eq!(e.source().map(|s| s.to_string()), Some("disk full".into()));

    // A malformed-file error has no cause beneath it, and equality ignores the source.
    let bad = err(b"GGML\x03\0\0\0");
    assert!(bad.source().is_none());
    assert_eq!(bad.clone(), bad);
}

fn float32() -> impl Strategy<Value = f32> {
    prop_oneof![
        prop::num::f32::NORMAL,
        prop::num::f32::SUBNORMAL,
        prop::num::f32::ZERO,
        prop::num::f32::INFINITE
    ]
}

fn array(depth: u32) -> BoxedStrategy<MetadataArray> {
    let leaf = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..8).prop_map(MetadataArray::U8),
        prop::collection::vec(any::<i16>(), 0..8).prop_map(MetadataArray::I16),
        prop::collection::vec(any::<u32>(), 0..8).prop_map(MetadataArray::U32),
        prop::collection::vec(float32(), 0..8).prop_map(MetadataArray::F32),
        prop::collection::vec(any::<bool>(), 0..8).prop_map(MetadataArray::Bool),
        prop::collection::vec(any::<String>(), 0..4).prop_map(MetadataArray::String),
        prop::collection::vec(any::<i64>(), 0..8).prop_map(MetadataArray::I64),
    ];
    if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![
            leaf,
            prop::collection::vec(array(depth - 1), 0..3).prop_map(MetadataArray::Array)
        ]
        .boxed()
    }
}

fn value() -> impl Strategy<Value = MetadataValue> {
    prop_oneof![
        any::<u8>().prop_map(MetadataValue::U8),
        any::<i8>().prop_map(MetadataValue::I8),
        any::<u16>().prop_map(MetadataValue::U16),
        any::<i16>().prop_map(MetadataValue::I16),
        any::<u32>().prop_map(MetadataValue::U32),
        any::<i32>().prop_map(MetadataValue::I32),
        float32().prop_map(MetadataValue::F32),
        any::<bool>().prop_map(MetadataValue::Bool),
        any::<String>().prop_map(MetadataValue::String),
        array(2).prop_map(MetadataValue::Array),
        any::<u64>().prop_map(MetadataValue::U64),
        any::<i64>().prop_map(MetadataValue::I64),
        prop::num::f64::NORMAL.prop_map(MetadataValue::F64),
    ]
}

fn tensor() -> impl Strategy<Value = (TensorSpec, Vec<u8>)> {
    let types = prop::sample::select(vec![
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::I8,
    ]);
    (types, prop::collection::vec(1u64..4, 0..=3), 1u64..3).prop_flat_map(|(t, rest, blocks)| {
        let mut dims = vec![u64::from(t.block_size()) * blocks];
        dims.extend(rest);
        let spec = TensorSpec::new("", t, &dims);
        let n = spec.n_bytes().unwrap() as usize;
        (Just(spec), prop::collection::vec(any::<u8>(), n))
    })
}

proptest! {
    #[test]
    fn parse_of_write_is_identity(
        kvs in prop::collection::btree_map("[a-z.]{1,12}", value(), 0..8),
        tensors in prop::collection::vec(tensor(), 0..5),
    ) {
        let metadata: Vec<_> = kvs.into_iter().filter(|(k, _)| k != "general.alignment").collect();
        let tensors: Vec<_> = tensors
            .into_iter()
            .enumerate()
            .map(|(i, (mut s, d))| { s.name = format!("t{i}"); (s, d) })
            .collect();
        let borrowed: Vec<_> = tensors.iter().map(|(s, d)| (s.clone(), &d[..])).collect();
        let bytes = write_to_vec(&metadata, &borrowed).unwrap();
        let g = Gguf::parse(&bytes).unwrap();
        let back: Vec<_> = g.metadata().iter().map(|(k, v)| (k.to_string(), v.to_owned_value())).collect();
        prop_assert_eq!(back, metadata);
        prop_assert_eq!(g.tensors().len(), tensors.len());
        for (t, (s, d)) in g.tensors().iter().zip(&tensors) {
            prop_assert_eq!(t.name(), &s.name);
            prop_assert_eq!(t.dims(), &s.dims[..]);
            prop_assert_eq!(t.ggml_type(), s.ggml_type);
            prop_assert_eq!(t.data(), &d[..]);
            prop_assert_eq!(t.offset() % 32, 0);
        }
    }
}
