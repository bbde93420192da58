//! The cluster bus wire format of Redis 7.0 (`clusterMsg` in Redis's `cluster.h`), byte for byte.
//!
//! Every packet is a fixed 2256-byte header followed by a type-specific body; all integers are
//! big-endian. `decode` accepts exactly what Redis 7.0.15's `clusterProcessPacket` sanity checks
//! accept (signature, version, per-type exact length, gossip count, extension lengths), with a
//! few deliberate tightenings where Redis itself would read past the packet (each is named at the
//! check). `encode` produces what Redis's senders produce. `frame` tells a connection how many
//! buffered bytes it needs before a whole packet is there, as Redis's `clusterReadHandler` does.
//!
//! Nothing here allocates more than the bytes it was given (decode) or the message it was given
//! (encode): a peer cannot make us allocate by lying about a length.

use thiserror::Error;

use crate::types::{NodeFlags, NodeName, SlotBitmap, NODE_NAME_LEN, SLOT_BITMAP_LEN};

/// Length of the fixed header (`CLUSTERMSG_MIN_LEN`): the smallest packet Redis reads.
pub const HEADER_LEN: usize = 2256;
/// Length of one gossip entry (`clusterMsgDataGossip`).
pub const GOSSIP_ENTRY_LEN: usize = 104;
/// Length of the IP fields (`NET_IP_STR_LEN`: an IPv6 text address and its NUL).
pub const IP_FIELD_LEN: usize = 46;
/// The only protocol version Redis 7.0 accepts (`CLUSTER_PROTO_VER`).
pub const PROTO_VER: u16 = 1;
/// The signature every packet starts with ("Redis Cluster message bus").
pub const SIGNATURE: [u8; 4] = *b"RCmb";
/// Length of a ping extension's own header (`clusterMsgPingExt` without its data).
pub const PING_EXT_HEADER_LEN: usize = 8;

/// Default bound on a packet's length for `frame`.
///
/// Redis itself has none: it trusts `totlen` up to 4 GiB and grows the buffer as bytes arrive.
/// We bound it so one peer cannot hold gigabytes of our memory with one header. The largest
/// packets a real 7.0 node sends are PUBLISH/PUBLISHSHARD carrying a client's message, and a
/// default-configured Redis refuses a client's query past `client-query-buffer-limit` (1 GiB), so
/// 1 GiB loses nothing a default Redis can send. (Rejected alternative: the largest PING,
/// 2256 + 65535 × 104 bytes, which would break PUBLISH of large messages.)
pub const DEFAULT_MAX_PACKET_LEN_BYTES: u32 = 1 << 30;

/// Message type numbers (`CLUSTERMSG_TYPE_*`).
pub mod msg_type {
    pub const PING: u16 = 0;
    pub const PONG: u16 = 1;
    pub const MEET: u16 = 2;
    pub const FAIL: u16 = 3;
    pub const PUBLISH: u16 = 4;
    pub const FAILOVER_AUTH_REQUEST: u16 = 5;
    pub const FAILOVER_AUTH_ACK: u16 = 6;
    pub const UPDATE: u16 = 7;
    pub const MFSTART: u16 = 8;
    pub const MODULE: u16 = 9;
    pub const PUBLISHSHARD: u16 = 10;
}

/// Bits of `mflags[0]` (`CLUSTERMSG_FLAG0_*`).
pub mod mflag0 {
    /// The sending master is paused for a manual failover.
    pub const PAUSED: u8 = 1;
    /// Vote for this FAILOVER_AUTH_REQUEST even though the master is not failed (manual failover).
    pub const FORCEACK: u8 = 2;
    /// Ping extensions follow the gossip section.
    pub const EXT_DATA: u8 = 4;
}

/// Ping extension type numbers (`clusterMsgPingtypes`). Redis 7.0.15 knows only HOSTNAME; 7.2
/// added HUMAN_NODENAME (1), FORGOTTEN_NODE (2) and SHARDID (3), which 7.0 logs and ignores, and
/// which we carry as `PingExt::Other`.
pub mod ext_type {
    pub const HOSTNAME: u16 = 0;
}

/// A fixed 46-byte IP field as it travels (`myip` in the header, `ip` in gossip entries):
/// NUL-terminated text, all zeros meaning "not announced".
///
/// Raw bytes rather than a `String` so a packet re-encodes byte for byte even when a peer left
/// bytes after the NUL; `text()` is what Redis reads from it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpField(pub [u8; IP_FIELD_LEN]);

