//! The maths of a diagonal Gaussian over a fixed-length measurement vector, and the vector's
//! stored text: shared by the heuristic's category model and the learned model's head, which
//! differ only in what the vector holds.

/// The log-likelihood of `x` under a diagonal Gaussian (`mean`, `spread` per component), up to
/// a constant.
pub fn log_likelihood<const N: usize>(mean: &[f32; N], spread: &[f32; N], x: &[f32; N]) -> f32 {
    (0..N)
        .map(|k| {
            let z = (x[k] - mean[k]) / spread[k];
            -0.5 * z * z - spread[k].ln()
        })
        .sum()
}

/// The root mean square of the per-component differences, each in units of `scale`.
pub fn distance<const N: usize>(a: &[f32; N], b: &[f32; N], scale: &[f32; N]) -> f32 {
    ((0..N)
        .map(|k| ((a[k] - b[k]) / scale[k]).powi(2))
        .sum::<f32>()
        / N as f32)
        .sqrt()
}

/// The mean spread of each component over the classes: the unit of distances between examples
/// (1 where there is no class).
pub fn pooled_spread<'a, const N: usize>(
    spreads: impl ExactSizeIterator<Item = &'a [f32; N]>,
) -> [f32; N] {
    let count = spreads.len();
    if count == 0 {
        return [1.0; N];
    }
    let mut out = [0.0; N];
    for spread in spreads {
        for (slot, s) in out.iter_mut().zip(spread) {
            *slot += s;
        }
    }
    out.map(|sum| sum / count as f32)
}

/// The vector as stored: comma-separated decimals.
pub fn to_text<const N: usize>(values: &[f32; N]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.5}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A vector stored by [`to_text`]; `None` when the text is not one of exactly `N` values.
pub fn from_text<const N: usize>(text: &str) -> Option<[f32; N]> {
    let values: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse().ok())
        .collect::<Option<_>>()?;
    values.try_into().ok()
}
