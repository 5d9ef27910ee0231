# Tributary edge protocol client (src/protocol/edge/SPEC.md, version 3), standard library only.
#
# Written for what MicroPython has too: socket, struct and time, no asyncio, no typing, no
# dataclasses; CRC-32C is computed here in pure Python. One blocking socket with a timeout, one
# request at a time, so a device needs no threads. Section numbers [EDGE-x.y] cite the SPEC.
#
# What it does: HELLO/WELCOME, REGISTER, PRODUCE with acks and idempotent retransmission (a window
# of unacknowledged frames, resent unchanged after a reconnect, so every reading is stored exactly
# once), FETCH (RecordBatch v2 decoded, CRC-32C checked, records below the fetch offset skipped),
# METADATA and PING. Not here: consumer groups, compressed batches (Kafka producers' batches; they
# raise EdgeError), TLS.

import socket
import struct
import time

PROTOCOL_VERSION = 3

HELLO, WELCOME, REGISTER, REGISTERED, PRODUCE, ACK, FETCH, RECORDS = 1, 2, 3, 4, 5, 6, 7, 8
METADATA, METADATA_RESULT, PING, PONG, OUT_OF_RANGE, ERROR = 9, 10, 14, 15, 0x20, 0x7F

# Error codes [EDGE-10.2] a device acts on.
OFFSET_OUT_OF_RANGE = 3
RECORD_TOO_LARGE = 13
THROTTLED = 17

HELLO_BYTES_MAX = 4096  # [EDGE-2.2] the server's limit before WELCOME; WELCOME is far smaller.
VARINT_BYTES_MAX = 8


class EdgeError(Exception):
    """An ERROR frame [EDGE-5.16], or OUT_OF_RANGE [EDGE-5.17] as code 3 with its range."""

    def __init__(self, code, message, ref_kind=0, ref=0, log_range=None):
        Exception.__init__(self, "edge error %d: %s" % (code, message))
        self.code = code
        self.message = message
        self.ref_kind = ref_kind
        self.ref = ref
        # (side, logStartOffset, nextOffset) for OUT_OF_RANGE; side 0 = below, 1 = above.
        self.log_range = log_range


class ConnectionLost(Exception):
    """The connection closed or timed out: the outcome of unanswered PRODUCE frames is unknown."""


# ---- varints [EDGE-3.2] [EDGE-3.3] ----

def put_uvarint(out, v):
    if v < 0 or v > 0x1FFFFFFFFFFFFF:
        raise ValueError("uvarint out of range")
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def put_zigzag(out, n):
    put_uvarint(out, 2 * n if n >= 0 else -2 * n - 1)


def put_bytes(out, b):
    put_uvarint(out, len(b))
    out.extend(b)


class Reader:
    """Reads the fields of one frame body; any overrun raises ValueError (a malformed frame)."""

    def __init__(self, buf, pos=0, end=None):
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def u8(self):
        if self.pos >= self.end:
            raise ValueError("truncated")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def uvarint(self):
        v = 0
        for i in range(VARINT_BYTES_MAX):
            b = self.u8()
            if i == 7 and b >= 0x10:
                raise ValueError("varint above 2^53-1")
            v |= (b & 0x7F) << (7 * i)
            if b < 0x80:
                return v
        raise ValueError("varint too long")

    def zigzag(self):
        u = self.uvarint()
        return -(u >> 1) - 1 if u & 1 else u >> 1

    def take(self, n):
        if n < 0 or self.pos + n > self.end:
            raise ValueError("truncated")
        b = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return b

    def str(self):
        return self.take(self.uvarint()).decode("utf-8")

    def done(self):
        if self.pos != self.end:
            raise ValueError("trailing bytes")


# ---- CRC-32C (Castagnoli) [EDGE-13.2], not zlib's CRC-32 ----

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data, start=0, end=None):
    c = 0xFFFFFFFF
    table = _CRC_TABLE
    for i in range(start, len(data) if end is None else end):
        c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ---- RecordBatch v2 [EDGE-8.2]: big-endian header, zigzag varints inside ----

