#!/usr/bin/python3
"""
Hosts libtorrent DHT nodes for the testnet: one lt.session per node, each listening on its
own 127.x.y.z:port with the DHT on and every path off the loopback network closed. Driven by
crawler/testnet/foreign-host.ts over JSON lines:

  stdin:  {"rid": 1, "op": "start", "specs": [{"index": 0, "host": "127.61.0.1", "port": 6881}],
           "sampleCount": 20, "sampleIntervalS": 0}
  stdout: {"rid": 1, "ok": true, "result": {...}}   or   {"rid": 1, "ok": false, "error": "..."}

Before the first request it prints {"event": "hello", "version": "2.0.8.0"}, or
{"event": "fatal", "error": "..."} and exits 2 when libtorrent cannot be imported. It exits
when its stdin closes (the parent went away) or on "stop".

What libtorrent 2.0.8 does on loopback (read in its sources, checked on this machine):
- The node ID cannot be chosen. A saved "dht state" node-id is only kept when the listen
  socket's external address is known and the ID is BEP 42-valid for it; on 127.x the external
  address is unknown, so every session starts with a random ID (SHA-1 of random bytes).
  Hence foreign-host.ts asks each node for its ID with a ping.
- The ID stays put on loopback as long as nobody reports a routable address: the external
  address voter drops votes for unspecified, private and loopback addresses, and our nodes'
  BEP 42 `ip` fields say 127.x. But one message (query or reply) whose `ip` holds a public
  address is enough: the first vote on an empty voter is adopted at once, and the node then
  switches to a BEP 42 ID for that address ("updating node ID" in the log). "idChanges"
  counts those.
- dht_max_infohashes_sample_count is clamped to 20 by the storage (infohashes_sample_count_max)
  whatever the setting says, and dht_sample_infohashes_interval to 0..21600. With interval 0
  the sample is redrawn on every query; with interval > 0 it is kept for that long once it
  holds the full count.
- add_dht_node does not insert a contact: it sends the contact a get_peers, and the contact
  enters the routing table when it answers. Queriers go to the replacement cache, not the
  table; BEP 43 read-only ("ro") queriers are not kept at all, except after an announce_peer
  with a valid token, which puts the announcer in the table, "ro" or not.
- Per-source datagram counts come from dht_pkt_alert, which libtorrent posts for every
  datagram its DHT takes as a message: more than 20 bytes, 'd' first and 'e' last, not from
  a blocked IP (the per-IP blocker is lifted below). The Python binding gives neither the
  direction nor the endpoint, so both are read from the alert's text.
"""
import json
import os
import re
import sys
import threading
import time

try:
    import libtorrent as lt
except Exception as err:  # ImportError, or a broken binary module
    sys.stdout.write(json.dumps({"event": "fatal", "error": f"python3-libtorrent is not available to {sys.executable} ({err}); install it with apt-get install python3-libtorrent (scripts/setup-debian.sh does)"}) + "\n")
    sys.stdout.flush()
    sys.exit(2)

# The documented limits inside libtorrent's DHT storage (src/kademlia/dht_storage.cpp).
SAMPLE_COUNT_MAX = 20
SAMPLE_INTERVAL_MAX = 21600

# Per-IP and global DHT limits that would throttle a testnet where every querier is one of a
# few loopback addresses. Values large enough never to trigger; 0 is not "unlimited" here
# (dht_upload_rate_limit 0 divides by zero in dht_tracker::has_quota).
UNTHROTTLED = {
    "dht_block_ratelimit": 1_000_000,  # default 5 queries/s per IP, then blocked for 5 minutes
    "dht_upload_rate_limit": 100_000_000,  # default 8,000 bytes/s of DHT traffic
}

# The settings that keep a session on loopback and make 127.x contacts acceptable.
BASE_SETTINGS = {
    "enable_dht": True,
    "dht_bootstrap_nodes": "",  # default dht.libtorrent.org:25401
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_ip_notifier": False,
    # A port clash must fail, not move the node to another port.
    "listen_system_port_fallback": False,
    "max_retry_port_bind": 0,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "dht_restrict_routing_ips": False,  # default: one node per IP, distinct /24s per bucket
    "dht_restrict_search_ips": False,
    "dht_ignore_dark_internet": False,
    "dht_prefer_verified_node_ids": False,
    "dht_enforce_node_id": False,
    "dht_read_only": False,
    "aio_threads": 1,
    "hashing_threads": 1,
    "alert_queue_size": 200_000,
    **UNTHROTTLED,
}

