//! Whole extension messages, byte for byte, as EXTENSION.md lays them out
//! inside their OpenFlow 1.3 containers; and property round trips.

use ofext_filter::wire::*;
use openflow::message::{Message, MessageBody};
use openflow::oxm::{Match, Oxm};
use proptest::prelude::*;

fn hdr(ty: u8, len: u16, xid: u32) -> Vec<u8> {
    let mut v = vec![4, ty];
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&xid.to_be_bytes());
    v
}

#[test]
fn prog_unload_message_bytes() {
    let mut want = hdr(4, 24, 0x11);
    want.extend_from_slice(&[0x00, 0x4f, 0x4b, 0x4f, 0, 0, 0, 3]); // OKO, PROG_UNLOAD
    want.extend_from_slice(&[0, 0, 0, 9, 0, 1, 0, 0]); // prog 9, CASCADE
    let m = ExtMessage::ProgUnload(ProgUnload {
        prog_id: 9,
        flags: unload_flags::CASCADE,
    });
    assert_eq!(m.to_message(0x11).to_vec(), want);
    let back = Message::parse(&want).unwrap();
    let MessageBody::Experimenter(e) = &back.body else {
        panic!("not an experimenter message: {back:?}")
    };
    assert_eq!(ExtMessage::from_experimenter(e).unwrap(), m);
}

#[test]
fn prog_load_chunk_length_is_message_length_minus_32() {
    let chunk = vec![0xab; 100];
    let m = ExtMessage::ProgLoad(ProgLoad {
        prog_id: 1,
        flags: 0,
        total_len: 1000,
        offset: 200,
        chunk: chunk.clone(),
    });
    let bytes = m.to_message(1).to_vec();
    assert_eq!(bytes.len(), PROG_LOAD_HEADER_LEN + chunk.len());
    assert_eq!(&bytes[2..4], &(132u16).to_be_bytes());
    assert_eq!(
        &bytes[16..32],
        &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0xe8, 0, 0, 0, 200]
    );
    assert_eq!(&bytes[32..], &chunk[..]);
}

#[test]
fn experimenter_error_bytes() {
    let text = "pc 17: read of 4 bytes at packet offset 34 beyond checked length 34";
    let m = Message::new(
        7,
        MessageBody::Error(ExtErrorCode::VerifyFailed.error_msg(text)),
    );
    let mut want = hdr(1, (16 + text.len()) as u16, 7);
    want.extend_from_slice(&[0xff, 0xff, 0, 2, 0x00, 0x4f, 0x4b, 0x4f]);
    want.extend_from_slice(text.as_bytes());
    assert_eq!(m.to_vec(), want);
    let MessageBody::Error(e) = Message::parse(&want).unwrap().body else {
        panic!("not an error")
    };
    assert_eq!(
        ExtErrorCode::from_error_code(e.code),
        Some(ExtErrorCode::VerifyFailed)
    );
    assert_eq!(e.data, text.as_bytes());
}

#[test]
fn filter_prog_oxm_in_a_match_bytes() {
    let m = Match {
        fields: vec![Oxm::EthType(0x0800), filter_prog_oxm(3)],
    };
    let mut bytes = Vec::new();
    openflow::wire::Wire::emit(&m, &mut bytes);
    // type 1, length 4 + 6 + 12 = 22, eth_type TLV, FILTER_PROG TLV, 2 pad bytes
    let want = [
        0, 1, 0, 22, //
        0x80, 0, 0x0a, 2, 0x08, 0x00, //
        0xff, 0xff, 0x02, 0x08, 0x00, 0x4f, 0x4b, 0x4f, 0, 0, 0, 3, //
        0, 0,
    ];
    assert_eq!(bytes, want);
    assert_eq!(
        u32::from_be_bytes([0xff, 0xff, 0x02, 0x08]),
        OXM_FILTER_PROG_HEADER
    );
    let (_, back) = <Match as openflow::wire::Wire>::parse(&want).unwrap();
    assert_eq!(filter_prog_of(&back.fields[1]), Some(Ok(3)));
}

