//! SHA-256 as the engine computes it (package checksums, repodata files, cache keys): `ring`'s
//! implementation, which picks its assembly for the CPU at run time (the SHA extensions, AVX2 or
//! SSSE3 on x86-64, the ARMv8 crypto extensions on aarch64). Portable Rust code hashes at half
//! that speed on CPUs without SHA extensions, which most build farms have.

/// An incremental SHA-256.
#[derive(Clone)]
pub struct Sha256(ring::digest::Context);

impl Sha256 {
    /// A hash of nothing yet.
    pub fn new() -> Sha256 {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest, in lowercase hex as repodata writes it.
    pub fn hex(self) -> String {
        hex::encode(self.0.finish())
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}

/// The SHA-256 of `data`, in lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(sha256_hex(b""), empty);
        let mut hash = Sha256::new();
        hash.update(b"ab");
        hash.update(b"c");
        assert_eq!(
            hash.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
