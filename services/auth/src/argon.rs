//! Argon2id hashing and verification into a memory buffer the calling thread keeps.
//!
//! The argon2 crate's `hash_password`/`verify_password` allocate the whole cost (~19 MiB) per call and
//! free it afterwards. glibc then raises its mmap threshold to that size and serves the next ones from the
//! thread's heap, where small allocations in between keep the freed blocks from being returned: measured
//! here, two hashing threads under a login flood held ~190 MB more than two buffers' worth. Each hashing
//! thread ([`crate::passwords`]) therefore owns one [`Memory`], grown to the largest cost it has seen and
//! reused by every hash and verification it runs. The PHC strings are the same as the crate's.

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};

/// One thread's argon2 working memory.
pub type Memory = Vec<Block>;

/// The first `params.block_count()` blocks of `memory`, growing it if needed.
fn blocks<'a>(memory: &'a mut Memory, params: &Params) -> &'a mut [Block] {
    let n = params.block_count();
    if memory.len() < n {
        memory.resize(n, Block::default());
    }
    &mut memory[..n]
}

/// A PHC string (`$argon2id$v=19$m=...`) for `password` with a fresh random salt.
pub fn hash(memory: &mut Memory, params: &Params, password: &[u8]) -> anyhow::Result<String> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("argon2: {e}");
    let salt: [u8; 16] = rand::random();
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon.hash_password_into_with_memory(password, &salt, &mut out, blocks(memory, params)).map_err(|e| err(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| err(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| err(&e))?),
        hash: Some(Output::new(&out).map_err(|e| err(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc` (hashed with the string's own parameters, compared in
/// constant time); a malformed string matches nothing.
pub fn verify(memory: &mut Memory, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
    let (Ok(params), Ok(algorithm)) = (Params::try_from(&parsed), Algorithm::try_from(parsed.algorithm.as_str())) else {
        return false;
    };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else { return false };
    let argon = Argon2::new(algorithm, version.unwrap_or_default(), params.clone());
    let mut out = vec![0u8; expected.len()];
    if argon.hash_password_into_with_memory(password, salt, &mut out, blocks(memory, &params)).is_err() {
        return false;
    }
    Output::new(&out).is_ok_and(|computed| &computed == expected)
}

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn same_strings_as_the_crate_and_one_buffer_for_every_call() {
        let params = Params::new(256, 1, 1, None).unwrap();
        let mut memory = Memory::new();
        let ours = hash(&mut memory, &params, b"shoplab-pass").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{ours}");
        assert!(Argon2::default().verify_password(b"shoplab-pass", ours.as_str()).is_ok(), "the crate accepts ours");
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()).hash_password(b"other-pass").unwrap();
        assert!(verify(&mut memory, b"other-pass", &theirs.to_string()), "we accept the crate's");
        assert!(!verify(&mut memory, b"wrong-pass", &ours));
        assert!(!verify(&mut memory, b"shoplab-pass", "not a phc string"));
        assert_eq!(memory.len(), 256, "one buffer of the cost's size, reused");
    }
}
