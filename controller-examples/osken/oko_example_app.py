"""An os-ken app that drives Oko's filter-program extension end to end.

Run it with ``osken-manager oko_example_app.py`` (or
``python -m os_ken.cmd.manager ...``) and point an Oko switch at it. When the
switch connects, a script (a green thread, so the app's event handlers keep
running) does, waiting for each answer before the next step:

1. PROG_LOAD of an ELF object, in chunks of at most ``OKO_MAX_MSG_LEN``
   bytes, and waits for PROG_LOAD_REPLY (or the experimenter error);
2. a probe FLOW_MOD naming a program id that does not exist, which the
   switch must refuse with the experimenter error UNKNOWN_PROG;
3. the flows: a table-miss (priority 0, drop) and
   ``priority=10, ip, filter_prog=ID -> output:OKO_OUT_PORT``, confirmed by
   a BARRIER (an error with a FLOW_MOD's xid is recorded);
4. a FLOW_STATS request, to see the switch echo FILTER_PROG in the match,
   and a TABLE_FEATURES request, to see it advertise the field;
5. optionally (``OKO_MAP_PROBE=MAP_ID``) a write/read round trip on one map:
   MAP_LOOKUP of an absent key, MAP_UPDATE, MAP_LOOKUP, MAP_DELETE,
   MAP_LOOKUP, plus a MAP_UPDATE with a wrong key size (BAD_KEY_OR_VALUE);
6. after ``OKO_STATS_DELAY`` seconds of traffic, PROG_STATS twice (half a
   second apart) and a MAP_DUMP of every map of the program;
7. PROG_UNLOAD without CASCADE (refused with PROG_IN_USE while the flow
   exists) when ``OKO_UNLOAD=1``, then with CASCADE (the filter flow goes,
   with a FLOW_REMOVED since it asked for one), then PROG_STATS of the id
   (refused with UNKNOWN_PROG).

Everything observed goes into one JSON document, printed to the log and,
when ``OKO_OUT`` names a file, written there atomically (``"done": true``
once the script finished; ``"failure"`` says what went wrong if it
stopped early).

Environment:

=================== =========================================================
``OKO_PROG``        ELF object to load (default: ``../filters/conntrack.o``
                    next to this file)
``OKO_PROG_ID``     program id (default 1)
``OKO_MAX_MSG_LEN`` largest PROG_LOAD message (default 65535; smaller values
                    force several chunks)
``OKO_OUT``         JSON report file (default: none, log only)
``OKO_OUT_PORT``    output port of the filter flow (default 2)
``OKO_STATS_DELAY`` seconds between flow install and PROG_STATS (default 1)
``OKO_MAP_PROBE``   map id for the write/read round trip (default: skip)
``OKO_UNLOAD``      ``1`` to exercise PROG_UNLOAD at the end (default 0)
=================== =========================================================
"""

import json
import os
import sys
import time

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import (CONFIG_DISPATCHER, MAIN_DISPATCHER,
                                       set_ev_cls)
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oko_ext  # noqa: E402  (needs the path above when run as a file)

ALL_STATES = [CONFIG_DISPATCHER, MAIN_DISPATCHER]
REPLY_TIMEOUT = 10.0


def _env_int(name, default):
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw, 0)


class ScriptFailure(Exception):
    """A step got no answer, or one it cannot continue after."""


class _Pending(object):
    """What the script waits for on one xid: a reply or an error."""

    def __init__(self):
        self.event = hub.Event()
        self.reply = None
        self.error = None


