//! A depthwise convolution (each channel with its own k x k kernel) with its bias and ReLU6, as
//! a candle operation on a (channels, height, width) tensor, padded as TensorFlow pads ("same").
//! candle runs a grouped convolution as one convolution per group, which for MBConv's up to 1152
//! channels costs more in calls than in arithmetic; this is one loop.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use crate::net::same_padding;

/// One depthwise convolution's folded kernel and bias.
#[derive(Debug)]
pub struct Depthwise {
    /// (channels, k, k), row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
    channels: usize,
    kernel: usize,
    stride: usize,
}

impl Depthwise {
    /// From a (channels, 1, k, k) kernel and a (channels,) bias.
    pub fn new(weight: &Tensor, bias: &Tensor, stride: usize) -> candle_core::Result<Self> {
        let (channels, one, kernel, kw) = weight.dims4()?;
        if one != 1 || kernel != kw {
            candle_core::bail!("not a square depthwise kernel: {:?}", weight.dims());
        }
        Ok(Self {
            weight: weight.flatten_all()?.to_vec1()?,
            bias: bias.to_vec1()?,
            channels,
            kernel,
            stride,
        })
    }

    /// The convolution of `x`, (channels, height, width) row-major; returns the output and its
    /// height and width.
    fn run(&self, x: &[f32], height: usize, width: usize) -> (Vec<f32>, usize, usize) {
        let (k, s) = (self.kernel, self.stride);
        let (top, _) = same_padding(height, k, s);
        let (left, _) = same_padding(width, k, s);
        let (out_h, out_w) = (height.div_ceil(s), width.div_ceil(s));
        let mut out = vec![0f32; self.channels * out_h * out_w];
        for c in 0..self.channels {
            let plane = &x[c * height * width..(c + 1) * height * width];
            let kernel = &self.weight[c * k * k..(c + 1) * k * k];
            let target = &mut out[c * out_h * out_w..(c + 1) * out_h * out_w];
            for oy in 0..out_h {
                for ox in 0..out_w {
                    let mut acc = self.bias[c];
                    for ky in 0..k {
                        let Some(iy) = (oy * s + ky).checked_sub(top).filter(|&y| y < height)
                        else {
                            continue;
                        };
                        let row = &plane[iy * width..(iy + 1) * width];
                        let taps = &kernel[ky * k..(ky + 1) * k];
                        for (kx, tap) in taps.iter().enumerate() {
                            if let Some(v) =
                                (ox * s + kx).checked_sub(left).and_then(|x| row.get(x))
                            {
                                acc += v * tap;
                            }
                        }
                    }
                    target[oy * out_w + ox] = acc.clamp(0.0, 6.0);
                }
            }
        }
        (out, out_h, out_w)
    }
}

impl CustomOp1 for Depthwise {
    fn name(&self) -> &'static str {
        "depthwise-conv-relu6"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (channels, height, width) = layout.shape().dims3()?;
        if channels != self.channels {
            candle_core::bail!(
                "{channels} channels into a {}-channel depthwise convolution",
                self.channels
            );
        }
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("the depthwise convolution takes f32");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("the depthwise convolution takes a contiguous tensor");
        };
        let (out, out_h, out_w) = self.run(&data[start..end], height, width);
        Ok((CpuStorage::F32(out), Shape::from((channels, out_h, out_w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn it_matches_candles_convolution_per_channel() {
        let dev = Device::Cpu;
        let x = Tensor::arange(0f32, 2.0 * 6.0 * 6.0, &dev)
            .and_then(|t| (t / 40.0)?.reshape((2, 6, 6)))
            .expect("input");
        let w = Tensor::arange(0f32, 18.0, &dev)
            .and_then(|t| ((t - 9.0)? / 30.0)?.reshape((2, 1, 3, 3)))
            .expect("kernel");
        let b = Tensor::new(&[0.1f32, -0.2], &dev).expect("bias");
        for stride in [1, 2] {
            let op = Depthwise::new(&w, &b, stride).expect("op");
            let ours = x.apply_op1_no_bwd(&op).expect("ours");
            let (top, bottom) = same_padding(6, 3, stride);
            let theirs = x
                .pad_with_zeros(1, top, bottom)
                .and_then(|t| t.pad_with_zeros(2, top, bottom))
                .and_then(|t| t.unsqueeze(0))
                .and_then(|t| t.conv2d(&w, 0, stride, 1, 2))
                .and_then(|t| t.squeeze(0))
                .and_then(|t| t.broadcast_add(&b.reshape((2, 1, 1))?))
                .and_then(|t| t.clamp(0f32, 6f32))
                .expect("candle");
            assert_eq!(ours.dims(), theirs.dims());
            let diff = (ours - theirs)
                .and_then(|d| d.abs()?.max_all()?.to_scalar::<f32>())
                .expect("diff");
            assert!(diff < 1e-5, "stride {stride}: differs by {diff}");
        }
    }
}
