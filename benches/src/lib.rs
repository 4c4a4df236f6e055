//! End-to-end criterion benches over the real model live in `benches/`; this library is
//! empty and exists so the package can hold them.
