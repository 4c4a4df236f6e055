//! The kernel paths this CPU offers, so that the tests comparing every SIMD path with
//! the portable one cannot pass by comparing the portable path with itself.

use ggml_quant::{SimdPath, available_paths, kernel_i8_name, with_path};

/// `GGML_QUANT_EXPECT_PATHS` (set by `cargo xtask test-aarch64`, where qemu offers NEON
/// and the dot-product extension) names them all; each path's int8 kernel is its own.
#[test]
fn the_expected_kernel_paths_are_there() {
    let paths = available_paths();
    if let Ok(want) = std::env::var("GGML_QUANT_EXPECT_PATHS") {
        let names: Vec<String> = paths.iter().map(SimdPath::to_string).collect();
        assert_eq!(names.join(","), want);
    }
    assert_eq!(paths.last(), Some(&SimdPath::Scalar));
    for &path in &paths {
        let name = with_path(path, kernel_i8_name).unwrap();
        let want = match path {
            SimdPath::Avx512 => ["avx512-vnni", "avx-vnni", "scalar"].as_slice(),
            SimdPath::Avx2 => &["avx-vnni", "scalar"],
            SimdPath::NeonDotprod => &["neon-dotprod"],
            SimdPath::Neon => &["neon"],
            _ => &["scalar"],
        };
        assert!(want.contains(&name), "path {path}: int8 kernel {name}");
    }
}

#[test]
fn paths_parse_by_name() {
    for path in SimdPath::ALL {
        assert_eq!(path.name().parse::<SimdPath>(), Ok(path));
    }
    let e = "sse9".parse::<SimdPath>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown SIMD path \"sse9\" (known: avx512, avx2, neon-dotprod, neon, scalar)"
    );
}
