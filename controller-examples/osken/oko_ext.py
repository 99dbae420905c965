"""Oko's filter-program extension for os-ken (and Ryu) OpenFlow 1.3 apps.

This module speaks the wire format of EXTENSION.md (v1) with the stock
containers of the os-ken OpenFlow 1.3 parser, so an app needs nothing but
``import oko_ext``:

* the extension's messages (PROG_LOAD, PROG_UNLOAD, MAP_UPDATE, MAP_DELETE)
  are ``OFPExperimenter`` messages with experimenter ``0x004F4B4F``;
* its multipart requests (MAP_DUMP, MAP_LOOKUP, PROG_STATS) are
  ``OFPExperimenterStatsRequest`` messages and the replies arrive as
  ``EventOFPExperimenterStatsReply`` events;
* its errors are ``OFPErrorMsg`` with ``type == OFPET_EXPERIMENTER``
  (os-ken calls the 16-bit ``exp_code`` ``exp_type``);
* ``FILTER_PROG`` is an experimenter OXM field, usable as
  ``OFPMatch(eth_type=0x0800, filter_prog=1)``.

How the OXM field is carried
----------------------------
os-ken (like Ryu) builds its OXM encoder and decoder from the list
``ofproto_v1_3.oxm_types``: ``oxm_fields.generate()`` turns it into the
name/number tables behind ``OFPMatch``. An experimenter field is described
by a subclass of ``oxm_fields._Experimenter`` that names its experimenter
id; with it os-ken writes the 64-bit experimenter OXM header
(``class 0xFFFF | field | length``, then the experimenter id) and parses it
back, in FLOW_MODs, FLOW_STATS, FLOW_REMOVED and the OXM ids of
TABLE_FEATURES. :func:`register` appends such a descriptor for field 1 with
a 4-byte value and regenerates the tables; importing this module calls it.
The result is exactly EXTENSION.md §1::

    oxm_header 0xFFFF0208 | experimenter 0x004F4B4F | prog_id u32

Without the registration os-ken cannot even *parse* a switch message that
echoes the field (a FLOW_STATS reply of such a flow is dropped with a parse
error), which is why the module does it at import.

A second adjustment: os-ken's ``OFPExperimenterMultipart.parser`` sets the
parsed body's length to 16 whatever the body's size, so the reply parser
looks for further bodies inside the experimenter data and fails (the whole
reply is dropped) when fewer than 8 bytes remain at one of those 16-byte
steps. :func:`register` replaces it with a parser whose body covers the rest
of the message, which is what OpenFlow 1.3 says an experimenter multipart
body is.

Using the messages
------------------
Builders return unsent messages; send them with ``datapath.send_msg``. A
message's xid is assigned by ``send_msg`` (or earlier with
``datapath.set_xid(msg)`` when the app wants to know it before sending),
and the switch answers a request with the same xid: PROG_LOAD_REPLY carries
the xid of the last chunk, an error the xid of the request it refuses.
Successful PROG_UNLOAD, MAP_UPDATE and MAP_DELETE send nothing; follow them
with an ``OFPBarrierRequest`` to learn they were applied.

Replies are decoded by :func:`parse_prog_load_reply`,
:func:`parse_experimenter` (any OKO experimenter message),
:func:`parse_error` and, for the multiparts, :class:`MultipartCollector`,
which joins the parts of a reply split with ``OFPMPF_REPLY_MORE``.
Everything that decodes switch input raises :class:`OkoParseError` (a
``ValueError``) on malformed bytes, never anything else.
"""

import struct
from collections import namedtuple

try:  # os-ken first, Ryu as a fallback: the two share this API.
    from os_ken.lib import type_desc
    from os_ken.ofproto import ofproto_v1_3, ofproto_v1_3_parser, oxm_fields
except ImportError:  # pragma: no cover - exercised only on Ryu installs
    from ryu.lib import type_desc
    from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser, oxm_fields

