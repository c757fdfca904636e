//! The client side of the proxy wire: the obfuscated2 handshake keyed with the secret, and
//! the fake-TLS (`ee`) ClientHello and its check of the proxy's answer.

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Protocol tag at offset 56 of the init: intermediate transport.
pub(crate) const TAG_INTERMEDIATE: [u8; 4] = [0xee; 4];
/// Protocol tag at offset 56 of the init: padded intermediate transport.
pub(crate) const TAG_PADDED: [u8; 4] = [0xdd; 4];

/// AES-256-CTR both ways, as the handshake derived it.
pub(crate) struct ObfsCipher {
    pub(crate) enc: Encryptor,
    pub(crate) dec: Decryptor,
}

pub(crate) struct Encryptor(Aes256Ctr);
pub(crate) struct Decryptor(Aes256Ctr);

impl Encryptor {
    pub(crate) fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

impl Decryptor {
    pub(crate) fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

/// Starts of the 64 bytes that a middlebox could read as another protocol (or that Telegram
/// reserves for other transports): such an init is drawn again.
fn forbidden(init: &[u8; 64]) -> bool {
    const STARTS: [[u8; 4]; 7] = [
        *b"HEAD",
        *b"POST",
        *b"GET ",
        *b"OPTI",
        [0x16, 0x03, 0x01, 0x02],
        [0xdd; 4],
        [0xee; 4],
    ];
    init[0] == 0xef || STARTS.iter().any(|s| init[..4] == s[..]) || init[4..8] == [0; 4]
}

fn cipher(key_material: &[u8], secret: &[u8; 16], iv: &[u8]) -> Aes256Ctr {
    let key = Sha256::new()
        .chain_update(key_material)
        .chain_update(secret)
        .finalize();
    Aes256Ctr::new_from_slices(&key, iv).expect("32-byte key and 16-byte IV by construction")
}

/// The 64 bytes to send first, and the ciphers for the rest of the connection.
pub(crate) fn client_init(
    secret: &[u8; 16],
    tag: [u8; 4],
    dc_id: i16,
    rng: &mut impl RngCore,
) -> ([u8; 64], ObfsCipher) {
    let mut init = [0u8; 64];
    loop {
        rng.fill_bytes(&mut init);
        if !forbidden(&init) {
            break;
        }
    }
    init[56..60].copy_from_slice(&tag);
    init[60..62].copy_from_slice(&dc_id.to_le_bytes());
    let mut enc = cipher(&init[8..40], secret, &init[40..56]);
    let mut reversed = [0u8; 48];
    reversed.copy_from_slice(&init[8..56]);
    reversed.reverse();
    let dec = cipher(&reversed[..32], secret, &reversed[32..]);
    let mut encrypted = init;
    enc.apply_keystream(&mut encrypted);
    init[56..64].copy_from_slice(&encrypted[56..64]);
    (
        init,
        ObfsCipher {
            enc: Encryptor(enc),
            dec: Decryptor(dec),
        },
    )
}

fn hmac(key: &[u8; 16], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Offset of the 32-byte random in a TLS handshake record (5 header + 4 + 2 version).
const RANDOM_AT: usize = 11;

/// A TLS 1.3 ClientHello to `domain` whose random is HMAC-SHA256(secret, hello) with the
/// timestamp XORed into its last 4 bytes: the proxy recognises its clients by it. Returns the
/// record and the random (the proxy's answer is checked against it).
pub(crate) fn client_hello(
    secret: &[u8; 16],
    domain: &str,
    now_unix: u32,
    rng: &mut impl RngCore,
) -> (Vec<u8>, [u8; 32]) {
    let mut session_id = [0u8; 32];
    rng.fill_bytes(&mut session_id);
    let mut key_share = [0u8; 32];
    rng.fill_bytes(&mut key_share);
    let mut ext = Vec::with_capacity(400);
    let push_ext = |ext: &mut Vec<u8>, kind: u16, body: &[u8]| {
        ext.extend_from_slice(&kind.to_be_bytes());
        ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
        ext.extend_from_slice(body);
    };
    let name = domain.as_bytes();
    let mut sni = Vec::with_capacity(name.len() + 5);
    sni.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    push_ext(&mut ext, 0x0000, &sni);
    push_ext(&mut ext, 0x000a, &[0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]);
    push_ext(
        &mut ext,
        0x000d,
        &[0x00, 0x08, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x08, 0x07],
    );
    let mut ks = vec![0x00, 0x24, 0x00, 0x1d, 0x00, 0x20];
    ks.extend_from_slice(&key_share);
    push_ext(&mut ext, 0x0033, &ks);
    push_ext(&mut ext, 0x002b, &[0x04, 0x03, 0x04, 0x03, 0x03]);

    let mut body = Vec::with_capacity(512);
    body.extend_from_slice(&[0x03, 0x03]);
    body.extend_from_slice(&[0u8; 32]);
    body.push(32);
    body.extend_from_slice(&session_id);
    body.extend_from_slice(&[0x00, 0x06, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03]);
    body.extend_from_slice(&[0x01, 0x00]);
    // Pad to the 517-byte record browsers send, with the padding extension.
    let fixed = 5 + 4 + body.len() + 2 + ext.len() + 4;
    let pad = 517usize.saturating_sub(fixed);
    push_ext(&mut ext, 0x0015, &vec![0u8; pad]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);

    let mut hello = Vec::with_capacity(body.len() + 9);
    hello.extend_from_slice(&[0x16, 0x03, 0x01]);
    hello.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    hello.push(0x01);
    hello.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hello.extend_from_slice(&body);

    let mut random = hmac(secret, &[&hello]);
    for (r, t) in random[28..].iter_mut().zip(now_unix.to_le_bytes()) {
        *r ^= t;
    }
    hello[RANDOM_AT..RANDOM_AT + 32].copy_from_slice(&random);
    (hello, random)
}

/// Whether the proxy's first records (ServerHello, ChangeCipherSpec, application data) carry
/// HMAC-SHA256(secret, client random ‖ answer with its random zeroed): only a proxy that
/// knows the secret can produce it.
pub(crate) fn server_hello_ok(secret: &[u8; 16], client_random: &[u8; 32], answer: &[u8]) -> bool {
    let Some(got) = answer.get(RANDOM_AT..RANDOM_AT + 32) else {
        return false;
    };
    let mut zeroed = answer.to_vec();
    zeroed[RANDOM_AT..RANDOM_AT + 32].fill(0);
    let want = hmac(secret, &[client_random, &zeroed]);
    // Not secret-dependent timing worth hiding: the proxy already knows the secret.
    want[..] == got[..]
}

/// Random padding for the padded intermediate transport: 0..=15 bytes.
pub(crate) fn padding(rng: &mut impl RngCore) -> Vec<u8> {
    let mut pad = vec![0u8; rng.random_range(0..16)];
    rng.fill_bytes(&mut pad);
    pad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_layout_and_both_directions() {
        let secret = [7u8; 16];
        let mut rng = rand::rng();
        for _ in 0..200 {
            let (wire, mut c) = client_init(&secret, TAG_PADDED, -4, &mut rng);
            assert!(!forbidden(&wire));
            // The proxy's view: decrypt the init with the client's encrypt key.
            let mut proxy_dec = cipher(&wire[8..40], &secret, &wire[40..56]);
            let mut plain = wire;
            proxy_dec.apply_keystream(&mut plain);
            assert_eq!(plain[56..60], TAG_PADDED);
            assert_eq!(i16::from_le_bytes([plain[60], plain[61]]), -4);
            // Later bytes continue the same keystream.
            let mut data = *b"hello proxy";
            c.enc.apply(&mut data);
            proxy_dec.apply_keystream(&mut data);
            assert_eq!(&data, b"hello proxy");
            // And the proxy encrypts with the reversed init.
            let mut rev = [0u8; 48];
            rev.copy_from_slice(&wire[8..56]);
            rev.reverse();
            let mut proxy_enc = cipher(&rev[..32], &secret, &rev[32..]);
            let mut back = *b"hello client";
            proxy_enc.apply_keystream(&mut back);
            c.dec.apply(&mut back);
            assert_eq!(&back, b"hello client");
        }
    }

    #[test]
    fn forbidden_starts() {
        let mut init = [1u8; 64];
        assert!(!forbidden(&init));
        init[0] = 0xef;
        assert!(forbidden(&init));
        init[..4].copy_from_slice(b"POST");
        assert!(forbidden(&init));
        init[..4].copy_from_slice(&[1; 4]);
        init[4..8].fill(0);
        assert!(forbidden(&init));
    }

    #[test]
    fn hello_is_517_bytes_with_a_verifiable_random() {
        let secret = [9u8; 16];
        let (hello, random) = client_hello(&secret, "example.com", 0x0102_0304, &mut rand::rng());
        assert_eq!(hello.len(), 517);
        assert_eq!(&hello[..5], &[0x16, 0x03, 0x01, 0x02, 0x00]);
        let mut zeroed = hello.clone();
        zeroed[RANDOM_AT..RANDOM_AT + 32].fill(0);
        let mac = hmac(&secret, &[&zeroed]);
        assert_eq!(mac[..28], random[..28]);
        let ts: Vec<u8> = mac[28..]
            .iter()
            .zip(&random[28..])
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(
            u32::from_le_bytes([ts[0], ts[1], ts[2], ts[3]]),
            0x0102_0304
        );
    }
}
