//! MTProto service types that grammers keeps private: message, msg_container, gzip_packed,
//! rpc_result; and the "raw query" that lets generic wrappers (invokeWithLayer, initConnection)
//! be deserialized without knowing what they wrap.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use grammers_tl_types::{self as tl, Cursor, Deserializable, Serializable};

pub const MSG_CONTAINER: u32 = 0x73f1f8dc;
pub const GZIP_PACKED: u32 = 0x3072cfa1;
pub const RPC_RESULT: u32 = 0xf35c6d01;
/// Replies larger than this are gzip-packed, as Telegram does, so clients' gunzip paths run.
pub const GZIP_REPLY_THRESHOLD: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The reason is in the message and is not a `source` too: `{:#}` would print it twice.
    #[error("truncated or malformed TL: {0}")]
    Tl(tl::deserialize::Error),
    #[error("gzip_packed payload does not inflate")]
    Gzip,
    #[error("message length {0} is out of range")]
    BadLength(i32),
}

impl From<tl::deserialize::Error> for WireError {
    fn from(e: tl::deserialize::Error) -> Self {
        WireError::Tl(e)
    }
}

/// `message msg_id:long seqno:int bytes:int body:Object`.
#[derive(Debug, Clone)]
pub struct Message {
    pub msg_id: i64,
    pub seq_no: i32,
    pub body: Vec<u8>,
}

impl Message {
    pub fn constructor(&self) -> Option<u32> {
        self.body
            .get(0..4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Odd seqno: the client expects an answer or an ack.
    pub fn is_content_related(&self) -> bool {
        self.seq_no % 2 == 1
    }

    fn read(buf: &mut Cursor) -> Result<Self, WireError> {
        let msg_id = i64::deserialize(buf)?;
        let seq_no = i32::deserialize(buf)?;
        let len = i32::deserialize(buf)?;
        if !(0..=(1 << 24)).contains(&len) {
            return Err(WireError::BadLength(len));
        }
        let mut body = vec![0; len as usize];
        buf.read_exact(&mut body)?;
        Ok(Message {
            msg_id,
            seq_no,
            body,
        })
    }
}

/// The decrypted plaintext of one client packet.
#[derive(Debug)]
pub struct Plaintext {
    pub salt: i64,
    pub session_id: i64,
    pub message: Message,
}

pub fn parse_plaintext(plain: &[u8]) -> Result<Plaintext, WireError> {
    let buf = &mut Cursor::from_slice(plain);
    let salt = i64::deserialize(buf)?;
    let session_id = i64::deserialize(buf)?;
    let message = Message::read(buf)?;
    Ok(Plaintext {
        salt,
        session_id,
        message,
    })
}

/// Flattens containers and inflates gzip_packed bodies, keeping each inner message's id.
pub fn flatten(message: Message, out: &mut Vec<Message>) -> Result<(), WireError> {
    match message.constructor() {
        Some(MSG_CONTAINER) => {
            let buf = &mut Cursor::from_slice(&message.body[4..]);
            let n = i32::deserialize(buf)?;
            for _ in 0..n.max(0) {
                flatten(Message::read(buf)?, out)?;
            }
            Ok(())
        }
        Some(GZIP_PACKED) => {
            let body = gunzip_packed(&message.body[4..])?;
            flatten(Message { body, ..message }, out)
        }
        _ => {
            out.push(message);
            Ok(())
        }
    }
}

/// Inflates the `packed_data:string` of a gzip_packed whose constructor was already read.
pub fn gunzip_packed(after_constructor: &[u8]) -> Result<Vec<u8>, WireError> {
    let packed = Vec::<u8>::from_bytes(after_constructor)?;
    let mut out = Vec::new();
    GzDecoder::new(&packed[..])
        .read_to_end(&mut out)
        .map_err(|_| WireError::Gzip)?;
    Ok(out)
}

pub fn gzip_packed(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let packed = enc
        .write_all(data)
        .and_then(|()| enc.finish())
        .expect("gzip into memory cannot fail");
    let mut out = Vec::with_capacity(packed.len() + 8);
    GZIP_PACKED.serialize(&mut out);
    packed.serialize(&mut out);
    out
}

/// `rpc_result#f35c6d01 req_msg_id:long result:Object`.
pub fn rpc_result(req_msg_id: i64, result: &[u8]) -> Vec<u8> {
    let packed;
    let result = if result.len() > GZIP_REPLY_THRESHOLD {
        packed = gzip_packed(result);
        &packed[..]
    } else {
        result
    };
    let mut out = Vec::with_capacity(12 + result.len());
    RPC_RESULT.serialize(&mut out);
    req_msg_id.serialize(&mut out);
    out.extend_from_slice(result);
    out
}

pub fn rpc_error(req_msg_id: i64, code: i32, message: &str) -> Vec<u8> {
    let err = tl::enums::RpcError::Error(tl::types::RpcError {
        error_code: code,
        error_message: message.to_owned(),
    });
    rpc_result(req_msg_id, &err.to_bytes())
}

/// The plaintext of one server packet: `salt ‖ session_id ‖ message`.
pub fn server_plaintext(salt: i64, session_id: i64, msg: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + msg.body.len());
    salt.serialize(&mut out);
    session_id.serialize(&mut out);
    msg.msg_id.serialize(&mut out);
    msg.seq_no.serialize(&mut out);
    (msg.body.len() as i32).serialize(&mut out);
    out.extend_from_slice(&msg.body);
    out
}

/// Whatever a generic wrapper wraps: the remaining bytes, undecoded.
#[derive(Debug, Clone)]
pub struct RawQuery(pub Vec<u8>);

impl Deserializable for RawQuery {
    fn deserialize(buf: &mut Cursor) -> tl::deserialize::Result<Self> {
        let mut rest = Vec::new();
        buf.read_to_end(&mut rest)?;
        Ok(RawQuery(rest))
    }
}

/// Reads a request's constructor id, then its fields.
pub fn decode<T: Deserializable>(body: &[u8]) -> Result<T, WireError> {
    let body = body.get(4..).ok_or(tl::deserialize::Error::UnexpectedEof)?;
    Ok(T::from_bytes(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trip() {
        let data: Vec<u8> = (0..4000u32).flat_map(|i| (i % 7).to_le_bytes()).collect();
        let packed = gzip_packed(&data);
        assert_eq!(&packed[..4], &GZIP_PACKED.to_le_bytes());
        assert_eq!(gunzip_packed(&packed[4..]).expect("inflates"), data);
    }

    #[test]
    fn containers_flatten_in_order() {
        let inner = |id: i64, body: &[u8]| {
            let mut v = Vec::new();
            id.serialize(&mut v);
            1i32.serialize(&mut v);
            (body.len() as i32).serialize(&mut v);
            v.extend_from_slice(body);
            v
        };
        let mut body = Vec::new();
        MSG_CONTAINER.serialize(&mut body);
        2i32.serialize(&mut body);
        body.extend(inner(4, &[1, 0, 0, 0]));
        body.extend(inner(8, &gzip_packed(&[2, 0, 0, 0])));
        let mut out = Vec::new();
        flatten(
            Message {
                msg_id: 12,
                seq_no: 2,
                body,
            },
            &mut out,
        )
        .expect("parses");
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].msg_id, out[0].constructor()), (4, Some(1)));
        assert_eq!((out[1].msg_id, out[1].constructor()), (8, Some(2)));
    }
}
