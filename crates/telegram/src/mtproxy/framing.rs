//! Re-framing between grammers' Full transport (length, seq, payload, CRC32) and the
//! (padded) intermediate transport inside the proxy connection. The MTProto payload itself
//! is never touched; padding is stripped back to the exact MTProto length.

/// Frames larger than this are a broken stream, not a message (Telegram's limit is far lower).
const MAX_FRAME: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FramingError {
    #[error("bad frame length {0}")]
    Length(i64),
    #[error("Full frame out of sequence: expected {expected}, got {got}")]
    Seq { expected: i32, got: i32 },
    #[error("Full frame with a bad CRC32")]
    Crc,
    #[error("a padded frame shorter than the MTProto message it claims to carry")]
    Truncated,
}

/// Grammers' side: one Full codec per connection (sequence numbers count per direction).
#[derive(Default)]
pub(crate) struct FullCodec {
    send_seq: i32,
    recv_seq: i32,
}

impl FullCodec {
    /// Takes one complete Full frame off the front of `buf`, returning its payload.
    pub(crate) fn decode(&mut self, buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, FramingError> {
        let Some(head) = buf.get(..4) else {
            return Ok(None);
        };
        let len = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let len = usize::try_from(len)
            .ok()
            .filter(|l| (12..=MAX_FRAME).contains(l) && l % 4 == 0)
            .ok_or(FramingError::Length(i64::from(len)))?;
        if buf.len() < len {
            return Ok(None);
        }
        let seq = i32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if seq != self.recv_seq {
            return Err(FramingError::Seq {
                expected: self.recv_seq,
                got: seq,
            });
        }
        let crc = u32::from_le_bytes([buf[len - 4], buf[len - 3], buf[len - 2], buf[len - 1]]);
        if crc32fast::hash(&buf[..len - 4]) != crc {
            return Err(FramingError::Crc);
        }
        self.recv_seq = self.recv_seq.wrapping_add(1);
        let payload = buf[8..len - 4].to_vec();
        buf.drain(..len);
        Ok(Some(payload))
    }

    /// Wraps one MTProto packet for grammers.
    pub(crate) fn encode(&mut self, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() + 12;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&self.send_seq.to_le_bytes());
        out.extend_from_slice(payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        self.send_seq = self.send_seq.wrapping_add(1);
        out
    }
}

/// One intermediate frame: length, payload, then `padding` (empty for plain intermediate).
pub(crate) fn intermediate(payload: &[u8], padding: &[u8]) -> Vec<u8> {
    let len = payload.len() + padding.len();
    let mut out = Vec::with_capacity(len + 4);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(padding);
    out
}

/// Takes one complete intermediate frame body off the front of `buf` (padding included).
pub(crate) fn take_intermediate(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, FramingError> {
    let Some(head) = buf.get(..4) else {
        return Ok(None);
    };
    // The top bit flags a quick ACK request; the rest is the length.
    let len = (u32::from_le_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff) as usize;
    if len > MAX_FRAME {
        return Err(FramingError::Length(len as i64));
    }
    if buf.len() < len + 4 {
        return Ok(None);
    }
    let body = buf[4..4 + len].to_vec();
    buf.drain(..4 + len);
    Ok(Some(body))
}

/// What a frame from the proxy carries once its padding is gone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unpadded<'a> {
    /// An MTProto packet of its exact length.
    Packet(&'a [u8]),
    /// A transport error (-404, -429, …): grammers' Full decoder reads a bare negative length.
    TransportError(i32),
}

/// Strips padding: encrypted packets are auth_key_id (8) + msg_key (16) + a multiple of 16;
/// unencrypted ones are 8 + msg_id (8) + length (4) + that many bytes; anything under 24
/// bytes is a transport error code.
pub(crate) fn unpad(frame: &[u8]) -> Result<Unpadded<'_>, FramingError> {
    if frame.len() < 24 {
        let code = frame
            .get(..4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .ok_or(FramingError::Length(frame.len() as i64))?;
        return Ok(Unpadded::TransportError(code));
    }
    let len = frame.len();
    let exact = if frame[..8] == [0; 8] {
        let data_len = u32::from_le_bytes([frame[16], frame[17], frame[18], frame[19]]) as usize;
        20usize
            .checked_add(data_len)
            .ok_or(FramingError::Truncated)?
    } else {
        len - (len - 24) % 16
    };
    frame
        .get(..exact)
        .map(Unpadded::Packet)
        .ok_or(FramingError::Truncated)
}

/// A transport error for grammers: just the negative code, as Full's decoder expects.
pub(crate) fn full_transport_error(code: i32) -> [u8; 4] {
    code.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_round_trip_with_seq_and_crc() {
        let mut a = FullCodec::default();
        let mut b = FullCodec::default();
        let mut wire = a.encode(&[1; 24]);
        wire.extend(a.encode(&[2; 40]));
        let tail = wire.split_off(wire.len() - 3);
        assert_eq!(b.decode(&mut wire).expect("ok"), Some(vec![1; 24]));
        assert_eq!(b.decode(&mut wire).expect("partial"), None);
        wire.extend(tail);
        assert_eq!(b.decode(&mut wire).expect("ok"), Some(vec![2; 40]));
        assert!(wire.is_empty());

        let mut bad = a.encode(&[3; 24]);
        bad[10] ^= 1;
        assert_eq!(b.decode(&mut bad), Err(FramingError::Crc));
        let mut skipped = FullCodec::default().encode(&[4; 24]);
        assert!(matches!(
            b.decode(&mut skipped),
            Err(FramingError::Seq { .. })
        ));
    }

    #[test]
    fn intermediate_split_across_reads() {
        let mut buf = intermediate(&[5; 24], &[9; 7]);
        buf.extend(intermediate(&[6; 4], &[]));
        let mut first = buf.drain(..10).collect::<Vec<_>>();
        assert_eq!(take_intermediate(&mut first).expect("ok"), None);
        first.extend(buf);
        let one = take_intermediate(&mut first).expect("ok").expect("frame");
        assert_eq!(one.len(), 31);
        assert_eq!(take_intermediate(&mut first).expect("ok"), Some(vec![6; 4]));
    }

    #[test]
    fn padding_is_stripped_to_the_mtproto_length() {
        // Encrypted: 24 + 32 bytes, padded by 0..=15.
        let mut enc = vec![1u8; 56];
        for pad in 0..16 {
            let mut frame = enc.clone();
            frame.extend(std::iter::repeat_n(0xaa, pad));
            assert_eq!(unpad(&frame), Ok(Unpadded::Packet(&enc[..])));
        }
        // Unencrypted: auth_key_id 0, msg_id, length 20, body.
        enc.clear();
        enc.extend([0u8; 8]);
        enc.extend([7u8; 8]);
        enc.extend(20u32.to_le_bytes());
        enc.extend([3u8; 20]);
        let mut frame = enc.clone();
        frame.extend([0xbb; 13]);
        assert_eq!(unpad(&frame), Ok(Unpadded::Packet(&enc[..])));
        // A transport error, with or without padding.
        let mut err = (-404i32).to_le_bytes().to_vec();
        assert_eq!(unpad(&err), Ok(Unpadded::TransportError(-404)));
        err.extend([1; 15]);
        assert_eq!(unpad(&err), Ok(Unpadded::TransportError(-404)));
        assert_eq!(full_transport_error(-404), (-404i32).to_le_bytes());
        // A claimed length past the frame.
        let mut short = vec![0u8; 16];
        short.extend(100u32.to_le_bytes());
        short.extend([0; 8]);
        assert_eq!(unpad(&short), Err(FramingError::Truncated));
    }
}
