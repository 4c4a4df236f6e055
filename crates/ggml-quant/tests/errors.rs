//! Bad input gives an error that says what was wrong.

use ggml_quant::{ErrorKind, Matrix, QuantType, dequantize_row, matmul, quantize_row};
use gguf_format::GgmlType;

#[test]
fn bad_lengths_are_errors() {
    let e = quantize_row(QuantType::Q8_0, &[0.0; 33]).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::NotBlockMultiple {
            n: 33,
            block: 32,
            ..
        }
    ));
    let e = dequantize_row(QuantType::Q4_0, &[0; 17], 32).unwrap_err();
    assert_eq!(e.to_string(), "Q4_0 row needs 18 bytes, got 17");
}

#[test]
fn bad_shapes_are_errors() {
    let data = vec![0u8; 2 * 34];
    assert!(Matrix::new(QuantType::Q8_0, &data, 3, 32).is_err());
    let w = Matrix::new(QuantType::Q8_0, &data, 2, 32).unwrap();
    let e = matmul(&w, &[0.0; 33], &mut [0.0; 2]).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Shape(_)), "{e}");
    let e = w.row_f32(2).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::RowOutOfRange { row: 2, rows: 2 });
}

#[test]
fn types_outside_the_subset_are_errors() {
    let e = QuantType::try_from(GgmlType::IQ4_NL).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::UnsupportedType(GgmlType::IQ4_NL));
    assert_eq!(
        e.to_string(),
        "ggml type iq4_nl is not one ggml-quant computes with"
    );
}
