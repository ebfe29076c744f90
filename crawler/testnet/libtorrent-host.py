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

BEP 44 items (put_immutable, get_immutable, put_mutable, get_mutable, stored) go through
libtorrent's own dht_put_*/dht_get_* lookups, each op in a thread of its own so that a get
waiting for its timeout holds up no other request. What the 2.0.8 binding allows (checked here):
- dht_put_mutable_item(private_key, public_key, data, salt) takes bytes, makes `data` a
  *string* entry (no dicts, lists or integers) and chooses seq itself: the highest seq its
  lookup found, plus one (1 when none). The private key is the 64-byte expanded ed25519 key
  (orlp/ed25519: SHA-512 of the seed, clamped); a wrong one is refused by every storing node
  (num_success 0).
- Alerts: the `item` of dht_immutable_item_alert / dht_mutable_item_alert converts only
  string items (anything else raises "invalid type requested from entry"), and message() and
  `salt` raise UnicodeDecodeError for a salt that is not UTF-8. So the alerts are used only to
  know that a lookup ended and which item won (mutable: its key, seq and signature), and the
  value's bytes are taken from the get reply that carried it (dht_pkt_alert's pkt_buf), which
  must hash to the target (immutable) or carry the winning key, seq and signature (mutable).
  An item alert about no item (an uninitialized entry) has nothing to match, hence null.
- A mutable get posts a non-authoritative alert as soon as it has a verified item, then an
  authoritative one when its lookup ends; we wait for the latter until the timeout and return
  the best item seen so far. Alerts carry no request id: one mutable op of a kind per node and
  public key runs at a time (others wait their turn).
