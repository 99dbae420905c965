"""Byte-exact tests of oko_ext against EXTENSION.md, through os-ken itself.

Run with the os-ken venv's interpreter from this directory:
``python -m unittest test_oko_ext`` (controller-examples/tests/osken.rs does).
Expected bytes are written out from the spec's struct layouts, not from the
module under test; decoders are fed switch-side bytes and the messages go
through os-ken's own ``ofproto_parser.msg`` where os-ken parses them.
"""

import struct
import unittest

from os_ken.ofproto import ofproto_parser, ofproto_v1_3, ofproto_v1_3_parser

import oko_ext

P = ofproto_v1_3_parser
OFP = ofproto_v1_3


class FakeDatapath(object):
    """Just enough of a datapath for serialising messages."""

    ofproto = OFP
    ofproto_parser = P
    id = 1


DP = FakeDatapath()


def serialise(msg, xid=7):
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


def ofp_header(type_, length, xid=7):
    return struct.pack("!BBHI", 4, type_, length, xid)


def parse(buf):
    version, msg_type, msg_len, xid = ofproto_parser.header(buf)
    return ofproto_parser.msg(DP, version, msg_type, msg_len, xid, buf)


def stats_reply(xid, flags, exp_type, data):
    body = struct.pack("!II", oko_ext.OKO_EXPERIMENTER, exp_type) + data
    length = 16 + len(body)
    return (ofp_header(19, length, xid)
            + struct.pack("!HH4x", 0xFFFF, flags) + body)


class FilterProgField(unittest.TestCase):
    def test_raw_field(self):
        self.assertEqual(
            oko_ext.filter_prog_oxm(0x01020304),
            bytes.fromhex("ffff0208" "004f4b4f" "01020304"))

    def test_match_serialises_field_after_basic_ones(self):
        m = oko_ext.match(1, eth_type=0x0800)
        buf = bytearray()
        n = m.serialize(buf, 0)
        # ofp_match: type OXM (1), length 4 + 6 (eth_type) + 12 = 22, pad to 24
        self.assertEqual(n, 24)
        self.assertEqual(bytes(buf[:n]), bytes.fromhex(
            "0001" "0016"
            "80000a02" "0800"
            "ffff0208" "004f4b4f" "00000001"
            "0000"))

    def test_flow_mod_bytes(self):
        inst = [P.OFPInstructionActions(OFP.OFPIT_APPLY_ACTIONS,
                                        [P.OFPActionOutput(2, 0)])]
        fm = P.OFPFlowMod(DP, priority=10, match=P.OFPMatch(
            eth_type=0x0800, filter_prog=0xFFFFFFFE), instructions=inst)
        buf = serialise(fm, xid=0x11)
        self.assertEqual(len(buf), 48 + 24 + 24)
        self.assertEqual(buf[:8], ofp_header(14, 96, 0x11))
        self.assertEqual(buf[48:72], bytes.fromhex(
            "00010016" "80000a020800"
            "ffff0208004f4b4f" "fffffffe" "0000"))

    def test_field_parses_back_from_flow_stats(self):
        # A FLOW_STATS reply echoing the field, as a switch sends it.
        match = bytes.fromhex("00010016" "80000a020800"
                              "ffff0208004f4b4f00000005" "0000")
        entry = (struct.pack("!HBxIIHHHH4xQQQ", 48 + 24, 0, 1, 2, 10, 0, 0,
                             0, 0, 3, 180) + match)
        buf = (ofp_header(19, 16 + len(entry), 9)
               + struct.pack("!HH4x", OFP.OFPMP_FLOW, 0) + entry)
        msg = parse(buf)
        self.assertIsInstance(msg, P.OFPFlowStatsReply)
        self.assertEqual(msg.body[0].match["filter_prog"], 5)
        self.assertEqual(msg.body[0].match["eth_type"], 0x0800)

    def test_advertised_in_table_features(self):
        def reply(ids):
            prop = struct.pack("!HH", OFP.OFPTFPT_MATCH, 4 + len(ids)) + ids
            prop += bytes(-len(prop) % 8)
            table = struct.pack("!HB5x32sQQII", 64 + len(prop), 0, b"t0",
                                0, 0, 0, 1000) + prop
            body = (ofp_header(19, 16 + len(table), 3)
                    + struct.pack("!HH4x", OFP.OFPMP_TABLE_FEATURES, 0)
                    + table)
            msg = parse(body)
            self.assertIsInstance(msg, P.OFPTableFeaturesStatsReply)
            return msg.body[0]
        with_field = reply(bytes.fromhex("80000a02" "ffff0208004f4b4f"))
        self.assertTrue(oko_ext.advertises_filter_prog(with_field))
        other_exp = reply(bytes.fromhex("80000a02" "ffff020800002320"))
        self.assertFalse(oko_ext.advertises_filter_prog(other_exp))
        self.assertFalse(oko_ext.advertises_filter_prog(
            reply(bytes.fromhex("80000a02"))))

    def test_register_is_idempotent(self):
        before = len(OFP.oxm_types)
        oko_ext.register()
        self.assertEqual(len(OFP.oxm_types), before)


