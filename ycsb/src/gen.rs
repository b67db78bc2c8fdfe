//! Ports of YCSB's number generators (site.ycsb.generator.*): the same formulas and constants,
//! so a workload file draws the same shape of keys here as in YCSB.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// xoshiro256++ seeded through SplitMix64: fast, per-thread, deterministic.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

pub fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        Rng { s: [splitmix64(&mut x), splitmix64(&mut x), splitmix64(&mut x), splitmix64(&mut x)] }
    }
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = (s[0].wrapping_add(s[3])).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }
    /// Uniform in [0, 1).
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform in [0, n), n > 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

pub const FNV_OFFSET_BASIS_64: i64 = 0xCBF2_9CE4_8422_2325u64 as i64;
pub const FNV_PRIME_64: i64 = 1_099_511_628_211;

/// YCSB `Utils.fnvhash64`: FNV-1a over the 8 low-first bytes of `val`, then `Math.abs`.
pub fn fnvhash64(mut val: i64) -> i64 {
    let mut hashval = FNV_OFFSET_BASIS_64;
    for _ in 0..8 {
        let octet = val & 0x00ff;
        val >>= 8;
        hashval ^= octet;
        hashval = hashval.wrapping_mul(FNV_PRIME_64);
    }
    hashval.wrapping_abs()
}

/// YCSB `ZipfianGenerator` (Gray et al., "Quickly generating billion-record synthetic databases").
#[derive(Clone, Debug)]
pub struct Zipfian {
    items: i64,
    base: i64,
    theta: f64,
    zeta2theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
    countforzeta: i64,
}

pub const ZIPFIAN_CONSTANT: f64 = 0.99;

fn zeta_range(st: i64, n: i64, theta: f64, initialsum: f64) -> f64 {
    let mut sum = initialsum;
    for i in st..n {
        sum += 1.0 / ((i + 1) as f64).powf(theta);
    }
    sum
}