def decode_batches(buf, from_offset):
    """Records of concatenated batches as (offset, timestamp_ms, key, value), skipping offsets below from_offset [EDGE-13.3]."""
    out = []
    pos = 0
    while pos < len(buf):
        if pos + 61 > len(buf):
            raise ValueError("truncated batch header")
        base_offset, batch_length = struct.unpack(">qi", buf[pos:pos + 12])
        end = pos + 12 + batch_length
        magic = buf[pos + 16]
        crc, attributes = struct.unpack(">Ih", buf[pos + 17:pos + 23])
        base_ts = struct.unpack(">q", buf[pos + 27:pos + 35])[0]
        count = struct.unpack(">i", buf[pos + 57:pos + 61])[0]
        if magic != 2 or end > len(buf):
            raise ValueError("not a RecordBatch v2")
        if crc32c(buf, pos + 21, end) != crc:
            raise EdgeError(2, "batch at offset %d fails its CRC-32C" % base_offset)
        if attributes & 7:
            raise EdgeError(33, "batch at offset %d is compressed (codec %d)" % (base_offset, attributes & 7))
        r = Reader(buf, pos + 61, end)
        for _ in range(count):
            length = r.zigzag()
            record_end = r.pos + length
            r.u8()  # attributes
            ts = base_ts + r.zigzag()
            offset = base_offset + r.zigzag()
            key_len = r.zigzag()
            key = None if key_len < 0 else r.take(key_len)
            value_len = r.zigzag()
            value = None if value_len < 0 else r.take(value_len)
            for _ in range(r.zigzag()):  # headers: skipped
                r.take(r.zigzag())
                n = r.zigzag()
                if n > 0:
                    r.take(n)
            r.pos = record_end
            if offset >= from_offset:
                out.append((offset, ts, key, value))
        pos = end
    return out


# ---- the connection ----

def _ms_since(start_ms):
    """Milliseconds since a _now_ms() value; MicroPython's ticks wrap, so they are subtracted with ticks_diff."""
    if hasattr(time, "ticks_diff"):
        return time.ticks_diff(time.ticks_ms(), start_ms)
    return _now_ms() - start_ms


def _now_ms():
    ticks = getattr(time, "ticks_ms", None)  # MicroPython
    return ticks() if ticks else int(time.time() * 1000)