class Messages(unittest.TestCase):
    def test_prog_load_single_chunk(self):
        elf = bytes(range(10))
        [m] = oko_ext.prog_load(DP, 3, elf, flags=oko_ext.LOAD_REPLACE)
        self.assertEqual(serialise(m), ofp_header(4, 42) + bytes.fromhex(
            "004f4b4f" "00000001"
            "00000003" "0001" "0000" "0000000a" "00000000") + elf)

    def test_prog_load_chunking(self):
        elf = bytes(i % 251 for i in range(200))
        msgs = oko_ext.prog_load(DP, 1, elf, max_msg_len=32 + 64)
        self.assertEqual(len(msgs), 4)
        rebuilt = b""
        chunk_lens = []
        for i, m in enumerate(msgs):
            buf = serialise(m, xid=100 + i)
            length, = struct.unpack_from("!H", buf, 2)
            self.assertEqual(length, len(buf))
            self.assertLessEqual(length, 96)
            prog_id, flags, pad, total, offset = struct.unpack_from(
                "!IHHII", buf, 16)
            self.assertEqual((prog_id, flags, pad, total), (1, 0, 0, 200))
            self.assertEqual(offset, len(rebuilt))
            chunk = buf[32:]
            self.assertEqual(len(chunk), length - 32)
            rebuilt += chunk
            chunk_lens.append(len(chunk))
        self.assertEqual(rebuilt, elf)
        self.assertEqual(chunk_lens, [64, 64, 64, 8])

    def test_prog_load_default_chunk_is_65503(self):
        msgs = oko_ext.prog_load(DP, 1, bytes(65503 + 1))
        self.assertEqual([len(serialise(m)) for m in msgs], [65535, 33])

    def test_prog_load_empty_object_is_one_empty_chunk(self):
        [m] = oko_ext.prog_load(DP, 1, b"")
        self.assertEqual(len(serialise(m)), 32)

    def test_prog_load_refuses_bad_arguments(self):
        with self.assertRaises(ValueError):
            oko_ext.prog_load(DP, 1, b"x", max_msg_len=32)
        with self.assertRaises(ValueError):
            oko_ext.prog_load(DP, 1, b"x", max_msg_len=65536)
        with self.assertRaises(ValueError):
            oko_ext.prog_load(DP, 1 << 32, b"x")
        with self.assertRaises(ValueError):
            oko_ext.prog_load(DP, 1, bytes(oko_ext.MAX_PROG_LEN + 1))

    def test_prog_unload(self):
        m = oko_ext.prog_unload(DP, 9, oko_ext.UNLOAD_CASCADE)
        self.assertEqual(serialise(m), ofp_header(4, 24) + bytes.fromhex(
            "004f4b4f" "00000003" "00000009" "0001" "0000"))

    def test_map_update(self):
        m = oko_ext.map_update(DP, 2, 1, [(b"\x01\x02", b"\xaa"),
                                          (b"\x03\x04", b"\xbb")],
                               flags=oko_ext.UPDATE_NOEXIST)
        self.assertEqual(serialise(m), ofp_header(4, 38) + bytes.fromhex(
            "004f4b4f" "00000004"
            "00000002" "00000001" "00000001" "00000002"
            "0102aa" "0304bb"))

    def test_map_update_refuses_mixed_sizes(self):
        with self.assertRaises(ValueError):
            oko_ext.map_update(DP, 1, 0, [(b"\x01", b"\x02"),
                                          (b"\x01\x02", b"\x02")])

    def test_map_update_refuses_oversized_message(self):
        with self.assertRaises(ValueError):
            oko_ext.map_update(DP, 1, 0, [(bytes(4), bytes(1000))] * 70)

    def test_map_delete(self):
        m = oko_ext.map_delete(DP, 2, 0, [b"\x00\x01", b"\x00\x02"])
        self.assertEqual(serialise(m), ofp_header(4, 36) + bytes.fromhex(
            "004f4b4f" "00000005"
            "00000002" "00000000" "00000002" "00000000" "0001" "0002"))


