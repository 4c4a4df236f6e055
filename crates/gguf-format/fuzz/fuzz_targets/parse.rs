//! GGUF from arbitrary bytes: parse, then walk every key, array and tensor view the API
//! offers. Any input must give a `Gguf` or an error, never a panic, and every view of a
//! parsed file must stay inside the input.
#![no_main]

use gguf_format::{Gguf, Limits, Value};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Small limits as well as the defaults: the caps themselves are code paths.
    let small = Limits::default()
        .with_max_string_len(64)
        .with_max_array_len(64)
        .with_max_array_depth(2)
        .with_max_kv_count(16)
        .with_max_tensor_count(16);
    for parsed in [Gguf::parse(data), Gguf::parse_with_limits(data, small)] {
        if let Ok(g) = parsed {
            walk(&g, data);
        }
    }
});

fn walk(g: &Gguf<'_>, data: &[u8]) {
    assert!(g.alignment() > 0);
    let _ = g.version();
    for (key, value) in g.metadata() {
        assert!(g.get(key).is_some(), "key {key:?} listed but not found");
        let _ = (
            g.get_str(key),
            g.get_u64(key),
            g.get_u32(key),
            g.get_i64(key),
        );
        let _ = (g.get_f32(key), g.get_bool(key), g.get_array(key));
        visit(value, 0);
    }
    for t in g.tensors() {
        let found = g
            .tensor(t.name())
            .expect("a listed tensor is found by name");
        // Duplicate names are refused, so the one found is this one.
        assert_eq!(found.offset(), t.offset());
        assert!(t.dims().len() <= gguf_format::MAX_DIMS);
        assert_eq!(t.data().len() as u64, t.n_bytes());
        let end = t.file_offset() + t.n_bytes();
        assert!(
            end <= data.len() as u64,
            "tensor {} ends past the input",
            t.name()
        );
        let _ = (t.n_elements(), t.ggml_type().name());
    }
}

fn visit(value: &Value<'_>, depth: usize) {
    let _ = (value.value_type().name(), value.as_u64(), value.as_i64());
    let _ = (
        value.as_f32(),
        value.as_f64(),
        value.as_bool(),
        value.as_str(),
    );
    let _ = value.to_owned_value();
    let Some(a) = value.as_array() else { return };
    assert!(depth < 64);
    assert_eq!(a.iter().count(), a.len());
    let _ = (
        a.elem_type(),
        a.raw_bytes().len(),
        a.is_empty(),
        a.to_owned_array(),
    );
    if let Some(s) = a.strs() {
        s.for_each(drop);
    }
    // Each typed view gives every element of its type and nothing for the others.
    let typed = [
        a.u8s().map(|i| i.count()),
        a.i8s().map(|i| i.count()),
        a.u16s().map(|i| i.count()),
        a.i16s().map(|i| i.count()),
        a.u32s().map(|i| i.count()),
        a.i32s().map(|i| i.count()),
        a.f32s().map(|i| i.count()),
        a.u64s().map(|i| i.count()),
        a.i64s().map(|i| i.count()),
        a.f64s().map(|i| i.count()),
        a.bools().map(|i| i.count()),
    ];
    for n in typed.into_iter().flatten() {
        assert_eq!(n, a.len());
    }
    for item in a.iter() {
        visit(&item, depth + 1);
    }
}
