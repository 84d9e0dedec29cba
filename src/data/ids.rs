//! Identifier hashing: exact 128-bit keys for the UUID-shaped ids of MSSD (`t_<uuid>`,
//! `0_<uuid>`), a 128-bit SipHash for any other id, and stable seeded priorities for sampling.
//!
//! Priorities must not change between platforms or Rust releases (the same seed must give the
//! same sample everywhere), so they use FNV-1a plus the SplitMix64 finaliser, both fixed by their
//! published definitions, rather than `std`'s hasher.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// A set of 128-bit id keys. The keys are already uniformly spread, so the table's hasher just
/// folds them.
pub type IdSet = HashSet<u128, BuildHasherDefault<FoldHasher>>;

#[derive(Default)]
pub struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = splitmix64((v as u64) ^ ((v >> 64) as u64).rotate_left(17));
    }
}

/// Hex digit values, 0xFF for anything that is not a lowercase hex digit.
const HEX: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// The 128 bits of a lowercase canonical UUID (`8-4-4-4-12` hex digits), if `s` is one.
fn parse_uuid(s: &[u8]) -> Option<u128> {
    if s.len() != 36 || s[8] != b'-' || s[13] != b'-' || s[18] != b'-' || s[23] != b'-' {
        return None;
    }
    let mut v: u128 = 0;
    let mut bad = 0u8;
    for group in [&s[0..8], &s[9..13], &s[14..18], &s[19..23], &s[24..36]] {
        let mut g: u64 = 0;
        for &b in group {
            let d = HEX[b as usize];
            bad |= d;
            g = (g << 4) | d as u64;
        }
        v = (v << (4 * group.len())) | g as u128;
    }
    (bad & 0xF0 == 0).then_some(v)
}

/// A 128-bit key of an id: exact (a bijection) for `t_<uuid>`, a 128-bit SipHash otherwise, so
/// that counting distinct keys counts distinct ids (a collision has probability ~2^-100 even
/// over billions of ids).
pub fn id_key(id: &[u8]) -> u128 {
    if let Some(rest) = id.strip_prefix(b"t_")
        && let Some(v) = parse_uuid(rest)
    {
        return v;
    }
    #[allow(deprecated)]
    let half = |salt: u8| {
        let mut h = std::hash::SipHasher::new_with_keys(0x5345_4755_4531, salt as u64);
        h.write(id);
        h.finish() as u128
    };
    (half(1) << 64) | half(2)
}

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The SplitMix64 finaliser: a bijective mix of 64 bits.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Streams of randomness derived from one master seed, one per purpose.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Sample = 1,
    Split = 2,
}

/// A seeded random priority for an id, uniform over `u64` and independent across `stream`s:
/// ordering ids by it is a seeded random permutation that does not depend on the order in which
/// ids are met (so a file gives the same sessions whichever worker or engine reads it). Ties are
/// broken by the id itself.
pub fn priority(seed: u64, stream: Stream, id: &[u8]) -> (u64, u64) {
    let salt = splitmix64(seed ^ splitmix64(stream as u64));
    let h = fnv1a64(id);
    (splitmix64(h ^ salt), h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_track_ids_are_exact() {
        let a = id_key(b"t_0479f24c-27d2-46d6-a00c-7ec928f2b539");
        assert_eq!(a, 0x0479f24c_27d2_46d6_a00c_7ec928f2b539);
        // Not a canonical UUID: falls back to hashing, and stays distinct.
        let b = id_key(b"t_0479F24C-27d2-46d6-a00c-7ec928f2b539");
        assert_ne!(a, b);
        assert_ne!(id_key(b"abc"), id_key(b"abd"));
        assert_eq!(id_key(b"abc"), id_key(b"abc"));
    }

    #[test]
    fn reference_hash_values() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector); splitmix64(0) is
        // 0xe220a8397b1dcdaf (the first output of SplitMix64 seeded with 0).
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn priorities_depend_on_seed_and_stream() {
        let id = b"0_00006f66-33e5-4de7-a324-2d18e439fc1e";
        assert_eq!(
            priority(7, Stream::Sample, id),
            priority(7, Stream::Sample, id)
        );
        assert_ne!(
            priority(7, Stream::Sample, id),
            priority(8, Stream::Sample, id)
        );
        assert_ne!(
            priority(7, Stream::Sample, id),
            priority(7, Stream::Split, id)
        );
    }
}