impl Default for IpField {
    fn default() -> Self {
        IpField([0; IP_FIELD_LEN])
    }
}

impl IpField {
    /// `None` if `ip` does not fit with its terminating NUL.
    pub fn new(ip: &str) -> Option<IpField> {
        let bytes = ip.as_bytes();
        if bytes.len() >= IP_FIELD_LEN || bytes.contains(&0) {
            return None;
        }
        let mut field = [0; IP_FIELD_LEN];
        field[..bytes.len()].copy_from_slice(bytes);
        Some(IpField(field))
    }

    /// The bytes before the first NUL (all 46 if there is none).
    pub fn text(&self) -> &[u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(IP_FIELD_LEN);
        &self.0[..end]
    }
}

impl std::fmt::Debug for IpField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IpField({:?})", String::from_utf8_lossy(self.text()))
    }
}

/// The fixed header every packet carries: who sends it and what it believes about itself.
///
/// Not carried: `sig`, `totlen`, `ver`, `type`, `count`, `extensions` (all derived from the
/// message when encoding) and the reserved `notused1` bytes (encoded as zeros, as Redis does).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Header {
    /// Announced client port (the TLS port when the bus runs TLS).
    pub port: u16,
    pub current_epoch: u64,
    /// The sender's configEpoch, or its master's when the sender is a replica.
    pub config_epoch: u64,
    /// Replication offset: `master_repl_offset` of a master, the processed offset of a replica.
    pub repl_offset: u64,
    pub sender: NodeName,
    /// The sender's slots, or its master's when the sender is a replica.
    pub myslots: Box<SlotBitmap>,
    /// The sender's master; `None` travels as 40 zero bytes. Never `Some(NodeName::NULL)`.
    pub replicaof: Option<NodeName>,
    /// `cluster-announce-ip`; all zeros asks the receiver to use the socket's peer address.
    pub myip: IpField,
    /// Plaintext client port when `port` is the TLS one, else 0.
    pub pport: u16,
    /// Announced cluster bus port.
    pub cport: u16,
    pub flags: NodeFlags,
    /// The sender's view of the cluster: 0 = ok, 1 = fail.
    pub state: u8,
    /// Message flags; `mflags[0]` holds the `mflag0` bits. `EXT_DATA` is also set by `encode`
    /// whenever a PING/PONG/MEET carries extensions.
    pub mflags: [u8; 3],
}

/// One gossip entry: what the sender knows about some other node.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GossipEntry {
    pub node: NodeName,
    /// When the sender last pinged the node, in seconds (Redis sends milliseconds / 1000).
    pub ping_sent_s: u32,
    /// When the sender last got a PONG from the node, in seconds.
    pub pong_received_s: u32,
    pub ip: IpField,
    pub port: u16,
    pub cport: u16,
    pub flags: NodeFlags,
    pub pport: u16,
}

/// A ping extension (after the gossip section of PING/PONG/MEET when `EXT_DATA` is set).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PingExt {
    /// `cluster-announce-hostname`: the bytes before the NUL (travels NUL-terminated, padded to 8).
    Hostname(Vec<u8>),
    /// A type 7.0 does not know (7.2's human nodename, forgotten node, shard id, ...): kept so it
    /// can be passed over, as 7.0 does. `data` is everything after the 8-byte extension header;
    /// `encode` pads it with zeros to a multiple of 8.
    Other { ext_type: u16, data: Vec<u8> },
}

/// The body of a PING, PONG or MEET.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PingBody {
    pub gossip: Vec<GossipEntry>,
    pub extensions: Vec<PingExt>,
}

/// What follows the header, by message type.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Body {
    Ping(PingBody),
    Pong(PingBody),
    Meet(PingBody),
    /// The sender has marked `node` as FAIL.
    Fail {
        node: NodeName,
    },
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    PublishShard {
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    FailoverAuthRequest,
    FailoverAuthAck,
    /// `node` owns `slots` at `config_epoch` (sent to a peer whose view is stale).
    Update {
        config_epoch: u64,
        node: NodeName,
        slots: Box<SlotBitmap>,
    },
    /// A master's replica asks it to pause for a manual failover.
    MfStart,
    /// Module cluster API message. `module_id` is opaque bytes in the module's own byte order.
    Module {
        module_id: [u8; 8],
        module_type: u8,
        payload: Vec<u8>,
    },
    /// A type Redis 7.0 does not know (`msg_type` 11 or more; a smaller one would encode as a
    /// known type). Redis accepts it as "well formed" and ignores it; we keep the bytes after the
    /// header so the caller can do the same.
    Unknown {
        msg_type: u16,
        data: Vec<u8>,
    },
}

