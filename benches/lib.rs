//! Criterion benchmarks for fillproof live in `benches/`; this library is
//! empty and exists only so the crate can hold them.
