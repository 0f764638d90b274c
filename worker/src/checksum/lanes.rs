//! Eight SHA-256 computations advanced together, one in each 32-bit lane of the AVX2
//! registers.
//!
//! On a CPU without the SHA extensions one SHA-256 stream is bound by its chain of dependent
//! additions and rotations (OpenSSL's AVX2 code reaches ~330 MB/s per core), but eight
//! independent files can share every instruction: this kernel runs the same rounds on eight
//! messages at once. Unlike whole-message multi-buffer code, each lane's chaining value stays
//! here between calls, so a file is hashed window by window and a lane whose file ends takes
//! the next file while the others go on.

use std::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_andnot_si256, _mm256_extract_epi32,
    _mm256_or_si256, _mm256_set1_epi32, _mm256_set_epi32, _mm256_slli_epi32, _mm256_srli_epi32,
    _mm256_xor_si256,
};

/// How many messages one call advances.
pub const LANES: usize = 8;

/// The bytes of one SHA-256 block.
pub const BLOCK: usize = 64;

/// The initial chaining value (FIPS 180-4, 5.3.3).
const INITIAL: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The round constants (FIPS 180-4, 4.2.2).
const ROUND: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// The chaining values of eight SHA-256 computations.
#[derive(Clone)]
pub struct LaneStates {
    /// `words[w][lane]`: word `w` of each lane's chaining value.
    words: [[u32; LANES]; 8],
}

impl LaneStates {
    /// Eight computations of nothing yet.
    pub fn new() -> LaneStates {
        LaneStates {
            words: INITIAL.map(|h| [h; LANES]),
        }
    }

    /// Starts `lane` over, for a new message.
    pub fn reset(&mut self, lane: usize) {
        for (word, initial) in self.words.iter_mut().zip(INITIAL) {
            word[lane] = initial;
        }
    }

    /// The digest of `lane`, once its padded message has gone through [`LaneStates::compress`].
    pub fn digest(&self, lane: usize) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(&self.words) {
            bytes.copy_from_slice(&word[lane].to_be_bytes());
        }
        out
    }

    /// Runs `blocks` blocks of each lane's input through its computation. A lane's input holds
    /// at least `blocks * BLOCK` bytes, or is empty for a lane with nothing to do (it is fed
    /// zeros, and must be [`reset`](LaneStates::reset) before its next message).
    ///
    /// # Panics
    /// If a non-empty input is shorter than `blocks * BLOCK` bytes, or if the CPU lacks AVX2
    /// (see [`available`]).
    pub fn compress(&mut self, inputs: &[&[u8]; LANES], blocks: usize) {
        assert!(available(), "the 8-lane SHA-256 kernel needs AVX2");
        for input in inputs {
            assert!(input.is_empty() || input.len() >= blocks * BLOCK);
        }
        // SAFETY: the CPU supports AVX2 (checked just above), the only requirement of a
        // `target_feature(enable = "avx2")` function; the kernel's memory accesses are
        // bounds-checked slices.
        #[allow(unsafe_code)]
        unsafe {
            compress_avx2(&mut self.words, inputs, blocks)
        }
    }
}

impl Default for LaneStates {
    fn default() -> Self {
        LaneStates::new()
    }
}

/// Whether this CPU can run the kernel.
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// The final block or two of a message of `length` bytes whose last `tail.len()` bytes (fewer
/// than a block) are `tail`: the tail, the 0x80 marker, zeros and the length in bits. Returns
/// the buffer and how many of its bytes (one or two blocks) are the padded tail.
pub fn padded_tail(tail: &[u8], length: u64) -> ([u8; 2 * BLOCK], usize) {
    debug_assert!(tail.len() < BLOCK);
    let mut out = [0u8; 2 * BLOCK];
    out[..tail.len()].copy_from_slice(tail);
    out[tail.len()] = 0x80;
    let used = if tail.len() + 1 + 8 <= BLOCK {
        BLOCK
    } else {
        2 * BLOCK
    };
    out[used - 8..used].copy_from_slice(&length.wrapping_mul(8).to_be_bytes());
    (out, used)
}