impl Body {
    /// The `type` field this body travels with.
    pub fn msg_type(&self) -> u16 {
        match self {
            Body::Ping(_) => msg_type::PING,
            Body::Pong(_) => msg_type::PONG,
            Body::Meet(_) => msg_type::MEET,
            Body::Fail { .. } => msg_type::FAIL,
            Body::Publish { .. } => msg_type::PUBLISH,
            Body::PublishShard { .. } => msg_type::PUBLISHSHARD,
            Body::FailoverAuthRequest => msg_type::FAILOVER_AUTH_REQUEST,
            Body::FailoverAuthAck => msg_type::FAILOVER_AUTH_ACK,
            Body::Update { .. } => msg_type::UPDATE,
            Body::MfStart => msg_type::MFSTART,
            Body::Module { .. } => msg_type::MODULE,
            Body::Unknown { msg_type, .. } => *msg_type,
        }
    }
}

/// One cluster bus packet.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    pub header: Header,
    pub body: Body,
}

/// Why bytes are not a packet we accept, or a message cannot be encoded.
///
/// For the server: `BadSignature` and `TooShort` from `frame` are the cases where Redis closes the
/// link; every other decode error is a packet Redis ignores while keeping the link.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BusError {
    #[error("bad cluster bus signature (expected \"RCmb\")")]
    BadSignature,
    #[error("cluster bus packet length {totlen} is below the {HEADER_LEN}-byte header")]
    TooShort { totlen: u64 },
    #[error("cluster bus packet length {totlen} exceeds the limit of {max} bytes")]
    TooLong { totlen: u64, max: u64 },
    #[error("cluster bus packet says {totlen} bytes but {available} were given")]
    LengthMismatch { totlen: u64, available: u64 },
    #[error("unsupported cluster bus protocol version {0}")]
    BadVersion(u16),
    #[error("cluster bus packet of type {msg_type} has length {totlen}, expected {expected}")]
    BadLength { msg_type: u16, totlen: u64, expected: u64 },
    #[error("ping extension of {len} bytes is not a positive multiple of 8")]
    ExtensionPadding { len: u32 },
    #[error("ping extension of {len} bytes runs past the end of the packet")]
    ExtensionOverrun { len: u32 },
    #[error("packet carries {count} extensions without the EXT_DATA flag")]
    ExtensionsWithoutFlag { count: u16 },
    #[error("hostname ping extension has no terminating NUL")]
    HostnameNotTerminated,
    #[error("{what} is too large to encode")]
    TooLarge { what: &'static str },
}

/// What a connection's receive buffer holds, per `frame`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Framing {
    /// No whole packet yet: read until the buffer holds `total_len` bytes, then ask again.
    NeedMore { total_len: usize },
    /// The first `packet_len` bytes are one whole packet, ready for `decode`.
    Ready { packet_len: usize },
}

/// Says how much of a buffered stream is the next packet, as `clusterReadHandler` does: the first
/// 8 bytes carry the signature and the total length; a bad signature, a length below the header
/// (both close the link in Redis) or above `max_packet_len_bytes` (our own bound, see
/// `DEFAULT_MAX_PACKET_LEN_BYTES`) is an error. Never looks past the first 8 bytes.
pub fn frame(buf: &[u8], max_packet_len_bytes: u32) -> Result<Framing, BusError> {
    // A wrong signature is reported as soon as its first wrong byte is here, not only at 8 bytes:
    // Redis would close the link a little later on the same input, so nothing valid is lost.
    let sig_seen = buf.len().min(SIGNATURE.len());
    if buf[..sig_seen] != SIGNATURE[..sig_seen] {
        return Err(BusError::BadSignature);
    }
    let Some(len_bytes) = buf.get(4..8) else {
        return Ok(Framing::NeedMore { total_len: 8 });
    };
    let totlen = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    if (totlen as usize) < HEADER_LEN {
        return Err(BusError::TooShort { totlen: totlen.into() });
    }
    if totlen > max_packet_len_bytes {
        return Err(BusError::TooLong { totlen: totlen.into(), max: max_packet_len_bytes.into() });
    }
    let totlen = totlen as usize;
    if buf.len() >= totlen {
        Ok(Framing::Ready { packet_len: totlen })
    } else {
        Ok(Framing::NeedMore { total_len: totlen })
    }
}

/// A bounds-checked big-endian reader over one packet. Every read either returns the bytes or
/// `None`; decode turns `None` into a length error, so nothing can read past the packet.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    fn name(&mut self) -> Option<NodeName> {
        self.array().map(NodeName)
    }
}