impl Zipfian {
    /// Items in [min, max].
    pub fn new(min: i64, max: i64, theta: f64) -> Zipfian {
        let items = max - min + 1;
        let zetan = zeta_range(0, items, theta, 0.0);
        Zipfian::with_zetan(min, max, theta, zetan)
    }
    pub fn with_zetan(min: i64, max: i64, theta: f64, zetan: f64) -> Zipfian {
        let items = max - min + 1;
        let zeta2theta = zeta_range(0, 2, theta, 0.0);
        let eta = (1.0 - (2.0 / items as f64).powf(1.0 - theta)) / (1.0 - zeta2theta / zetan);
        Zipfian { items, base: min, theta, zeta2theta, alpha: 1.0 / (1.0 - theta), zetan, eta, countforzeta: items }
    }
    /// YCSB `nextLong(itemcount)`; `u` is the uniform draw in [0, 1). Growing itemcount extends
    /// zeta incrementally, exactly as YCSB does (including its use of the original `items` in eta).
    pub fn next_with(&mut self, itemcount: i64, u: f64) -> i64 {
        if itemcount > self.countforzeta {
            self.zetan = zeta_range(self.countforzeta, itemcount, self.theta, self.zetan);
            self.countforzeta = itemcount;
            self.eta = (1.0 - (2.0 / self.items as f64).powf(1.0 - self.theta)) / (1.0 - self.zeta2theta / self.zetan);
        }
        let uz = u * self.zetan;
        if uz < 1.0 {
            return self.base;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return self.base + 1;
        }
        self.base + (itemcount as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as i64
    }
    pub fn next(&mut self, rng: &mut Rng) -> i64 {
        let n = self.items;
        self.next_with(n, rng.next_f64())
    }
}

/// YCSB `ScrambledZipfianGenerator`: zipfian over 10^10 items (precomputed zeta), hashed with
/// FNV-64 onto [min, max], so popular items are scattered over the key space.
#[derive(Clone, Debug)]
pub struct ScrambledZipfian {
    gen: Zipfian,
    min: i64,
    itemcount: i64,
}

impl ScrambledZipfian {
    pub const ZETAN: f64 = 26.469_028_201_783_02;
    pub const ITEM_COUNT: i64 = 10_000_000_000;
    pub fn new(min: i64, max: i64) -> ScrambledZipfian {
        let gen = Zipfian::with_zetan(0, Self::ITEM_COUNT, ZIPFIAN_CONSTANT, Self::ZETAN);
        ScrambledZipfian { gen, min, itemcount: max - min + 1 }
    }
    pub fn next(&mut self, rng: &mut Rng) -> i64 {
        let ret = self.gen.next(rng);
        self.min + fnvhash64(ret) % self.itemcount
    }
}

/// YCSB `AcknowledgedCounterGenerator`: hands out insert key numbers; `last_value` is the highest
/// number below which every insert has been acknowledged (readers never pick a key in flight).
#[derive(Debug)]
pub struct AckCounter {
    next: AtomicU64,
    limit: AtomicU64, // one past the highest contiguously acknowledged value
    pending: Mutex<BTreeSet<u64>>,
}

impl AckCounter {
    pub fn new(start: u64) -> AckCounter {
        AckCounter { next: AtomicU64::new(start), limit: AtomicU64::new(start), pending: Mutex::new(BTreeSet::new()) }
    }
    pub fn next_value(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
    pub fn acknowledge(&self, v: u64) {
        let mut p = self.pending.lock().unwrap();
        p.insert(v);
        let mut lim = self.limit.load(Ordering::Relaxed);
        while p.remove(&lim) {
            lim += 1;
        }
        self.limit.store(lim, Ordering::Release);
    }
    /// Highest acknowledged value (YCSB `lastValue()`), i.e. limit - 1; i64 since it may be -1.
    pub fn last_value(&self) -> i64 {
        self.limit.load(Ordering::Acquire) as i64 - 1
    }
    pub fn issued(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }
}

/// The key chooser named by `requestdistribution`.
#[derive(Clone, Debug)]
pub enum KeyChooser {
    Uniform {
        lo: i64,
        hi: i64,
    },
    Zipfian(ScrambledZipfian),
    /// YCSB `SkewedLatestGenerator` over the insert counter.
    Latest(Zipfian),
    Hotspot {
        lo: i64,
        hot: i64,
        cold: i64,
        hot_opn: f64,
    },
}

impl KeyChooser {
    /// Draws one key number; `latest` is the insert counter's last acknowledged value.
    pub fn next(&mut self, rng: &mut Rng, latest: i64) -> i64 {
        match self {
            KeyChooser::Uniform { lo, hi } => *lo + rng.below((*hi - *lo + 1) as u64) as i64,
            KeyChooser::Zipfian(z) => z.next(rng),
            KeyChooser::Latest(z) => {
                let max = latest;
                let u = rng.next_f64();
                max - z.next_with(max, u)
            }
            KeyChooser::Hotspot { lo, hot, cold, hot_opn } => {
                if rng.next_f64() < *hot_opn {
                    *lo + rng.below((*hot).max(1) as u64) as i64
                } else {
                    *lo + *hot + rng.below((*cold).max(1) as u64) as i64
                }
            }
        }
    }
}

/// `fieldlengthdistribution` / `scanlengthdistribution`.
#[derive(Clone, Debug)]
pub enum IntGen {
    Constant(i64),
    Uniform { lo: i64, hi: i64 },
    Zipfian(Zipfian),
}

impl IntGen {
    pub fn next(&mut self, rng: &mut Rng) -> i64 {
        self.next_u(rng.next_f64(), rng)
    }
    /// With an explicit first uniform draw, so field lengths can be derived from (key, version).
    pub fn next_u(&mut self, u: f64, _rng: &mut Rng) -> i64 {
        match self {
            IntGen::Constant(c) => *c,
            IntGen::Uniform { lo, hi } => *lo + ((u * (*hi - *lo + 1) as f64) as i64).min(*hi - *lo),
            IntGen::Zipfian(z) => {
                let n = z.items;
                z.next_with(n, u)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_ycsb() {
        // FNV-1a 64 over the 8 little-endian bytes of the value, then abs (as Java's Math.abs).
        let plain = |v: i64| {
            let mut h: u64 = 0xCBF2_9CE4_8422_2325;
            for b in v.to_le_bytes() {
                h ^= b as u64;
                h = h.wrapping_mul(0x100_0000_01B3);
            }
            (h as i64).wrapping_abs()
        };
        for v in [0i64, 1, 42, 1 << 40, i64::MAX] {
            assert_eq!(fnvhash64(v), plain(v));
        }
        for i in 0..1000 {
            assert!(fnvhash64(i) >= 0);
        }
    }

    #[test]
    fn zipfian_is_skewed_and_in_range() {
        let mut rng = Rng::new(1);
        let mut z = Zipfian::new(0, 999, ZIPFIAN_CONSTANT);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            let v = z.next(&mut rng);
            assert!((0..1000).contains(&v));
            counts[v as usize] += 1;
        }
        assert!(counts[0] > counts[10] && counts[10] > counts[500]);
        let mut s = ScrambledZipfian::new(0, 999);
        for _ in 0..10_000 {
            assert!((0..1000).contains(&s.next(&mut rng)));
        }
    }

    #[test]
    fn latest_stays_at_or_below_max() {
        let mut rng = Rng::new(2);
        let mut k = KeyChooser::Latest(Zipfian::new(0, 999, ZIPFIAN_CONSTANT));
        for _ in 0..10_000 {
            let v = k.next(&mut rng, 999);
            assert!((0..=999).contains(&v), "{v}");
        }
    }

    #[test]
    fn ack_counter_advances_contiguously() {
        let c = AckCounter::new(10);
        let a = c.next_value();
        let b = c.next_value();
        assert_eq!(c.last_value(), 9);
        c.acknowledge(b);
        assert_eq!(c.last_value(), 9);
        c.acknowledge(a);
        assert_eq!(c.last_value(), 11);
    }
}