class EdgeClient:
    """One connection at a time; reconnect() opens the next one with the same identity."""

    def __init__(self, host, port=7883, client_id="", idempotent=True, frame_bytes_max=65536,
                 keepalive_ms=30000, token=None, timeout_s=10.0, first_seq=1):
        # [EDGE-4.1] an idempotent client's id keys its duplicate state: unique to the device, 1..1024 bytes.
        if idempotent and not 1 <= len(client_id.encode("utf-8")) <= 1024:
            raise ValueError("an idempotent client needs a client_id of 1 to 1024 UTF-8 bytes, unique to the device")
        self.host = host
        self.port = port
        self.client_id = client_id
        self.idempotent = idempotent
        self.proposed_frame_bytes_max = frame_bytes_max
        self.keepalive_ms = keepalive_ms
        self.token = token
        self.timeout_s = timeout_s
        self.sock = None
        self.version = 0
        self.frame_bytes_max = HELLO_BYTES_MAX
        self.last_seq = 0
        # [EDGE-7.5] seq increases across connections; a device that persists it passes first_seq.
        self.next_seq = first_seq
        self.corr = 0
        self.aliases = {}  # alias -> (topic, create), registered again after a reconnect
        self.pending = []  # [(seq, frame bytes)] sent, not yet answered, in seq order
        self.acked = []  # [(seq, partition, base_offset, duplicate)] since the last take_acks()
        self.errors = []  # [(seq, EdgeError)] PRODUCE frames refused: nothing stored
        self._answers = {}
        self._last_send_ms = 0

    # -- connection --

    def connect(self):
        addr = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0][-1]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(self.timeout_s)
        try:
            s.connect(addr)
        except Exception as e:
            s.close()
            raise ConnectionLost("connect failed: %r" % (e,))
        self.sock = s
        self.frame_bytes_max = HELLO_BYTES_MAX
        self._answers = {}
        self._write(encode_hello(PROTOCOL_VERSION, self.idempotent, self.keepalive_ms, self.proposed_frame_bytes_max, self.client_id, self.token))
        ftype, r = self._read_frame()
        if ftype == ERROR:
            raise self._error(r)
        if ftype != WELCOME:
            raise ConnectionLost("expected WELCOME, got type %d" % ftype)
        self.version = r.u8()
        if self.version < 1 or self.version > PROTOCOL_VERSION:
            raise ConnectionLost("unsupported protocol version %d" % self.version)
        self.keepalive_ms = r.uvarint()
        self.frame_bytes_max = r.uvarint()
        self.last_seq = r.uvarint()
        r.done()
        if self.next_seq <= self.last_seq:
            self.next_seq = self.last_seq + 1
        return self.last_seq

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def reconnect(self):
        """[EDGE-7.5] rule 2: new connection, aliases again, unanswered frames above lastSeq resent unchanged."""
        self.close()
        self.connect()
        for alias in sorted(self.aliases):
            topic, create = self.aliases[alias]
            self.register(alias, topic, create)
        stored = [p for p in self.pending if p[0] <= self.last_seq]
        self.pending = [p for p in self.pending if p[0] > self.last_seq]
        for seq, _ in stored:
            # Stored before the link went: where exactly is not known here, only that it is.
            self.acked.append((seq, None, None, True))
        for _, frame in self.pending:
            self._write(frame)

    # -- requests [EDGE-4.3] --

    def register(self, alias, topic, create=True):
        corr = self._next_corr()
        self._write(encode_register(corr, alias, topic, create))
        r = self._await(corr, REGISTERED)
        r.uvarint()  # alias
        partitions = r.uvarint()
        r.done()
        self.aliases[alias] = (topic, create)
        return partitions

    def metadata(self, topics=()):
        """[(name, [(partition, logStartOffset, nextOffset)])] of the named topics, or of all."""
        corr = self._next_corr()
        body = bytearray()
        put_uvarint(body, corr)
        put_uvarint(body, len(topics))
        for t in topics:
            put_bytes(body, t.encode("utf-8"))
        self._send(METADATA, body)
        r = self._await(corr, METADATA_RESULT)
        out = []
        for _ in range(r.uvarint()):
            name = r.str()
            r.zigzag()  # retentionMs
            r.zigzag()  # retentionBytes
            parts = [(r.uvarint(), r.uvarint(), r.uvarint()) for _ in range(r.uvarint())]
            out.append((name, parts))
        r.done()
        return out

    def fetch(self, alias, partition, offset, max_bytes=65536, max_wait_ms=0):
        """(records, next offset to fetch) [EDGE-8.1]; raises EdgeError code 3 with log_range when outside the log."""
        corr = self._next_corr()
        body = bytearray()
        for v in (corr, alias, partition, offset, max_bytes, max_wait_ms):
            put_uvarint(body, v)
        self._send(FETCH, body)
        r = self._await(corr, RECORDS)
        r.uvarint()  # partition
        r.uvarint()  # logStartOffset
        r.uvarint()  # nextOffset
        batches = r.take(r.uvarint())
        r.done()
        records = decode_batches(batches, offset)
        nxt = offset
        if len(batches) > 0:
            nxt = _next_offset(batches)
        return records, max(nxt, offset)

    def ping(self):
        corr = self._next_corr()
        body = bytearray()
        put_uvarint(body, corr)
        self._send(PING, body)
        self._await(corr, PONG).done()

    def keepalive(self):
        """[EDGE-4.4] call now and then while idle: pings once keepaliveMs passed without sending."""
        if _ms_since(self._last_send_ms) >= self.keepalive_ms:
            self.ping()

    # -- produce [EDGE-7] --

    def send(self, alias, values, partition=-1, acks=1, keys=None):
        """Sends one PRODUCE frame (one batch) without waiting; returns its seq. Kept until answered."""
        seq = self.next_seq
        frame = encode_produce(seq, alias, partition, acks, 0, values, keys)
        if Reader(frame).uvarint() > self.frame_bytes_max:
            raise EdgeError(RECORD_TOO_LARGE, "PRODUCE frame above frameBytesMax %d" % self.frame_bytes_max)
        self.next_seq += 1
        if acks != 0:
            self.pending.append((seq, frame))
        self._write(frame)
        return seq

    def flush(self):
        """Reads answers until every sent frame is answered; ACKed ones land in acked, refused ones in errors."""
        while self.pending:
            self._pump()

    def produce(self, alias, values, partition=-1, acks=1):
        """Sends one frame and waits for its answer: (partition, baseOffset, duplicate); raises EdgeError if refused."""
        seq = self.send(alias, values, partition, acks)
        self.flush()
        for a in self.acked:
            if a[0] == seq:
                return a[1], a[2], a[3]
        for s, err in self.errors:
            if s == seq:
                raise err
        return None

    def take_acks(self):
        acked, self.acked = self.acked, []
        return acked

    # -- internals --

    def _next_corr(self):
        self.corr += 1
        return self.corr

    def _send(self, ftype, body):
        self._write(_frame(ftype, body))

    def _write(self, frame):
        if self.sock is None:
            raise ConnectionLost("not connected")
        view = memoryview(frame)
        try:
            while len(view) > 0:
                n = self.sock.send(view)
                view = view[n:]
        except Exception as e:
            self.close()
            raise ConnectionLost("send failed: %r" % (e,))
        self._last_send_ms = _now_ms()

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except Exception as e:
                self.close()
                raise ConnectionLost("receive failed: %r" % (e,))
            if not chunk:
                self.close()
                raise ConnectionLost("connection closed by the broker")
            buf.extend(chunk)
        return buf

    def _read_frame(self):
        """(type, Reader of the body). [EDGE-2.2] the length is checked before any body is read."""
        if self.sock is None:
            raise ConnectionLost("not connected")
        length = 0
        for i in range(VARINT_BYTES_MAX + 1):
            if i == VARINT_BYTES_MAX:
                raise ConnectionLost("malformed frame length")
            b = self._recv_exact(1)[0]
            length |= (b & 0x7F) << (7 * i)
            if b < 0x80:
                break
        if length == 0 or length > self.frame_bytes_max:
            self.close()
            raise ConnectionLost("frame length %d outside 1..%d" % (length, self.frame_bytes_max))
        frame = self._recv_exact(length)
        return frame[0], Reader(frame, 1)

    def _pump(self):
        """Reads one frame: an ACK or produce ERROR is applied; an answer to a request is kept by corr."""
        ftype, r = self._read_frame()
        if ftype == ACK:
            count = r.uvarint()
            seq = r.uvarint()
            for i in range(count):
                if i > 0:
                    seq += r.uvarint()
                partition = r.uvarint()
                base_offset = r.uvarint()
                duplicate = (r.u8() & 1) == 1
                self._settle(seq)
                self.acked.append((seq, partition, base_offset, duplicate))
            r.done()
        elif ftype == ERROR:
            err = self._error(r)
            if err.ref_kind == 0:
                self.close()
                raise ConnectionLost("broker closed the connection: %s" % err)
            if err.ref_kind == 2:
                self._settle(err.ref)
                self.errors.append((err.ref, err))
            else:
                self._answers[err.ref] = (ERROR, err)
        elif ftype == OUT_OF_RANGE:
            corr = r.uvarint()
            partition = r.uvarint()
            offset = r.uvarint()
            side = r.u8()
            log_start = r.uvarint()
            next_offset = r.uvarint()
            r.done()
            if side > 1:
                raise ConnectionLost("malformed OUT_OF_RANGE")
            msg = "offset %d is %s partition %d's log [%d, %d]" % (offset, ("below", "above")[side], partition, log_start, next_offset)
            self._answers[corr] = (ERROR, EdgeError(OFFSET_OUT_OF_RANGE, msg, 1, corr, (side, log_start, next_offset)))
        else:
            corr = r.uvarint()
            self._answers[corr] = (ftype, r)

    def _settle(self, seq):
        self.pending = [p for p in self.pending if p[0] != seq]

    def _await(self, corr, expected):
        while corr not in self._answers:
            self._pump()
        ftype, answer = self._answers.pop(corr)
        if ftype == ERROR:
            raise answer
        if ftype != expected:
            raise ConnectionLost("expected frame type %d for corr %d, got %d" % (expected, corr, ftype))
        return answer

    @staticmethod
    def _error(r):
        kind = r.u8()
        ref = r.uvarint()
        code = r.uvarint()
        message = r.str()
        r.done()
        return EdgeError(code, message, kind, ref)