/// The header fields decode needs to check the body, besides `Header` itself.
struct RawHeader {
    totlen: u32,
    msg_type: u16,
    count: u16,
    extensions: u16,
    header: Header,
}

fn read_header(r: &mut Reader<'_>) -> Option<RawHeader> {
    let _sig = r.bytes(4)?;
    let totlen = r.u32()?;
    let _ver = r.u16()?;
    let port = r.u16()?;
    let msg_type = r.u16()?;
    let count = r.u16()?;
    let current_epoch = r.u64()?;
    let config_epoch = r.u64()?;
    let repl_offset = r.u64()?;
    let sender = r.name()?;
    let myslots = Box::new(SlotBitmap(r.array()?));
    let replicaof = r.name()?;
    let myip = IpField(r.array()?);
    let extensions = r.u16()?;
    let _notused1 = r.bytes(30)?;
    let pport = r.u16()?;
    let cport = r.u16()?;
    let flags = NodeFlags(r.u16()?);
    let state = r.u8()?;
    let mflags = r.array()?;
    let header = Header {
        port,
        current_epoch,
        config_epoch,
        repl_offset,
        sender,
        myslots,
        replicaof: (!replicaof.is_null()).then_some(replicaof),
        myip,
        pport,
        cport,
        flags,
        state,
        mflags,
    };
    Some(RawHeader { totlen, msg_type, count, extensions, header })
}

/// Decodes one whole packet (`buf` must be exactly `totlen` bytes, as `frame` delimits them).
///
/// Accepts what Redis 7.0.15's `clusterProcessPacket` accepts before acting on a packet, except
/// where Redis would read outside the packet; those cases are errors here and named below.
pub fn decode(buf: &[u8]) -> Result<Message, BusError> {
    if buf.len() < 8 {
        return Err(BusError::LengthMismatch { totlen: 0, available: buf.len() as u64 });
    }
    if buf[..4] != SIGNATURE {
        return Err(BusError::BadSignature);
    }
    let totlen = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if totlen as usize != buf.len() {
        return Err(BusError::LengthMismatch { totlen: totlen.into(), available: buf.len() as u64 });
    }
    // Redis's packet check only asks for 16 bytes, but its reader never hands over a packet
    // shorter than the header, so nothing shorter is ever processed.
    if buf.len() < HEADER_LEN {
        return Err(BusError::TooShort { totlen: totlen.into() });
    }
    let ver = u16::from_be_bytes([buf[8], buf[9]]);
    if ver != PROTO_VER {
        return Err(BusError::BadVersion(ver));
    }
    let mut r = Reader { buf, pos: 0 };
    let raw = read_header(&mut r).ok_or(BusError::TooShort { totlen: totlen.into() })?;
    let RawHeader { totlen, msg_type, count, extensions, header } = raw;
    let totlen = u64::from(totlen);
    let bad_length = |expected: u64| BusError::BadLength { msg_type, totlen, expected };
    // Lengths are computed in u64: Redis computes them in u32, where a huge PUBLISH or MODULE
    // length wraps around and passes the check, and the body is then read past the packet.
    let body = match msg_type {
        msg_type::PING | msg_type::PONG | msg_type::MEET => {
            let ping = decode_ping_body(&mut r, header.mflags[0], count, extensions, totlen, msg_type)?;
            match msg_type {
                msg_type::PING => Body::Ping(ping),
                msg_type::PONG => Body::Pong(ping),
                _ => Body::Meet(ping),
            }
        }
        msg_type::FAIL => {
            let expected = (HEADER_LEN + NODE_NAME_LEN) as u64;
            if totlen != expected {
                return Err(bad_length(expected));
            }
            Body::Fail { node: r.name().ok_or(bad_length(expected))? }
        }
        msg_type::PUBLISH | msg_type::PUBLISHSHARD => {
            let channel_len = r.u32().ok_or(bad_length(HEADER_LEN as u64 + 8))?;
            let message_len = r.u32().ok_or(bad_length(HEADER_LEN as u64 + 8))?;
            let expected = HEADER_LEN as u64 + 8 + u64::from(channel_len) + u64::from(message_len);
            if totlen != expected {
                return Err(bad_length(expected));
            }
            let channel = r.bytes(channel_len as usize).ok_or(bad_length(expected))?.to_vec();
            let message = r.bytes(message_len as usize).ok_or(bad_length(expected))?.to_vec();
            if msg_type == msg_type::PUBLISH {
                Body::Publish { channel, message }
            } else {
                Body::PublishShard { channel, message }
            }
        }
        msg_type::FAILOVER_AUTH_REQUEST | msg_type::FAILOVER_AUTH_ACK | msg_type::MFSTART => {
            if totlen != HEADER_LEN as u64 {
                return Err(bad_length(HEADER_LEN as u64));
            }
            match msg_type {
                msg_type::FAILOVER_AUTH_REQUEST => Body::FailoverAuthRequest,
                msg_type::FAILOVER_AUTH_ACK => Body::FailoverAuthAck,
                _ => Body::MfStart,
            }
        }
        msg_type::UPDATE => {
            let expected = (HEADER_LEN + 8 + NODE_NAME_LEN + SLOT_BITMAP_LEN) as u64;
            if totlen != expected {
                return Err(bad_length(expected));
            }
            let config_epoch = r.u64().ok_or(bad_length(expected))?;
            let node = r.name().ok_or(bad_length(expected))?;
            let slots = Box::new(SlotBitmap(r.array().ok_or(bad_length(expected))?));
            Body::Update { config_epoch, node, slots }
        }
        msg_type::MODULE => {
            let fixed = HEADER_LEN as u64 + 13;
            let module_id = r.array().ok_or(bad_length(fixed))?;
            let len = r.u32().ok_or(bad_length(fixed))?;
            let module_type = r.u8().ok_or(bad_length(fixed))?;
            let expected = fixed + u64::from(len);
            if totlen != expected {
                return Err(bad_length(expected));
            }
            let payload = r.bytes(len as usize).ok_or(bad_length(expected))?.to_vec();
            Body::Module { module_id, module_type, payload }
        }
        _ => Body::Unknown { msg_type, data: buf[HEADER_LEN..].to_vec() },
    };
    Ok(Message { header, body })
}