__all__ = [
    "OKO_EXPERIMENTER", "PROG_ID_ALL", "FILTER_PROG_FIELD", "FILTER_PROG_NAME",
    "OXM_FILTER_PROG_HEADER", "MAX_MSG_LEN", "PROG_LOAD_HEADER_LEN",
    "MAX_PROG_LEN",
    "PROG_LOAD", "PROG_LOAD_REPLY", "PROG_UNLOAD", "MAP_UPDATE", "MAP_DELETE",
    "MAP_DUMP", "MAP_LOOKUP", "PROG_STATS",
    "LOAD_REPLACE", "LOAD_KEEP_MAPS", "UNLOAD_CASCADE",
    "UPDATE_ANY", "UPDATE_NOEXIST", "UPDATE_EXIST",
    "ERROR_NAMES", "MAP_DESC_LEN", "PROG_STATS_LEN", "MAP_REPLY_HEAD_LEN",
    "MapDesc", "ProgLoadReply", "ProgStats", "MapDump", "MapLookup", "OkoError",
    "OkoParseError",
    "register", "filter_prog_oxm", "match",
    "prog_load", "prog_unload", "map_update", "map_delete",
    "map_dump_request", "map_lookup_request", "prog_stats_request",
    "parse_prog_load_reply", "parse_experimenter", "parse_error",
    "parse_prog_stats", "parse_map_dump", "parse_map_lookup",
    "MultipartCollector", "advertises_filter_prog",
]

# ---------------------------------------------------------------------------
# Identifiers (EXTENSION.md "Identifiers", §§1-3)
# ---------------------------------------------------------------------------

#: The extension's experimenter id ("OKO" in ASCII).
OKO_EXPERIMENTER = 0x004F4B4F
#: Program id meaning "every program" in requests (PROG_STATS).
PROG_ID_ALL = 0xFFFFFFFF
#: Field number of FILTER_PROG in the experimenter OXM class.
FILTER_PROG_FIELD = 1
#: The keyword under which FILTER_PROG appears in ``OFPMatch``.
FILTER_PROG_NAME = "filter_prog"
#: The full 32-bit OXM header of FILTER_PROG (class 0xFFFF, field 1, no
#: mask, length 8 = experimenter id + prog_id).
OXM_FILTER_PROG_HEADER = 0xFFFF0208
#: Largest OpenFlow message (the header's 16-bit length).
MAX_MSG_LEN = 0xFFFF
#: Bytes of a PROG_LOAD before its chunk: ofp_header 8, experimenter 4,
#: exp_type 4, prog_id 4, flags 2, pad 2, total_len 4, offset 4.
PROG_LOAD_HEADER_LEN = 32
#: Largest object a switch accepts (``total_len``), 16 MiB.
MAX_PROG_LEN = 16 << 20

# Experimenter message types (OFPT_EXPERIMENTER, §2).
PROG_LOAD = 1  #: controller to switch: one chunk of an ELF object
PROG_LOAD_REPLY = 2  #: switch to controller: the installed program
PROG_UNLOAD = 3  #: controller to switch
MAP_UPDATE = 4  #: controller to switch
MAP_DELETE = 5  #: controller to switch

# Experimenter multipart types (OFPMP_EXPERIMENTER, §3).
MAP_DUMP = 16  #: every entry of a map
MAP_LOOKUP = 17  #: one key's value
PROG_STATS = 18  #: run counters of one or every program

# PROG_LOAD flags.
LOAD_REPLACE = 1 << 0  #: replace an existing prog_id atomically
LOAD_KEEP_MAPS = 1 << 1  #: with REPLACE, keep compatible maps' contents
# PROG_UNLOAD flags.
UNLOAD_CASCADE = 1 << 0  #: also delete the flows referencing the program
# MAP_UPDATE flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST).
UPDATE_ANY = 0
UPDATE_NOEXIST = 1
UPDATE_EXIST = 2

#: exp_code of the extension's experimenter errors (§4) to its name.
ERROR_NAMES = {
    1: "BAD_ELF",
    2: "VERIFY_FAILED",
    3: "PROG_EXISTS",
    4: "UNKNOWN_PROG",
    5: "PROG_IN_USE",
    6: "UNKNOWN_MAP",
    7: "BAD_KEY_OR_VALUE",
    8: "MAP_FULL",
    9: "KEY_NOT_FOUND",
    10: "BAD_CHUNK",
    11: "TOO_LARGE",
    12: "BAD_REQUEST",
}

