//! A small deterministic generator (SplitMix64) and seed mixing.
//!
//! The archive must be byte-identical for a given seed on every platform and with every
//! version of `rand`, so the generator is spelled out here rather than borrowed.

/// SplitMix64 (Steele, Lea & Flood 2014): one add and a 64-bit finaliser per draw.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

/// The SplitMix64 finaliser: a good 64-bit mixing function.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Seed for item `index` of stream `stream` under the archive seed.
pub(crate) fn derive(seed: u64, stream: u64, index: u64) -> u64 {
    mix64(
        mix64(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03),
    )
}

/// A UID under the `2.25` root (PS3.5 B.2): the decimal value of a version-4-shaped UUID
/// derived from the seed, so it is fresh per archive yet reproducible.
pub(crate) fn uid(seed: u64, stream: u64, index: u64) -> String {
    let hi = derive(seed, stream, index);
    let lo = derive(seed ^ 0x5a5a_5a5a_5a5a_5a5a, stream, index);
    let mut v = (u128::from(hi) << 64) | u128::from(lo);
    // Version 4 and the RFC 4122 variant, so the number is a well-formed UUID.
    v &= !(0xf_u128 << 76);
    v |= 0x4_u128 << 76;
    v &= !(0x3_u128 << 62);
    v |= 0x2_u128 << 62;
    format!("2.25.{v}")
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }
    /// Uniform in [0, 1).
    pub(crate) fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }
    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }
    /// Uniform integer in [0, n); `n` must be positive.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
    /// Uniform integer in [lo, hi] inclusive.
    pub(crate) fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as usize) as i64
    }
    pub(crate) fn chance(&mut self, p: f32) -> bool {
        self.f32() < p
    }
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// Pick from `(item, weight)` pairs.
    pub(crate) fn weighted<T: Copy>(&mut self, items: &[(T, f32)]) -> T {
        let total: f32 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.f32() * total;
        for &(item, w) in items {
            if x < w {
                return item;
            }
            x -= w;
        }
        items[items.len() - 1].0
    }
    /// Approximately standard normal: Irwin-Hall sum of four uniforms from one draw.
    pub(crate) fn gauss(&mut self) -> f32 {
        let r = self.next_u64();
        let s = (r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48);
        // Sum of four U(0,1) has mean 2 and variance 1/3.
        (s as f32 * (1.0 / 65536.0) - 2.0) * 1.732_050_8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_valid_and_seed_dependent() {
        let a = uid(1, 2, 3);
        assert!(a.starts_with("2.25."));
        assert!(a.len() <= 64, "UIDs are at most 64 characters (PS3.5 9.1)");
        assert!(a[5..].bytes().all(|b| b.is_ascii_digit()));
        assert!(
            !a[5..].starts_with('0'),
            "no leading zero in a UID component"
        );
        assert_eq!(a, uid(1, 2, 3));
        assert_ne!(a, uid(2, 2, 3));
        assert_ne!(a, uid(1, 2, 4));
    }

    #[test]
    fn gauss_has_unit_moments() {
        let mut r = Rng::new(7);
        let n = 20_000;
        let xs: Vec<f32> = (0..n).map(|_| r.gauss()).collect();
        let mean = xs.iter().sum::<f32>() / n as f32;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n as f32;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
    }

    #[test]
    fn below_covers_range() {
        let mut r = Rng::new(3);
        let mut seen = [0u32; 5];
        for _ in 0..1000 {
            seen[r.below(5)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 150), "{seen:?}");
    }
}