REPORTED_SETTINGS = sorted(
    [k for k in BASE_SETTINGS if k not in ("alert_queue_size", "aio_threads", "hashing_threads")]
    + ["dht_max_infohashes_sample_count", "dht_sample_infohashes_interval", "dht_max_torrents", "dht_max_peers",
       "dht_max_peers_reply", "dht_extended_routing_table", "dht_aggressive_lookups", "listen_interfaces"]
)

STARTING = re.compile(r"starting (\S+) DHT tracker with node id: ([0-9a-f]{40})")
STATS_ID = re.compile(r"\(([0-9a-f]{40})\)")


def out(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Node:
    def __init__(self, spec, session):
        self.index = spec["index"]
        self.host = spec["host"]
        self.port = spec["port"]
        self.session = session
        self.started_id = None
        self.current_id = None
        self.listen_error = None
        self.id_changes = 0
        self.external_ips = []
        self.received = {}
        self.stats_seen = 0
        self.last_table = 0
        self.live_seen = 0
        self.live_nodes = []


class Host:
    def __init__(self):
        self.nodes = []
        self.lock = threading.RLock()
        self.alerts_dropped = 0
        self.settings = {}

    # Alerts are drained by the background thread and, before answering, by the request
    # handlers, always under the lock so that every alert is handled exactly once.
    def drain(self):
        with self.lock:
            for node in self.nodes:
                for a in node.session.pop_alerts():
                    self.handle(node, a)

    def handle(self, node, a):
        if isinstance(a, lt.dht_pkt_alert):
            # The binding exposes neither direction nor endpoint: the message starts with
            # "<== [ip:port]" for incoming and "==> [ip:port]" for outgoing datagrams.
            m = a.message()
            if m.startswith("<== ["):
                source = m[5:m.index("]", 5)]
                node.received[source] = node.received.get(source, 0) + 1
        elif isinstance(a, lt.dht_log_alert):
            # (The binding cannot convert dht_log_alert.module; the text says enough.)
            text = a.log_message()
            if text.startswith("starting "):
                match = STARTING.match(text)
                if match and match.group(1) == node.host:
                    node.started_id = match.group(2)
                    node.current_id = match.group(2)
            elif text.startswith("updating node ID"):
                node.id_changes += 1
        elif isinstance(a, lt.dht_stats_alert):
            match = STATS_ID.search(a.message())
            if match:
                node.current_id = match.group(1)
            node.last_table = sum(b["num_nodes"] for b in a.routing_table)
            node.stats_seen += 1
        elif isinstance(a, lt.dht_live_nodes_alert):
            node.live_nodes = [{"id": str(n["nid"]), "host": n["endpoint"][0], "port": n["endpoint"][1]} for n in a.nodes]
            node.live_seen += 1
        elif isinstance(a, lt.listen_failed_alert):
            node.listen_error = f"{a.address}:{a.port} ({a.socket_type}): {a.error.message()}"
        elif isinstance(a, lt.external_ip_alert):
            node.external_ips.append(str(a.external_address))
        elif isinstance(a, lt.alerts_dropped_alert):
            self.alerts_dropped += 1

    def wait(self, done, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while True:
            self.drain()
            with self.lock:
                if done():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")
            time.sleep(0.005)

    def start(self, req):
        specs = req["specs"]
        settings = dict(BASE_SETTINGS)
        if req.get("sampleCount") is not None:
            settings["dht_max_infohashes_sample_count"] = int(req["sampleCount"])
        if req.get("sampleIntervalS") is not None:
            settings["dht_sample_infohashes_interval"] = int(req["sampleIntervalS"])
        settings["alert_mask"] = (
            lt.alert_category.error | lt.alert_category.status | lt.alert_category.dht | lt.alert_category.dht_log
        )
        with self.lock:
            for spec in specs:
                per = dict(settings)
                per["listen_interfaces"] = f"{spec['host']}:{spec['port']}"
                self.nodes.append(Node(spec, lt.session(per)))

        def settled():
            return all(n.started_id is not None or n.listen_error is not None for n in self.nodes)

        self.wait(settled, float(req.get("timeoutS", 20)), "every DHT node to start")
        failed = [n for n in self.nodes if n.listen_error is not None]
        if failed:
            raise RuntimeError("; ".join(f"node {n.index} cannot listen on {n.host}:{n.port}: {n.listen_error}" for n in failed))
        for n in self.nodes:
            # A session on a busy port can report its failure after the DHT started on the
            # TCP side; the listen port is the check that counts.
            if n.session.listen_port() != n.port:
                raise RuntimeError(f"node {n.index} listens on port {n.session.listen_port()}, not {n.port}")
        applied = self.nodes[0].session.get_settings()
        self.settings = {k: applied[k] for k in REPORTED_SETTINGS if k in applied}
        count = applied["dht_max_infohashes_sample_count"]
        interval = applied["dht_sample_infohashes_interval"]
        return {
            "version": lt.__version__,
            "nodes": [{"index": n.index, "id": n.started_id} for n in self.nodes],
            "settings": self.settings,
            "effective": {
                "sampleCount": max(0, min(count, SAMPLE_COUNT_MAX)),
                "sampleIntervalS": max(0, min(interval, SAMPLE_INTERVAL_MAX)),
            },
        }

    def by_index(self):
        return {n.index: n for n in self.nodes}

    def stats(self, timeout_s=5.0):
        """Asks every session for dht_stats_alert; returns when each has answered."""
        with self.lock:
            before = {n.index: n.stats_seen for n in self.nodes}
            for n in self.nodes:
                n.session.post_dht_stats()
        self.wait(lambda: all(n.stats_seen > before[n.index] for n in self.nodes), timeout_s, "DHT stats")

    def live(self, nodes, timeout_s=5.0):
        """The routing table of each given node, as the node itself lists it."""
        self.stats()
        with self.lock:
            before = {n.index: n.live_seen for n in nodes}
            for n in nodes:
                n.session.dht_live_nodes(lt.sha1_hash(bytes.fromhex(n.current_id)))
        self.wait(lambda: all(n.live_seen > before[n.index] for n in nodes), timeout_s, "DHT live nodes")
        return {n.index: list(n.live_nodes) for n in nodes}

    def add_contacts(self, req):
        nodes = self.by_index()
        wanted = {}
        with self.lock:
            for index, contacts in req["contacts"]:
                node = nodes[index]
                wanted[index] = {(c["host"], c["port"]) for c in contacts}
                for c in contacts:
                    node.session.add_dht_node((c["host"], c["port"]))
        # Contacts enter a table only once they answer: wait until every one is in, or the
        # count has not moved for `settleS` (dead contacts, full buckets), or the deadline.
        targets = [nodes[i] for i in wanted]
        deadline = time.monotonic() + float(req.get("timeoutS", 10))
        settle = float(req.get("settleS", 1.0))
        last, last_change = None, time.monotonic()
        while True:
            tables = self.live(targets)
            present = {i: sum(1 for c in tables[i] if (c["host"], c["port"]) in wanted[i]) for i in wanted}
            now = time.monotonic()
            if present != last:
                last, last_change = present, now
            if all(present[i] == len(wanted[i]) for i in wanted) or now - last_change >= settle or now > deadline:
                return [[i, present[i]] for i in wanted]
            time.sleep(0.05)

    def received(self):
        self.drain()
        with self.lock:
            if self.alerts_dropped:
                raise RuntimeError(f"libtorrent dropped alerts {self.alerts_dropped} times: datagram counts are incomplete")
            return [[n.index, n.received] for n in self.nodes]

    def reset_counts(self):
        self.drain()
        with self.lock:
            for n in self.nodes:
                n.received = {}
        return None

    def table_sizes(self):
        self.stats()
        with self.lock:
            return [[n.index, n.last_table] for n in self.nodes]

    def tables(self):
        tables = self.live(self.nodes)
        return [[i, t] for i, t in tables.items()]

    def diagnostics(self):
        self.stats()
        with self.lock:
            nodes = [[n.index, {"startedId": n.started_id, "currentId": n.current_id, "idChanges": n.id_changes,
                                "externalIps": n.external_ips}] for n in self.nodes]
            return {"nodes": nodes, "uncaught": []}


def main():
    host = Host()
    out({"event": "hello", "version": lt.__version__, "pid": os.getpid()})

    def pump():
        while True:
            try:
                host.drain()
            except Exception as err:  # never let the drain thread die silently
                sys.stderr.write(f"libtorrent-host: alert drain failed: {err}\n")
            time.sleep(0.02)

    threading.Thread(target=pump, daemon=True).start()

    ops = {
        "start": host.start,
        "add_contacts": host.add_contacts,
        "received": lambda req: host.received(),
        "reset_counts": lambda req: host.reset_counts(),
        "table_sizes": lambda req: host.table_sizes(),
        "tables": lambda req: host.tables(),
        "diagnostics": lambda req: host.diagnostics(),
    }
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        rid = req.get("rid")
        if req.get("op") == "stop":
            out({"rid": rid, "ok": True, "result": None})
            break
        try:
            op = ops.get(req.get("op"))
            if op is None:
                raise RuntimeError(f"unknown op {req.get('op')!r}")
            out({"rid": rid, "ok": True, "result": op(req)})
        except Exception as err:
            out({"rid": rid, "ok": False, "error": str(err)})
    # stdin closed or "stop": leave at once; the kernel closes every socket. Destroying
    # sessions one by one would only add shutdown time.
    os._exit(0)


if __name__ == "__main__":
    main()