_EXP_HEADER = struct.Struct("!II")  # experimenter, exp_type
_PROG_LOAD = struct.Struct("!IHHII")  # prog_id, flags, pad, total_len, offset
_PROG_UNLOAD = struct.Struct("!IHH")  # prog_id, flags, pad
_MAP_UPDATE = struct.Struct("!IIII")  # prog_id, map_id, flags, n
_MAP_DELETE = struct.Struct("!IIII")  # prog_id, map_id, n, pad
_LOAD_REPLY = struct.Struct("!IIB3xI")  # prog_id, n_insns, jit, n_maps
_MAP_DESC = struct.Struct("!IIIII4x16s")
_PROG_STATS = struct.Struct("!IIB3xIQQQ16s")
_MAP_HEAD = struct.Struct("!IIII")  # prog_id, map_id, key_size, value_size

#: Length of one ``map_desc`` in PROG_LOAD_REPLY.
MAP_DESC_LEN = _MAP_DESC.size
#: Length of one PROG_STATS reply entry.
PROG_STATS_LEN = _PROG_STATS.size
#: Length of the head of a MAP_DUMP / MAP_LOOKUP reply body.
MAP_REPLY_HEAD_LEN = _MAP_HEAD.size
assert (MAP_DESC_LEN, PROG_STATS_LEN, MAP_REPLY_HEAD_LEN) == (40, 56, 16)

# ---------------------------------------------------------------------------
# Decoded values
# ---------------------------------------------------------------------------

#: One map of a loaded program (``map_desc``). ``name`` is the ELF symbol
#: name without its NUL padding; ``map_id`` is what requests address.
MapDesc = namedtuple(
    "MapDesc", "map_id type key_size value_size max_entries name")

#: A PROG_LOAD_REPLY: ``jit`` is a bool, ``maps`` a list of :data:`MapDesc`.
ProgLoadReply = namedtuple("ProgLoadReply", "prog_id n_insns jit maps")

#: One PROG_STATS entry: ``runs`` and ``matches`` count executions and
#: results of exactly 1, ``run_ns`` their summed time, ``n_flows`` the flows
#: that reference the program, ``name`` its name (NULs stripped).
ProgStats = namedtuple(
    "ProgStats",
    "prog_id n_insns jit n_flows runs matches run_ns name")

#: A whole MAP_DUMP reply: ``entries`` is a list of ``(key, value)`` bytes.
#: For per-CPU maps ``value`` is one value per switch worker, concatenated.
MapDump = namedtuple("MapDump", "prog_id map_id key_size value_size entries")

#: A MAP_LOOKUP reply: ``value`` is ``None`` when the key is absent.
MapLookup = namedtuple("MapLookup", "prog_id map_id key_size value_size value")

#: An experimenter error of the extension: ``code`` (exp_code), ``name``
#: (from :data:`ERROR_NAMES`, ``"UNKNOWN(n)"`` otherwise), ``text`` (the
#: switch's UTF-8 explanation) and ``xid`` (the refused request's).
OkoError = namedtuple("OkoError", "code name text xid")


class OkoParseError(ValueError):
    """Bytes from the switch that do not follow EXTENSION.md."""


def _cstr(raw):
    """A NUL-padded name field as text."""
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------
# FILTER_PROG: the experimenter OXM field (§1)
# ---------------------------------------------------------------------------


class OkoExperimenterOxm(oxm_fields._Experimenter):
    """os-ken descriptor of an OXM field in OKO's experimenter class."""

    experimenter_id = OKO_EXPERIMENTER


def _experimenter_multipart_parser(cls, buf, offset):
    """``OFPExperimenterMultipart.parser`` whose body ends with the message.

    An experimenter multipart body is ``experimenter u32, exp_type u32,
    data[]`` up to the end of the message; os-ken's own parser reports a
    length of 16 for it, see the module text.
    """
    (experimenter, exp_type) = _EXP_HEADER.unpack_from(buf, offset)
    body = cls(experimenter, exp_type, bytes(buf[offset + _EXP_HEADER.size:]))
    body.length = len(buf) - offset
    return body


