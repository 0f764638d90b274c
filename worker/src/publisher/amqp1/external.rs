//! SASL EXTERNAL on an open TLS stream, so a client certificate alone logs the relay in.
//!
//! fe2o3-amqp sends EXTERNAL's `sasl-init` with no initial response, and RabbitMQ's AMQP 1.0
//! plugin drops such a connection. RFC 4422 (appendix A.1) has the client send its
//! authorization identity, empty to act as the certificate's own identity; Qpid Proton (the
//! reference's client) and RabbitMQ's own client send exactly that. So the relay negotiates
//! SASL itself, with fe2o3-amqp's frame codec, and hands fe2o3-amqp the authenticated stream.

use bytes::{BufMut, BytesMut};
use fe2o3_amqp::frames::sasl::{Frame, FrameCodec};
use fe2o3_amqp::types::primitives::{Binary, Symbol};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit};
use std::io::{Error, ErrorKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder};

/// The protocol header that opens a SASL layer (AMQP 1.0 section 5.3.1, protocol id 3).
const SASL_HEADER: [u8; 8] = *b"AMQP\x03\x01\x00\x00";

/// The mechanism: the identity the TLS layer established.
const EXTERNAL: &str = "EXTERNAL";

/// The largest SASL frame accepted; the spec guarantees 512 bytes, mechanism lists are short.
const MAX_FRAME: u32 = 64 * 1024;

/// Runs the SASL layer with the EXTERNAL mechanism; on return the broker expects the AMQP
/// protocol header next.
pub(super) async fn authenticate<S>(stream: &mut S) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&SASL_HEADER).await?;
    stream.flush().await?;
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).await?;
    if header != SASL_HEADER {
        return Err(refused(format!(
            "the broker answered the SASL header with {header:?}"
        )));
    }
    match read_frame(stream).await? {
        Frame::Mechanisms(offered) => {
            if !offered
                .sasl_server_mechanisms
                .0
                .contains(&Symbol::from(EXTERNAL))
            {
                return Err(refused(format!(
                    "the broker does not offer SASL EXTERNAL (it offers {:?}); enable \
                     certificate login there or put credentials in messaging_broker_urls",
                    offered.sasl_server_mechanisms.0
                )));
            }
        }
        other => return Err(refused(format!("expected sasl-mechanisms, got {other:?}"))),
    }
    let init = SaslInit {
        mechanism: Symbol::from(EXTERNAL),
        initial_response: Some(Binary::from(Vec::new())),
        hostname: None,
    };
    write_frame(stream, Frame::Init(init)).await?;
    match read_frame(stream).await? {
        Frame::Outcome(outcome) if outcome.code == SaslCode::Ok => Ok(()),
        Frame::Outcome(outcome) => Err(refused(format!(
            "the broker refused the client certificate ({:?})",
            outcome.code
        ))),
        other => Err(refused(format!("expected sasl-outcome, got {other:?}"))),
    }
}

fn refused(message: String) -> Error {
    Error::new(ErrorKind::PermissionDenied, message)
}

/// Reads one SASL frame: a 4-byte size (counting itself), then the frame's header and body.
async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Frame, Error> {
    let size = stream.read_u32().await?;
    if !(8..=MAX_FRAME).contains(&size) {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("SASL frame of {size} bytes"),
        ));
    }
    let mut body = vec![0u8; size as usize - 4];
    stream.read_exact(&mut body).await?;
    let mut body = BytesMut::from(&body[..]);
    FrameCodec {}
        .decode(&mut body)
        .map_err(|e| Error::new(ErrorKind::InvalidData, e.to_string()))?
        .ok_or_else(|| Error::new(ErrorKind::InvalidData, "empty SASL frame"))
}

async fn write_frame<S: AsyncWrite + Unpin>(stream: &mut S, frame: Frame) -> Result<(), Error> {
    let mut body = BytesMut::new();
    FrameCodec {}
        .encode(frame, &mut body)
        .map_err(|e| Error::new(ErrorKind::InvalidData, e.to_string()))?;
    let mut framed = BytesMut::with_capacity(body.len() + 4);
    framed.put_u32(u32::try_from(body.len() + 4).map_err(|e| Error::other(e.to_string()))?);
    framed.extend_from_slice(&body);
    stream.write_all(&framed).await?;
    stream.flush().await
}