/// `x` rotated right by `R` bits (`L` is `32 - R`: AVX2 has no rotation, and const generics
/// cannot compute it).
#[target_feature(enable = "avx2")]
#[inline]
fn rotr<const R: i32, const L: i32>(x: __m256i) -> __m256i {
    _mm256_or_si256(_mm256_srli_epi32::<R>(x), _mm256_slli_epi32::<L>(x))
}

#[target_feature(enable = "avx2")]
#[inline]
fn xor3(a: __m256i, b: __m256i, c: __m256i) -> __m256i {
    _mm256_xor_si256(_mm256_xor_si256(a, b), c)
}

#[target_feature(enable = "avx2")]
#[inline]
fn add(a: __m256i, b: __m256i) -> __m256i {
    _mm256_add_epi32(a, b)
}

/// Word `t` (big-endian) of each lane's block, one lane per 32-bit element.
#[target_feature(enable = "avx2")]
#[inline]
fn message_word(blocks: &[&[u8]; LANES], t: usize) -> __m256i {
    let word = |lane: usize| {
        let b = &blocks[lane][4 * t..4 * t + 4];
        i32::from_be_bytes([b[0], b[1], b[2], b[3]])
    };
    _mm256_set_epi32(
        word(7),
        word(6),
        word(5),
        word(4),
        word(3),
        word(2),
        word(1),
        word(0),
    )
}

#[target_feature(enable = "avx2")]
#[inline]
fn lane_values(v: __m256i) -> [u32; LANES] {
    [
        _mm256_extract_epi32::<0>(v) as u32,
        _mm256_extract_epi32::<1>(v) as u32,
        _mm256_extract_epi32::<2>(v) as u32,
        _mm256_extract_epi32::<3>(v) as u32,
        _mm256_extract_epi32::<4>(v) as u32,
        _mm256_extract_epi32::<5>(v) as u32,
        _mm256_extract_epi32::<6>(v) as u32,
        _mm256_extract_epi32::<7>(v) as u32,
    ]
}

#[target_feature(enable = "avx2")]
#[inline]
fn from_lanes(words: &[u32; LANES]) -> __m256i {
    let w = words.map(|w| w as i32);
    _mm256_set_epi32(w[7], w[6], w[5], w[4], w[3], w[2], w[1], w[0])
}