def register(ofproto=ofproto_v1_3, parser=ofproto_v1_3_parser):
    """Teach os-ken the FILTER_PROG field and fix experimenter multiparts.

    Idempotent; called when the module is imported. After it,
    ``OFPMatch(filter_prog=ID)`` serialises to the 12-byte field of
    EXTENSION.md §1 and switch messages that carry the field parse with it
    under the name ``filter_prog``.
    """
    if not any(getattr(f, "name", None) == FILTER_PROG_NAME
               for f in ofproto.oxm_types):
        ofproto.oxm_types.append(OkoExperimenterOxm(
            FILTER_PROG_NAME, FILTER_PROG_FIELD, type_desc.Int4))
        oxm_fields.generate(ofproto.__name__)
    mp = parser.OFPExperimenterMultipart
    if not getattr(mp, "_oko_whole_body", False):
        mp.parser = classmethod(_experimenter_multipart_parser)
        mp._oko_whole_body = True


def filter_prog_oxm(prog_id):
    """The raw 12 bytes of a FILTER_PROG field naming ``prog_id``.

    For apps that build matches by hand; ``OFPMatch(filter_prog=prog_id)``
    produces the same bytes once :func:`register` has run.
    """
    _check_u32("prog_id", prog_id)
    return struct.pack("!III", OXM_FILTER_PROG_HEADER, OKO_EXPERIMENTER,
                       prog_id)


def match(prog_id=None, **fields):
    """An ``OFPMatch`` with the given OXM fields and, if given, FILTER_PROG.

    ``match(1, eth_type=0x0800)`` is ``OFPMatch(eth_type=0x0800,
    filter_prog=1)``: os-ken orders the fields by OXM type, so the
    experimenter field follows the OpenFlow basic ones.
    """
    if prog_id is not None:
        _check_u32("prog_id", prog_id)
        fields[FILTER_PROG_NAME] = prog_id
    return ofproto_v1_3_parser.OFPMatch(**fields)


def advertises_filter_prog(table):
    """Whether one ``OFPTableFeaturesStats`` lists FILTER_PROG as matchable.

    EXTENSION.md §1: the switch advertises the field in the table's
    OFPTFPT_MATCH property as an experimenter OXM id. os-ken decodes such
    an id as ``OFPExperimenterOxmId`` with ``exp_id`` set and the 23-bit
    class/field number in ``type`` (as ``field_N``), whatever is registered.
    """
    want = (oxm_fields.OFPXMC_EXPERIMENTER << 7) | FILTER_PROG_FIELD
    for prop in table.properties:
        if prop.type != ofproto_v1_3.OFPTFPT_MATCH:
            continue
        for oxm_id in prop.oxm_ids:
            if getattr(oxm_id, "exp_id", None) != OKO_EXPERIMENTER:
                continue
            if oxm_id.type in (FILTER_PROG_NAME, "field_%d" % want):
                return True
    return False


# ---------------------------------------------------------------------------
# Messages, controller to switch (§2)
# ---------------------------------------------------------------------------


def _check_u32(what, v):
    if not isinstance(v, int) or not 0 <= v <= 0xFFFFFFFF:
        raise ValueError("%s must be a u32, got %r" % (what, v))


def _check_u16(what, v):
    if not isinstance(v, int) or not 0 <= v <= 0xFFFF:
        raise ValueError("%s must be a u16, got %r" % (what, v))


def _experimenter(datapath, exp_type, data):
    """An OKO ``OFPExperimenter``, refusing bodies no message can hold."""
    if 16 + len(data) > MAX_MSG_LEN:
        raise ValueError(
            "extension message of %d bytes exceeds the OpenFlow limit of %d"
            % (16 + len(data), MAX_MSG_LEN))
    parser = datapath.ofproto_parser if datapath is not None \
        else ofproto_v1_3_parser
    return parser.OFPExperimenter(datapath, OKO_EXPERIMENTER, exp_type,
                                  bytes(data))


