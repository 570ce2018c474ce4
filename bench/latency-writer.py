#!/usr/bin/env python3
"""latency-writer.py - the writer of bench/80-latency.sh: SQL for psql's
standard input that changes table "ev" at a steady rate.

  latency-writer.py RATE SECONDS [--deletes] [--start ID]

Every millisecond it writes one transaction with the rows due by then
(rate / 1000 rows, or one row every so many milliseconds at low rates):
mostly inserts of new ids, a fifth updates of recent ids, and with
--deletes a twentieth deletes.  Each row's "ts" is clock_timestamp() as
epoch seconds, the moment it was written in the source, just before its
commit (synchronous_commit is off in the bench's server: the commit
follows at once).  The last line it writes is "\\echo writer-done N"
with the rows changed.  Stdlib only.
"""
import random
import sys
import time


def main():
    rate = float(sys.argv[1])
    seconds = float(sys.argv[2])
    deletes = "--deletes" in sys.argv
    next_id = 1
    if "--start" in sys.argv:
        next_id = int(sys.argv[sys.argv.index("--start") + 1])
    rnd = random.Random(17)
    out = sys.stdout
    live = []
    t0 = time.monotonic()
    done = 0
    ts = "extract(epoch from clock_timestamp())"
    while True:
        now = time.monotonic() - t0
        if now >= seconds:
            break
        due = int(now * rate) + 1 - done
        if due <= 0:
            time.sleep(max(0.0, (done / rate) - now))
            continue
        stmts = []
        for _ in range(due):
            r = rnd.random()
            if live and r < 0.2:
                i = live[rnd.randrange(max(0, len(live) - 1000), len(live))]
                stmts.append("update ev set v = v + 1, ts = %s where id = %d;" % (ts, i))
            elif deletes and live and r < 0.25:
                i = live.pop(rnd.randrange(max(0, len(live) - 1000), len(live)))
                stmts.append("delete from ev where id = %d;" % i)
            else:
                stmts.append("insert into ev(id, v, note, ts) values (%d, 0, 'row %d', %s);" % (next_id, next_id, ts))
                live.append(next_id)
                next_id += 1
        done += due
        if len(stmts) == 1:
            out.write(stmts[0] + "\n")
        else:
            out.write("begin;\n" + "\n".join(stmts) + "\ncommit;\n")
        out.flush()
        time.sleep(0.001)
    out.write("\\echo writer-done %d next-id %d\n" % (done, next_id))
    out.flush()


if __name__ == "__main__":
    main()