class OkoExampleApp(app_manager.OSKenApp):
    """Loads a filter program, installs a flow using it, reports stats."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super(OkoExampleApp, self).__init__(*args, **kwargs)
        here = os.path.dirname(os.path.abspath(__file__))
        self.prog_path = os.environ.get("OKO_PROG") or os.path.join(
            here, os.pardir, "filters", "conntrack.o")
        self.prog_id = _env_int("OKO_PROG_ID", 1)
        self.max_msg_len = _env_int("OKO_MAX_MSG_LEN", oko_ext.MAX_MSG_LEN)
        self.out_path = os.environ.get("OKO_OUT") or None
        self.out_port = _env_int("OKO_OUT_PORT", 2)
        self.stats_delay = float(os.environ.get("OKO_STATS_DELAY") or 1.0)
        probe = os.environ.get("OKO_MAP_PROBE")
        self.map_probe = None if probe in (None, "") else int(probe, 0)
        self.unload = os.environ.get("OKO_UNLOAD") == "1"
        self.pending = {}
        self.errors = {}  # xid -> error, for requests nobody waits on
        self.collector = oko_ext.MultipartCollector()
        self.flow_stats = {}  # xid -> accumulated OFPFlowStats
        self.table_features = {}  # xid -> accumulated OFPTableFeaturesStats
        self.flow_removed = []
        self.report = {"done": False, "prog_path": self.prog_path,
                       "prog_id": self.prog_id}
        self.started = False

    # -- plumbing ------------------------------------------------------------

    def _track(self, dp, msg):
        dp.set_xid(msg)
        p = _Pending()
        self.pending[msg.xid] = p
        return p

    def _settle(self, xid, reply=None, error=None):
        p = self.pending.get(xid)
        if p is None:
            if error is not None:
                self.errors[xid] = error
            return
        p.reply, p.error = reply, error
        p.event.set()

    def _wait(self, xid, p, what):
        if not p.event.wait(REPLY_TIMEOUT):
            raise ScriptFailure("no answer to %s (xid %d)" % (what, xid))
        self.pending.pop(xid, None)
        return p.reply, p.error

    def call(self, dp, msg, what):
        """Sends a request that has a reply; returns (reply, error)."""
        p = self._track(dp, msg)
        dp.send_msg(msg)
        return self._wait(msg.xid, p, what)

    def send_checked(self, dp, msgs, what):
        """Sends messages without replies, then a barrier; returns the
        errors (as JSON-able dicts) the switch answered any of them with."""
        xids = []
        for m in msgs:
            dp.set_xid(m)
            xids.append(m.xid)
            dp.send_msg(m)
        barrier = dp.ofproto_parser.OFPBarrierRequest(dp)
        self.call(dp, barrier, what + " barrier")
        return [self.errors.pop(x) for x in xids if x in self.errors]

    # -- event handlers --------------------------------------------------------

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def _features(self, ev):
        if self.started:
            return
        self.started = True
        self.report["datapath_id"] = ev.msg.datapath_id
        hub.spawn(self._run, ev.msg.datapath)

    @set_ev_cls(ofp_event.EventOFPExperimenter, ALL_STATES)
    def _experimenter(self, ev):
        try:
            parsed = oko_ext.parse_experimenter(ev.msg)
        except oko_ext.OkoParseError as e:
            self._settle(ev.msg.xid, error={"parse_error": str(e)})
            return
        if parsed is not None:
            self._settle(ev.msg.xid, reply=parsed)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, ALL_STATES)
    def _error(self, ev):
        msg = ev.msg
        oko = oko_ext.parse_error(msg)
        if oko is not None:
            err = {"oko": True, "code": oko.code, "name": oko.name,
                   "text": oko.text, "xid": oko.xid}
        else:
            err = {"oko": False, "type": msg.type,
                   "code": getattr(msg, "code", None), "xid": msg.xid}
        self.logger.info("switch error: %s", err)
        self._settle(msg.xid, error=err)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, ALL_STATES)
    def _barrier(self, ev):
        self._settle(ev.msg.xid, reply=True)

    @set_ev_cls(ofp_event.EventOFPExperimenterStatsReply, ALL_STATES)
    def _exp_stats(self, ev):
        try:
            done = self.collector.feed(ev.msg)
        except oko_ext.OkoParseError as e:
            self._settle(ev.msg.xid, error={"parse_error": str(e)})
            return
        if done is not None:
            xid, exp_type, value = done
            self._settle(xid, reply=(exp_type, value))

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, ALL_STATES)
    def _flow_stats(self, ev):
        msg = ev.msg
        self.flow_stats.setdefault(msg.xid, []).extend(msg.body)
        if not msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE:
            self._settle(msg.xid, reply=self.flow_stats.pop(msg.xid))

    @set_ev_cls(ofp_event.EventOFPTableFeaturesStatsReply, ALL_STATES)
    def _table_features(self, ev):
        msg = ev.msg
        self.table_features.setdefault(msg.xid, []).extend(msg.body)
        if not msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE:
            self._settle(msg.xid, reply=self.table_features.pop(msg.xid))

    @set_ev_cls(ofp_event.EventOFPFlowRemoved, ALL_STATES)
    def _removed(self, ev):
        msg = ev.msg
        self.flow_removed.append({"reason": msg.reason,
                                  "priority": msg.priority,
                                  "match": dict(msg.match.items())})

    # -- the script ----------------------------------------------------------

    def _write(self):
        text = json.dumps(self.report, indent=2, sort_keys=True)
        self.logger.info("oko report:\n%s", text)
        if self.out_path:
            tmp = self.out_path + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, self.out_path)

    def _run(self, dp):
        try:
            self._script(dp)
            self.report["done"] = True
        except Exception as e:  # report whatever stopped the script
            self.logger.exception("oko script failed")
            self.report["failure"] = "%s: %s" % (type(e).__name__, e)
        self._write()

    def _flow(self, dp, priority, match, actions, cmd=None):
        ofp, parser = dp.ofproto, dp.ofproto_parser
        inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS,
                                             actions)] if actions else []
        return parser.OFPFlowMod(
            dp, priority=priority, match=match, instructions=inst,
            command=ofp.OFPFC_ADD if cmd is None else cmd,
            flags=ofp.OFPFF_SEND_FLOW_REM)

    def _script(self, dp):
        parser = dp.ofproto_parser
        report = self.report

        # 1. PROG_LOAD, chunked.
        with open(self.prog_path, "rb") as f:
            elf = f.read()
        chunks = oko_ext.prog_load(dp, self.prog_id, elf,
                                   max_msg_len=self.max_msg_len)
        report["load"] = {"elf_len": len(elf), "chunks": len(chunks)}
        t0 = time.time()
        for m in chunks[:-1]:
            dp.set_xid(m)
            dp.send_msg(m)
        reply, err = self.call(dp, chunks[-1], "PROG_LOAD")
        early = [self.errors.pop(m.xid) for m in chunks[:-1]
                 if m.xid in self.errors]
        report["load"]["seconds"] = round(time.time() - t0, 3)
        if err or early:
            report["load"]["error"] = err or early[0]
            raise ScriptFailure("PROG_LOAD refused: %s" % (err or early[0],))
        exp_type, r = reply
        maps = r.maps
        report["load"].update({
            "reply_exp_type": exp_type, "prog_id": r.prog_id,
            "n_insns": r.n_insns, "jit": r.jit,
            "maps": [m._asdict() for m in maps]})

        # 2. A flow naming an unknown program is refused.
        bogus = self.prog_id + 1000
        probe = self._flow(dp, 20, oko_ext.match(bogus, eth_type=0x0800), [])
        report["unknown_prog_flow_errors"] = self.send_checked(
            dp, [probe], "unknown-program FLOW_MOD")

        # 3. Table-miss and the filter flow.
        miss = self._flow(dp, 0, parser.OFPMatch(), [])
        filt = self._flow(dp, 10, oko_ext.match(self.prog_id,
                                                eth_type=0x0800),
                          [parser.OFPActionOutput(self.out_port)])
        report["flow_errors"] = self.send_checked(dp, [miss, filt],
                                                  "FLOW_MODs")
        report["flows_installed_at"] = time.time()

        # 4. FLOW_STATS: FILTER_PROG comes back as sent.
        stats, err = self.call(dp, parser.OFPFlowStatsRequest(dp),
                               "FLOW_STATS")
        if err:
            report["flow_stats_error"] = err
        else:
            report["flow_stats"] = [
                {"priority": s.priority,
                 "match": {k: v for k, v in s.match.items()},
                 "packet_count": s.packet_count} for s in stats]

        tables, err = self.call(
            dp, parser.OFPTableFeaturesStatsRequest(dp, 0, []),
            "TABLE_FEATURES")
        if err:
            report["table_features_error"] = err
        else:
            report["table_features"] = {
                "n_tables": len(tables),
                "filter_prog_advertised": [
                    t.table_id for t in tables
                    if oko_ext.advertises_filter_prog(t)]}

        # 5. Map write/read round trip.
        if self.map_probe is not None:
            report["map_probe"] = self._map_probe(dp, maps, self.map_probe)

        # 6. Traffic, then PROG_STATS twice and a dump of every map.
        hub.sleep(self.stats_delay)
        report["prog_stats"] = []
        for i in range(2):
            if i:
                hub.sleep(0.5)
            reply, err = self.call(dp, oko_ext.prog_stats_request(dp),
                                   "PROG_STATS")
            if err:
                raise ScriptFailure("PROG_STATS refused: %s" % (err,))
            report["prog_stats"].append([s._asdict() for s in reply[1]])
        report["map_dumps"] = []
        for m in maps:
            reply, err = self.call(
                dp, oko_ext.map_dump_request(dp, self.prog_id, m.map_id),
                "MAP_DUMP")
            if err:
                report["map_dumps"].append({"map_id": m.map_id,
                                            "error": err})
                continue
            d = reply[1]
            report["map_dumps"].append({
                "map_id": d.map_id, "prog_id": d.prog_id,
                "key_size": d.key_size, "value_size": d.value_size,
                "n_entries": len(d.entries),
                "entries": [[k.hex(), v.hex()] for k, v in d.entries[:16]]})

        # 7. Unload.
        if self.unload:
            report["unload"] = self._unload(dp)

    def _lookup(self, dp, map_id, key):
        reply, err = self.call(
            dp, oko_ext.map_lookup_request(dp, self.prog_id, map_id, key),
            "MAP_LOOKUP")
        if err:
            return {"error": err}
        v = reply[1].value
        return {"value": None if v is None else v.hex()}

    def _map_probe(self, dp, maps, map_id):
        desc = [m for m in maps if m.map_id == map_id]
        if not desc:
            return {"error": "program has no map %d" % map_id}
        desc = desc[0]
        key = bytes([0xA5]) * desc.key_size
        value = bytes(range(1, desc.value_size + 1))
        out = {"map_id": map_id, "key": key.hex(), "value": value.hex()}
        out["lookup_before"] = self._lookup(dp, map_id, key)
        out["update_errors"] = self.send_checked(dp, [oko_ext.map_update(
            dp, self.prog_id, map_id, [(key, value)])], "MAP_UPDATE")
        out["lookup_after_update"] = self._lookup(dp, map_id, key)
        out["delete_errors"] = self.send_checked(dp, [oko_ext.map_delete(
            dp, self.prog_id, map_id, [key])], "MAP_DELETE")
        out["lookup_after_delete"] = self._lookup(dp, map_id, key)
        out["bad_size_errors"] = self.send_checked(dp, [oko_ext.map_update(
            dp, self.prog_id, map_id, [(key + b"\0", value)])],
            "bad MAP_UPDATE")
        return out

    def _unload(self, dp):
        out = {}
        out["plain_errors"] = self.send_checked(
            dp, [oko_ext.prog_unload(dp, self.prog_id)], "PROG_UNLOAD")
        out["cascade_errors"] = self.send_checked(
            dp, [oko_ext.prog_unload(dp, self.prog_id,
                                     oko_ext.UNLOAD_CASCADE)],
            "PROG_UNLOAD CASCADE")
        _, err = self.call(dp, oko_ext.prog_stats_request(dp, self.prog_id),
                           "PROG_STATS after unload")
        out["stats_after_error"] = err
        out["flow_removed"] = list(self.flow_removed)
        stats, err = self.call(dp, dp.ofproto_parser.OFPFlowStatsRequest(dp),
                               "FLOW_STATS after unload")
        out["flows_after"] = None if err else len(stats)
        return out