def prog_load(datapath, prog_id, elf, flags=0, max_msg_len=MAX_MSG_LEN):
    """PROG_LOAD messages carrying the ELF object ``elf``, in chunks.

    Returns a list of ``OFPExperimenter``; send them in order on one
    connection. Each chunk is at most ``max_msg_len - 32`` bytes
    (``max_msg_len`` at most 65535, the largest OpenFlow message), offsets
    ascend from 0, and the switch installs the program when the last chunk
    arrives, answering it (its xid) with PROG_LOAD_REPLY or an error. An
    empty object is sent as one empty chunk (the switch refuses it).

    ``flags`` is a combination of :data:`LOAD_REPLACE` and
    :data:`LOAD_KEEP_MAPS`.
    """
    _check_u32("prog_id", prog_id)
    _check_u16("flags", flags)
    elf = bytes(elf)
    if len(elf) > MAX_PROG_LEN:
        raise ValueError("object of %d bytes exceeds the 16 MiB limit"
                         % len(elf))
    if not PROG_LOAD_HEADER_LEN < max_msg_len <= MAX_MSG_LEN:
        raise ValueError("max_msg_len must be in %d..%d"
                         % (PROG_LOAD_HEADER_LEN + 1, MAX_MSG_LEN))
    chunk = max_msg_len - PROG_LOAD_HEADER_LEN
    msgs = []
    offset = 0
    while True:
        piece = elf[offset:offset + chunk]
        data = _PROG_LOAD.pack(prog_id, flags, 0, len(elf), offset) + piece
        msgs.append(_experimenter(datapath, PROG_LOAD, data))
        offset += len(piece)
        if offset >= len(elf):
            return msgs


def prog_unload(datapath, prog_id, flags=0):
    """A PROG_UNLOAD of ``prog_id``; ``flags`` may be :data:`UNLOAD_CASCADE`.

    Without CASCADE a program that flows still reference is refused with
    PROG_IN_USE.
    """
    _check_u32("prog_id", prog_id)
    _check_u16("flags", flags)
    return _experimenter(datapath, PROG_UNLOAD,
                         _PROG_UNLOAD.pack(prog_id, flags, 0))


def _same_sizes(what, items):
    sizes = {len(i) for i in items}
    if len(sizes) > 1:
        raise ValueError("%ss of different sizes: %s" % (what, sorted(sizes)))


def map_update(datapath, prog_id, map_id, entries, flags=UPDATE_ANY):
    """A MAP_UPDATE writing ``entries``, an iterable of ``(key, value)``.

    Keys (and values) must all have the map's sizes; the switch applies the
    entries in order and stops at the first failure, reporting its index.
    ``flags`` is :data:`UPDATE_ANY`, :data:`UPDATE_NOEXIST` or
    :data:`UPDATE_EXIST`. Raises ``ValueError`` when the entries do not fit
    one OpenFlow message: split them over several calls.
    """
    _check_u32("prog_id", prog_id)
    _check_u32("map_id", map_id)
    _check_u32("flags", flags)
    entries = [(bytes(k), bytes(v)) for (k, v) in entries]
    _same_sizes("key", [k for k, _ in entries])
    _same_sizes("value", [v for _, v in entries])
    body = b"".join(k + v for k, v in entries)
    return _experimenter(
        datapath, MAP_UPDATE,
        _MAP_UPDATE.pack(prog_id, map_id, flags, len(entries)) + body)


def map_delete(datapath, prog_id, map_id, keys):
    """A MAP_DELETE of ``keys`` (bytes of the map's key size each)."""
    _check_u32("prog_id", prog_id)
    _check_u32("map_id", map_id)
    keys = [bytes(k) for k in keys]
    _same_sizes("key", keys)
    return _experimenter(
        datapath, MAP_DELETE,
        _MAP_DELETE.pack(prog_id, map_id, len(keys), 0) + b"".join(keys))


# ---------------------------------------------------------------------------
# Multipart requests (§3)
# ---------------------------------------------------------------------------


def _stats_request(datapath, exp_type, data):
    parser = datapath.ofproto_parser if datapath is not None \
        else ofproto_v1_3_parser
    if 16 + 8 + len(data) > MAX_MSG_LEN:
        raise ValueError("multipart request too long")
    return parser.OFPExperimenterStatsRequest(
        datapath, 0, OKO_EXPERIMENTER, exp_type, bytes(data))


def map_dump_request(datapath, prog_id, map_id):
    """A MAP_DUMP request: every entry of map ``map_id`` of ``prog_id``."""
    _check_u32("prog_id", prog_id)
    _check_u32("map_id", map_id)
    return _stats_request(datapath, MAP_DUMP,
                          struct.pack("!II", prog_id, map_id))


def map_lookup_request(datapath, prog_id, map_id, key):
    """A MAP_LOOKUP request for ``key`` in map ``map_id`` of ``prog_id``."""
    _check_u32("prog_id", prog_id)
    _check_u32("map_id", map_id)
    return _stats_request(datapath, MAP_LOOKUP,
                          struct.pack("!II", prog_id, map_id) + bytes(key))