# ---- frames a client sends [EDGE-5]; checked against the SPEC's hex examples by the sample's test ----

def encode_hello(version, idempotent, keepalive_ms, frame_bytes_max, client_id, token):
    """[EDGE-5.1]"""
    body = bytearray([version, 1 if idempotent else 0])
    put_uvarint(body, keepalive_ms)
    put_uvarint(body, frame_bytes_max)
    put_bytes(body, client_id.encode("utf-8"))
    if token is None:
        body.append(0)
    else:
        put_uvarint(body, len(token) + 1)
        body.extend(token)
    return _frame(HELLO, body)


def encode_register(corr, alias, topic, create):
    """[EDGE-5.3]"""
    body = bytearray()
    put_uvarint(body, corr)
    put_uvarint(body, alias)
    body.append(1 if create else 0)
    put_bytes(body, topic.encode("utf-8"))
    return _frame(REGISTER, body)


def encode_produce(seq, alias, partition, acks, base_timestamp_ms, values, keys=None):
    """[EDGE-5.5] records without timestamp delta or headers; a None value is a tombstone."""
    body = bytearray()
    put_uvarint(body, seq)
    put_uvarint(body, alias)
    put_zigzag(body, partition)
    body.append(2 if acks == "all" else acks)
    put_uvarint(body, base_timestamp_ms)  # 0: the broker's receive time [EDGE-7.2]
    put_uvarint(body, len(values))
    for i, v in enumerate(values):
        key = None if keys is None else keys[i]
        flags = 0x01 if key is not None else 0
        if v is None:
            flags |= 0x08
        body.append(flags)
        if key is not None:
            put_bytes(body, key)
        if v is not None:
            put_bytes(body, v)
    return _frame(PRODUCE, body)


def _frame(ftype, body):
    out = bytearray()
    put_uvarint(out, len(body) + 1)
    out.append(ftype)
    out.extend(body)
    return out


def _next_offset(batches):
    """[EDGE-8.1] the last batch's baseOffset + lastOffsetDelta + 1."""
    pos = 0
    nxt = 0
    while pos < len(batches):
        base_offset, batch_length = struct.unpack(">qi", batches[pos:pos + 12])
        last_delta = struct.unpack(">i", batches[pos + 23:pos + 27])[0]
        nxt = base_offset + last_delta + 1
        pos += 12 + batch_length
    return nxt