- A node's store cannot be listed through the binding; "stored" asks the node itself with a
  plain BEP 44 get (read-only, from an ephemeral port on the node's own address), which it
  answers from its store. That datagram is counted by "received".

Why this file is over 400 lines: the BEP 44 ops share the session, the alert pump and its lock
with the rest; apart, each half would need the other's internals.
"""
import hashlib
import json
import os
import re
import socket
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


OUT_LOCK = threading.Lock()


def out(message):
    with OUT_LOCK:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def expanded_secret_key(seed):
    """The 64-byte secret key libtorrent signs with (orlp/ed25519) from a 32-byte RFC 8032 seed."""
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 63
    h[31] |= 64
    return bytes(h)


def canonical_value(hex_value):
    """The bencoded value the request carries, decoded; only canonical bencoding."""
    raw = bytes.fromhex(hex_value)
    try:
        value = lt.bdecode(raw)
    except Exception as err:  # the binding raises on bad input
        raise RuntimeError(f"value is not bencoded: {err}")
    if value is None or lt.bencode(value) != raw:
        raise RuntimeError("value is not canonical bencoding")
    return value


class ItemGet:
    """A get in flight on one node: what its alerts and the replies it received said so far."""

    def __init__(self, target=None, key=None):
        self.target = target  # immutable: the SHA-1 the value must hash to
        self.key = key  # mutable: the public key
        self.values = {}  # immutable: {b"": bytes}; mutable: {(seq, sig): bencoded value}
        self.best = None  # (bencoded value, seq or None)
        self.done = False


class ItemPut:
    def __init__(self, target=None, key=None):
        self.target = target
        self.key = key
        self.result = None  # (num_success, seq)


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
        self.gets = []
        self.puts = []


class Host:
    def __init__(self):
        self.nodes = []
        self.lock = threading.RLock()
        self.alerts_dropped = 0
        self.alert_errors = 0
        self.settings = {}
        self.turns = {}  # (index, "put"|"get", public key) -> Lock: one mutable op of a kind at a time

    # Alerts are drained by the background thread and, before answering, by the request
    # handlers, always under the lock so that every alert is handled exactly once.
    def drain(self):
        with self.lock:
            for node in self.nodes:
                for a in node.session.pop_alerts():
                    # An alert must never stop the others of its batch: they are gone after the next pop.
                    try:
                        self.handle(node, a)
                    except Exception as err:
                        self.alert_errors += 1
                        if self.alert_errors <= 10:
                            sys.stderr.write(f"libtorrent-host: {type(a).__name__}: {err}\n")

    def handle(self, node, a):
        if isinstance(a, lt.dht_pkt_alert):
            # The binding exposes neither direction nor endpoint: the message starts with
            # "<== [ip:port]" for incoming and "==> [ip:port]" for outgoing datagrams.
            m = a.message()
            if m.startswith("<== ["):
                source = m[5:m.index("]", 5)]
                node.received[source] = node.received.get(source, 0) + 1
                if node.gets:
                    self.capture(node, a.pkt_buf)
        elif isinstance(a, lt.dht_immutable_item_alert):
            target = a.target.to_bytes()
            for g in node.gets:
                if g.target == target and not g.done:
                    value = g.values.get(b"")
                    g.best = None if value is None else (value, None)
                    g.done = True
        elif isinstance(a, lt.dht_mutable_item_alert):
            key, seq, sig, final = a.key, a.seq, a.signature, a.authoritative
            for g in node.gets:
                if g.key == key and not g.done:
                    value = g.values.get((seq, sig))
                    if value is not None:
                        g.best = (value, seq)
                    g.done = final
        elif isinstance(a, lt.dht_put_alert):
            key = a.public_key
            target = None if any(key) else a.target.to_bytes()
            for p in node.puts:
                if p.result is None and (p.key == key if target is None else p.target == target):
                    p.result = (a.num_success, a.seq)
                    break
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

    def capture(self, node, pkt):
        """Keeps the values of get replies a pending get of this node may end up choosing."""
        try:
            msg = lt.bdecode(pkt)
        except Exception:
            return
        r = msg.get(b"r") if isinstance(msg, dict) else None
        if not isinstance(r, dict) or b"v" not in r:
            return
        value = lt.bencode(r[b"v"])
        for g in node.gets:
            if g.target is not None:
                if hashlib.sha1(value).digest() == g.target:
                    g.values[b""] = value
            elif r.get(b"k") == g.key and isinstance(r.get(b"seq"), int) and isinstance(r.get(b"sig"), bytes):
                g.values[(r[b"seq"], r[b"sig"])] = value

    def wait_until(self, done, timeout_s):
        deadline = time.monotonic() + timeout_s
        while True:
            self.drain()
            with self.lock:
                if done():
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def wait(self, done, timeout_s, what):
        if not self.wait_until(done, timeout_s):
            raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")

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
            return {"nodes": nodes, "uncaught": [], "alertErrors": self.alert_errors}

    # BEP 44. Each runs in its own thread (main() below); the lock is held only to start the
    # libtorrent call and register what its alerts will answer, so no alert can come first.

    def node(self, index):
        node = self.by_index().get(index)
        if node is None:
            raise RuntimeError(f"no node {index} here")
        return node

    def turn(self, index, kind, key):
        with self.lock:
            return self.turns.setdefault((index, kind, key), threading.Lock())

    def track(self, pending, record, start, done, timeout_s):
        """Starts a libtorrent put or get and lists what its alerts will fill in, both under the
        lock (no alert can come in between); then waits for done() until the timeout."""
        with self.lock:
            start()
            pending.append(record)
        try:
            return self.wait_until(done, timeout_s)
        finally:
            with self.lock:
                pending.remove(record)

    def put(self, node, p, start, timeout_s):
        if not self.track(node.puts, p, start, lambda: p.result is not None, timeout_s):
            raise RuntimeError(f"put did not finish within {timeout_s} s")
        return p.result

    def get(self, node, g, start, timeout_s):
        """The best item found: when the lookup ends, or the best so far at the timeout."""
        self.track(node.gets, g, start, lambda: g.done, timeout_s)
        return g.best

    def put_immutable(self, req):
        node = self.node(req["index"])
        raw = bytes.fromhex(req["value"])
        value = canonical_value(req["value"])
        target = hashlib.sha1(raw).digest()

        def start():
            got = node.session.dht_put_immutable_item(value).to_bytes()
            if got != target:
                raise RuntimeError(f"libtorrent put the value under {got.hex()}, not {target.hex()}")

        stored, _ = self.put(node, ItemPut(target=target), start, req["timeoutMs"] / 1000)
        return {"target": target.hex(), "stored": stored}

    def get_immutable(self, req):
        node = self.node(req["index"])
        target = bytes.fromhex(req["target"])
        best = self.get(node, ItemGet(target=target), lambda: node.session.dht_get_immutable_item(lt.sha1_hash(target)),
                        req["timeoutMs"] / 1000)
        return None if best is None else best[0].hex()

    def put_mutable(self, req):
        node = self.node(req["index"])
        key = bytes.fromhex(req["publicKey"])
        salt = bytes.fromhex(req.get("salt") or "")
        value = canonical_value(req["value"])
        if not isinstance(value, bytes):
            raise RuntimeError("libtorrent's Python binding puts mutable items as byte strings only "
                               "(dht_put_mutable_item makes `data` a string entry)")
        secret = expanded_secret_key(bytes.fromhex(req["seed"]))
        with self.turn(node.index, "put", key):
            stored, seq = self.put(node, ItemPut(key=key),
                                   lambda: node.session.dht_put_mutable_item(secret, key, value, salt), req["timeoutMs"] / 1000)
        if seq != req["seq"]:
            raise RuntimeError(f"libtorrent put seq {seq} (on {stored} nodes), not {req['seq']}: it takes the highest "
                               "seq its lookup found plus one")
        return {"target": hashlib.sha1(key + salt).hexdigest(), "stored": stored, "seq": seq}

    def get_mutable(self, req):
        node = self.node(req["index"])
        key = bytes.fromhex(req["publicKey"])
        salt = bytes.fromhex(req.get("salt") or "")
        with self.turn(node.index, "get", key):
            best = self.get(node, ItemGet(key=key), lambda: node.session.dht_get_mutable_item(key, salt),
                            req["timeoutMs"] / 1000)
        return None if best is None else {"value": best[0].hex(), "seq": best[1]}

    def stored(self, req):
        """What the node answers a plain BEP 44 get for the target with: its own store's item."""
        node = self.node(req["index"])
        tid = os.urandom(4)
        query = lt.bencode({b"t": tid, b"y": b"q", b"q": b"get", b"ro": 1,
                            b"a": {b"id": os.urandom(20), b"target": bytes.fromhex(req["target"])}})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((node.host, 0))
            for _ in range(3):
                sock.sendto(query, (node.host, node.port))
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    sock.settimeout(max(0.01, deadline - time.monotonic()))
                    try:
                        data, source = sock.recvfrom(65536)
                    except socket.timeout:
                        break
                    try:
                        msg = lt.bdecode(data)
                    except Exception:
                        continue
                    if source != (node.host, node.port) or not isinstance(msg, dict) or msg.get(b"t") != tid:
                        continue
                    r = msg.get(b"r")
                    if not isinstance(r, dict):
                        raise RuntimeError(f"node {node.index} answered the get with {msg!r}")
                    if b"v" not in r:
                        return None
                    found = {"value": lt.bencode(r[b"v"]).hex()}
                    if isinstance(r.get(b"seq"), int):
                        found["seq"] = r[b"seq"]
                    return found
        raise RuntimeError(f"node {node.index} did not answer a get")


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
    # BEP 44 ops wait on the network: each in a thread, answered whenever it is done.
    threaded = {
        "put_immutable": host.put_immutable,
        "get_immutable": host.get_immutable,
        "put_mutable": host.put_mutable,
        "get_mutable": host.get_mutable,
        "stored": host.stored,
    }

    def answer(op, req):
        try:
            out({"rid": req.get("rid"), "ok": True, "result": op(req)})
        except Exception as err:
            out({"rid": req.get("rid"), "ok": False, "error": str(err) or type(err).__name__})

    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        rid = req.get("rid")
        if req.get("op") == "stop":
            out({"rid": rid, "ok": True, "result": None})
            break
        if req.get("op") in threaded:
            threading.Thread(target=answer, args=(threaded[req["op"]], req), daemon=True).start()
            continue
        op = ops.get(req.get("op"))
        if op is None:
            out({"rid": rid, "ok": False, "error": f"unknown op {req.get('op')!r}"})
        else:
            answer(op, req)
    # stdin closed or "stop": leave at once; the kernel closes every socket. Destroying
    # sessions one by one would only add shutdown time.
    os._exit(0)


if __name__ == "__main__":
    main()