def prog_stats_request(datapath, prog_id=PROG_ID_ALL):
    """A PROG_STATS request for ``prog_id`` (default: every program)."""
    _check_u32("prog_id", prog_id)
    return _stats_request(datapath, PROG_STATS, struct.pack("!I", prog_id))


# ---------------------------------------------------------------------------
# Decoding switch messages
# ---------------------------------------------------------------------------


def parse_prog_load_reply(data):
    """Decodes a PROG_LOAD_REPLY body (the bytes after exp_type).

    Returns a :data:`ProgLoadReply`; raises :class:`OkoParseError` when the
    body is shorter than its ``n_maps`` says or has bytes left over.
    """
    data = bytes(data)
    if len(data) < _LOAD_REPLY.size:
        raise OkoParseError("PROG_LOAD_REPLY body of %d bytes is shorter "
                            "than %d" % (len(data), _LOAD_REPLY.size))
    prog_id, n_insns, jit, n_maps = _LOAD_REPLY.unpack_from(data, 0)
    rest = data[_LOAD_REPLY.size:]
    if len(rest) != n_maps * MAP_DESC_LEN:
        raise OkoParseError("PROG_LOAD_REPLY announces %d maps but carries "
                            "%d bytes of map_desc" % (n_maps, len(rest)))
    maps = []
    for i in range(n_maps):
        (map_id, type_, key_size, value_size, max_entries,
         name) = _MAP_DESC.unpack_from(rest, i * MAP_DESC_LEN)
        maps.append(MapDesc(map_id, type_, key_size, value_size,
                            max_entries, _cstr(name)))
    return ProgLoadReply(prog_id, n_insns, bool(jit), maps)


def parse_experimenter(msg):
    """Decodes an OKO ``OFPExperimenter`` from the switch.

    Returns ``(exp_type, value)``: for PROG_LOAD_REPLY ``value`` is a
    :data:`ProgLoadReply`, for other types the raw body bytes. Returns
    ``None`` for another experimenter's message.
    """
    if getattr(msg, "experimenter", None) != OKO_EXPERIMENTER:
        return None
    if msg.exp_type == PROG_LOAD_REPLY:
        return (msg.exp_type, parse_prog_load_reply(msg.data))
    return (msg.exp_type, bytes(msg.data))


def parse_error(msg):
    """Decodes an OKO experimenter error from an ``OFPErrorMsg``.

    Returns an :data:`OkoError`, or ``None`` when ``msg`` is a standard
    error or another experimenter's. The text is decoded as UTF-8
    (undecodable bytes become U+FFFD rather than failing).
    """
    ofp = ofproto_v1_3
    if getattr(msg, "type", None) != ofp.OFPET_EXPERIMENTER:
        return None
    if getattr(msg, "experimenter", None) != OKO_EXPERIMENTER:
        return None
    code = msg.exp_type  # os-ken's name for the 16-bit exp_code
    name = ERROR_NAMES.get(code, "UNKNOWN(%d)" % code)
    text = bytes(msg.data or b"").decode("utf-8", errors="replace")
    return OkoError(code, name, text, msg.xid)


def parse_prog_stats(bodies):
    """Decodes the PROG_STATS reply bodies (data after exp_type) of one
    request, in order, into a list of :data:`ProgStats`."""
    out = []
    for data in bodies:
        data = bytes(data)
        if len(data) % PROG_STATS_LEN:
            raise OkoParseError("PROG_STATS body of %d bytes is not a "
                                "multiple of %d" % (len(data), PROG_STATS_LEN))
        for off in range(0, len(data), PROG_STATS_LEN):
            (prog_id, n_insns, jit, n_flows, runs, matches, run_ns,
             name) = _PROG_STATS.unpack_from(data, off)
            out.append(ProgStats(prog_id, n_insns, bool(jit), n_flows, runs,
                                 matches, run_ns, _cstr(name)))
    return out


def _map_head(data, what):
    if len(data) < MAP_REPLY_HEAD_LEN:
        raise OkoParseError("%s body of %d bytes is shorter than its %d-byte "
                            "head" % (what, len(data), MAP_REPLY_HEAD_LEN))
    return _MAP_HEAD.unpack_from(data, 0)