#[test]
fn prog_stats_multipart_request_bytes() {
    let r = ExtMultipartRequest::ProgStats {
        prog_id: PROG_ID_ALL,
    };
    let msg = Message::new(5, MessageBody::MultipartRequest(r.to_request(0)));
    let mut want = hdr(18, 28, 5);
    want.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0, 0, 0]); // OFPMP_EXPERIMENTER, flags, pad
    want.extend_from_slice(&[0x00, 0x4f, 0x4b, 0x4f, 0, 0, 0, 18, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(msg.to_vec(), want);
    let MessageBody::MultipartRequest(back) = Message::parse(&want).unwrap().body else {
        panic!("not a multipart request")
    };
    assert_eq!(ExtMultipartRequest::from_request(&back.body), Some(Ok(r)));
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn arb_message() -> impl Strategy<Value = ExtMessage> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            arb_bytes(64)
        )
            .prop_map(
                |(prog_id, flags, total_len, offset, chunk)| ExtMessage::ProgLoad(ProgLoad {
                    prog_id,
                    flags,
                    total_len,
                    offset,
                    chunk
                })
            ),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
            proptest::collection::vec(
                (
                    any::<u32>(),
                    any::<u32>(),
                    any::<u32>(),
                    any::<u32>(),
                    any::<u32>(),
                    any::<[u8; 16]>()
                ),
                0..4
            )
        )
            .prop_map(|(prog_id, n_insns, jit, maps)| ExtMessage::ProgLoadReply(
                ProgLoadReply {
                    prog_id,
                    n_insns,
                    jit,
                    maps: maps
                        .into_iter()
                        .map(
                            |(map_id, map_type, key_size, value_size, max_entries, name)| MapDesc {
                                map_id,
                                map_type,
                                key_size,
                                value_size,
                                max_entries,
                                name
                            }
                        )
                        .collect()
                }
            )),
        (any::<u32>(), any::<u16>())
            .prop_map(|(prog_id, flags)| ExtMessage::ProgUnload(ProgUnload { prog_id, flags })),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            arb_bytes(64)
        )
            .prop_map(|(prog_id, map_id, flags, n, data)| ExtMessage::MapUpdate(
                MapUpdate {
                    prog_id,
                    map_id,
                    flags,
                    n,
                    data
                }
            )),
        (any::<u32>(), any::<u32>(), any::<u32>(), arb_bytes(64)).prop_map(
            |(prog_id, map_id, n, keys)| ExtMessage::MapDelete(MapDelete {
                prog_id,
                map_id,
                n,
                keys
            })
        ),
    ]
}

proptest! {
    #[test]
    fn messages_round_trip_through_openflow(m in arb_message(), xid in any::<u32>()) {
        let bytes = m.to_message(xid).to_vec();
        let back = Message::parse(&bytes).unwrap();
        prop_assert_eq!(back.xid, xid);
        let MessageBody::Experimenter(e) = &back.body else { panic!("not experimenter") };
        prop_assert_eq!(ExtMessage::from_experimenter(e).unwrap(), m.clone());
        prop_assert_eq!(m.body_len(), m.body_to_vec().len());
    }

    #[test]
    fn multipart_bodies_round_trip(prog_id in any::<u32>(), map_id in any::<u32>(), key in arb_bytes(32)) {
        for r in [
            ExtMultipartRequest::MapDump { prog_id, map_id },
            ExtMultipartRequest::MapLookup { prog_id, map_id, key: key.clone() },
            ExtMultipartRequest::ProgStats { prog_id },
        ] {
            let msg = Message::new(1, MessageBody::MultipartRequest(r.to_request(0)));
            let MessageBody::MultipartRequest(back) = Message::parse(&msg.to_vec()).unwrap().body else {
                panic!("not a request")
            };
            prop_assert_eq!(ExtMultipartRequest::from_request(&back.body), Some(Ok(r)));
        }
        let head = MapReplyHead { prog_id, map_id, key_size: 4, value_size: 8 };
        for r in [
            ExtMultipartReply::MapDump(MapDumpReply { head, data: key.clone() }),
            ExtMultipartReply::MapLookup { head, value: (!key.is_empty()).then(|| key.clone()) },
        ] {
            let msg = Message::new(1, MessageBody::MultipartReply(r.to_reply(0)));
            let MessageBody::MultipartReply(back) = Message::parse(&msg.to_vec()).unwrap().body else {
                panic!("not a reply")
            };
            prop_assert_eq!(ExtMultipartReply::from_reply(&back.body), Some(Ok(r)));
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(ty in 0u32..24, body in arb_bytes(128)) {
        let _ = ExtMessage::parse(OKO_EXPERIMENTER, ty, &body);
        let _ = ExtMultipartRequest::parse(OKO_EXPERIMENTER, ty, &body);
        let _ = ExtMultipartReply::parse(OKO_EXPERIMENTER, ty, &body);
    }
}