/// The body of PING/PONG/MEET: `count` gossip entries, then (only with `EXT_DATA`) `extensions`
/// extensions; the packet must end exactly there.
fn decode_ping_body(
    r: &mut Reader<'_>,
    mflags0: u8,
    count: u16,
    extensions: u16,
    totlen: u64,
    msg_type: u16,
) -> Result<PingBody, BusError> {
    let gossip_end = (HEADER_LEN + usize::from(count) * GOSSIP_ENTRY_LEN) as u64;
    let mut expected = gossip_end;
    if totlen < gossip_end {
        return Err(BusError::BadLength { msg_type, totlen, expected });
    }
    let mut gossip = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        gossip.push(read_gossip(r).ok_or(BusError::BadLength { msg_type, totlen, expected })?);
    }
    let mut exts = Vec::new();
    if mflags0 & mflag0::EXT_DATA != 0 {
        for _ in 0..extensions {
            // Redis reads the 8-byte extension header without checking that it lies inside the
            // packet; we require it to.
            let overrun = BusError::ExtensionOverrun { len: PING_EXT_HEADER_LEN as u32 };
            let len = r.u32().ok_or(overrun.clone())?;
            let ext_type = r.u16().ok_or(overrun.clone())?;
            let _unused = r.u16().ok_or(overrun)?;
            // Redis only asks for a multiple of 8, so a 0-length extension passes there and is
            // then processed again and again in place; a length below the header is refused here.
            if len % 8 != 0 || (len as usize) < PING_EXT_HEADER_LEN {
                return Err(BusError::ExtensionPadding { len });
            }
            // Redis compares a u16-truncated length; we compare the whole u32.
            if totlen - expected < u64::from(len) {
                return Err(BusError::ExtensionOverrun { len });
            }
            expected += u64::from(len);
            let data = r.bytes(len as usize - PING_EXT_HEADER_LEN).ok_or(BusError::ExtensionOverrun { len })?;
            exts.push(match ext_type {
                // Redis takes the hostname as a C string starting at the data and never checks it
                // ends inside the extension; we require the NUL there.
                ext_type::HOSTNAME => {
                    let end = data.iter().position(|&b| b == 0).ok_or(BusError::HostnameNotTerminated)?;
                    PingExt::Hostname(data[..end].to_vec())
                }
                _ => PingExt::Other { ext_type, data: data.to_vec() },
            });
        }
    } else if extensions != 0 {
        // Redis skips the length check for extensions without EXT_DATA but still walks
        // `extensions` of them afterwards, over bytes it never validated. No Redis sends this.
        return Err(BusError::ExtensionsWithoutFlag { count: extensions });
    }
    if totlen != expected {
        return Err(BusError::BadLength { msg_type, totlen, expected });
    }
    Ok(PingBody { gossip, extensions: exts })
}

