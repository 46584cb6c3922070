//! EfficientNet-Lite0 (Tan and Le, 2019; the Lite variant of 2020): the B0 network made for
//! phones — no squeeze-and-excitation, ReLU6 instead of swish, the stem (32) and head (1280)
//! kept at their width. A 3x3 stride-2 stem, sixteen MBConv blocks (a 1x1 expansion, a depthwise
//! convolution, a 1x1 projection, the input added back when the shape is kept), a 1x1 head,
//! global average pooling and the 1000-way ImageNet classifier.
//!
//! The weights were trained in TensorFlow, whose "same" padding puts the odd pixel of a
//! stride-2 convolution after the image, so padding is computed as TensorFlow does. Batch norm
//! (epsilon 1e-3) is folded into the convolutions when loading. The input is one image at a
//! time as a (3, height, width) tensor of RGB scaled as the Lite models were trained:
//! `(value - 127) / 128`.
//!
//! The depthwise convolutions run in [`crate::depthwise`]: candle splits a grouped convolution
//! into one convolution per channel, a thousand calls for a 1152-channel block. The 1x1
//! convolutions are matrix products.

use std::collections::HashMap;

use candle_core::{D, Device, Tensor};
use candle_nn::VarBuilder;

use crate::depthwise::Depthwise;

/// Batch norm's epsilon in the TensorFlow EfficientNets.
const BN_EPSILON: f64 = 1e-3;
/// Blocks whose depthwise convolution has stride 2 (the first block of a stage that halves the
/// resolution: 112, 56, 28, 14, 7 pixels at 224).
const STRIDE_TWO: [usize; 4] = [1, 3, 5, 11];
/// MBConv blocks in Lite0.
pub const BLOCKS: usize = 16;
/// Length of the pooled features.
pub const FEATURES: usize = 1280;
/// ImageNet classes.
pub const CLASSES: usize = 1000;

/// A 1x1 convolution with its batch norm folded in: `weight` (out, in), `bias` (out, 1).
#[derive(Debug)]
struct Pointwise {
    weight: Tensor,
    bias: Tensor,
}

#[derive(Debug)]
struct Block {
    expand: Option<Pointwise>,
    depthwise: Depthwise,
    project: Pointwise,
    skip: bool,
}

/// The network, its batch norms folded.
#[derive(Debug)]
pub struct EfficientNetLite0 {
    /// Stem kernel (32, 3, 3, 3) and bias (32, 1, 1).
    stem: (Tensor, Tensor),
    blocks: Vec<Block>,
    head: Pointwise,
    /// Classifier (1000, 1280) and bias (1000,).
    fc: (Tensor, Tensor),
}

/// What the network sees in an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The globally pooled head activations ([`FEATURES`] values, each >= 0).
    pub pooled: Vec<f32>,
    /// The ImageNet logits ([`CLASSES`] values).
    pub logits: Vec<f32>,
}

impl EfficientNetLite0 {
    /// Builds the network from the checkpoint's tensors (names as in the PyTorch port:
    /// `_conv_stem`, `_bn0`, `_blocks.N._expand_conv` ..., `_conv_head`, `_bn1`, `_fc`).
    pub fn new(tensors: HashMap<String, Tensor>) -> candle_core::Result<Self> {
        let vb = VarBuilder::from_tensors(tensors, candle_core::DType::F32, &Device::Cpu);
        let stem = conv_bn(&vb.get_unchecked("_conv_stem.weight")?, &vb.pp("_bn0"))?;
        let stem = (stem.0, stem.1.reshape(((), 1, 1))?);
        let mut blocks = Vec::with_capacity(BLOCKS);
        for i in 0..BLOCKS {
            let b = vb.pp(format!("_blocks.{i}"));
            let expand = if b.contains_tensor("_expand_conv.weight") {
                Some(pointwise(
                    &b.get_unchecked("_expand_conv.weight")?,
                    &b.pp("_bn0"),
                )?)
            } else {
                None
            };
            let (dw_weight, dw_bias) =
                conv_bn(&b.get_unchecked("_depthwise_conv.weight")?, &b.pp("_bn1"))?;
            let project = pointwise(&b.get_unchecked("_project_conv.weight")?, &b.pp("_bn2"))?;
            let stride = if STRIDE_TWO.contains(&i) { 2 } else { 1 };
            let channels_in = match &expand {
                Some(e) => e.weight.dim(1)?,
                None => project.weight.dim(1)?,
            };
            let skip = stride == 1 && channels_in == project.weight.dim(0)?;
            blocks.push(Block {
                expand,
                depthwise: Depthwise::new(&dw_weight, &dw_bias, stride)?,
                project,
                skip,
            });
        }
        let head = pointwise(&vb.get_unchecked("_conv_head.weight")?, &vb.pp("_bn1"))?;
        let fc = (
            vb.get_unchecked("_fc.weight")?,
            vb.get_unchecked("_fc.bias")?,
        );
        if fc.0.dims() != [CLASSES, FEATURES] {
            candle_core::bail!(
                "the classifier is {:?}, not {CLASSES}x{FEATURES}",
                fc.0.dims()
            );
        }
        Ok(Self {
            stem,
            blocks,
            head,
            fc,
        })
    }

