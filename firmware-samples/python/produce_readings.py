# Example: a sensor that produces readings to a Tributary broker over the edge protocol, and reads
# them back. Standard library only, MicroPython-friendly (no argparse: positional arguments).
#
#   python3 produce_readings.py produce HOST PORT CLIENT_ID TOPIC COUNT [PER_FRAME] [DROP_AFTER] [STATE_FILE]
#       COUNT readings of the form CLIENT_ID-000001, PER_FRAME to a PRODUCE frame (default 10),
#       idempotent, acks 1, a window of 8 unacknowledged frames. DROP_AFTER > 0 closes the link
#       after that many frames without reading their acks, as a radio that drops out would, then
#       reconnects and retransmits: every reading is still stored exactly once. STATE_FILE keeps the
#       seq reservation across runs (default: CLIENT_ID.seq in the current directory).
#   python3 produce_readings.py read HOST PORT TOPIC
#       prints every record of every partition as "partition offset value", oldest first.
#
# Exit status 0 when everything was acknowledged (produce) or read (read); 1 otherwise.

import sys
import time

from tributary_edge import ConnectionLost, EdgeClient, EdgeError, THROTTLED

WINDOW_FRAMES = 8
SEQ_BLOCK = 100  # [EDGE-13.4] the seq is reserved in blocks: one flash write per 100 frames
RETRIES = 20
STORAGE_FULL = 14


def load_reserved(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or "0")
    except OSError:
        return 0


def save_reserved(path, seq):
    with open(path, "w") as f:
        f.write("%d\n" % seq)


def reconnect(client):
    """After a lost link: a new connection that resends every unanswered frame above lastSeq."""
    for attempt in range(RETRIES):
        time.sleep(min(0.05 * (attempt + 1), 1.0))
        try:
            client.reconnect()
            return
        except ConnectionLost as e:
            print("reconnect failed: %s" % e)
    raise ConnectionLost("gave up after %d attempts" % RETRIES)


def produce(host, port, client_id, topic, count, per_frame, drop_after, state_file):
    reserved = load_reserved(state_file)
    client = EdgeClient(host, port, client_id=client_id, idempotent=True, first_seq=reserved + 1)
    client.connect()
    client.register(0, topic, True)
    readings = [("%s-%06d" % (client_id, i)).encode() for i in range(1, count + 1)]
    queue = [readings[i:i + per_frame] for i in range(0, count, per_frame)]
    unanswered = {}  # seq -> the readings of that frame
    frames = 0
    duplicates = 0
    while queue or unanswered:
        if queue and len(client.pending) < WINDOW_FRAMES:
            values = queue.pop(0)
            if client.next_seq > reserved:
                # [EDGE-13.4] persisted before any seq of the block is used, so a reboot never reuses one.
                reserved = client.next_seq + SEQ_BLOCK - 1
                save_reserved(state_file, reserved)
            seq = client.next_seq
            unanswered[seq] = values
            frames += 1
            try:
                # The frame is kept before it is written: a lost link resends it, under the same seq.
                client.send(0, values)
            except ConnectionLost as e:
                print("link lost (%s); reconnecting" % e)
                reconnect(client)
            if drop_after and frames == drop_after:
                print("dropping the link with %d frames unanswered" % len(client.pending))
                client.close()
                reconnect(client)
            continue
        try:
            client.flush()
        except ConnectionLost as e:
            print("link lost (%s); reconnecting" % e)
            reconnect(client)
        for seq, _, _, dup in client.take_acks():
            unanswered.pop(seq, None)
            if dup:
                duplicates += 1
        for seq, err in client.errors:
            values = unanswered.pop(seq)
            if err.code not in (THROTTLED, STORAGE_FULL):
                print("frame %d refused: %s" % (seq, err))
                return 1
            # Nothing of it was stored: its readings go again, under a new seq [EDGE-7.5] rule 3.
            queue.insert(0, values)
            time.sleep(0.1)
        client.errors = []
    client.close()
    print("produced %d readings in %d frames, %d acknowledged as duplicates; last seq %d" % (count, frames, duplicates, client.next_seq - 1))
    return 0


def read(host, port, topic):
    client = EdgeClient(host, port, client_id="reader", idempotent=False)
    client.connect()
    client.register(0, topic, False)
    meta = client.metadata([topic])
    if not meta:
        print("no topic %s" % topic)
        return 1
    for partition, log_start, next_offset in meta[0][1]:
        offset = log_start
        while offset < next_offset:
            try:
                records, offset = client.fetch(0, partition, offset)
            except EdgeError as e:
                if e.log_range is None:
                    raise
                offset = e.log_range[1]  # [EDGE-5.17] below the log: continue from its start
                continue
            for rec_offset, _, _, value in records:
                print("%d %d %s" % (partition, rec_offset, value.decode()))
    client.close()
    return 0


def main(argv):
    if len(argv) >= 7 and argv[1] == "produce":
        per_frame = int(argv[7]) if len(argv) > 7 else 10
        drop_after = int(argv[8]) if len(argv) > 8 else 0
        state_file = argv[9] if len(argv) > 9 else argv[4] + ".seq"
        return produce(argv[2], int(argv[3]), argv[4], argv[5], int(argv[6]), per_frame, drop_after, state_file)
    if len(argv) == 5 and argv[1] == "read":
        return read(argv[2], int(argv[3]), argv[4])
    print(__doc__ if __doc__ else "usage: see the header of produce_readings.py")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