fn read_gossip(r: &mut Reader<'_>) -> Option<GossipEntry> {
    let entry = GossipEntry {
        node: r.name()?,
        ping_sent_s: r.u32()?,
        pong_received_s: r.u32()?,
        ip: IpField(r.array()?),
        port: r.u16()?,
        cport: r.u16()?,
        flags: NodeFlags(r.u16()?),
        pport: r.u16()?,
    };
    let _notused = r.u16()?;
    Some(entry)
}

fn padded_len(len: usize) -> usize {
    len.div_ceil(8) * 8
}

fn ext_encoded_len(ext: &PingExt) -> usize {
    PING_EXT_HEADER_LEN
        + match ext {
            PingExt::Hostname(name) => padded_len(name.len() + 1),
            PingExt::Other { data, .. } => padded_len(data.len()),
        }
}

/// Encodes a message as Redis's senders lay it out (reserved bytes zero, `EXT_DATA` set when
/// extensions are present, hostnames NUL-terminated and zero-padded to 8 bytes).
///
/// Errors only when a count or length does not fit its wire field (more than 65535 gossip
/// entries, a packet over 4 GiB, ...).
pub fn encode(msg: &Message) -> Result<Vec<u8>, BusError> {
    let mut count = 0u16;
    let mut extensions = 0u16;
    let mut mflags = msg.header.mflags;
    let body_len = match &msg.body {
        Body::Ping(p) | Body::Pong(p) | Body::Meet(p) => {
            count = u16::try_from(p.gossip.len()).map_err(|_| BusError::TooLarge { what: "gossip count" })?;
            extensions =
                u16::try_from(p.extensions.len()).map_err(|_| BusError::TooLarge { what: "extension count" })?;
            if !p.extensions.is_empty() {
                mflags[0] |= mflag0::EXT_DATA;
            }
            p.gossip.len() * GOSSIP_ENTRY_LEN + p.extensions.iter().map(ext_encoded_len).sum::<usize>()
        }
        Body::Fail { .. } => NODE_NAME_LEN,
        Body::Publish { channel, message } | Body::PublishShard { channel, message } => {
            8 + channel.len() + message.len()
        }
        Body::FailoverAuthRequest | Body::FailoverAuthAck | Body::MfStart => 0,
        Body::Update { .. } => 8 + NODE_NAME_LEN + SLOT_BITMAP_LEN,
        Body::Module { payload, .. } => 13 + payload.len(),
        Body::Unknown { data, .. } => data.len(),
    };
    let totlen = u32::try_from(HEADER_LEN + body_len).map_err(|_| BusError::TooLarge { what: "packet" })?;
    let mut out = Vec::with_capacity(totlen as usize);
    let h = &msg.header;
    out.extend_from_slice(&SIGNATURE);
    out.extend_from_slice(&totlen.to_be_bytes());
    out.extend_from_slice(&PROTO_VER.to_be_bytes());
    out.extend_from_slice(&h.port.to_be_bytes());
    out.extend_from_slice(&msg.body.msg_type().to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&h.current_epoch.to_be_bytes());
    out.extend_from_slice(&h.config_epoch.to_be_bytes());
    out.extend_from_slice(&h.repl_offset.to_be_bytes());
    out.extend_from_slice(h.sender.as_bytes());
    out.extend_from_slice(&h.myslots.0);
    out.extend_from_slice(h.replicaof.unwrap_or(NodeName::NULL).as_bytes());
    out.extend_from_slice(&h.myip.0);
    out.extend_from_slice(&extensions.to_be_bytes());
    out.extend_from_slice(&[0; 30]);
    out.extend_from_slice(&h.pport.to_be_bytes());
    out.extend_from_slice(&h.cport.to_be_bytes());
    out.extend_from_slice(&h.flags.0.to_be_bytes());
    out.push(h.state);
    out.extend_from_slice(&mflags);
    debug_assert_eq!(out.len(), HEADER_LEN);
    match &msg.body {
        Body::Ping(p) | Body::Pong(p) | Body::Meet(p) => {
            for g in &p.gossip {
                out.extend_from_slice(g.node.as_bytes());
                out.extend_from_slice(&g.ping_sent_s.to_be_bytes());
                out.extend_from_slice(&g.pong_received_s.to_be_bytes());
                out.extend_from_slice(&g.ip.0);
                out.extend_from_slice(&g.port.to_be_bytes());
                out.extend_from_slice(&g.cport.to_be_bytes());
                out.extend_from_slice(&g.flags.0.to_be_bytes());
                out.extend_from_slice(&g.pport.to_be_bytes());
                out.extend_from_slice(&[0; 2]);
            }
            for ext in &p.extensions {
                let len = ext_encoded_len(ext);
                let start = out.len();
                // Fits: the whole packet's length was checked against u32 above.
                out.extend_from_slice(&(len as u32).to_be_bytes());
                let (ext_type, data): (u16, &[u8]) = match ext {
                    PingExt::Hostname(name) => (ext_type::HOSTNAME, name),
                    PingExt::Other { ext_type, data } => (*ext_type, data),
                };
                out.extend_from_slice(&ext_type.to_be_bytes());
                out.extend_from_slice(&[0; 2]);
                out.extend_from_slice(data);
                out.resize(start + len, 0);
            }
        }
        Body::Fail { node } => out.extend_from_slice(node.as_bytes()),
        Body::Publish { channel, message } | Body::PublishShard { channel, message } => {
            // Both fit in u32: their sum with the header does.
            out.extend_from_slice(&(channel.len() as u32).to_be_bytes());
            out.extend_from_slice(&(message.len() as u32).to_be_bytes());
            out.extend_from_slice(channel);
            out.extend_from_slice(message);
        }
        Body::FailoverAuthRequest | Body::FailoverAuthAck | Body::MfStart => {}
        Body::Update { config_epoch, node, slots } => {
            out.extend_from_slice(&config_epoch.to_be_bytes());
            out.extend_from_slice(node.as_bytes());
            out.extend_from_slice(&slots.0);
        }
        Body::Module { module_id, module_type, payload } => {
            out.extend_from_slice(module_id);
            out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            out.push(*module_type);
            out.extend_from_slice(payload);
        }
        Body::Unknown { data, .. } => out.extend_from_slice(data),
    }
    debug_assert_eq!(out.len(), totlen as usize);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        let mut myslots = Box::<SlotBitmap>::default();
        myslots.set(0, true);
        myslots.set(16383, true);
        Header {
            port: 7000,
            current_epoch: 5,
            config_epoch: 3,
            repl_offset: 1234,
            sender: NodeName(*b"95ab6ceec892e7a93825b09c25aae48684be1e96"),
            myslots,
            replicaof: None,
            myip: IpField::default(),
            pport: 0,
            cport: 17000,
            flags: NodeFlags::MASTER.union(NodeFlags::MYSELF),
            state: 0,
            mflags: [0; 3],
        }
    }

    #[test]
    fn header_fields_land_at_redis_offsets() {
        let msg = Message { header: header(), body: Body::FailoverAuthAck };
        let bytes = encode(&msg).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(&bytes[0..4], b"RCmb");
        assert_eq!(&bytes[4..8], &2256u32.to_be_bytes());
        assert_eq!(&bytes[8..10], &[0, 1]);
        assert_eq!(&bytes[10..12], &7000u16.to_be_bytes());
        assert_eq!(&bytes[12..14], &6u16.to_be_bytes());
        assert_eq!(&bytes[16..24], &5u64.to_be_bytes());
        assert_eq!(&bytes[24..32], &3u64.to_be_bytes());
        assert_eq!(&bytes[32..40], &1234u64.to_be_bytes());
        assert_eq!(&bytes[40..80], b"95ab6ceec892e7a93825b09c25aae48684be1e96");
        assert_eq!(bytes[80], 1);
        assert_eq!(bytes[2127], 0x80);
        assert_eq!(&bytes[2128..2168], &[0; 40]);
        assert_eq!(&bytes[2248..2250], &17000u16.to_be_bytes());
        assert_eq!(&bytes[2250..2252], &0x11u16.to_be_bytes());
        assert_eq!(decode(&bytes).unwrap(), msg);
    }

    #[test]
    fn hostname_extension_is_nul_terminated_and_padded() {
        // Redis 7.0.15 sent exactly this for `cluster-announce-hostname node-7101.local`.
        let ping = PingBody { gossip: vec![], extensions: vec![PingExt::Hostname(b"node-7101.local".to_vec())] };
        let msg = Message { header: header(), body: Body::Pong(ping) };
        let bytes = encode(&msg).unwrap();
        let mut expected = vec![0, 0, 0, 0x18, 0, 0, 0, 0];
        expected.extend_from_slice(b"node-7101.local\0");
        assert_eq!(&bytes[HEADER_LEN..], &expected[..]);
        assert_eq!(bytes[2253], mflag0::EXT_DATA);
        assert_eq!(&bytes[2214..2216], &[0, 1]);
        let mut again = msg.clone();
        again.header.mflags[0] = mflag0::EXT_DATA;
        assert_eq!(decode(&bytes).unwrap(), again);
        // A hostname of a multiple of 8 bytes needs a whole word more for its NUL.
        let ping = PingBody { gossip: vec![], extensions: vec![PingExt::Hostname(b"node-a.x".to_vec())] };
        let bytes = encode(&Message { header: header(), body: Body::Ping(ping) }).unwrap();
        assert_eq!(&bytes[HEADER_LEN..HEADER_LEN + 4], &24u32.to_be_bytes());
        assert_eq!(&bytes[HEADER_LEN + 8..], b"node-a.x\0\0\0\0\0\0\0\0");
    }

    #[test]
    fn lengths_are_checked_per_type() {
        let mut bytes = encode(&Message { header: header(), body: Body::Fail { node: NodeName::NULL } }).unwrap();
        assert_eq!(bytes.len(), 2296);
        bytes.push(0);
        bytes[4..8].copy_from_slice(&2297u32.to_be_bytes());
        assert_eq!(decode(&bytes), Err(BusError::BadLength { msg_type: 3, totlen: 2297, expected: 2296 }));
        // A PUBLISH whose lengths wrap around in u32 arithmetic is refused, not read past.
        let mut publish = encode(&Message {
            header: header(),
            body: Body::Publish { channel: b"ch".to_vec(), message: b"hello".to_vec() },
        })
        .unwrap();
        publish[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode(&publish), Err(BusError::BadLength { .. })));
        // Unknown types are accepted with whatever body they carry, as Redis does.
        let mut unknown = encode(&Message { header: header(), body: Body::MfStart }).unwrap();
        unknown[12..14].copy_from_slice(&99u16.to_be_bytes());
        unknown.extend_from_slice(b"abc");
        unknown[4..8].copy_from_slice(&2259u32.to_be_bytes());
        assert_eq!(decode(&unknown).unwrap().body, Body::Unknown { msg_type: 99, data: b"abc".to_vec() });
    }

    #[test]
    fn bad_extensions_are_refused() {
        let ping = PingBody { gossip: vec![], extensions: vec![PingExt::Other { ext_type: 3, data: vec![7; 40] }] };
        let good = encode(&Message { header: header(), body: Body::Ping(ping) }).unwrap();
        let mut unpadded = good.clone();
        unpadded[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&47u32.to_be_bytes());
        assert_eq!(decode(&unpadded), Err(BusError::ExtensionPadding { len: 47 }));
        let mut zero = good.clone();
        zero[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(decode(&zero), Err(BusError::ExtensionPadding { len: 0 }));
        let mut long = good.clone();
        long[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&(65536u32 + 48).to_be_bytes());
        assert_eq!(decode(&long), Err(BusError::ExtensionOverrun { len: 65584 }));
        let mut no_flag = good.clone();
        no_flag[2253] = 0;
        assert_eq!(decode(&no_flag), Err(BusError::ExtensionsWithoutFlag { count: 1 }));
        let mut two = good;
        two[2214..2216].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(decode(&two), Err(BusError::ExtensionOverrun { len: 8 }));
    }

    #[test]
    fn framing_follows_the_first_eight_bytes() {
        let max = DEFAULT_MAX_PACKET_LEN_BYTES;
        assert_eq!(frame(b"", max), Ok(Framing::NeedMore { total_len: 8 }));
        assert_eq!(frame(b"RCm", max), Ok(Framing::NeedMore { total_len: 8 }));
        assert_eq!(frame(b"RX", max), Err(BusError::BadSignature));
        let mut buf = b"RCmb\0\0\x08\xd0".to_vec();
        assert_eq!(frame(&buf, max), Ok(Framing::NeedMore { total_len: 2256 }));
        buf.resize(2300, 0);
        assert_eq!(frame(&buf, max), Ok(Framing::Ready { packet_len: 2256 }));
        assert_eq!(frame(b"RCmb\0\0\x08\xcf", max), Err(BusError::TooShort { totlen: 2255 }));
        assert_eq!(
            frame(b"RCmb\xff\xff\xff\xff", max),
            Err(BusError::TooLong { totlen: u32::MAX.into(), max: max.into() })
        );
        assert_eq!(frame(b"RCmb\0\0\x10\0", 4096), Ok(Framing::NeedMore { total_len: 4096 }));
    }
}