def parse_map_dump(bodies, value_count=1):
    """Decodes the MAP_DUMP reply bodies of one request into a
    :data:`MapDump`.

    Every part of a split reply starts with the same 16-byte head
    (``prog_id, map_id, key_size, value_size``) and holds whole entries.
    ``value_count`` is the number of values per entry: 1, or for a per-CPU
    map the switch's worker count (the reply's head gives one value's size).
    """
    head = None
    entries = []
    for data in bodies:
        data = bytes(data)
        h = _map_head(data, "MAP_DUMP")
        if head is None:
            head = h
        elif h != head:
            raise OkoParseError("MAP_DUMP parts disagree: %r then %r"
                                % (head, h))
        key_size, value_size = h[2], h[3] * value_count
        rec = key_size + value_size
        run = data[MAP_REPLY_HEAD_LEN:]
        if rec == 0 or len(run) % rec:
            raise OkoParseError("MAP_DUMP entries of %d bytes are not a "
                                "multiple of %d" % (len(run), rec))
        for off in range(0, len(run), rec):
            entries.append((run[off:off + key_size],
                            run[off + key_size:off + rec]))
    if head is None:
        raise OkoParseError("MAP_DUMP reply without a body")
    return MapDump(head[0], head[1], head[2], head[3], entries)


def parse_map_lookup(bodies):
    """Decodes the MAP_LOOKUP reply body into a :data:`MapLookup`.

    The value is everything after the head (for a per-CPU map one value per
    worker); an empty value means the key is absent (``value`` is None).
    A body with no head at all is also read as "absent" (§3 says an absent
    key gets an empty reply body), with the head's fields None.
    """
    if len(bodies) != 1:
        raise OkoParseError("MAP_LOOKUP reply in %d parts" % len(bodies))
    data = bytes(bodies[0])
    if not data:
        return MapLookup(None, None, None, None, None)
    prog_id, map_id, key_size, value_size = _map_head(data, "MAP_LOOKUP")
    value = data[MAP_REPLY_HEAD_LEN:]
    if value and value_size and len(value) % value_size:
        raise OkoParseError("MAP_LOOKUP value of %d bytes for value_size %d"
                            % (len(value), value_size))
    return MapLookup(prog_id, map_id, key_size, value_size, value or None)


class MultipartCollector(object):
    """Joins and decodes the extension's multipart replies.

    Feed it every ``OFPExperimenterStatsReply`` (``ev.msg``); it keeps the
    parts of a reply split with ``OFPMPF_REPLY_MORE`` by xid and, on the
    last part, returns ``(xid, exp_type, value)`` where ``value`` is a
    list of :data:`ProgStats` (PROG_STATS), a :data:`MapDump` or a
    :data:`MapLookup`. Until then, and for other experimenters' replies, it
    returns ``None``. Malformed bodies raise :class:`OkoParseError` (the
    parts of that xid are dropped).
    """

    def __init__(self):
        self._parts = {}
        self._value_counts = {}

    def expect_values(self, xid, value_count):
        """Declares that the MAP_DUMP with ``xid`` reads a per-CPU map whose
        entries hold ``value_count`` values (the switch's worker count)."""
        self._value_counts[xid] = value_count

    def feed(self, msg):
        """Adds one reply message; returns the decoded reply when complete."""
        body = msg.body
        if getattr(body, "experimenter", None) != OKO_EXPERIMENTER:
            return None
        parts = self._parts.setdefault(msg.xid, [])
        parts.append((body.exp_type, bytes(body.data)))
        if msg.flags & ofproto_v1_3.OFPMPF_REPLY_MORE:
            return None
        del self._parts[msg.xid]
        value_count = self._value_counts.pop(msg.xid, 1)
        exp_type = parts[0][0]
        if any(t != exp_type for t, _ in parts):
            raise OkoParseError("multipart parts of xid %d mix exp_types"
                                % msg.xid)
        bodies = [d for _, d in parts]
        if exp_type == PROG_STATS:
            value = parse_prog_stats(bodies)
        elif exp_type == MAP_DUMP:
            value = parse_map_dump(bodies, value_count)
        elif exp_type == MAP_LOOKUP:
            value = parse_map_lookup(bodies)
        else:
            raise OkoParseError("unknown OKO multipart exp_type %d" % exp_type)
        return (msg.xid, exp_type, value)


register()