    /// Runs the network on one (3, height, width) image.
    pub fn embed(&self, image: &Tensor) -> candle_core::Result<Embedding> {
        let (_, height, width) = image.dims3()?;
        // Stem: TensorFlow "same" padding, then a plain convolution.
        let (pad_h, pad_w) = (same_padding(height, 3, 2), same_padding(width, 3, 2));
        let x = image
            .pad_with_zeros(1, pad_h.0, pad_h.1)?
            .pad_with_zeros(2, pad_w.0, pad_w.1)?
            .unsqueeze(0)?
            .conv2d(&self.stem.0, 0, 2, 1, 1)?
            .squeeze(0)?
            .broadcast_add(&self.stem.1)?
            .clamp(0f32, 6f32)?;
        let mut x = x;
        for block in &self.blocks {
            let input = x.clone();
            if let Some(expand) = &block.expand {
                x = apply(expand, &x, true)?;
            }
            x = x.apply_op1_no_bwd(&block.depthwise)?;
            x = apply(&block.project, &x, false)?;
            if block.skip {
                x = (x + input)?;
            }
        }
        let x = apply(&self.head, &x, true)?;
        let pooled = x.flatten_from(1)?.mean(D::Minus1)?;
        let logits = self
            .fc
            .0
            .matmul(&pooled.unsqueeze(1)?)?
            .squeeze(1)?
            .add(&self.fc.1)?;
        Ok(Embedding {
            pooled: pooled.to_vec1()?,
            logits: logits.to_vec1()?,
        })
    }
}

/// A 1x1 convolution (and ReLU6 when `relu`) of a (channels, height, width) tensor.
fn apply(conv: &Pointwise, x: &Tensor, relu: bool) -> candle_core::Result<Tensor> {
    let (channels, height, width) = x.dims3()?;
    let y = conv
        .weight
        .matmul(&x.reshape((channels, height * width))?)?
        .broadcast_add(&conv.bias)?;
    let y = if relu { y.clamp(0f32, 6f32)? } else { y };
    y.reshape(((), height, width))
}

/// A convolution's kernel and bias with the batch norm under `bn` folded in.
fn conv_bn(weight: &Tensor, bn: &VarBuilder) -> candle_core::Result<(Tensor, Tensor)> {
    let gamma = bn.get_unchecked("weight")?;
    let beta = bn.get_unchecked("bias")?;
    let mean = bn.get_unchecked("running_mean")?;
    let var = bn.get_unchecked("running_var")?;
    let scale = (gamma / (var + BN_EPSILON)?.sqrt()?)?;
    let bias = (beta - (mean * &scale)?)?;
    let weight = weight.broadcast_mul(&scale.reshape(((), 1, 1, 1))?)?;
    Ok((weight, bias))
}

fn pointwise(weight: &Tensor, bn: &VarBuilder) -> candle_core::Result<Pointwise> {
    let (weight, bias) = conv_bn(weight, bn)?;
    Ok(Pointwise {
        weight: weight.flatten_from(1)?.contiguous()?,
        bias: bias.unsqueeze(1)?,
    })
}

/// TensorFlow's "same" padding along one dimension: (before, after).
pub fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_puts_the_odd_pixel_after() {
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        assert_eq!(same_padding(112, 5, 2), (1, 2));
        assert_eq!(same_padding(14, 5, 1), (2, 2));
        assert_eq!(same_padding(7, 3, 1), (1, 1));
    }
}
