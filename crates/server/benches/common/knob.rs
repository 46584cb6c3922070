//! The benchmarks' knobs: sizes and rates read from the environment.

/// A knob from the environment, or `default`.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