/// The SHA-256 compression function (FIPS 180-4, 6.2.2) on eight lanes.
#[target_feature(enable = "avx2")]
fn compress_avx2(words: &mut [[u32; LANES]; 8], inputs: &[&[u8]; LANES], blocks: usize) {
    const IDLE: [u8; BLOCK] = [0; BLOCK];
    let mut state: [__m256i; 8] = std::array::from_fn(|w| from_lanes(&words[w]));
    for block in 0..blocks {
        let lanes: [&[u8]; LANES] = std::array::from_fn(|lane| {
            let input = inputs[lane];
            if input.is_empty() {
                &IDLE[..]
            } else {
                &input[block * BLOCK..(block + 1) * BLOCK]
            }
        });
        let mut schedule: [__m256i; 16] = std::array::from_fn(|t| message_word(&lanes, t));
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
        for (t, constant) in ROUND.iter().enumerate() {
            let w = if t < 16 {
                schedule[t]
            } else {
                let w15 = schedule[(t - 15) % 16];
                let w2 = schedule[(t - 2) % 16];
                let s0 = xor3(
                    rotr::<7, 25>(w15),
                    rotr::<18, 14>(w15),
                    _mm256_srli_epi32::<3>(w15),
                );
                let s1 = xor3(
                    rotr::<17, 15>(w2),
                    rotr::<19, 13>(w2),
                    _mm256_srli_epi32::<10>(w2),
                );
                let next = add(add(schedule[t % 16], s0), add(schedule[(t - 7) % 16], s1));
                schedule[t % 16] = next;
                next
            };
            let big_s1 = xor3(rotr::<6, 26>(e), rotr::<11, 21>(e), rotr::<25, 7>(e));
            let choose = _mm256_xor_si256(_mm256_and_si256(e, f), _mm256_andnot_si256(e, g));
            let t1 = add(
                add(h, big_s1),
                add(choose, add(_mm256_set1_epi32(*constant as i32), w)),
            );
            let big_s0 = xor3(rotr::<2, 30>(a), rotr::<13, 19>(a), rotr::<22, 10>(a));
            let majority = _mm256_or_si256(
                _mm256_and_si256(a, b),
                _mm256_and_si256(c, _mm256_or_si256(a, b)),
            );
            let t2 = add(big_s0, majority);
            h = g;
            g = f;
            f = e;
            e = add(d, t1);
            d = c;
            c = b;
            b = a;
            a = add(t1, t2);
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *s = add(*s, v);
        }
    }
    for (word, s) in words.iter_mut().zip(state) {
        *word = lane_values(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes `messages` (up to eight) whole through the lanes.
    fn lane_digests(messages: &[Vec<u8>]) -> Vec<[u8; 32]> {
        let mut states = LaneStates::new();
        let padded: Vec<Vec<u8>> = messages
            .iter()
            .map(|m| {
                let whole = m.len() - m.len() % BLOCK;
                let (tail, used) = padded_tail(&m[whole..], m.len() as u64);
                [&m[..whole], &tail[..used]].concat()
            })
            .collect();
        // Advance the lanes unevenly: in steps of up to three blocks, each lane idle once
        // its message is done.
        let mut offsets = vec![0usize; padded.len()];
        let mut digests = vec![[0u8; 32]; padded.len()];
        loop {
            let blocks = padded
                .iter()
                .zip(&offsets)
                .filter(|(p, o)| **o < p.len())
                .map(|(p, o)| (p.len() - o) / BLOCK)
                .min();
            let Some(blocks) = blocks else { break };
            let blocks = blocks.min(3);
            let inputs: [&[u8]; LANES] = std::array::from_fn(|lane| match padded.get(lane) {
                Some(p) if offsets[lane] < p.len() => &p[offsets[lane]..],
                _ => &[][..],
            });
            states.compress(&inputs, blocks);
            for (lane, p) in padded.iter().enumerate() {
                if offsets[lane] < p.len() {
                    offsets[lane] += blocks * BLOCK;
                    if offsets[lane] == p.len() {
                        digests[lane] = states.digest(lane);
                    }
                }
            }
        }
        digests
    }

    #[test]
    fn every_lane_matches_openssl_at_every_padding_boundary() {
        if !crate::test_fixtures::lanes_available() {
            return;
        }
        // Lengths around the one- and two-block padding cases, all distinct per lane.
        let lengths: Vec<usize> = (0..120).chain([1000, 4096, 65_537, 200_003]).collect();
        for group in lengths.chunks(LANES) {
            let messages: Vec<Vec<u8>> = group
                .iter()
                .map(|&n| (0..n).map(|i| (i * 31 + n) as u8).collect())
                .collect();
            for (message, digest) in messages.iter().zip(lane_digests(&messages)) {
                assert_eq!(
                    digest,
                    openssl::sha::sha256(message),
                    "length {}",
                    message.len()
                );
            }
        }
    }

    #[test]
    fn a_reset_lane_starts_a_new_message() {
        if !crate::test_fixtures::lanes_available() {
            return;
        }
        let mut states = LaneStates::new();
        let (first, used) = padded_tail(b"first", 5);
        states.compress(&[&first[..used]; LANES], 1);
        assert_eq!(states.digest(0), openssl::sha::sha256(b"first"));
        states.reset(3);
        let (abc, used) = padded_tail(b"abc", 3);
        let mut inputs: [&[u8]; LANES] = [&[]; LANES];
        inputs[3] = &abc[..used];
        states.compress(&inputs, 1);
        assert_eq!(states.digest(3), openssl::sha::sha256(b"abc"));
    }
}