class Requests(unittest.TestCase):
    def mp_header(self, length):
        return ofp_header(18, length) + bytes.fromhex("ffff" "0000" "00000000")

    def test_map_dump(self):
        m = oko_ext.map_dump_request(DP, 1, 2)
        self.assertEqual(serialise(m), self.mp_header(32) + bytes.fromhex(
            "004f4b4f" "00000010" "00000001" "00000002"))

    def test_map_lookup(self):
        m = oko_ext.map_lookup_request(DP, 1, 0, b"\xde\xad")
        self.assertEqual(serialise(m), self.mp_header(34) + bytes.fromhex(
            "004f4b4f" "00000011" "00000001" "00000000" "dead"))

    def test_prog_stats_all(self):
        m = oko_ext.prog_stats_request(DP)
        self.assertEqual(serialise(m), self.mp_header(28) + bytes.fromhex(
            "004f4b4f" "00000012" "ffffffff"))


def map_desc(map_id, type_, k, v, n, name):
    return struct.pack("!IIIII4x16s", map_id, type_, k, v, n, name)


class Decoding(unittest.TestCase):
    def test_prog_load_reply_through_osken(self):
        data = (bytes.fromhex("00000001" "00000024" "01000000" "00000002")
                + map_desc(0, 9, 40, 8, 65536, b"conntrack_table")
                + map_desc(1, 2, 4, 16, 1, b"cfg"))
        body = struct.pack("!II", oko_ext.OKO_EXPERIMENTER, 2) + data
        msg = parse(ofp_header(4, 8 + len(body), 5) + body)
        self.assertIsInstance(msg, P.OFPExperimenter)
        exp_type, reply = oko_ext.parse_experimenter(msg)
        self.assertEqual(exp_type, oko_ext.PROG_LOAD_REPLY)
        self.assertEqual(reply, oko_ext.ProgLoadReply(1, 36, True, [
            oko_ext.MapDesc(0, 9, 40, 8, 65536, "conntrack_table"),
            oko_ext.MapDesc(1, 2, 4, 16, 1, "cfg")]))

    def test_prog_load_reply_length_mismatch(self):
        data = bytes.fromhex("00000001" "00000024" "00000000" "00000001")
        with self.assertRaises(oko_ext.OkoParseError):
            oko_ext.parse_prog_load_reply(data)
        with self.assertRaises(oko_ext.OkoParseError):
            oko_ext.parse_prog_load_reply(data[:15])
        with self.assertRaises(oko_ext.OkoParseError):
            oko_ext.parse_prog_load_reply(
                data + map_desc(0, 1, 4, 4, 1, b"m") + b"\x00")

    def test_other_experimenter_is_ignored(self):
        body = struct.pack("!II", 0x00002320, 2) + bytes(16)
        msg = parse(ofp_header(4, 8 + len(body)) + body)
        self.assertIsNone(oko_ext.parse_experimenter(msg))

    def test_experimenter_error_through_osken(self):
        text = "pc 17: read of 4 bytes at packet offset 34 \u2260 ok"
        body = (struct.pack("!HHI", 0xFFFF, 2, oko_ext.OKO_EXPERIMENTER)
                + text.encode("utf-8"))
        msg = parse(ofp_header(1, 8 + len(body), 0x42) + body)
        self.assertEqual(oko_ext.parse_error(msg), oko_ext.OkoError(
            2, "VERIFY_FAILED", text, 0x42))

    def test_standard_error_is_not_ours(self):
        body = struct.pack("!HH", 5, 1) + bytes(8)
        msg = parse(ofp_header(1, 8 + len(body)) + body)
        self.assertIsNone(oko_ext.parse_error(msg))

    def test_prog_stats_split_reply(self):
        e1 = struct.pack("!IIB3xIQQQ16s", 1, 36, 1, 2, 1000, 10, 5000,
                         b"conntrack")
        e2 = struct.pack("!IIB3xIQQQ16s", 7, 4, 0, 0, 0, 0, 0,
                         b"x" * 16)
        c = oko_ext.MultipartCollector()
        self.assertIsNone(c.feed(parse(stats_reply(3, 1, 18, e1))))
        xid, exp_type, stats = c.feed(parse(stats_reply(3, 0, 18, e2)))
        self.assertEqual((xid, exp_type), (3, oko_ext.PROG_STATS))
        self.assertEqual(stats, [
            oko_ext.ProgStats(1, 36, True, 2, 1000, 10, 5000, "conntrack"),
            oko_ext.ProgStats(7, 4, False, 0, 0, 0, 0, "x" * 16)])

    def test_map_dump_split_reply_repeats_head(self):
        head = struct.pack("!IIII", 1, 0, 2, 3)
        c = oko_ext.MultipartCollector()
        self.assertIsNone(c.feed(parse(stats_reply(
            4, 1, 16, head + b"\x00\x01abc\x00\x02def"))))
        _, _, dump = c.feed(parse(stats_reply(4, 0, 16, head + b"\x00\x03ghi")))
        self.assertEqual(dump, oko_ext.MapDump(1, 0, 2, 3, [
            (b"\x00\x01", b"abc"), (b"\x00\x02", b"def"),
            (b"\x00\x03", b"ghi")]))

    def test_map_dump_per_cpu_values(self):
        head = struct.pack("!IIII", 1, 0, 1, 2)
        dump = oko_ext.parse_map_dump([head + b"k" + b"aabb"], value_count=2)
        self.assertEqual(dump.entries, [(b"k", b"aabb")])
        with self.assertRaises(oko_ext.OkoParseError):
            oko_ext.parse_map_dump([head + b"k" + b"aabb"])

    def test_map_dump_awkward_body_lengths_parse(self):
        # Without register()'s multipart fix os-ken drops replies whose
        # body length is 9..15 modulo 16 (here 16 + 9 = 25 bytes).
        head = struct.pack("!IIII", 1, 0, 4, 5)
        msg = parse(stats_reply(5, 0, 16, head + b"kkkkvvvvv"))
        self.assertIsNotNone(msg)
        _, _, dump = oko_ext.MultipartCollector().feed(msg)
        self.assertEqual(dump.entries, [(b"kkkk", b"vvvvv")])

    def test_map_lookup_present_and_absent(self):
        head = struct.pack("!IIII", 1, 0, 4, 2)
        c = oko_ext.MultipartCollector()
        _, t, found = c.feed(parse(stats_reply(6, 0, 17, head + b"vv")))
        self.assertEqual(t, oko_ext.MAP_LOOKUP)
        self.assertEqual(found, oko_ext.MapLookup(1, 0, 4, 2, b"vv"))
        _, _, absent = c.feed(parse(stats_reply(7, 0, 17, head)))
        self.assertIsNone(absent.value)

    def test_malformed_replies_raise_parse_errors(self):
        c = oko_ext.MultipartCollector()
        with self.assertRaises(oko_ext.OkoParseError):
            c.feed(parse(stats_reply(8, 0, 18, bytes(55))))
        with self.assertRaises(oko_ext.OkoParseError):
            c.feed(parse(stats_reply(9, 0, 16, bytes(15))))
        with self.assertRaises(oko_ext.OkoParseError):
            c.feed(parse(stats_reply(10, 0, 99, b"")))


if __name__ == "__main__":
    unittest.main()
