#![no_main]
// Run with `cargo +nightly fuzz run parse` from crates/gguf-format.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(g) = gguf_format::Gguf::parse(data) {
        for (_, v) in g.metadata() {
            if let Some(a) = v.as_array() {
                a.iter().for_each(drop);
            }
        }
    }
});
