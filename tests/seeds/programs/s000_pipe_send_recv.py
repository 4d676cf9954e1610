# Source: seeds/000_56b8b8aaed7f1a63.txt, section "Pipe"
# Demonstrates: multiprocessing.Pipe() (duplex by default) passed to two
#   processes; proc1 send()s integers on one end, proc2 recv()s them on the other.
#   No `if __name__ == "__main__"` guard in the tutorial (kept: relies on fork).
# !! RUNS FOREVER, as in the tutorial: both children loop in `while True` and the
#   parent join()s them, nobody terminates anything. A harness must kill the whole
#   process group after a few seconds (catalog: kill_after) and should run it with
#   PYTHONUNBUFFERED=1, otherwise the killed children's buffered output is lost.
# Expected output (until killed): "send: 0", "send: 1", ... in order from proc1 and
#   "proc2 rev: 0", "proc2 rev: 1", ... in order from proc2 (each value received is
#   one that was sent, in FIFO order).
# Fixes from the web page: indentation restored; Python 2 -> 3:
#   `xrange` -> `range`, `print "send: %s" %(i)` -> `print("send: %s" %(i))`,
#   `print "proc2 rev:", pipe.recv()` -> `print("proc2 rev:", pipe.recv())`.
# Shortened: time.sleep(1) -> time.sleep(0.1) in both loops.
# Only intended semantic change: `import multiprocessing` -> `import mproc as multiprocessing`.
import time
import mproc as multiprocessing
def proc1(pipe):
    while True:
        for i in range(10000):
            print("send: %s" %(i))
            pipe.send(i)
            time.sleep(0.1)
def proc2(pipe):
    while True:
        print("proc2 rev:", pipe.recv())
        time.sleep(0.1)
pipe = multiprocessing.Pipe()
p1 = multiprocessing.Process(target=proc1, args=(pipe[0],))
p2 = multiprocessing.Process(target=proc2, args=(pipe[1],))
p1.start()
p2.start()
p1.join()
p2.join()
