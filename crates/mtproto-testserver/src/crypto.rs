//! The server side of MTProto 2.0 message encryption: msg_key and AES-IGE key derivation.
//!
//! grammers' helpers hard-code the client's side (x = 0 to encrypt, x = 8 to decrypt); a
//! server needs the mirror image, so the derivation is written here with sha2, reusing only
//! grammers' AES-IGE primitive.

use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A permanent authorization key as the server keeps it.
#[derive(Clone)]
pub struct AuthKey {
    data: [u8; 256],
    id: [u8; 8],
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key bytes: only the public 64-bit id.
        write!(f, "AuthKey(id={:016x})", u64::from_le_bytes(self.id))
    }
}

impl AuthKey {
    pub fn from_bytes(data: [u8; 256]) -> Self {
        let sha = Sha1::digest(data);
        let mut id = [0u8; 8];
        id.copy_from_slice(&sha[12..20]);
        AuthKey { data, id }
    }

    pub fn random() -> Self {
        let mut data = [0u8; 256];
        rand::fill(&mut data[..]);
        Self::from_bytes(data)
    }

    pub fn id(&self) -> [u8; 8] {
        self.id
    }

    pub fn bytes(&self) -> [u8; 256] {
        self.data
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("encrypted packet has a bad length")]
    BadLength,
    #[error("msg_key does not match the decrypted plaintext")]
    MsgKeyMismatch,
}

/// Which way a message travels; MTProto's `x` in the key derivation.
#[derive(Clone, Copy)]
enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    fn x(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 8,
        }
    }
}

fn msg_key_for(key: &AuthKey, plaintext: &[u8], dir: Direction) -> [u8; 16] {
    let x = dir.x();
    let mut h = Sha256::new();
    h.update(&key.data[88 + x..88 + x + 32]);
    h.update(plaintext);
    let large = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&large[8..24]);
    out
}

fn aes_key_iv(key: &AuthKey, msg_key: &[u8; 16], dir: Direction) -> ([u8; 32], [u8; 32]) {
    let x = dir.x();
    let mut a = Sha256::new();
    a.update(msg_key);
    a.update(&key.data[x..x + 36]);
    let a = a.finalize();
    let mut b = Sha256::new();
    b.update(&key.data[40 + x..40 + x + 36]);
    b.update(msg_key);
    let b = b.finalize();

    let mut aes_key = [0u8; 32];
    aes_key[0..8].copy_from_slice(&a[0..8]);
    aes_key[8..24].copy_from_slice(&b[8..24]);
    aes_key[24..32].copy_from_slice(&a[24..32]);
    let mut aes_iv = [0u8; 32];
    aes_iv[0..8].copy_from_slice(&b[0..8]);
    aes_iv[8..24].copy_from_slice(&a[8..24]);
    aes_iv[24..32].copy_from_slice(&b[24..32]);
    (aes_key, aes_iv)
}

/// Decrypts a client packet (`auth_key_id ‖ msg_key ‖ ciphertext`, key id already checked)
/// and returns the plaintext.
pub fn decrypt_from_client(key: &AuthKey, packet: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if packet.len() < 24 + 16 || !(packet.len() - 24).is_multiple_of(16) {
        return Err(CryptoError::BadLength);
    }
    let mut msg_key = [0u8; 16];
    msg_key.copy_from_slice(&packet[8..24]);
    let (k, iv) = aes_key_iv(key, &msg_key, Direction::ClientToServer);
    let mut plain = packet[24..].to_vec();
    grammers_crypto::aes::ige_decrypt(&mut plain, &k, &iv);
    if msg_key_for(key, &plain, Direction::ClientToServer) != msg_key {
        return Err(CryptoError::MsgKeyMismatch);
    }
    Ok(plain)
}

/// Pads and encrypts a server plaintext into `auth_key_id ‖ msg_key ‖ ciphertext`.
pub fn encrypt_for_client(key: &AuthKey, mut plaintext: Vec<u8>) -> Vec<u8> {
    // MTProto 2.0: 12..1024 bytes of padding, total a multiple of 16.
    let pad = 12 + (16 - (plaintext.len() + 12) % 16) % 16;
    let mut padding = vec![0u8; pad];
    rand::fill(&mut padding[..]);
    plaintext.extend_from_slice(&padding);
    let msg_key = msg_key_for(key, &plaintext, Direction::ServerToClient);
    let (k, iv) = aes_key_iv(key, &msg_key, Direction::ServerToClient);
    grammers_crypto::aes::ige_encrypt(&mut plaintext, &k, &iv);
    let mut out = Vec::with_capacity(24 + plaintext.len());
    out.extend_from_slice(&key.id);
    out.extend_from_slice(&msg_key);
    out.extend_from_slice(&plaintext);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_can_read_what_the_server_encrypts() {
        let key = AuthKey::random();
        let client_key = grammers_crypto::AuthKey::from_bytes(key.bytes());
        let body: Vec<u8> = (0..100u8).collect();
        let mut packet = encrypt_for_client(&key, body.clone());
        let plain = grammers_crypto::decrypt_data_v2(&mut packet, &client_key).expect("decrypts");
        assert_eq!(&plain[..100], &body[..]);
    }

    #[test]
    fn the_server_can_read_what_the_client_encrypts() {
        let key = AuthKey::random();
        let client_key = grammers_crypto::AuthKey::from_bytes(key.bytes());
        let mut buf = grammers_crypto::DequeBuffer::with_capacity(64, 32);
        buf.extend((0..64u8).collect::<Vec<_>>());
        grammers_crypto::encrypt_data_v2(&mut buf, &client_key);
        assert_eq!(&buf[..8], &key.id()[..]);
        let plain = decrypt_from_client(&key, &buf[..]).expect("decrypts");
        assert_eq!(&plain[..64], &(0..64u8).collect::<Vec<_>>()[..]);
    }
}
