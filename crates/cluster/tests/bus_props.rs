//! Property tests of the bus codec: every valid message round-trips, and no damaged packet makes
//! decode panic or read past its input.

use cluster::bus::{self, Body, GossipEntry, Header, IpField, Message, PingBody, PingExt};
use cluster::{NodeFlags, NodeName, SlotBitmap};
use proptest::collection::vec;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = NodeName> {
    "[0-9a-z]{40}".prop_map(|s| NodeName::parse(&s).unwrap())
}

fn ip() -> impl Strategy<Value = IpField> {
    prop_oneof![
        Just(IpField::default()),
        "[0-9a-f:.]{1,45}".prop_map(|s| IpField::new(&s).unwrap()),
        // Raw bytes, as a peer may send them: no NUL, or bytes after it.
        any::<[u8; 46]>().prop_map(IpField),
    ]
}

fn slots() -> impl Strategy<Value = Box<SlotBitmap>> {
    prop_oneof![
        Just(Box::<SlotBitmap>::default()),
        Just(Box::new(SlotBitmap([0xff; 2048]))),
        vec(0u16..16384, 0..50).prop_map(|list| {
            let mut bitmap = Box::<SlotBitmap>::default();
            list.into_iter().for_each(|s| bitmap.set(s, true));
            bitmap
        }),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (
        (any::<u16>(), any::<u64>(), any::<u64>(), any::<u64>(), name(), slots()),
        (proptest::option::of(name()), ip(), any::<u16>(), any::<u16>(), any::<u16>(), any::<u8>(), any::<[u8; 3]>()),
    )
        .prop_map(|((port, current_epoch, config_epoch, repl_offset, sender, myslots), rest)| {
            let (replicaof, myip, pport, cport, flags, state, mflags) = rest;
            Header {
                port,
                current_epoch,
                config_epoch,
                repl_offset,
                sender,
                myslots,
                replicaof,
                myip,
                pport,
                cport,
                flags: NodeFlags(flags),
                state,
                mflags,
            }
        })
}

fn gossip() -> impl Strategy<Value = GossipEntry> {
    (name(), any::<u32>(), any::<u32>(), ip(), any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>()).prop_map(
        |(node, ping_sent_s, pong_received_s, ip, port, cport, flags, pport)| GossipEntry {
            node,
            ping_sent_s,
            pong_received_s,
            ip,
            port,
            cport,
            flags: NodeFlags(flags),
            pport,
        },
    )
}

fn ext() -> impl Strategy<Value = PingExt> {
    prop_oneof![
        vec(1u8..=255, 0..60).prop_map(PingExt::Hostname),
        // Data of a whole number of 8-byte words, as the wire requires.
        (1u16.., vec(any::<u8>(), 0..6)).prop_map(|(ext_type, word)| PingExt::Other { ext_type, data: word.repeat(8) }),
    ]
}

fn ping_body() -> impl Strategy<Value = PingBody> {
    (vec(gossip(), 0..6), vec(ext(), 0..4)).prop_map(|(gossip, extensions)| PingBody { gossip, extensions })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..64)
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        ping_body().prop_map(Body::Ping),
        ping_body().prop_map(Body::Pong),
        ping_body().prop_map(Body::Meet),
        name().prop_map(|node| Body::Fail { node }),
        (bytes(), bytes()).prop_map(|(channel, message)| Body::Publish { channel, message }),
        (bytes(), bytes()).prop_map(|(channel, message)| Body::PublishShard { channel, message }),
        Just(Body::FailoverAuthRequest),
        Just(Body::FailoverAuthAck),
        Just(Body::MfStart),
        (any::<u64>(), name(), slots()).prop_map(|(config_epoch, node, slots)| Body::Update {
            config_epoch,
            node,
            slots
        }),
        (any::<[u8; 8]>(), any::<u8>(), bytes()).prop_map(|(module_id, module_type, payload)| Body::Module {
            module_id,
            module_type,
            payload
        }),
        (11u16.., bytes()).prop_map(|(msg_type, data)| Body::Unknown { msg_type, data }),
    ]
}

/// A valid message: `EXT_DATA` is set exactly when a ping-type body carries extensions, or may be
/// set with none (as Redis 7.2 does); encode sets it for extensions, so we do the same here.
fn message() -> impl Strategy<Value = Message> {
    (header(), body()).prop_map(|(mut header, body)| {
        match &body {
            Body::Ping(p) | Body::Pong(p) | Body::Meet(p) if !p.extensions.is_empty() => {
                header.mflags[0] |= bus::mflag0::EXT_DATA;
            }
            _ => {}
        }
        Message { header, body }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn valid_messages_round_trip(msg in message()) {
        let bytes = bus::encode(&msg).unwrap();
        prop_assert_eq!(
            bus::frame(&bytes, bus::DEFAULT_MAX_PACKET_LEN_BYTES),
            Ok(bus::Framing::Ready { packet_len: bytes.len() })
        );
        prop_assert_eq!(bus::decode(&bytes), Ok(msg.clone()));
        // And the bytes are canonical: decoding then encoding gives them back.
        prop_assert_eq!(bus::encode(&bus::decode(&bytes).unwrap()).unwrap(), bytes);
    }

    #[test]
    fn truncations_never_panic_or_decode(msg in message(), cut in any::<prop::sample::Index>()) {
        let bytes = bus::encode(&msg).unwrap();
        let cut = cut.index(bytes.len());
        // The length field no longer matches, so this must be an error, not a shorter message.
        prop_assert!(bus::decode(&bytes[..cut]).is_err());
        match bus::frame(&bytes[..cut], bus::DEFAULT_MAX_PACKET_LEN_BYTES) {
            Ok(bus::Framing::NeedMore { total_len }) => prop_assert!(total_len > cut && total_len <= bytes.len()),
            other => prop_assert!(false, "prefix of {} bytes framed as {:?}", cut, other),
        }
    }

    #[test]
    fn corruptions_never_panic_and_stay_consistent(
        msg in message(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let mut bytes = bus::encode(&msg).unwrap();
        let at = at.index(bytes.len());
        bytes[at] ^= xor;
        if let Ok(decoded) = bus::decode(&bytes) {
            // Whatever decodes must re-encode to bytes that decode to the same message.
            let again = bus::encode(&decoded).unwrap();
            prop_assert_eq!(bus::decode(&again), Ok(decoded));
        }
    }

    #[test]
    fn garbage_never_panics(mut bytes in vec(any::<u8>(), 0..2600), sig in any::<bool>()) {
        if sig && bytes.len() >= 8 {
            bytes[..4].copy_from_slice(b"RCmb");
            let len = bytes.len() as u32;
            bytes[4..8].copy_from_slice(&len.to_be_bytes());
        }
        let _ = bus::frame(&bytes, bus::DEFAULT_MAX_PACKET_LEN_BYTES);
        if let Ok(decoded) = bus::decode(&bytes) {
            prop_assert_eq!(bus::decode(&bus::encode(&decoded).unwrap()), Ok(decoded));
        }
    }
}
